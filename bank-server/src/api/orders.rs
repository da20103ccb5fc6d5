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
use ecash_shared::api::{
    CreateOrderRequest, CreateOrderResponse, DEFAULT_ORDER_TTL_SECS, HISTORY_DEFAULT_LIMIT,
    HISTORY_MAX_LIMIT, MAX_ORDER_TTL_SECS, MAX_STATUS_TIMEOUT_MS, MAX_SUMMARY_LEN, MAX_URL_LEN,
    MerchantOrder, MerchantOrdersResponse, OrderListQuery, OrderState, OrderStatusQuery,
};
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, ErrorCode};

use crate::Bank;
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, BlockingFailed, blocking};
use crate::bank::merchant::{self, valid_order_id};
use crate::storage::{AccountId, MAX_STORED_AMOUNT, NewOrder, OrderRecord, StorageError};

/// Longest `allowed_origin`, in bytes.
const MAX_ORIGIN_LEN: usize = 256;

/// Errors of the order endpoints.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The account is not a merchant.
    #[error("only merchant accounts can do this")]
    NotAMerchant,
    /// Zero or out-of-range amount.
    #[error("the amount must be between 1 and {} minor units", MAX_STORED_AMOUNT.minor())]
    InvalidAmount,
    /// A field fails its rules.
    #[error("{0}")]
    Invalid(String),
    /// No such order.
    #[error("no such order")]
    NotFound,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// The payment URI does not fit in a QR code (cannot happen with our ids).
    #[error("the payment URI does not fit in a QR code")]
    Qr,
    /// Storage.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

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

/// The checked terms of a new order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerms {
    /// Price.
    pub amount: Amount,
    /// What is sold.
    pub summary: String,
    /// Where the shop sends the buyer after payment.
    pub fulfillment_url: Option<String>,
    /// Normalised origin (lower case).
    pub allowed_origin: Option<String>,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// Checks a `CreateOrderRequest`: amount in range, a summary of 1 to 500
/// bytes without control characters, an `http(s)://` fulfillment URL, an
/// origin of the form `http(s)://host[:port]`, and a lifetime of 1 s to 30 days.
pub fn check_terms(req: CreateOrderRequest) -> Result<OrderTerms, OrderError> {
    if req.amount.is_zero() || req.amount > MAX_STORED_AMOUNT {
        return Err(OrderError::InvalidAmount);
    }
    let summary = req.summary.trim();
    if summary.is_empty()
        || summary.len() > MAX_SUMMARY_LEN
        || summary.chars().any(char::is_control)
    {
        return Err(OrderError::Invalid(format!(
            "the summary must be 1 to {MAX_SUMMARY_LEN} bytes of text without control characters"
        )));
    }
    let fulfillment_url = match req.fulfillment_url {
        Some(u) if !valid_url(&u) => {
            return Err(OrderError::Invalid(format!(
                "fulfillment_url must be an http:// or https:// URL of at most {MAX_URL_LEN} bytes"
            )));
        }
        other => other,
    };
    let allowed_origin = match req.allowed_origin {
        Some(o) => Some(parse_origin(&o).ok_or_else(|| {
            OrderError::Invalid(
                "allowed_origin must be an origin: http(s)://host[:port], without a path".into(),
            )
        })?),
        None => None,
    };
    let expires_in = req.expires_in.unwrap_or(DEFAULT_ORDER_TTL_SECS);
    if !(1..=MAX_ORDER_TTL_SECS).contains(&expires_in) {
        return Err(OrderError::Invalid(format!(
            "expires_in must be 1 to {MAX_ORDER_TTL_SECS} seconds"
        )));
    }
    Ok(OrderTerms {
        amount: req.amount,
        summary: summary.to_owned(),
        fulfillment_url,
        allowed_origin,
        expires_in,
    })
}

