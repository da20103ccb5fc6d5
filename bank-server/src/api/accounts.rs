//! Accounts: open (`POST /v1/accounts`), log in (`POST /v1/login`), read the
//! balance (`GET /v1/accounts/me`) and the ledger (`GET /v1/accounts/me/history`).
//!
//! Passwords are hashed with Argon2id (default parameters) on a dedicated
//! per-core thread pool ([`crate::bank::password`]).

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{
    AccountCreated, AccountInfo, Credentials, HISTORY_DEFAULT_LIMIT, HistoryQuery, HistoryResponse,
};

use crate::Bank;
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, blocking};
pub use crate::bank::accounts::{AccountError, AdminError};

impl ApiError for AccountError {
    fn code(&self) -> ErrorCode {
        match self {
            AccountError::InvalidUsername => ErrorCode::InvalidUsername,
            AccountError::WeakPassword => ErrorCode::WeakPassword,
            AccountError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AccountError::BadLimit => ErrorCode::BadRequest,
            AccountError::Hashing | AccountError::Rng | AccountError::Blocking(_) => {
                ErrorCode::Internal
            }
            AccountError::Storage(e) => e.code(),
        }
    }
}
crate::api_error!(AccountError);

impl ApiError for AdminError {
    fn code(&self) -> ErrorCode {
        match self {
            AdminError::InvalidAmount => ErrorCode::InvalidAmount,
            AdminError::UnknownAccount(_) => ErrorCode::NotFound,
            AdminError::Storage(e) => e.code(),
            AdminError::Blocking(_) => ErrorCode::Internal,
        }
    }
}
crate::api_error!(AdminError);

/// Registers the account routes (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts", web::post().to(create))
        .route("/login", web::post().to(login))
        .route("/accounts/me", web::get().to(me))
        .route("/accounts/me/history", web::get().to(history));
}

async fn create(
    bank: web::Data<Bank>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AccountError> {
    let username = bank.open_account(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(AccountCreated { username }))
}

async fn login(
    bank: web::Data<Bank>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AccountError> {
    Ok(HttpResponse::Ok().json(bank.login(body.into_inner()).await?))
}

async fn me(auth: Authenticated) -> HttpResponse {
    let a = auth.0;
    HttpResponse::Ok().json(AccountInfo {
        username: a.username,
        balance: a.balance,
        currency: a.currency,
        merchant: a.merchant,
        debt: a.debt,
    })
}

async fn history(
    bank: web::Data<Bank>,
    auth: Authenticated,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, AccountError> {
    let limit = query.limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    let before = query.before;
    let (entries, next_before) = blocking(move || bank.history(&auth.0, limit, before)).await?;
    Ok(HttpResponse::Ok().json(HistoryResponse {
        entries,
        next_before,
    }))
}
