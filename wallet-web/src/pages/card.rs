//! The Card page: two virtual electronic purses in this page — the holder's personal
//! purse and a "shop terminal" purse — kept in IndexedDB (a database of their own
//! next to the wallet's). Logged in, the holder certifies them at the bank, loads the
//! personal purse from the bank account or from the wallet's coins, pays the terminal
//! offline (purse to purse, no bank involved), and unloads the purses back to the
//! account.
//!
//! A load checks the purse first (certified, not locked, room under its balance cap),
//! so that the bank is never asked for value the card would refuse. A load from the
//! wallet's coins is two steps: the wallet deposits the coins into the holder's account
//! (its own intent-logged deposit, resumed like any other if the page closes), then
//! the purse loads from the account. Between the two the value is in the account, in
//! plain sight; if the second step fails the page says so and the value can be loaded
//! from the account. The bank's audit sees an ordinary deposit and an ordinary load.
//!
//! Every card command is answered only after the card's new state is stored (the
//! reader's persister). An unload settles the purse's credits first and asks the card
//! to UNLOAD only a balance that is all spendable. An unload proof is stored before it
//! is sent to the bank and removed once the bank answered, so a proof lost on the way
//! is sent again when the page opens.
//!
//! Value a purse takes offline (the terminal, paid by the holder's purse) stays on it
//! as an unsettled credit until the bank has counted it, and is not spendable until
//! then: the page shows it apart ("received offline, not yet settled") with what the
//! purse can spend now. Logged in, it also shows each certified purse as the bank's
//! ledger sees it (`GET /v1/cards/{id}`: "At the bank", a block, the account's debt);
//! that answer is extra, and the purses are shown without it when it does not come.
//!
//! "Sync with bank" settles the purses with the issuer: each purse's credits taken
//! offline (GET CREDIT) go to the bank and its clearance is applied (CLEAR CREDITS:
//! settled ones become spendable, refused ones leave the card), each purse's exception
//! log (GET EXCEPTION) goes to the bank and the clearance it answers is applied (CLEAR
//! EXCEPTIONS) — both purses first, so a transfer lost between them is proven — then
//! each purse loads what the bank holds for it from its next load number: a load whose
//! answer never arrived, and recovery loads of value lost in flight. A load fetches
//! those first too. The protocol steps are `ecash_card::client`'s; this page only
//! supplies the HTTP calls ([`PageBank`]).
//!
//! A purse its risk rules locked (a payment over its per-transfer or daily limit) is
//! shown locked, with its card id and where its unlock stands at the bank. "Request
//! unlock" asks the bank's operator to reopen it (for the card's next unlock number);
//! once the operator approved, "Sync with bank" applies the signed UNLOCK to the card
//! before anything else (a locked purse takes no load).
//!
//! The holder's purse need not be the page's: the reader picker puts it on a card in a
//! USB reader (WebUSB), a HID token (WebHID) or any PC/SC reader behind `card-bridge`
//! ([`crate::services::reader`]). Every operation below runs over a [`PageReader`],
//! whichever it is; the shop terminal stays a virtual purse in the page, so "pay"
//! moves value from the card in the reader to the page's terminal.

use std::rc::Rc;

use ecash_card::api::{
    CardInfo, CertifyRequest, CertifyResponse, ExceptionsRequest, ExceptionsResponse, IssuerInfo,
    LoadRequest, LoadResponse, LoadsResponse, NewUnlockRequest, RefusedCredit, TransfersRequest,
    TransfersResponse, UnloadRequest, UnlockStatus,
};
use ecash_card::client::{CardBank, PurseClient, UnlockOutcome, transfer};
use ecash_card::exception::ExceptionRecord;
use ecash_card::host::cmd;
use ecash_card::load::LoadAuth;
use ecash_card::log::LogEntry;
use ecash_card::risk::LockReason;
use ecash_card::settle::{CREDIT_LOG_CAPACITY, Credit};
use ecash_card::transport::virtual_reader::{Persister, VirtualReader};
use ecash_card::unload::{UnloadOrder, UnloadProof, destination_for_account};
use ecash_card::{CardId, CardPublicKey, Mode, Pin, Purpose, VirtualCard};
use ecash_card::{CardTransport, ReaderInfo};
use ecash_shared::{Amount, Currency, ErrorCode, ErrorResponse};
use ecash_wallet::WalletError;
use ecash_wallet::storage::{Storage, Store, Write};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;
use zeroize::Zeroizing;

use crate::components::field::Field;
use crate::hooks::{ops, use_app};
use crate::input::parse_amount;
use crate::services::idb::IdbStorage;
use crate::services::reader::{self, PageReader, ReaderKind, describe_card_error};
use crate::services::wallet::db_name_for;
use crate::state::WebWallet;

const PERSONAL: &str = "personal";
const TERMINAL: &str = "terminal";

type Purse = PurseClient<PageReader>;

/// The purses and where they are kept.
struct Env {
    /// The page's virtual cards (the personal one, used when the picker says so, and
    /// the terminal).
    reader: VirtualReader,
    /// The terminal's reader (the page's virtual cards).
    terminal: PageReader,
    /// Where the holder's purse is: a reader and the name of the reader slot holding
    /// it; `None` until a device is connected.
    personal: Option<(PageReader, String)>,
    store: Rc<IdbStorage>,
    bank_url: String,
}

impl Env {
    /// The same purses with the holder's purse in `personal`.
    fn with_personal(&self, personal: Option<(PageReader, String)>) -> Env {
        Env {
            reader: self.reader.clone(),
            terminal: self.terminal.clone(),
            personal,
            store: self.store.clone(),
            bank_url: self.bank_url.clone(),
        }
    }

    /// The page's own virtual personal purse.
    fn virtual_personal(&self) -> Option<(PageReader, String)> {
        Some((
            PageReader::virtual_cards(self.reader.clone()),
            PERSONAL.to_owned(),
        ))
    }

    /// Whether the holder's purse is the page's virtual one.
    fn personal_is_virtual(&self) -> bool {
        self.personal.as_ref().is_some_and(|(r, _)| r.is_virtual())
    }

    /// Frees cards a failed operation left connected.
    async fn release_left_open(&self) {
        if let Some((mut r, _)) = self.personal.clone() {
            r.release_left_open().await;
        }
        self.terminal.clone().release_left_open().await;
    }
}

/// What the page shows of the purses.
#[derive(Clone, Default, PartialEq)]
struct View {
    /// The holder's purse (`None`: not certified, or no device connected).
    personal: Option<PurseView>,
    /// Whether the holder's purse is reachable (a device connected).
    connected: bool,
    /// The shop terminal (`None`: not certified).
    terminal: Option<PurseView>,
    /// The purses their risk rules locked.
    locked: Vec<Locked>,
    log: Vec<String>,
}

/// A certified purse as the page shows it.
#[derive(Clone, PartialEq)]
struct PurseView {
    /// Its balance (GET STATUS), unsettled credits included.
    balance: Amount,
    /// Value it took offline that the bank has not settled yet: part of the balance,
    /// not spendable until a sync settles it.
    unsettled: Amount,
    /// The card as the bank's ledger sees it (`GET /v1/cards/{id}`): `None` when the
    /// bank was not asked (logged out), the reason when the answer did not come.
    bank: Option<Result<CardInfo, String>>,
}

