//! What the audit reads: one consistent snapshot, visited row by row.

use ecash_shared::api::LedgerKind;
use ecash_shared::{Amount, Currency};

use super::*;

/// A settled transfer as the audit sees it.
#[derive(Debug, Clone)]
pub struct AuditCardTransfer {
    /// Paying card.
    pub payer: [u8; 8],
    /// Receiving card.
    pub payee: [u8; 8],
    /// Currency.
    pub currency: Currency,
    /// Amount.
    pub amount: Amount,
    /// Booked against the payer's owner.
    pub shortfall: Amount,
    /// The payer-signed VALUE.
    pub value: Vec<u8>,
    /// The payee-signed ACK.
    pub ack: Vec<u8>,
}

/// Evidence of an over-spending card as the audit sees it.
#[derive(Debug, Clone)]
pub struct AuditCardOverspend {
    /// The card.
    pub card_id: [u8; 8],
    /// Its owner.
    pub account_id: AccountId,
    /// `true`: a VALUE; `false`: an unload proof.
    pub transfer: bool,
    /// The card-signed message.
    pub record: Vec<u8>,
    /// Another VALUE under the same number, if any.
    pub conflicting: Option<Vec<u8>>,
    /// Currency.
    pub currency: Currency,
    /// Shortfall.
    pub shortfall: Amount,
    /// Taken from the owner's balance.
    pub from_balance: Amount,
    /// Booked as the owner's debt.
    pub debt: Amount,
}

/// A card movement as the audit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCardMove {
    /// The card.
    pub card_id: [u8; 8],
    /// Currency.
    pub currency: Currency,
    /// Amount.
    pub amount: Amount,
    /// The stored signed message (authorization or proof).
    pub message: Vec<u8>,
}

/// A recovery load as the audit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCardRecovery {
    /// The payer card re-credited.
    pub card_id: [u8; 8],
    /// The lost transfer's payer sequence number.
    pub payer_seq: u32,
    /// Currency.
    pub currency: Currency,
    /// Amount.
    pub amount: Amount,
    /// The stored signed authorization.
    pub message: Vec<u8>,
}

/// A stored exception record as the audit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCardException {
    /// The card that logged (and signed) it.
    pub card_id: [u8; 8],
    /// Its number.
    pub exception_id: u32,
    /// The stored signed record.
    pub record: Vec<u8>,
}

/// A ledger entry as the audit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLedgerRow {
    /// Account.
    pub account_id: AccountId,
    /// Currency.
    pub currency: Currency,
    /// Kind.
    pub kind: LedgerKind,
    /// Credit (`true`) or debit.
    pub credit: bool,
    /// Amount.
    pub amount: Amount,
    /// Balance after.
    pub balance_after: Amount,
}

/// Receives the whole state, read in one consistent snapshot, for the audit.
pub trait AuditVisitor {
    /// Each keyset.
    fn keyset(&mut self, keyset: KeysetRecord);
    /// Each account.
    fn account(&mut self, account: AccountRecord);
    /// Each ledger entry, oldest first.
    fn ledger(&mut self, row: AuditLedgerRow);
    /// Each withdrawal: coins of `value` signed against an account debit.
    fn withdrawal(&mut self, currency: Currency, value: Amount);
    /// Each swap: coins of `value` signed against spent coins with `op_id`.
    fn swap(&mut self, op_id: OpId, currency: Currency, value: Amount);
    /// Each merchant order (visited before the spent set).
    fn order(&mut self, _order: OrderRecord) {}
    /// Each refund granted by a merchant.
    fn refund(&mut self, _order_id: String, _currency: Currency, _amount: Amount) {}
    /// Each refund claim: coins of `value` signed against an order's refund.
    fn refund_claim(&mut self, _order_id: String, _currency: Currency, _value: Amount) {}
    /// Each card: id, currency and certificate bytes (visited before loads and unloads).
    fn card(&mut self, _card: CardRecord) {}
    /// Each stored exception record (visited before loads).
    fn card_exception(&mut self, _record: AuditCardException) {}
    /// Each stored bank load authorization (kind `Bank`: an account was debited).
    fn card_load(&mut self, _load: AuditCardMove) {}
    /// Each stored recovery load (kind `Recovery`: no account involved).
    fn card_recovery(&mut self, _load: AuditCardRecovery) {}
    /// Each credited card unload proof.
    fn card_unload(&mut self, _unload: AuditCardMove) {}
    /// A settled offline transfer.
    fn card_transfer(&mut self, _transfer: AuditCardTransfer) {}
    /// Evidence of a card caught over-spending.
    fn card_overspend(&mut self, _overspend: AuditCardOverspend) {}
    /// Each coin in the spent set, with the operation that spent it.
    fn spent(&mut self, coin: SpentCoin, op_id: OpId);
}

/// The audit's consistent snapshot. One transaction per method (see the module docs of [`crate::storage`]).
pub trait AuditStore {
    /// Feeds the whole state to `visitor` from one consistent snapshot.
    fn audit_scan(&self, visitor: &mut dyn AuditVisitor) -> Result<(), StorageError>;
}
