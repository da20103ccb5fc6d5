//! Error plumbing shared by every area: each area has its own `thiserror` enum
//! that knows its [`ErrorCode`] ([`ApiError`]) and becomes a `{code, detail}`
//! answer through [`api_error!`](crate::api_error). This module also turns
//! actix's own extractor failures (bad JSON, too large, bad query) and unknown
//! routes into the same shape.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use ecash_shared::{ErrorCode, ErrorResponse};

pub use crate::bank::pool::BlockingFailed;

/// Largest JSON body accepted. A maximal swap (1024 coins in and 1024 out) is
/// about 1.1 MB of JSON, so 1 MiB would be too tight.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// An error that maps to one protocol error code.
pub trait ApiError: std::error::Error {
    /// The code sent to the client.
    fn code(&self) -> ErrorCode;
}

/// The HTTP status of a code (500 for anything unexpected).
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Builds the `{code, detail}` answer. Internal errors are logged here with
/// their whole source chain and answered without detail.
pub fn respond(code: ErrorCode, err: &dyn std::error::Error) -> HttpResponse {
    let detail = if code == ErrorCode::Internal {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "internal error");
        code.description().to_owned()
    } else {
        err.to_string()
    };
    HttpResponse::build(status_of(code)).json(ErrorResponse::new(code, detail))
}

/// Implements `actix_web::ResponseError` for an area's error enum through its
/// [`ApiError`] implementation.
#[macro_export]
macro_rules! api_error {
    ($t:ty) => {
        impl actix_web::ResponseError for $t {
            fn status_code(&self) -> actix_web::http::StatusCode {
                $crate::api::error::status_of($crate::api::error::ApiError::code(self))
            }
            fn error_response(&self) -> actix_web::HttpResponse {
                $crate::api::error::respond($crate::api::error::ApiError::code(self), self)
            }
        }
    };
}

/// Failures that happen before a handler runs: the request itself is unusable.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Invalid JSON, wrong types, unknown or missing fields, bad query or path.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    /// No such route.
    #[error("no such endpoint: {0}")]
    NotFound(String),
}

impl ApiError for RequestError {
    fn code(&self) -> ErrorCode {
        match self {
            RequestError::BadRequest(_) => ErrorCode::BadRequest,
            RequestError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            RequestError::NotFound(_) => ErrorCode::NotFound,
        }
    }
}
crate::api_error!(RequestError);

/// `JsonConfig` error handler.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            RequestError::PayloadTooLarge
        }
        JsonPayloadError::ContentType => {
            RequestError::BadRequest("expected Content-Type: application/json".to_owned())
        }
        JsonPayloadError::Deserialize(e) => RequestError::BadRequest(format!("invalid JSON: {e}")),
        other => RequestError::BadRequest(format!("unreadable body: {other}")),
    };
    e.into()
}

/// `QueryConfig` error handler.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    RequestError::BadRequest(format!("invalid query string: {err}")).into()
}

/// `PathConfig` error handler.
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    RequestError::BadRequest(format!("invalid path: {err}")).into()
}

/// Default service under `/v1`: JSON 404 for any unknown route or method.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    RequestError::NotFound(format!("{} {}", req.method(), req.path())).error_response()
}

impl From<actix_web::error::BlockingError> for BlockingFailed {
    fn from(_: actix_web::error::BlockingError) -> Self {
        BlockingFailed
    }
}

/// Runs `f` on the blocking pool and flattens the result, answering only
/// once every database write `f` could have seen is on disk: the storage
/// calls inside `f` defer their durability waits (group commit, see
/// [`storage::defer`](crate::storage::defer)) and this task awaits them after
/// the thread is free again — so a waiting request holds no thread.
pub async fn blocking<T, E, F>(f: F) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static + From<BlockingFailed>,
{
    match actix_web::web::block(move || crate::storage::defer(f)).await {
        Ok((r, debt)) => match debt.settle().await {
            Ok(()) => r,
            Err(e) => {
                tracing::error!(error = %e, "a request's writes could not be made durable");
                Err(E::from(BlockingFailed))
            }
        },
        Err(e) => Err(E::from(BlockingFailed::from(e))),
    }
}

