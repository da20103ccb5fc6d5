//! The card stack in headless Chromium: virtual purses in a virtual reader paying each
//! other, state persisted as JSON and restored, fresh card keys from the browser's
//! randomness, an asynchronous store committing before each answer, CCID and HID
//! emulators behind the same client, and the WebUSB, WebHID and bridge glue failing
//! cleanly when no device or bridge is there.
//!
//! Run: `cargo test -p ecash-card --target wasm32-unknown-unknown --test wasm_virtual`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use ecash_card::apdu::Sw;
use ecash_card::cert::Mode;
use ecash_card::client::{self, PurseClient};
use ecash_card::host;
use ecash_card::transfer::Purpose;
use ecash_card::transport::CardTransport;
use ecash_card::transport::ccid::{CcidReader, CcidReaderEmulator};
use ecash_card::transport::hid::{HidToken, HidTokenEmulator};
use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_card::transport::web::{self, BridgeTransport, DeviceFilter};
use ecash_card::virtual_card::MemoryStore;
use ecash_card::{Error, VirtualCard};
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