impl PurseView {
    /// What the purse can pay out or unload now.
    fn spendable(&self) -> Amount {
        spendable(self.balance, self.unsettled)
    }
}

/// `balance − unsettled`: what a purse pays out or unloads (its unsettled credits are
/// part of its balance, so this never goes below zero on a genuine card).
fn spendable(balance: Amount, unsettled: Amount) -> Amount {
    balance.checked_sub(unsettled).unwrap_or(Amount::ZERO)
}

/// A locked purse.
#[derive(Clone, PartialEq)]
struct Locked {
    slot: &'static str,
    card_id: CardId,
    reason: LockReason,
    /// Where its unlock stands at the bank, in words.
    unlock: String,
}

fn slot_name(slot: &str) -> &'static str {
    if slot == PERSONAL {
        "Your purse"
    } else {
        "The shop terminal"
    }
}

fn lock_reason(r: LockReason) -> &'static str {
    match r {
        LockReason::PerTransferLimit => "a payment over its per-payment limit was attempted",
        LockReason::DailyLimit => "payments over its daily limit were attempted",
    }
}

/// An unlock's state at the bank, in words.
fn describe_unlock(o: &UnlockOutcome) -> String {
    match o {
        UnlockOutcome::NotLocked => "It is not locked.".to_owned(),
        UnlockOutcome::NotRequested | UnlockOutcome::Stale { .. } => {
            "No unlock requested for this lock yet.".to_owned()
        }
        UnlockOutcome::Pending { unlock_seq } => {
            format!("Unlock {unlock_seq} requested: waiting for the bank's decision.")
        }
        UnlockOutcome::Approved { unlock_seq } => {
            format!("Unlock {unlock_seq} approved by the bank: press 'Sync with bank' to apply it.")
        }
        UnlockOutcome::Refused { unlock_seq, note } => format!(
            "Unlock {unlock_seq} refused by the bank{}.",
            note.as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        ),
        UnlockOutcome::Unlocked { .. } => "Unlocked.".to_owned(),
        _ => "Unknown.".to_owned(),
    }
}

fn state_key(slot: &str) -> String {
    format!("card:{slot}")
}

fn proof_key(slot: &str) -> String {
    format!("unload-proof:{slot}")
}

fn today() -> u32 {
    (js_sys::Date::now() / 86_400_000.0) as u32
}

async fn open_env(bank_url: String, kind: ReaderKind) -> Result<Rc<Env>, String> {
    let store = Rc::new(
        IdbStorage::open(&format!("{} cards", db_name_for(&bank_url)))
            .await
            .map_err(|e| e.to_string())?,
    );
    let reader = VirtualReader::new();
    for slot in [PERSONAL, TERMINAL] {
        let card = match store
            .get(Store::Meta, &state_key(slot))
            .await
            .map_err(|e| e.to_string())?
        {
            Some(json) => VirtualCard::from_json(&json).map_err(|e| e.to_string())?,
            None => VirtualCard::blank().map_err(|e| e.to_string())?,
        };
        reader.insert(slot, card);
    }
    let s = store.clone();
    let persister: Persister = Rc::new(move |slot: String, json: Zeroizing<String>| {
        let s = s.clone();
        Box::pin(async move {
            s.commit(vec![Write::Put(
                Store::Meta,
                state_key(&slot),
                json.to_string(),
            )])
            .await
            .map_err(|e| ecash_card::Error::Storage(e.to_string()))
        })
    });
    reader.set_persister(persister);
    let env = Env {
        terminal: PageReader::virtual_cards(reader.clone()),
        reader,
        personal: None,
        store,
        bank_url,
    };
    // A device must be chosen again (USB and HID need a click; the bridge its token).
    let personal = match kind {
        ReaderKind::Virtual => env.virtual_personal(),
        _ => None,
    };
    Ok(Rc::new(env.with_personal(personal)))
}

/// Why a bank call failed.
enum CallError {
    /// The bank answered `{code, detail}`.
    Refused(ErrorResponse),
    /// No usable answer.
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Refused(e) => f.write_str(&refusal_text(e)),
            CallError::Failed(msg) => f.write_str(msg),
        }
    }
}

/// The bank's refusal in words: the wallet's plain language for what the holder must
/// act on (a card caught over-spending, an account in debt), the bank's detail and
/// code otherwise.
fn refusal_text(e: &ErrorResponse) -> String {
    match e.code {
        ErrorCode::CardOverspent | ErrorCode::AccountInDebt => {
            WalletError::Bank(e.clone()).to_string()
        }
        _ => format!("The bank refused: {} ({})", e.detail, e.code),
    }
}

/// A bank call with the session's bearer token; errors as the text to show.
async fn call<B: Serialize, T: DeserializeOwned>(
    env: &Env,
    token: Option<&str>,
    path: &str,
    body: Option<&B>,
) -> Result<T, String> {
    call_coded(env, token, path, body)
        .await
        .map_err(|e| e.to_string())
}

/// A bank call with the session's bearer token.
async fn call_coded<B: Serialize, T: DeserializeOwned>(
    env: &Env,
    token: Option<&str>,
    path: &str,
    body: Option<&B>,
) -> Result<T, CallError> {
    let url = format!("{}{path}", env.bank_url.trim_end_matches('/'));
    let mut builder = gloo_net::http::RequestBuilder::new(&url).method(if body.is_some() {
        gloo_net::http::Method::POST
    } else {
        gloo_net::http::Method::GET
    });
    let auth;
    if let Some(t) = token {
        auth = format!("Bearer {t}");
        builder = builder.header("Authorization", &auth);
    }
    let failed = |e: gloo_net::Error| CallError::Failed(e.to_string());
    let request = match body {
        Some(b) => builder.json(b),
        None => builder.build(),
    }
    .map_err(failed)?;
    let response = request
        .send()
        .await
        .map_err(|_| CallError::Failed("the bank is not reachable".to_owned()))?;
    let status = response.status();
    let text = response.text().await.map_err(failed)?;
    if (200..300).contains(&status) {
        serde_json::from_str(&text)
            .map_err(|e| CallError::Failed(format!("unexpected answer from the bank: {e}")))
    } else {
        Err(match serde_json::from_str::<ErrorResponse>(&text) {
            Ok(e) => CallError::Refused(e),
            Err(_) => CallError::Failed(format!("The bank answered status {status}")),
        })
    }
}

/// The bank's card endpoints for [`PurseClient`]'s settling steps, with the session's token.
struct PageBank<'a> {
    env: &'a Env,
    token: &'a str,
}

