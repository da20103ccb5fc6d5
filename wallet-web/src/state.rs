//! The app's shared state: a [`Reducible`] store handed down by a
//! `ContextProvider`. Components read it and dispatch [`Action`]s; the wallet
//! itself (protocol, storage) stays in [`ecash_wallet`] behind [`WebWallet`].

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use ecash_shared::Amount;
use ecash_shared::api::AccountInfo;
use ecash_shared::encoding::Timestamp;
use ecash_wallet::WalletError;
use ecash_wallet::model::{HistoryEntry, OpKind, SentToken, SwapPurpose};
use ecash_wallet::wallet::Progress;
use yew::prelude::*;

use crate::route::Route;
pub use crate::services::wallet::WebWallet;

/// The context components receive.
pub type AppContext = UseReducerHandle<AppState>;

/// What kind of message the banner shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Something failed; the text says what to do.
    Error,
    /// Something finished.
    Success,
    /// For information.
    Info,
}

/// A message for the banner at the top of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Kind.
    pub kind: NoticeKind,
    /// Text.
    pub text: String,
    /// The page (hash) it belongs to: it shows there only, so an error does
    /// not follow the user to the next page. `None`: the page it was raised on.
    pub page: Option<String>,
}

impl Notice {
    /// An error message.
    pub fn error(text: impl Into<String>) -> Self {
        Notice {
            kind: NoticeKind::Error,
            text: text.into(),
            page: None,
        }
    }

    /// A success message.
    pub fn success(text: impl Into<String>) -> Self {
        Notice {
            kind: NoticeKind::Success,
            text: text.into(),
            page: None,
        }
    }

    /// The same message, shown on `route`.
    pub fn on(mut self, route: &Route) -> Self {
        self.page = Some(route.to_hash());
        self
    }

    /// An informational message.
    pub fn info(text: impl Into<String>) -> Self {
        Notice {
            kind: NoticeKind::Info,
            text: text.into(),
            page: None,
        }
    }
}

/// Coins of one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenomRow {
    /// Coin value.
    pub value: Amount,
    /// How many.
    pub count: usize,
    /// How many of them a pending operation holds.
    pub reserved: usize,
}

/// A pending operation, as listed on the home page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    /// Operation id.
    pub id: String,
    /// What it does, in words.
    pub what: String,
    /// Value it moves.
    pub amount: Amount,
    /// When it started.
    pub since: Timestamp,
}

/// What the wallet's storage holds, read after every operation. Holds no
/// coin secrets: coins are summarised by value.
#[derive(Debug, Clone, Default)]
pub struct WalletData {
    /// Whether it was read at least once.
    pub loaded: bool,
    /// Spendable value (coins not reserved).
    pub balance: Amount,
    /// Value of every coin, reserved or not.
    pub total: Amount,
    /// Value that pending operations move.
    pub pending_amount: Amount,
    /// Coins by value, largest first.
    pub coins: Vec<DenomRow>,
    /// The intent log.
    pub pending: Vec<PendingRow>,
    /// History, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Tokens sent and not taken back, newest first.
    pub sent: Vec<SentToken>,
    /// The bank's currency, once its keys are known.
    pub currency: Option<String>,
}

impl WalletData {
    /// Reads everything the pages show from the wallet's storage.
    pub async fn load(wallet: &WebWallet) -> Result<WalletData, WalletError> {
        let coins = wallet.coins().await?;
        let mut by_value: BTreeMap<Amount, DenomRow> = BTreeMap::new();
        for c in &coins {
            let row = by_value.entry(c.value).or_insert(DenomRow {
                value: c.value,
                count: 0,
                reserved: 0,
            });
            row.count += 1;
            if c.reserved_by.is_some() {
                row.reserved += 1;
            }
        }
        let sum = |it: &mut dyn Iterator<Item = Amount>| {
            Amount::checked_sum(it).map_err(|e| WalletError::InvalidAmount(e.to_string()))
        };
        let balance = sum(&mut coins
            .iter()
            .filter(|c| c.reserved_by.is_none())
            .map(|c| c.value))?;
        let total = sum(&mut coins.iter().map(|c| c.value))?;
        drop(coins);
        let pending: Vec<PendingRow> = wallet
            .pending()
            .await?
            .into_iter()
            .map(|op| {
                let (what, amount) = describe_op(&op.kind);
                PendingRow {
                    id: op.id,
                    what,
                    amount,
                    since: op.created_at,
                }
            })
            .collect();
        let pending_amount = sum(&mut pending.iter().map(|p| p.amount))?;
        let mut sent = wallet.sent_tokens().await?;
        sent.sort_by_key(|s| std::cmp::Reverse(s.at));
        // Cached after the first fetch (and in storage); a bank that is down
        // only costs the currency label.
        let currency = wallet.keys().await.ok().map(|k| k.currency.to_string());
        Ok(WalletData {
            loaded: true,
            balance,
            total,
            pending_amount,
            coins: by_value.into_values().rev().collect(),
            pending,
            history: wallet.history().await?,
            sent,
            currency,
        })
    }
}

