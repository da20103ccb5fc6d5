//! Electronic purse cards (crate `ecash-card`): the bank as card issuer, without
//! HTTP. The operations are [`Bank`] methods in [`purse`] (certify, load, unload,
//! exception logs, settlement, the card's bank-side view) and [`unlock`] (requests
//! and the operator's decisions, shared with the command line); the routes are
//! [`crate::api::cards`].
//!
//! **The bank's own ledger per card.** A card key the user holds is a claim, never
//! proof: a virtual card is a key its holder controls. So the bank keeps, per card,
//! `bank_balance` = bank loads − unloads − settled transfers out + settled transfers
//! in, and never pays out of a card more than that (see `ecash_card::settle` for the
//! card's side: credits taken offline stay on the payee card, unspendable, until
//! settled here). Unloads and settled transfers out are bounded by it in the
//! transaction that books them; a card found giving out more is not genuine — it is
//! blocked, the evidence kept, and its shortfall booked against its owner.
//!
//! The issuer key (ed25519) is in the private key file next to the receipt key and
//! is published at `GET /v1/cards/issuer`; a wallet writes it into a blank card at
//! INITIALIZE. Bodies are the types of [`ecash_card::api`].
//!
//! - `POST /v1/cards` (bearer) `{card_pub, mode}` → `{card_id, cert}`: a fresh
//!   random card id and the issuer's certificate with the risk profile of a
//!   *virtual* card (low caps and limits, see [`profile`]), registered to the
//!   caller. The same key again by the same account and mode answers the stored
//!   certificate (a retry); another account's key is `FORBIDDEN`, another mode
//!   `IDEMPOTENCY_CONFLICT`.
//! - `POST /v1/cards/{id}/loads` (bearer, the card's owner) `{amount, load_seq}` →
//!   `{auth}`: `load_seq` must be the card's next load number (GET STATUS); the
//!   account is debited (ledger kind `card_load`) and the signed authorization
//!   stored under `(card_id, load_seq)` in one transaction before it leaves. A retry
//!   with the same number and amount answers the stored authorization and debits
//!   nothing; another amount is `IDEMPOTENCY_CONFLICT`; any other number
//!   `BAD_REQUEST`. Zero or above the card's cap: `INVALID_AMOUNT`; balance too
//!   low: `INSUFFICIENT_FUNDS`; not the owner: `FORBIDDEN`; no such card: `NOT_FOUND`.
//! - `POST /v1/cards/{id}/unloads` (bearer) `{proof}` → `{card_id, unload_seq, amount}`:
//!   the proof must be signed by the certified card key (`BAD_REQUEST` otherwise, or
//!   for a proof of another card than `{id}`), its destination must be
//!   [`destination_for_account`] of the caller (`FORBIDDEN`); the caller is credited
//!   once per `(card_id, unload_seq)` (ledger kind `card_unload`). The identical
//!   proof again answers the same result and credits nothing; a *different* proof
//!   under a used number can only come from a copy of the card (a cloned virtual
//!   card) and is refused with `IDEMPOTENCY_CONFLICT` — and the card is blocked
//!   at the bank (below).
//!   An unload for more than the card's bank-side balance is answered
//!   `CARD_OVERSPENT` and, in the same transaction, the card is blocked and the proof
//!   kept as evidence (`card_overspends`); nothing is credited.
//! - `POST /v1/cards/{id}/transfers` (bearer, the payee card's owner) `{credits}` →
//!   `{clear, settled, refused, bank_balance}`: settles the offline payments this card
//!   received (`transfers`; the rules are [`CardStore::card_settle`](crate::storage::CardStore::card_settle)'s).
//! - `GET /v1/cards/{id}` (bearer, the card's owner) → `CardInfo`: the bank-side
//!   balance, the block, the owner's debt.
//! - `GET /v1/cards/{id}/loads?from=N` (bearer, the card's owner) → `{loads}`:
//!   the stored authorizations (bank loads and recoveries) with `load_seq ≥ N`
//!   (N ≥ 1), in order, at most [`LOADS_PAGE_MAX`]; a card fetches an
//!   authorization whose answer was lost, and its recovery loads, from its next
//!   load number. Unknown or malformed query fields, N = 0: `BAD_REQUEST`.
//! - `POST /v1/cards/{id}/exceptions` (bearer, the card's owner) `{records}` →
//!   `{clear, recovered}`: the card's exception log as GET EXCEPTION read it (at
//!   most [`EXCEPTION_LOG_CAPACITY`](ecash_card::exception::EXCEPTION_LOG_CAPACITY) distinct ids). Every record must be signed by
//!   this card's certified key and name this card on the side its kind says
//!   (`BAD_REQUEST` otherwise, and nothing is stored). In one transaction each
//!   record is stored once by `(card_id, exception_id)`, and every transfer now
//!   proven lost (an unacked debit and an abandoned credit with identical terms)
//!   gets one recovery load for the *payer* card, once per `(payer, payer_seq)`,
//!   under the payer card's next load number (kind `Recovery`; no account is
//!   debited). `clear` is the issuer's CLEAR EXCEPTIONS authorization naming
//!   exactly the ids sent; `recovered` the recovery loads of the transfers the
//!   records name. A recovery is made only if the payer card's bank-side balance
//!   covers it (the lost debit was never settled, so a genuine payer's does) and
//!   the transfer was not settled (if it was, the payee card signed an ACK and an
//!   abandoned credit for it, and is blocked). Sending the same records again answers the same and stores
//!   nothing more; another record under a stored id blocks the card (below).
//! - `POST /v1/cards/{id}/unlock-requests` (bearer, the card's owner)
//!   `{report, reason?}` → [`UnlockStatus`](ecash_card::api::UnlockStatus): asks the operator to reopen a
//!   card its risk rules locked. `report` is the card's signed lock report (GET
//!   LOCK REPORT: the unlock number it expects and why it locked), verified
//!   against the card's certificate, so the bank knows from the card itself that
//!   it is locked; the request is for the report's number. Stored once per
//!   `(card_id, unlock_seq)`: asking again answers the stored request, whatever
//!   its state; asking for another number gives the card's pending request up
//!   (superseded). A blocked card may ask too (its way out). A report that does
//!   not verify, is another card's or names number 0, a reason over
//!   [`UNLOCK_REASON_MAX_CHARS`](ecash_card::api::UNLOCK_REASON_MAX_CHARS) characters or with control characters:
//!   `BAD_REQUEST`.
//! - `GET /v1/cards/{id}/unlock` (bearer, the card's owner) → [`UnlockStatus`](ecash_card::api::UnlockStatus):
//!   the card's pending request, else its latest decided one — approved with
//!   the signed UNLOCK, or refused with the operator's note; none at all:
//!   `NO_UNLOCK_REQUEST`. The wallet applies an approval only while the card
//!   still expects its number, so an old approval is harmless.
//! - `POST /v1/cards/{id}/unlock` (operator token) `{unlock_seq}` →
//!   `{auth, unblocked}`: the operator's approval, [`approve_unlock`]: the
//!   issuer-signed UNLOCK for that number, recorded with who and when in
//!   `card_unlocks`, the card's request for the number marked approved (stored
//!   as an unasked approval if there was none); it also lifts a bank-side
//!   block. Not the operator: `FORBIDDEN`; `unlock_seq` 0: `BAD_REQUEST`. The
//!   `bank-server admin card-requests | card-unlock | card-refuse` commands list
//!   the pending requests and decide them with the same functions
//!   ([`approve_unlock`], [`refuse_unlock`]).
//!
//! **Blocked cards.** A different unload proof under a used number, or a
//! card-signed exception record under a stored exception id that names another
//! transfer (a genuine card numbers its exceptions once), is answered
//! `IDEMPOTENCY_CONFLICT` and, in the same transaction, the card is marked
//! blocked — deliberately the one change a refused request makes (see
//! [`CardUnloadOutcome::Cloned`] and
//! [`CardExceptionOutcome::cloned`](crate::storage::CardExceptionOutcome::cloned)).
//! From then on loads, unloads, exception uploads and `GET …/loads` of that card
//! answer `FORBIDDEN` ("this card is blocked by the bank …") until an operator
//! unlocks it.
//!
//! Bad input changes nothing. For the audit, value on cards is bank loads −
//! unloads + the shortfalls of caught cards; recovery loads re-credit value already
//! counted there and are checked against the stored exception records instead (see
//! [`audit`](crate::bank::audit)).

