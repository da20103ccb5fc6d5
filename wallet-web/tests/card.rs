//! The Card page in headless Chromium against a real bank: certify the two virtual
//! purses, load the personal one from the account, pay the shop terminal offline,
//! lose a payment's VALUE in flight and get it back with "Sync with bank", lock the
//! purse with a payment over its limit, request an unlock, have the operator approve
//! it (admin endpoint) and apply it with "Sync with bank", unload both back; the
//! purses survive a re-render from IndexedDB.
//!
//! Needs a bank, like `resume.rs`: build with `ECASH_TEST_BANK_URL` and
//! `ECASH_TEST_ADMIN_TOKEN` (see `scripts/test-wasm.sh`). Without them the test
//! prints a notice and passes without checking anything.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_card::host::{self, cmd};
use ecash_card::transfer::{Request, StartFrom, StartTo};
use ecash_card::{Pin, Purpose, VirtualCard};
use ecash_shared::Amount;
use ecash_shared::api::Credentials;
use wallet_web::app::{App, db_name_for};
use wallet_web::core::Wallet;
use wallet_web::core::storage::{Storage, Store, Write};
use wallet_web::core::transport::{Method, Transport};
use wallet_web::services::http::HttpTransport;
use wallet_web::services::idb::IdbStorage;
use wallet_web::services::session::{self, SavedSession};
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

fn body_text() -> String {
    document()
        .body()
        .unwrap()
        .text_content()
        .unwrap_or_default()
}

async fn wait_for(id: &str) -> Element {
    for _ in 0..500 {
        if let Some(e) = document().get_element_by_id(id) {
            return e;
        }
        sleep(20).await;
    }
    panic!("#{id} never appeared; page: {}", body_text());
}

