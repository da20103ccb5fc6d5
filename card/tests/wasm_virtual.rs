//! The card stack in headless Chromium: virtual purses in a virtual reader paying each
//! other, state persisted as JSON and restored, fresh card keys from the browser's
//! randomness, an asynchronous store committing before each answer, CCID and HID
//! emulators behind the same client, the WebUSB, WebHID and bridge glue failing
//! cleanly when no device or bridge is there, and the page's bridge client paying
//! through a real `card-bridge` to a purse in a PC/SC reader.
//!
//! Run: `cargo test -p ecash-card --target wasm32-unknown-unknown --test wasm_virtual`.
//! The bridge test needs a running `card-bridge serve` (with pcscd, vsmartcard-vpcd and
//! `card-bridge virtual-card` in a reader) allowing this page's origin: build with
//! `ECASH_TEST_BRIDGE_URL` and `ECASH_TEST_BRIDGE_TOKEN` and run with
//! `WASM_BINDGEN_TEST_ADDRESS` fixing the page's origin; `scripts/test-wasm.sh` does all
//! that. Without them it prints a notice and passes without checking anything.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use ecash_card::apdu::Sw;
use ecash_card::cert::Mode;
use ecash_card::client::{self, PurseClient};
use ecash_card::host;
use ecash_card::host::cmd;
use ecash_card::load::LoadKind;
use ecash_card::purse::ATR;
use ecash_card::transfer::Purpose;
use ecash_card::transport::CardTransport;
use ecash_card::transport::ccid::{CcidReader, CcidReaderEmulator};
use ecash_card::transport::hid::{HidToken, HidTokenEmulator};
use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_card::transport::web::{self, BridgeTransport, DeviceFilter};
use ecash_card::virtual_card::MemoryStore;
use ecash_card::{CardPublicKey, Error, VirtualCard};
use ecash_shared::Amount;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn eur(minor: u64) -> Amount {
    Amount::from_minor(minor)
}

#[wasm_bindgen_test]
async fn two_purses_in_one_page_pay_each_other_and_persist() {
    let mut ledger = ledger();
    // Fresh keys from WebCrypto (getrandom's wasm_js backend).
    let mut alice = VirtualCard::blank().unwrap();
    let mut bob = VirtualCard::blank().unwrap();
    let a_cert = host::issue_card(
        &mut alice,
        &mut ledger,
        card_id(1),
        profile(Mode::Personal),
        &pin(),
        &puk(),
    )
    .unwrap();
    host::issue_card(
        &mut bob,
        &mut ledger,
        card_id(2),
        profile(Mode::Personal),
        &pin(),
        &puk(),
    )
    .unwrap();
    fund(&mut ledger, &mut alice, &a_cert, 3_000);
    let store = MemoryStore::new();
    alice.set_store(Box::new(store.clone())).unwrap();

    let reader = VirtualReader::new();
    reader.insert("Alice", alice);
    reader.insert("Bob", bob);
    let mut r = reader.clone();
    assert_eq!(r.list_readers().await.unwrap().len(), 2);
    let mut a = PurseClient::connect(reader.clone(), "Alice").await.unwrap();
    let mut b = PurseClient::connect(reader.clone(), "Bob").await.unwrap();
    let e = client::transfer(&mut a, &mut b, eur(1_000), Purpose::Payment, 20_000).await;
    assert_eq!(e.unwrap_err(), Error::Status(Sw::SECURITY_NOT_SATISFIED));
    a.verify_pin(&pin()).await.unwrap();
    client::transfer(&mut a, &mut b, eur(1_000), Purpose::Payment, 20_000)
        .await
        .unwrap();
    assert_eq!(a.balance().await.unwrap().0, eur(2_000));
    assert_eq!(b.balance().await.unwrap().0, eur(1_000));
    // What Bob took offline becomes spendable once the issuer settled it.
    settle_client(&mut ledger, &mut b).await;
    b.verify_pin(&pin()).await.unwrap();
    client::transfer(&mut b, &mut a, eur(250), Purpose::Payment, 20_000)
        .await
        .unwrap();

    // What the wallet writes to IndexedDB after each exchange, and reads back.
    let saved = store.latest().unwrap();
    let restored = VirtualCard::from_json(&saved).unwrap();
    assert_eq!(restored.state().balance(), Some(eur(2_250)));
    assert_eq!(*reader.state_json("Alice").unwrap(), *saved);
}

#[wasm_bindgen_test]
async fn an_asynchronous_store_commits_before_the_card_answers() {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    let mut ledger = ledger();
    let (mut a, a_cert) = issue(&mut ledger, 1, Mode::Personal);
    let (b, _) = issue(&mut ledger, 2, Mode::Personal);
    fund(&mut ledger, &mut a, &a_cert, 800);
    let reader = VirtualReader::new();
    reader.insert("A", a);
    reader.insert("B", b);
    // Stands in for IndexedDB: resolves on a later task, like a transaction's `complete`.
    let db: Rc<RefCell<BTreeMap<String, String>>> = Rc::default();
    let d = db.clone();
    reader.set_persister(Rc::new(move |name, json| {
        let d = d.clone();
        Box::pin(async move {
            let later = js_sys::Promise::new(&mut |resolve, _| {
                let _ = web_sys::window()
                    .unwrap()
                    .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
            });
            wasm_bindgen_futures::JsFuture::from(later).await.unwrap();
            d.borrow_mut().insert(name, json.to_string());
            Ok(())
        })
    }));
    let mut payer = PurseClient::connect(reader.clone(), "A").await.unwrap();
    let mut payee = PurseClient::connect(reader.clone(), "B").await.unwrap();
    payer.verify_pin(&pin()).await.unwrap();
    client::transfer(&mut payer, &mut payee, eur(300), Purpose::Payment, 1)
        .await
        .unwrap();
    let saved = VirtualCard::from_json(&db.borrow()["B"]).unwrap();
    assert_eq!(saved.state().balance(), Some(eur(300)));
    let saved = VirtualCard::from_json(&db.borrow()["A"]).unwrap();
    assert_eq!(saved.state().balance(), Some(eur(500)));
}

