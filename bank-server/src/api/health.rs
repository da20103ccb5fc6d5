//! `GET /v1/health`: liveness.

use actix_web::{HttpResponse, web};
use ecash_shared::api::HealthResponse;

/// Registers the health route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}
