//! The Card page's state, a reducer (as yew's `function_todomvc` keeps its state):
//! the purses (where they are), what the page shows of them, its messages, whether
//! an operation runs, and the reader choice. The form's text fields are the
//! `Field` widget's own `use_state` handles.

use std::rc::Rc;

use ecash_card::api::CardInfo;
use ecash_card::risk::LockReason;
use ecash_card::{CardId, ReaderInfo};
use ecash_shared::Amount;
use yew::prelude::*;

use super::env::Env;
use crate::services::reader::ReaderKind;

/// What the page shows of the purses.
#[derive(Clone, Default, PartialEq)]
pub(super) struct View {
    /// The holder's purse (`None`: not certified, or no device connected).
    pub(super) personal: Option<PurseView>,
    /// Whether the holder's purse is reachable (a device connected).
    pub(super) connected: bool,
    /// The shop terminal (`None`: not certified).
    pub(super) terminal: Option<PurseView>,
    /// The purses their risk rules locked.
    pub(super) locked: Vec<Locked>,
    /// The holder's purse's log, in words (read when the PIN is given).
    pub(super) log: Vec<String>,
}

/// A certified purse as the page shows it.
#[derive(Clone, PartialEq)]
pub(super) struct PurseView {
    /// Its balance (GET STATUS), unsettled credits included.
    pub(super) balance: Amount,
    /// Value it took offline that the bank has not settled yet: part of the balance,
    /// not spendable until a sync settles it.
    pub(super) unsettled: Amount,
    /// The card as the bank's ledger sees it (`GET /v1/cards/{id}`): `None` when the
    /// bank was not asked (logged out), the reason when the answer did not come.
    pub(super) bank: Option<Result<CardInfo, String>>,
}

impl PurseView {
    /// What the purse can pay out or unload now.
    pub(super) fn spendable(&self) -> Amount {
        spendable(self.balance, self.unsettled)
    }
}

/// `balance − unsettled`: what a purse pays out or unloads (its unsettled credits are
/// part of its balance, so this never goes below zero on a genuine card).
pub(super) fn spendable(balance: Amount, unsettled: Amount) -> Amount {
    balance.checked_sub(unsettled).unwrap_or(Amount::ZERO)
}

/// A locked purse.
#[derive(Clone, PartialEq)]
pub(super) struct Locked {
    /// Its slot.
    pub(super) slot: &'static str,
    /// Its card id.
    pub(super) card_id: CardId,
    /// Why it is locked.
    pub(super) reason: LockReason,
    /// Where its unlock stands at the bank, in words.
    pub(super) unlock: String,
}

/// The Card page's state.
#[derive(Clone)]
pub(super) struct CardState {
    /// The purses, once their database is open.
    pub(super) env: Option<Rc<Env>>,
    /// What the page shows of them.
    pub(super) view: View,
    /// The error banner.
    pub(super) error: Option<String>,
    /// The success banner.
    pub(super) info: Option<String>,
    /// Whether an operation runs (the buttons are disabled meanwhile).
    pub(super) busy: bool,
    /// Where the holder's purse is (the reader picker).
    pub(super) kind: ReaderKind,
    /// The readers of the connected device.
    pub(super) readers: Vec<ReaderInfo>,
}

impl CardState {
    /// Nothing open yet, the reader picker on `kind`.
    pub(super) fn new(kind: ReaderKind) -> Self {
        CardState {
            env: None,
            view: View::default(),
            error: None,
            info: None,
            busy: false,
            kind,
            readers: Vec::new(),
        }
    }
}

/// Everything that changes the Card page's state.
pub(super) enum CardAction {
    /// The purses of the page's bank are open (the error: they could not be read).
    Opened(Rc<Env>, Result<View, String>),
    /// Show this error.
    Error(String),
    /// An operation started: busy, banners cleared.
    Started,
    /// The operation's outcome: the message to show, or the error.
    Done(Result<String, String>),
    /// The purses as read again (an error replaces the error banner).
    View(Result<View, String>),
    /// The operation finished.
    Finished,
    /// The purses with the holder's purse moved (the reader picker): busy until read.
    Show(Rc<Env>),
    /// What [`CardAction::Show`] read; on an error only whether a device is connected
    /// (the flag) is shown.
    Shown(Result<View, String>, bool),
    /// Another reader kind was picked, with its instructions.
    Kind(ReaderKind, Option<String>),
    /// The device is open: its readers, and the one holding the purse.
    Connected(Vec<ReaderInfo>, String),
    /// The device could not be opened.
    ConnectFailed(String),
}

impl Reducible for CardState {
    type Action = CardAction;

    fn reduce(self: Rc<Self>, action: CardAction) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            CardAction::Opened(env, view) => {
                match view {
                    Ok(v) => s.view = v,
                    Err(msg) => s.error = Some(msg),
                }
                s.env = Some(env);
            }
            CardAction::Error(msg) => s.error = Some(msg),
            CardAction::Started => {
                s.busy = true;
                s.error = None;
                s.info = None;
            }
            CardAction::Done(Ok(msg)) => s.info = Some(msg),
            CardAction::Done(Err(msg)) => s.error = Some(msg),
            CardAction::View(Ok(v)) => s.view = v,
            CardAction::View(Err(msg)) => s.error = Some(msg),
            CardAction::Finished => s.busy = false,
            CardAction::Show(env) => {
                s.env = Some(env);
                s.busy = true;
            }
            CardAction::Shown(view, connected) => {
                match view {
                    Ok(v) => s.view = v,
                    Err(msg) => {
                        s.view = View {
                            connected,
                            ..View::default()
                        };
                        s.error = Some(msg);
                    }
                }
                s.busy = false;
            }
            CardAction::Kind(kind, info) => {
                s.kind = kind;
                s.readers = Vec::new();
                s.error = None;
                s.info = info;
            }
            CardAction::Connected(readers, name) => {
                s.readers = readers;
                s.info = Some(format!("Connected to {name}."));
            }
            CardAction::ConnectFailed(msg) => {
                s.busy = false;
                s.error = Some(msg);
            }
        }
        Rc::new(s)
    }
}
