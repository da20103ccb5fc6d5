//! LOAD: value onto a card against money the bank already holds (coins deposited, an
//! account debited, or a lost transfer the issuer re-credits).
//!
//! The bank signs a [`LoadAuth`] — `card_id (8) || currency (3) || amount (8) ||
//! load_seq (4) || kind (1) || day (4)` under tag `load` — after recording it. The card
//! accepts it only if the signature verifies under its issuer key, it names this card
//! and its currency, and `load_seq` equals the card's next load sequence number (so each
//! authorization credits once, in order). The card answers a [`LoadReceipt`] signed by
//! its own key — `card_id || currency || amount || load_seq || balance_after (8)` under
//! `load-receipt` — which the bank may keep as proof of delivery.
//!
//! What the bank must do (see also [`crate::issuer`]): read the card's next `load_seq`
//! (GET STATUS), take the money, store `(card_id, load_seq) → auth` under a unique key
//! *before* answering, and answer the same stored authorization to a retry — never a
//! second one with the same number. An authorization that never reaches the card is
//! simply sent again; the card cannot skip a number, so none is lost silently.

use ecash_shared::{Amount, Currency};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::cert::{read_currency, write_currency};
use crate::keys::CardId;
use crate::message::{Body, Signed};
use crate::wire::{Reader, Writer};

/// Where the loaded value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadKind {
    /// Money the customer paid the bank (coins or account).
    Bank,
    /// The issuer re-credits a transfer proven lost (see [`crate::exception`]).
    Recovery,
}

/// Body of an issuer-signed load authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadAuthBody {
    /// The card to credit.
    pub card_id: CardId,
    /// The card's currency.
    pub currency: Currency,
    /// Amount (> 0).
    pub amount: Amount,
    /// Must equal the card's next load sequence number.
    pub load_seq: u32,
    /// Bank load or recovery.
    pub kind: LoadKind,
    /// The issuer's date (days since 1970-01-01); advances the card's day.
    pub day: u32,
}

impl Body for LoadAuthBody {
    const TAG: &'static str = "load";
    const LEN: usize = 28;

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.card_id.0);
        write_currency(w, self.currency);
        w.u64(self.amount.minor())
            .u32(self.load_seq)
            .u8(match self.kind {
                LoadKind::Bank => 0,
                LoadKind::Recovery => 1,
            })
            .u32(self.day);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(LoadAuthBody {
            card_id: CardId(r.array()?),
            currency: read_currency(r)?,
            amount: Amount::from_minor(r.u64()?),
            load_seq: r.u32()?,
            kind: match r.u8()? {
                0 => LoadKind::Bank,
                1 => LoadKind::Recovery,
                _ => return Err(Error::Malformed("unknown load kind")),
            },
            day: r.u32()?,
        })
    }
}

/// Body of the card-signed load receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadReceiptBody {
    /// The card.
    pub card_id: CardId,
    /// Its currency.
    pub currency: Currency,
    /// Amount credited.
    pub amount: Amount,
    /// The authorization's sequence number.
    pub load_seq: u32,
    /// The balance after the credit.
    pub balance_after: Amount,
}

impl Body for LoadReceiptBody {
    const TAG: &'static str = "load-receipt";
    const LEN: usize = 31;

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.card_id.0);
        write_currency(w, self.currency);
        w.u64(self.amount.minor())
            .u32(self.load_seq)
            .u64(self.balance_after.minor());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(LoadReceiptBody {
            card_id: CardId(r.array()?),
            currency: read_currency(r)?,
            amount: Amount::from_minor(r.u64()?),
            load_seq: r.u32()?,
            balance_after: Amount::from_minor(r.u64()?),
        })
    }
}

/// An issuer-signed load authorization (LOAD command data, 92 bytes).
pub type LoadAuth = Signed<LoadAuthBody>;
/// A card-signed load receipt (LOAD response, 95 bytes).
pub type LoadReceipt = Signed<LoadReceiptBody>;
