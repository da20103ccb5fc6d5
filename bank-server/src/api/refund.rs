//! Refunds: `POST /v1/merchant/orders/{id}/refund` (merchant bearer) and
//! `POST /v1/orders/{id}/refund/claim`; see [`crate::bank::refund`].

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{RefundClaimRequest, RefundRequest, RefundResponse};

use crate::Bank;
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, blocking};
use crate::api::withdraw::blind_sigs_response;
pub use crate::bank::refund::RefundError;

impl ApiError for RefundError {
    fn code(&self) -> ErrorCode {
        match self {
            RefundError::NotAMerchant => ErrorCode::Forbidden,
            RefundError::InvalidAmount => ErrorCode::InvalidAmount,
            RefundError::Mismatched => ErrorCode::BadRequest,
            RefundError::NoCoins => ErrorCode::NoCoins,
            RefundError::TooManyCoins => ErrorCode::TooManyCoins,
            RefundError::DuplicateCoin(_) => ErrorCode::DuplicateCoin,
            RefundError::BadCoinSignature(_) | RefundError::MissingSigners { .. } => {
                ErrorCode::BadCoinSignature
            }
            RefundError::Output(e) => e.code(),
            RefundError::Storage(e) => e.code(),
            RefundError::Blocking(_) => ErrorCode::Internal,
        }
    }
}
crate::api_error!(RefundError);

/// Registers the refund routes (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/merchant/orders/{id}/refund", web::post().to(refund))
        .route("/orders/{id}/refund/claim", web::post().to(claim));
}

async fn refund(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<RefundRequest>,
) -> Result<HttpResponse, RefundError> {
    let order_id = path.into_inner();
    let amount = body.into_inner().amount;
    let (b, id) = (bank.clone(), order_id.clone());
    let outcome = blocking(move || b.refund(&auth.0, id, amount)).await?;
    // After `blocking`: the refund is durable before anyone is woken.
    bank.order_events.notify(&order_id);
    Ok(HttpResponse::Ok().json(RefundResponse {
        order_id,
        refunded: outcome.refunded,
        balance: outcome.balance,
    }))
}

async fn claim(
    bank: web::Data<Bank>,
    path: web::Path<String>,
    body: web::Json<RefundClaimRequest>,
) -> Result<HttpResponse, RefundError> {
    let (order_id, req) = (path.into_inner(), body.into_inner());
    let sigs = blocking(move || bank.claim_refund(order_id, req)).await?;
    Ok(blind_sigs_response(sigs))
}
