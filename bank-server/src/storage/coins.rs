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

/// What spending the coins pays for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SpendEffect {
    /// Credit an account with the coins' value.
    Deposit {
        /// Account credited.
        account_id: AccountId,
    },
    /// Issue new coins of the same value; the signatures are stored under the
    /// operation id so an identical swap gets them back.
    Swap {
        /// Total value of the outputs (the handler checked it equals the
        /// inputs'; the audit checks it again against the spent set).
        value: Amount,
        /// Blind signatures of the outputs, in request order.
        blind_sigs: Vec<Vec<u8>>,
    },
    /// Pay a merchant order: credit its merchant and mark it paid with this
    /// receipt. The operation id identifies the payment, so the same coins
    /// for the same order get the stored receipt back.
    OrderPayment {
        /// The order.
        order_id: String,
        /// Receipt time.
        paid_at: Timestamp,
        /// The bank's receipt signature over `Receipt::signed_bytes`.
        bank_sig: [u8; 64],
    },
}

/// One spending operation: all coins or none.
#[derive(Debug, Clone)]
pub struct SpendRequest {
    /// Content-derived id of the operation.
    pub op_id: OpId,
    /// The coins, verified.
    pub coins: Vec<SpentCoin>,
    /// Their total value.
    pub value: Amount,
    /// Their currency.
    pub currency: Currency,
    /// What they pay for.
    pub effect: SpendEffect,
    /// When.
    pub now: Timestamp,
}

/// What `spend` did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpendOutcome {
    /// Coins spent, account credited.
    Deposited {
        /// Balance after the credit.
        balance: Amount,
    },
    /// Coins spent, output signatures stored.
    Swapped,
    /// The identical swap was recorded before: its stored signatures.
    Replayed(Vec<Vec<u8>>),
    /// The order is paid by this operation (now, or by an identical earlier
    /// request): its stored payment.
    Paid(StoredPayment),
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
    /// In one transaction: every coin must be unspent (or, for a swap, all
    /// spent by this very operation: a replay), then all are recorded spent and
    /// the effect is applied.
    fn spend(&self, req: &SpendRequest) -> Result<SpendOutcome, StorageError>;
}
