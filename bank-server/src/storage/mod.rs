//! The bank's storage, behind a trait so another backend (PostgreSQL) can pass
//! the same test suite (`ecash-tests`' `storage_suite!`).
//!
//! Every method is one transaction and is synchronous: callers run it on the
//! blocking pool. Methods that move value check their own preconditions inside
//! the transaction (balance, spent set, idempotency key) and report a broken
//! one as a [`StorageError`] domain variant; nothing is changed then.
//!
//! - [`sqlite`] — the SQLite implementation (WAL, one writer, a few readers).

pub mod sqlite;

use ecash_shared::api::{LedgerEntry, LedgerKind};
use ecash_shared::encoding::{Timestamp, b64_encode};
use ecash_shared::{Amount, Currency, ErrorCode, KeysetId};

pub use sqlite::{Debt, SqliteStorage, defer};

use crate::error::ApiError;

/// An account's row id.
pub type AccountId = i64;

/// A 32-byte identifier of a coin-moving operation (swap id, deposit id).
pub type OpId = [u8; 32];

/// Largest amount the storage represents (SQLite integers are signed 64-bit).
pub const MAX_STORED_AMOUNT: Amount = Amount::from_minor(i64::MAX as u64);

/// Why a storage operation did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// `create_account` with a username already in use.
    #[error("the username is taken")]
    UsernameTaken,
    /// No account with that name or id.
    #[error("no such account")]
    UnknownAccount,
    /// A debit larger than the balance.
    #[error("the account balance is too low")]
    InsufficientFunds,
    /// A credit that would take a balance past [`MAX_STORED_AMOUNT`].
    #[error("the balance would exceed the largest representable amount")]
    AmountOverflow,
    /// The withdraw `request_id` was used before with another body.
    #[error("this request_id was already used with a different request")]
    IdempotencyConflict,
    /// A coin is already in the spent set (by another operation).
    #[error("coin {} has already been spent", b64_encode(.0))]
    CoinAlreadySpent([u8; 32]),
    /// No order with that id.
    #[error("no such order")]
    OrderNotFound,
    /// The order's payment deadline has passed.
    #[error("the order has expired")]
    OrderExpired,
    /// The order was paid by another operation (other coins).
    #[error("the order has already been paid")]
    OrderAlreadyPaid,
    /// The coins' value differs from the order's amount.
    #[error("the coins are worth {value} but the order costs {amount} minor units")]
    WrongAmount {
        /// Value of the coins.
        value: u64,
        /// The order's amount.
        amount: u64,
    },
    /// A merchant acting on another merchant's order.
    #[error("this order belongs to another merchant")]
    NotYourOrder,
    /// A refund above what is left of the payment (or of an unpaid order).
    #[error("at most {left} minor units of this order can still be refunded")]
    RefundTooLarge {
        /// Paid minus already refunded.
        left: u64,
    },
    /// A refund claim on an order without a refund.
    #[error("there is no refund for this order")]
    NoRefund,
    /// A refund claim when everything refunded has been claimed.
    #[error("the refund of this order has already been claimed")]
    RefundAlreadyClaimed,
    /// A refund claim whose outputs are not worth the unclaimed refund.
    #[error("the outputs are worth {outputs} but the unclaimed refund is {refund} minor units")]
    RefundValueMismatch {
        /// Value of the outputs.
        outputs: u64,
        /// Unclaimed refund.
        refund: u64,
    },
    /// No card with that id.
    #[error("no such card")]
    UnknownCard,
    /// A card id drawn at random is already issued (the caller draws again).
    #[error("the card id is already issued")]
    CardIdTaken,
    /// The card key was certified for another account.
    #[error("this card key is registered to another account")]
    CardKeyTaken,
    /// The card key was certified before with another mode.
    #[error("this card key was certified before with another mode")]
    CardModeConflict,
    /// A load whose sequence number is not the card's next one.
    #[error("load_seq must be the card's next load number ({expected})")]
    CardLoadSeq {
        /// The next number the bank expects.
        expected: u32,
    },
    /// A load number already authorized for another amount.
    #[error(
        "load {load_seq} was already authorized for {amount} minor units: load that authorization onto the card first"
    )]
    CardLoadConflict {
        /// The number.
        load_seq: u32,
        /// The stored amount.
        amount: u64,
    },
    /// A different unload proof under an unload number already credited: only a
    /// copy of the card (a cloned virtual card) can sign that.
    #[error("unload {0} was already credited with a different proof: cloned card")]
    CardCloned(u32),
    /// A card already has [`MAX_EXCEPTIONS_PER_CARD`] stored exception records.
    #[error("the bank stores at most {MAX_EXCEPTIONS_PER_CARD} exception records per card")]
    TooManyExceptions,
    /// An account already holds [`MAX_CARDS_PER_ACCOUNT`] cards.
    #[error("an account may hold at most {MAX_CARDS_PER_ACCOUNT} cards")]
    TooManyCards,
    /// A load that would take the card's bank-side balance over its cap.
    #[error(
        "the bank already holds {held} minor units for this card; at most {room} more fit under its balance cap"
    )]
    CardBankCap {
        /// The card's bank-side balance.
        held: u64,
        /// Room under the cap.
        room: u64,
    },
    /// A card-signed exception record under an exception id whose stored record
    /// names another transfer: a genuine card numbers its exceptions once, so only
    /// a copy of the card can sign that.
    #[error("exception {0} was already stored with a different record: cloned card")]
    CardClonedException(u32),
    /// The bank blocked the card (the reason): nothing is done for it until an
    /// operator unlocks it.
    #[error("this card is blocked by the bank ({0}); an operator must unlock it")]
    CardBlocked(String),
    /// A load number that holds a recovery load: the card must load that first.
    #[error(
        "load {0} is a recovery of a lost transfer: fetch it (GET /v1/cards/{{id}}/loads?from={0}) and load it onto the card first"
    )]
    CardLoadIsRecovery(u32),
    /// No unlock request of the card to decide (none pending), or none to show.
    #[error("card has no pending unlock request")]
    NoPendingUnlockRequest,
    /// The account owes the bank: no withdrawal, payout or card load.
    #[error(
        "this account owes the bank {0} minor units (a card of its own gave out more than was loaded onto it): money coming in pays it first; until then it cannot withdraw, pay out or load a card"
    )]
    AccountInDebt(Amount),
    /// A card gave out more than the bank's ledger holds for it.
    #[error("{0}")]
    CardOverspent(String),
    /// The backend failed (I/O, corruption, a bug).
    #[error("storage backend failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError for StorageError {
    fn code(&self) -> ErrorCode {
        match self {
            StorageError::UsernameTaken => ErrorCode::UsernameTaken,
            StorageError::UnknownAccount => ErrorCode::NotFound,
            StorageError::InsufficientFunds => ErrorCode::InsufficientFunds,
            StorageError::AmountOverflow => ErrorCode::AmountOverflow,
            StorageError::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            StorageError::CoinAlreadySpent(_) => ErrorCode::CoinAlreadySpent,
            StorageError::OrderNotFound => ErrorCode::OrderNotFound,
            StorageError::OrderExpired => ErrorCode::OrderExpired,
            StorageError::OrderAlreadyPaid => ErrorCode::OrderAlreadyPaid,
            StorageError::WrongAmount { .. } => ErrorCode::WrongAmount,
            StorageError::NotYourOrder => ErrorCode::Forbidden,
            StorageError::RefundTooLarge { .. } => ErrorCode::RefundTooLarge,
            StorageError::NoRefund => ErrorCode::NoRefund,
            StorageError::RefundAlreadyClaimed => ErrorCode::RefundAlreadyClaimed,
            StorageError::RefundValueMismatch { .. } => ErrorCode::ValueMismatch,
            StorageError::UnknownCard => ErrorCode::NotFound,
            StorageError::CardIdTaken => ErrorCode::Internal,
            StorageError::CardKeyTaken => ErrorCode::Forbidden,
            StorageError::CardModeConflict
            | StorageError::CardLoadConflict { .. }
            | StorageError::CardLoadIsRecovery(_)
            | StorageError::CardCloned(_)
            | StorageError::CardClonedException(_) => ErrorCode::IdempotencyConflict,
            StorageError::CardBlocked(_) => ErrorCode::Forbidden,
            StorageError::CardLoadSeq { .. } => ErrorCode::BadRequest,
            StorageError::NoPendingUnlockRequest => ErrorCode::NoUnlockRequest,
            StorageError::AccountInDebt(_) => ErrorCode::AccountInDebt,
            StorageError::TooManyCards | StorageError::TooManyExceptions => ErrorCode::Forbidden,
            StorageError::CardBankCap { .. } => ErrorCode::InvalidAmount,
            StorageError::CardOverspent(_) => ErrorCode::CardOverspent,
            StorageError::Backend(_) => ErrorCode::Internal,
        }
    }
}

