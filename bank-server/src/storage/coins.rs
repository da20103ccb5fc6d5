//! Withdrawals (idempotent per request id), the spent set and swaps.

use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency, KeysetId};

use super::*;

/// A withdrawal to record: the account is debited `value` and the signatures
/// are kept for replays of the same `(account, request_id)`.
#[derive(Debug, Clone)]
pub struct NewWithdrawal {
    /// Account debited.
    pub account_id: AccountId,
    /// Client idempotency key.
    pub request_id: String,
    /// Hash of the request body (`hash_outputs` of the coins).
    pub request_hash: [u8; 32],
    /// Currency.
    pub currency: Currency,
    /// Total value of the coins.
    pub value: Amount,
    /// Blind signatures, in request order.
    pub blind_sigs: Vec<Vec<u8>>,
    /// When.
    pub created_at: Timestamp,
}

/// A stored withdrawal, for replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWithdrawal {
    /// Hash of the original request body.
    pub request_hash: [u8; 32],
    /// Its blind signatures.
    pub blind_sigs: Vec<Vec<u8>>,
}

/// What `withdraw` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithdrawOutcome {
    /// Debited and recorded now.
    Done {
        /// Balance after the debit.
        balance: Amount,
    },
    /// The same request was recorded before: these are its signatures, and
    /// nothing was debited now.
    Replayed(Vec<Vec<u8>>),
}

/// A verified coin entering the spent set, with everything the audit needs to
/// re-check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentCoin {
    /// The coin's public key (the spent set's key).
    pub coin_pub: [u8; 32],
    /// Its keyset.
    pub keyset_id: KeysetId,
    /// Currency.
    pub currency: Currency,
    /// Value.
    pub value: Amount,
    /// RFC 9474 message prefix.
    pub msg_prefix: [u8; 32],
    /// The bank's (denomination) signature.
    pub denom_sig: Vec<u8>,
    /// The coin key's signature over `spend_msg`.
    pub coin_sig: [u8; 64],
    /// The exact bytes `coin_sig` signs (`SpendMessage::to_bytes`).
    pub spend_msg: Vec<u8>,
}

/// Spending credits an account with the coins' value.
#[derive(Debug, Clone)]
pub struct DepositInto {
    /// Account credited.
    pub account_id: AccountId,
}

/// Spending issues new coins of the same value; the signatures are stored
/// under the operation id so an identical swap gets them back.
#[derive(Debug, Clone)]
pub struct SwapOutputs {
    /// Total value of the outputs (the bank checked it equals the inputs';
    /// the audit checks it again against the spent set).
    pub value: Amount,
    /// Blind signatures of the outputs, in request order.
    pub blind_sigs: Vec<Vec<u8>>,
}

/// Spending pays a merchant order: its merchant is credited and the order is
/// marked paid with this receipt. The operation id identifies the payment, so
/// the same coins for the same order get the stored receipt back.
#[derive(Debug, Clone)]
pub struct OrderPayment {
    /// The order.
    pub order_id: String,
    /// Receipt time.
    pub paid_at: Timestamp,
    /// The bank's receipt signature over `Receipt::signed_bytes`.
    pub bank_sig: [u8; 64],
}

/// One spending operation: all coins or none. `E` is what the coins pay for
/// ([`DepositInto`], [`SwapOutputs`] or [`OrderPayment`]); each has its own
/// store method with its own outcome, so no caller matches impossible cases.
#[derive(Debug, Clone)]
pub struct SpendRequest<E> {
    /// Content-derived id of the operation.
    pub op_id: OpId,
    /// The coins, verified.
    pub coins: Vec<SpentCoin>,
    /// Their total value.
    pub value: Amount,
    /// Their currency.
    pub currency: Currency,
    /// What they pay for.
    pub effect: E,
    /// When.
    pub now: Timestamp,
}

/// What `spend_swap` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapOutcome {
    /// Coins spent, the request's output signatures stored.
    Swapped,
    /// The identical swap was recorded before: its stored signatures.
    Replayed(Vec<Vec<u8>>),
}

/// Withdrawals, the spent set, swaps. One transaction per method (see the module docs of [`crate::storage`]).
pub trait CoinStore {
    /// The stored withdrawal for `(account, request_id)`, if any.
    fn find_withdrawal(
        &self,
        account_id: AccountId,
        request_id: &str,
    ) -> Result<Option<StoredWithdrawal>, StorageError>;
    /// Debits the account and stores the signatures, or replays/refuses
    /// according to an existing `(account, request_id)`.
    fn withdraw(&self, w: &NewWithdrawal) -> Result<WithdrawOutcome, StorageError>;

    /// For each coin, the id of the operation that spent it (`None`: unspent).
    fn spent_by(&self, coin_pubs: &[[u8; 32]]) -> Result<Vec<Option<OpId>>, StorageError>;
    /// The stored output signatures of a swap.
    fn find_swap(&self, op_id: &OpId) -> Result<Option<Vec<Vec<u8>>>, StorageError>;
    /// In one transaction: every coin must be unspent, then all are recorded
    /// spent and the account credited. Answers the balance after the credit.
    fn spend_deposit(&self, req: &SpendRequest<DepositInto>) -> Result<Amount, StorageError>;
    /// In one transaction: every coin must be unspent (or all spent by this
    /// very operation: a replay, answered with the stored signatures), then
    /// all are recorded spent and the output signatures stored.
    fn spend_swap(&self, req: &SpendRequest<SwapOutputs>) -> Result<SwapOutcome, StorageError>;
    /// In one transaction: the order must be unpaid (or paid by this very
    /// operation: a replay, answered with the stored payment), unexpired and
    /// of the coins' value, and every coin unspent; then the coins are
    /// recorded spent, the merchant credited and the order marked paid.
    fn spend_payment(
        &self,
        req: &SpendRequest<OrderPayment>,
    ) -> Result<StoredPayment, StorageError>;
}
