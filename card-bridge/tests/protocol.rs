//! The bridge's WebSocket protocol and defences against a real server on a loopback
//! port, with virtual purses behind it (no PC/SC needed): Origin and Host checks, the
//! session token, malformed requests, handle limits, and a purse-to-purse transfer.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use card_bridge::backend::{MAX_HANDLES, ReaderBackend, VirtualBackend};
use card_bridge::client::BridgeClient;
use card_bridge::server::{self, Config};
use card_bridge::token::SessionToken;
use ecash_card::cert::{CardProfile, Mode};
use ecash_card::client::{self, PurseClient};
use ecash_card::host;
use ecash_card::issuer::{Issuer, Ledger};
use ecash_card::load::LoadKind;
use ecash_card::purse::ATR;
use ecash_card::transfer::Purpose;
use ecash_card::transport::bridge::{BridgeRequest, codes};
use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_card::transport::{CardHandle, CardTransport, TransportError};
use ecash_card::{CardId, IssuerKey, Pin, PurseState, VirtualCard};
use ecash_shared::{Amount, Currency};

const ORIGIN: &str = "http://127.0.0.1:8080";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("blocked"),
    }
}

/// Two issued purses (Alice funded), as state JSON the sessions start from.
fn purses() -> (String, String) {
    let mut ledger = Ledger::new(Issuer::new(IssuerKey::from_seed(&[0x11; 32])));
    let profile = CardProfile {
        mode: Mode::Personal,
        currency: Currency::EUR,
        balance_cap: Amount::from_minor(100_000),
        per_transfer_limit: Amount::from_minor(10_000),
        daily_limit: Amount::from_minor(20_000),
    };
    let pin = Pin::new("1234").unwrap();
    let puk = Pin::new_puk("12345678").unwrap();
    let mut make = |n: u8| {
        let mut card = VirtualCard::new(PurseState::manufacture_with_seed(&[n; 32])).unwrap();
        let cert =
            host::issue_card(&mut card, &mut ledger, CardId([n; 8]), profile, &pin, &puk).unwrap();
        (card, cert)
    };
    let (mut alice, alice_cert) = make(1);
    let (bob, _) = make(2);
    let auth = ledger
        .authorize_load(
            alice_cert.card_id,
            Amount::from_minor(5_000),
            LoadKind::Bank,
        )
        .unwrap();
    host::load(&mut alice, &auth).unwrap();
    (alice.state_json().to_string(), bob.state_json().to_string())
}

fn start_bridge() -> SocketAddr {
    let (alice, bob) = purses();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        allowed_origins: vec![ORIGIN.into()],
        token: SessionToken::from_string(TOKEN.into()),
        max_sessions: 3,
        backend: Arc::new(move || {
            let reader = VirtualReader::new();
            reader.insert("Virtual 0", VirtualCard::from_json(&alice).unwrap());
            reader.insert("Virtual 1", VirtualCard::from_json(&bob).unwrap());
            Ok(Box::new(VirtualBackend::new(reader)) as Box<dyn ReaderBackend>)
        }),
    };
    std::thread::spawn(move || server::serve(listener, config));
    addr
}

#[test]
fn refuses_foreign_origins_hosts_and_tokens() {
    let addr = start_bridge();
    let host = addr.to_string();
    // Another site's page.
    let e = BridgeClient::open(addr, "https://evil.example", &host).unwrap_err();
    assert!(e.to_string().contains("403"), "{e}");
    // DNS rebinding: an allowed origin, but the page reached us under another name.
    let e = BridgeClient::open(addr, ORIGIN, &format!("evil.example:{}", addr.port())).unwrap_err();
    assert!(e.to_string().contains("403"), "{e}");
    // Right origin, wrong token: refused and closed.
    let e = BridgeClient::connect(addr, ORIGIN, "00000000000000000000000000000000").unwrap_err();
    assert!(
        matches!(e, TransportError::Bridge { ref code, .. } if code == codes::UNAUTHORIZED),
        "{e}"
    );
    // No hello: refused and closed.
    let mut c = BridgeClient::open(addr, ORIGIN, &host).unwrap();
    let e = c.request(|id| BridgeRequest::List { id }).unwrap_err();
    assert!(matches!(e, TransportError::Bridge { ref code, .. } if code == codes::UNAUTHORIZED));
    assert!(
        c.request(|id| BridgeRequest::List { id }).is_err(),
        "closed after refusal"
    );
    // Garbage first message: refused and closed.
    let mut c = BridgeClient::open(addr, ORIGIN, &host).unwrap();
    assert!(c.raw("{not json").unwrap().contains(codes::BAD_REQUEST));
    assert!(c.raw("{}").is_err());
    // `localhost` is fine as a Host.
    let mut c = BridgeClient::open(addr, ORIGIN, &format!("localhost:{}", addr.port())).unwrap();
    let token = TOKEN.to_owned();
    c.request(|id| BridgeRequest::Hello { id, token }).unwrap();
}

