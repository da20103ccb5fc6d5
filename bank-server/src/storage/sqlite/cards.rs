//! The card tables of [`SqliteStorage`](super::SqliteStorage): certified cards
//! (and their bank-side blocks), load authorizations (bank and recovery), unload
//! proofs, exception records, unlock requests and decisions. Each function runs
//! inside a transaction its caller opened.

use ecash_shared::api::LedgerKind;
use rusqlite::{Connection, OptionalExtension, params};

use super::{account_where, amount_from_sql, amount_to_sql, corrupt, currency_from_sql, post};
use ecash_shared::encoding::Timestamp;

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
    account_where(tx, "id = ?1", &c.account_id)?.ok_or(StorageError::UnknownAccount)?;
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

/// Why a card that signed an ACK and an abandoned credit for one transfer is blocked.
const CONTRADICTION: &str =
    "signed both an ACK and an abandoned credit for one transfer: not a genuine card";

/// Adds `amount` to a card's bank-side balance, or takes it (which must fit).
fn move_bank_balance(
    tx: &Connection,
    card_id: &[u8; 8],
    amount: Amount,
    add: bool,
) -> Result<(), StorageError> {
    let sql = if add {
        "UPDATE cards SET bank_balance = bank_balance + ?1 WHERE id = ?2"
    } else {
        "UPDATE cards SET bank_balance = bank_balance - ?1 WHERE id = ?2"
    };
    // The CHECK (bank_balance >= 0) refuses a take that does not fit; callers check.
    tx.execute(sql, params![amount_to_sql(amount)?, &card_id[..]])?;
    Ok(())
}

/// Keeps the evidence of an over-spending card; `split` is the shortfall, the part
/// taken from the owner's balance and the part booked as debt.
#[allow(clippy::too_many_arguments)]
fn record_overspend(
    tx: &Connection,
    card: &CardRecord,
    transfer: bool,
    record: &[u8],
    conflicting: Option<&[u8]>,
    amount: Amount,
    [shortfall, from_balance, debt]: [Amount; 3],
    now: Timestamp,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO card_overspends
             (card_id, account_id, kind, record, conflicting, amount, shortfall, from_balance, debt, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            &card.id[..],
            card.account_id,
            if transfer { "transfer" } else { "unload" },
            record,
            conflicting,
            amount_to_sql(amount)?,
            amount_to_sql(shortfall)?,
            amount_to_sql(from_balance)?,
            amount_to_sql(debt)?,
            now.unix()
        ],
    )?;
    Ok(())
}

pub(super) fn card_settle(
    tx: &Connection,
    st: &CardSettlement,
) -> Result<CardSettleOutcome, StorageError> {
    open_card(tx, &st.card_id)?;
    account_where(tx, "id = ?1", &st.account_id)?.ok_or(StorageError::UnknownAccount)?;
    let mut outcomes = Vec::with_capacity(st.credits.len());
    let mut caught = Vec::new();
    for c in &st.credits {
        let outcome = settle_one(tx, st, c, &mut caught)?;
        outcomes.push(outcome);
    }
    let bank_balance = card(tx, &st.card_id)?
        .ok_or(StorageError::UnknownCard)?
        .bank_balance;
    Ok(CardSettleOutcome {
        outcomes,
        bank_balance,
        caught,
    })
}

