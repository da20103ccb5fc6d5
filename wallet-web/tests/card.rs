//! The Card page in headless Chromium against a real bank: certify the two virtual
//! purses, load the personal one from the account (the bank's view of the card shown),
//! pay the shop terminal offline (the terminal shows the payment unsettled and the
//! bank's view unchanged until "Sync with bank" or an unload settles it), lose a
//! payment's VALUE in flight and get it back with "Sync with bank", lock the purse
//! with a payment over its limit, request an unlock, have the operator approve it
//! (admin endpoint) and apply it with "Sync with bank", unload both back; load from
//! the wallet's coins (withdrawn on the Withdraw page), refused over the purse's cap or
//! beyond the coins held; the purses survive a re-render from IndexedDB. A copy of the
//! purse spends its value twice: the sync settles both payments for the terminal, the
//! bank blocks the purse and the account owes the shortfall, which the terminal's
//! unload pays. The reader picker: WebUSB and WebHID missing or refused, the bridge
//! without a token or not running, each a message that points to the bridge; the
//! choice remembered. And the holder's purse on a card behind a real `card-bridge`: a
//! wrong session token refused, then certified, loaded and paying the page's terminal
//! through the bridge.
//!
//! Needs a bank, like `resume.rs`: build with `ECASH_TEST_BANK_URL` and
//! `ECASH_TEST_ADMIN_TOKEN` (see `scripts/test-wasm.sh`). Without them those tests
//! print a notice and pass without checking anything. The bridge test also needs
//! `ECASH_TEST_BRIDGE_URL` and `ECASH_TEST_BRIDGE_TOKEN` (a blank purse in the bridge's
//! reader), and the page's origin fixed by `WASM_BINDGEN_TEST_ADDRESS`, as in
//! `card/tests/wasm_virtual.rs`; `scripts/test-wasm.sh` runs it on its own (a fresh
//! browser profile, so its purses do not meet the other tests').
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use ecash_card::host::{self, cmd};
use ecash_card::transfer::{Request, StartFrom, StartTo};
use ecash_card::{Pin, Purpose, VirtualCard};
use ecash_shared::Amount;
use ecash_wallet::storage::{Storage, Store, Write};
use ecash_wallet::transport::{Method, Transport};
use wallet_web::app::App;
use wallet_web::services::idb::IdbStorage;
use wallet_web::services::session;
use wallet_web::services::wallet::db_name_for;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Picks `value` in the `<select>` `#id` once it is enabled, as a user would.
async fn choose(id: &str, value: &str) {
    let mut select = wait_for(id).await;
    for _ in 0..500 {
        if !select.has_attribute("disabled") {
            break;
        }
        sleep(20).await;
        select = wait_for(id).await;
    }
    js_sys::Reflect::set(&select, &"value".into(), &value.into()).unwrap();
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let ev = web_sys::Event::new_with_event_init_dict("change", &init).unwrap();
    select.dispatch_event(&ev).unwrap();
    sleep(50).await;
}

fn select_value(id: &str) -> String {
    let select = document().get_element_by_id(id).unwrap();
    js_sys::Reflect::get(&select, &"value".into())
        .unwrap()
        .as_string()
        .unwrap()
}

fn remembered_reader() -> Option<String> {
    web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .get_item("ecash-card-reader")
        .unwrap()
}

/// Hides (or shows again) `navigator.<api>`, as in a browser without it.
fn hide_navigator_api(api: &str, hidden: bool) {
    let navigator = web_sys::window().unwrap().navigator();
    if hidden {
        let desc = js_sys::Object::new();
        js_sys::Reflect::set(&desc, &"value".into(), &wasm_bindgen::JsValue::UNDEFINED).unwrap();
        js_sys::Reflect::set(&desc, &"configurable".into(), &true.into()).unwrap();
        js_sys::Object::define_property(&navigator, &api.into(), &desc);
    } else {
        js_sys::Reflect::delete_property(&navigator, &api.into()).unwrap();
    }
}

fn render_card_page() -> yew::AppHandle<App> {
    let root = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&root).unwrap();
    web_sys::window()
        .unwrap()
        .location()
        .set_hash("#/card")
        .unwrap();
    yew::Renderer::<App>::with_root(root).render()
}

