//! The card tables of [`SqliteStorage`](super::SqliteStorage): certified cards
//! (and their bank-side blocks), load authorizations (bank and recovery), unload
//! proofs, exception records, unlock requests and decisions. Each function runs
//! inside a transaction its caller opened.

use ecash_shared::api::LedgerKind;
use rusqlite::{Connection, OptionalExtension, params};

use super::{account_where, amount_from_sql, amount_to_sql, corrupt, currency_from_sql, post};

mod scan;
mod settle;
mod unlock;

use ecash_shared::encoding::Timestamp;
pub(super) use scan::*;
pub(super) use settle::*;
pub(super) use unlock::*;

use ecash_shared::Amount;

use crate::storage::{
    AccountRecord, AuditCardException, AuditCardMove, AuditCardOverspend, AuditCardRecovery,
    AuditCardTransfer, AuditVisitor, CardExceptionOutcome, CardExceptionUpload, CardLoadOutcome,
    CardRecord, CardSettleOutcome, CardSettlement, CardUnloadOutcome, CardUnlockRefusal,
    CardUnlockRequestRecord, CardUnlockState, CreditOutcome, MAX_CARDS_PER_ACCOUNT,
    MAX_EXCEPTIONS_PER_CARD, NewCard, NewCardException, NewCardLoad, NewCardTransfer,
    NewCardUnload, NewCardUnlock, NewCardUnlockRequest, RecoveryLoad, StorageError,
};

fn id8(v: Vec<u8>) -> Result<[u8; 8], StorageError> {
    <[u8; 8]>::try_from(v).map_err(|_| corrupt("card id"))
}

type CardRow = (Vec<u8>, i64, String, String, Vec<u8>, Option<String>, i64);

fn card_from(
    (id, account_id, mode, currency, cert, blocked, bank_balance): CardRow,
) -> Result<CardRecord, StorageError> {
    Ok(CardRecord {
        id: id8(id)?,
        account_id,
        mode,
        currency: currency_from_sql(&currency)?,
        cert,
        blocked,
        bank_balance: amount_from_sql(bank_balance)?,
    })
}

const CARD_COLUMNS: &str = "id, account_id, mode, currency, cert, blocked_reason, bank_balance";

/// The card, which must exist and not be blocked.
fn open_card(tx: &Connection, id: &[u8; 8]) -> Result<CardRecord, StorageError> {
    let c = card(tx, id)?.ok_or(StorageError::UnknownCard)?;
    match c.blocked {
        Some(reason) => Err(StorageError::CardBlocked(reason)),
        None => Ok(c),
    }
}

pub(super) fn card(tx: &Connection, id: &[u8; 8]) -> Result<Option<CardRecord>, StorageError> {
    tx.query_row(
        &format!("SELECT {CARD_COLUMNS} FROM cards WHERE id = ?1"),
        [&id[..]],
        |r| CardRow::try_from(r),
    )
    .optional()?
    .map(card_from)
    .transpose()
}

pub(super) fn create_card(tx: &Connection, c: &NewCard) -> Result<CardRecord, StorageError> {
    let existing = tx
        .query_row(
            &format!("SELECT {CARD_COLUMNS} FROM cards WHERE card_pub = ?1"),
            [&c.card_pub[..]],
            |r| CardRow::try_from(r),
        )
        .optional()?
        .map(card_from)
        .transpose()?;
    if let Some(e) = existing {
        if e.account_id != c.account_id {
            return Err(StorageError::CardKeyTaken);
        }
        if e.mode != c.mode {
            return Err(StorageError::CardModeConflict);
        }
        return Ok(e);
    }
    if card(tx, &c.id)?.is_some() {
        return Err(StorageError::CardIdTaken);
    }
    let owner = account_where(tx, "id = ?1", &c.account_id)?.ok_or(StorageError::UnknownAccount)?;
    if !owner.debt.is_zero() {
        return Err(StorageError::AccountInDebt(owner.debt));
    }
    let held: i64 = tx.query_row(
        "SELECT count(*) FROM cards WHERE account_id = ?1",
        [c.account_id],
        |r| r.get(0),
    )?;
    if usize::try_from(held).unwrap_or(usize::MAX) >= MAX_CARDS_PER_ACCOUNT {
        return Err(StorageError::TooManyCards);
    }
    tx.execute(
        "INSERT INTO cards (id, card_pub, account_id, mode, currency, cert, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            &c.id[..],
            &c.card_pub[..],
            c.account_id,
            c.mode,
            c.currency.as_str(),
            c.cert,
            c.now.unix()
        ],
    )?;
    Ok(CardRecord {
        id: c.id,
        account_id: c.account_id,
        mode: c.mode.clone(),
        currency: c.currency,
        cert: c.cert.clone(),
        blocked: None,
        bank_balance: Amount::ZERO,
    })
}

