//! UNLOAD: value from the card back to the bank.
//!
//! The host sends [`UnloadOrder`] — `amount (8) || destination (32) || day (4)`, where
//! `destination` is SHA-256 of what the bank will credit (e.g. of the account name; see
//! [`destination_for_account`]). With the PIN verified (the terminal PIN for that very
//! operation on a merchant terminal), the card debits itself and answers an
//! [`UnloadProof`] signed by its key: `card_id (8) || currency (3) || amount (8) ||
//! unload_seq (4) || destination (32)` under tag `unload`.
//!
//! What the bank must do: verify the card's certificate (issuer signature) and the proof
//! under the certified key, check the destination is the account asking, and credit it
//! once per `(card_id, unload_seq)` (a unique key; a second submission is a no-op that
//! answers the first result). The destination binds the proof to one account, so a proof
//! seen in transit cannot be cashed elsewhere. A proof lost before reaching the bank can
//! be read again with RESEND (the card keeps the last one) and from the card's log.

use ecash_shared::{Amount, Currency};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::cert::{read_currency, write_currency};
use crate::keys::CardId;
use crate::message::{Body, Signed};
use crate::wire::{Reader, Writer};

/// The destination hash for a bank account name: SHA-256 of
/// `"ecash/v1/card/unload-destination/" || account`.
pub fn destination_for_account(account: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"ecash/v1/card/unload-destination/");
    h.update(account.as_bytes());
    h.finalize().into()
}

/// UNLOAD command data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnloadOrder {
    /// Amount to take off the card (> 0).
    pub amount: Amount,
    /// What the bank credits, hashed (see [`destination_for_account`]).
    pub destination: [u8; 32],
    /// The host's date (days since 1970-01-01).
    pub day: u32,
}

impl UnloadOrder {
    /// Encoded length.
    pub const LEN: usize = 44;

    /// Encodes the command data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.u64(self.amount.minor())
            .bytes(&self.destination)
            .u32(self.day);
        w.finish()
    }

    /// Decodes the command data.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let out = UnloadOrder {
            amount: Amount::from_minor(r.u64()?),
            destination: r.array()?,
            day: r.u32()?,
        };
        r.finish()?;
        Ok(out)
    }
}

/// Body of the card-signed unload proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnloadProofBody {
    /// The card.
    pub card_id: CardId,
    /// Its currency.
    pub currency: Currency,
    /// Amount debited from the card.
    pub amount: Amount,
    /// The card's unload sequence number (unique per card).
    pub unload_seq: u32,
    /// What the bank must credit, hashed.
    pub destination: [u8; 32],
}

impl Body for UnloadProofBody {
    const TAG: &'static str = "unload";
    const LEN: usize = 55;

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.card_id.0);
        write_currency(w, self.currency);
        w.u64(self.amount.minor())
            .u32(self.unload_seq)
            .bytes(&self.destination);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(UnloadProofBody {
            card_id: CardId(r.array()?),
            currency: read_currency(r)?,
            amount: Amount::from_minor(r.u64()?),
            unload_seq: r.u32()?,
            destination: r.array()?,
        })
    }
}

/// A card-signed unload proof (UNLOAD response, 119 bytes).
pub type UnloadProof = Signed<UnloadProofBody>;