impl CardBank for PageBank<'_> {
    async fn upload_exceptions(
        &self,
        card_id: CardId,
        records: Vec<ExceptionRecord>,
    ) -> Result<ExceptionsResponse, ecash_card::Error> {
        call(
            self.env,
            Some(self.token),
            &format!("/v1/cards/{card_id}/exceptions"),
            Some(&ExceptionsRequest { records }),
        )
        .await
        .map_err(ecash_card::Error::Bank)
    }

    async fn settle_transfers(
        &self,
        card_id: CardId,
        credits: Vec<Credit>,
    ) -> Result<TransfersResponse, ecash_card::Error> {
        call(
            self.env,
            Some(self.token),
            &format!("/v1/cards/{card_id}/transfers"),
            Some(&TransfersRequest { credits }),
        )
        .await
        .map_err(ecash_card::Error::Bank)
    }

    async fn loads_from(
        &self,
        card_id: CardId,
        from: u32,
    ) -> Result<Vec<LoadAuth>, ecash_card::Error> {
        call::<(), LoadsResponse>(
            self.env,
            Some(self.token),
            &format!("/v1/cards/{card_id}/loads?from={from}"),
            None,
        )
        .await
        .map(|r| r.loads)
        .map_err(ecash_card::Error::Bank)
    }

    async fn request_unlock(
        &self,
        card_id: CardId,
        request: &NewUnlockRequest,
    ) -> Result<UnlockStatus, ecash_card::Error> {
        call(
            self.env,
            Some(self.token),
            &format!("/v1/cards/{card_id}/unlock-requests"),
            Some(request),
        )
        .await
        .map_err(ecash_card::Error::Bank)
    }

    async fn unlock_status(
        &self,
        card_id: CardId,
    ) -> Result<Option<UnlockStatus>, ecash_card::Error> {
        let path = format!("/v1/cards/{card_id}/unlock");
        match call_coded::<(), _>(self.env, Some(self.token), &path, None).await {
            Ok(s) => Ok(Some(s)),
            Err(CallError::Refused(e)) if e.code == ErrorCode::NoUnlockRequest => Ok(None),
            Err(e) => Err(ecash_card::Error::Bank(e.to_string())),
        }
    }
}

async fn connect(env: &Env, slot: &str) -> Result<Purse, String> {
    let (transport, name) = if slot == PERSONAL {
        env.personal
            .clone()
            .ok_or("Connect the reader holding your purse first (Reader: Connect).")?
    } else {
        (env.terminal.clone(), slot.to_owned())
    };
    PurseClient::connect(transport, &name)
        .await
        .map_err(|e| format!("{}: {}", slot_name(slot), describe_card_error(&e)))
}

fn card_err(what: &str) -> impl Fn(ecash_card::Error) -> String + '_ {
    move |e| format!("{what}: {}", describe_card_error(&e))
}

fn describe(e: &LogEntry) -> String {
    format!(
        "day {}: {:?} {} ({:?}), balance after {}",
        e.day, e.kind, e.amount, e.status, e.balance_after
    )
}

/// Balances of both purses, their locks (with the bank's answer when logged in), and
/// the personal purse's log when the PIN is given.
async fn read_view(env: &Env, pin: Option<&Pin>, token: Option<&str>) -> Result<View, String> {
    let mut view = View {
        connected: env.personal.is_some(),
        ..View::default()
    };
    for slot in [PERSONAL, TERMINAL] {
        if slot == PERSONAL && env.personal.is_none() {
            continue;
        }
        let mut purse = connect(env, slot).await?;
        let shown = if let Some(card_id) = purse.cert().map(|c| c.card_id) {
            let status = purse.status().await.map_err(card_err("status"))?;
            if let Some(reason) = status.lock {
                let unlock = match token {
                    Some(token) => match purse.check_unlock(&PageBank { env, token }).await {
                        Ok(o) => describe_unlock(&o),
                        Err(e) => format!("The bank's answer is unknown: {e}"),
                    },
                    None => "Log in to ask the bank to unlock it.".to_owned(),
                };
                view.locked.push(Locked {
                    slot,
                    card_id,
                    reason,
                    unlock,
                });
            }
            // The bank's view is extra: the purse is shown without it when it fails.
            let bank = match token {
                Some(token) => Some(card_info(env, token, card_id).await),
                None => None,
            };
            Some(PurseView {
                balance: status.balance,
                unsettled: status.unsettled,
                bank,
            })
        } else {
            None
        };
        if slot == PERSONAL {
            let certified = shown.is_some();
            view.personal = shown;
            if let (Some(pin), true) = (pin, certified) {
                purse.verify_pin(pin).await.map_err(card_err("PIN"))?;
                view.log = purse
                    .log()
                    .await
                    .map_err(card_err("log"))?
                    .iter()
                    .map(describe)
                    .collect();
            }
        } else {
            view.terminal = shown;
        }
        let _ = purse.disconnect().await;
    }
    Ok(view)
}

/// `GET /v1/cards/{id}`: the card as the bank's ledger sees it.
async fn card_info(env: &Env, token: &str, card_id: CardId) -> Result<CardInfo, String> {
    call::<(), _>(env, Some(token), &format!("/v1/cards/{card_id}"), None).await
}

/// INITIALIZE blank purses with the bank's issuer key, certify them, PERSONALIZE.
/// Returns the PUK chosen for new purses.
async fn certify(env: &Env, token: &str, pin: &Pin) -> Result<Option<String>, String> {
    let info: IssuerInfo = call::<(), _>(env, None, "/v1/cards/issuer", None).await?;
    let mut puk_text = None;
    for (slot, mode) in [(PERSONAL, Mode::Personal), (TERMINAL, Mode::Terminal)] {
        let mut purse = connect(env, slot).await?;
        if purse.cert().is_some() {
            continue;
        }
        if purse.status().await.map_err(card_err("status"))?.lifecycle != 0 {
            // Initialized but never personalized (an interrupted attempt): it holds
            // nothing; start again from a blank card — which only the page can do
            // for its own virtual cards.
            if slot == PERSONAL && !env.personal_is_virtual() {
                return Err("The card in the reader was initialized but never \
                            personalized (an interrupted certification); this page \
                            cannot reset it."
                    .to_owned());
            }
            drop(purse);
            env.reader
                .insert(slot, VirtualCard::blank().map_err(|e| e.to_string())?);
            purse = connect(env, slot).await?;
        }
        let key = purse
            .exchange(&cmd::initialize(&info.issuer_key))
            .await
            .map_err(card_err("initialize"))?;
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| "the card answered a malformed key".to_owned())?;
        let card_pub = CardPublicKey::from_bytes(&key).map_err(card_err("card key"))?;
        let r: CertifyResponse = call(
            env,
            Some(token),
            "/v1/cards",
            Some(&CertifyRequest { card_pub, mode }),
        )
        .await?;
        r.cert
            .verify(&info.issuer_key)
            .map_err(card_err("certificate"))?;
        let puk = puk_text.get_or_insert_with(random_puk).clone();
        let puk = Pin::new_puk(&puk).map_err(card_err("PUK"))?;
        purse
            .exchange(&cmd::personalize(&r.cert, pin, &puk))
            .await
            .map_err(card_err("personalize"))?;
        let _ = purse.disconnect().await;
    }
    Ok(puk_text)
}