#[test]
fn answers_bad_requests_without_closing_an_authenticated_session() {
    let addr = start_bridge();
    let mut c = BridgeClient::connect(addr, ORIGIN, TOKEN).unwrap();
    for bad in [
        r#"{"id":5,"op":"format_disk"}"#,
        r#"{"id":5,"op":"transmit","handle":1,"apdu":"0g"}"#,
        r#"{"id":5,"op":"list","extra":true}"#,
        "[]",
    ] {
        let answer = c.raw(bad).unwrap();
        assert!(answer.contains(codes::BAD_REQUEST), "{bad} -> {answer}");
    }
    let e = block_on(c.transmit(CardHandle(77), &[0, 0xA4, 4, 0])).unwrap_err();
    assert_eq!(e, TransportError::NoSuchHandle);
    let e = block_on(c.connect("no such reader")).unwrap_err();
    assert!(matches!(e, TransportError::NoSuchReader(_)));
    let h = block_on(c.connect("Virtual 0")).unwrap();
    assert_eq!(h.atr, ATR);
    let e = block_on(c.transmit(h.handle, &[0, 0xA4])).unwrap_err();
    assert!(matches!(e, TransportError::Bridge { ref code, .. } if code == codes::BAD_REQUEST));
    // Malformed APDUs reach the card and get its status word.
    assert_eq!(
        block_on(c.transmit(h.handle, &[0, 0xA4, 4, 0, 9, 1])).unwrap(),
        [0x67, 0x00]
    );
    // Handle limit.
    for _ in 1..MAX_HANDLES {
        block_on(c.connect("Virtual 1")).unwrap();
    }
    let e = block_on(c.connect("Virtual 1")).unwrap_err();
    assert!(
        matches!(e, TransportError::Bridge { ref code, .. } if code == codes::TOO_MANY_HANDLES)
    );
    block_on(c.disconnect(h.handle)).unwrap();
    block_on(c.connect("Virtual 1")).unwrap();
}

#[test]
fn two_purses_behind_the_bridge_pay_each_other() {
    let addr = start_bridge();
    let c = BridgeClient::connect(addr, ORIGIN, TOKEN).unwrap();
    // Each native client owns its socket, so Alice and Bob use one session each (a page
    // may share one session between both). Sessions start from the same card states.
    let mut transport = c;
    let readers = block_on(transport.list_readers()).unwrap();
    assert_eq!(readers.len(), 2);
    assert!(readers.iter().all(|r| r.card_present));
    block_on(async {
        let mut alice = PurseClient::connect(transport, "Virtual 0").await.unwrap();
        let bob_link = BridgeClient::connect(addr, ORIGIN, TOKEN).unwrap();
        let mut bob = PurseClient::connect(bob_link, "Virtual 1").await.unwrap();
        alice.verify_pin(&Pin::new("1234").unwrap()).await.unwrap();
        client::transfer(
            &mut alice,
            &mut bob,
            Amount::from_minor(1_250),
            Purpose::Payment,
            9,
        )
        .await
        .unwrap();
        assert_eq!(alice.balance().await.unwrap().0, Amount::from_minor(3_750));
        assert_eq!(bob.balance().await.unwrap().0, Amount::from_minor(1_250));
    });
}
