//! The bank as card issuer, without HTTP: the virtual cards' risk profile, card ids,
//! the checks of card-signed exception logs, and the operator's unlock decisions
//! (used by the API, [`crate::api::cards`], and the command line alike).

use std::collections::BTreeMap;

use ecash_card::api::{UNLOCK_REASON_MAX_CHARS, UnlockState, UnlockStatus};
use ecash_card::cert::{CardCert, CardProfile, Mode};
use ecash_card::exception::{EXCEPTION_LOG_CAPACITY, ExceptionRecord};
use ecash_card::issuer::Issuer;
use ecash_card::keys::CardId;
use ecash_card::load::LoadAuth;
use ecash_card::message::Body;
use ecash_card::risk::{LockReason, UnlockAuth, UnlockAuthBody};
use ecash_card::settle::CREDIT_LOG_CAPACITY;
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency};

use crate::Bank;
use crate::bank::pool::BlockingFailed;
use crate::storage::{
    CardUnlockRefusal, CardUnlockRequestRecord, CardUnlockState, MAX_STORED_AMOUNT, NewCardUnlock,
    Storage, StorageError,
};

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

/// The records of one upload, checked: distinct ids (an identical repeat is
/// dropped), at most a card log's worth, each signed by the card and naming it.
pub fn check_records(
    bank: &Bank,
    cert: &CardCert,
    records: Vec<ExceptionRecord>,
) -> Result<Vec<ExceptionRecord>, CardError> {
    let mut by_id: BTreeMap<u32, ExceptionRecord> = BTreeMap::new();
    for r in records {
        let id = r.body.exception_id;
        match by_id.get(&id) {
            Some(seen) if *seen != r => return Err(CardError::ConflictingExceptions(id)),
            Some(_) => {}
            None if by_id.len() == EXCEPTION_LOG_CAPACITY => {
                return Err(CardError::TooManyExceptions);
            }
            None => {
                by_id.insert(id, r);
            }
        }
    }
    for (&id, r) in &by_id {
        let b = &r.body;
        if b.card_id != cert.card_id {
            return Err(CardError::OtherCardsException {
                id,
                card: b.card_id,
            });
        }
        let bad = |reason: String| CardError::BadException { id, reason };
        bank.keys
            .card_issuer()
            .check_exception(cert, r)
            .map_err(|e| bad(e.to_string()))?;
        if id == 0 {
            return Err(bad("exception ids start at 1".to_owned()));
        }
        if b.terms.currency != cert.profile.currency {
            return Err(bad("the transfer is in another currency".to_owned()));
        }
        if b.terms.amount.is_zero() || b.terms.amount > MAX_STORED_AMOUNT {
            return Err(bad("the transfer's amount is out of range".to_owned()));
        }
    }
    Ok(by_id.into_values().collect())
}

/// The terms' encoding, the key two matching records share: the record's body
/// after `card_id (8) || exception_id (4) || kind (1)`.
pub fn terms_bytes(body: &ecash_card::exception::ExceptionRecordBody) -> Vec<u8> {
    body.to_bytes()
        .get(13..)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

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

/// What an operator's approval did.
#[derive(Debug, Clone)]
pub struct UnlockApproval {
    /// The card.
    pub card_id: CardId,
    /// The number signed.
    pub unlock_seq: u32,
    /// The issuer-signed UNLOCK.
    pub auth: UnlockAuth,
    /// The bank-side block lifted (its reason), if the card had one.
    pub lifted_block: Option<String>,
}

/// The operator approves reopening a card: signs UNLOCK for `unlock_seq` — or, with
/// `None`, for the card's pending request's number (there must be one, still pending
/// when the decision is recorded) — and records it ([`CardStore::card_unlock`](crate::storage::CardStore::card_unlock)): the
/// decision with `decided_by` in `card_unlocks`, the request approved, a bank-side
/// block lifted. `POST /v1/cards/{id}/unlock` and `bank-server admin card-unlock`.
/// Blocking (storage).
pub fn approve_unlock(
    storage: &dyn Storage,
    issuer: &Issuer,
    card_id: [u8; 8],
    unlock_seq: Option<u32>,
    decided_by: &str,
    now: Timestamp,
) -> Result<UnlockApproval, CardError> {
    storage
        .card(&card_id)?
        .ok_or(CardError::Storage(StorageError::UnknownCard))?;
    let seq = match unlock_seq {
        Some(0) => return Err(CardError::ZeroUnlockSeq),
        Some(seq) => seq,
        None => match storage.card_unlock_status(&card_id)? {
            Some(r) if r.state == CardUnlockState::Pending => r.unlock_seq,
            _ => return Err(CardError::Storage(StorageError::NoPendingUnlockRequest)),
        },
    };
    let auth = issuer.sign_unlock(UnlockAuthBody {
        card_id: CardId(card_id),
        unlock_seq: seq,
        day: day_of(now),
    });
    let lifted_block = storage.card_unlock(&NewCardUnlock {
        card_id,
        unlock_seq: seq,
        decided_by: decided_by.to_owned(),
        auth: auth.to_bytes(),
        pending_only: unlock_seq.is_none(),
        now,
    })?;
    tracing::info!(
        card = %CardId(card_id),
        unlock_seq = seq,
        decided_by,
        lifted_block = lifted_block.as_deref().unwrap_or("none"),
        "operator unlocked a card"
    );
    Ok(UnlockApproval {
        card_id: CardId(card_id),
        unlock_seq: seq,
        auth,
        lifted_block,
    })
}

/// The operator refuses the card's pending unlock request, with a note for the owner
/// (`bank-server admin card-refuse`). Blocking (storage).
pub fn refuse_unlock(
    storage: &dyn Storage,
    card_id: [u8; 8],
    decided_by: &str,
    note: Option<&str>,
    now: Timestamp,
) -> Result<CardUnlockRequestRecord, CardError> {
    let note = check_text("note", note)?;
    let record = storage.card_unlock_refuse(&CardUnlockRefusal {
        card_id,
        decided_by: decided_by.to_owned(),
        note,
        now,
    })?;
    tracing::info!(
        card = %CardId(card_id),
        unlock_seq = record.unlock_seq,
        decided_by,
        "operator refused a card's unlock request"
    );
    Ok(record)
}

/// The wire form of a stored request.
pub fn unlock_status_of(r: &CardUnlockRequestRecord) -> Result<UnlockStatus, CardError> {
    let auth = r
        .auth
        .as_deref()
        .map(UnlockAuth::parse)
        .transpose()
        .map_err(|_| CardError::Storage(StorageError::backend(CorruptAuth)))?;
    Ok(UnlockStatus {
        card_id: CardId(r.card_id),
        unlock_seq: r.unlock_seq,
        state: match r.state {
            CardUnlockState::Pending => UnlockState::Pending,
            CardUnlockState::Approved => UnlockState::Approved,
            CardUnlockState::Refused => UnlockState::Refused,
        },
        lock: r
            .lock_reason
            .as_deref()
            .map(|name| {
                LockReason::from_name(name)
                    .ok_or(CardError::Storage(StorageError::backend(CorruptLockReason)))
            })
            .transpose()?,
        reason: r.reason.clone(),
        requested_at: r.requested_at,
        decided_at: r.decided_at,
        note: r.note.clone(),
        auth,
    })
}
