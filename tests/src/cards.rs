//! Electronic purse cards against a [`TestBank`]: virtual purses issued the way
//! the wallet does it (initialized with the bank's issuer key, certified over
//! HTTP, personalized), loaded from an account and unloaded;
//! the bank's card endpoints over the test [`Client`], and as the purse's
//! [`CardBank`] `ecash_wallet`'s [`CardSession`] ([`card_endpoints`]); and two ready-made set-ups: a customer's
//! purse and a shop terminal ([`two_purses`]), a loaded terminal and its clone
//! ([`cloned_terminal`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecash_card::api::{
    CertifyRequest, CertifyResponse, ExceptionsResponse, IssuerInfo, LoadRequest, LoadResponse,
};
use ecash_card::client::{CardBank, PurseClient, transfer};
use ecash_card::exception::ExceptionRecord;
use ecash_card::host::cmd;
use ecash_card::load::LoadAuth;
use ecash_card::transfer::Terms;
use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_card::unload::{UnloadOrder, UnloadProof, destination_for_account};
use ecash_card::{CardPublicKey, Mode, Pin, Purpose, VirtualCard};
use ecash_shared::{Amount, Currency};
use ecash_wallet::BankClient;
use ecash_wallet::client::CardSession;

use crate::client::{Client, Raw, Wallet, now};
use crate::server::TestBank;
use crate::wallet_transport::ReqwestTransport;

/// A purse in a virtual reader's slot.
pub type Purse = PurseClient<VirtualReader>;

/// The PIN every test purse is personalized with.
pub fn pin() -> Pin {
    Pin::new("1234").unwrap()
}

/// The PUK every test purse is personalized with.
pub fn puk() -> Pin {
    Pin::new_puk("12345678").unwrap()
}

/// Today as a card counts days (since the Unix epoch).
pub fn today() -> u32 {
    u32::try_from(now().unix() / 86_400).unwrap()
}

/// A blank virtual card in `slot`, initialized with the bank's issuer key,
/// certified by `owner` (a retried certification answers the same certificate)
/// and personalized with [`pin`] and [`puk`].
pub async fn issue(reader: &VirtualReader, slot: &str, owner: &Client, mode: Mode) -> Purse {
    reader.insert(slot, VirtualCard::blank().unwrap());
    let mut purse = PurseClient::connect(reader.clone(), slot).await.unwrap();
    assert!(purse.cert().is_none());
    let info: IssuerInfo = owner.get("/v1/cards/issuer").await.unwrap();
    assert_eq!(info.currency, Currency::EUR);
    let key = purse
        .exchange(&cmd::initialize(&info.issuer_key))
        .await
        .unwrap();
    let card_pub = CardPublicKey::from_bytes(&key.try_into().unwrap()).unwrap();
    let req = CertifyRequest { card_pub, mode };
    let r: CertifyResponse = owner.post("/v1/cards", &req).await.unwrap();
    r.cert.verify(&info.issuer_key).unwrap();
    assert_eq!(r.cert.card_pub, card_pub);
    assert_eq!(r.cert.profile.mode, mode);
    let again: CertifyResponse = owner.post("/v1/cards", &req).await.unwrap();
    assert_eq!(again, r);
    purse
        .exchange(&cmd::personalize(&r.cert, &pin(), &puk()))
        .await
        .unwrap();
    purse.select().await.unwrap();
    assert_eq!(purse.cert(), Some(&r.cert));
    purse
}

/// `/v1/cards/{card_id}/{what}` of this purse.
pub fn card_path(purse: &Purse, what: &str) -> String {
    format!("/v1/cards/{}/{what}", purse.cert().unwrap().card_id)
}

/// The body of a load of `minor` under number `load_seq`.
pub fn load_request(minor: u64, load_seq: u32) -> LoadRequest {
    LoadRequest {
        amount: Amount::from_minor(minor),
        load_seq,
    }
}

/// The bank authorizes load number `load_seq` (debiting `owner`); the card is not told.
pub async fn authorize(purse: &Purse, owner: &Client, minor: u64, load_seq: u32) -> LoadAuth {
    let r: LoadResponse = owner
        .post(&card_path(purse, "loads"), &load_request(minor, load_seq))
        .await
        .unwrap();
    r.auth
}

/// Loads `minor` from `owner`'s account under the card's next load number.
pub async fn load(purse: &mut Purse, owner: &Client, minor: u64) -> LoadAuth {
    let seq = purse.status().await.unwrap().next_load_seq;
    let auth = authorize(purse, owner, minor, seq).await;
    purse.load(&auth).await.unwrap();
    auth
}

