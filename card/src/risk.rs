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
//!
//! [`LockReport`]: `card_id (8) || unlock_seq (4) || reason (1) || day (4) || balance (8)
//! || spent_today (8)` under tag `lock-report`, signed by the *card* (GET LOCK REPORT,
//! answered only while locked). It is how the owner shows the bank that the card is
//! locked, why, and which unlock number it expects: the bank takes unlock requests only
//! with one. It needs no freshness: a card locked at number `n` stays locked until an
//! UNLOCK for `n` arrives, so an old report can only ask for a number the card no
//! longer expects, and that UNLOCK is refused by the card.

use ecash_shared::Amount;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::cert::CardCert;
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
    /// The name used on the wire and in the bank's database (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            LockReason::PerTransferLimit => "per_transfer_limit",
            LockReason::DailyLimit => "daily_limit",
        }
    }

    /// The reason of that name ([`as_str`](Self::as_str)).
    pub fn from_name(name: &str) -> Option<Self> {
        [LockReason::PerTransferLimit, LockReason::DailyLimit]
            .into_iter()
            .find(|r| r.as_str() == name)
    }

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

/// Body of the card-signed lock report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockReportBody {
    /// The locked card.
    pub card_id: CardId,
    /// The unlock number the card expects (GET STATUS `next_unlock_seq`).
    pub unlock_seq: u32,
    /// Why it locked.
    pub reason: LockReason,
    /// The latest day the card has seen.
    pub day: u32,
    /// Its balance.
    pub balance: Amount,
    /// Transferred out on `day`.
    pub spent_today: Amount,
}

impl Body for LockReportBody {
    const TAG: &'static str = "lock-report";
    const LEN: usize = 33;

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.card_id.0)
            .u32(self.unlock_seq)
            .u8(self.reason.to_byte())
            .u32(self.day)
            .u64(self.balance.minor())
            .u64(self.spent_today.minor());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(LockReportBody {
            card_id: CardId(r.array()?),
            unlock_seq: r.u32()?,
            reason: LockReason::from_byte(r.u8()?)?
                .ok_or(Error::Malformed("a lock report of an open card"))?,
            day: r.u32()?,
            balance: Amount::from_minor(r.u64()?),
            spent_today: Amount::from_minor(r.u64()?),
        })
    }
}

/// A card-signed lock report (GET LOCK REPORT answer, 97 bytes).
pub type LockReport = Signed<LockReportBody>;

/// Checks that `report` is the certified card's own: signed by its key, naming it.
/// The wallet checks what its card answered with this; the issuer also checks the
/// certificate ([`crate::issuer::Issuer::check_lock_report`]).
pub fn check_lock_report_of(cert: &CardCert, report: &LockReport) -> Result<(), Error> {
    report.verify_card(&cert.card_pub)?;
    if report.body.card_id != cert.card_id {
        return Err(Error::Mismatch("the lock report is of another card"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::CardKey;

    fn report(reason: LockReason) -> LockReportBody {
        LockReportBody {
            card_id: CardId([7; 8]),
            unlock_seq: 3,
            reason,
            day: 20_000,
            balance: Amount::from_minor(12_345),
            spent_today: Amount::from_minor(500),
        }
    }

    #[test]
    fn reason_names_are_serdes() {
        for r in [LockReason::PerTransferLimit, LockReason::DailyLimit] {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::from(r.as_str())
            );
            assert_eq!(LockReason::from_name(r.as_str()), Some(r));
        }
        assert_eq!(LockReason::from_name("open"), None);
    }

    #[test]
    fn lock_report_round_trip_and_signature() {
        let key = CardKey::from_seed(&[9; 32]);
        for reason in [LockReason::PerTransferLimit, LockReason::DailyLimit] {
            let signed = LockReport::by_card(report(reason), &key);
            let bytes = signed.to_bytes();
            assert_eq!(bytes.len(), LockReport::LEN);
            let parsed = LockReport::parse(&bytes).unwrap();
            assert_eq!(parsed, signed);
            parsed.verify_card(&key.public()).unwrap();
            // Any flipped bit of the body breaks the signature or the parse.
            for i in 0..LockReportBody::LEN * 8 {
                let mut b = bytes.clone();
                b[i / 8] ^= 1 << (i % 8);
                if let Ok(m) = LockReport::parse(&b) {
                    assert!(m.verify_card(&key.public()).is_err(), "bit {i}");
                }
            }
        }
        // Reason 0 (open) is not a lock report.
        let mut b = LockReport::by_card(report(LockReason::DailyLimit), &key).to_bytes();
        b[12] = 0;
        assert!(LockReport::parse(&b).is_err());
    }
}
