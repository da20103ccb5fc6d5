//! Accounts, sessions, wire in and out, history of [`SqliteStorage`].

use ecash_shared::Amount;
use ecash_shared::api::{LedgerEntry, LedgerKind};
use ecash_shared::encoding::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::*;

impl AccountStore for SqliteStorage {
    fn create_account(&self, a: &NewAccount) -> Result<AccountId, StorageError> {
        self.write(|tx| {
            let exists: Option<i64> = tx
                .row(
                    "SELECT id FROM accounts WHERE username = ?1",
                    [&a.username],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_some() {
                return Err(StorageError::UsernameTaken);
            }
            tx.exec(
                "INSERT INTO accounts (username, password_hash, merchant, currency, balance, created_at)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5)",
                params![
                    a.username,
                    a.password_hash,
                    a.merchant,
                    a.currency.as_str(),
                    a.created_at.unix()
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn account_by_username(&self, username: &str) -> Result<Option<AccountRecord>, StorageError> {
        self.read(|tx| account_where(tx, "username = ?1", &username))
    }

    fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRecord>, StorageError> {
        self.read(|tx| account_where(tx, "id = ?1", &id))
    }

    fn create_session(
        &self,
        token_hash: &[u8; 32],
        account_id: AccountId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.exec("DELETE FROM sessions WHERE expires_at <= ?1", [now.unix()])?;
            tx.exec(
                "INSERT INTO sessions (token_hash, account_id, expires_at) VALUES (?1, ?2, ?3)",
                params![&token_hash[..], account_id, expires_at.unix()],
            )?;
            Ok(())
        })
    }

    fn session_account(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<AccountRecord>, StorageError> {
        self.read(|tx| {
            let cols = ACCOUNT_COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {cols} FROM sessions s JOIN accounts a ON a.id = s.account_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2"
            );
            tx.row(&sql, params![&token_hash[..], now.unix()], |r| {
                AccountRow::try_from(r)
            })
            .optional()?
            .map(account_from)
            .transpose()
        })
    }

    fn credit(
        &self,
        username: &str,
        amount: Amount,
        memo: &str,
        now: Timestamp,
    ) -> Result<Amount, StorageError> {
        self.write(|tx| {
            let account = account_where(tx, "username = ?1", &username)?
                .ok_or(StorageError::UnknownAccount)?;
            Ok(post(tx, &account, LedgerKind::Credit, true, amount, memo, now)?.0)
        })
    }

    fn payout(
        &self,
        account_id: AccountId,
        amount: Amount,
        memo: &str,
        now: Timestamp,
    ) -> Result<Amount, StorageError> {
        self.write(|tx| {
            let account =
                account_where(tx, "id = ?1", &account_id)?.ok_or(StorageError::UnknownAccount)?;
            Ok(post(tx, &account, LedgerKind::Payout, false, amount, memo, now)?.0)
        })
    }

    fn history(
        &self,
        account_id: AccountId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<LedgerEntry>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, kind, credit, amount, balance_after, created_at, memo FROM ledger
                 WHERE account_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![account_id, before.unwrap_or(i64::MAX), i64::from(limit)],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )?;
            rows.map(|row| {
                let (id, kind, credit, amount, balance_after, created_at, memo) = row?;
                Ok(LedgerEntry {
                    id,
                    kind: ledger_kind_from_name(&kind).ok_or_else(|| corrupt("ledger kind"))?,
                    credit,
                    amount: amount_from_sql(amount)?,
                    balance_after: amount_from_sql(balance_after)?,
                    created_at: Timestamp::from_unix(created_at),
                    memo,
                })
            })
            .collect()
        })
    }
}