impl StorageError {
    /// Wraps any backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Backend(Box::new(e))
    }
}

/// A denomination keyset's public record (the private key is in the key file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetRecord {
    /// SHA-256 of `public_key`.
    pub id: KeysetId,
    /// Currency.
    pub currency: Currency,
    /// Value of each coin.
    pub value: Amount,
    /// DER `SubjectPublicKeyInfo`.
    pub public_key: Vec<u8>,
    /// End of the withdraw window.
    pub withdraw_until: Timestamp,
    /// End of the deposit window.
    pub deposit_until: Timestamp,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Validated username.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Merchant role.
    pub merchant: bool,
    /// Currency of the balance.
    pub currency: Currency,
    /// Creation time.
    pub created_at: Timestamp,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Row id.
    pub id: AccountId,
    /// Username.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Merchant role.
    pub merchant: bool,
    /// Currency.
    pub currency: Currency,
    /// Balance.
    pub balance: Amount,
    /// What the account owes the bank (shortfalls of its own over-spending cards that
    /// its balance could not cover); paid first out of every credit.
    pub debt: Amount,
}

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

/// A merchant order to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Random, URL-safe id.
    pub id: String,
    /// The merchant's account.
    pub merchant_id: AccountId,
    /// The merchant's name as shown in the contract.
    pub merchant_name: String,
    /// Currency.
    pub currency: Currency,
    /// Price.
    pub amount: Amount,
    /// What is sold.
    pub summary: String,
    /// Where the shop sends the buyer after payment.
    pub fulfillment_url: Option<String>,
    /// Origin allowed to receive the receipt by `postMessage`.
    pub allowed_origin: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Payment deadline.
    pub expires_at: Timestamp,
    /// `Contract::compute_hash` of the above.
    pub contract_hash: [u8; 32],
}