#[wasm_bindgen_test]
async fn reader_picker_explains_what_is_missing() {
    let app = render_card_page();
    wait_for("card-page").await;
    // No device API (Firefox, or not a secure context): said so, the bridge suggested.
    hide_navigator_api("hid", true);
    choose("card-reader-kind", "hid").await;
    wait_text("card-balance", "no reader connected").await;
    click("card-reader-connect").await;
    let msg = wait_text("card-error", "WebHID is not available").await;
    assert!(msg.contains("card bridge"), "{msg}");
    hide_navigator_api("hid", false);
    // WebUSB without a user's click (or the chooser cancelled, or Chrome's CCID block):
    // refused, never a panic. Headless Chromium may also lack the API altogether.
    choose("card-reader-kind", "usb").await;
    click("card-reader-connect").await;
    let msg = wait_text("card-error", "card bridge").await;
    assert!(
        msg.contains("WebUSB") || msg.contains("No device was chosen"),
        "{msg}"
    );
    wait_text("card-balance", "no reader connected").await;
    assert_eq!(remembered_reader().as_deref(), Some("usb"));
    // The choice survives a new render; the device must be chosen again.
    app.destroy();
    sleep(50).await;
    let app = render_card_page();
    wait_text("card-balance", "no reader connected").await;
    assert_eq!(select_value("card-reader-kind"), "usb");
    // The bridge: a token is needed, and a bridge that does not run is named.
    choose("card-reader-kind", "bridge").await;
    assert_eq!(select_value("card-bridge-url"), "ws://127.0.0.1:35990/");
    click("card-reader-connect").await;
    wait_text("card-error", "Paste the session token").await;
    type_into("card-bridge-url", "ws://127.0.0.1:9/").await;
    type_into("card-bridge-token", "some-token").await;
    click("card-reader-connect").await;
    wait_text(
        "card-error",
        "Cannot reach the card bridge at ws://127.0.0.1:9/",
    )
    .await;
    // Back to the page's own purse.
    choose("card-reader-kind", "virtual").await;
    wait_for("card-page").await;
    wait_gone("card-reader-connect").await;
    for _ in 0..100 {
        if !body_text().contains("no reader connected") {
            break;
        }
        sleep(20).await;
    }
    assert!(!body_text().contains("no reader connected"));
    assert_eq!(remembered_reader().as_deref(), Some("virtual"));
    app.destroy();
}

#[wasm_bindgen_test]
async fn the_page_uses_a_purse_behind_the_card_bridge() {
    let Some(bank) = test_bank("the_page_uses_a_purse_behind_the_card_bridge") else {
        return;
    };
    let (Some(bridge), Some(bridge_token)) = (
        option_env!("ECASH_TEST_BRIDGE_URL"),
        option_env!("ECASH_TEST_BRIDGE_TOKEN"),
    ) else {
        console_log!(
            "SKIPPED the_page_uses_a_purse_behind_the_card_bridge: also set \
             ECASH_TEST_BRIDGE_URL and ECASH_TEST_BRIDGE_TOKEN at build time \
             (scripts/test-wasm.sh)"
        );
        return;
    };
    logged_in_user(&bank, "card", 1_000).await;
    let app = render_card_page();
    wait_for("card-page").await;
    choose("card-reader-kind", "bridge").await;
    type_into("card-bridge-url", bridge).await;
    // A wrong token is refused, in words.
    type_into("card-bridge-token", "not-the-token").await;
    click("card-reader-connect").await;
    let msg = wait_text("card-error", "card bridge").await;
    assert!(msg.contains("session token"), "{msg}");
    wait_text("card-balance", "no reader connected").await;
    // The right one: the blank purse in the bridge's reader (pcscd may take a moment
    // to see it, as the page says).
    type_into("card-bridge-token", bridge_token).await;
    for _ in 0..50 {
        click("card-reader-connect").await;
        for _ in 0..100 {
            let done = document().get_element_by_id("card-notice").is_some()
                || document().get_element_by_id("card-error").is_some();
            if done {
                break;
            }
            sleep(20).await;
        }
        if document().get_element_by_id("card-notice").is_some() {
            break;
        }
        sleep(100).await;
    }
    wait_text("card-notice", "Connected to").await;
    wait_text("card-balance", "not certified").await;
    // Certified at the bank through the bridge (with the page's terminal), loaded.
    type_into("card-pin", "1357").await;
    click("card-certify").await;
    wait_text("card-notice", "certified").await;
    wait_text("card-balance", "0.00").await;
    type_into("card-load-amount", "5.00").await;
    click("card-load").await;
    wait_text("card-balance", "5.00").await;
    // Its PIN shows its log; it pays the page's terminal.
    click("card-pin-submit").await;
    wait_text("card-notice", "PIN accepted").await;
    wait_text("card-log", "Load").await;
    type_into("card-pay-amount", "1.25").await;
    click("card-pay").await;
    wait_text("card-balance", "3.75").await;
    wait_text("card-terminal-balance", "1.25").await;
    // A wrong PIN is the card's answer, in words.
    type_into("card-pin", "9999").await;
    click("card-pin-submit").await;
    wait_text("card-error", "wrong PIN").await;
    type_into("card-pin", "1357").await;
    click("card-unload").await;
    wait_text("card-notice", "Unloaded 5.00").await;
    wait_text("card-balance", "0.00").await;
    choose("card-reader-kind", "virtual").await;
    app.destroy();
}

