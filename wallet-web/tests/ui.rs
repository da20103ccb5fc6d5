//! The Yew app rendered in headless Chromium, with no bank behind it: it
//! starts on IndexedDB, shows its empty states, routes by hash, and refuses
//! bad input with the messages the pages promise.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use wallet_web::app::App;
use wallet_web::services::opener;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

async fn sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

/// The element with `id`, waiting up to 5 s for it to appear.
async fn wait_for(id: &str) -> Element {
    for _ in 0..250 {
        if let Some(e) = document().get_element_by_id(id) {
            return e;
        }
        sleep(20).await;
    }
    panic!("#{id} never appeared; page: {}", body_text());
}

/// Waits until `#id`'s text contains `needle`.
async fn wait_text(id: &str, needle: &str) -> String {
    for _ in 0..250 {
        if let Some(t) = document()
            .get_element_by_id(id)
            .and_then(|e| e.text_content())
            .filter(|t| t.contains(needle))
        {
            return t;
        }
        sleep(20).await;
    }
    panic!("#{id} never said {needle:?}; page: {}", body_text());
}

fn body_text() -> String {
    document()
        .body()
        .unwrap()
        .text_content()
        .unwrap_or_default()
}

async fn go(hash: &str) {
    web_sys::window()
        .unwrap()
        .location()
        .set_hash(hash)
        .unwrap();
    sleep(50).await;
}

async fn type_into(id: &str, value: &str) {
    let input: HtmlInputElement = wait_for(id).await.dyn_into().unwrap();
    input.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let ev = web_sys::Event::new_with_event_init_dict("input", &init).unwrap();
    input.dispatch_event(&ev).unwrap();
    sleep(20).await;
}

async fn click(id: &str) {
    let el: HtmlElement = wait_for(id).await.dyn_into().unwrap();
    el.click();
    sleep(50).await;
}

#[wasm_bindgen_test]
async fn the_app_starts_routes_and_validates_input() {
    let root = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&root).unwrap();
    go("#/").await;
    yew::Renderer::<App>::with_root(root).render();

    // Home: an empty wallet on a fresh IndexedDB.
    wait_text("balance", "0.00").await;
    wait_for("no-coins").await;
    wait_for("pending-empty").await;
    assert!(
        wait_for("bank-balance")
            .await
            .text_content()
            .unwrap()
            .contains("Log in")
    );
    wait_for("nav-login").await;

    // Withdraw: bad amounts are refused before anything is sent.
    go("#/withdraw").await;
    type_into("withdraw-amount", "12.345").await;
    click("withdraw-submit").await;
    wait_text("error", "at most two decimals").await;
    type_into("withdraw-amount", "abc").await;
    click("withdraw-submit").await;
    wait_text("error", "is not an amount").await;
    // Well-formed, but nobody is logged in.
    type_into("withdraw-amount", "12.05").await;
    click("withdraw-submit").await;
    wait_text("error", "log in to the bank first").await;

    // The error belongs to the withdraw page; it does not follow to the next one.
    go("#/send").await;
    wait_for("send-amount").await;
    assert!(document().get_element_by_id("error").is_none());
    type_into("send-amount", "1.00").await;
    click("send-submit").await;
    wait_text("error", "not enough money in the wallet").await;

    // Receive: garbage is not a token.
    go("#/receive").await;
    let token: web_sys::HtmlTextAreaElement = wait_for("receive-token").await.dyn_into().unwrap();
    token.set_value("ecash:not-a-token");
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    token
        .dispatch_event(&web_sys::Event::new_with_event_init_dict("input", &init).unwrap())
        .unwrap();
    click("receive-submit").await;
    wait_text("error", "not a valid e-cash token").await;

    // Pay: a payment request for another bank is refused; an id opens the order page.
    go("#/pay").await;
    type_into("pay-input", "ecash://pay/elsewhere.example:9/ord_1").await;
    click("pay-open").await;
    wait_text("error", "for the bank at elsewhere.example:9").await;
    type_into("pay-input", "not an id!").await;
    click("pay-open").await;
    wait_text("error", "is not an order id").await;
    let origin = web_sys::window().unwrap().location().host().unwrap();
    type_into("pay-input", &format!("ecash://pay/{origin}/ord_1")).await;
    click("pay-open").await;
    for _ in 0..100 {
        if web_sys::window().unwrap().location().hash().unwrap() == "#/pay/ord_1" {
            break;
        }
        sleep(20).await;
    }
    assert_eq!(
        web_sys::window().unwrap().location().hash().unwrap(),
        "#/pay/ord_1"
    );

    // Bank: an IBAN of the wrong shape is refused here.
    go("#/bank").await;
    type_into("payout-amount", "1").await;
    type_into("payout-iban", "12345").await;
    click("payout-submit").await;
    wait_text("error", "Enter an IBAN").await;

    // Login: the bank URL must be http(s).
    go("#/login").await;
    type_into("bank-url", "ftp://bank").await;
    type_into("username", "alice").await;
    type_into("password", "correct horse").await;
    click("login").await;
    wait_text("error", "starts with http://").await;

    // History: the empty state; unknown pages say so.
    go("#/history").await;
    wait_for("history-empty").await;
    go("#/nowhere").await;
    wait_text("main", "Page not found").await;
}

#[wasm_bindgen_test]
fn receipts_are_never_posted_to_a_wildcard_origin() {
    let msg = serde_json::json!({ "type": "ecash-cancelled", "order_id": "x" });
    assert!(opener::post(&msg, "*").is_err());
    assert!(opener::post(&msg, "").is_err());
    // A page nobody opened has no opener to tell.
    assert!(!opener::has_opener());
    assert_eq!(opener::post(&msg, "https://shop.example"), Ok(false));
}
