//! Keysets of [`SqliteStorage`].

use ecash_shared::KeysetId;
use ecash_shared::encoding::Timestamp;
use rusqlite::params;

use super::*;

impl KeysetStore for SqliteStorage {
    fn insert_keyset(&self, k: &KeysetRecord) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.exec(
                "INSERT OR IGNORE INTO keysets (id, currency, value, public_key, withdraw_until, deposit_until)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    &k.id.0[..],
                    k.currency.as_str(),
                    amount_to_sql(k.value)?,
                    k.public_key,
                    k.withdraw_until.unix(),
                    k.deposit_until.unix()
                ],
            )?;
            Ok(())
        })
    }

    fn keysets(&self) -> Result<Vec<KeysetRecord>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, currency, value, public_key, withdraw_until, deposit_until
                 FROM keysets ORDER BY currency, value, withdraw_until",
            )?;
            let rows = stmt.query_map([], |r| KeysetRow::try_from(r))?;
            rows.map(|r| keyset_from(r?)).collect()
        })
    }

    fn set_withdraw_until(&self, id: &KeysetId, until: Timestamp) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.exec(
                "UPDATE keysets SET withdraw_until = ?1 WHERE id = ?2",
                params![until.unix(), &id.0[..]],
            )?;
            Ok(())
        })
    }
}
