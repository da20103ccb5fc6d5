//! The demo shop (on unless `--no-demo-shop`): a page at `/shop` selling a
//! few items through the checkout embed, for the bank's "Demo Shop" merchant.
//!
//! - `GET /shop` — the page (compiled into the binary; items rendered from
//!   [`ITEMS`]). Stable hooks for browser tests: `[data-item="coffee"] button`,
//!   `#shop-status` (with `data-state` = `idle` | `creating` | `waiting` |
//!   `paid` | `cancelled` | `error`), `#shop-receipt`, `#shop-receipt-order`,
//!   `#shop-receipt-amount`, `#shop-receipt-paid-at`, `#shop-receipt-verified`,
//!   `#shop-pending`, `#shop-qr`, `#shop-pay-uri`.
//! - `GET /shop/api/items` — the price list.
//! - `POST /shop/api/orders {item}` → 201 `{order_id, pay_uri, contract}`: an
//!   order of the Demo Shop for the item's price (the price list lives here,
//!   server side), valid 15 minutes, with `allowed_origin` = this server's
//!   origin (the shop page's). Unknown item: `NOT_FOUND`. The endpoint needs
//!   no account, so it is rate limited (at most [`MAX_ORDERS_PER_MINUTE`]
//!   per server: `RATE_LIMITED`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use ecash_shared::Amount;
use ecash_shared::api::CreateOrderRequest;
use serde::{Deserialize, Serialize};

use crate::Bank;
use crate::api::error::{ApiError, BlockingFailed, blocking};
use crate::api::orders::{self, OrderError};
use crate::bank::merchant::{self, DEMO_SHOP_USERNAME};

/// One thing the demo shop sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ShopItem {
    /// Key in `POST /shop/api/orders {item}` and `data-item`.
    pub key: &'static str,
    /// Name.
    pub name: &'static str,
    /// One line about it.
    pub description: &'static str,
    /// Hue (0–359) of its badge on the page.
    pub hue: u16,
    /// Price in minor units of the bank's currency.
    pub price: u64,
}

/// The price list.
pub const ITEMS: &[ShopItem] = &[
    ShopItem {
        key: "coffee",
        name: "Coffee",
        description: "A cup of filter coffee, freshly brewed.",
        hue: 28,
        price: 250,
    },
    ShopItem {
        key: "croissant",
        name: "Croissant",
        description: "Butter croissant from the corner bakery.",
        hue: 42,
        price: 180,
    },
    ShopItem {
        key: "ebook",
        name: "E-book",
        description: "\"Untraceable Payments\", the 1982 classic, as PDF.",
        hue: 215,
        price: 999,
    },
    ShopItem {
        key: "stickers",
        name: "Sticker pack",
        description: "Five laptop stickers with blind-signature art.",
        hue: 290,
        price: 50,
    },
];

/// Most demo orders created per minute (by everyone together).
pub const MAX_ORDERS_PER_MINUTE: u32 = 300;

/// A fixed one-minute window counting demo orders.
#[derive(Debug)]
struct Window {
    start: Instant,
    count: u32,
}

/// Takes one demo order from this minute's allowance.
fn admit() -> bool {
    static WINDOW: Mutex<Option<Window>> = Mutex::new(None);
    // The window is two plain numbers: a panic elsewhere cannot leave it torn.
    let mut w = WINDOW.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let w = match &mut *w {
        Some(w) if now.duration_since(w.start) < Duration::from_secs(60) => w,
        slot => slot.insert(Window {
            start: now,
            count: 0,
        }),
    };
    if w.count >= MAX_ORDERS_PER_MINUTE {
        return false;
    }
    w.count += 1;
    true
}

/// How long a demo order can be paid.
const ORDER_TTL_SECS: u64 = 15 * 60;

/// The page template; `<!--ITEMS-->` is replaced by the items.
const PAGE: &str = include_str!("../../static/shop/index.html");

/// `POST /shop/api/orders`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoOrderRequest {
    /// An item's key.
    pub item: String,
}

/// Errors of the demo shop.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// Not on the price list.
    #[error("the shop does not sell {0:?}")]
    UnknownItem(String),
    /// Too many demo orders this minute.
    #[error(
        "the demo shop takes at most {MAX_ORDERS_PER_MINUTE} orders a minute; try again shortly"
    )]
    RateLimited,
    /// The demo shop's merchant account is missing.
    #[error("the demo shop has no merchant account")]
    NoMerchant,
    /// Creating the order.
    #[error(transparent)]
    Order(#[from] OrderError),
}

