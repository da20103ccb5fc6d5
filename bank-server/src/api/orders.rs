//! Orders: a merchant creates them, anyone reads their contract and status.
//!
//! - `POST /v1/merchant/orders {amount, summary, fulfillment_url?, expires_in?,
//!   allowed_origin?}` (merchant bearer; other accounts get `FORBIDDEN`) →
//!   201 `{order_id, pay_uri, contract}`.
//! - `GET /v1/merchant/orders?limit&before` (merchant bearer) → the
//!   merchant's orders with their state, newest first.
//! - `GET /v1/orders/{id}` → the contract the wallet signs for.
//! - `GET /v1/orders/{id}/status?timeout_ms=` → `unpaid` | `paid` (+ receipt)
//!   | `refunded` | `expired`. With `timeout_ms` (at most 30 s) an unpaid order
//!   is long-polled: the answer comes when the order changes (a per-order
//!   [`Notify`](tokio::sync::Notify), no polling of the database), expires, or
//!   the time is up.
//! - `GET /v1/orders/{id}/qr.svg` → a QR code of `ecash://pay/{host}/{id}`.
//!
//! Like the whole API, these answer cross-origin requests (the `/v1` CORS
//! policy in `lib.rs`): a shop on another origin checks its order's status
//! from its page (the checkout embed).

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{
    CreateOrderRequest, CreateOrderResponse, HISTORY_DEFAULT_LIMIT, MAX_STATUS_TIMEOUT_MS,
    MerchantOrder, MerchantOrdersResponse, OrderListQuery, OrderState, OrderStatusQuery,
};

use crate::Bank;
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, blocking};
use crate::bank::merchant::{self, valid_order_id};
pub use crate::bank::orders::{OrderError, OrderTerms, check_terms, parse_origin};
use crate::storage::OrderRecord;

impl ApiError for OrderError {
    fn code(&self) -> ErrorCode {
        match self {
            OrderError::NotAMerchant => ErrorCode::Forbidden,
            OrderError::InvalidAmount => ErrorCode::InvalidAmount,
            OrderError::Invalid(_) => ErrorCode::BadRequest,
            OrderError::NotFound => ErrorCode::OrderNotFound,
            OrderError::Rng | OrderError::Qr | OrderError::Blocking(_) => ErrorCode::Internal,
            OrderError::Storage(e) => e.code(),
        }
    }
}
crate::api_error!(OrderError);

/// Registers the order routes (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/merchant/orders", web::post().to(create))
        .route("/merchant/orders", web::get().to(list))
        .route("/orders/{id}", web::get().to(contract))
        .route("/orders/{id}/status", web::get().to(status))
        .route("/orders/{id}/qr.svg", web::get().to(qr));
}

/// The host for payment URIs: the request's `Host` (or forwarded host).
pub fn request_host(req: &HttpRequest) -> String {
    req.connection_info().host().to_owned()
}

/// The `{order_id, pay_uri, contract}` answer for a new order.
pub fn created(order: &OrderRecord, host: &str) -> CreateOrderResponse {
    CreateOrderResponse {
        order_id: order.order.id.clone(),
        pay_uri: merchant::pay_uri(host, &order.order.id),
        contract: merchant::contract(&order.order),
    }
}

async fn create(
    bank: web::Data<Bank>,
    auth: Authenticated,
    req: HttpRequest,
    body: web::Json<CreateOrderRequest>,
) -> Result<HttpResponse, OrderError> {
    let (b, body) = (bank.clone(), body.into_inner());
    let now = merchant::now(&bank);
    let order = blocking(move || b.merchant_order(&auth.0, body, now)).await?;
    Ok(HttpResponse::Created().json(created(&order, &request_host(&req))))
}

async fn list(
    bank: web::Data<Bank>,
    auth: Authenticated,
    req: HttpRequest,
    query: web::Query<OrderListQuery>,
) -> Result<HttpResponse, OrderError> {
    let limit = query.limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    let before = query.before;
    let b = bank.clone();
    let (orders, next_before) = blocking(move || b.merchant_orders(&auth.0, limit, before)).await?;
    let now = merchant::now(&bank);
    let host = request_host(&req);
    let orders = orders
        .iter()
        .map(|o| {
            let s = merchant::status(o, now);
            MerchantOrder {
                contract: merchant::contract(&o.order),
                pay_uri: merchant::pay_uri(&host, &o.order.id),
                state: s.state,
                receipt: s.receipt,
                refunded: o.refunded,
                refund_claimed: o.refund_claimed,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(MerchantOrdersResponse {
        orders,
        next_before,
    }))
}

/// One order by id, read on the blocking pool.
pub async fn load(bank: &Bank, id: String) -> Result<OrderRecord, OrderError> {
    let b = bank.clone();
    blocking(move || b.order(&id)).await
}

fn public_json<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

async fn contract(
    bank: web::Data<Bank>,
    path: web::Path<String>,
) -> Result<HttpResponse, OrderError> {
    let order = load(&bank, path.into_inner()).await?;
    Ok(public_json(&merchant::contract(&order.order)))
}

async fn status(
    bank: web::Data<Bank>,
    path: web::Path<String>,
    query: web::Query<OrderStatusQuery>,
) -> Result<HttpResponse, OrderError> {
    let id = path.into_inner();
    let wait_ms = query.timeout_ms.unwrap_or(0).min(MAX_STATUS_TIMEOUT_MS);
    if wait_ms == 0 || !valid_order_id(&id) {
        let order = load(&bank, id).await?;
        return Ok(public_json(&merchant::status(&order, merchant::now(&bank))));
    }
    // Register before reading, so a payment between the read and the wait
    // still wakes us.
    let Some(sub) = bank.order_events.subscribe(&id) else {
        let order = load(&bank, id).await?;
        return Ok(public_json(&merchant::status(&order, merchant::now(&bank))));
    };
    let changed = sub.notify().notified();
    tokio::pin!(changed);
    changed.as_mut().enable();
    let order = load(&bank, id.clone()).await?;
    let now = merchant::now(&bank);
    if merchant::state(&order, now) != OrderState::Unpaid {
        return Ok(public_json(&merchant::status(&order, now)));
    }
    let until_expiry_ms = u64::try_from(order.order.expires_at.unix() - now.unix())
        .unwrap_or(0)
        .saturating_mul(1000);
    let wait = Duration::from_millis(wait_ms.min(until_expiry_ms));
    // Either way the order is read again: woken, expired or timed out.
    let _ = tokio::time::timeout(wait, changed).await;
    let order = load(&bank, id).await?;
    Ok(public_json(&merchant::status(&order, merchant::now(&bank))))
}

async fn qr(
    bank: web::Data<Bank>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, OrderError> {
    let order = load(&bank, path.into_inner()).await?;
    let uri = merchant::pay_uri(&request_host(&req), &order.order.id);
    let svg = qr_svg(&uri).ok_or(OrderError::Qr)?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(svg))
}

/// An SVG QR code of `data` (error correction M), `None` if it does not fit.
pub fn qr_svg(data: &str) -> Option<String> {
    use qrcode::render::svg;
    let code =
        qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_codes_are_svg() {
        let svg = qr_svg("ecash://pay/127.0.0.1:8080/AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }
}