pub mod purse;
pub mod unlock;

pub use purse::check_records;
pub use unlock::{UnlockApproval, approve_unlock, refuse_unlock, unlock_status_of};

use ecash_card::api::UNLOCK_REASON_MAX_CHARS;
use ecash_card::cert::{CardProfile, Mode};
use ecash_card::exception::EXCEPTION_LOG_CAPACITY;
use ecash_card::keys::CardId;
use ecash_card::load::LoadAuth;
use ecash_card::settle::CREDIT_LOG_CAPACITY;
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency};

use crate::bank::pool::BlockingFailed;
use crate::storage::StorageError;

/// Errors of the card endpoints.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// The path is not 16 hex digits.
    #[error("card ids are 16 hexadecimal digits")]
    BadCardId,
    /// Loads are for the card's owner.
    #[error("this card is registered to another account")]
    NotYourCard,
    /// Zero or above the card's cap.
    #[error("the amount must be between 1 and {0} minor units (the card's balance cap)")]
    InvalidAmount(u64),
    /// Load numbers start at 1.
    #[error("load_seq starts at 1")]
    ZeroLoadSeq,
    /// The proof is for another card.
    #[error("the unload proof is for card {0}, not this one")]
    OtherCard(CardId),
    /// Signature, certificate or currency do not check.
    #[error("the unload proof does not verify: {0}")]
    BadProof(ecash_card::Error),
    /// The proof pays another account.
    #[error("the unload proof names another account as its destination")]
    WrongDestination,
    /// Zero unload.
    #[error("the unload proof carries no value")]
    ZeroUnload,
    /// `?from=0`.
    #[error("from must be at least 1 (load numbers start at 1)")]
    ZeroFrom,
    /// More distinct exception ids than a card's log holds.
    #[error("at most {EXCEPTION_LOG_CAPACITY} distinct exception records per upload")]
    TooManyExceptions,
    /// Two different records under one id in one upload.
    #[error("two different exception records with id {0}")]
    ConflictingExceptions(u32),
    /// An exception record of another card.
    #[error("exception record {id} is of card {card}, not this one")]
    OtherCardsException {
        /// The record's id.
        id: u32,
        /// The card that signed it.
        card: CardId,
    },
    /// A record that is not this card's, or not well-formed.
    #[error("exception record {id} does not verify: {reason}")]
    BadException {
        /// The record's id.
        id: u32,
        /// Why.
        reason: String,
    },
    /// More distinct credits than a card's log holds.
    #[error("at most {CREDIT_LOG_CAPACITY} distinct credits per upload")]
    TooManyCredits,
    /// A credit that is not a genuine payee card's.
    #[error("credit {payee_seq} does not verify: {reason}")]
    BadCredit {
        /// The payee card's sequence number in it.
        payee_seq: u32,
        /// Why.
        reason: String,
    },
    /// Unlock numbers start at 1.
    #[error("unlock_seq starts at 1 (read the card's next_unlock_seq with GET STATUS)")]
    ZeroUnlockSeq,
    /// A lock report that is not this card's own, signed.
    #[error("the lock report does not verify: {0}")]
    BadLockReport(ecash_card::Error),
    /// A reason or note that is too long or holds control characters.
    #[error(
        "the {what} must be at most {UNLOCK_REASON_MAX_CHARS} characters without control characters"
    )]
    BadText {
        /// `reason` or `note`.
        what: &'static str,
    },
    /// `GET …/unlock` of a card nobody asked to unlock.
    #[error(
        "this card has no unlock request: ask with POST /v1/cards/{{id}}/unlock-requests {{report}}"
    )]
    NoUnlockRequest,
    /// A stored certificate that does not parse.
    #[error("stored card certificate is corrupt")]
    CorruptCert(ecash_card::Error),
    /// No randomness.
    #[error("random number generator unavailable")]
    Rng,
    /// Storage: insufficient funds, conflicts, …
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