#[wasm_bindgen_test]
async fn certify_load_pay_unload() {
    let Some(bank) = test_bank("certify_load_pay_unload") else {
        return;
    };
    let http = logged_in_user(&bank, "card", 10_000).await;
    forget_purses(bank.url).await;
    let app = render_card_page();
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
    // The bank's ledger holds what it loaded onto the card.
    wait_text("card-bank-personal", "At the bank: 10.00").await;
    wait_text("card-bank-terminal", "At the bank: 0.00").await;
    assert!(
        document()
            .get_element_by_id("card-unsettled-personal")
            .is_none()
    );

    type_into("card-pay-amount", "2.50").await;
    click("card-pay").await;
    wait_text("card-balance", "7.50").await;
    wait_text("card-terminal-balance", "2.50").await;
    wait_text("card-log", "Debit").await;
    // The terminal took it offline: on the card, not spendable until the bank settles
    // it, and the bank has not seen it yet.
    wait_text("card-unsettled-terminal", "not yet settled: 2.50").await;
    wait_text("card-spendable-terminal", "0.00").await;
    wait_text("card-bank-terminal", "At the bank: 0.00").await;
    wait_text("card-bank-personal", "At the bank: 10.00").await;
    assert!(
        document()
            .get_element_by_id("card-unsettled-personal")
            .is_none()
    );
    assert!(document().get_element_by_id("card-account-debt").is_none());

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
    lose_a_payment(bank.url, 100).await;
    let root3 = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&root3).unwrap();
    let app = yew::Renderer::<App>::with_root(root3).render();
    wait_text("card-balance", "6.50").await;
    wait_text("card-terminal-balance", "2.50").await;
    wait_text("card-unsettled-terminal", "not yet settled: 2.50").await;
    // Sync: both logs reach the bank, the lost value comes back to the purse, and the
    // terminal's payment is settled: the bank moves it from the purse to the terminal.
    type_into("card-pin", "2468").await;
    click("card-sync").await;
    let msg = wait_text("card-notice", "2 exception record(s) cleared, 1.00 loaded").await;
    assert!(
        msg.contains("Settled 1 payment received offline (2.50 EUR); now spendable."),
        "{msg}"
    );
    wait_text("card-balance", "7.50").await;
    wait_text("card-terminal-balance", "2.50").await;
    wait_gone("card-unsettled-terminal").await;
    wait_text("card-bank-terminal", "At the bank: 2.50").await;
    wait_text("card-bank-personal", "At the bank: 7.50").await;
    // Nothing more to do.
    click("card-sync").await;
    let msg = wait_text("card-notice", "0 exception record(s) cleared, 0.00 loaded").await;
    assert!(!msg.contains("Settled"), "{msg}");
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
    // The page sent the card's signed lock report: the bank knows why it locked.
    assert_eq!(
        (&asked["state"], &asked["lock"], &asked["reason"]),
        (
            &serde_json::json!("pending"),
            &serde_json::json!("per_transfer_limit"),
            &serde_json::json!("I typed 60 instead of 6")
        )
    );
    let approve = serde_json::json!({ "unlock_seq": asked["unlock_seq"] });
    let resp = http
        .send(
            Method::Post,
            &format!("/v1/cards/{card_id}/unlock"),
            Some(bank.admin),
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
    wait_text("card-unsettled-terminal", "not yet settled: 0.50").await;
    wait_text("card-spendable-terminal", "2.50").await;
    // Syncing again is harmless (and settles that payment).
    click("card-sync").await;
    let msg = wait_text("card-notice", "0 exception record(s) cleared, 0.00 loaded").await;
    assert!(
        msg.contains("Settled 1 payment received offline (0.50 EUR)"),
        "{msg}"
    );
    wait_gone("card-unsettled-terminal").await;
    wait_text("card-bank-terminal", "At the bank: 3.00").await;

    // One more payment, left unsettled: the unload settles it before the card unloads
    // the terminal's whole balance (which it would refuse with value unsettled).
    click("card-pay").await;
    wait_text("card-balance", "66.50").await;
    wait_text("card-terminal-balance", "3.50").await;
    wait_text("card-unsettled-terminal", "not yet settled: 0.50").await;
    wait_text("card-bank-terminal", "At the bank: 3.00").await;
    type_into("card-pin", "2468").await;
    click("card-unload").await;
    let msg = wait_text("card-notice", "Unloaded 70.00").await;
    assert!(
        msg.contains("Settled 1 payment received offline (0.50 EUR)"),
        "{msg}"
    );
    wait_text("card-balance", "0.00").await;
    wait_text("card-terminal-balance", "0.00").await;
    wait_gone("card-unsettled-terminal").await;
    wait_text("card-bank-personal", "At the bank: 0.00").await;
    wait_text("card-bank-terminal", "At the bank: 0.00").await;
    let token = session::load().unwrap().token;
    assert_eq!(account_balance(&http, &token).await.minor(), 10_000);

    // Loading from the wallet's coins: 5.00 withdrawn into the page's wallet first.
    go("#/withdraw").await;
    type_into("withdraw-amount", "5.00").await;
    click("withdraw-submit").await;
    wait_text("notice", "Withdrew 5.00").await;
    go("#/card").await;
    wait_text("card-load-amount-hint", "5.00").await;
    type_into("card-pin", "2468").await;
    // More than the purse may hold: refused before a coin moves.
    type_into("card-load-amount", "250.00").await;
    click("card-load-coins").await;
    wait_text("card-error", "at most 200.00 more").await;
    // More than the wallet holds: the deposit is refused, nothing moves.
    type_into("card-load-amount", "9.00").await;
    click("card-load-coins").await;
    let msg = wait_text("card-error", "were not deposited").await;
    assert!(msg.contains("5.00"), "{msg}");
    wait_text("card-balance", "0.00").await;
    // 3.00 of the coins go onto the purse; the account is where it was.
    type_into("card-load-amount", "3.00").await;
    click("card-load-coins").await;
    wait_text(
        "card-notice",
        "Loaded 3.00 onto the purse from the wallet's coins",
    )
    .await;
    wait_text("card-balance", "3.00").await;
    wait_text("card-load-amount-hint", "2.00").await;
    wait_text("card-log", "Load").await;
    assert_eq!(account_balance(&http, &token).await.minor(), 9_500);
    click("card-unload").await;
    wait_text("card-notice", "Unloaded 3.00").await;
    assert_eq!(account_balance(&http, &token).await.minor(), 9_800);
    app.destroy();
}

