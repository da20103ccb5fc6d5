//! Operator endpoints: `POST /v1/admin/credit {username, amount}` wires money
//! in (`Authorization: Bearer <admin token>`). The same operation backs the
//! `bank-server admin credit` command.

use actix_web::{HttpResponse, web};
use ecash_shared::api::{AdminCreditRequest, BalanceResponse};
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, ErrorCode};

use crate::Bank;
use crate::api::auth::Admin;
use crate::api::error::{ApiError, BlockingFailed, blocking};
use crate::storage::{MAX_STORED_AMOUNT, Storage, StorageError};

/// Errors of the operator endpoints.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Zero or too large.
    #[error("the amount must be between 1 and {} minor units", MAX_STORED_AMOUNT.minor())]
    InvalidAmount,
    /// No such account.
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    /// Storage.
    #[error(transparent)]
    Storage(StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

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

/// Registers the operator routes (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/credit", web::post().to(credit_handler));
}

/// Wire in: credits `username` with `amount` (a `credit` ledger entry).
pub fn credit(
    storage: &dyn Storage,
    username: &str,
    amount: Amount,
    now: Timestamp,
) -> Result<Amount, AdminError> {
    if amount.is_zero() || amount > MAX_STORED_AMOUNT {
        return Err(AdminError::InvalidAmount);
    }
    storage
        .credit(username, amount, "wire in", now)
        .map_err(|e| match e {
            StorageError::UnknownAccount => AdminError::UnknownAccount(username.to_owned()),
            other => AdminError::Storage(other),
        })
}

async fn credit_handler(
    bank: web::Data<Bank>,
    _admin: Admin,
    body: web::Json<AdminCreditRequest>,
) -> Result<HttpResponse, AdminError> {
    let req = body.into_inner();
    let balance = blocking(move || {
        credit(&*bank.storage, &req.username, req.amount, crate::now()).inspect(|_| {
            tracing::info!(account = %req.username, amount = req.amount.minor(), "wire in");
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(BalanceResponse { balance }))
}
