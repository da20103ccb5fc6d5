//! Unlock requests and the operator's decisions: a card its risk rules locked asks
//! with its signed lock report; the operator approves (an issuer-signed UNLOCK) or
//! refuses with a note, over HTTP or from the command line.

use ecash_card::api::{NewUnlockRequest, UnlockState, UnlockStatus};
use ecash_card::issuer::Issuer;
use ecash_card::keys::CardId;
use ecash_card::risk::{LockReason, UnlockAuth, UnlockAuthBody};
use ecash_shared::encoding::Timestamp;

use super::{CardError, CorruptAuth, CorruptLockReason, check_text, day_of};
use crate::Bank;
use crate::storage::{
    AccountRecord, CardUnlockRefusal, CardUnlockRequestRecord, CardUnlockState, NewCardUnlock,
    NewCardUnlockRequest, Storage, StorageError,
};

impl Bank {
    /// `account` asks the operator to reopen its card `id`, locked as the card's
    /// signed `req.report` says: the stored request.
    pub fn request_unlock(
        &self,
        account: &AccountRecord,
        id: [u8; 8],
        req: NewUnlockRequest,
        now: Timestamp,
    ) -> Result<UnlockStatus, CardError> {
        let (_, cert) = self.owned_card(id, account, false)?;
        self.keys
            .card_issuer()
            .check_lock_report(&cert, &req.report)
            .map_err(CardError::BadLockReport)?;
        let record = self.storage.card_unlock_request(&NewCardUnlockRequest {
            card_id: id,
            unlock_seq: req.report.body.unlock_seq,
            lock_reason: req.report.body.reason.as_str().to_owned(),
            lock_report: req.report.to_bytes(),
            account_id: account.id,
            reason: check_text("reason", req.reason.as_deref())?,
            now,
        })?;
        tracing::info!(
            card = %CardId(id),
            unlock_seq = record.unlock_seq,
            lock = record.lock_reason.as_deref().unwrap_or("-"),
            state = ?record.state,
            "card unlock requested"
        );
        unlock_status_of(&record)
    }

    /// The pending unlock request of `account`'s card `id`, else its latest
    /// decided one.
    pub fn unlock_status(
        &self,
        account: &AccountRecord,
        id: [u8; 8],
    ) -> Result<UnlockStatus, CardError> {
        self.owned_card(id, account, false)?;
        let record = self
            .storage
            .card_unlock_status(&id)?
            .ok_or(CardError::NoUnlockRequest)?;
        unlock_status_of(&record)
    }

    /// The operator's approval over HTTP: [`approve_unlock`] of `unlock_seq`.
    pub fn approve_unlock(
        &self,
        id: [u8; 8],
        unlock_seq: u32,
        now: Timestamp,
    ) -> Result<UnlockApproval, CardError> {
        approve_unlock(
            &*self.storage,
            self.keys.card_issuer(),
            id,
            Some(unlock_seq),
            "operator (admin token, HTTP)",
            now,
        )
    }
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
