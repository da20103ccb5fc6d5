//! `POST /v1/withdraw` (bearer): see [`crate::bank::withdraw`].

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{BlindSignaturesResponse, WithdrawRequest};
use ecash_shared::encoding::Bytes;

use crate::Bank;
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, blocking};
pub use crate::bank::withdraw::{OutputError, WithdrawError};

impl ApiError for OutputError {
    fn code(&self) -> ErrorCode {
        match self {
            OutputError::NoCoins => ErrorCode::NoCoins,
            OutputError::TooManyCoins => ErrorCode::TooManyCoins,
            OutputError::DuplicateCoin(_) => ErrorCode::DuplicateCoin,
            OutputError::UnknownKeyset(_) => ErrorCode::UnknownKeyset,
            OutputError::KeysetExpired(_) => ErrorCode::KeysetExpired,
            OutputError::BadBlindedMessage(_) => ErrorCode::BadBlindedMessage,
            OutputError::AmountOverflow => ErrorCode::AmountOverflow,
            OutputError::SigningFailed(_) => ErrorCode::Internal,
        }
    }
}

impl ApiError for WithdrawError {
    fn code(&self) -> ErrorCode {
        match self {
            WithdrawError::BadRequestId => ErrorCode::BadRequest,
            WithdrawError::Output(e) => e.code(),
            WithdrawError::Storage(e) => e.code(),
            WithdrawError::Blocking(_) => ErrorCode::Internal,
        }
    }
}
crate::api_error!(WithdrawError);

/// Registers the withdraw route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/withdraw", web::post().to(withdraw));
}

/// The blind signatures as the wire answer.
pub fn blind_sigs_response(sigs: Vec<Vec<u8>>) -> HttpResponse {
    HttpResponse::Ok().json(BlindSignaturesResponse {
        blind_sigs: sigs.into_iter().map(Bytes).collect(),
    })
}

async fn withdraw(
    bank: web::Data<Bank>,
    auth: Authenticated,
    body: web::Json<WithdrawRequest>,
) -> Result<HttpResponse, WithdrawError> {
    let req = body.into_inner();
    let sigs = blocking(move || bank.withdraw(&auth.0, req, crate::now())).await?;
    Ok(blind_sigs_response(sigs))
}
