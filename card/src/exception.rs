//! The exception log and the recovery of value lost in flight (Mondex's guarantee:
//! value is never created, and value that leaves a purse is either in the other purse or
//! provably lost and re-credited once).
//!
//! A purse logs an exception when a transfer it took part in ends unfinished (ABORT, or a
//! new transfer started over it — power loss alone does not: the state is persistent and
//! the transfer can still complete):
//!
//! - [`ExceptionKind::UnackedDebit`] on the payer: it debited and sent VALUE but saw no
//!   ACK. The value is either credited on the payee or lost.
//! - [`ExceptionKind::AbandonedCredit`] on the payee: it sent REQUEST but never credited
//!   the VALUE, and from now on refuses it (the pending transfer is gone and its
//!   sequence number is never reused).
//!
//! **Recovery rule.** A transfer's value was lost exactly when the payer's *unacked
//! debit* and the payee's *abandoned credit* exist for the same [`Terms`]: the payer
//! debited (only it signs VALUE after debiting) and the payee can never credit. If the
//! payee credited, it cannot have logged an abandonment (crediting ends the pending
//! transfer), so no match appears and nothing is re-credited. The issuer, collecting
//! card-signed records, re-credits the payer once per `(payer, payer_seq)` with a LOAD of
//! kind `Recovery`. Until both records reach it the value stays "maybe lost": the total
//! never grows. A late ACK still completes an unacked debit on the payer (the record is
//! dropped).
//!
//! Records are read with GET EXCEPTION (signed at read time by the card: `card_id (8) ||
//! exception_id (4) || kind (1) || terms (36)` under tag `exception`) and removed by an
//! issuer-signed [`ClearAuth`] naming exactly the ids the bank has stored (`card_id (8) ||
//! count (1) || 8 × id (4, unused slots 0)` under `clear`) — so a host that withholds a
//! record cannot get it erased: it stays on the card. A full log (8 records) stops new
//! transfers (`6A84`) until cleared, so no record is ever overwritten.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::keys::CardId;
use crate::message::{Body, Signed};
use crate::transfer::Terms;
use crate::wire::{Reader, Writer, read_id_list, write_id_list};

/// Records the exception log holds before new transfers are refused.
pub const EXCEPTION_LOG_CAPACITY: usize = 8;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    /// Payer: debited, VALUE sent, no ACK.
    UnackedDebit,
    /// Payee: REQUEST sent, VALUE never credited (and now refused for good).
    AbandonedCredit,
}

/// Body of a card-signed exception record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionRecordBody {
    /// The card that logged it.
    pub card_id: CardId,
    /// Its number in the card's exception log (from 1, increasing).
    pub exception_id: u32,
    /// What happened.
    pub kind: ExceptionKind,
    /// The transfer.
    pub terms: Terms,
}

impl Body for ExceptionRecordBody {
    const TAG: &'static str = "exception";
    const LEN: usize = 13 + Terms::LEN;

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.card_id.0)
            .u32(self.exception_id)
            .u8(match self.kind {
                ExceptionKind::UnackedDebit => 1,
                ExceptionKind::AbandonedCredit => 2,
            });
        self.terms.write(w);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(ExceptionRecordBody {
            card_id: CardId(r.array()?),
            exception_id: r.u32()?,
            kind: match r.u8()? {
                1 => ExceptionKind::UnackedDebit,
                2 => ExceptionKind::AbandonedCredit,
                _ => return Err(Error::Malformed("unknown exception kind")),
            },
            terms: Terms::read(r)?,
        })
    }
}

/// A card-signed exception record (GET EXCEPTION response, 113 bytes).
pub type ExceptionRecord = Signed<ExceptionRecordBody>;

/// Body of the issuer's clearance of a card's exception log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearAuthBody {
    /// The card.
    pub card_id: CardId,
    /// The ids of the records the bank has stored (1 to 8 distinct ids, each ≥ 1).
    pub ids: Vec<u32>,
}

impl Body for ClearAuthBody {
    const TAG: &'static str = "clear";
    const LEN: usize = 9 + 4 * EXCEPTION_LOG_CAPACITY;

    fn write(&self, w: &mut Writer) {
        // Built by the issuer with at most EXCEPTION_LOG_CAPACITY ids (see `Ledger`).
        w.bytes(&self.card_id.0);
        write_id_list(w, &self.ids, EXCEPTION_LOG_CAPACITY);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let card_id = CardId(r.array()?);
        let ids = read_id_list(r, EXCEPTION_LOG_CAPACITY)?;
        Ok(ClearAuthBody { card_id, ids })
    }
}

/// An issuer-signed clearance (CLEAR EXCEPTIONS command data, 105 bytes).
pub type ClearAuth = Signed<ClearAuthBody>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearance_layout_is_fixed_and_strict() {
        let body = ClearAuthBody {
            card_id: CardId([7; 8]),
            ids: vec![3, 1],
        };
        let bytes = body.to_bytes();
        assert_eq!(bytes.len(), ClearAuthBody::LEN);
        let back = ClearAuthBody::read(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(back, body);
        let mut bad = bytes.clone();
        bad[8] = 9; // count over capacity
        assert!(ClearAuthBody::read(&mut Reader::new(&bad)).is_err());
        let mut bad = bytes.clone();
        bad[40] = 1; // padding slot not zero
        assert!(ClearAuthBody::read(&mut Reader::new(&bad)).is_err());
        let mut bad = bytes;
        bad[9..13].copy_from_slice(&[0; 4]); // id 0
        assert!(ClearAuthBody::read(&mut Reader::new(&bad)).is_err());
    }
}
