//! The purse application: an ISO 7816-4 command processor over a persistent
//! [`PurseState`] and a per-power-up [`Session`].
//!
//! Commands (CLA `00` for the ISO ones, `80` for the purse's own; no secure messaging,
//! chaining or logical channels):
//!
//! | command | CLA INS P1 P2 | data → response |
//! |---|---|---|
//! | SELECT | `00 A4 04 00` | [`AID`] → lifecycle (1) \|\| certificate (133, once active) |
//! | VERIFY | `00 20 00 81` | PIN field (8) or empty (ask) → – ; `63Cx`, `6983` |
//! | CHANGE REFERENCE DATA | `00 24 00 81` | old PIN (8) \|\| new PIN (8) → – |
//! | RESET RETRY COUNTER | `00 2C 00 81` | PUK (8) \|\| new PIN (8) → – |
//! | INITIALIZE | `80 10 00 00` | issuer public key (32) → card public key (32) |
//! | PERSONALIZE | `80 12 00 00` | certificate (133) \|\| PIN (8) \|\| PUK (8) → – |
//! | GET STATUS | `80 50 00 00` | – → [`PurseStatus`] (54) |
//! | LOAD | `80 52 00 00` | [`LoadAuth`] (92) → [`LoadReceipt`] (95) |
//! | UNLOAD | `80 54 00 00` | [`UnloadOrder`] (44) → [`UnloadProof`] (119) |
//! | UNLOCK | `80 56 00 00` | [`UnlockAuth`] (80) → – |
//! | GET LOCK REPORT | `80 58 00 00` | – → [`LockReport`] (97); `6985` while open |
//! | GET BALANCE | `80 5C 00 00` | – → amount (8) \|\| currency (3) |
//! | START FROM | `80 60 00 00` | [`StartFrom`] (146) → payer_seq (4) |
//! | START TO | `80 62 00 00` | [`StartTo`] (150) → [`Request`] (100) |
//! | REQ | `80 64 00 00` | [`Request`] (100) → [`Value`] (100) |
//! | VAL | `80 66 00 00` | [`Value`] (100) → [`Ack`] (100) |
//! | ACK | `80 68 00 00` | [`Ack`] (100) → – |
//! | ABORT | `80 6A 00 00` | – → 0 nothing / 1 start dropped / 2 exception logged |
//! | RESEND | `80 6C P1 00` | P1 = 1 last ACK, 2 last unload proof, 3 last load receipt |
//! | GET LOG | `80 B2 P1 00` | P1 = index, newest first → [`LogEntry`] (38) |
//! | GET EXCEPTION | `80 B4 P1 00` | P1 = index, oldest first → [`ExceptionRecord`] (113) |
//! | CLEAR EXCEPTIONS | `80 B6 00 00` | [`ClearAuth`] (105) → – |
//! | GET CREDIT | `80 B8 P1 00` | P1 = index, oldest first → [`Credit`] (200) |
//! | CLEAR CREDITS | `80 BA 00 00` | [`SettleAuth`] (202) → – |
//!
//! Value credited offline stays in the credit log until the bank has settled it and
//! is not spendable until then (see [`crate::settle`]): START FROM, REQ and UNLOAD
//! take only `balance − unsettled`.
//!
//! State changes are all-or-nothing per command: each handler checks everything before
//! it changes anything, so an error status means nothing changed — except the changes
//! that *are* the answer: a wrong PIN costs a try (`63Cx`), a START FROM that breaks a
//! risk rule locks the purse (`9403`, after ending any unfinished transfer as ABORT
//! does). The [`crate::virtual_card`] commits the state after each command (or answers
//! `6581` and keeps the old state if it cannot).
//!
//! # The card as CAFE's observer
//!
//! CAFE put a tamper-resistant observer chip in the customer's wallet to protect the
//! bank: the wallet could not spend without the observer's cooperation, and the observer
//! refused to spend twice. This purse plays that role for card value: value leaves a card
//! only as a VALUE or an unload proof *signed by the card's key*, which never leaves the
//! card; the card signs a debit only after lowering its balance, binds it to fresh
//! sequence numbers (its own counter never goes back), and answers any replay of a
//! REQUEST, VALUE or ACK with `6A88`. The host — the wallet page, a terminal, the
//! bridge — sees every message yet can neither create value nor debit twice; the
//! issuer's certificate tells every purse that its counterparty is such an observer.

use std::collections::VecDeque;

use ecash_shared::Amount;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::apdu::{Command, Response, Sw};
use crate::cert::{CardCert, Mode, read_currency};
use crate::exception::{
    ClearAuth, EXCEPTION_LOG_CAPACITY, ExceptionKind, ExceptionRecord, ExceptionRecordBody,
};
use crate::keys::{CardId, CardKey, CardPublicKey, IssuerPublicKey};
use crate::load::{LoadAuth, LoadKind, LoadReceipt, LoadReceiptBody};
use crate::log::{LOG_CAPACITY, LogEntry, LogKind, LogStatus};
use crate::message::Signed;
use crate::pin::{PIN_FIELD_LEN, PIN_TRIES, PUK_TRIES, Pin, PinCounter};
use crate::risk::{LockReason, LockReport, LockReportBody, UnlockAuth};
use crate::settle::{CREDIT_LOG_CAPACITY, Credit, SettleAuth};
use crate::transfer::{
    Ack, AckBody, Purpose, Request, RequestBody, StartFrom, StartTo, Terms, Value, ValueBody,
};
use crate::unload::{UnloadOrder, UnloadProof, UnloadProofBody};
use crate::wire::{Reader, Writer};

/// The purse application's AID: `F0` (proprietary, unregistered) `"ECASHPURSE"`.
pub const AID: [u8; 11] = [
    0xF0, b'E', b'C', b'A', b'S', b'H', b'P', b'U', b'R', b'S', b'E',
];

/// Answer-to-reset of the virtual purse: direct convention, T=1, historical bytes
/// `80` (compact-TLV) `56 "ECASH1"` (card issuer's data), and the check byte TCK.
pub const ATR: [u8; 12] = atr();