fn random_puk() -> String {
    let mut bytes = [0u8; 8];
    // Without randomness the card refuses a weak PUK anyway; zeros are only a fallback.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

/// Where a load's value comes from.
enum LoadSource {
    /// The holder's bank account.
    Account,
    /// The wallet's coins, deposited into the account first.
    Coins(Rc<WebWallet>),
}

/// Loads `amount` onto the holder's purse; the message to show.
async fn load(
    env: &Env,
    token: &str,
    amount: Amount,
    source: &LoadSource,
) -> Result<String, String> {
    let mut purse = connect(env, PERSONAL).await?;
    let cert = purse.cert().cloned().ok_or("certify the purses first")?;
    // Authorizations the bank already holds for the card come first: the card takes
    // its loads in order.
    purse
        .fetch_loads(&PageBank { env, token })
        .await
        .map_err(card_err("pending loads"))?;
    let status = purse.status().await.map_err(card_err("status"))?;
    if let Some(reason) = status.lock {
        return Err(format!(
            "Your purse is locked ({}): it takes no load until the bank unlocks it.",
            lock_reason(reason)
        ));
    }
    let cap = cert.profile.balance_cap;
    let room = cap.checked_sub(status.balance).unwrap_or(Amount::ZERO);
    if amount > room {
        return Err(format!(
            "Your purse holds {} and may hold at most {cap}: at most {room} more can be loaded.",
            status.balance
        ));
    }
    if let LoadSource::Coins(wallet) = source {
        wallet
            .deposit(amount)
            .await
            .map_err(|e| format!("The wallet's coins were not deposited: {e}"))?;
    }
    let loaded: Result<LoadResponse, String> = call(
        env,
        Some(token),
        &format!("/v1/cards/{}/loads", cert.card_id),
        Some(&LoadRequest {
            amount,
            load_seq: status.next_load_seq,
        }),
    )
    .await;
    let r = loaded.map_err(|e| match source {
        LoadSource::Account => e,
        LoadSource::Coins(_) => format!(
            "Your coins worth {amount} are now in your bank account, but the purse was not \
             loaded: {e}. Load it from the bank account."
        ),
    })?;
    // Should this fail, the bank keeps the authorization: the next load or sync
    // fetches it.
    purse.load(&r.auth).await.map_err(card_err("load"))?;
    let _ = purse.disconnect().await;
    Ok(match source {
        LoadSource::Account => format!("Loaded {amount} onto the purse."),
        LoadSource::Coins(_) => {
            format!("Loaded {amount} onto the purse from the wallet's coins.")
        }
    })
}

/// What settling the purses' credits did (see [`settle_credits`]).
#[derive(Default)]
struct Settled {
    /// Credits the bank settled: now spendable.
    count: usize,
    /// Their total.
    amount: Amount,
    /// Credits the bank refused for good (the card dropped them with their value).
    refused: Vec<RefusedCredit>,
    /// The purses' currency.
    currency: Option<Currency>,
}

impl Settled {
    /// The sentences to show; empty when there was nothing to settle.
    fn describe(&self) -> String {
        let currency = self
            .currency
            .as_ref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        let payments = |n: usize| if n == 1 { "payment" } else { "payments" };
        let mut out = String::new();
        if self.count > 0 {
            out += &format!(
                " Settled {} {} received offline ({}{currency}); now spendable.",
                self.count,
                payments(self.count),
                self.amount
            );
        }
        for r in &self.refused {
            out += &format!(
                " The bank refused 1 payment of {}{currency}: {}; the card dropped it.",
                r.amount,
                r.reason.trim_end_matches('.')
            );
        }
        out
    }
}

/// Presents the purse's credits taken offline to the bank and applies its clearance
/// ([`PurseClient::settle_credits`]): settled ones become spendable, refused ones
/// leave the card. Adds what happened to `into`.
async fn settle_credits(
    purse: &mut Purse,
    bank: &PageBank<'_>,
    into: &mut Settled,
) -> Result<(), String> {
    let Some(cert) = purse.cert().cloned() else {
        return Ok(());
    };
    // The credits as sent, for their amounts (the bank answers sequence numbers).
    let credits = purse
        .credits()
        .await
        .map_err(card_err("payments received"))?;
    if credits.is_empty() {
        return Ok(());
    }
    let Some(answer) = purse
        .settle_credits(bank)
        .await
        .map_err(card_err("settling payments received"))?
    else {
        return Ok(());
    };
    into.currency = Some(cert.profile.currency);
    for c in &credits {
        let t = c.terms();
        if answer.settled.contains(&t.payee_seq) {
            into.count += 1;
            into.amount = into
                .amount
                .checked_add(t.amount)
                .map_err(|e| e.to_string())?;
        }
    }
    into.refused.extend(answer.refused);
    Ok(())
}

/// Settles both purses with the bank (see the module docs); the message to show. A
/// purse the bank blocked (a copy of it caught over-spending, perhaps by this very
/// sync) takes no further part: the bank refuses its settling and loads, and the
/// message says so.
async fn sync(env: &Env, token: &str) -> Result<String, String> {
    let bank = PageBank { env, token };
    let mut cleared = 0;
    let mut settled = Settled::default();
    let mut unlocked = String::new();
    let mut blocked = String::new();
    let mut open = Vec::new();
    for slot in [PERSONAL, TERMINAL] {
        let mut purse = connect(env, slot).await?;
        if let Some(card_id) = purse.cert().map(|c| c.card_id) {
            let steps = async {
                let outcome = purse
                    .apply_unlock(&bank)
                    .await
                    .map_err(card_err("unlock"))?;
                settle_credits(&mut purse, &bank, &mut settled).await?;
                cleared += purse
                    .settle_exceptions(&bank)
                    .await
                    .map_err(card_err("exception log"))?;
                Ok::<_, String>(outcome)
            };
            match steps.await {
                Ok(UnlockOutcome::NotLocked) => open.push(slot),
                Ok(UnlockOutcome::Unlocked { .. }) => {
                    unlocked += &format!("{} is unlocked. ", slot_name(slot));
                    open.push(slot);
                }
                Ok(_) => {}
                Err(msg) => match blocked_by_bank(env, token, card_id).await {
                    Some(reason) => blocked += &not_synced(slot, &reason),
                    None => return Err(msg),
                },
            }
        }
        let _ = purse.disconnect().await;
    }
    let mut loaded = Amount::ZERO;
    // A locked purse takes no load: what the bank holds for it waits for the unlock.
    for slot in open {
        let mut purse = connect(env, slot).await?;
        if let Some(card_id) = purse.cert().map(|c| c.card_id) {
            match purse.fetch_loads(&bank).await {
                Ok(receipts) => {
                    for r in receipts {
                        loaded = loaded
                            .checked_add(r.body.amount)
                            .map_err(|e| e.to_string())?;
                    }
                }
                // Blocked by the settling of the other purse's credits above.
                Err(e) => match blocked_by_bank(env, token, card_id).await {
                    Some(reason) => blocked += &not_synced(slot, &reason),
                    None => return Err(card_err("loads")(e)),
                },
            }
        }
        let _ = purse.disconnect().await;
    }
    Ok(format!(
        "{unlocked}Synced with the bank: {cleared} exception record(s) cleared, {loaded} loaded onto the purses.{}{blocked}",
        settled.describe()
    ))
}

/// Why the bank blocked the card, if it says it did (no answer: not known to be).
async fn blocked_by_bank(env: &Env, token: &str, card_id: CardId) -> Option<String> {
    card_info(env, token, card_id).await.ok()?.blocked
}

/// The sync message's sentence for a purse the bank blocked.
fn not_synced(slot: &str, reason: &str) -> String {
    format!(
        " {} was not synced: the bank blocked it ({reason}).",
        slot_name(slot)
    )
}

/// Asks the bank to unlock the purse in `slot`; the message to show.
async fn request_unlock(
    env: &Env,
    token: &str,
    slot: &str,
    reason: Option<String>,
) -> Result<String, String> {
    let mut purse = connect(env, slot).await?;
    if purse.cert().is_none() {
        return Err("certify the purses first".to_owned());
    }
    let asked = purse
        .request_unlock(&PageBank { env, token }, reason)
        .await
        .map_err(card_err("unlock request"))?;
    let _ = purse.disconnect().await;
    Ok(format!(
        "{} asked the bank to unlock it (unlock {}). Once the bank approves, press 'Sync with bank'.",
        slot_name(slot),
        asked.unlock_seq
    ))
}

async fn pay(env: &Env, pin: &Pin, amount: Amount) -> Result<(), String> {
    let mut payer = connect(env, PERSONAL).await?;
    let mut payee = connect(env, TERMINAL).await?;
    // What the cards would refuse for want of a sync, said before they are asked.
    if payer.cert().is_some() && payee.cert().is_some() {
        let from = payer.status().await.map_err(card_err("status"))?;
        let available = spendable(from.balance, from.unsettled);
        if !from.unsettled.is_zero() && amount > available {
            return Err(format!(
                "Your purse can pay at most {available} now: {} of its {} was received \
                 offline and is not settled by the bank yet. Press 'Sync with bank' to make \
                 it spendable.",
                from.unsettled, from.balance
            ));
        }
        let to = payee.status().await.map_err(card_err("status"))?;
        if usize::from(to.credits) >= CREDIT_LOG_CAPACITY {
            return Err(format!(
                "The shop terminal holds {} payments not yet settled by the bank, as many as \
                 it can keep: press 'Sync with bank' before it takes another.",
                to.credits
            ));
        }
    }
    payer.verify_pin(pin).await.map_err(card_err("PIN"))?;
    transfer(&mut payer, &mut payee, amount, Purpose::Payment, today())
        .await
        .map_err(card_err("transfer"))?;
    let _ = payer.disconnect().await;
    let _ = payee.disconnect().await;
    Ok(())
}

/// Sends a stored unload proof; forgets it once the bank credited it (now or before).
async fn send_proof(env: &Env, token: &str, slot: &str) -> Result<Option<Amount>, String> {
    let Some(json) = env
        .store
        .get(Store::Meta, &proof_key(slot))
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let proof: UnloadProof = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let amount = proof.body.amount;
    let path = format!("/v1/cards/{}/unloads", proof.body.card_id);
    // On any failure the proof stays stored and is sent again by the next unload
    // (the bank credits a proof once, so sending it twice is safe).
    let _: serde_json::Value = call(env, Some(token), &path, Some(&UnloadRequest { proof }))
        .await
        .map_err(|e| format!("{e} (the unload proof is kept and sent again next time)"))?;
    env.store
        .commit(vec![Write::Delete(Store::Meta, proof_key(slot))])
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(amount))
}