#[wasm_bindgen_test]
async fn a_copied_purse_is_caught_and_its_owner_owes_the_bank() {
    let Some(bank) = test_bank("a_copied_purse_is_caught_and_its_owner_owes_the_bank") else {
        return;
    };
    // 10.00 in the account, all of it loaded onto the purse.
    let http = logged_in_user(&bank, "clone", 1_000).await;
    forget_purses(bank.url).await;
    let app = render_card_page();
    wait_text("card-balance", "not certified").await;
    type_into("card-pin", "2468").await;
    click("card-certify").await;
    wait_text("card-notice", "certified").await;
    type_into("card-load-amount", "10.00").await;
    click("card-load").await;
    wait_text("card-balance", "10.00").await;
    wait_text("card-bank-personal", "At the bank: 10.00").await;
    app.destroy();
    sleep(50).await;

    // A virtual purse is data its holder controls: a copy of it, taken now, can spend
    // the same 10.00 again.
    let copy = stored_purse(bank.url, "personal").await;
    let app = render_card_page();
    wait_text("card-balance", "10.00").await;
    type_into("card-pin", "2468").await;
    type_into("card-pay-amount", "10.00").await;
    click("card-pay").await;
    wait_text("card-balance", "0.00").await;
    wait_text("card-terminal-balance", "10.00").await;
    app.destroy();
    sleep(50).await;
    store_purse(bank.url, "personal", &copy).await;
    let app = render_card_page();
    wait_text("card-balance", "10.00").await;
    type_into("card-pin", "2468").await;
    type_into("card-pay-amount", "10.00").await;
    click("card-pay").await;
    wait_text("card-balance", "0.00").await;
    wait_text("card-terminal-balance", "20.00").await;
    // Offline, nobody can tell: the terminal holds both, unsettled.
    wait_text("card-unsettled-terminal", "not yet settled: 20.00").await;
    wait_text("card-spendable-terminal", "0.00").await;
    assert!(
        document()
            .get_element_by_id("card-blocked-personal")
            .is_none()
    );
    assert!(document().get_element_by_id("card-account-debt").is_none());

    // The sync settles both for the terminal; the bank sees two VALUEs under one
    // number, blocks the purse and books the 10.00 its account cannot cover as a debt.
    click("card-sync").await;
    let msg = wait_text(
        "card-notice",
        "Settled 2 payments received offline (20.00 EUR)",
    )
    .await;
    assert!(
        msg.contains("Your purse was not synced: the bank blocked it"),
        "{msg}"
    );
    wait_gone("card-unsettled-terminal").await;
    wait_text("card-bank-terminal", "At the bank: 20.00").await;
    wait_text("card-bank-personal", "At the bank: 0.00").await;
    let blocked = wait_text("card-blocked-personal", "Blocked by the bank: ").await;
    assert!(blocked.len() > "Blocked by the bank: ".len(), "{blocked}");
    assert!(
        document()
            .get_element_by_id("card-blocked-terminal")
            .is_none()
    );
    wait_text(
        "card-account-debt",
        "Your account owes the bank 10.00 EUR: it cannot withdraw, pay out or load a card \
         until this is paid",
    )
    .await;
    let token = session::load().unwrap().token;
    assert_eq!(account_balance(&http, &token).await.minor(), 0);

    // Unloading the terminal brings 20.00 in, which pays the debt first; the blocked
    // purse is left alone.
    click("card-unload").await;
    wait_text("card-notice", "Unloaded 20.00").await;
    wait_text("card-terminal-balance", "0.00").await;
    wait_gone("card-account-debt").await;
    wait_for("card-blocked-personal").await;
    assert_eq!(account_balance(&http, &token).await.minor(), 1_000);
    app.destroy();
    sleep(50).await;
    forget_purses(bank.url).await;
}

