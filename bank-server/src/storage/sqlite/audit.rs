//! The audit's snapshot: every table, in one read transaction of [`SqliteStorage`].

use ecash_shared::KeysetId;

use super::*;

impl AuditStore for SqliteStorage {
    fn audit_scan(&self, v: &mut dyn AuditVisitor) -> Result<(), StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, currency, value, public_key, withdraw_until, deposit_until FROM keysets",
            )?;
            for r in stmt.query_map([], |r| KeysetRow::try_from(r))? {
                v.keyset(keyset_from(r?)?);
            }
            let mut stmt = tx.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id"))?;
            for r in stmt.query_map([], |r| AccountRow::try_from(r))? {
                v.account(account_from(r?)?);
            }
            let mut stmt = tx.prepare_cached(
                "SELECT account_id, currency, kind, credit, amount, balance_after FROM ledger ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?;
            for r in rows {
                let (account_id, currency, kind, credit, amount, balance_after) = r?;
                v.ledger(AuditLedgerRow {
                    account_id,
                    currency: currency_from_sql(&currency)?,
                    kind: ledger_kind_from_name(&kind).ok_or_else(|| corrupt("ledger kind"))?,
                    credit,
                    amount: amount_from_sql(amount)?,
                    balance_after: amount_from_sql(balance_after)?,
                });
            }
            let mut stmt = tx.prepare_cached("SELECT currency, value FROM withdrawals ORDER BY id")?;
            for r in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (currency, value) = r?;
                v.withdrawal(currency_from_sql(&currency)?, amount_from_sql(value)?);
            }
            let mut stmt = tx.prepare_cached("SELECT op_id, currency, value FROM swaps")?;
            for r in stmt.query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
            })? {
                let (op_id, currency, value) = r?;
                v.swap(
                    array32(op_id, "swap id")?,
                    currency_from_sql(&currency)?,
                    amount_from_sql(value)?,
                );
            }
            merchant::audit_scan(tx, v)?;
            cards::audit_scan(tx, v)?;
            let mut stmt = tx.prepare_cached(
                "SELECT coin_pub, keyset_id, currency, value, msg_prefix, denom_sig, coin_sig, spend_msg, op_id
                 FROM spent_coins",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                    r.get::<_, Vec<u8>>(8)?,
                ))
            })?;
            for r in rows {
                let (coin_pub, keyset_id, currency, value, msg_prefix, denom_sig, coin_sig, spend_msg, op_id) =
                    r?;
                v.spent(
                    SpentCoin {
                        coin_pub: array32(coin_pub, "coin_pub")?,
                        keyset_id: KeysetId(array32(keyset_id, "keyset id")?),
                        currency: currency_from_sql(&currency)?,
                        value: amount_from_sql(value)?,
                        msg_prefix: array32(msg_prefix, "msg_prefix")?,
                        denom_sig,
                        coin_sig: <[u8; 64]>::try_from(coin_sig).map_err(|_| corrupt("coin_sig"))?,
                        spend_msg,
                    },
                    array32(op_id, "op id")?,
                );
            }
            Ok(())
        })
    }
}
