//! The bank's storage, behind a trait so another backend (PostgreSQL) can pass
//! the same test suite (`ecash-tests`' `storage_suite!`).
//!
//! Every method is one transaction and is synchronous: callers run it on the
//! blocking pool. Methods that move value check their own preconditions inside
//! the transaction (balance, spent set, idempotency key) and report a broken
//! one as a [`StorageError`] domain variant; nothing is changed then.
//!
//! - [`sqlite`] — the SQLite implementation (WAL, one writer, a few readers).

mod accounts;
mod audit;
mod cards;
mod coins;
mod error;
mod keysets;
mod orders;
pub mod sqlite;

pub use accounts::*;
pub use audit::*;
pub use cards::*;
pub use coins::*;
pub use error::*;
pub use keysets::*;
pub use orders::*;

use ecash_shared::Amount;
use ecash_shared::api::LedgerKind;
use ecash_shared::encoding::b64_encode;

pub use sqlite::{Debt, SqliteStorage, defer};

/// An account's row id.
pub type AccountId = i64;

/// A 32-byte identifier of a coin-moving operation (swap id, deposit id).
pub type OpId = [u8; 32];

/// Largest amount the storage represents (SQLite integers are signed 64-bit).
pub const MAX_STORED_AMOUNT: Amount = Amount::from_minor(i64::MAX as u64);

/// Everything the bank stores: the per-concern traits together (as a backend
/// implements them). Call sites import the concern traits they use (or
/// [`prelude`]).
pub trait Storage:
    KeysetStore + AccountStore + CoinStore + OrderStore + CardStore + AuditStore + Send + Sync + 'static
{
}

impl<T> Storage for T where
    T: KeysetStore
        + AccountStore
        + CoinStore
        + OrderStore
        + CardStore
        + AuditStore
        + Send
        + Sync
        + 'static
{
}

/// The storage traits, for `use crate::storage::prelude::*`.
pub mod prelude {
    pub use super::{
        AccountStore, AuditStore, CardStore, CoinStore, KeysetStore, OrderStore, Storage,
    };
}

/// Encodes a list of byte strings as one blob (u32 big-endian length prefixes).
pub fn encode_blobs(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 4).sum());
    for i in items {
        // Signatures are a few hundred bytes; a length above u32 cannot occur.
        out.extend_from_slice(&u32::try_from(i.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(i);
    }
    out
}

/// Decodes [`encode_blobs`]; `None` if the blob is malformed.
pub fn decode_blobs(mut blob: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !blob.is_empty() {
        let (len, rest) = blob.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if rest.len() < len {
            return None;
        }
        let (item, rest) = rest.split_at(len);
        out.push(item.to_vec());
        blob = rest;
    }
    Some(out)
}

/// The wire name of a ledger kind, as stored.
pub fn ledger_kind_name(kind: LedgerKind) -> &'static str {
    match kind {
        LedgerKind::Credit => "credit",
        LedgerKind::Payout => "payout",
        LedgerKind::Withdraw => "withdraw",
        LedgerKind::Deposit => "deposit",
        LedgerKind::OrderPayment => "order_payment",
        LedgerKind::Refund => "refund",
        LedgerKind::CardLoad => "card_load",
        LedgerKind::CardUnload => "card_unload",
        LedgerKind::CardShortfall => "card_shortfall",
        LedgerKind::DebtRepayment => "debt_repayment",
        // `LedgerKind` is non_exhaustive; a new kind needs a name here.
        _ => "unknown",
    }
}

/// Parses [`ledger_kind_name`].
pub fn ledger_kind_from_name(name: &str) -> Option<LedgerKind> {
    Some(match name {
        "credit" => LedgerKind::Credit,
        "payout" => LedgerKind::Payout,
        "withdraw" => LedgerKind::Withdraw,
        "deposit" => LedgerKind::Deposit,
        "order_payment" => LedgerKind::OrderPayment,
        "refund" => LedgerKind::Refund,
        "card_load" => LedgerKind::CardLoad,
        "card_unload" => LedgerKind::CardUnload,
        "card_shortfall" => LedgerKind::CardShortfall,
        "debt_repayment" => LedgerKind::DebtRepayment,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip() {
        let items = vec![vec![1, 2, 3], vec![], vec![9; 300]];
        assert_eq!(decode_blobs(&encode_blobs(&items)), Some(items));
        assert_eq!(decode_blobs(&[0, 0, 0, 5, 1]), None);
        assert_eq!(decode_blobs(&[]), Some(vec![]));
    }
}