/// The card's proof of an unload of `minor` to `account` (the bank is not told).
pub async fn unload_proof(purse: &mut Purse, account: &str, minor: u64) -> UnloadProof {
    purse.verify_pin(&pin()).await.unwrap();
    purse
        .unload(&UnloadOrder {
            amount: Amount::from_minor(minor),
            destination: destination_for_account(account),
            day: today(),
        })
        .await
        .unwrap()
}

/// Offline: `payer` (its PIN verified) pays `payee` `minor` today.
pub async fn pay(
    payer: &mut Purse,
    payee: &mut Purse,
    minor: u64,
) -> Result<Terms, ecash_card::Error> {
    payer.verify_pin(&pin()).await.unwrap();
    transfer(
        payer,
        payee,
        Amount::from_minor(minor),
        Purpose::Payment,
        today(),
    )
    .await
}

/// The purse's balance in minor units.
pub async fn balance(purse: &mut Purse) -> u64 {
    purse.balance().await.unwrap().0.minor()
}

/// Uploads exception records of this purse for `owner`.
pub async fn upload(
    owner: &Client,
    purse: &Purse,
    records: &[ExceptionRecord],
) -> ExceptionsResponse {
    card_endpoints(owner)
        .session()
        .upload_exceptions(purse.cert().unwrap().card_id, records.to_vec())
        .await
        .unwrap()
}

/// The stored load authorizations of this purse from number `from` on.
pub async fn loads_from(owner: &Client, purse: &Purse, from: u32) -> Vec<LoadAuth> {
    card_endpoints(owner)
        .session()
        .loads_from(purse.cert().unwrap().card_id, from)
        .await
        .unwrap()
}

/// POSTs any JSON body; the raw answer (for bad-input tests).
pub async fn post_json(c: &Client, path: &str, body: serde_json::Value) -> Raw {
    c.raw(
        "POST",
        path,
        &[("content-type", "application/json")],
        Some(serde_json::to_vec(&body).unwrap()),
    )
    .await
    .unwrap()
}

/// A refusal with this status and code, and a detail to show.
pub fn assert_refused(r: &Raw, status: u16, code: &str, what: &str) {
    assert_eq!(
        (r.status, r.code()),
        (status, Some(code)),
        "{what}: {:?}",
        r.body
    );
    assert!(
        r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}"
    );
}

/// `ecash_wallet`'s bank client at a test client's bank, with that client's
/// token: its [`CardSession`] is the purse's [`CardBank`], the same card
/// endpoints the wallet's Card page settles through.
#[derive(Debug)]
pub struct CardEndpoints {
    bank: BankClient<ReqwestTransport>,
    token: String,
}

impl CardEndpoints {
    /// The card endpoints with the token, as a [`CardBank`].
    pub fn session(&self) -> CardSession<'_, ReqwestTransport> {
        self.bank.card_session(&self.token)
    }
}

/// The card endpoints of `c`'s bank with `c`'s token (`c` must be logged in).
pub fn card_endpoints(c: &Client) -> CardEndpoints {
    CardEndpoints {
        bank: BankClient::new(ReqwestTransport::new(&c.base)),
        token: c.token.clone().expect("a logged-in client"),
    }
}

/// A test bank with a customer, `alice` (`alice_credit` on her account), and a
/// merchant, `shop` (nothing), each with a purse they certified, nothing loaded:
/// `(bank, alice, shop, alice's personal purse, the shop's terminal)`.
pub async fn two_purses(alice_credit: u64) -> (TestBank, Wallet, Wallet, Purse, Purse) {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", alice_credit).await;
    let shop = bank.merchant("shop", 0).await;
    let reader = VirtualReader::new();
    let personal = issue(&reader, "personal", &alice.client, Mode::Personal).await;
    let terminal = issue(&reader, "terminal", &shop.client, Mode::Terminal).await;
    (bank, alice, shop, personal, terminal)
}

/// A test bank with a merchant, `shop` (1000 on its account), whose terminal is
/// loaded with `loaded` from it, and a copy of the terminal's key and state in
/// another slot (a cloned card): `(bank, shop, terminal, clone)`.
pub async fn cloned_terminal(loaded: u64) -> (TestBank, Wallet, Purse, Purse) {
    let bank = TestBank::start().await;
    let shop = bank.merchant("shop", 1000).await;
    let reader = VirtualReader::new();
    let mut terminal = issue(&reader, "terminal", &shop.client, Mode::Terminal).await;
    load(&mut terminal, &shop.client, loaded).await;
    let state = reader.state_json("terminal").unwrap();
    reader.insert("clone", VirtualCard::from_json(&state).unwrap());
    let clone = PurseClient::connect(reader.clone(), "clone").await.unwrap();
    (bank, shop, terminal, clone)
}
