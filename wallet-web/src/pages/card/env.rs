//! Where the purses are: the page's virtual cards (kept in IndexedDB), the device
//! holding the holder's purse, the bank's card endpoints; connecting to a purse;
//! names and words the page uses for purses, locks and unlocks.

use std::rc::Rc;

use ecash_card::client::{PurseClient, UnlockOutcome};
use ecash_card::log::LogEntry;
use ecash_card::risk::LockReason;
use ecash_card::transport::virtual_reader::{Persister, VirtualReader};
use ecash_card::{CardTransport, ReaderInfo, VirtualCard};
use ecash_wallet::BankClient;
use ecash_wallet::storage::{Storage, Store, Write};
use zeroize::Zeroizing;

use crate::services::http::HttpTransport;
use crate::services::idb::IdbStorage;
use crate::services::reader::{PageReader, ReaderKind, describe_card_error};
use crate::services::wallet::db_name_for;

/// The holder's purse's slot (and the page's virtual reader slot holding it).
pub(super) const PERSONAL: &str = "personal";
/// The shop terminal's slot.
pub(super) const TERMINAL: &str = "terminal";

/// A purse on whichever reader holds it.
pub(super) type Purse = PurseClient<PageReader>;

/// The purses and where they are kept.
pub(super) struct Env {
    /// The page's virtual cards (the personal one, used when the picker says so, and
    /// the terminal).
    pub(super) reader: VirtualReader,
    /// The terminal's reader (the page's virtual cards).
    pub(super) terminal: PageReader,
    /// Where the holder's purse is: a reader and the name of the reader slot holding
    /// it; `None` until a device is connected.
    pub(super) personal: Option<(PageReader, String)>,
    /// Where the purses' states and pending unload proofs are kept.
    pub(super) store: Rc<IdbStorage>,
    /// The bank the purses belong to.
    pub(super) bank_url: String,
    /// Its card endpoints.
    pub(super) bank: BankClient<HttpTransport>,
}

impl Env {
    /// The same purses with the holder's purse in `personal`.
    pub(super) fn with_personal(&self, personal: Option<(PageReader, String)>) -> Env {
        Env {
            reader: self.reader.clone(),
            terminal: self.terminal.clone(),
            personal,
            store: self.store.clone(),
            bank_url: self.bank_url.clone(),
            bank: self.bank.clone(),
        }
    }

    /// The page's own virtual personal purse.
    pub(super) fn virtual_personal(&self) -> Option<(PageReader, String)> {
        Some((
            PageReader::virtual_cards(self.reader.clone()),
            PERSONAL.to_owned(),
        ))
    }

    /// Whether the holder's purse is the page's virtual one.
    pub(super) fn personal_is_virtual(&self) -> bool {
        self.personal.as_ref().is_some_and(|(r, _)| r.is_virtual())
    }

    /// Frees cards a failed operation left connected.
    pub(super) async fn release_left_open(&self) {
        if let Some((mut r, _)) = self.personal.clone() {
            r.release_left_open().await;
        }
        self.terminal.clone().release_left_open().await;
    }
}

/// The purse in `slot`, in words.
pub(super) fn slot_name(slot: &str) -> &'static str {
    if slot == PERSONAL {
        "Your purse"
    } else {
        "The shop terminal"
    }
}

/// Why the risk rules locked a purse, in words.
pub(super) fn lock_reason(r: LockReason) -> &'static str {
    match r {
        LockReason::PerTransferLimit => "a payment over its per-payment limit was attempted",
        LockReason::DailyLimit => "payments over its daily limit were attempted",
    }
}

/// An unlock's state at the bank, in words.
pub(super) fn describe_unlock(o: &UnlockOutcome) -> String {
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

/// The storage key of the virtual card in `slot`.
pub(super) fn state_key(slot: &str) -> String {
    format!("card:{slot}")
}

/// The storage key of the unload proof of `slot` not yet credited.
pub(super) fn proof_key(slot: &str) -> String {
    format!("unload-proof:{slot}")
}

/// Days since the Unix epoch (the cards' day numbers).
pub(super) fn today() -> u32 {
    (js_sys::Date::now() / 86_400_000.0) as u32
}

/// Opens the purses' database for `bank_url` and the page's virtual cards in it; the
/// holder's purse is the virtual one when `kind` says so (a device is chosen again).
pub(super) async fn open_env(bank_url: String, kind: ReaderKind) -> Result<Rc<Env>, String> {
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
        bank: BankClient::new(HttpTransport::new(&bank_url)),
        bank_url,
    };
    // A device must be chosen again (USB and HID need a click; the bridge its token).
    let personal = match kind {
        ReaderKind::Virtual => env.virtual_personal(),
        _ => None,
    };
    Ok(Rc::new(env.with_personal(personal)))
}

/// Connects to the purse in `slot`.
pub(super) async fn connect(env: &Env, slot: &str) -> Result<Purse, String> {
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

/// A card error as the page shows it, prefixed with the step.
pub(super) fn card_err(what: &str) -> impl Fn(ecash_card::Error) -> String + '_ {
    move |e| format!("{what}: {}", describe_card_error(&e))
}

/// A purse log entry in words.
pub(super) fn describe(e: &LogEntry) -> String {
    format!(
        "day {}: {:?} {} ({:?}), balance after {}",
        e.day, e.kind, e.amount, e.status, e.balance_after
    )
}

/// Opens the device the picker names, lists its readers (the [`CardTransport`] way)
/// and picks the one holding a card — `wanted` if given. Answers the purses with the
/// holder's purse there, the readers, and the chosen reader's name.
pub(super) async fn connect_reader(
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
pub(super) fn pick_reader(readers: &[ReaderInfo], wanted: Option<&str>) -> Result<String, String> {
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