#[wasm_bindgen_test]
async fn purses_behind_ccid_and_hid_emulators() {
    let mut ledger = ledger();
    let (mut a, a_cert) = issue(&mut ledger, 1, Mode::Personal);
    let (b, _) = issue(&mut ledger, 2, Mode::Terminal);
    fund(&mut ledger, &mut a, &a_cert, 500);
    let mut emu = CcidReaderEmulator::new(Some(a), 64, 64);
    emu.time_extensions = 2;
    let ccid = CcidReader::new(emu, "ccid", 64, 64);
    let hid = HidToken::new(HidTokenEmulator::new(b, 0x0101), "hid", 0x0101);
    let mut payer = PurseClient::connect(ccid, "ccid").await.unwrap();
    let mut payee = PurseClient::connect(hid, "hid").await.unwrap();
    payer.verify_pin(&pin()).await.unwrap();
    client::transfer(&mut payer, &mut payee, eur(120), Purpose::Payment, 1)
        .await
        .unwrap();
    assert_eq!(payee.balance().await.unwrap().0, eur(120));
}

#[wasm_bindgen_test]
async fn browser_device_glue_fails_cleanly_without_devices() {
    // No user gesture and no device: WebUSB/WebHID refuse (or are absent); never a panic.
    let filters = [DeviceFilter {
        class_code: Some(0xFF),
        ..DeviceFilter::default()
    }];
    assert!(web::request_ccid_reader(&filters).await.is_err());
    assert!(
        web::request_hid_token(&[DeviceFilter::default()], 0x0101)
            .await
            .is_err()
    );
    // No bridge listening on this port.
    assert!(
        BridgeTransport::connect("ws://127.0.0.1:9/", "token")
            .await
            .is_err()
    );
}

async fn sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        let _ = web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    wasm_bindgen_futures::JsFuture::from(p).await.unwrap();
}

#[wasm_bindgen_test]
async fn the_page_pays_through_a_real_card_bridge() {
    let (Some(url), Some(token)) = (
        option_env!("ECASH_TEST_BRIDGE_URL"),
        option_env!("ECASH_TEST_BRIDGE_TOKEN"),
    ) else {
        console_log!(
            "SKIPPED the_page_pays_through_a_real_card_bridge: build with \
             ECASH_TEST_BRIDGE_URL and ECASH_TEST_BRIDGE_TOKEN (scripts/test-wasm.sh)"
        );
        return;
    };
    // The bridge wants its session token.
    assert!(
        BridgeTransport::connect(url, "not-the-token")
            .await
            .is_err()
    );
    let mut bridge = BridgeTransport::connect(url, token).await.unwrap();
    // The purse in the vpcd reader (pcscd may take a moment to see it).
    let mut reader = None;
    for _ in 0..100 {
        let readers = bridge.list_readers().await.unwrap();
        reader = readers.into_iter().find(|r| r.card_present).map(|r| r.name);
        if reader.is_some() {
            break;
        }
        sleep(100).await;
    }
    let reader = reader.expect("no card in any reader behind the bridge");
    let connected = bridge.connect(&reader).await.unwrap();
    assert_eq!(connected.atr, ATR, "the purse's ATR through pcscd and vpcd");
    bridge.disconnect(connected.handle).await.unwrap();

    // A blank purse (a fresh state file): initialized, certified and personalized
    // through the bridge, then loaded.
    let mut ledger = ledger();
    let mut far = PurseClient::connect(bridge.clone(), &reader).await.unwrap();
    assert!(
        far.cert().is_none(),
        "the purse behind the bridge is not blank"
    );
    let key = far
        .exchange(&cmd::initialize(&ledger.issuer().public_key()))
        .await
        .unwrap();
    let card_pub = CardPublicKey::from_bytes(&key.try_into().unwrap()).unwrap();
    let cert = ledger
        .certify(card_id(7), card_pub, profile(Mode::Personal))
        .unwrap();
    far.exchange(&cmd::personalize(&cert, &pin(), &puk()))
        .await
        .unwrap();
    assert_eq!(far.select().await.unwrap(), Some(&cert));
    let auth = ledger
        .authorize_load(cert.card_id, eur(900), LoadKind::Bank)
        .unwrap();
    far.load(&auth).await.unwrap();

    // It pays a purse in this page, and is paid back.
    let (near, _) = issue(&mut ledger, 8, Mode::Terminal);
    let page = VirtualReader::new();
    page.insert("here", near);
    let mut near = PurseClient::connect(page, "here").await.unwrap();
    far.verify_pin(&pin()).await.unwrap();
    client::transfer(&mut far, &mut near, eur(300), Purpose::Payment, 20_000)
        .await
        .unwrap();
    settle_client(&mut ledger, &mut near).await;
    near.verify_pin(&pin()).await.unwrap();
    client::transfer(&mut near, &mut far, eur(100), Purpose::Refund, 20_000)
        .await
        .unwrap();
    assert_eq!(far.balance().await.unwrap().0, eur(700));
    assert_eq!(near.balance().await.unwrap().0, eur(200));
    // A wrong PIN is the card's answer, through the whole stack.
    let wrong = ecash_card::Pin::new("9999").unwrap();
    assert!(matches!(
        far.verify_pin(&wrong).await.unwrap_err(),
        Error::Status(sw) if sw.retries().is_some()
    ));
    far.disconnect().await.unwrap();
}