pub(super) fn card_load(tx: &Connection, l: &NewCardLoad) -> Result<CardLoadOutcome, StorageError> {
    let card = open_card(tx, &l.card_id)?;
    let stored: Option<(String, i64, Vec<u8>)> = tx
        .query_row(
            "SELECT kind, amount, auth FROM card_loads WHERE card_id = ?1 AND load_seq = ?2",
            params![&l.card_id[..], l.load_seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((kind, amount, auth)) = stored {
        if kind != "bank" {
            return Err(StorageError::CardLoadIsRecovery(l.load_seq));
        }
        let amount = amount_from_sql(amount)?;
        return if amount == l.amount {
            Ok(CardLoadOutcome::Replayed(auth))
        } else {
            Err(StorageError::CardLoadConflict {
                load_seq: l.load_seq,
                amount: amount.minor(),
            })
        };
    }
    let expected = next_load_seq(tx, &l.card_id)?;
    if l.load_seq != expected {
        return Err(StorageError::CardLoadSeq { expected });
    }
    let room = l.cap.checked_sub(card.bank_balance).unwrap_or(Amount::ZERO);
    if l.amount > room {
        return Err(StorageError::CardBankCap {
            held: card.bank_balance.minor(),
            room: room.minor(),
        });
    }
    let account =
        account_where(tx, "id = ?1", &l.account_id)?.ok_or(StorageError::UnknownAccount)?;
    let memo = format!("card {} load {}", hex_id(&l.card_id), l.load_seq);
    let (balance, ledger_id) = post(
        tx,
        &account,
        LedgerKind::CardLoad,
        false,
        l.amount,
        &memo,
        l.now,
    )?;
    tx.execute(
        "INSERT INTO card_loads (card_id, load_seq, kind, account_id, currency, amount, auth, ledger_id, created_at)
         VALUES (?1, ?2, 'bank', ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            &l.card_id[..],
            l.load_seq,
            l.account_id,
            l.currency.as_str(),
            amount_to_sql(l.amount)?,
            l.auth,
            ledger_id,
            l.now.unix()
        ],
    )?;
    move_bank_balance(tx, &l.card_id, l.amount, true)?;
    Ok(CardLoadOutcome::Done { balance })
}

pub(super) fn card_unload(
    tx: &Connection,
    u: &NewCardUnload,
) -> Result<CardUnloadOutcome, StorageError> {
    let card = open_card(tx, &u.card_id)?;
    let stored: Option<Vec<u8>> = tx
        .query_row(
            "SELECT proof FROM card_unloads WHERE card_id = ?1 AND unload_seq = ?2",
            params![&u.card_id[..], u.unload_seq],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(proof) = stored {
        if proof == u.proof {
            return Ok(CardUnloadOutcome::Replayed);
        }
        // Two different proofs under one number: a copy of the card. Block it
        // (and only that: the outcome is Ok so this write commits).
        block_card(
            tx,
            &u.card_id,
            u.now,
            &format!(
                "two different unload proofs under unload number {}: cloned card",
                u.unload_seq
            ),
        )?;
        return Ok(CardUnloadOutcome::Cloned);
    }
    if u.amount > card.bank_balance {
        // A genuine card unloads only value the bank settled onto it (see
        // `ecash_card::settle`): this one gives out more than went onto it.
        block_card(
            tx,
            &u.card_id,
            u.now,
            &format!(
                "unload proof {} for {} minor units, the bank held {}: over-spent",
                u.unload_seq,
                u.amount.minor(),
                card.bank_balance.minor()
            ),
        )?;
        record_overspend(
            tx,
            &card,
            false,
            &u.proof,
            None,
            u.amount,
            [Amount::ZERO; 3],
            u.now,
        )?;
        return Ok(CardUnloadOutcome::Overspent {
            bank_balance: card.bank_balance,
        });
    }
    let account =
        account_where(tx, "id = ?1", &u.account_id)?.ok_or(StorageError::UnknownAccount)?;
    let memo = format!("card {} unload {}", hex_id(&u.card_id), u.unload_seq);
    let (balance, ledger_id) = post(
        tx,
        &account,
        LedgerKind::CardUnload,
        true,
        u.amount,
        &memo,
        u.now,
    )?;
    tx.execute(
        "INSERT INTO card_unloads (card_id, unload_seq, account_id, currency, amount, proof, ledger_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            &u.card_id[..],
            u.unload_seq,
            u.account_id,
            u.currency.as_str(),
            amount_to_sql(u.amount)?,
            u.proof,
            ledger_id,
            u.now.unix()
        ],
    )?;
    move_bank_balance(tx, &u.card_id, u.amount, false)?;
    Ok(CardUnloadOutcome::Done { balance })
}

/// The card's next load number: loads are numbered 1, 2, … without gaps.
fn next_load_seq(tx: &Connection, card_id: &[u8; 8]) -> Result<u32, StorageError> {
    let count: i64 = tx.query_row(
        "SELECT count(*) FROM card_loads WHERE card_id = ?1",
        [&card_id[..]],
        |r| r.get(0),
    )?;
    u32::try_from(count + 1).map_err(|_| corrupt("load count"))
}

pub(super) fn card_loads_from(
    tx: &Connection,
    card_id: &[u8; 8],
    from: u32,
    limit: usize,
) -> Result<Vec<Vec<u8>>, StorageError> {
    let mut stmt = tx.prepare_cached(
        "SELECT auth FROM card_loads WHERE card_id = ?1 AND load_seq >= ?2
         ORDER BY load_seq LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![&card_id[..], from, limit], |r| r.get(0))?;
    rows.map(|r| r.map_err(StorageError::from)).collect()
}

pub(super) fn card_exceptions(
    tx: &Connection,
    up: &CardExceptionUpload,
    sign: &dyn Fn(&RecoveryLoad) -> Vec<u8>,
) -> Result<CardExceptionOutcome, StorageError> {
    open_card(tx, &up.card_id)?;
    account_where(tx, "id = ?1", &up.account_id)?.ok_or(StorageError::UnknownAccount)?;
    // A genuine card numbers its exceptions once: another record under a stored id
    // (another kind or other terms, both signed by the card's key) comes from a copy
    // of the card. Block it, and only that (the outcome is Ok so the block commits).
    for r in &up.records {
        let kind = exception_kind(r);
        let stored: Option<(String, Vec<u8>)> = tx
            .query_row(
                "SELECT kind, terms FROM card_exceptions WHERE card_id = ?1 AND exception_id = ?2",
                params![&up.card_id[..], r.exception_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((k, terms)) = stored
            && (k != kind || terms != r.terms)
        {
            block_card(
                tx,
                &up.card_id,
                up.now,
                &format!(
                    "two different exception records under exception id {}: cloned card",
                    r.exception_id
                ),
            )?;
            return Ok(CardExceptionOutcome {
                recovered: Vec::new(),
                created: 0,
                cloned: Some(r.exception_id),
            });
        }
    }
    let stored: i64 = tx.query_row(
        "SELECT count(*) FROM card_exceptions WHERE card_id = ?1",
        [&up.card_id[..]],
        |r| r.get(0),
    )?;
    let held = usize::try_from(stored).unwrap_or(usize::MAX);
    if held.saturating_add(up.records.len()) > MAX_EXCEPTIONS_PER_CARD {
        return Err(StorageError::TooManyExceptions);
    }
    for r in &up.records {
        tx.execute(
            "INSERT OR IGNORE INTO card_exceptions
                 (card_id, exception_id, kind, payer, payer_seq, terms, record, account_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                &up.card_id[..],
                r.exception_id,
                exception_kind(r),
                &r.payer[..],
                r.payer_seq,
                r.terms,
                r.record,
                up.account_id,
                up.now.unix()
            ],
        )?;
    }
    let mut recovered: Vec<(Vec<u8>, u32, Vec<u8>)> = Vec::new();
    let mut created = 0;
    for r in &up.records {
        let lost: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM card_exceptions WHERE terms = ?1 AND kind = 'unacked_debit')
                AND EXISTS (SELECT 1 FROM card_exceptions WHERE terms = ?1 AND kind = 'abandoned_credit')",
            [&r.terms],
            |row| row.get(0),
        )?;
        if !lost {
            continue;
        }
        // The payee card said it never credited the transfer; if the bank settled it
        // (its ACK was presented), that card signed both: block it, recover nothing.
        let settled: Option<Vec<u8>> = tx
            .query_row(
                "SELECT payee FROM card_transfers WHERE terms = ?1",
                [&r.terms],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(payee) = settled {
            block_card(tx, &id8(payee)?, up.now, CONTRADICTION)?;
            continue;
        }
        let stored: Option<(u32, Vec<u8>)> = tx
            .query_row(
                "SELECT load_seq, auth FROM card_loads
                 WHERE card_id = ?1 AND kind = 'recovery' AND payer_seq = ?2",
                params![&r.payer[..], r.payer_seq],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let (load_seq, auth) = match stored {
            Some(s) => s,
            // A recovery re-credits a debit the bank never settled, so the payer's
            // bank-side balance still holds it; one it cannot cover is not recovered.
            None if card(tx, &r.payer)?.is_none_or(|p| p.bank_balance < r.amount) => continue,
            None => {
                let load = RecoveryLoad {
                    card_id: r.payer,
                    currency: r.currency,
                    amount: r.amount,
                    load_seq: next_load_seq(tx, &r.payer)?,
                };
                let auth = sign(&load);
                tx.execute(
                    "INSERT INTO card_loads (card_id, load_seq, kind, payer_seq, currency, amount, auth, created_at)
                     VALUES (?1, ?2, 'recovery', ?3, ?4, ?5, ?6, ?7)",
                    params![
                        &r.payer[..],
                        load.load_seq,
                        r.payer_seq,
                        r.currency.as_str(),
                        amount_to_sql(r.amount)?,
                        auth,
                        up.now.unix()
                    ],
                )?;
                created += 1;
                (load.load_seq, auth)
            }
        };
        recovered.push((r.payer.to_vec(), load_seq, auth));
    }
    recovered.sort();
    recovered.dedup();
    Ok(CardExceptionOutcome {
        recovered: recovered.into_iter().map(|(_, _, auth)| auth).collect(),
        created,
        cloned: None,
    })
}

/// The stored name of a record's kind.
fn exception_kind(r: &NewCardException) -> &'static str {
    if r.unacked_debit {
        "unacked_debit"
    } else {
        "abandoned_credit"
    }
}

/// Blocks a card at the bank, with the reason the operator sees.
fn block_card(
    tx: &Connection,
    card_id: &[u8; 8],
    now: Timestamp,
    reason: &str,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE cards SET blocked_at = ?1, blocked_reason = ?2 WHERE id = ?3",
        params![now.unix(), reason, &card_id[..]],
    )?;
    Ok(())
}

fn hex_id(id: &[u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
