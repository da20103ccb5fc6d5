//! The card tables as the audit reads them.

use rusqlite::Connection;

use super::*;

pub(in crate::storage::sqlite) fn audit_scan(
    tx: &Connection,
    v: &mut dyn AuditVisitor,
) -> Result<(), StorageError> {
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