/// A pending operation in words, and the value it moves.
fn describe_op(kind: &OpKind) -> (String, Amount) {
    match kind {
        OpKind::Withdraw {
            amount, planchets, ..
        } => (format!("Withdrawal of {} coins", planchets.len()), *amount),
        OpKind::Swap {
            purpose, amount, ..
        } => (
            match purpose {
                SwapPurpose::Change => "Making change".to_owned(),
                SwapPurpose::Receive => "Receiving a token".to_owned(),
            },
            *amount,
        ),
        OpKind::Pay { contract, .. } => (
            format!("Payment to {}: {}", contract.merchant, contract.summary),
            contract.amount,
        ),
        OpKind::Deposit { amount, .. } => ("Deposit to the bank account".to_owned(), *amount),
        OpKind::RefundClaim {
            order_id, amount, ..
        } => (format!("Claiming the refund of order {order_id}"), *amount),
    }
}

/// The state of the whole app.
#[derive(Clone)]
pub struct AppState {
    /// The bank the wallet talks to.
    pub bank_url: String,
    /// The wallet, once its database is open.
    pub wallet: Option<Rc<WebWallet>>,
    /// Why the wallet could not start (no IndexedDB, …).
    pub startup_error: Option<String>,
    /// The logged-in user.
    pub username: Option<String>,
    /// What the wallet holds.
    pub data: Rc<WalletData>,
    /// The bank account, when logged in and fetched.
    pub account: Option<AccountInfo>,
    /// The running operation's label.
    pub busy: Option<String>,
    /// Progress of the running operation.
    pub progress: Option<Progress>,
    /// The banner.
    pub notice: Option<Notice>,
    /// What the last resume did.
    pub resume_status: Option<String>,
    /// Held while an operation runs: one operation at a time, so two cannot
    /// pick the same coins. Shared by every version of the state.
    pub lock: Rc<Cell<bool>>,
    /// Counts reductions: two states are equal when they are the same version
    /// (what `ContextProvider` needs to decide whether to re-render consumers).
    version: u64,
}

impl PartialEq for AppState {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
    }
}

impl Default for AppState {
    fn default() -> Self {
        AppState {
            bank_url: String::new(),
            wallet: None,
            startup_error: None,
            username: None,
            data: Rc::new(WalletData::default()),
            account: None,
            busy: None,
            progress: None,
            notice: None,
            resume_status: None,
            lock: Rc::new(Cell::new(false)),
            version: 0,
        }
    }
}

/// Everything that changes the state.
pub enum Action {
    /// The wallet's database is open (at start, or after switching banks).
    WalletReady {
        /// The wallet.
        wallet: Rc<WebWallet>,
        /// Its bank.
        bank_url: String,
        /// The logged-in user, if the session was restored.
        username: Option<String>,
    },
    /// The bank chosen at start, before its database is open.
    BankUrl(String),
    /// The wallet could not start.
    StartupFailed(String),
    /// Logged in as this user.
    LoggedIn(String),
    /// Logged out (or the session expired).
    LoggedOut,
    /// Fresh data from storage.
    Data(WalletData),
    /// The bank account (or `None`: unknown).
    Account(Option<AccountInfo>),
    /// An operation started.
    Started(String),
    /// Progress of the running operation.
    Progress(Progress),
    /// The operation finished.
    Finished,
    /// Show a banner.
    Notice(Notice),
    /// Hide the banner.
    ClearNotice,
    /// What resume did.
    Resumed(Option<String>),
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        s.version = s.version.wrapping_add(1);
        match action {
            Action::WalletReady {
                wallet,
                bank_url,
                username,
            } => {
                s.wallet = Some(wallet);
                s.bank_url = bank_url;
                s.username = username;
                s.startup_error = None;
                s.data = Rc::new(WalletData::default());
                s.account = None;
            }
            Action::BankUrl(url) => s.bank_url = url,
            Action::StartupFailed(e) => s.startup_error = Some(e),
            Action::LoggedIn(u) => s.username = Some(u),
            Action::LoggedOut => {
                s.username = None;
                s.account = None;
            }
            Action::Data(d) => s.data = Rc::new(d),
            Action::Account(a) => s.account = a,
            Action::Started(label) => {
                s.busy = Some(label);
                s.progress = None;
                s.notice = None;
            }
            Action::Progress(p) => s.progress = Some(p),
            Action::Finished => {
                s.busy = None;
                s.progress = None;
            }
            Action::Notice(mut n) => {
                if n.page.is_none() {
                    n.page = Some(current_route().to_hash());
                }
                s.notice = Some(n);
            }
            Action::ClearNotice => s.notice = None,
            Action::Resumed(r) => s.resume_status = r,
        }
        Rc::new(s)
    }
}

/// The page the browser shows now.
pub fn current_route() -> Route {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    Route::from_hash(&hash)
}

impl AppState {
    /// The currency label for amounts (the bank's, else EUR, the demo bank's).
    pub fn currency(&self) -> &str {
        self.data.currency.as_deref().unwrap_or("EUR")
    }

    /// `12.05 EUR`.
    pub fn money(&self, a: Amount) -> String {
        format!("{a} {}", self.currency())
    }
}