impl ApiError for ShopError {
    fn code(&self) -> ecash_shared::ErrorCode {
        match self {
            ShopError::UnknownItem(_) => ecash_shared::ErrorCode::NotFound,
            ShopError::RateLimited => ecash_shared::ErrorCode::RateLimited,
            ShopError::NoMerchant => ecash_shared::ErrorCode::Internal,
            ShopError::Order(e) => e.code(),
        }
    }
}
crate::api_error!(ShopError);

impl From<BlockingFailed> for ShopError {
    fn from(e: BlockingFailed) -> Self {
        ShopError::Order(e.into())
    }
}

/// Registers the shop's routes if `enabled` (at the root, before the
/// wallet's files).
pub fn configure(enabled: bool) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        if enabled {
            cfg.route("/shop", web::get().to(page))
                .route("/shop/", web::get().to(page))
                .route("/shop/api/items", web::get().to(items))
                .route("/shop/api/orders", web::post().to(create));
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page with the items filled in.
pub fn render_page(currency: &str) -> String {
    let items: String = ITEMS
        .iter()
        .map(|i| {
            format!(
                "    <li class=\"item\" data-item=\"{key}\" data-name=\"{name}\" data-price=\"{price}\">\n\
                 \x20     <span class=\"badge\" style=\"--hue: {hue}\" aria-hidden=\"true\">{initial}</span>\n\
                 \x20     <h2>{name}</h2>\n\
                 \x20     <p>{description}</p>\n\
                 \x20     <span class=\"price\">{amount} {currency}</span>\n\
                 \x20     <button type=\"button\" id=\"buy-{key}\">Buy</button>\n\
                 \x20   </li>\n",
                key = escape(i.key),
                name = escape(i.name),
                price = i.price,
                hue = i.hue,
                initial = escape(&i.name.chars().take(1).collect::<String>()),
                description = escape(i.description),
                amount = Amount::from_minor(i.price),
                currency = escape(currency),
            )
        })
        .collect();
    PAGE.replace("<!--ITEMS-->\n", &items)
}

async fn page(bank: web::Data<Bank>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-cache"))
        .body(render_page(bank.keys.currency().as_str()))
}

async fn items() -> HttpResponse {
    HttpResponse::Ok().json(ITEMS)
}

async fn create(
    bank: web::Data<Bank>,
    req: HttpRequest,
    body: web::Json<DemoOrderRequest>,
) -> Result<HttpResponse, ShopError> {
    let key = body.into_inner().item;
    let item = ITEMS
        .iter()
        .find(|i| i.key == key)
        .ok_or(ShopError::UnknownItem(key))?;
    if !admit() {
        return Err(ShopError::RateLimited);
    }
    let origin = {
        let info = req.connection_info();
        orders::parse_origin(&format!("{}://{}", info.scheme(), info.host()))
    };
    let terms = orders::check_terms(CreateOrderRequest {
        amount: Amount::from_minor(item.price),
        summary: item.name.to_owned(),
        fulfillment_url: None,
        expires_in: Some(ORDER_TTL_SECS),
        allowed_origin: origin,
    })?;
    let (b, now) = (bank.clone(), merchant::now(&bank));
    let order = blocking(move || {
        b.shop_order(DEMO_SHOP_USERNAME, terms, now)
            .map_err(ShopError::from)
    })
    .await?
    .ok_or(ShopError::NoMerchant)?;
    tracing::info!(order = %order.order.id, item = item.key, "demo shop order");
    Ok(HttpResponse::Created().json(orders::created(&order, &orders::request_host(&req))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_orders_are_rate_limited() {
        // The only caller of `admit` in this test binary.
        let admitted = (0..MAX_ORDERS_PER_MINUTE + 10).filter(|_| admit()).count();
        assert_eq!(admitted, MAX_ORDERS_PER_MINUTE as usize);
    }

    #[test]
    fn page_lists_every_item_with_a_button() {
        let html = render_page("EUR");
        assert!(!html.contains("<!--ITEMS-->"));
        for i in ITEMS {
            assert!(
                html.contains(&format!("data-item=\"{}\"", i.key)),
                "{}",
                i.key
            );
            assert!(html.contains(&format!("id=\"buy-{}\"", i.key)));
        }
        assert!(html.contains("2.50 EUR"));
        for id in ["shop-status", "shop-receipt", "shop-receipt-order"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(html.contains("/embed/checkout.js"));
    }
}