/// How an order was paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPayment {
    /// The payment's operation id (the spent set's `op_id` of its coins).
    pub op_id: OpId,
    /// Receipt time.
    pub paid_at: Timestamp,
    /// The bank's receipt signature.
    pub bank_sig: [u8; 64],
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// Insertion sequence (pagination cursor).
    pub seq: i64,
    /// The order as created.
    pub order: NewOrder,
    /// The payment, once paid.
    pub payment: Option<StoredPayment>,
    /// Total refunded by the merchant.
    pub refunded: Amount,
    /// Part of `refunded` claimed by the payer as fresh coins.
    pub refund_claimed: Amount,
}

/// A refund to grant: debit the merchant, raise the order's refunded total.
#[derive(Debug, Clone)]
pub struct NewRefund {
    /// The order.
    pub order_id: String,
    /// The merchant asking (must own the order).
    pub merchant_id: AccountId,
    /// Amount.
    pub amount: Amount,
    /// When.
    pub now: Timestamp,
}

/// What `refund` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOutcome {
    /// The order's refunded total after this refund.
    pub refunded: Amount,
    /// The merchant's balance after the debit.
    pub balance: Amount,
}

/// A refund claim to record: blinded coins of `value` signed against the
/// order's unclaimed refund.
#[derive(Debug, Clone)]
pub struct NewRefundClaim {
    /// Content-derived id of the claim (order, outputs).
    pub op_id: OpId,
    /// The order.
    pub order_id: String,
    /// Currency.
    pub currency: Currency,
    /// Total value of the outputs; must equal the unclaimed refund.
    pub value: Amount,
    /// Blind signatures of the outputs, in request order.
    pub blind_sigs: Vec<Vec<u8>>,
    /// When.
    pub now: Timestamp,
}