fn valid_url(u: &str) -> bool {
    u.len() <= MAX_URL_LEN
        && (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() > "https://".len()
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Parses a web origin `scheme://host[:port]` (scheme `http` or `https`,
/// host a DNS name, IPv4 or bracketed IPv6 address, no path, no trailing
/// slash) into its lower-case form, the way browsers write `event.origin`.
pub fn parse_origin(s: &str) -> Option<String> {
    if s.len() > MAX_ORIGIN_LEN {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (inner, after) = v6.split_once(']')?;
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        (None, after)
    } else {
        let (host, after) = match rest.find(':') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        (Some(host), after)
    };
    if let Some(h) = host {
        let ok = !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !h.starts_with(['.', '-'])
            && !h.ends_with('-');
        if !ok {
            return None;
        }
    }
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = digits.parse().ok()?;
        if n == 0 || n > 65535 {
            return None;
        }
    }
    Some(lower)
}

/// Creates an order for merchant `merchant_id` at `now` (blocking pool).
pub async fn create_order(
    bank: &Bank,
    merchant_id: AccountId,
    terms: OrderTerms,
    now: Timestamp,
) -> Result<OrderRecord, OrderError> {
    let id = merchant::new_order_id().map_err(|_| OrderError::Rng)?;
    let currency = bank.keys.currency();
    let storage = std::sync::Arc::clone(&bank.storage);
    let ttl = i64::try_from(terms.expires_in).unwrap_or(i64::MAX);
    blocking(move || {
        let merchant_name = storage
            .merchant_name(merchant_id)?
            .ok_or(StorageError::UnknownAccount)?;
        let mut order = NewOrder {
            id,
            merchant_id,
            merchant_name,
            currency,
            amount: terms.amount,
            summary: terms.summary,
            fulfillment_url: terms.fulfillment_url,
            allowed_origin: terms.allowed_origin,
            created_at: now,
            expires_at: now.plus_secs(ttl),
            contract_hash: [0; 32],
        };
        order.contract_hash = merchant::contract(&order).compute_hash();
        Ok::<_, OrderError>(storage.create_order(&order)?)
    })
    .await
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
    let account = auth.0;
    if !account.merchant {
        return Err(OrderError::NotAMerchant);
    }
    let terms = check_terms(body.into_inner())?;
    let now = merchant::now(&bank);
    let order = create_order(&bank, account.id, terms, now).await?;
    tracing::info!(
        merchant = %account.username,
        order = %order.order.id,
        amount = order.order.amount.minor(),
        "order created"
    );
    Ok(HttpResponse::Created().json(created(&order, &request_host(&req))))
}

async fn list(
    bank: web::Data<Bank>,
    auth: Authenticated,
    req: HttpRequest,
    query: web::Query<OrderListQuery>,
) -> Result<HttpResponse, OrderError> {
    let account = auth.0;
    if !account.merchant {
        return Err(OrderError::NotAMerchant);
    }
    let limit = query.limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
        return Err(OrderError::Invalid(format!(
            "limit must be between 1 and {HISTORY_MAX_LIMIT}"
        )));
    }
    let before = query.before;
    let b = bank.clone();
    let mut orders = blocking(move || {
        b.storage
            .merchant_orders(account.id, limit.saturating_add(1), before)
            .map_err(OrderError::from)
    })
    .await?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_before = if orders.len() > page {
        orders.truncate(page);
        orders.last().map(|o| o.seq)
    } else {
        None
    };
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

/// Reads an order by a path id (`ORDER_NOT_FOUND` for malformed ids too).
pub async fn load(bank: &Bank, id: String) -> Result<OrderRecord, OrderError> {
    if !valid_order_id(&id) {
        return Err(OrderError::NotFound);
    }
    let storage = std::sync::Arc::clone(&bank.storage);
    blocking(move || storage.order(&id).map_err(OrderError::from))
        .await?
        .ok_or(OrderError::NotFound)
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
    fn origins() {
        for (input, out) in [
            ("https://shop.example", "https://shop.example"),
            ("HTTP://LocalHost:8080", "http://localhost:8080"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"),
        ] {
            assert_eq!(parse_origin(input).as_deref(), Some(out), "{input}");
        }
        for bad in [
            "",
            "shop.example",
            "ftp://shop.example",
            "https://shop.example/",
            "https://shop.example/path",
            "https://",
            "https://shop.example:",
            "https://shop.example:99999",
            "https://shop.example:0",
            "https://user@shop.example",
            "https://shop example",
            "javascript://x",
            "*",
            "null",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }

    fn req(amount: u64) -> CreateOrderRequest {
        CreateOrderRequest {
            amount: Amount::from_minor(amount),
            summary: "Coffee".into(),
            fulfillment_url: None,
            expires_in: None,
            allowed_origin: None,
        }
    }

    #[test]
    fn terms() {
        let t = check_terms(req(250)).unwrap();
        assert_eq!(t.expires_in, DEFAULT_ORDER_TTL_SECS);
        assert!(matches!(
            check_terms(req(0)),
            Err(OrderError::InvalidAmount)
        ));
        let bad = [
            CreateOrderRequest {
                summary: "  ".into(),
                ..req(1)
            },
            CreateOrderRequest {
                summary: "a\u{7}b".into(),
                ..req(1)
            },
            CreateOrderRequest {
                summary: "x".repeat(MAX_SUMMARY_LEN + 1),
                ..req(1)
            },
            CreateOrderRequest {
                expires_in: Some(0),
                ..req(1)
            },
            CreateOrderRequest {
                expires_in: Some(MAX_ORDER_TTL_SECS + 1),
                ..req(1)
            },
            CreateOrderRequest {
                fulfillment_url: Some("javascript:alert(1)".into()),
                ..req(1)
            },
            CreateOrderRequest {
                allowed_origin: Some("https://shop.example/x".into()),
                ..req(1)
            },
        ];
        for b in bad {
            assert!(
                matches!(check_terms(b.clone()), Err(OrderError::Invalid(_))),
                "{b:?}"
            );
        }
    }

    #[test]
    fn qr_codes_are_svg() {
        let svg = qr_svg("ecash://pay/127.0.0.1:8080/AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }
}
