//! The closed list of error codes every endpoint answers with, as
//! `{"code": "SCREAMING_SNAKE", "detail": "human text"}`.

use core::fmt;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $status:literal, $text:literal; )*) => {
        /// An error code. Each has one HTTP status and one meaning; the list in
        /// `docs/protocol.md` is checked against [`ErrorCode::ALL`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this build does not know (a newer server). Never sent.
            #[serde(other)]
            Unknown,
        }

        impl ErrorCode {
            /// Every code a server may send.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The HTTP status that carries this code.
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* ErrorCode::Unknown => 500 }
            }

            /// A one-line explanation, for documentation and for wallets to show.
            pub fn description(self) -> &'static str {
                match self { $( ErrorCode::$variant => $text, )* ErrorCode::Unknown => "unknown error" }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON, has wrong types, missing or unknown fields.
    BadRequest = 400, "The request is malformed: invalid JSON, a wrong type, or a missing or unknown field.";
    /// The body is larger than the endpoint accepts.
    PayloadTooLarge = 413, "The request body is too large.";
    /// Missing, malformed, unknown or expired bearer token.
    Unauthorized = 401, "Log in first: the bearer token is missing, unknown or expired.";
    /// Authenticated, but not allowed (e.g. not a merchant, not the admin).
    Forbidden = 403, "This account may not do that.";
    /// No such resource or route.
    NotFound = 404, "Not found.";
    /// Username already registered.
    UsernameTaken = 409, "That username is taken.";
    /// Username not 3-32 characters of a-z, 0-9, '.', '_' or '-'.
    InvalidUsername = 400, "Usernames are 3 to 32 characters: lower-case letters, digits, '.', '_' or '-'.";
    /// Password shorter than 8 or longer than 256 bytes.
    WeakPassword = 400, "Passwords are 8 to 256 characters long.";
    /// Wrong username or password.
    InvalidCredentials = 401, "Wrong username or password.";
    /// The account balance does not cover the request.
    InsufficientFunds = 409, "The account balance is too low.";
    /// An amount is zero where a positive one is needed, or out of range.
    InvalidAmount = 400, "The amount must be a positive whole number of minor units within the limits.";
    /// A sum of amounts overflowed 2^64-1 minor units.
    AmountOverflow = 400, "The amounts add up to more than the system can represent.";
    /// No keyset with this id.
    UnknownKeyset = 404, "The coin's denomination key is unknown to this bank.";
    /// The keyset's withdraw or deposit window has ended.
    KeysetExpired = 410, "The denomination key has expired for this operation.";
    /// A blinded message is not modulus-sized or not below the modulus.
    BadBlindedMessage = 400, "A blinded message is malformed for its denomination key.";
    /// More coins in one request than the documented limit.
    TooManyCoins = 400, "Too many coins in one request.";
    /// A request that moves coins carries none.
    NoCoins = 400, "The request carries no coins.";
    /// The same coin appears twice in one request.
    DuplicateCoin = 400, "The same coin appears twice in the request.";
    /// An idempotency key was reused with a different body.
    IdempotencyConflict = 409, "This request id was already used with a different request.";
    /// A coin was already spent (the detail names it).
    CoinAlreadySpent = 409, "A coin has already been spent.";
    /// The bank's signature on a coin does not verify.
    BadDenominationSignature = 400, "A coin's bank signature is invalid.";
    /// The coin's own signature does not verify for this operation.
    BadCoinSignature = 400, "A coin's signature is invalid for this operation.";
    /// Swap inputs and outputs differ in value.
    ValueMismatch = 400, "The inputs and outputs differ in value.";
    /// The bank account number is not a valid IBAN.
    InvalidIban = 400, "The bank account number (IBAN) is invalid.";
    /// The order does not exist.
    OrderNotFound = 404, "No such order.";
    /// The order's payment deadline has passed.
    OrderExpired = 410, "The order has expired.";
    /// The order was already paid with other coins.
    OrderAlreadyPaid = 409, "The order has already been paid.";
    /// The coins do not add up to the order's amount.
    WrongAmount = 400, "The coins do not add up to the order's amount.";
    /// The contract hash in the request does not match the order.
    ContractMismatch = 409, "The contract does not match the order.";
    /// The order has no refund to claim, or a refund exceeds what was paid.
    NoRefund = 409, "There is no refund to claim for this order.";
    /// The refund was claimed already.
    RefundAlreadyClaimed = 409, "The refund has already been claimed.";
    /// A refund larger than what is left of the payment.
    RefundTooLarge = 400, "The refund is larger than the payment.";
    /// A card has no unlock request (to show), or none pending (to decide).
    NoUnlockRequest = 404, "The card has no unlock request (none pending, for a decision).";
    /// A card presented (an unload proof, a payment it signed) more than the bank's
    /// own ledger holds for it: not a genuine card; blocked, nothing paid out.
    CardOverspent = 409, "The card gave out more than the bank holds for it; it is blocked and nothing was paid.";
    /// The account owes the bank (a card of its own over-spent) and may not move
    /// money out until the debt is paid.
    AccountInDebt = 409, "The account owes the bank; it cannot withdraw, pay out or load a card until the debt is paid.";
    /// Too many requests from this client.
    RateLimited = 429, "Too many requests; try again shortly.";
    /// A bug or an unavailable dependency on the server; nothing was changed.
    Internal = 500, "Internal error; nothing was changed. Try again.";
}

impl ErrorCode {
    /// The wire name, e.g. `COIN_ALREADY_SPENT`.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "UNKNOWN".to_owned())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorResponse {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable detail (never secrets).
    pub detail: String,
}

impl ErrorResponse {
    /// A response with the given code and detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        ErrorResponse {
            code,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_screaming_snake_and_4xx() {
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
            let back: ErrorCode = serde_json::from_value(serde_json::Value::String(s)).unwrap();
            assert_eq!(back, code);
            if code != ErrorCode::Internal {
                assert!((400..500).contains(&code.http_status()), "{code}");
            }
        }
        assert_eq!(ErrorCode::CoinAlreadySpent.as_str(), "COIN_ALREADY_SPENT");
        let unknown: ErrorCode = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(unknown, ErrorCode::Unknown);
    }
}
