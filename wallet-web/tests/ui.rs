//! The Yew app rendered in headless Chromium, with no bank behind it: it
//! starts on IndexedDB, shows its empty states, routes by hash, and refuses
//! bad input with the messages the pages promise.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use wallet_web::app::App;
use wallet_web::services::opener;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

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