const fn atr() -> [u8; 12] {
    let mut a = [
        0x3B, 0x88, 0x01, 0x80, 0x56, b'E', b'C', b'A', b'S', b'H', b'1', 0,
    ];
    // TCK: XOR of T0 .. the last historical byte.
    let mut tck = 0u8;
    let mut i = 1;
    while i < 11 {
        tck ^= a[i];
        i += 1;
    }
    a[11] = tck;
    a
}

/// Instruction bytes.
pub mod ins {
    /// SELECT (ISO).
    pub const SELECT: u8 = 0xA4;
    /// VERIFY (ISO).
    pub const VERIFY: u8 = 0x20;
    /// CHANGE REFERENCE DATA (ISO).
    pub const CHANGE_REFERENCE_DATA: u8 = 0x24;
    /// RESET RETRY COUNTER (ISO).
    pub const RESET_RETRY_COUNTER: u8 = 0x2C;
    /// INITIALIZE: write the issuer key, reveal the card key.
    pub const INITIALIZE: u8 = 0x10;
    /// PERSONALIZE: store the certificate, PIN and PUK.
    pub const PERSONALIZE: u8 = 0x12;
    /// GET STATUS.
    pub const GET_STATUS: u8 = 0x50;
    /// LOAD.
    pub const LOAD: u8 = 0x52;
    /// UNLOAD.
    pub const UNLOAD: u8 = 0x54;
    /// UNLOCK.
    pub const UNLOCK: u8 = 0x56;
    /// GET LOCK REPORT: the card-signed proof that it is locked.
    pub const GET_LOCK_REPORT: u8 = 0x58;
    /// GET BALANCE.
    pub const GET_BALANCE: u8 = 0x5C;
    /// START FROM (payer, step 1).
    pub const START_FROM: u8 = 0x60;
    /// START TO (payee, step 2).
    pub const START_TO: u8 = 0x62;
    /// REQ (payer, step 3).
    pub const REQ: u8 = 0x64;
    /// VAL (payee, step 4).
    pub const VAL: u8 = 0x66;
    /// ACK (payer, step 5).
    pub const ACK: u8 = 0x68;
    /// ABORT the transfer in progress.
    pub const ABORT: u8 = 0x6A;
    /// RESEND the last ACK / unload proof / load receipt.
    pub const RESEND: u8 = 0x6C;
    /// GET LOG.
    pub const GET_LOG: u8 = 0xB2;
    /// GET EXCEPTION.
    pub const GET_EXCEPTION: u8 = 0xB4;
    /// CLEAR EXCEPTIONS.
    pub const CLEAR_EXCEPTIONS: u8 = 0xB6;
    /// GET CREDIT: an unsettled credit (VALUE and ACK).
    pub const GET_CREDIT: u8 = 0xB8;
    /// CLEAR CREDITS: drop the credits the bank settled.
    pub const CLEAR_CREDITS: u8 = 0xBA;
}

/// PIN reference in P2 (specific, first PIN).
pub const PIN_REF: u8 = 0x81;

/// A transfer in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Pending {
    /// No transfer.
    Idle,
    /// Payer after START FROM: nothing debited yet.
    ExpectingRequest {
        payee: CardId,
        payee_key: CardPublicKey,
        amount: Amount,
        purpose: Purpose,
        payer_seq: u32,
    },
    /// Payee after START TO: REQUEST sent.
    ExpectingValue {
        terms: Terms,
        payer_key: CardPublicKey,
    },
    /// Payer after REQ: debited, VALUE sent.
    ExpectingAck {
        terms: Terms,
        payee_key: CardPublicKey,
    },
}

impl Pending {
    fn code(&self) -> u8 {
        match self {
            Pending::Idle => 0,
            Pending::ExpectingRequest { .. } => 1,
            Pending::ExpectingValue { .. } => 2,
            Pending::ExpectingAck { .. } => 3,
        }
    }

    /// Whether aborting it writes an exception record.
    fn needs_exception(&self) -> bool {
        matches!(
            self,
            Pending::ExpectingValue { .. } | Pending::ExpectingAck { .. }
        )
    }
}

/// An exception record as the card stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredException {
    id: u32,
    kind: ExceptionKind,
    terms: Terms,
    /// The counterparty's key, to accept a late ACK.
    counterparty_key: CardPublicKey,
}

/// The state of a personalized purse.
#[derive(Clone, Serialize, Deserialize)]
pub struct ActivePurse {
    key: CardKey,
    issuer: IssuerPublicKey,
    cert: CardCert,
    pin: PinCounter,
    puk: PinCounter,
    balance: Amount,
    day: u32,
    spent_today: Amount,
    lock: Option<LockReason>,
    next_seq: u32,
    next_load_seq: u32,
    next_unload_seq: u32,
    next_unlock_seq: u32,
    next_exception_id: u32,
    pending: Pending,
    exceptions: Vec<StoredException>,
    log: VecDeque<LogEntry>,
    last_ack: Option<Ack>,
    last_unload: Option<UnloadProof>,
    last_load_receipt: Option<LoadReceipt>,
    /// Credits taken offline and not yet settled at the bank, oldest first (absent in
    /// states saved before settlement existed: none).
    #[serde(default)]
    credits: Vec<Credit>,
}

/// Everything the card keeps across power cycles (serde, for persistence). It contains
/// the card's private key and PIN: store it where only the card's owner can read it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "lifecycle", rename_all = "snake_case")]
pub enum PurseState {
    /// Fresh from the factory: a key pair, nothing else.
    Blank {
        /// The card key, generated at manufacture.
        key: CardKey,
    },
    /// The issuer key is written; waiting for the certificate.
    Initialized {
        /// The card key.
        key: CardKey,
        /// The issuer key every certificate and authorization is checked against.
        issuer: IssuerPublicKey,
    },
    /// Personalized and in service.
    Active(Box<ActivePurse>),
}

impl core::fmt::Debug for PurseState {
    // Summary only: the state holds the card key and the PIN.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PurseState::Blank { .. } => f.write_str("PurseState::Blank"),
            PurseState::Initialized { .. } => f.write_str("PurseState::Initialized"),
            PurseState::Active(p) => write!(
                f,
                "PurseState::Active({}, balance {}, locked {:?})",
                p.cert.card_id, p.balance, p.lock
            ),
        }
    }
}

impl PurseState {
    /// A blank card with a fresh random key.
    pub fn manufacture() -> Result<Self, Error> {
        Ok(PurseState::Blank {
            key: CardKey::generate()?,
        })
    }

