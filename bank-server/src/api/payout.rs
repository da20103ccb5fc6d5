//! Wire out: `POST /v1/accounts/me/payout {amount, iban}` debits the account
//! (a `payout` ledger entry) for a transfer to a real bank account.

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{BalanceResponse, PayoutRequest};

use crate::Bank;
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, blocking};
pub use crate::bank::payout::PayoutError;

impl ApiError for PayoutError {
    fn code(&self) -> ErrorCode {
        match self {
            PayoutError::InvalidAmount => ErrorCode::InvalidAmount,
            PayoutError::InvalidIban => ErrorCode::InvalidIban,
            PayoutError::Storage(e) => e.code(),
            PayoutError::Blocking(_) => ErrorCode::Internal,
        }
    }
}
crate::api_error!(PayoutError);

/// Registers the payout route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/me/payout", web::post().to(payout));
}

async fn payout(
    bank: web::Data<Bank>,
    auth: Authenticated,
    body: web::Json<PayoutRequest>,
) -> Result<HttpResponse, PayoutError> {
    let req = body.into_inner();
    let balance = blocking(move || bank.payout(&auth.0, &req, crate::now())).await?;
    Ok(HttpResponse::Ok().json(BalanceResponse { balance }))
}