async fn wait_text(id: &str, needle: &str) -> String {
    for _ in 0..500 {
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

async fn type_into(id: &str, value: &str) {
    let input: HtmlInputElement = wait_for(id).await.dyn_into().unwrap();
    input.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let ev = web_sys::Event::new_with_event_init_dict("input", &init).unwrap();
    input.dispatch_event(&ev).unwrap();
    sleep(20).await;
}

async fn wait_gone(id: &str) {
    for _ in 0..500 {
        if document().get_element_by_id(id).is_none() {
            return;
        }
        sleep(20).await;
    }
    panic!("#{id} never went away; page: {}", body_text());
}

/// Clicks `#id` once it is enabled (no purse operation running).
async fn click(id: &str) {
    for _ in 0..500 {
        let el: HtmlElement = wait_for(id).await.dyn_into().unwrap();
        if !el.has_attribute("disabled") {
            el.click();
            sleep(50).await;
            return;
        }
        sleep(20).await;
    }
    panic!("#{id} stayed disabled; page: {}", body_text());
}

#[wasm_bindgen_test]
async fn certify_load_pay_unload() {
    let (Some(url), Some(admin)) = (
        option_env!("ECASH_TEST_BANK_URL"),
        option_env!("ECASH_TEST_ADMIN_TOKEN"),
    ) else {
        console_log!(
            "SKIPPED certify_load_pay_unload: \
             set ECASH_TEST_BANK_URL and ECASH_TEST_ADMIN_TOKEN at build time to run it"
        );
        return;
    };
    let http = HttpTransport::new(url);
    let username = format!("card{}", (js_sys::Math::random() * 1e9) as u64);
    let creds = Credentials {
        username: username.clone(),
        password: "correct horse battery".into(),
        merchant: false,
    };
    let db = IdbStorage::open(&format!("ecash-card-setup-{}", js_sys::Math::random()))
        .await
        .unwrap();
    let setup = Wallet::new(db, http.clone());
    setup.client().register(&creds).await.unwrap();
    let token = setup.client().login(&creds).await.unwrap().token;
    let credit = serde_json::json!({ "username": username, "amount": 10_000 });
    let resp = http
        .send(
            Method::Post,
            "/v1/admin/credit",
            Some(admin),
            Some(credit.to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    session::save(&SavedSession {
        bank_url: url.to_owned(),
        username: username.clone(),
        token,
    });

    let root = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&root).unwrap();
    web_sys::window()
        .unwrap()
        .location()
        .set_hash("#/card")
        .unwrap();
    let app = yew::Renderer::<App>::with_root(root.clone()).render();
    wait_for("card-page").await;
    wait_text("card-balance", "not certified").await;
    wait_for("nav-card").await;

    // Without a PIN nothing happens.
    click("card-certify").await;
    wait_text("card-error", "PIN").await;

    type_into("card-pin", "2468").await;
    click("card-certify").await;
    wait_text("card-notice", "certified").await;
    wait_text("card-balance", "0.00").await;
    wait_text("card-terminal-balance", "0.00").await;

    type_into("card-load-amount", "10.00").await;
    click("card-load").await;
    wait_text("card-balance", "10.00").await;

    type_into("card-pay-amount", "2.50").await;
    click("card-pay").await;
    wait_text("card-balance", "7.50").await;
    wait_text("card-terminal-balance", "2.50").await;
    wait_text("card-log", "Debit").await;

    // A wrong PIN is refused by the card.
    type_into("card-pin", "1111").await;
    click("card-pay").await;
    wait_text("card-error", "PIN").await;
    type_into("card-pin", "2468").await;

    // The purses are kept: a new render reads them back from IndexedDB.
    app.destroy();
    sleep(50).await;
    let root2 = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&root2).unwrap();
    let app = yew::Renderer::<App>::with_root(root2).render();
    wait_text("card-balance", "7.50").await;
    wait_text("card-terminal-balance", "2.50").await;

    // A payment of 1.00 whose VALUE is lost between the purses: both give up and log
    // it. Played on the stored purses (the page has no button for losing a message).
    app.destroy();
    sleep(50).await;
    lose_a_payment(url, 100).await;
    let root3 = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&root3).unwrap();
    let app = yew::Renderer::<App>::with_root(root3).render();
    wait_text("card-balance", "6.50").await;
    wait_text("card-terminal-balance", "2.50").await;
    // Sync: both logs reach the bank, the lost value comes back to the purse.
    type_into("card-pin", "2468").await;
    click("card-sync").await;
    wait_text("card-notice", "2 exception record(s) cleared, 1.00 loaded").await;
    wait_text("card-balance", "7.50").await;
    wait_text("card-terminal-balance", "2.50").await;
    // Nothing more to do.
    click("card-sync").await;
    wait_text("card-notice", "0 exception record(s) cleared, 0.00 loaded").await;
    wait_text("card-balance", "7.50").await;

    // A payment over the purse's per-payment limit (50.00) locks it.
    type_into("card-load-amount", "60.00").await;
    click("card-load").await;
    wait_text("card-balance", "67.50").await;
    type_into("card-pay-amount", "60.00").await;
    click("card-pay").await;
    wait_text("card-error", "purse locked").await;
    wait_text("card-unlock-state-personal", "No unlock requested").await;
    wait_text("card-balance", "67.50").await;
    type_into("card-pay-amount", "0.50").await;
    click("card-pay").await;
    wait_text("card-error", "purse locked").await;
    // The holder asks; the page shows the request waiting.
    type_into("card-unlock-reason", "I typed 60 instead of 6").await;
    click("card-request-unlock-personal").await;
    wait_text("card-notice", "asked the bank to unlock it (unlock 1)").await;
    wait_text("card-unlock-state-personal", "waiting for the bank").await;
    // The operator approves the request (as `bank-server admin card-unlock` would).
    let card_id = wait_for("card-locked-personal")
        .await
        .get_attribute("data-card-id")
        .unwrap();
    let token = session::load().unwrap().token;
    let asked = http
        .send(
            Method::Get,
            &format!("/v1/cards/{card_id}/unlock"),
            Some(&token),
            None,
        )
        .await
        .unwrap();
    let asked: serde_json::Value = serde_json::from_slice(&asked.body).unwrap();
    assert_eq!(
        (&asked["state"], &asked["reason"]),
        (
            &serde_json::json!("pending"),
            &serde_json::json!("I typed 60 instead of 6")
        )
    );
    let approve = serde_json::json!({ "unlock_seq": asked["unlock_seq"] });
    let resp = http
        .send(
            Method::Post,
            &format!("/v1/cards/{card_id}/unlock"),
            Some(admin),
            Some(approve.to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    // Sync applies it: the purse is open again and pays.
    click("card-sync").await;
    wait_text("card-notice", "Your purse is unlocked").await;
    wait_gone("card-locked-personal").await;
    click("card-pay").await;
    wait_text("card-balance", "67.00").await;
    wait_text("card-terminal-balance", "3.00").await;
    // Syncing again is harmless.
    click("card-sync").await;
    wait_text("card-notice", "0 exception record(s) cleared, 0.00 loaded").await;

    type_into("card-pin", "2468").await;
    click("card-unload").await;
    wait_text("card-notice", "Unloaded 70.00").await;
    wait_text("card-balance", "0.00").await;
    wait_text("card-terminal-balance", "0.00").await;
    let w = Wallet::new(
        IdbStorage::open(&format!("ecash-card-check-{}", js_sys::Math::random()))
            .await
            .unwrap(),
        http.clone(),
    );
    let token = session::load().unwrap().token;
    assert_eq!(
        w.client().account(&token).await.unwrap().balance.minor(),
        10_000
    );
    app.destroy();
}

/// Opens the page's purse store, runs a payment of `minor` from the personal purse to
/// the terminal up to the payer's VALUE, loses it, ABORTs both, and stores both purses.
async fn lose_a_payment(bank_url: &str, minor: u64) {
    let cards = IdbStorage::open(&format!("{} cards", db_name_for(bank_url)))
        .await
        .unwrap();
    let read = |slot: &'static str| {
        let cards = &cards;
        async move {
            let json = cards
                .get(Store::Meta, &format!("card:{slot}"))
                .await
                .unwrap()
                .unwrap();
            VirtualCard::from_json(&json).unwrap()
        }
    };
    let mut payer = read("personal").await;
    let mut payee = read("terminal").await;
    let payer_cert = host::select(&mut payer).unwrap();
    let payee_cert = host::select(&mut payee).unwrap();
    host::exchange(&mut payer, &cmd::verify(&Pin::new("2468").unwrap())).unwrap();
    let day = (js_sys::Date::now() / 86_400_000.0) as u32;
    let amount = Amount::from_minor(minor);
    let seq = host::exchange(
        &mut payer,
        &cmd::start_from(&StartFrom {
            payee: payee_cert,
            amount,
            purpose: Purpose::Payment,
            day,
        }),
    )
    .unwrap();
    let request = Request::parse(
        &host::exchange(
            &mut payee,
            &cmd::start_to(&StartTo {
                payer: payer_cert,
                amount,
                purpose: Purpose::Payment,
                payer_seq: u32::from_be_bytes(seq.try_into().unwrap()),
                day,
            }),
        )
        .unwrap(),
    )
    .unwrap();
    let _lost_value = host::exchange(&mut payer, &cmd::req(&request)).unwrap();
    assert_eq!(host::exchange(&mut payer, &cmd::abort()).unwrap(), [2]);
    assert_eq!(host::exchange(&mut payee, &cmd::abort()).unwrap(), [2]);
    cards
        .commit(vec![
            Write::Put(
                Store::Meta,
                "card:personal".into(),
                payer.state_json().to_string(),
            ),
            Write::Put(
                Store::Meta,
                "card:terminal".into(),
                payee.state_json().to_string(),
            ),
        ])
        .await
        .unwrap();
    cards.close();
}