    /// A blank card with a key from `seed` (deterministic tests).
    pub fn manufacture_with_seed(seed: &[u8; 32]) -> Self {
        PurseState::Blank {
            key: CardKey::from_seed(seed),
        }
    }

    fn active(&self) -> Option<&ActivePurse> {
        match self {
            PurseState::Active(p) => Some(p),
            _ => None,
        }
    }

    /// The balance, once personalized.
    pub fn balance(&self) -> Option<Amount> {
        self.active().map(|p| p.balance)
    }

    /// The certificate, once personalized.
    pub fn cert(&self) -> Option<&CardCert> {
        self.active().map(|p| &p.cert)
    }

    /// The card's public key.
    pub fn card_public_key(&self) -> CardPublicKey {
        match self {
            PurseState::Blank { key } | PurseState::Initialized { key, .. } => key.public(),
            PurseState::Active(p) => p.key.public(),
        }
    }
}

/// What lasts only while the card is powered: selection and PIN status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Session {
    /// The purse application is selected.
    pub selected: bool,
    /// The PIN was verified (on a terminal: for the next value-out operation only).
    pub pin_verified: bool,
}

/// GET STATUS response (54 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurseStatus {
    /// 0 blank, 1 initialized, 2 active.
    pub lifecycle: u8,
    /// The certified mode (`None` before personalization).
    pub mode: Option<Mode>,
    /// Why the purse is locked, if it is.
    pub lock: Option<LockReason>,
    /// Balance.
    pub balance: Amount,
    /// The latest day the card has seen.
    pub day: u32,
    /// Transferred out on that day.
    pub spent_today: Amount,
    /// Next transfer sequence number.
    pub next_seq: u32,
    /// The `load_seq` the next LOAD must carry.
    pub next_load_seq: u32,
    /// The next unload sequence number.
    pub next_unload_seq: u32,
    /// The `unlock_seq` the next UNLOCK must carry.
    pub next_unlock_seq: u32,
    /// 0 idle, 1 expecting REQUEST, 2 expecting VALUE, 3 expecting ACK.
    pub pending: u8,
    /// Records in the exception log.
    pub exceptions: u8,
    /// Credits taken offline and not yet settled at the bank (in the credit log).
    pub credits: u8,
    /// Their total: part of `balance`, not spendable until the bank settles it.
    pub unsettled: Amount,
    /// Entries in the transaction log.
    pub log_entries: u8,
    /// PIN tries left.
    pub pin_tries: u8,
    /// PUK tries left.
    pub puk_tries: u8,
    /// Whether the PIN is verified in this session.
    pub pin_verified: bool,
}

impl PurseStatus {
    /// Encoded length.
    pub const LEN: usize = 54;

    /// Encodes the status.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.u8(self.lifecycle)
            .u8(match self.mode {
                None => 0,
                Some(Mode::Personal) => 1,
                Some(Mode::Terminal) => 2,
            })
            .u8(self.lock.map_or(0, LockReason::to_byte))
            .u64(self.balance.minor())
            .u32(self.day)
            .u64(self.spent_today.minor())
            .u32(self.next_seq)
            .u32(self.next_load_seq)
            .u32(self.next_unload_seq)
            .u32(self.next_unlock_seq)
            .u8(self.pending)
            .u8(self.exceptions)
            .u8(self.log_entries)
            .u8(self.pin_tries)
            .u8(self.puk_tries)
            .u8(u8::from(self.pin_verified))
            .u8(self.credits)
            .u64(self.unsettled.minor());
        w.finish()
    }

    /// Decodes the status.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let out = PurseStatus {
            lifecycle: r.u8()?,
            mode: match r.u8()? {
                0 => None,
                1 => Some(Mode::Personal),
                2 => Some(Mode::Terminal),
                _ => return Err(Error::Malformed("unknown mode")),
            },
            lock: LockReason::from_byte(r.u8()?)?,
            balance: Amount::from_minor(r.u64()?),
            day: r.u32()?,
            spent_today: Amount::from_minor(r.u64()?),
            next_seq: r.u32()?,
            next_load_seq: r.u32()?,
            next_unload_seq: r.u32()?,
            next_unlock_seq: r.u32()?,
            pending: r.u8()?,
            exceptions: r.u8()?,
            log_entries: r.u8()?,
            pin_tries: r.u8()?,
            puk_tries: r.u8()?,
            pin_verified: r.u8()? != 0,
            credits: r.u8()?,
            unsettled: Amount::from_minor(r.u64()?),
        };
        r.finish()?;
        Ok(out)
    }
}

/// The purse application: persistent state plus session.
#[derive(Debug, Clone)]
pub struct Purse {
    state: PurseState,
    session: Session,
}

fn wrong_data(_: Error) -> Sw {
    Sw::WRONG_DATA
}

fn exact_len(data: &[u8], len: usize) -> Result<(), Sw> {
    if data.len() == len {
        Ok(())
    } else {
        Err(Sw::WRONG_LENGTH)
    }
}

fn next(counter: &mut u32) -> Result<u32, Sw> {
    let v = *counter;
    // A counter at u32::MAX would have to wrap (and reuse numbers): refuse instead.
    *counter = v.checked_add(1).ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
    Ok(v)
}

impl Purse {
    /// A purse over a stored state, unpowered session.
    pub fn from_state(state: PurseState) -> Self {
        Purse {
            state,
            session: Session::default(),
        }
    }

    /// The persistent state.
    pub fn state(&self) -> &PurseState {
        &self.state
    }

    /// The session.
    pub fn session(&self) -> Session {
        self.session
    }

    /// Power off or reset: the session (selection, PIN status) is lost; the state stays.
    pub fn reset_session(&mut self) {
        self.session = Session::default();
    }

