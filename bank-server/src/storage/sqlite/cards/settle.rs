//! Settling offline transfers against the bank's ledger per card, and what
//! happens to a card caught giving out more than it holds there.

use ecash_shared::Amount;
use ecash_shared::api::LedgerKind;
use ecash_shared::encoding::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::*;

/// Why a card that signed an ACK and an abandoned credit for one transfer is blocked.
pub(in crate::storage::sqlite) const CONTRADICTION: &str =
    "signed both an ACK and an abandoned credit for one transfer: not a genuine card";

/// Adds `amount` to a card's bank-side balance, or takes it (which must fit).
pub(in crate::storage::sqlite) fn move_bank_balance(
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
pub(in crate::storage::sqlite) fn record_overspend(
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

pub(in crate::storage::sqlite) fn card_settle(
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

pub(in crate::storage::sqlite) fn settle_one(
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
    let payee = card(tx, &st.card_id)?.ok_or(StorageError::UnknownCard)?;
    if payee
        .bank_balance
        .checked_add(c.amount)
        .map_or(true, |after| after > st.cap)
    {
        return Ok(CreditOutcome::Deferred(format!(
            "the bank already holds {} for this card; this payment would take it over the \
             card's cap of {}: it stays on the card until the payments it made are settled",
            payee.bank_balance.minor(),
            st.cap.minor()
        )));
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
        if !debt.is_zero() && !may_owe(tx, &owner, &payer)? {
            // Only what its owner can cover is paid.
            return Ok(CreditOutcome::Refused(format!(
                "the paying card {} gave out more than was loaded onto it, \
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

/// Whether the bank lends an over-spending card's owner the shortfall its balance
/// does not cover (so the honest payee is paid in full): once per account — never
/// while it owes, never after one of its cards was caught owing before — and only
/// for a card that was ever loaded from an account. This bounds what the bank can
/// lose to one account at one payment, at most the certificate's per-transfer limit.
fn may_owe(
    tx: &Connection,
    owner: &AccountRecord,
    card: &CardRecord,
) -> Result<bool, StorageError> {
    if !owner.debt.is_zero() {
        return Ok(false);
    }
    let (owed_before, loaded): (bool, bool) = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM card_overspends
                        WHERE account_id = ?1 AND kind = 'transfer' AND debt > 0),
                EXISTS (SELECT 1 FROM card_loads WHERE card_id = ?2 AND kind = 'bank')",
        params![owner.id, &card.id[..]],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(!owed_before && loaded)
}

/// Books an over-spending card's shortfall against its owner: `from_balance` debited
/// (ledger kind `card_shortfall`), `debt` added to what the account owes.
pub(in crate::storage::sqlite) fn charge_owner(
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
