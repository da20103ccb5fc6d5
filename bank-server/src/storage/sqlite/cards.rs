//! The card tables of [`SqliteStorage`](super::SqliteStorage): certified cards,
//! load authorizations and unload proofs. Each function runs inside a
//! transaction its caller opened.

use ecash_shared::api::LedgerKind;
use rusqlite::{Connection, OptionalExtension, params};

use super::{account_where, amount_from_sql, amount_to_sql, corrupt, currency_from_sql, post};
use crate::storage::{
    AuditCardMove, AuditVisitor, CardLoadOutcome, CardRecord, CardUnloadOutcome, NewCard,
    NewCardLoad, NewCardUnload, StorageError,
};

fn id8(v: Vec<u8>) -> Result<[u8; 8], StorageError> {
    <[u8; 8]>::try_from(v).map_err(|_| corrupt("card id"))
}

type CardRow = (Vec<u8>, i64, String, String, Vec<u8>);

fn card_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CardRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn card_from((id, account_id, mode, currency, cert): CardRow) -> Result<CardRecord, StorageError> {
    Ok(CardRecord {
        id: id8(id)?,
        account_id,
        mode,
        currency: currency_from_sql(&currency)?,
        cert,
    })
}

const CARD_COLUMNS: &str = "id, account_id, mode, currency, cert";

pub(super) fn card(tx: &Connection, id: &[u8; 8]) -> Result<Option<CardRecord>, StorageError> {
    tx.query_row(
        &format!("SELECT {CARD_COLUMNS} FROM cards WHERE id = ?1"),
        [&id[..]],
        card_row,
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
            card_row,
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
    account_where(tx, "id = ?1", &c.account_id)?.ok_or(StorageError::UnknownAccount)?;
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
    })
}

pub(super) fn card_load(tx: &Connection, l: &NewCardLoad) -> Result<CardLoadOutcome, StorageError> {
    card(tx, &l.card_id)?.ok_or(StorageError::UnknownCard)?;
    let stored: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT amount, auth FROM card_loads WHERE card_id = ?1 AND load_seq = ?2",
            params![&l.card_id[..], l.load_seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((amount, auth)) = stored {
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
    let count: i64 = tx.query_row(
        "SELECT count(*) FROM card_loads WHERE card_id = ?1",
        [&l.card_id[..]],
        |r| r.get(0),
    )?;
    let expected = u32::try_from(count + 1).map_err(|_| corrupt("load count"))?;
    if l.load_seq != expected {
        return Err(StorageError::CardLoadSeq { expected });
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
        "INSERT INTO card_loads (card_id, load_seq, account_id, currency, amount, auth, ledger_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
    Ok(CardLoadOutcome::Done { balance })
}

pub(super) fn card_unload(
    tx: &Connection,
    u: &NewCardUnload,
) -> Result<CardUnloadOutcome, StorageError> {
    card(tx, &u.card_id)?.ok_or(StorageError::UnknownCard)?;
    let stored: Option<Vec<u8>> = tx
        .query_row(
            "SELECT proof FROM card_unloads WHERE card_id = ?1 AND unload_seq = ?2",
            params![&u.card_id[..], u.unload_seq],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(proof) = stored {
        return if proof == u.proof {
            Ok(CardUnloadOutcome::Replayed)
        } else {
            Err(StorageError::CardCloned(u.unload_seq))
        };
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
    Ok(CardUnloadOutcome::Done { balance })
}

fn hex_id(id: &[u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn audit_scan(tx: &Connection, v: &mut dyn AuditVisitor) -> Result<(), StorageError> {
    let mut stmt = tx.prepare(&format!("SELECT {CARD_COLUMNS} FROM cards ORDER BY id"))?;
    for r in stmt.query_map([], card_row)? {
        v.card(card_from(r?)?);
    }
    for (table, msg, seq) in [
        ("card_loads", "auth", "load_seq"),
        ("card_unloads", "proof", "unload_seq"),
    ] {
        let mut stmt = tx.prepare(&format!(
            "SELECT card_id, currency, amount, {msg} FROM {table} ORDER BY card_id, {seq}"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        for r in rows {
            let (card_id, currency, amount, message) = r?;
            let m = AuditCardMove {
                card_id: id8(card_id)?,
                currency: currency_from_sql(&currency)?,
                amount: amount_from_sql(amount)?,
                message,
            };
            if table == "card_loads" {
                v.card_load(m);
            } else {
                v.card_unload(m);
            }
        }
    }
    Ok(())
}
