//! `GET /v1/keys`: the keysets, their validity windows and the receipt key.

use actix_web::{HttpResponse, web};

use crate::Bank;

/// Registers `GET /v1/keys` (under the `/v1` scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(keys));
}

async fn keys(bank: web::Data<Bank>) -> HttpResponse {
    HttpResponse::Ok().json(bank.keys.keys_response(crate::now()))
}
