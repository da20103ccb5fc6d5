//! Shared fixtures: an issuer ledger, issued virtual purses, a tiny executor.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use ecash_card::cert::{CardProfile, Mode};
use ecash_card::host;
use ecash_card::issuer::{Issuer, Ledger};
use ecash_card::load::LoadKind;
use ecash_card::{CardCert, CardId, IssuerKey, Pin, PurseState, VirtualCard};
use ecash_shared::{Amount, Currency};

pub const PIN: &str = "1234";
pub const PUK: &str = "12345678";

pub fn pin() -> Pin {
    Pin::new(PIN).unwrap()
}

pub fn puk() -> Pin {
    Pin::new_puk(PUK).unwrap()
}

pub fn ledger() -> Ledger {
    Ledger::new(Issuer::new(IssuerKey::from_seed(&[0x11; 32])))
}

pub fn profile(mode: Mode) -> CardProfile {
    CardProfile {
        mode,
        currency: Currency::EUR,
        balance_cap: Amount::from_minor(1_000_000),
        per_transfer_limit: Amount::from_minor(50_000),
        daily_limit: Amount::from_minor(100_000),
    }
}

pub fn card_id(n: u8) -> CardId {
    CardId([0xCA, 0x4D, 0, 0, 0, 0, 0, n])
}

/// A personalized virtual purse (deterministic key from `n`).
pub fn issue_with(ledger: &mut Ledger, n: u8, profile: CardProfile) -> (VirtualCard, CardCert) {
    let mut card = VirtualCard::new(PurseState::manufacture_with_seed(&[n; 32])).unwrap();
    let cert = host::issue_card(&mut card, ledger, card_id(n), profile, &pin(), &puk()).unwrap();
    (card, cert)
}

pub fn issue(ledger: &mut Ledger, n: u8, mode: Mode) -> (VirtualCard, CardCert) {
    issue_with(ledger, n, profile(mode))
}

/// Loads `minor` onto a selected card through the ledger.
pub fn fund(ledger: &mut Ledger, card: &mut VirtualCard, cert: &CardCert, minor: u64) {
    let auth = ledger
        .authorize_load(cert.card_id, Amount::from_minor(minor), LoadKind::Bank)
        .unwrap();
    host::load(card, &auth).unwrap();
}

/// Presents a card's unsettled credits to the ledger (as the bank would settle them)
/// and applies the clearance: what it received offline becomes spendable.
pub fn settle(ledger: &mut Ledger, card: &mut VirtualCard, cert: &CardCert) {
    let credits = host::credits(card).unwrap();
    let auth = ledger.settle(cert.card_id, &credits).unwrap();
    host::clear_credits(card, &auth).unwrap();
    assert_eq!(host::status(card).unwrap().credits, 0);
}

/// [`settle`] through a [`PurseClient`](ecash_card::client::PurseClient) on any
/// transport.
pub async fn settle_client<T: ecash_card::transport::CardTransport>(
    ledger: &mut Ledger,
    purse: &mut ecash_card::client::PurseClient<T>,
) {
    let credits = purse.credits().await.unwrap();
    let payee = purse.cert().unwrap().card_id;
    let auth = ledger.settle(payee, &credits).unwrap();
    purse.clear_credits(&auth).await.unwrap();
    assert_eq!(purse.status().await.unwrap().unsettled, Amount::ZERO);
}

/// Runs a future that never waits on I/O (virtual readers and emulators complete at once).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("future waited on I/O in a test that has none"),
    }
}
