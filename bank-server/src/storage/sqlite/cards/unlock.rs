//! Unlock requests and the operator's decisions.

use ecash_shared::encoding::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::*;

pub(in crate::storage::sqlite) fn card_unlock(
    tx: &Connection,
    u: &NewCardUnlock,
) -> Result<Option<String>, StorageError> {
    let c = card(tx, &u.card_id)?.ok_or(StorageError::UnknownCard)?;
    if u.pending_only && pending_unlock_seq(tx, &u.card_id)? != Some(u.unlock_seq) {
        return Err(StorageError::NoPendingUnlockRequest);
    }
    tx.execute(
        "INSERT INTO card_unlocks (card_id, unlock_seq, decided_by, lifted_block, auth, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            &u.card_id[..],
            u.unlock_seq,
            u.decided_by,
            c.blocked,
            u.auth,
            u.now.unix()
        ],
    )?;
    let unlock_id = tx.last_insert_rowid();
    supersede_pending(tx, &u.card_id, Some(u.unlock_seq), u.now)?;
    // The request for this number is approved; unasked, the decision is stored
    // as an approved request so the owner's wallet finds it the same way.
    tx.execute(
        "INSERT INTO card_unlock_requests
             (card_id, unlock_seq, account_id, reason, state, requested_at, decided_at, decided_by, unlock_id)
         VALUES (?1, ?2, NULL, NULL, 'approved', ?3, ?3, ?4, ?5)
         ON CONFLICT (card_id, unlock_seq) DO UPDATE SET
             state = 'approved', decided_at = ?3, decided_by = ?4, note = NULL, unlock_id = ?5",
        params![
            &u.card_id[..],
            u.unlock_seq,
            u.now.unix(),
            u.decided_by,
            unlock_id
        ],
    )?;
    if c.blocked.is_some() {
        tx.execute(
            "UPDATE cards SET blocked_at = NULL, blocked_reason = NULL WHERE id = ?1",
            [&u.card_id[..]],
        )?;
    }
    Ok(c.blocked)
}

/// The unlock number of the card's pending request, if it has one.
pub(in crate::storage::sqlite) fn pending_unlock_seq(
    tx: &Connection,
    card_id: &[u8; 8],
) -> Result<Option<u32>, StorageError> {
    Ok(tx
        .query_row(
            "SELECT unlock_seq FROM card_unlock_requests WHERE card_id = ?1 AND state = 'pending'",
            [&card_id[..]],
            |r| r.get(0),
        )
        .optional()?)
}

/// Sets the card's pending request superseded, unless it is for `keep`.
pub(in crate::storage::sqlite) fn supersede_pending(
    tx: &Connection,
    card_id: &[u8; 8],
    keep: Option<u32>,
    now: Timestamp,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE card_unlock_requests SET state = 'superseded', decided_at = ?2
         WHERE card_id = ?1 AND state = 'pending' AND unlock_seq IS NOT ?3",
        params![&card_id[..], now.unix(), keep],
    )?;
    Ok(())
}

pub(in crate::storage::sqlite) const UNLOCK_REQUEST_COLUMNS: &str =
    "r.card_id, r.unlock_seq, a.username, r.account_id IS NOT NULL,
    r.reason, r.state, r.requested_at, r.decided_at, r.decided_by, r.note, u.auth, c.blocked_reason,
    r.lock_reason
    FROM card_unlock_requests r
    JOIN cards c ON c.id = r.card_id
    JOIN accounts a ON a.id = c.account_id
    LEFT JOIN card_unlocks u ON u.id = r.unlock_id";

/// A row of [`UNLOCK_REQUEST_COLUMNS`].
pub(in crate::storage::sqlite) fn unlock_request_from(
    r: &rusqlite::Row<'_>,
) -> Result<CardUnlockRequestRecord, StorageError> {
    let state = match r.get::<_, String>(5)?.as_str() {
        "pending" => CardUnlockState::Pending,
        "approved" => CardUnlockState::Approved,
        "refused" => CardUnlockState::Refused,
        _ => return Err(corrupt("unlock request state")),
    };
    Ok(CardUnlockRequestRecord {
        card_id: id8(r.get(0)?)?,
        unlock_seq: r.get(1)?,
        owner: r.get(2)?,
        asked_by_owner: r.get(3)?,
        reason: r.get(4)?,
        state,
        requested_at: Timestamp::from_unix(r.get(6)?),
        decided_at: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_unix),
        decided_by: r.get(8)?,
        note: r.get(9)?,
        auth: r.get(10)?,
        blocked: r.get(11)?,
        lock_reason: r.get(12)?,
    })
}

