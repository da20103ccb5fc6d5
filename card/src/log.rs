//! The transaction log every purse keeps: the last [`LOG_CAPACITY`] value movements,
//! newest first (GET LOG, P1 = index). Each entry: `kind (1) || status (1) ||
//! counterparty (8; zeros for the bank) || amount (8) || seq (4) || counter_seq (4) ||
//! day (4) || balance_after (8)` = 38 bytes.

use ecash_shared::Amount;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::keys::CardId;
use crate::wire::{Reader, Writer};

/// Entries kept (older ones roll off; exceptions live in their own log and never do).
pub const LOG_CAPACITY: usize = 32;

/// What moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// Value loaded from the bank (`seq` = load_seq).
    Load,
    /// A lost transfer re-credited by the issuer (`seq` = load_seq).
    Recovery,
    /// Value unloaded to the bank (`seq` = unload_seq).
    Unload,
    /// Paid to another purse (`seq` = own payer_seq, `counter_seq` = payee_seq).
    Debit,
    /// Received from another purse (`seq` = own payee_seq, `counter_seq` = payer_seq).
    Credit,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStatus {
    /// Done.
    Complete,
    /// Debited, waiting for the payee's ACK.
    AwaitingAck,
    /// Debited, no ACK: in the exception log for the issuer to settle.
    Exception,
}

/// One log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// What moved.
    pub kind: LogKind,
    /// How it ended.
    pub status: LogStatus,
    /// The other purse (zeros for the bank).
    pub counterparty: CardId,
    /// Amount moved.
    pub amount: Amount,
    /// This card's sequence number for the movement.
    pub seq: u32,
    /// The counterparty's sequence number (0 for the bank).
    pub counter_seq: u32,
    /// The card's day at the time.
    pub day: u32,
    /// The balance after the movement.
    pub balance_after: Amount,
}

impl LogEntry {
    /// Encoded length.
    pub const LEN: usize = 38;

    /// Encodes the entry.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.u8(match self.kind {
            LogKind::Load => 1,
            LogKind::Recovery => 2,
            LogKind::Unload => 3,
            LogKind::Debit => 4,
            LogKind::Credit => 5,
        })
        .u8(match self.status {
            LogStatus::Complete => 0,
            LogStatus::AwaitingAck => 1,
            LogStatus::Exception => 2,
        })
        .bytes(&self.counterparty.0)
        .u64(self.amount.minor())
        .u32(self.seq)
        .u32(self.counter_seq)
        .u32(self.day)
        .u64(self.balance_after.minor());
        w.finish()
    }

    /// Decodes an entry.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let entry = LogEntry {
            kind: match r.u8()? {
                1 => LogKind::Load,
                2 => LogKind::Recovery,
                3 => LogKind::Unload,
                4 => LogKind::Debit,
                5 => LogKind::Credit,
                _ => return Err(Error::Malformed("unknown log kind")),
            },
            status: match r.u8()? {
                0 => LogStatus::Complete,
                1 => LogStatus::AwaitingAck,
                2 => LogStatus::Exception,
                _ => return Err(Error::Malformed("unknown log status")),
            },
            counterparty: CardId(r.array()?),
            amount: Amount::from_minor(r.u64()?),
            seq: r.u32()?,
            counter_seq: r.u32()?,
            day: r.u32()?,
            balance_after: Amount::from_minor(r.u64()?),
        };
        r.finish()?;
        Ok(entry)
    }
}