/// The page's purse store (next to the wallet's database for `bank_url`).
async fn purse_store(bank_url: &str) -> IdbStorage {
    IdbStorage::open(&format!("{} cards", db_name_for(bank_url)))
        .await
        .unwrap()
}

/// Removes the page's stored purses: the next render starts from two blank ones.
async fn forget_purses(bank_url: &str) {
    let cards = purse_store(bank_url).await;
    cards
        .commit(vec![
            Write::Delete(Store::Meta, "card:personal".into()),
            Write::Delete(Store::Meta, "card:terminal".into()),
        ])
        .await
        .unwrap();
    cards.close();
}

/// The stored state of the page's purse in `slot`.
async fn stored_purse(bank_url: &str, slot: &str) -> String {
    let cards = purse_store(bank_url).await;
    let json = cards
        .get(Store::Meta, &format!("card:{slot}"))
        .await
        .unwrap()
        .unwrap();
    cards.close();
    json
}

/// Puts `json` back as the state of the page's purse in `slot`.
async fn store_purse(bank_url: &str, slot: &str, json: &str) {
    let cards = purse_store(bank_url).await;
    cards
        .commit(vec![Write::Put(
            Store::Meta,
            format!("card:{slot}"),
            json.to_owned(),
        )])
        .await
        .unwrap();
    cards.close();
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