fn settle_one(
    tx: &Connection,
    st: &CardSettlement,
    c: &NewCardTransfer,
    caught: &mut Vec<[u8; 8]>,
) -> Result<CreditOutcome, StorageError> {
    let stored: Option<i64> = tx
        .query_row(
            "SELECT id FROM card_transfers WHERE terms = ?1",
            [&c.terms],
            |r| r.get(0),
        )
        .optional()?;
    if stored.is_some() {
        return Ok(CreditOutcome::Settled);
    }
    // The payee card reported this very transfer abandoned (so the payer may be
    // re-credited): a genuine card never signs that and an ACK.
    let abandoned: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM card_exceptions
                        WHERE card_id = ?1 AND terms = ?2 AND kind = 'abandoned_credit')",
        params![&st.card_id[..], &c.terms],
        |r| r.get(0),
    )?;
    if abandoned {
        block_card(tx, &st.card_id, st.now, CONTRADICTION)?;
        return Ok(CreditOutcome::Refused(
            "this card reported the same transfer as never credited (an abandoned credit); \
             the bank counts it for the payer instead"
                .to_owned(),
        ));
    }
    let payer = card(tx, &c.payer)?.ok_or(StorageError::UnknownCard)?;
    let conflicting: Option<Vec<u8>> = tx
        .query_row(
            "SELECT value FROM card_transfers WHERE payer = ?1 AND payer_seq = ?2 LIMIT 1",
            params![&c.payer[..], c.payer_seq],
            |r| r.get(0),
        )
        .optional()?;
    let covered = payer.bank_balance.min(c.amount);
    let shortfall = c
        .amount
        .checked_sub(covered)
        .map_err(|_| StorageError::AmountOverflow)?;
    let mut split = [Amount::ZERO; 3];
    if !shortfall.is_zero() || conflicting.is_some() {
        let owner =
            account_where(tx, "id = ?1", &payer.account_id)?.ok_or(StorageError::UnknownAccount)?;
        let from_balance = shortfall.min(owner.balance);
        let debt = shortfall
            .checked_sub(from_balance)
            .map_err(|_| StorageError::AmountOverflow)?;
        if payer.blocked.is_some() && !debt.is_zero() {
            // Caught before: only what its owner can still cover is paid.
            return Ok(CreditOutcome::Refused(format!(
                "the paying card {} was caught giving out more than was loaded onto it, \
                 and its owner cannot cover this payment",
                hex_id(&c.payer)
            )));
        }
        split = [shortfall, from_balance, debt];
        charge_owner(tx, &owner, &payer, from_balance, debt, st.now)?;
        if payer.blocked.is_none() {
            let why = if conflicting.is_some() {
                format!(
                    "signed two different VALUEs under payer_seq {}: cloned card",
                    c.payer_seq
                )
            } else {
                format!(
                    "signed a VALUE for {} minor units, the bank held {}: over-spent",
                    c.amount.minor(),
                    payer.bank_balance.minor()
                )
            };
            block_card(tx, &c.payer, st.now, &why)?;
        }
        record_overspend(
            tx,
            &payer,
            true,
            &c.value,
            conflicting.as_deref(),
            c.amount,
            split,
            st.now,
        )?;
        caught.push(c.payer);
    }
    move_bank_balance(tx, &c.payer, covered, false)?;
    move_bank_balance(tx, &st.card_id, c.amount, true)?;
    tx.execute(
        "INSERT INTO card_transfers
             (payer, payer_seq, payee, payee_seq, terms, currency, amount, value, ack, shortfall, account_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            &c.payer[..],
            c.payer_seq,
            &st.card_id[..],
            c.payee_seq,
            c.terms,
            c.currency.as_str(),
            amount_to_sql(c.amount)?,
            c.value,
            c.ack,
            amount_to_sql(split[0])?,
            st.account_id,
            st.now.unix()
        ],
    )?;
    Ok(CreditOutcome::Settled)
}

