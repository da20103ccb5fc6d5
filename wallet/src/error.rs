//! Wallet errors, each with a message a person can act on.

use ecash_shared::{ErrorCode, ErrorResponse};

use crate::storage::StorageError;
use crate::transport::TransportError;

/// Why a wallet operation did not complete. After any of these the wallet's
/// value is intact: pending work is resumed by [`crate::Wallet::resume`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The bank refused the request.
    #[error("{}", bank_message(.0))]
    Bank(ErrorResponse),
    /// No answer from the bank; the operation stays pending and is retried.
    #[error("the bank could not be reached ({0}); the operation will be retried")]
    Network(#[from] TransportError),
    /// Local storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The bank answered something that does not verify (a bad signature, a
    /// contract whose hash does not match, a malformed body).
    #[error("the bank's answer did not verify: {0}")]
    Protocol(String),
    /// Not enough coins in the wallet.
    #[error("not enough money in the wallet: {0}")]
    InsufficientCoins(String),
    /// The amount is zero or cannot be made from the bank's denominations.
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    /// A token string that cannot be read.
    #[error("this is not a valid e-cash token: {0}")]
    InvalidToken(String),
    /// Log in first.
    #[error("log in to the bank first")]
    NotLoggedIn,
    /// The order cannot be paid (expired, wrong currency, already paid).
    #[error("{0}")]
    Order(String),
    /// Creating coins failed (random number generator).
    #[error("creating coins failed: {0}")]
    Crypto(String),
}

fn bank_message(e: &ErrorResponse) -> String {
    let what = match e.code {
        ErrorCode::InsufficientFunds => "Your bank account balance is too low for this withdrawal.",
        ErrorCode::CoinAlreadySpent => {
            "These coins were already spent (a token can be received only once)."
        }
        ErrorCode::Unauthorized => "Your session has expired: please log in again.",
        ErrorCode::OrderExpired => "This order has expired: ask the shop for a new one.",
        ErrorCode::OrderAlreadyPaid => "This order has already been paid.",
        ErrorCode::CardOverspent => {
            "The bank blocked this card: it gave out more than the bank holds for it, which a \
             genuine card never does. Nothing was paid out."
        }
        ErrorCode::AccountInDebt => {
            "Your account owes the bank (a card of yours gave out more than the bank held for \
             it): it cannot withdraw, pay out or load a card until this is paid. Money coming \
             into the account pays it first."
        }
        other => other.description(),
    };
    if e.detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what} ({})", e.detail)
    }
}

impl WalletError {
    /// The bank's error code, if the bank refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            WalletError::Bank(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether the outcome at the bank is unknown (retrying may finish it).
    pub fn is_retryable(&self) -> bool {
        matches!(self, WalletError::Network(_) | WalletError::Storage(_))
            || matches!(self, WalletError::Bank(e) if e.code == ErrorCode::Internal || e.code == ErrorCode::RateLimited)
    }
}