/// UNLOADs the whole balance of both purses to the logged-in account, after settling
/// their credits taken offline (a purse unloads only what the bank has settled); the
/// message to show. An error after one purse was unloaded says how much was.
async fn unload(env: &Env, token: &str, username: &str, pin: &Pin) -> Result<String, String> {
    let bank = PageBank { env, token };
    let mut settled = Settled::default();
    let mut skipped = String::new();
    let mut total = Amount::ZERO;
    for slot in [PERSONAL, TERMINAL] {
        let unloaded = unload_purse(env, &bank, username, pin, slot, &mut settled, &mut skipped)
            .await
            .map_err(|msg| {
                let done = if total.is_zero() {
                    String::new()
                } else {
                    format!(" {total} was unloaded before that.")
                };
                format!("{msg}{done}{}{skipped}", settled.describe())
            })?;
        total = total.checked_add(unloaded).map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "Unloaded {total} back to your bank account.{}{skipped}",
        settled.describe()
    ))
}

/// UNLOADs the whole balance of the purse in `slot` (its credits settled first);
/// answers what the bank credited, a proof left from an earlier unload included. A
/// purse the bank blocked is left as it is (the bank would credit nothing), said in
/// `skipped`.
async fn unload_purse(
    env: &Env,
    bank: &PageBank<'_>,
    username: &str,
    pin: &Pin,
    slot: &str,
    settled: &mut Settled,
    skipped: &mut String,
) -> Result<Amount, String> {
    let mut total = Amount::ZERO;
    // A proof from an earlier, interrupted unload goes first.
    if let Some(a) = send_proof(env, bank.token, slot).await? {
        total = a;
    }
    let mut purse = connect(env, slot).await?;
    let Some(card_id) = purse.cert().map(|c| c.card_id) else {
        return Ok(total);
    };
    let before = purse.status().await.map_err(card_err("status"))?;
    if before.balance.is_zero() {
        return Ok(total);
    }
    if let Some(reason) = blocked_by_bank(env, bank.token, card_id).await {
        *skipped += &format!(
            " {} was not unloaded: the bank blocked it ({reason}).",
            slot_name(slot)
        );
        return Ok(total);
    }
    settle_credits(&mut purse, bank, settled).await?;
    let status = purse.status().await.map_err(card_err("status"))?;
    let balance = status.balance;
    if balance.is_zero() {
        return Ok(total);
    }
    // The card would refuse to unload value it has not had settled: said plainly,
    // and the card is not asked.
    if balance > spendable(balance, status.unsettled) {
        return Err(format!(
            "{} holds {balance}, but {} of it was received offline and the bank has not \
             settled it yet, so it cannot be unloaded: nothing was taken from it. Press \
             'Sync with bank', then unload again.",
            slot_name(slot),
            status.unsettled,
        ));
    }
    purse.verify_pin(pin).await.map_err(card_err("PIN"))?;
    let proof = purse
        .unload(&UnloadOrder {
            amount: balance,
            destination: destination_for_account(username),
            day: today(),
        })
        .await
        .map_err(card_err("unload"))?;
    let _ = purse.disconnect().await;
    let json = serde_json::to_string(&proof).map_err(|e| e.to_string())?;
    env.store
        .commit(vec![Write::Put(Store::Meta, proof_key(slot), json)])
        .await
        .map_err(|e| e.to_string())?;
    if let Some(a) = send_proof(env, bank.token, slot).await? {
        total = total.checked_add(a).map_err(|e| e.to_string())?;
    }
    Ok(total)
}

