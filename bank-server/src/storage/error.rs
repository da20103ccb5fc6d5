//! Why a storage operation did not happen. No wire codes here: the API layer
//! maps each variant to its `ErrorCode` (`crate::api::error`).

use ecash_shared::Amount;

use super::*;

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

impl StorageError {
    /// Wraps any backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Backend(Box::new(e))
    }
}