/// The risk profile of a virtual card (a key in a browser's storage, not a
/// tamper-resistant chip): low caps and limits, in minor units.
pub fn profile(mode: Mode, currency: Currency) -> CardProfile {
    let (cap, per_transfer, daily) = match mode {
        Mode::Personal => (20_000, 5_000, 10_000),
        Mode::Terminal => (100_000, 5_000, 20_000),
    };
    CardProfile {
        mode,
        currency,
        balance_cap: Amount::from_minor(cap),
        per_transfer_limit: Amount::from_minor(per_transfer),
        daily_limit: Amount::from_minor(daily),
    }
}

/// The stored name of a mode.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Personal => "personal",
        Mode::Terminal => "terminal",
    }
}

/// A card id from a path or the command line: 16 hex digits.
pub fn parse_card_id(s: &str) -> Result<[u8; 8], CardError> {
    if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CardError::BadCardId);
    }
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| CardError::BadCardId)?;
    }
    Ok(out)
}

/// Days since 1970-01-01 (the cards' date).
pub fn today() -> u32 {
    day_of(crate::now())
}

/// The day (since 1970-01-01) of a time, as cards count days.
pub fn day_of(t: Timestamp) -> u32 {
    u32::try_from(t.unix().max(0) / 86_400).unwrap_or(u32::MAX)
}

/// A stored load authorization, parsed (a corrupt one is a backend failure).
pub fn parse_stored_auth(bytes: &[u8]) -> Result<LoadAuth, CardError> {
    LoadAuth::parse(bytes).map_err(|_| CardError::Storage(StorageError::backend(CorruptAuth)))
}

#[derive(Debug, thiserror::Error)]
#[error("stored load authorization does not parse")]
/// A stored load authorization that does not parse.
pub struct CorruptAuth;

#[derive(Debug, thiserror::Error)]
#[error("stored lock reason is not one the card knows")]
/// A stored lock reason the card does not know.
pub struct CorruptLockReason;

/// The owner's reason or the operator's note, trimmed (empty: none); too long or
/// with control characters: [`CardError::BadText`].
pub fn check_text(what: &'static str, text: Option<&str>) -> Result<Option<String>, CardError> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > UNLOCK_REASON_MAX_CHARS || t.chars().any(char::is_control) {
        return Err(CardError::BadText { what });
    }
    Ok(Some(t.to_owned()))
}
