//! Operator endpoints: `POST /v1/admin/credit {username, amount}` wires money
//! in (`Authorization: Bearer <admin token>`). The same operation backs the
//! `bank-server admin credit` command.

use actix_web::{HttpResponse, web};
use ecash_shared::api::{AdminCreditRequest, BalanceResponse};

use crate::Bank;
use crate::api::auth::Admin;
use crate::api::error::blocking;
use crate::bank::accounts::AdminError;

/// Registers the operator routes (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/credit", web::post().to(credit_handler));
}

async fn credit_handler(
    bank: web::Data<Bank>,
    _admin: Admin,
    body: web::Json<AdminCreditRequest>,
) -> Result<HttpResponse, AdminError> {
    let req = body.into_inner();
    let balance = blocking(move || {
        bank.credit(&req.username, req.amount, crate::now())
            .inspect(|_| {
                tracing::info!(account = %req.username, amount = req.amount.minor(), "wire in");
            })
    })
    .await?;
    Ok(HttpResponse::Ok().json(BalanceResponse { balance }))
}
