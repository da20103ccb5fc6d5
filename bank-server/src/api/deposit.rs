//! `POST /v1/deposit` (bearer): see [`crate::bank::deposit`].

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{DepositRequest, DepositResponse};

use crate::Bank;
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, blocking};
pub use crate::bank::deposit::DepositError;

impl ApiError for DepositError {
    fn code(&self) -> ErrorCode {
        self.0.code()
    }
}
crate::api_error!(DepositError);

/// Registers the deposit route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/deposit", web::post().to(deposit));
}

async fn deposit(
    bank: web::Data<Bank>,
    auth: Authenticated,
    body: web::Json<DepositRequest>,
) -> Result<HttpResponse, DepositError> {
    let req = body.into_inner();
    let d = blocking(move || bank.deposit(&auth.0, req, crate::now())).await?;
    Ok(HttpResponse::Ok().json(DepositResponse {
        credited: d.credited,
        balance: d.balance,
    }))
}
