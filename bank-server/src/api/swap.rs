//! `POST /v1/swap`: see [`crate::bank::swap`].

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::SwapRequest;

use crate::Bank;
use crate::api::error::{ApiError, blocking};
use crate::api::withdraw::blind_sigs_response;
pub use crate::bank::swap::SwapError;

impl ApiError for SwapError {
    fn code(&self) -> ErrorCode {
        match self {
            SwapError::ValueMismatch { .. } => ErrorCode::ValueMismatch,
            SwapError::Spend(e) => e.code(),
            SwapError::Output(e) => e.code(),
        }
    }
}
crate::api_error!(SwapError);

/// Registers the swap route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/swap", web::post().to(swap));
}

async fn swap(
    bank: web::Data<Bank>,
    body: web::Json<SwapRequest>,
) -> Result<HttpResponse, SwapError> {
    let req = body.into_inner();
    let sigs = blocking(move || bank.swap(req, crate::now())).await?;
    Ok(blind_sigs_response(sigs))
}