/// What `claim_refund` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundClaimOutcome {
    /// Recorded now.
    Claimed,
    /// The identical claim was recorded before: its stored signatures.
    Replayed(Vec<Vec<u8>>),
}

/// A card to register: the issuer certified `card_pub` under `id` for an account.
#[derive(Debug, Clone)]
pub struct NewCard {
    /// 8 random bytes.
    pub id: [u8; 8],
    /// The card's ed25519 public key.
    pub card_pub: [u8; 32],
    /// The account that asked (owner: loads debit it).
    pub account_id: AccountId,
    /// `personal` or `terminal`.
    pub mode: String,
    /// The card's currency.
    pub currency: Currency,
    /// The certificate's encoding.
    pub cert: Vec<u8>,
    /// When.
    pub now: Timestamp,
}

/// A registered card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    /// Id.
    pub id: [u8; 8],
    /// Owner.
    pub account_id: AccountId,
    /// `personal` or `terminal`.
    pub mode: String,
    /// Currency.
    pub currency: Currency,
    /// The certificate's encoding.
    pub cert: Vec<u8>,
    /// Why the bank blocked the card, if it did (see [`Storage::card_unlock`]).
    pub blocked: Option<String>,
    /// What the bank holds for the card: bank loads − unloads − settled transfers
    /// out + settled transfers in (see [`Storage::card_settle`]).
    pub bank_balance: Amount,
}

/// Most cards one account may hold.
pub const MAX_CARDS_PER_ACCOUNT: usize = 8;

/// Most exception records the bank stores for one card (a genuine card logs one
/// only when a transfer is interrupted; a log this long is abuse).
pub const MAX_EXCEPTIONS_PER_CARD: usize = 256;

/// A credit a payee card presents, verified by the caller: the payer card's VALUE and
/// the payee card's ACK for these terms, both signatures checked against the cards'
/// certificates.
#[derive(Debug, Clone)]
pub struct NewCardTransfer {
    /// The paying card.
    pub payer: [u8; 8],
    /// Its sequence number for the transfer.
    pub payer_seq: u32,
    /// The payee card's sequence number for it.
    pub payee_seq: u32,
    /// The terms' encoding (36 bytes): the transfer's identity.
    pub terms: Vec<u8>,
    /// Currency.
    pub currency: Currency,
    /// Amount.
    pub amount: Amount,
    /// The payer-signed VALUE's encoding.
    pub value: Vec<u8>,
    /// The payee-signed ACK's encoding.
    pub ack: Vec<u8>,
}

/// A payee card's credits to settle, in one transaction.
#[derive(Debug, Clone)]
pub struct CardSettlement {
    /// The payee card (open, owned by `account_id`).
    pub card_id: [u8; 8],
    /// Who presents them: the payee card's owner.
    pub account_id: AccountId,
    /// The credits, distinct terms, all naming `card_id` as payee.
    pub credits: Vec<NewCardTransfer>,
    /// When.
    pub now: Timestamp,
}

/// What became of one credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditOutcome {
    /// Counted (now or before): moved from the payer card's bank-side balance to
    /// the payee's.
    Settled,
    /// Never to be counted; the card drops it with its value.
    Refused(String),
}