pub(in crate::storage::sqlite) fn unlock_requests_where(
    tx: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<CardUnlockRequestRecord>, StorageError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {UNLOCK_REQUEST_COLUMNS} WHERE r.state != 'superseded' AND {filter}"
    ))?;
    let rows = stmt.query_map(params, |r| Ok(unlock_request_from(r)))?;
    rows.map(|r| r?).collect()
}

pub(in crate::storage::sqlite) fn unlock_request(
    tx: &Connection,
    card_id: &[u8; 8],
    unlock_seq: u32,
) -> Result<CardUnlockRequestRecord, StorageError> {
    unlock_requests_where(
        tx,
        "r.card_id = ?1 AND r.unlock_seq = ?2",
        params![&card_id[..], unlock_seq],
    )?
    .pop()
    .ok_or(corrupt("unlock request just written"))
}

pub(in crate::storage::sqlite) fn card_unlock_request(
    tx: &Connection,
    q: &NewCardUnlockRequest,
) -> Result<CardUnlockRequestRecord, StorageError> {
    card(tx, &q.card_id)?.ok_or(StorageError::UnknownCard)?;
    let stored: Option<String> = tx
        .query_row(
            "SELECT state FROM card_unlock_requests WHERE card_id = ?1 AND unlock_seq = ?2",
            params![&q.card_id[..], q.unlock_seq],
            |r| r.get(0),
        )
        .optional()?;
    if matches!(stored.as_deref(), None | Some("superseded")) {
        // New, or asked again for a number given up: pending, and the card's other
        // pending request yields.
        supersede_pending(tx, &q.card_id, None, q.now)?;
        tx.execute(
            "INSERT INTO card_unlock_requests
                 (card_id, unlock_seq, account_id, reason, state, requested_at,
                  lock_reason, lock_report)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7)
             ON CONFLICT (card_id, unlock_seq) DO UPDATE SET
                 state = 'pending', account_id = ?3, reason = ?4, requested_at = ?5,
                 decided_at = NULL, lock_reason = ?6, lock_report = ?7",
            params![
                &q.card_id[..],
                q.unlock_seq,
                q.account_id,
                q.reason,
                q.now.unix(),
                q.lock_reason,
                q.lock_report
            ],
        )?;
    }
    unlock_request(tx, &q.card_id, q.unlock_seq)
}

pub(in crate::storage::sqlite) fn card_unlock_status(
    tx: &Connection,
    card_id: &[u8; 8],
) -> Result<Option<CardUnlockRequestRecord>, StorageError> {
    Ok(unlock_requests_where(
        tx,
        "r.card_id = ?1 ORDER BY r.state = 'pending' DESC,
             coalesce(r.decided_at, r.requested_at) DESC, r.rowid DESC LIMIT 1",
        [&card_id[..]],
    )?
    .pop())
}

pub(in crate::storage::sqlite) fn card_unlock_requests_pending(
    tx: &Connection,
) -> Result<Vec<CardUnlockRequestRecord>, StorageError> {
    unlock_requests_where(
        tx,
        "r.state = 'pending' ORDER BY r.requested_at, r.rowid",
        [],
    )
}

pub(in crate::storage::sqlite) fn card_unlock_refuse(
    tx: &Connection,
    f: &CardUnlockRefusal,
) -> Result<CardUnlockRequestRecord, StorageError> {
    card(tx, &f.card_id)?.ok_or(StorageError::UnknownCard)?;
    let seq = pending_unlock_seq(tx, &f.card_id)?.ok_or(StorageError::NoPendingUnlockRequest)?;
    tx.execute(
        "UPDATE card_unlock_requests SET state = 'refused', decided_at = ?3, decided_by = ?4, note = ?5
         WHERE card_id = ?1 AND unlock_seq = ?2",
        params![
            &f.card_id[..],
            seq,
            f.now.unix(),
            f.decided_by,
            f.note
        ],
    )?;
    unlock_request(tx, &f.card_id, seq)
}
