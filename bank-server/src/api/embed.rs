//! The checkout embed: `GET /embed/checkout.js`, compiled into the binary.
//!
//! A shop page includes the script and calls
//! `EcashCheckout.pay({orderId, walletUrl})` (or marks a button with
//! `data-ecash-order`): the wallet opens in a popup, pays, and posts the
//! receipt back to the shop's origin; the script checks the message's source
//! and origin and confirms the receipt with the bank's
//! `GET /v1/orders/{id}/status`. See the script's header for the whole API.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// The script.
pub const CHECKOUT_JS: &str = include_str!("../../static/embed/checkout.js");

/// Registers `/embed/checkout.js` (at the root, before the wallet's files).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/embed/checkout.js", web::get().to(checkout_js));
}

async fn checkout_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(CHECKOUT_JS)
}