/// What `card_settle` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSettleOutcome {
    /// Per credit, in the order given.
    pub outcomes: Vec<CreditOutcome>,
    /// The payee card's bank-side balance after.
    pub bank_balance: Amount,
    /// Payer cards caught over-spending (or signing two VALUEs under one number) by
    /// this settlement, now blocked.
    pub caught: Vec<[u8; 8]>,
}

/// A card load to record: debit the owner, keep the authorization.
#[derive(Debug, Clone)]
pub struct NewCardLoad {
    /// The card.
    pub card_id: [u8; 8],
    /// Account debited (the card's owner).
    pub account_id: AccountId,
    /// Currency.
    pub currency: Currency,
    /// Amount.
    pub amount: Amount,
    /// Must be the card's next number (stored loads + 1), or a stored one (replay).
    pub load_seq: u32,
    /// The certificate's balance cap: the card's bank-side balance may not exceed it.
    pub cap: Amount,
    /// The signed authorization's encoding.
    pub auth: Vec<u8>,
    /// When.
    pub now: Timestamp,
}

/// What `card_load` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardLoadOutcome {
    /// Debited and stored now.
    Done {
        /// Balance after the debit.
        balance: Amount,
    },
    /// The same load was stored before: its authorization; nothing debited now.
    Replayed(Vec<u8>),
}

/// A card unload to record: credit the destination account once.
#[derive(Debug, Clone)]
pub struct NewCardUnload {
    /// The card.
    pub card_id: [u8; 8],
    /// Account credited (the proof's destination).
    pub account_id: AccountId,
    /// Currency.
    pub currency: Currency,
    /// Amount.
    pub amount: Amount,
    /// The card's unload number.
    pub unload_seq: u32,
    /// The card-signed proof's encoding.
    pub proof: Vec<u8>,
    /// When.
    pub now: Timestamp,
}

/// What `card_unload` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardUnloadOutcome {
    /// Credited now.
    Done {
        /// Balance after the credit.
        balance: Amount,
    },
    /// The identical proof was credited before; nothing credited now.
    Replayed,
    /// A *different* proof under a credited number: only a copy of the card can
    /// sign that. Nothing was credited, but the card is now blocked — the one
    /// change this failed unload makes, on purpose (it is returned as an
    /// outcome so the block commits; the caller answers it as an error).
    Cloned,
    /// The proof is for more than the bank holds for the card: not a genuine card.
    /// Nothing was credited; the card is now blocked and the proof kept as evidence
    /// (returned as an outcome so that commits; the caller answers it as an error).
    Overspent {
        /// The card's bank-side balance.
        bank_balance: Amount,
    },
}

/// A verified, card-signed exception record to store.
#[derive(Debug, Clone)]
pub struct NewCardException {
    /// Its number in the card's log (≥ 1).
    pub exception_id: u32,
    /// `true`: unacked debit (the card is the payer); `false`: abandoned credit.
    pub unacked_debit: bool,
    /// The transfer's payer card.
    pub payer: [u8; 8],
    /// The transfer's payer sequence number.
    pub payer_seq: u32,
    /// The transfer's currency.
    pub currency: Currency,
    /// The transfer's amount (> 0).
    pub amount: Amount,
    /// The transfer's terms, encoded: two records match when these bytes are equal.
    pub terms: Vec<u8>,
    /// The signed record's encoding.
    pub record: Vec<u8>,
}

/// A card's exception log, verified, to store and settle.
#[derive(Debug, Clone)]
pub struct CardExceptionUpload {
    /// The card whose log it is.
    pub card_id: [u8; 8],
    /// Who uploads it (the card's owner).
    pub account_id: AccountId,
    /// The records, with distinct ids.
    pub records: Vec<NewCardException>,
    /// When.
    pub now: Timestamp,
}

/// A recovery load to sign: the storage chose its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryLoad {
    /// The payer card re-credited.
    pub card_id: [u8; 8],
    /// Currency.
    pub currency: Currency,
    /// The lost transfer's amount.
    pub amount: Amount,
    /// The payer card's next load number.
    pub load_seq: u32,
}

