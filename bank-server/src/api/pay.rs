//! `POST /v1/orders/{id}/pay`: see [`crate::bank::pay`].

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{PayRequest, PayResponse};

use crate::Bank;
use crate::api::error::{ApiError, blocking};
use crate::bank::merchant;
pub use crate::bank::pay::PayError;

impl ApiError for PayError {
    fn code(&self) -> ErrorCode {
        self.0.code()
    }
}
crate::api_error!(PayError);

/// Registers the pay route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/orders/{id}/pay", web::post().to(pay));
}

async fn pay(
    bank: web::Data<Bank>,
    path: web::Path<String>,
    body: web::Json<PayRequest>,
) -> Result<HttpResponse, PayError> {
    let (order_id, req) = (path.into_inner(), body.into_inner());
    let b = bank.clone();
    let (order, payment) = blocking(move || b.pay(order_id, req)).await?;
    // After `blocking`: the payment is durable before anyone is woken.
    bank.order_events.notify(&order.id);
    Ok(HttpResponse::Ok().json(PayResponse {
        receipt: merchant::receipt(&order, &payment),
    }))
}