/// Opens the device the picker names, lists its readers (the [`CardTransport`] way)
/// and picks the one holding a card — `wanted` if given. Answers the purses with the
/// holder's purse there, the readers, and the chosen reader's name.
async fn connect_reader(
    env: &Env,
    kind: ReaderKind,
    bridge_url: &str,
    token: &str,
    wanted: Option<String>,
) -> Result<(Env, Vec<ReaderInfo>, String), String> {
    let mut device = PageReader::open(kind, bridge_url, token).await?;
    let readers = device
        .list_readers()
        .await
        .map_err(|e| card_err("listing the readers")(e.into()))?;
    let name = pick_reader(&readers, wanted.as_deref())?;
    let env = env.with_personal(Some((device, name.clone())));
    Ok((env, readers, name))
}

/// The reader to use: `wanted` if listed, else the first holding a card.
fn pick_reader(readers: &[ReaderInfo], wanted: Option<&str>) -> Result<String, String> {
    let chosen = match wanted {
        Some(w) => readers.iter().find(|r| r.name == w),
        None => readers.iter().find(|r| r.card_present),
    };
    match chosen {
        Some(r) if r.card_present => Ok(r.name.clone()),
        Some(r) => Err(format!(
            "No card in {}: insert your purse and press Connect again.",
            r.name
        )),
        None if readers.is_empty() => {
            Err("No reader found: plug one in and press Connect again.".to_owned())
        }
        None => Err("No card in any reader: insert your purse and press Connect again.".to_owned()),
    }
}