    /// Processes one command APDU, answers one response APDU. Never panics.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let response = match Command::parse(apdu) {
            Ok(cmd) => self.handle(&cmd),
            Err(sw) => Response::status(sw),
        };
        response.to_bytes()
    }

    /// Processes a parsed command.
    pub fn handle(&mut self, cmd: &Command) -> Response {
        match self.dispatch(cmd) {
            Ok(data) => Response::ok(data),
            Err(sw) => Response::status(sw),
        }
    }

    fn dispatch(&mut self, cmd: &Command) -> Result<Vec<u8>, Sw> {
        // Only the first interindustry class (00-1F) and its proprietary twin (80-9F).
        if cmd.cla & 0x60 != 0 {
            return Err(Sw::CLA_NOT_SUPPORTED);
        }
        if cmd.cla & 0x10 != 0 {
            return Err(Sw::CHAINING_NOT_SUPPORTED);
        }
        if cmd.cla & 0x0C != 0 {
            return Err(Sw::SM_NOT_SUPPORTED);
        }
        if cmd.cla & 0x03 != 0 {
            return Err(Sw::CHANNEL_NOT_SUPPORTED);
        }
        let iso = cmd.cla & 0x80 == 0;
        if iso && cmd.ins == ins::SELECT {
            return self.select(cmd);
        }
        if !self.session.selected {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let session = &mut self.session;
        if iso {
            let p = match &mut self.state {
                PurseState::Active(p) => p,
                _ => return Err(Sw::CONDITIONS_NOT_SATISFIED),
            };
            return match cmd.ins {
                ins::VERIFY => p.verify(session, cmd),
                ins::CHANGE_REFERENCE_DATA => p.change_pin(session, cmd),
                ins::RESET_RETRY_COUNTER => p.reset_retry_counter(cmd),
                _ => Err(Sw::INS_NOT_SUPPORTED),
            };
        }
        match cmd.ins {
            ins::INITIALIZE => return self.initialize(cmd),
            ins::PERSONALIZE => return self.personalize(cmd),
            ins::GET_STATUS => return Ok(self.status().to_bytes()),
            _ => {}
        }
        let p = match &mut self.state {
            PurseState::Active(p) => p,
            _ => {
                return Err(match cmd.ins {
                    ins::LOAD..=ins::CLEAR_CREDITS => Sw::CONDITIONS_NOT_SATISFIED,
                    _ => Sw::INS_NOT_SUPPORTED,
                });
            }
        };
        let known_p1 = matches!(
            cmd.ins,
            ins::RESEND | ins::GET_LOG | ins::GET_EXCEPTION | ins::GET_CREDIT
        );
        if (!known_p1 && cmd.p1 != 0) || cmd.p2 != 0 {
            return Err(Sw::WRONG_P1P2);
        }
        match cmd.ins {
            ins::GET_BALANCE => {
                let mut w = Writer::with_capacity(11);
                w.u64(p.balance.minor())
                    .bytes(p.cert.profile.currency.as_str().as_bytes());
                Ok(w.finish())
            }
            ins::LOAD => p.load(&cmd.data),
            ins::UNLOAD => p.unload(session, &cmd.data),
            ins::UNLOCK => p.unlock(&cmd.data),
            ins::GET_LOCK_REPORT => p.lock_report(&cmd.data),
            ins::START_FROM => p.start_from(session, &cmd.data),
            ins::START_TO => p.start_to(&cmd.data),
            ins::REQ => p.req(session, &cmd.data),
            ins::VAL => p.val(&cmd.data),
            ins::ACK => p.ack(&cmd.data),
            ins::ABORT => p.abort().map(|code| vec![code]),
            ins::RESEND => p.resend(cmd.p1),
            ins::GET_LOG => p.get_log(session, cmd.p1),
            ins::GET_EXCEPTION => p.get_exception(cmd.p1),
            ins::CLEAR_EXCEPTIONS => p.clear_exceptions(&cmd.data),
            ins::GET_CREDIT => p.get_credit(cmd.p1),
            ins::CLEAR_CREDITS => p.clear_credits(&cmd.data),
            _ => Err(Sw::INS_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, cmd: &Command) -> Result<Vec<u8>, Sw> {
        if cmd.p1 != 0x04 || (cmd.p2 != 0x00 && cmd.p2 != 0x0C) {
            return Err(Sw::WRONG_P1P2);
        }
        if cmd.data != AID {
            self.session = Session::default();
            return Err(Sw::NOT_FOUND);
        }
        // Selecting again keeps nothing of the previous session.
        self.session = Session {
            selected: true,
            pin_verified: false,
        };
        let mut out = vec![self.status().lifecycle];
        if let Some(cert) = self.state.cert() {
            out.extend_from_slice(&cert.to_bytes());
        }
        Ok(out)
    }

    fn status(&self) -> PurseStatus {
        let lifecycle = match &self.state {
            PurseState::Blank { .. } => 0,
            PurseState::Initialized { .. } => 1,
            PurseState::Active(_) => 2,
        };
        let mut s = PurseStatus {
            lifecycle,
            mode: None,
            lock: None,
            balance: Amount::ZERO,
            day: 0,
            spent_today: Amount::ZERO,
            next_seq: 0,
            next_load_seq: 0,
            next_unload_seq: 0,
            next_unlock_seq: 0,
            pending: 0,
            exceptions: 0,
            credits: 0,
            unsettled: Amount::ZERO,
            log_entries: 0,
            pin_tries: 0,
            puk_tries: 0,
            pin_verified: false,
        };
        if let PurseState::Active(p) = &self.state {
            s.mode = Some(p.cert.profile.mode);
            s.lock = p.lock;
            s.balance = p.balance;
            s.day = p.day;
            s.spent_today = p.spent_today;
            s.next_seq = p.next_seq;
            s.next_load_seq = p.next_load_seq;
            s.next_unload_seq = p.next_unload_seq;
            s.next_unlock_seq = p.next_unlock_seq;
            s.pending = p.pending.code();
            // Both logs are bounded well below 256.
            s.exceptions = u8::try_from(p.exceptions.len()).unwrap_or(u8::MAX);
            s.log_entries = u8::try_from(p.log.len()).unwrap_or(u8::MAX);
            s.credits = u8::try_from(p.credits.len()).unwrap_or(u8::MAX);
            s.unsettled = p.unsettled();
            s.pin_tries = p.pin.tries_left();
            s.puk_tries = p.puk.tries_left();
            s.pin_verified = self.session.pin_verified;
        }
        s
    }

    fn initialize(&mut self, cmd: &Command) -> Result<Vec<u8>, Sw> {
        let PurseState::Blank { key } = &self.state else {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        };
        let issuer: &[u8; 32] = cmd
            .data
            .as_slice()
            .try_into()
            .map_err(|_| Sw::WRONG_LENGTH)?;
        let issuer = IssuerPublicKey::from_bytes(issuer).map_err(wrong_data)?;
        let key = key.clone();
        let public = key.public().to_bytes().to_vec();
        self.state = PurseState::Initialized { key, issuer };
        Ok(public)
    }

    fn personalize(&mut self, cmd: &Command) -> Result<Vec<u8>, Sw> {
        let PurseState::Initialized { key, issuer } = &self.state else {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        };
        exact_len(&cmd.data, CardCert::LEN + 2 * PIN_FIELD_LEN)?;
        let mut r = Reader::new(&cmd.data);
        let cert = CardCert::read(&mut r).map_err(wrong_data)?;
        let pin =
            Pin::from_field(r.take(PIN_FIELD_LEN).map_err(wrong_data)?).map_err(wrong_data)?;
        let puk =
            Pin::from_field(r.take(PIN_FIELD_LEN).map_err(wrong_data)?).map_err(wrong_data)?;
        cert.verify(issuer).map_err(|_| Sw::BAD_SIGNATURE)?;
        if cert.card_pub != key.public() {
            return Err(Sw::WRONG_DATA);
        }
        self.state = PurseState::Active(Box::new(ActivePurse {
            key: key.clone(),
            issuer: *issuer,
            cert,
            pin: PinCounter::new(pin, PIN_TRIES),
            puk: PinCounter::new(puk, PUK_TRIES),
            balance: Amount::ZERO,
            day: 0,
            spent_today: Amount::ZERO,
            lock: None,
            next_seq: 1,
            next_load_seq: 1,
            next_unload_seq: 1,
            next_unlock_seq: 1,
            next_exception_id: 1,
            pending: Pending::Idle,
            exceptions: Vec::new(),
            log: VecDeque::new(),
            last_ack: None,
            last_unload: None,
            last_load_receipt: None,
            credits: Vec::new(),
        }));
        Ok(Vec::new())
    }
}

impl ActivePurse {
    fn id(&self) -> CardId {
        self.cert.card_id
    }

    fn mode(&self) -> Mode {
        self.cert.profile.mode
    }

    fn check_unlocked(&self) -> Result<(), Sw> {
        match self.lock {
            None => Ok(()),
            Some(_) => Err(Sw::PURSE_LOCKED),
        }
    }

    /// Moves the card's day forward (never back); a new day restarts the daily total.
    fn see_day(&mut self, day: u32) {
        if day > self.day {
            self.day = day;
            self.spent_today = Amount::ZERO;
        }
    }

    fn push_log(&mut self, entry: LogEntry) {
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_back();
        }
        self.log.push_front(entry);
    }

    fn set_debit_status(&mut self, payer_seq: u32, status: LogStatus) {
        if let Some(e) = self
            .log
            .iter_mut()
            .find(|e| e.kind == LogKind::Debit && e.seq == payer_seq)
        {
            e.status = status;
        }
    }

    /// A counterparty certificate: genuine, another card, same currency.
    fn check_counterparty(&self, cert: &CardCert) -> Result<(), Sw> {
        cert.verify(&self.issuer).map_err(|_| Sw::BAD_SIGNATURE)?;
        if cert.card_id == self.id() || cert.profile.currency != self.cert.profile.currency {
            return Err(Sw::WRONG_DATA);
        }
        Ok(())
    }

    /// Room for the exception an abort of the current transfer and of a new one may write.
    /// Value credited offline and not yet settled at the bank.
    fn unsettled(&self) -> Amount {
        // Each credit fits under the balance cap and the log holds 16: no overflow;
        // saturate rather than panic all the same.
        Amount::checked_sum(self.credits.iter().map(|c| c.terms().amount))
            .unwrap_or(Amount::from_minor(u64::MAX))
    }

    /// What the purse may give out: its balance less unsettled credits.
    fn spendable(&self) -> Amount {
        self.balance
            .checked_sub(self.unsettled())
            .unwrap_or(Amount::ZERO)
    }

    fn check_exception_room(&self) -> Result<(), Sw> {
        let needed = self.exceptions.len() + usize::from(self.pending.needs_exception()) + 1;
        if needed > EXCEPTION_LOG_CAPACITY {
            Err(Sw::LOG_FULL)
        } else {
            Ok(())
        }
    }

    fn require_pin(&self, session: &Session) -> Result<(), Sw> {
        if session.pin_verified {
            Ok(())
        } else {
            Err(Sw::SECURITY_NOT_SATISFIED)
        }
    }

    /// After a value-out operation a terminal needs its PIN again.
    fn consume_pin(&self, session: &mut Session) {
        if self.mode() == Mode::Terminal {
            session.pin_verified = false;
        }
    }

    fn verify(&mut self, session: &mut Session, cmd: &Command) -> Result<Vec<u8>, Sw> {
        if cmd.p1 != 0 || cmd.p2 != PIN_REF {
            return Err(Sw::WRONG_P1P2);
        }
        if cmd.data.is_empty() {
            // ISO 7816-4: VERIFY without data asks for the status.
            return if session.pin_verified {
                Ok(Vec::new())
            } else if self.pin.is_blocked() {
                Err(Sw::AUTH_BLOCKED)
            } else {
                Err(Sw::retries_left(self.pin.tries_left()))
            };
        }
        exact_len(&cmd.data, PIN_FIELD_LEN)?;
        let attempt = Pin::from_field(&cmd.data).map_err(wrong_data)?;
        session.pin_verified = false;
        self.pin.verify(&attempt)?;
        session.pin_verified = true;
        Ok(Vec::new())
    }

    fn change_pin(&mut self, session: &mut Session, cmd: &Command) -> Result<Vec<u8>, Sw> {
        if cmd.p1 != 0 || cmd.p2 != PIN_REF {
            return Err(Sw::WRONG_P1P2);
        }
        exact_len(&cmd.data, 2 * PIN_FIELD_LEN)?;
        let (old, new) = cmd.data.split_at(PIN_FIELD_LEN);
        let old = Pin::from_field(old).map_err(wrong_data)?;
        let new = Pin::from_field(new).map_err(wrong_data)?;
        session.pin_verified = false;
        self.pin.verify(&old)?;
        self.pin.reset(new);
        session.pin_verified = true;
        Ok(Vec::new())
    }

    fn reset_retry_counter(&mut self, cmd: &Command) -> Result<Vec<u8>, Sw> {
        if cmd.p1 != 0 || cmd.p2 != PIN_REF {
            return Err(Sw::WRONG_P1P2);
        }
        exact_len(&cmd.data, 2 * PIN_FIELD_LEN)?;
        let (puk, new) = cmd.data.split_at(PIN_FIELD_LEN);
        let puk = Pin::from_field(puk).map_err(wrong_data)?;
        let new = Pin::from_field(new).map_err(wrong_data)?;
        self.puk.verify(&puk)?;
        self.pin.reset(new);
        Ok(Vec::new())
    }

    fn load(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        self.check_unlocked()?;
        exact_len(data, LoadAuth::LEN)?;
        let auth = LoadAuth::parse(data).map_err(wrong_data)?;
        auth.verify_issuer(&self.issuer)
            .map_err(|_| Sw::BAD_SIGNATURE)?;
        let a = auth.body;
        if a.card_id != self.id() || a.currency != self.cert.profile.currency || a.amount.is_zero()
        {
            return Err(Sw::WRONG_DATA);
        }
        if a.load_seq != self.next_load_seq {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        // A credit in progress keeps its room under the cap.
        let incoming = match &self.pending {
            Pending::ExpectingValue { terms, .. } => terms.amount,
            _ => Amount::ZERO,
        };
        let balance = self
            .balance
            .checked_add(a.amount)
            .map_err(|_| Sw::BALANCE_CAP)?;
        let with_incoming = balance.checked_add(incoming).map_err(|_| Sw::BALANCE_CAP)?;
        if with_incoming > self.cert.profile.balance_cap {
            return Err(Sw::BALANCE_CAP);
        }
        next(&mut self.next_load_seq)?;
        self.balance = balance;
        self.see_day(a.day);
        self.push_log(LogEntry {
            kind: match a.kind {
                LoadKind::Bank => LogKind::Load,
                LoadKind::Recovery => LogKind::Recovery,
            },
            status: LogStatus::Complete,
            counterparty: CardId([0; 8]),
            amount: a.amount,
            seq: a.load_seq,
            counter_seq: 0,
            day: self.day,
            balance_after: balance,
        });
        let receipt = Signed::by_card(
            LoadReceiptBody {
                card_id: self.id(),
                currency: a.currency,
                amount: a.amount,
                load_seq: a.load_seq,
                balance_after: balance,
            },
            &self.key,
        );
        let out = receipt.to_bytes();
        self.last_load_receipt = Some(receipt);
        Ok(out)
    }

    fn unload(&mut self, session: &mut Session, data: &[u8]) -> Result<Vec<u8>, Sw> {
        self.check_unlocked()?;
        exact_len(data, UnloadOrder::LEN)?;
        let order = UnloadOrder::parse(data).map_err(wrong_data)?;
        self.require_pin(session)?;
        if order.amount.is_zero() {
            return Err(Sw::WRONG_DATA);
        }
        if order.amount > self.spendable() {
            return Err(Sw::INSUFFICIENT_FUNDS);
        }
        let balance = self
            .balance
            .checked_sub(order.amount)
            .map_err(|_| Sw::INSUFFICIENT_FUNDS)?;
        let unload_seq = next(&mut self.next_unload_seq)?;
        self.balance = balance;
        self.see_day(order.day);
        self.consume_pin(session);
        self.push_log(LogEntry {
            kind: LogKind::Unload,
            status: LogStatus::Complete,
            counterparty: CardId([0; 8]),
            amount: order.amount,
            seq: unload_seq,
            counter_seq: 0,
            day: self.day,
            balance_after: balance,
        });
        let proof = Signed::by_card(
            UnloadProofBody {
                card_id: self.id(),
                currency: self.cert.profile.currency,
                amount: order.amount,
                unload_seq,
                destination: order.destination,
            },
            &self.key,
        );
        let out = proof.to_bytes();
        self.last_unload = Some(proof);
        Ok(out)
    }

    fn unlock(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        exact_len(data, UnlockAuth::LEN)?;
        let auth = UnlockAuth::parse(data).map_err(wrong_data)?;
        auth.verify_issuer(&self.issuer)
            .map_err(|_| Sw::BAD_SIGNATURE)?;
        if auth.body.card_id != self.id() {
            return Err(Sw::WRONG_DATA);
        }
        if auth.body.unlock_seq != self.next_unlock_seq {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        next(&mut self.next_unlock_seq)?;
        self.lock = None;
        self.see_day(auth.body.day);
        Ok(Vec::new())
    }

    /// The card-signed report of its lock, for the bank; only while locked.
    fn lock_report(&self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        exact_len(data, 0)?;
        let reason = self.lock.ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        let report: LockReport = Signed::by_card(
            LockReportBody {
                card_id: self.id(),
                unlock_seq: self.next_unlock_seq,
                reason,
                day: self.day,
                balance: self.balance,
                spent_today: self.spent_today,
            },
            &self.key,
        );
        Ok(report.to_bytes())
    }

    /// Ends the transfer in progress, logging an exception if value may be in flight.
    /// Returns 0 (nothing), 1 (a START FROM dropped, nothing moved) or 2 (logged).
    fn abort(&mut self) -> Result<u8, Sw> {
        let pending = core::mem::replace(&mut self.pending, Pending::Idle);
        let (kind, terms, counterparty_key) = match pending {
            Pending::Idle => return Ok(0),
            Pending::ExpectingRequest { .. } => return Ok(1),
            Pending::ExpectingValue { terms, payer_key } => {
                (ExceptionKind::AbandonedCredit, terms, payer_key)
            }
            Pending::ExpectingAck { terms, payee_key } => {
                self.set_debit_status(terms.payer_seq, LogStatus::Exception);
                (ExceptionKind::UnackedDebit, terms, payee_key)
            }
        };
        // Room was reserved when the transfer started (check_exception_room).
        let id = next(&mut self.next_exception_id)?;
        self.exceptions.push(StoredException {
            id,
            kind,
            terms,
            counterparty_key,
        });
        Ok(2)
    }

    fn start_from(&mut self, session: &mut Session, data: &[u8]) -> Result<Vec<u8>, Sw> {
        self.check_unlocked()?;
        exact_len(data, StartFrom::LEN)?;
        let start = StartFrom::parse(data).map_err(wrong_data)?;
        self.check_counterparty(&start.payee)?;
        if start.amount.is_zero() {
            return Err(Sw::WRONG_DATA);
        }
        self.require_pin(session)?;
        self.check_exception_room()?;
        if start.amount > self.spendable() {
            return Err(Sw::INSUFFICIENT_FUNDS);
        }
        if self.next_seq == u32::MAX {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        self.abort()?;
        self.see_day(start.day);
        let profile = self.cert.profile;
        let over_daily = self
            .spent_today
            .checked_add(start.amount)
            .map_or(true, |total| total > profile.daily_limit);
        if start.amount > profile.per_transfer_limit {
            self.lock = Some(LockReason::PerTransferLimit);
            return Err(Sw::RISK_LOCKED);
        }
        if over_daily {
            self.lock = Some(LockReason::DailyLimit);
            return Err(Sw::RISK_LOCKED);
        }
        let payer_seq = next(&mut self.next_seq)?;
        self.pending = Pending::ExpectingRequest {
            payee: start.payee.card_id,
            payee_key: start.payee.card_pub,
            amount: start.amount,
            purpose: start.purpose,
            payer_seq,
        };
        Ok(payer_seq.to_be_bytes().to_vec())
    }

    fn start_to(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        self.check_unlocked()?;
        exact_len(data, StartTo::LEN)?;
        let start = StartTo::parse(data).map_err(wrong_data)?;
        self.check_counterparty(&start.payer)?;
        // A genuine payer never sends more than its certificate's per-transfer limit
        // (it locks instead): such a transfer is taken by no genuine payee either.
        if start.amount.is_zero() || start.amount > start.payer.profile.per_transfer_limit {
            return Err(Sw::WRONG_DATA);
        }
        self.check_exception_room()?;
        if self.credits.len() >= CREDIT_LOG_CAPACITY {
            return Err(Sw::LOG_FULL);
        }
        let after = self
            .balance
            .checked_add(start.amount)
            .map_err(|_| Sw::BALANCE_CAP)?;
        if after > self.cert.profile.balance_cap {
            return Err(Sw::BALANCE_CAP);
        }
        if self.next_seq == u32::MAX {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        self.abort()?;
        self.see_day(start.day);
        let payee_seq = next(&mut self.next_seq)?;
        let terms = Terms {
            payer: start.payer.card_id,
            payee: self.id(),
            currency: self.cert.profile.currency,
            amount: start.amount,
            payer_seq: start.payer_seq,
            payee_seq,
            purpose: start.purpose,
        };
        self.pending = Pending::ExpectingValue {
            terms,
            payer_key: start.payer.card_pub,
        };
        Ok(Request::by_card(RequestBody(terms), &self.key).to_bytes())
    }

    fn req(&mut self, session: &mut Session, data: &[u8]) -> Result<Vec<u8>, Sw> {
        exact_len(data, Request::LEN)?;
        let request = Request::parse(data).map_err(wrong_data)?;
        let Pending::ExpectingRequest {
            payee,
            payee_key,
            amount,
            purpose,
            payer_seq,
        } = self.pending
        else {
            return Err(Sw::REFERENCE_NOT_FOUND);
        };
        let t = request.body.0;
        if t.payer != self.id() || t.payer_seq != payer_seq || t.payee != payee {
            return Err(Sw::REFERENCE_NOT_FOUND);
        }
        request
            .verify_card(&payee_key)
            .map_err(|_| Sw::BAD_SIGNATURE)?;
        if t.amount != amount || t.purpose != purpose || t.currency != self.cert.profile.currency {
            return Err(Sw::WRONG_DATA);
        }
        self.require_pin(session)?;
        if amount > self.spendable() {
            return Err(Sw::INSUFFICIENT_FUNDS);
        }
        let balance = self
            .balance
            .checked_sub(amount)
            .map_err(|_| Sw::INSUFFICIENT_FUNDS)?;
        let spent = self
            .spent_today
            .checked_add(amount)
            .map_err(|_| Sw::WRONG_DATA)?;
        self.balance = balance;
        self.spent_today = spent;
        self.consume_pin(session);
        self.push_log(LogEntry {
            kind: LogKind::Debit,
            status: LogStatus::AwaitingAck,
            counterparty: payee,
            amount,
            seq: payer_seq,
            counter_seq: t.payee_seq,
            day: self.day,
            balance_after: balance,
        });
        self.pending = Pending::ExpectingAck {
            terms: t,
            payee_key,
        };
        Ok(Value::by_card(ValueBody(t), &self.key).to_bytes())
    }

    fn val(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        exact_len(data, Value::LEN)?;
        let value = Value::parse(data).map_err(wrong_data)?;
        let Pending::ExpectingValue { terms, payer_key } = &self.pending else {
            return Err(Sw::REFERENCE_NOT_FOUND);
        };
        let t = value.body.0;
        if t.payer != terms.payer
            || t.payee_seq != terms.payee_seq
            || t.payer_seq != terms.payer_seq
        {
            return Err(Sw::REFERENCE_NOT_FOUND);
        }
        value
            .verify_card(payer_key)
            .map_err(|_| Sw::BAD_SIGNATURE)?;
        if t != *terms {
            return Err(Sw::WRONG_DATA);
        }
        let balance = self
            .balance
            .checked_add(t.amount)
            .map_err(|_| Sw::BALANCE_CAP)?;
        if balance > self.cert.profile.balance_cap {
            return Err(Sw::BALANCE_CAP);
        }
        self.balance = balance;
        self.pending = Pending::Idle;
        self.push_log(LogEntry {
            kind: LogKind::Credit,
            status: LogStatus::Complete,
            counterparty: t.payer,
            amount: t.amount,
            seq: t.payee_seq,
            counter_seq: t.payer_seq,
            day: self.day,
            balance_after: balance,
        });
        let ack = Ack::by_card(AckBody(t), &self.key);
        let out = ack.to_bytes();
        // Room was checked at START TO (one transfer in progress at a time).
        self.credits.push(Credit {
            value,
            ack: ack.clone(),
        });
        self.last_ack = Some(ack);
        Ok(out)
    }

    fn ack(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        exact_len(data, Ack::LEN)?;
        let ack = Ack::parse(data).map_err(wrong_data)?;
        let t = ack.body.0;
        if let Pending::ExpectingAck { terms, payee_key } = &self.pending
            && *terms == t
        {
            ack.verify_card(payee_key).map_err(|_| Sw::BAD_SIGNATURE)?;
            self.pending = Pending::Idle;
            self.set_debit_status(t.payer_seq, LogStatus::Complete);
            return Ok(Vec::new());
        }
        // A late ACK for a debit already in the exception log settles it here.
        let Some(pos) = self
            .exceptions
            .iter()
            .position(|e| e.kind == ExceptionKind::UnackedDebit && e.terms == t)
        else {
            return Err(Sw::REFERENCE_NOT_FOUND);
        };
        ack.verify_card(&self.exceptions[pos].counterparty_key)
            .map_err(|_| Sw::BAD_SIGNATURE)?;
        self.exceptions.remove(pos);
        self.set_debit_status(t.payer_seq, LogStatus::Complete);
        Ok(Vec::new())
    }

    fn resend(&self, which: u8) -> Result<Vec<u8>, Sw> {
        let out = match which {
            1 => self.last_ack.as_ref().map(Signed::to_bytes),
            2 => self.last_unload.as_ref().map(Signed::to_bytes),
            3 => self.last_load_receipt.as_ref().map(Signed::to_bytes),
            _ => return Err(Sw::WRONG_P1P2),
        };
        out.ok_or(Sw::REFERENCE_NOT_FOUND)
    }

    fn get_log(&self, session: &Session, index: u8) -> Result<Vec<u8>, Sw> {
        if self.mode() == Mode::Personal {
            self.require_pin(session)?;
        }
        self.log
            .get(usize::from(index))
            .map(LogEntry::to_bytes)
            .ok_or(Sw::RECORD_NOT_FOUND)
    }

    fn get_exception(&self, index: u8) -> Result<Vec<u8>, Sw> {
        let e = self
            .exceptions
            .get(usize::from(index))
            .ok_or(Sw::RECORD_NOT_FOUND)?;
        let record: ExceptionRecord = Signed::by_card(
            ExceptionRecordBody {
                card_id: self.id(),
                exception_id: e.id,
                kind: e.kind,
                terms: e.terms,
            },
            &self.key,
        );
        Ok(record.to_bytes())
    }

    fn clear_exceptions(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        exact_len(data, ClearAuth::LEN)?;
        let auth = ClearAuth::parse(data).map_err(wrong_data)?;
        auth.verify_issuer(&self.issuer)
            .map_err(|_| Sw::BAD_SIGNATURE)?;
        if auth.body.card_id != self.id() {
            return Err(Sw::WRONG_DATA);
        }
        self.exceptions.retain(|e| !auth.body.ids.contains(&e.id));
        Ok(Vec::new())
    }

    fn get_credit(&self, index: u8) -> Result<Vec<u8>, Sw> {
        self.credits
            .get(usize::from(index))
            .map(Credit::to_bytes)
            .ok_or(Sw::RECORD_NOT_FOUND)
    }

    /// Drops the credits the bank settled (named by this card's sequence numbers).
    fn clear_credits(&mut self, data: &[u8]) -> Result<Vec<u8>, Sw> {
        exact_len(data, SettleAuth::LEN)?;
        let auth = SettleAuth::parse(data).map_err(wrong_data)?;
        auth.verify_issuer(&self.issuer)
            .map_err(|_| Sw::BAD_SIGNATURE)?;
        if auth.body.card_id != self.id() {
            return Err(Sw::WRONG_DATA);
        }
        let b = &auth.body;
        let refused = Amount::checked_sum(
            self.credits
                .iter()
                .filter(|c| b.refused.contains(&c.terms().payee_seq))
                .map(|c| c.terms().amount),
        )
        .map_err(|_| Sw::WRONG_DATA)?;
        // Credits are part of the balance, so the refused ones always fit under it.
        let balance = self
            .balance
            .checked_sub(refused)
            .map_err(|_| Sw::WRONG_DATA)?;
        self.credits.retain(|c| {
            let seq = c.terms().payee_seq;
            !b.settled.contains(&seq) && !b.refused.contains(&seq)
        });
        self.balance = balance;
        Ok(Vec::new())
    }
}

/// Reads GET BALANCE data: amount and currency.
pub fn parse_balance(data: &[u8]) -> Result<(Amount, ecash_shared::Currency), Error> {
    let mut r = Reader::new(data);
    let amount = Amount::from_minor(r.u64()?);
    let currency = read_currency(&mut r)?;
    r.finish()?;
    Ok((amount, currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_check_byte() {
        let x = ATR[1..].iter().fold(0u8, |a, b| a ^ b);
        assert_eq!(x, 0, "TCK makes the XOR of T0..TCK zero");
        assert_eq!(ATR[1] & 0x0F, 8, "eight historical bytes");
    }

    #[test]
    fn unselected_and_unknown() {
        let mut p = Purse::from_state(PurseState::manufacture_with_seed(&[1; 32]));
        assert_eq!(p.process(&[0x80, 0x50, 0, 0]), [0x69, 0x85]);
        let mut select = vec![0x00, 0xA4, 0x04, 0x00, AID.len() as u8];
        select.extend_from_slice(&AID);
        assert_eq!(p.process(&select), [0, 0x90, 0]);
        assert_eq!(p.process(&[0x80, 0xEE, 0, 0]), [0x6D, 0x00]);
        assert_eq!(p.process(&[0x84, 0x50, 0, 0]), [0x68, 0x82]);
        assert_eq!(p.process(&[0x81, 0x50, 0, 0]), [0x68, 0x81]);
        assert_eq!(p.process(&[0x90, 0x50, 0, 0]), [0x68, 0x84]);
        assert_eq!(p.process(&[0x40, 0x50, 0, 0]), [0x6E, 0x00]);
        assert_eq!(p.process(&[0x80]), [0x67, 0x00]);
        assert_eq!(p.process(&[0x80, 0x52, 0, 0]), [0x69, 0x85]);
        select[6] ^= 1;
        assert_eq!(p.process(&select), [0x6A, 0x82]);
    }
}