/// The wire code of each storage outcome: the storage layer knows no wire codes.
impl ApiError for crate::storage::StorageError {
    fn code(&self) -> ErrorCode {
        match self {
            crate::storage::StorageError::UsernameTaken => ErrorCode::UsernameTaken,
            crate::storage::StorageError::UnknownAccount => ErrorCode::NotFound,
            crate::storage::StorageError::InsufficientFunds => ErrorCode::InsufficientFunds,
            crate::storage::StorageError::AmountOverflow => ErrorCode::AmountOverflow,
            crate::storage::StorageError::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            crate::storage::StorageError::CoinAlreadySpent(_) => ErrorCode::CoinAlreadySpent,
            crate::storage::StorageError::OrderNotFound => ErrorCode::OrderNotFound,
            crate::storage::StorageError::OrderExpired => ErrorCode::OrderExpired,
            crate::storage::StorageError::OrderAlreadyPaid => ErrorCode::OrderAlreadyPaid,
            crate::storage::StorageError::WrongAmount { .. } => ErrorCode::WrongAmount,
            crate::storage::StorageError::NotYourOrder => ErrorCode::Forbidden,
            crate::storage::StorageError::RefundTooLarge { .. } => ErrorCode::RefundTooLarge,
            crate::storage::StorageError::NoRefund => ErrorCode::NoRefund,
            crate::storage::StorageError::RefundAlreadyClaimed => ErrorCode::RefundAlreadyClaimed,
            crate::storage::StorageError::RefundValueMismatch { .. } => ErrorCode::ValueMismatch,
            crate::storage::StorageError::UnknownCard => ErrorCode::NotFound,
            crate::storage::StorageError::CardIdTaken => ErrorCode::Internal,
            crate::storage::StorageError::CardKeyTaken => ErrorCode::Forbidden,
            crate::storage::StorageError::CardModeConflict
            | crate::storage::StorageError::CardLoadConflict { .. }
            | crate::storage::StorageError::CardLoadIsRecovery(_)
            | crate::storage::StorageError::CardCloned(_)
            | crate::storage::StorageError::CardClonedException(_) => {
                ErrorCode::IdempotencyConflict
            }
            crate::storage::StorageError::CardBlocked(_) => ErrorCode::Forbidden,
            crate::storage::StorageError::CardLoadSeq { .. } => ErrorCode::BadRequest,
            crate::storage::StorageError::NoPendingUnlockRequest => ErrorCode::NoUnlockRequest,
            crate::storage::StorageError::AccountInDebt(_) => ErrorCode::AccountInDebt,
            crate::storage::StorageError::TooManyCards
            | crate::storage::StorageError::TooManyExceptions => ErrorCode::Forbidden,
            crate::storage::StorageError::CardBankCap { .. } => ErrorCode::InvalidAmount,
            crate::storage::StorageError::CardOverspent(_) => ErrorCode::CardOverspent,
            crate::storage::StorageError::Backend(_) => ErrorCode::Internal,
        }
    }
}

/// The wire code of each way coins can fail to spend.
impl ApiError for crate::bank::spend::SpendError {
    fn code(&self) -> ErrorCode {
        match self {
            crate::bank::spend::SpendError::NoCoins => ErrorCode::NoCoins,
            crate::bank::spend::SpendError::TooManyCoins => ErrorCode::TooManyCoins,
            crate::bank::spend::SpendError::DuplicateCoin(_) => ErrorCode::DuplicateCoin,
            crate::bank::spend::SpendError::UnknownKeyset(_) => ErrorCode::UnknownKeyset,
            crate::bank::spend::SpendError::KeysetExpired(_) => ErrorCode::KeysetExpired,
            crate::bank::spend::SpendError::BadDenominationSignature(_) => {
                ErrorCode::BadDenominationSignature
            }
            crate::bank::spend::SpendError::BadCoinSignature(_) => ErrorCode::BadCoinSignature,
            crate::bank::spend::SpendError::AmountOverflow => ErrorCode::AmountOverflow,
            crate::bank::spend::SpendError::Storage(e) => e.code(),
            crate::bank::spend::SpendError::Blocking(_) => ErrorCode::Internal,
        }
    }
}
crate::api_error!(crate::bank::spend::SpendError);