/// The Card page (`#/card`).
#[component]
pub fn Card() -> Html {
    let ctx = use_app();
    let env = use_state(|| None::<Rc<Env>>);
    let view = use_state(View::default);
    let error = use_state(|| None::<String>);
    let info = use_state(|| None::<String>);
    let busy = use_state(|| false);
    let pin = use_state(String::new);
    let load_amount = use_state(String::new);
    let pay_amount = use_state(String::new);
    let unlock_reason = use_state(String::new);
    let choice = use_state(reader::load_choice);
    let bridge_url = use_state(|| choice.1.clone());
    let bridge_token = use_state(String::new);
    let readers = use_state(Vec::<ReaderInfo>::new);
    let kind = choice.0;

    // The bank's URL arrives after the first render (from the session): only the
    // purses of the latest URL are shown, whichever opening finishes last.
    let generation = use_mut_ref(|| 0u32);
    {
        let (env, view, error) = (env.clone(), view.clone(), error.clone());
        let bank_url = ctx.bank_url.clone();
        let token = ctx
            .wallet
            .as_ref()
            .and_then(|w| w.session())
            .map(|s| s.token);
        let generation = generation.clone();
        use_effect_with(bank_url.clone(), move |_| {
            let mine = {
                let mut g = generation.borrow_mut();
                *g = g.wrapping_add(1);
                *g
            };
            let current = move || *generation.borrow() == mine;
            spawn_local(async move {
                // The choice as it is now: it may have changed while this opened.
                match open_env(bank_url, reader::load_choice().0).await {
                    Ok(e) => {
                        let v = read_view(&e, None, token.as_deref()).await;
                        if !current() {
                            return;
                        }
                        match v {
                            Ok(v) => view.set(v),
                            Err(msg) => error.set(Some(msg)),
                        }
                        env.set(Some(e));
                    }
                    Err(msg) => error.set(Some(format!("The purses cannot be stored: {msg}"))),
                }
            });
        });
    }

    // Runs one purse operation, then re-reads the purses.
    let run = {
        let (env, view, error, info, busy, pin) = (
            env.clone(),
            view.clone(),
            error.clone(),
            info.clone(),
            busy.clone(),
            pin.clone(),
        );
        let ctx = ctx.clone();
        Rc::new(move |op: Op| {
            let Some(e) = (*env).clone() else { return };
            let pin_value = match Pin::new(pin.trim()) {
                Ok(p) => p,
                Err(_) => return error.set(Some("Enter the purse PIN (4 to 8 digits).".into())),
            };
            let session = ctx
                .wallet
                .as_ref()
                .and_then(|w| w.session())
                .map(|s| (s.token, s.username));
            let (view, error, info, busy, ctx) = (
                view.clone(),
                error.clone(),
                info.clone(),
                busy.clone(),
                ctx.clone(),
            );
            busy.set(true);
            error.set(None);
            info.set(None);
            let token = session.as_ref().map(|(t, _)| t.clone());
            spawn_local(async move {
                e.release_left_open().await;
                match op(e.clone(), session, pin_value.clone()).await {
                    Ok(msg) => info.set(Some(msg)),
                    Err(msg) => error.set(Some(msg)),
                }
                match read_view(&e, Some(&pin_value), token.as_deref()).await {
                    Ok(v) => view.set(v),
                    Err(msg) => error.set(Some(msg)),
                }
                // A load from the coins changed the wallet too.
                if let Some(w) = ctx.wallet.clone() {
                    ops::refresh(&ctx, &w).await;
                }
                busy.set(false);
            });
        })
    };

    let need_login = |s: Option<(String, String)>| s.ok_or_else(|| "Log in first.".to_owned());

    let on_pin = {
        let run = run.clone();
        Callback::from(move |_: MouseEvent| {
            run(Rc::new(|_, _, _| {
                Box::pin(async { Ok("PIN accepted.".to_owned()) })
            }))
        })
    };
    let on_certify = {
        let run = run.clone();
        Callback::from(move |_: MouseEvent| {
            run(Rc::new(move |e, s, pin| {
                Box::pin(async move {
                    let (token, _) = need_login(s)?;
                    Ok(match certify(&e, &token, &pin).await? {
                        Some(puk) => format!(
                            "Purses certified. Their PUK (to unblock the PIN) is {puk}: note it now."
                        ),
                        None => "The purses are already certified.".to_owned(),
                    })
                })
            }))
        })
    };
    let on_load = {
        let (run, amount, error) = (run.clone(), load_amount.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            let value = match parse_amount(&amount) {
                Ok(v) => v,
                Err(msg) => return error.set(Some(msg)),
            };
            run(Rc::new(move |e, s, _| {
                Box::pin(async move {
                    let (token, _) = need_login(s)?;
                    load(&e, &token, value, &LoadSource::Account).await
                })
            }))
        })
    };
    let on_load_coins = {
        let (run, amount, error) = (run.clone(), load_amount.clone(), error.clone());
        let ctx = ctx.clone();
        Callback::from(move |_: MouseEvent| {
            let value = match parse_amount(&amount) {
                Ok(v) => v,
                Err(msg) => return error.set(Some(msg)),
            };
            let Some(wallet) = ctx.wallet.clone() else {
                return error.set(Some(ctx.startup_error.clone().unwrap_or_else(|| {
                    "The wallet is still starting: try again in a moment.".into()
                })));
            };
            let lock = ctx.lock.clone();
            run(Rc::new(move |e, s, _| {
                let (wallet, lock) = (wallet.clone(), lock.clone());
                Box::pin(async move {
                    let (token, _) = need_login(s)?;
                    // One wallet operation at a time: two could pick the same coins.
                    if lock.replace(true) {
                        return Err(
                            "Please wait: another wallet operation is still running.".into()
                        );
                    }
                    let r = load(&e, &token, value, &LoadSource::Coins(wallet)).await;
                    lock.set(false);
                    r
                })
            }))
        })
    };
    let on_pay = {
        let (run, amount, error) = (run.clone(), pay_amount.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            let value = match parse_amount(&amount) {
                Ok(v) => v,
                Err(msg) => return error.set(Some(msg)),
            };
            run(Rc::new(move |e, _, pin| {
                Box::pin(async move {
                    pay(&e, &pin, value).await?;
                    Ok(format!("Paid {value} to the shop terminal, offline."))
                })
            }))
        })
    };
    let on_unload = {
        let run = run.clone();
        Callback::from(move |_: MouseEvent| {
            run(Rc::new(move |e, s, pin| {
                Box::pin(async move {
                    let (token, username) = need_login(s)?;
                    unload(&e, &token, &username, &pin).await
                })
            }))
        })
    };

    let on_sync = {
        let run = run.clone();
        Callback::from(move |_: MouseEvent| {
            run(Rc::new(move |e, s, _| {
                Box::pin(async move {
                    let (token, _) = need_login(s)?;
                    sync(&e, &token).await
                })
            }))
        })
    };

    let on_request_unlock = |slot: &'static str| {
        let (run, reason) = (run.clone(), unlock_reason.clone());
        Callback::from(move |_: MouseEvent| {
            let reason = Some(reason.trim().to_owned()).filter(|r| !r.is_empty());
            run(Rc::new(move |e, s, _| {
                let reason = reason.clone();
                Box::pin(async move {
                    let (token, _) = need_login(s)?;
                    request_unlock(&e, &token, slot, reason).await
                })
            }))
        })
    };

    // Shows the purses with the holder's purse where `personal` says.
    let show = {
        let (env, view, error, busy) = (env.clone(), view.clone(), error.clone(), busy.clone());
        let ctx = ctx.clone();
        Rc::new(move |e: Env| {
            let e = Rc::new(e);
            env.set(Some(e.clone()));
            let token = ctx
                .wallet
                .as_ref()
                .and_then(|w| w.session())
                .map(|s| s.token);
            let (view, error, busy) = (view.clone(), error.clone(), busy.clone());
            busy.set(true);
            spawn_local(async move {
                match read_view(&e, None, token.as_deref()).await {
                    Ok(v) => view.set(v),
                    Err(msg) => {
                        view.set(View {
                            connected: e.personal.is_some(),
                            ..View::default()
                        });
                        error.set(Some(msg));
                    }
                }
                busy.set(false);
            });
        })
    };

    let on_kind = {
        let (env, choice, url, readers, error, info, show) = (
            env.clone(),
            choice.clone(),
            bridge_url.clone(),
            readers.clone(),
            error.clone(),
            info.clone(),
            show.clone(),
        );
        Callback::from(move |ev: Event| {
            let value = ev
                .target_unchecked_into::<web_sys::HtmlSelectElement>()
                .value();
            let kind = ReaderKind::parse(&value);
            reader::save_choice(kind, &url);
            choice.set((kind, (*url).clone()));
            readers.set(Vec::new());
            error.set(None);
            info.set(match kind {
                ReaderKind::Virtual => None,
                ReaderKind::Bridge => Some(
                    "Start `card-bridge serve --allow-origin <this page's origin>`, paste the session token it prints, then press Connect.".to_owned(),
                ),
                _ => Some("Press Connect and choose the device in the browser's list.".to_owned()),
            });
            if let Some(e) = (*env).clone() {
                let personal = match kind {
                    ReaderKind::Virtual => e.virtual_personal(),
                    _ => None,
                };
                show(e.with_personal(personal));
            }
        })
    };

    // Opens the device (the browser's chooser runs within this click's gesture).
    let connect_to = {
        let (env, choice, url, token, readers, error, info, busy, show) = (
            env.clone(),
            choice.clone(),
            bridge_url.clone(),
            bridge_token.clone(),
            readers.clone(),
            error.clone(),
            info.clone(),
            busy.clone(),
            show.clone(),
        );
        Rc::new(move |wanted: Option<String>| {
            let Some(e) = (*env).clone() else { return };
            let kind = choice.0;
            reader::save_choice(kind, &url);
            let (url, token) = ((*url).clone(), (*token).clone());
            let (readers, error, info, busy, show) = (
                readers.clone(),
                error.clone(),
                info.clone(),
                busy.clone(),
                show.clone(),
            );
            busy.set(true);
            error.set(None);
            info.set(None);
            spawn_local(async move {
                match connect_reader(&e, kind, &url, &token, wanted).await {
                    Ok((e, list, name)) => {
                        readers.set(list);
                        info.set(Some(format!("Connected to {name}.")));
                        show(e);
                    }
                    Err(msg) => {
                        busy.set(false);
                        error.set(Some(msg));
                    }
                }
            });
        })
    };
    let on_connect = {
        let connect_to = connect_to.clone();
        Callback::from(move |_: MouseEvent| connect_to(None))
    };
    let on_reader_name = {
        let connect_to = connect_to.clone();
        Callback::from(move |ev: Event| {
            connect_to(Some(
                ev.target_unchecked_into::<web_sys::HtmlSelectElement>()
                    .value(),
            ))
        })
    };
    let chosen_reader = (*env)
        .as_ref()
        .and_then(|e| e.personal.as_ref())
        .map(|(_, name)| name.clone());

    // Also while the purses of a previous bank URL are shown.
    let disabled = *busy || (*env).as_ref().is_none_or(|e| e.bank_url != ctx.bank_url);
    let money = |p: &Option<PurseView>| match p {
        Some(p) => ctx.money(p.balance),
        None => "not certified".to_owned(),
    };
    let personal_money = if view.connected {
        money(&view.personal)
    } else {
        "no reader connected".to_owned()
    };
    // Unsettled credits and the bank's view of a certified purse.
    let purse_details = |slot: &'static str, p: &Option<PurseView>| -> Html {
        let Some(p) = p else { return Html::default() };
        let unsettled = (!p.unsettled.is_zero()).then(|| {
            html! {
                <p id={format!("card-unsettled-{slot}")}>
                    { "Received offline, not yet settled: " }<strong>{ ctx.money(p.unsettled) }</strong>
                    { " (sync to spend it). Spendable now: " }
                    <strong id={format!("card-spendable-{slot}")}>{ ctx.money(p.spendable()) }</strong>
                </p>
            }
        });
        let bank = match &p.bank {
            None => Html::default(),
            Some(Ok(info)) => html! {
                <>
                    <p id={format!("card-bank-{slot}")} class="muted">
                        { format!("At the bank: {}", ctx.money(info.bank_balance)) }
                    </p>
                    if let Some(reason) = &info.blocked {
                        <div id={format!("card-blocked-{slot}")} class="notice error" role="alert">
                            <p>{ format!("Blocked by the bank: {reason}") }</p>
                        </div>
                    }
                </>
            },
            Some(Err(msg)) => html! {
                <p id={format!("card-bank-{slot}")} class="muted">
                    { format!("At the bank: not known right now ({msg}).") }
                </p>
            },
        };
        html! { <>{ for unsettled }{ bank }</> }
    };
    // One account owns both purses: its debt, as the bank last said it.
    let debt = [&view.personal, &view.terminal]
        .into_iter()
        .flatten()
        .filter_map(|p| p.bank.as_ref()?.as_ref().ok())
        .map(|info| info.account_debt)
        .max()
        .filter(|d| !d.is_zero());
    html! {
        <section id="card-page" class="card narrow" aria-labelledby="card-title">
            <h1 id="card-title">{ "Card" }</h1>
            <p class="muted">{ "Two virtual electronic purses in this browser: yours and a shop terminal. Value moves between them offline, purse to purse; the bank only sees loads and unloads." }</p>
            if ctx.username.is_none() {
                <p class="notice info">{ "Certifying, loading and unloading need the bank: " }<a href="#/login">{ "log in" }</a>{ " first." }</p>
            }
            if let Some(msg) = &*error {
                <div id="card-error" class="notice error" role="alert"><p>{ msg.clone() }</p></div>
            }
            if let Some(msg) = &*info {
                <div id="card-notice" class="notice success" role="status"><p>{ msg.clone() }</p></div>
            }
            <fieldset id="card-reader" class="card-reader">
                <legend>{ "Where is your purse?" }</legend>
                <div class="field">
                    <label for="card-reader-kind">{ "Reader" }</label>
                    <select id="card-reader-kind" onchange={on_kind} disabled={disabled}>
                        { for ReaderKind::ALL.iter().map(|k| html! {
                            <option value={k.as_str()} selected={*k == kind}>{ k.label() }</option>
                        }) }
                    </select>
                </div>
                if kind == ReaderKind::Bridge {
                    <Field id="card-bridge-url" label="Card bridge address" kind="url"
                        value={bridge_url.clone()} placeholder={reader::DEFAULT_BRIDGE_URL} />
                    <Field id="card-bridge-token" label="Session token" kind="password"
                        value={bridge_token.clone()}
                        hint="The token `card-bridge serve` printed when it started (not stored)." />
                }
                if kind != ReaderKind::Virtual {
                    <div class="actions">
                        <button id="card-reader-connect" type="button" onclick={on_connect}
                            disabled={disabled}>{ "Connect" }</button>
                    </div>
                }
                if readers.len() > 1 {
                    <div class="field">
                        <label for="card-reader-name">{ "Card reader" }</label>
                        <select id="card-reader-name" onchange={on_reader_name} disabled={disabled}>
                            { for readers.iter().map(|r| html! {
                                <option value={r.name.clone()}
                                    selected={chosen_reader.as_deref() == Some(r.name.as_str())}>
                                    { format!("{}{}", r.name, if r.card_present { "" } else { " (no card)" }) }
                                </option>
                            }) }
                        </select>
                    </div>
                }
            </fieldset>
            <p>{ "Your purse: " }<strong id="card-balance">{ personal_money }</strong></p>
            { purse_details(PERSONAL, &view.personal) }
            <p>{ "Shop terminal: " }<strong id="card-terminal-balance">{ money(&view.terminal) }</strong></p>
            { purse_details(TERMINAL, &view.terminal) }
            if let Some(debt) = debt {
                <div id="card-account-debt" class="notice error" role="alert">
                    <p>{ format!("Your account owes the bank {}: it cannot withdraw, pay out or load a card until this is paid (money coming into the account pays it first).", ctx.money(debt)) }</p>
                </div>
            }
            { for view.locked.iter().map(|l| html! {
                <div id={format!("card-locked-{}", l.slot)} class="notice warning" role="status"
                    data-card-id={l.card_id.to_string()}>
                    <p>
                        <strong>{ format!("{} is locked", slot_name(l.slot)) }</strong>
                        { format!(": {} (card {}). Value cannot leave or enter it until the bank unlocks it. ", lock_reason(l.reason), l.card_id) }
                        <span id={format!("card-unlock-state-{}", l.slot)}>{ l.unlock.clone() }</span>
                    </p>
                    <div class="actions">
                        <button id={format!("card-request-unlock-{}", l.slot)} type="button"
                            onclick={on_request_unlock(l.slot)} disabled={disabled}>{ "Request unlock" }</button>
                    </div>
                </div>
            }) }
            if !view.locked.is_empty() {
                <Field id="card-unlock-reason" label="Why should the bank unlock it? (optional)"
                    value={unlock_reason.clone()} placeholder="I typed 60 instead of 6" />
            }
            <Field id="card-pin" label="Purse PIN" kind="password" value={pin.clone()} inputmode="numeric"
                placeholder="1234" hint="4 to 8 digits; chosen when the purses are certified." />
            <div class="actions">
                <button id="card-pin-submit" type="button" onclick={on_pin} disabled={disabled}>{ "Enter PIN" }</button>
                <button id="card-certify" type="button" onclick={on_certify} disabled={disabled}>{ "Certify purses" }</button>
            </div>
            <Field id="card-load-amount" label={format!("Load your purse ({})", ctx.currency())}
                value={load_amount.clone()} inputmode="decimal" placeholder="10.00"
                hint={format!("From the bank account, or from the wallet's coins (the wallet holds {}): they are deposited into the account, then loaded.", ctx.money(ctx.data.balance))} />
            <div class="actions">
                <button id="card-load" type="button" onclick={on_load} disabled={disabled}>{ "Load from the bank account" }</button>
                <button id="card-load-coins" type="button" onclick={on_load_coins} disabled={disabled}>{ "Load from the wallet's coins" }</button>
            </div>
            <Field id="card-pay-amount" label={format!("Pay the shop terminal ({})", ctx.currency())}
                value={pay_amount.clone()} inputmode="decimal" placeholder="2.50" />
            <div class="actions">
                <button id="card-pay" type="button" onclick={on_pay} disabled={disabled}>{ "Pay offline" }</button>
                <button id="card-unload" type="button" onclick={on_unload} disabled={disabled}>{ "Unload both purses to the bank" }</button>
            </div>
            <p class="muted">{ "A payment interrupted after the value left your purse is recorded on both purses; syncing sends those records to the bank, which gives the value back to your purse once both records prove it was lost." }</p>
            <div class="actions">
                <button id="card-sync" type="button" onclick={on_sync} disabled={disabled}>{ "Sync with bank" }</button>
            </div>
            <h2>{ "Your purse's log" }</h2>
            <ul id="card-log">
                { for view.log.iter().map(|l| html! { <li>{ l.clone() }</li> }) }
            </ul>
        </section>
    }
}

type OpFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>>>>;

/// A purse operation: the purses, the session (token, username) if logged in, the PIN;
/// answers the message to show.
type Op = Rc<dyn Fn(Rc<Env>, Option<(String, String)>, Pin) -> OpFuture>;