/// What `card_exceptions` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardExceptionOutcome {
    /// The signed recovery loads of the transfers the uploaded records name, created
    /// now or before, ordered by card and load number.
    pub recovered: Vec<Vec<u8>>,
    /// How many of them this upload created.
    pub created: usize,
    /// The first uploaded id whose stored record names another transfer: the card
    /// was blocked and nothing else was stored (`recovered` is empty).
    pub cloned: Option<u32>,
}

/// An operator's unlock decision to record.
#[derive(Debug, Clone)]
pub struct NewCardUnlock {
    /// The card.
    pub card_id: [u8; 8],
    /// The unlock number signed (≥ 1).
    pub unlock_seq: u32,
    /// Who decided.
    pub decided_by: String,
    /// The signed authorization's encoding.
    pub auth: Vec<u8>,
    /// Only as the answer to the card's pending request for `unlock_seq`: if that
    /// request is no longer pending (refused or superseded meanwhile), nothing is
    /// recorded ([`StorageError::NoPendingUnlockRequest`]).
    pub pending_only: bool,
    /// When.
    pub now: Timestamp,
}

/// An owner's request to reopen a locked card.
#[derive(Debug, Clone)]
pub struct NewCardUnlockRequest {
    /// The card.
    pub card_id: [u8; 8],
    /// The card's next unlock number, from its lock report (≥ 1).
    pub unlock_seq: u32,
    /// Why the card locked, from its lock report: `per_transfer_limit` or
    /// `daily_limit` ([`ecash_card::risk::LockReason::as_str`]).
    pub lock_reason: String,
    /// The card-signed lock report, verified by the caller.
    pub lock_report: Vec<u8>,
    /// The owner asking.
    pub account_id: AccountId,
    /// The owner's words, checked by the caller.
    pub reason: Option<String>,
    /// When.
    pub now: Timestamp,
}

/// An operator's refusal of a card's pending unlock request.
#[derive(Debug, Clone)]
pub struct CardUnlockRefusal {
    /// The card.
    pub card_id: [u8; 8],
    /// Who decided.
    pub decided_by: String,
    /// Why, for the owner (checked by the caller).
    pub note: Option<String>,
    /// When.
    pub now: Timestamp,
}

/// Where an unlock request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardUnlockState {
    /// Waiting for the operator.
    Pending,
    /// Signed: the authorization is in the record.
    Approved,
    /// Refused by the operator.
    Refused,
}

/// An unlock request as stored (superseded requests are never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardUnlockRequestRecord {
    /// The card.
    pub card_id: [u8; 8],
    /// The unlock number asked for (or signed).
    pub unlock_seq: u32,
    /// The card owner's username.
    pub owner: String,
    /// Whether the owner asked (`false`: the operator unlocked unasked).
    pub asked_by_owner: bool,
    /// Why the card locked, as its signed lock report said (`None`: an operator's
    /// unasked unlock, or a request from before lock reports).
    pub lock_reason: Option<String>,
    /// The owner's words.
    pub reason: Option<String>,
    /// Where it stands.
    pub state: CardUnlockState,
    /// When it was asked for (or, unasked, decided).
    pub requested_at: Timestamp,
    /// When it was decided.
    pub decided_at: Option<Timestamp>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// The operator's note on a refusal.
    pub note: Option<String>,
    /// Approved: the signed authorization's encoding.
    pub auth: Option<Vec<u8>>,
    /// The card's bank-side block, if any (see [`CardRecord::blocked`]).
    pub blocked: Option<String>,
}

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