/// Books an over-spending card's shortfall against its owner: `from_balance` debited
/// (ledger kind `card_shortfall`), `debt` added to what the account owes.
fn charge_owner(
    tx: &Connection,
    owner: &AccountRecord,
    card: &CardRecord,
    from_balance: Amount,
    debt: Amount,
    now: Timestamp,
) -> Result<(), StorageError> {
    if !from_balance.is_zero() {
        let memo = format!("card {} gave out more than was loaded", hex_id(&card.id));
        post(
            tx,
            owner,
            LedgerKind::CardShortfall,
            false,
            from_balance,
            &memo,
            now,
        )?;
    }
    if !debt.is_zero() {
        tx.execute(
            "UPDATE accounts SET debt = debt + ?1 WHERE id = ?2",
            params![amount_to_sql(debt)?, owner.id],
        )?;
    }
    Ok(())
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

pub(super) fn card_unlock(
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
fn pending_unlock_seq(tx: &Connection, card_id: &[u8; 8]) -> Result<Option<u32>, StorageError> {
    Ok(tx
        .query_row(
            "SELECT unlock_seq FROM card_unlock_requests WHERE card_id = ?1 AND state = 'pending'",
            [&card_id[..]],
            |r| r.get(0),
        )
        .optional()?)
}

/// Sets the card's pending request superseded, unless it is for `keep`.
fn supersede_pending(
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

const UNLOCK_REQUEST_COLUMNS: &str =
    "r.card_id, r.unlock_seq, a.username, r.account_id IS NOT NULL,
    r.reason, r.state, r.requested_at, r.decided_at, r.decided_by, r.note, u.auth, c.blocked_reason,
    r.lock_reason
    FROM card_unlock_requests r
    JOIN cards c ON c.id = r.card_id
    JOIN accounts a ON a.id = c.account_id
    LEFT JOIN card_unlocks u ON u.id = r.unlock_id";

/// A row of [`UNLOCK_REQUEST_COLUMNS`].
fn unlock_request_from(r: &rusqlite::Row<'_>) -> Result<CardUnlockRequestRecord, StorageError> {
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

fn unlock_requests_where(
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

fn unlock_request(
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

pub(super) fn card_unlock_request(
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

pub(super) fn card_unlock_status(
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

pub(super) fn card_unlock_requests_pending(
    tx: &Connection,
) -> Result<Vec<CardUnlockRequestRecord>, StorageError> {
    unlock_requests_where(
        tx,
        "r.state = 'pending' ORDER BY r.requested_at, r.rowid",
        [],
    )
}

pub(super) fn card_unlock_refuse(
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

fn hex_id(id: &[u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn audit_scan(tx: &Connection, v: &mut dyn AuditVisitor) -> Result<(), StorageError> {
    let mut stmt = tx.prepare(&format!("SELECT {CARD_COLUMNS} FROM cards ORDER BY id"))?;
    for r in stmt.query_map([], |r| CardRow::try_from(r))? {
        v.card(card_from(r?)?);
    }
    let mut stmt = tx.prepare(
        "SELECT card_id, exception_id, record FROM card_exceptions ORDER BY card_id, exception_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    for r in rows {
        let (card_id, exception_id, record) = r?;
        v.card_exception(AuditCardException {
            card_id: id8(card_id)?,
            exception_id,
            record,
        });
    }
    let mut stmt = tx.prepare(
        "SELECT card_id, payer_seq, currency, amount, auth FROM card_loads
         WHERE kind = 'recovery' ORDER BY card_id, load_seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Vec<u8>>(4)?,
        ))
    })?;
    for r in rows {
        let (card_id, payer_seq, currency, amount, message) = r?;
        v.card_recovery(AuditCardRecovery {
            card_id: id8(card_id)?,
            payer_seq,
            currency: currency_from_sql(&currency)?,
            amount: amount_from_sql(amount)?,
            message,
        });
    }
    for (table, msg, seq, filter) in [
        ("card_loads", "auth", "load_seq", "WHERE kind = 'bank'"),
        ("card_unloads", "proof", "unload_seq", ""),
    ] {
        let mut stmt = tx.prepare(&format!(
            "SELECT card_id, currency, amount, {msg} FROM {table} {filter} ORDER BY card_id, {seq}"
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
    type TransferRow = (Vec<u8>, Vec<u8>, String, i64, i64, Vec<u8>, Vec<u8>);
    let mut stmt = tx.prepare(
        "SELECT payer, payee, currency, amount, shortfall, value, ack FROM card_transfers ORDER BY id",
    )?;
    for r in stmt.query_map([], |r| TransferRow::try_from(r))? {
        let (payer, payee, currency, amount, shortfall, value, ack) = r?;
        v.card_transfer(AuditCardTransfer {
            payer: id8(payer)?,
            payee: id8(payee)?,
            currency: currency_from_sql(&currency)?,
            amount: amount_from_sql(amount)?,
            shortfall: amount_from_sql(shortfall)?,
            value,
            ack,
        });
    }
    type OverspendRow = (
        Vec<u8>,
        i64,
        String,
        Vec<u8>,
        Option<Vec<u8>>,
        String,
        i64,
        i64,
        i64,
    );
    let mut stmt = tx.prepare(
        "SELECT o.card_id, o.account_id, o.kind, o.record, o.conflicting, c.currency,
                o.shortfall, o.from_balance, o.debt
         FROM card_overspends o JOIN cards c ON c.id = o.card_id ORDER BY o.id",
    )?;
    for r in stmt.query_map([], |r| OverspendRow::try_from(r))? {
        let (
            card_id,
            account_id,
            kind,
            record,
            conflicting,
            currency,
            shortfall,
            from_balance,
            debt,
        ) = r?;
        v.card_overspend(AuditCardOverspend {
            card_id: id8(card_id)?,
            account_id,
            transfer: kind == "transfer",
            record,
            conflicting,
            currency: currency_from_sql(&currency)?,
            shortfall: amount_from_sql(shortfall)?,
            from_balance: amount_from_sql(from_balance)?,
            debt: amount_from_sql(debt)?,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use ecash_shared::encoding::Timestamp;
    use ecash_shared::{Amount, Currency};
    use rusqlite::Connection;

    use super::super::{MIGRATIONS, SqliteStorage};
    use crate::storage::*;

    const P: [u8; 8] = [1; 8];
    const Q: [u8; 8] = [2; 8];

    fn t() -> Timestamp {
        Timestamp::from_unix(1_800_000_000)
    }

    fn eur(minor: u64) -> Amount {
        Amount::from_minor(minor)
    }

    fn setup() -> (SqliteStorage, AccountId) {
        let s = SqliteStorage::open_in_memory().unwrap();
        let account = s
            .create_account(&NewAccount {
                username: "alice".into(),
                password_hash: "x".into(),
                merchant: false,
                currency: Currency::EUR,
                created_at: t(),
            })
            .unwrap();
        s.credit("alice", eur(1000), "wire in", t()).unwrap();
        for (id, key) in [(P, 1u8), (Q, 2)] {
            s.create_card(&NewCard {
                id,
                card_pub: [key; 32],
                account_id: account,
                mode: "personal".into(),
                currency: Currency::EUR,
                cert: vec![key],
                now: t(),
            })
            .unwrap();
        }
        (s, account)
    }

    fn load(
        s: &SqliteStorage,
        account: AccountId,
        seq: u32,
    ) -> Result<CardLoadOutcome, StorageError> {
        s.card_load(&NewCardLoad {
            card_id: P,
            account_id: account,
            currency: Currency::EUR,
            amount: eur(500),
            load_seq: seq,
            cap: eur(1_000_000),
            auth: vec![seq as u8],
            now: t(),
        })
    }

    fn upload(s: &SqliteStorage, account: AccountId, card: [u8; 8]) -> CardExceptionOutcome {
        let record = NewCardException {
            exception_id: 1,
            unacked_debit: card == P,
            payer: P,
            payer_seq: 7,
            currency: Currency::EUR,
            amount: eur(120),
            terms: b"the terms".to_vec(),
            record: vec![card[0]],
        };
        let sign = |l: &RecoveryLoad| format!("{}:{}", l.load_seq, l.amount.minor()).into_bytes();
        s.card_exceptions(
            &CardExceptionUpload {
                card_id: card,
                account_id: account,
                records: vec![record],
                now: t(),
            },
            &sign,
        )
        .unwrap()
    }

    /// The operator's approval of unlock 1 of `card`.
    fn operator_unlock(card: [u8; 8]) -> NewCardUnlock {
        NewCardUnlock {
            card_id: card,
            unlock_seq: 1,
            decided_by: "test operator".into(),
            auth: vec![9],
            pending_only: false,
            now: t(),
        }
    }

    fn count(s: &SqliteStorage, sql: &str) -> i64 {
        s.read(|tx| Ok(tx.query_row(sql, [], |r| r.get(0))?))
            .unwrap()
    }

    #[test]
    fn recovery_once_blocks_and_unlocks() {
        let (s, account) = setup();
        assert!(matches!(
            load(&s, account, 1).unwrap(),
            CardLoadOutcome::Done { .. }
        ));
        let none = upload(&s, account, P);
        assert_eq!((none.created, none.recovered.len()), (0, 0));
        let one = upload(&s, account, Q);
        assert_eq!(one.created, 1);
        assert_eq!(one.recovered, [b"2:120".to_vec()]);
        // Again, either side: the same recovery, nothing new.
        for card in [Q, P] {
            let again = upload(&s, account, card);
            assert_eq!((again.created, &again.recovered), (0, &one.recovered));
        }
        assert_eq!(count(&s, "SELECT count(*) FROM card_exceptions"), 2);
        assert_eq!(
            s.card_loads_from(&P, 1, 100).unwrap(),
            [vec![1], b"2:120".to_vec()]
        );
        assert_eq!(s.card_loads_from(&P, 2, 1).unwrap().len(), 1);
        assert!(s.card_loads_from(&P, 3, 100).unwrap().is_empty());
        // No account moved for the recovery; its number is not a bank load's.
        assert_eq!(s.account_by_id(account).unwrap().unwrap().balance, eur(500));
        assert!(matches!(
            load(&s, account, 2),
            Err(StorageError::CardLoadIsRecovery(2))
        ));

        // A different proof under a credited number blocks the card, and only that.
        let unload = |proof: u8| NewCardUnload {
            card_id: P,
            account_id: account,
            currency: Currency::EUR,
            amount: eur(100),
            unload_seq: 0,
            proof: vec![proof],
            now: t(),
        };
        assert!(matches!(
            s.card_unload(&unload(1)).unwrap(),
            CardUnloadOutcome::Done { .. }
        ));
        assert_eq!(
            s.card_unload(&unload(1)).unwrap(),
            CardUnloadOutcome::Replayed
        );
        let ledger = count(&s, "SELECT count(*) FROM ledger");
        assert_eq!(
            s.card_unload(&unload(2)).unwrap(),
            CardUnloadOutcome::Cloned
        );
        assert_eq!(count(&s, "SELECT count(*) FROM ledger"), ledger);
        assert_eq!(count(&s, "SELECT count(*) FROM card_unloads"), 1);
        assert!(s.card(&P).unwrap().unwrap().blocked.is_some());
        assert!(s.card(&Q).unwrap().unwrap().blocked.is_none());
        assert!(matches!(
            load(&s, account, 3),
            Err(StorageError::CardBlocked(_))
        ));
        assert!(matches!(
            s.card_unload(&unload(1)),
            Err(StorageError::CardBlocked(_))
        ));
        assert!(matches!(
            s.card_exceptions(
                &CardExceptionUpload {
                    card_id: P,
                    account_id: account,
                    records: vec![],
                    now: t(),
                },
                &|_| Vec::new(),
            ),
            Err(StorageError::CardBlocked(_))
        ));

        // The operator's decision is recorded and lifts the block.
        let unlock = operator_unlock(P);
        let lifted = s.card_unlock(&unlock).unwrap();
        assert!(lifted.unwrap().contains("cloned"));
        assert!(s.card(&P).unwrap().unwrap().blocked.is_none());
        assert_eq!(s.card_unlock(&unlock).unwrap(), None);
        assert_eq!(
            count(
                &s,
                "SELECT count(*) FROM card_unlocks WHERE decided_by = 'test operator' AND unlock_seq = 1"
            ),
            2
        );
        assert_eq!(
            count(
                &s,
                "SELECT count(*) FROM card_unlocks WHERE lifted_block IS NOT NULL"
            ),
            1
        );
        assert!(matches!(
            load(&s, account, 3).unwrap(),
            CardLoadOutcome::Done { .. }
        ));
        assert!(matches!(
            s.card_unlock(&NewCardUnlock {
                card_id: [9; 8],
                ..unlock
            }),
            Err(StorageError::UnknownCard)
        ));
    }

    #[test]
    fn another_record_under_a_stored_exception_id_blocks_the_card() {
        let (s, account) = setup();
        upload(&s, account, P);
        let (exceptions, loads) = (
            count(&s, "SELECT count(*) FROM card_exceptions"),
            count(&s, "SELECT count(*) FROM card_loads"),
        );
        let upload_p = |unacked_debit: bool, terms: &[u8]| {
            s.card_exceptions(
                &CardExceptionUpload {
                    card_id: P,
                    account_id: account,
                    records: vec![
                        // A new id first: it is not stored either when another is refused.
                        NewCardException {
                            exception_id: 2,
                            unacked_debit: true,
                            payer: P,
                            payer_seq: 8,
                            currency: Currency::EUR,
                            amount: eur(5),
                            terms: b"other".to_vec(),
                            record: vec![2],
                        },
                        NewCardException {
                            exception_id: 1,
                            unacked_debit,
                            payer: P,
                            payer_seq: 7,
                            currency: Currency::EUR,
                            amount: eur(120),
                            terms: terms.to_vec(),
                            record: vec![1],
                        },
                    ],
                    now: t(),
                },
                &|_| b"auth".to_vec(),
            )
        };
        // Other terms, or another kind, under id 1: a copy of the card.
        for (unacked_debit, terms) in [(true, &b"the other terms"[..]), (false, b"the terms")] {
            assert!(s.card(&P).unwrap().unwrap().blocked.is_none());
            let out = upload_p(unacked_debit, terms).unwrap();
            assert_eq!(
                (out.cloned, out.created, out.recovered.len()),
                (Some(1), 0, 0)
            );
            let card = s.card(&P).unwrap().unwrap();
            assert!(
                card.blocked
                    .unwrap()
                    .contains("exception id 1: cloned card")
            );
            assert_eq!(
                count(&s, "SELECT count(*) FROM card_exceptions"),
                exceptions
            );
            assert_eq!(count(&s, "SELECT count(*) FROM card_loads"), loads);
            assert!(matches!(
                upload_p(true, b"the terms"),
                Err(StorageError::CardBlocked(_))
            ));
            s.card_unlock(&operator_unlock(P)).unwrap();
        }
        // The same record under id 1 (its signature may differ) is a repeat.
        let out = upload_p(true, b"the terms").unwrap();
        assert_eq!(out.cloned, None);
        assert_eq!(
            count(&s, "SELECT count(*) FROM card_exceptions"),
            exceptions + 1
        );
    }

    fn ask(
        s: &SqliteStorage,
        account: AccountId,
        seq: u32,
        reason: &str,
    ) -> CardUnlockRequestRecord {
        s.card_unlock_request(&NewCardUnlockRequest {
            card_id: P,
            unlock_seq: seq,
            lock_reason: "daily_limit".into(),
            lock_report: vec![seq as u8; 97],
            account_id: account,
            reason: Some(reason.into()),
            now: t(),
        })
        .unwrap()
    }

    fn approve(
        s: &SqliteStorage,
        seq: u32,
        pending_only: bool,
    ) -> Result<Option<String>, StorageError> {
        s.card_unlock(&NewCardUnlock {
            card_id: P,
            unlock_seq: seq,
            decided_by: "op".into(),
            auth: vec![seq as u8],
            pending_only,
            now: t(),
        })
    }

    fn state_of(s: &SqliteStorage, seq: u32) -> String {
        s.read(|tx| {
            Ok(tx.query_row(
                "SELECT state FROM card_unlock_requests WHERE unlock_seq = ?1",
                [seq],
                |r| r.get(0),
            )?)
        })
        .unwrap()
    }

    #[test]
    fn unlock_requests_one_pending_per_card_decided_once() {
        let (s, account) = setup();
        assert_eq!(s.card_unlock_status(&P).unwrap(), None);
        let first = ask(&s, account, 1, "typo");
        assert_eq!(
            (
                first.state,
                first.unlock_seq,
                first.owner.as_str(),
                first.asked_by_owner
            ),
            (CardUnlockState::Pending, 1, "alice", true)
        );
        assert_eq!(first.reason.as_deref(), Some("typo"));
        assert_eq!(first.lock_reason.as_deref(), Some("daily_limit"));
        let report: Vec<u8> = s
            .read(|c| {
                Ok(c.query_row(
                    "SELECT lock_report FROM card_unlock_requests WHERE unlock_seq = 1",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(report, vec![1; 97]);
        // Asking again answers the stored request, reason and all.
        assert_eq!(ask(&s, account, 1, "other words"), first);
        assert_eq!(s.card_unlock_status(&P).unwrap(), Some(first.clone()));
        // Another number supersedes the pending one; the first number again takes over.
        let five = ask(&s, account, 5, "wrong number");
        assert_eq!(five.state, CardUnlockState::Pending);
        assert_eq!(state_of(&s, 1), "superseded");
        assert_eq!(ask(&s, account, 1, "again").state, CardUnlockState::Pending);
        assert_eq!(state_of(&s, 5), "superseded");
        assert_eq!(s.card_unlock_requests_pending().unwrap().len(), 1);

        // Approving only the pending number (as the CLI does): another one is refused.
        assert!(matches!(
            approve(&s, 5, true),
            Err(StorageError::NoPendingUnlockRequest)
        ));
        assert_eq!(count(&s, "SELECT count(*) FROM card_unlocks"), 0);
        assert_eq!(approve(&s, 1, true).unwrap(), None);
        let done = s.card_unlock_status(&P).unwrap().unwrap();
        assert_eq!(
            (done.state, done.unlock_seq, done.auth.as_deref()),
            (CardUnlockState::Approved, 1, Some(&[1u8][..]))
        );
        assert!(s.card_unlock_requests_pending().unwrap().is_empty());
        assert!(matches!(
            approve(&s, 1, true),
            Err(StorageError::NoPendingUnlockRequest)
        ));
        // Nothing pending to refuse.
        let refuse = |card_id| {
            s.card_unlock_refuse(&CardUnlockRefusal {
                card_id,
                decided_by: "op".into(),
                note: Some("no".into()),
                now: t(),
            })
        };
        assert!(matches!(
            refuse(P),
            Err(StorageError::NoPendingUnlockRequest)
        ));
        assert!(matches!(refuse([9; 8]), Err(StorageError::UnknownCard)));

        // The next lock: asked, refused, shown with the note; asking again keeps it.
        ask(&s, account, 2, "please");
        let refused = refuse(P).unwrap();
        assert_eq!(
            (refused.state, refused.note.as_deref(), refused.auth),
            (CardUnlockState::Refused, Some("no"), None)
        );
        assert_eq!(
            ask(&s, account, 2, "please").state,
            CardUnlockState::Refused
        );
        assert_eq!(s.card_unlock_status(&P).unwrap().unwrap().unlock_seq, 2);
        // The operator unlocks a number nobody asked for: stored as an approved request.
        assert_eq!(approve(&s, 3, false).unwrap(), None);
        let unasked = s.card_unlock_status(&P).unwrap().unwrap();
        assert_eq!(
            (
                unasked.unlock_seq,
                unasked.state,
                unasked.asked_by_owner,
                unasked.lock_reason
            ),
            (3, CardUnlockState::Approved, false, None)
        );
        // And approves the refused one after all.
        approve(&s, 2, false).unwrap();
        assert_eq!(state_of(&s, 2), "approved");
        assert!(matches!(
            s.card_unlock_request(&NewCardUnlockRequest {
                card_id: [9; 8],
                unlock_seq: 1,
                lock_reason: "daily_limit".into(),
                lock_report: vec![0; 97],
                account_id: account,
                reason: None,
                now: t(),
            }),
            Err(StorageError::UnknownCard)
        ));
        // Q's requests are its own.
        assert_eq!(s.card_unlock_status(&Q).unwrap(), None);
    }

    /// Alice's account and card P, as every migration since 0003 can hold them.
    const ALICE_AND_CARD: &str =
        "INSERT INTO accounts (id, username, password_hash, merchant, currency, balance, created_at)
             VALUES (1, 'alice', 'x', 0, 'EUR', 0, 0);
         INSERT INTO cards (id, card_pub, account_id, mode, currency, cert, created_at)
             VALUES (x'0101010101010101', zeroblob(32), 1, 'personal', 'EUR', x'00', 0);";

    /// A database after the first `done` migrations holding `rows`, then migrated once more.
    fn migrated_over(done: usize, rows: &str) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        for (_, sql) in &MIGRATIONS[..done] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(rows).unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        tx.execute_batch(MIGRATIONS[done].1).unwrap();
        tx.commit().unwrap();
        // The later ones, so that today's queries run over the result.
        for (_, sql) in &MIGRATIONS[done + 1..] {
            conn.execute_batch(sql).unwrap();
        }
        conn
    }

    #[test]
    fn migration_0006_keeps_earlier_requests_without_a_lock_report() {
        let conn = migrated_over(
            5,
            &format!(
                "{ALICE_AND_CARD}
                 INSERT INTO card_unlock_requests (card_id, unlock_seq, account_id, reason, state, requested_at)
                     VALUES (x'0101010101010101', 1, 1, 'typo', 'pending', 10);"
            ),
        );
        let s = status_on(&conn);
        assert_eq!(
            (s.state, s.unlock_seq, s.reason.as_deref(), s.lock_reason),
            (CardUnlockState::Pending, 1, Some("typo"), None)
        );
        // The new columns refuse what no card reports.
        for (reason, report) in [("open", "x'00'"), ("daily_limit", "x'00'")] {
            let bad = conn.execute_batch(&format!(
                "INSERT INTO card_unlock_requests
                     (card_id, unlock_seq, account_id, state, requested_at, lock_reason, lock_report)
                 VALUES (x'0101010101010101', 2, 1, 'refused', 10, '{reason}', {report})"
            ));
            assert!(bad.is_err(), "{reason} {report}");
        }
    }

    #[test]
    fn migration_0005_keeps_earlier_unlocks_as_approved_requests() {
        let conn = migrated_over(
            4,
            &format!(
                "{ALICE_AND_CARD}
                 INSERT INTO card_unlocks (card_id, unlock_seq, decided_by, auth, created_at) VALUES
                     (x'0101010101010101', 1, 'first', x'01', 10),
                     (x'0101010101010101', 1, 'second', x'02', 20),
                     (x'0101010101010101', 0, 'zero', x'00', 30);"
            ),
        );
        let rows: Vec<(u32, String, String, i64, i64)> = conn
            .prepare("SELECT unlock_seq, state, decided_by, decided_at, unlock_id FROM card_unlock_requests")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [(1, "approved".into(), "second".into(), 20, 2)]);
        let s = status_on(&conn);
        assert_eq!(
            (s.state, s.auth),
            (CardUnlockState::Approved, Some(vec![2]))
        );
    }

    fn status_on(conn: &Connection) -> CardUnlockRequestRecord {
        super::card_unlock_status(conn, &P).unwrap().unwrap()
    }

    #[test]
    fn migration_0004_keeps_the_loads_of_0003_as_bank_loads() {
        let conn = migrated_over(
            3,
            &format!(
                "{ALICE_AND_CARD}
                 INSERT INTO ledger (id, account_id, currency, kind, credit, amount, balance_after, created_at, memo)
                     VALUES (5, 1, 'EUR', 'card_load', 0, 30, 0, 0, '');
                 INSERT INTO card_loads (card_id, load_seq, account_id, currency, amount, auth, ledger_id, created_at)
                     VALUES (x'0101010101010101', 1, 1, 'EUR', 30, x'aa', 5, 0);"
            ),
        );
        let row: (String, i64, i64, Option<i64>, Vec<u8>) = conn
            .query_row(
                "SELECT kind, account_id, ledger_id, payer_seq, auth FROM card_loads",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(row, ("bank".into(), 1, 5, None, vec![0xaa]));
        let blocked: Option<String> = conn
            .query_row("SELECT blocked_reason FROM cards", [], |r| r.get(0))
            .unwrap();
        assert_eq!(blocked, None);
        let fk: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk, 0);
        // A recovery must have no account and a payer_seq; a bank load the reverse.
        assert!(
            conn.execute(
                "INSERT INTO card_loads (card_id, load_seq, kind, account_id, currency, amount, auth, created_at)
                 VALUES (x'0101010101010101', 2, 'recovery', 1, 'EUR', 5, x'bb', 0)",
                [],
            )
            .is_err()
        );
    }
}
