//! Bearer-token authentication: `Authorization: Bearer <token>`.
//!
//! Login tokens are 32 random bytes (unpadded base64url); the database keeps
//! only their SHA-256, so a leaked database does not leak live sessions. A
//! token is looked up by its hash (an index lookup: the hash of a 256-bit
//! random value reveals nothing useful through timing). The operator token is
//! compared in constant time.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use ecash_shared::ErrorCode;
use subtle::ConstantTimeEq;

use crate::Bank;
use crate::api::error::{ApiError, BlockingFailed, blocking};
pub use crate::bank::accounts::token_hash;
use crate::storage::{AccountRecord, StorageError};

/// Longest `Authorization` value considered.
const MAX_TOKEN_LEN: usize = 512;

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("missing bearer token (Authorization: Bearer <token>)")]
    Missing,
    /// Unknown or expired token.
    #[error("the bearer token is unknown or expired")]
    Invalid,
    /// Not the operator's token.
    #[error("this endpoint needs the operator token")]
    NotAdmin,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The blocking pool failed.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

impl ApiError for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            AuthError::Missing | AuthError::Invalid => ErrorCode::Unauthorized,
            AuthError::NotAdmin => ErrorCode::Forbidden,
            AuthError::Storage(e) => e.code(),
            AuthError::Blocking(_) => ErrorCode::Internal,
        }
    }
}
crate::api_error!(AuthError);

/// The bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    if value.len() > MAX_TOKEN_LEN {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether `token` is the operator token (constant time over the hashes, so
/// neither content nor length leaks).
pub fn is_admin_token(expected_hash: Option<&[u8; 32]>, token: &str) -> bool {
    match expected_hash {
        Some(h) => bool::from(token_hash(token).ct_eq(h)),
        None => false,
    }
}

/// An authenticated account holder (the extractor checks the bearer token).
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccountRecord);

impl FromRequest for Authenticated {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let bank = req.app_data::<web::Data<Bank>>().cloned();
        let hash = bearer(req).map(token_hash);
        Box::pin(async move {
            let hash = hash.ok_or(AuthError::Missing)?;
            let bank = bank.ok_or(AuthError::Blocking(BlockingFailed))?;
            let now = crate::now();
            let account =
                blocking(move || bank.session_account(&hash, now).map_err(AuthError::from)).await?;
            account.map(Authenticated).ok_or(AuthError::Invalid)
        })
    }
}

/// The operator (holder of the admin token).
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = AuthError;
    type Future = std::future::Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = (|| {
            let token = bearer(req).ok_or(AuthError::Missing)?;
            let bank = req
                .app_data::<web::Data<Bank>>()
                .ok_or(AuthError::Blocking(BlockingFailed))?;
            if is_admin_token(bank.admin_token_hash.as_ref(), token) {
                Ok(Admin)
            } else {
                Err(AuthError::NotAdmin)
            }
        })();
        std::future::ready(result)
    }
}