/// The bank's persistent state.
pub trait Storage: Send + Sync + 'static {
    /// Records a keyset; an existing id is left as it is.
    fn insert_keyset(&self, keyset: &KeysetRecord) -> Result<(), StorageError>;
    /// All keysets.
    fn keysets(&self) -> Result<Vec<KeysetRecord>, StorageError>;
    /// Moves a keyset's withdraw window end (rotation).
    fn set_withdraw_until(&self, id: &KeysetId, until: Timestamp) -> Result<(), StorageError>;

    /// Opens an account with balance zero.
    fn create_account(&self, account: &NewAccount) -> Result<AccountId, StorageError>;
    /// Finds an account by name.
    fn account_by_username(&self, username: &str) -> Result<Option<AccountRecord>, StorageError>;
    /// Finds an account by id.
    fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRecord>, StorageError>;

    /// Stores a login token (by its hash) valid until `expires_at`; drops
    /// expired tokens of every account on the way.
    fn create_session(
        &self,
        token_hash: &[u8; 32],
        account_id: AccountId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StorageError>;
    /// The account of an unexpired token.
    fn session_account(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<AccountRecord>, StorageError>;

    /// Wire in: credits an account (ledger kind `credit`).
    fn credit(
        &self,
        username: &str,
        amount: Amount,
        memo: &str,
        now: Timestamp,
    ) -> Result<Amount, StorageError>;
    /// Wire out: debits an account (ledger kind `payout`).
    fn payout(
        &self,
        account_id: AccountId,
        amount: Amount,
        memo: &str,
        now: Timestamp,
    ) -> Result<Amount, StorageError>;
    /// Ledger entries of an account, newest first, ids below `before`.
    fn history(
        &self,
        account_id: AccountId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<LedgerEntry>, StorageError>;

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

    /// Feeds the whole state to `visitor` from one consistent snapshot.
    fn audit_scan(&self, visitor: &mut dyn AuditVisitor) -> Result<(), StorageError>;

    /// Gives an existing account the merchant role and, if given, the name
    /// its contracts show (otherwise they show the username).
    fn make_merchant(
        &self,
        username: &str,
        display_name: Option<&str>,
    ) -> Result<AccountRecord, StorageError>;
    /// The name a merchant's contracts show: its display name, else its username.
    fn merchant_name(&self, account_id: AccountId) -> Result<Option<String>, StorageError>;
    /// Records a new order.
    fn create_order(&self, order: &NewOrder) -> Result<OrderRecord, StorageError>;
    /// An order by id.
    fn order(&self, id: &str) -> Result<Option<OrderRecord>, StorageError>;
    /// A merchant's orders, newest first, with `seq` below `before`.
    fn merchant_orders(
        &self,
        merchant_id: AccountId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<OrderRecord>, StorageError>;
    /// The coins that paid an order (empty if unpaid).
    fn order_coins(&self, order_id: &str) -> Result<Vec<[u8; 32]>, StorageError>;
    /// In one transaction: the order is the merchant's and paid, the amount
    /// fits (`amount <= paid - refunded`), the merchant's balance covers it;
    /// then debit (ledger kind `refund`) and raise the order's refunded total.
    fn refund(&self, refund: &NewRefund) -> Result<RefundOutcome, StorageError>;
    /// The stored signatures of a refund claim.
    fn find_refund_claim(&self, op_id: &OpId) -> Result<Option<Vec<Vec<u8>>>, StorageError>;
    /// In one transaction: an identical claim replays; otherwise the order
    /// must have an unclaimed refund equal to the claim's value, which is
    /// then recorded as claimed with the signatures.
    fn claim_refund(&self, claim: &NewRefundClaim) -> Result<RefundClaimOutcome, StorageError>;

    /// Registers a certified card. The same key again for the same account and
    /// mode answers the stored card (a retry); `CardIdTaken` if `id` is in use.
    fn create_card(&self, card: &NewCard) -> Result<CardRecord, StorageError>;
    /// A card by id.
    fn card(&self, id: &[u8; 8]) -> Result<Option<CardRecord>, StorageError>;
    /// In one transaction: a blocked card is refused (`CardBlocked`); a stored
    /// `(card, load_seq)` replays (a bank load of the same amount) or conflicts
    /// (another amount, or a recovery load under that number); otherwise
    /// `load_seq` must be the next number, then the account is debited (ledger
    /// kind `card_load`) and the authorization stored with kind `bank`.
    fn card_load(&self, load: &NewCardLoad) -> Result<CardLoadOutcome, StorageError>;
    /// In one transaction: a blocked card is refused (`CardBlocked`); a stored
    /// `(card, unload_seq)` replays (identical proof) or, for a different
    /// proof, blocks the card and answers [`CardUnloadOutcome::Cloned`] (the
    /// block is committed, nothing else changes); otherwise the account is
    /// credited (ledger kind `card_unload`) and the proof stored.
    fn card_unload(&self, unload: &NewCardUnload) -> Result<CardUnloadOutcome, StorageError>;
    /// Stored load authorizations (bank and recovery) of a card with
    /// `load_seq >= from`, in order, at most `limit`.
    fn card_loads_from(
        &self,
        card_id: &[u8; 8],
        from: u32,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError>;
    /// In one transaction: a blocked card is refused (`CardBlocked`); if a
    /// record's `(card, exception_id)` is stored with another kind or other terms,
    /// the card is blocked and nothing else is done (`cloned`, committed: only a
    /// copy of the card signs two records under one id); every record whose
    /// `(card, exception_id)` is not stored yet is stored; then every transfer these records
    /// name for which an unacked debit and an abandoned credit with identical
    /// terms are stored, and that has no recovery yet, gets one: the payer
    /// card's next load number, signed by `sign`, stored with kind `recovery`
    /// (no account debited). Uploading the same records again changes nothing.
    fn card_exceptions(
        &self,
        upload: &CardExceptionUpload,
        sign: &dyn Fn(&RecoveryLoad) -> Vec<u8>,
    ) -> Result<CardExceptionOutcome, StorageError>;
    /// In one transaction: records the operator's unlock decision (in `card_unlocks`),
    /// marks the card's request for that number approved (storing one, unasked, if
    /// there was none; another pending request of the card is superseded), and lifts
    /// the card's bank-side block, if any; returns the reason of the lifted block.
    /// With [`NewCardUnlock::pending_only`] the request must still be pending.
    fn card_unlock(&self, unlock: &NewCardUnlock) -> Result<Option<String>, StorageError>;

    /// Settles a payee card's credits in one transaction, each once per terms: the
    /// amount moves from the payer card's bank-side balance to the payee's. A payer
    /// that cannot cover it (or signed another VALUE under the same number) is not a
    /// genuine card: the first time, it is blocked, the evidence kept, the shortfall
    /// taken from its owner's balance and the rest booked as the owner's debt, and
    /// the payee is credited in full; a payer already blocked is settled only as far
    /// as its owner's balance covers it, else the credit is refused. A credit whose
    /// transfer the payee card itself reported abandoned (so the payer may have been
    /// re-credited) is refused and the payee card blocked.
    fn card_settle(&self, settlement: &CardSettlement) -> Result<CardSettleOutcome, StorageError>;
    /// In one transaction: the stored request for `(card, unlock_seq)` if there is one
    /// (pending, approved or refused: asking again changes nothing); otherwise a new
    /// pending request, and the card's other pending request, if any, is superseded.
    fn card_unlock_request(
        &self,
        request: &NewCardUnlockRequest,
    ) -> Result<CardUnlockRequestRecord, StorageError>;
    /// The card's current unlock request: the pending one, else the latest decided.
    fn card_unlock_status(
        &self,
        card_id: &[u8; 8],
    ) -> Result<Option<CardUnlockRequestRecord>, StorageError>;
    /// Every pending unlock request, oldest first.
    fn card_unlock_requests_pending(&self) -> Result<Vec<CardUnlockRequestRecord>, StorageError>;
    /// In one transaction: the card's pending request becomes refused, with the
    /// note; [`StorageError::NoPendingUnlockRequest`] if it has none.
    fn card_unlock_refuse(
        &self,
        refusal: &CardUnlockRefusal,
    ) -> Result<CardUnlockRequestRecord, StorageError>;
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
