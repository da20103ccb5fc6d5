//! Risk rules (Mondex closes a card that behaves unusually) and the issuer's UNLOCK.
//!
//! The issuer certifies each card's limits in its [`crate::cert::CardProfile`]:
//!
//! - **balance cap**: a credit (LOAD, incoming transfer) that would exceed it is refused
//!   (`9402`); the card is not locked — receiving too much is the payer's doing;
//! - **per-transfer limit** and **per-day limit** on value out: a START FROM that would
//!   break either is refused *and locks the purse* (`9403`); while locked, every value
//!   operation answers `9404` until an issuer-signed [`UnlockAuth`] arrives.
//!
//! The card has no clock. The day (days since 1970-01-01) comes from the host with each
//! transfer and unload, and from the issuer with each load and unlock; the card keeps the
//! latest day it has seen and never goes back, so a host can only move the day forward
//! (which restarts the daily total) — the per-transfer limit and the cap hold whatever
//! the host claims. A deployment wanting a firm daily limit would have the issuer (or the
//! payee terminal, certified) sign the date.
//!
//! [`UnlockAuth`]: `card_id (8) || unlock_seq (4) || day (4)` under tag `unlock`, signed by
//! the issuer; `unlock_seq` must equal the card's next unlock number, so an old
//! authorization cannot reopen a card locked again later.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::keys::CardId;
use crate::message::{Body, Signed};
use crate::wire::{Reader, Writer};

/// Why a purse is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockReason {
    /// A single transfer over the per-transfer limit was attempted.
    PerTransferLimit,
    /// Transfers over the per-day limit were attempted.
    DailyLimit,
}

impl LockReason {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            LockReason::PerTransferLimit => 1,
            LockReason::DailyLimit => 2,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Result<Option<Self>, Error> {
        match b {
            0 => Ok(None),
            1 => Ok(Some(LockReason::PerTransferLimit)),
            2 => Ok(Some(LockReason::DailyLimit)),
            _ => Err(Error::Malformed("unknown lock reason")),
        }
    }
}

/// Body of the issuer-signed unlock authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnlockAuthBody {
    /// The card to reopen.
    pub card_id: CardId,
    /// Must equal the card's next unlock number.
    pub unlock_seq: u32,
    /// The issuer's date.
    pub day: u32,
}

impl Body for UnlockAuthBody {
    const TAG: &'static str = "unlock";
    const LEN: usize = 16;

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.card_id.0).u32(self.unlock_seq).u32(self.day);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(UnlockAuthBody {
            card_id: CardId(r.array()?),
            unlock_seq: r.u32()?,
            day: r.u32()?,
        })
    }
}

/// An issuer-signed unlock authorization (UNLOCK command data, 80 bytes).
pub type UnlockAuth = Signed<UnlockAuthBody>;
