//! SQLite storage: WAL mode, one writer connection behind a mutex and a few
//! read-only connections, a busy timeout for other processes (the
//! `bank-server admin` CLI).
//!
//! Every write job runs under SQLite's write lock (`BEGIN IMMEDIATE`), so the
//! check and the change of every operation (spent set, balance, idempotency
//! key) are atomic.
//!
//! **Group commit**, in two halves:
//!
//! - *Batches.* A job runs in a savepoint of the open write transaction; if
//!   other jobs are waiting for the writer mutex it leaves the transaction
//!   open for them, and the last job of the burst commits it. The pages a burst
//!   shares (a merchant's balance, the ledger's last page) reach the WAL once.
//!   A refused job rolls back to its savepoint; a batch whose COMMIT fails
//!   fails every job in it.
//! - *Syncs.* The connections run `synchronous=NORMAL`: COMMIT appends to the
//!   WAL without waiting for the disk, so no transaction ever waits for it. A
//!   syncer thread ([`durability`]) runs one `fdatasync` of the WAL file for all
//!   the batches committed during the previous one, so the fsyncs per second
//!   stay what the disk can do while the operations per second grow with the
//!   load. (SQLite itself syncs the WAL before each checkpoint and the database
//!   file after it, in this mode.)
//!
//! No answer leaves before the disk has everything it could have seen: every
//! write is owed its batch being synced, every read the latest committed batch
//! (refusals too: "already spent" must not rest on a write a power cut can
//! undo). The server's handlers await this without holding a thread
//! ([`defer`]); other callers wait in place. A failed fsync leaves the page
//! cache in an unknown state: the store refuses all later work until restarted.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ecash_shared::api::{LedgerEntry, LedgerKind};
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency, KeysetId};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::*;

mod cards;
pub mod durability;
mod merchant;

use durability::Durability;
pub use durability::{Debt, defer};

/// Schema migrations, applied in order; `PRAGMA user_version` counts how many ran.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../migrations/0001_init.sql")),
    (
        "0002_merchant",
        include_str!("../../migrations/0002_merchant.sql"),
    ),
    (
        "0003_cards",
        include_str!("../../migrations/0003_cards.sql"),
    ),
    (
        "0004_card_exceptions",
        include_str!("../../migrations/0004_card_exceptions.sql"),
    ),
    (
        "0005_card_unlock_requests",
        include_str!("../../migrations/0005_card_unlock_requests.sql"),
    ),
    (
        "0006_card_lock_reports",
        include_str!("../../migrations/0006_card_lock_reports.sql"),
    ),
    (
        "0007_card_ledger",
        include_str!("../../migrations/0007_card_ledger.sql"),
    ),
];

/// Statements of the hot paths are compiled once per connection and reused
/// (`prepare_cached`): parsing SQL was ~14 % of a one-coin payment's CPU.
trait Cached {
    /// `execute` through the connection's statement cache.
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// `query_row` through the connection's statement cache.
    fn row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Statements kept compiled per connection (more than the hot paths use).
const STATEMENT_CACHE: usize = 64;

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A row that cannot be what the schema promises.
#[derive(Debug, thiserror::Error)]
#[error("corrupt database row: {0}")]
struct Corrupt(&'static str);

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::backend(e)
    }
}

fn corrupt(what: &'static str) -> StorageError {
    StorageError::backend(Corrupt(what))
}

fn amount_to_sql(a: Amount) -> Result<i64, StorageError> {
    i64::try_from(a.minor()).map_err(|_| StorageError::AmountOverflow)
}

fn amount_from_sql(v: i64) -> Result<Amount, StorageError> {
    u64::try_from(v)
        .map(Amount::from_minor)
        .map_err(|_| corrupt("negative amount"))
}

fn currency_from_sql(s: &str) -> Result<Currency, StorageError> {
    s.parse().map_err(|_| corrupt("currency"))
}

fn array32(v: Vec<u8>, what: &'static str) -> Result<[u8; 32], StorageError> {
    <[u8; 32]>::try_from(v).map_err(|_| corrupt(what))
}

/// The writer connection and its open batch.
struct Writer {
    conn: Connection,
    /// The batch whose transaction is open, and how many jobs it holds.
    open: Option<(u64, usize)>,
}

/// Jobs in one batch at most (then it commits even if more are waiting).
const MAX_BATCH: usize = 256;

/// The SQLite implementation of [`Storage`].
pub struct SqliteStorage {
    writer: Mutex<Writer>,
    /// Threads waiting for the writer mutex: a job leaves its batch open for
    /// them instead of committing it.
    waiting: AtomicUsize,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Group commit for a file database; `None` in memory (nothing to sync).
    durability: Option<Durability>,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteStorage({} readers)", self.readers.len())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a write job is caught and its transaction rolled back
    // (see `write`), so the connection is still usable after a poisoning.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn setup(conn: &Connection, wal: bool) -> Result<(), StorageError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if wal {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(corrupt("could not enable WAL mode"));
        }
    }
    // Durability comes from the group commit's fsync (see the module docs).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let done: i64 = tx.row("PRAGMA user_version", [], |r| r.get(0))?;
    let done = usize::try_from(done).map_err(|_| corrupt("user_version"))?;
    if done > MIGRATIONS.len() {
        return Err(corrupt("database is newer than this bank-server"));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(done) {
        tracing::info!(migration = name, "applying migration");
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl SqliteStorage {
    /// Opens (creating if needed) a database file and migrates it.
    pub fn open(path: &Path, readers: usize) -> Result<Self, StorageError> {
        let mut writer = Connection::open(path)?;
        setup(&writer, true)?;
        migrate(&mut writer)?;
        let mut pool = Vec::with_capacity(readers);
        for _ in 0..readers {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            setup(&r, false)?;
            pool.push(Mutex::new(r));
        }
        let storage = SqliteStorage {
            writer: Mutex::new(Writer {
                conn: writer,
                open: None,
            }),
            waiting: AtomicUsize::new(0),
            readers: pool,
            next_reader: AtomicUsize::new(0),
            durability: Some(Durability::start(path).map_err(StorageError::backend)?),
        };
        // The migrations committed without waiting for the disk: sync them now.
        if let Some(d) = &storage.durability {
            let batch = d.begin();
            d.committed(batch);
            d.owe(batch)?;
        }
        Ok(storage)
    }

    /// A private in-memory database (one connection for reads and writes).
    pub fn open_in_memory() -> Result<Self, StorageError> {
        let mut writer = Connection::open_in_memory()?;
        setup(&writer, false)?;
        migrate(&mut writer)?;
        Ok(SqliteStorage {
            writer: Mutex::new(Writer {
                conn: writer,
                open: None,
            }),
            waiting: AtomicUsize::new(0),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
            durability: None,
        })
    }

    /// Runs `f` as one job of a write transaction: in a savepoint, released
    /// if `f` returns `Ok` and rolled back otherwise (also on a panic). The
    /// transaction ("batch") commits when no other job waits for the writer
    /// mutex — else the next job joins it and the last one commits — so the
    /// pages a burst of jobs shares (the merchant's balance, the ledger's last
    /// page) go to the WAL once. The caller is owed its batch being on disk
    /// (see [`Durability`]); a batch whose COMMIT fails fails all its jobs.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let Some(d) = &self.durability else {
            // In memory: nothing to sync, one transaction per job.
            let mut w = lock(&self.writer);
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            return Ok(out);
        };
        d.check()?;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut w = lock(&self.writer);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let (batch, jobs) = match w.open {
            Some(open) => open,
            None => {
                w.conn.exec("BEGIN IMMEDIATE", [])?;
                (d.begin(), 0)
            }
        };
        w.open = Some((batch, jobs + 1));
        let result = match w.conn.exec("SAVEPOINT job", []) {
            Ok(_) => {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&w.conn)));
                let undo = if matches!(result, Ok(Ok(_))) {
                    w.conn.exec("RELEASE job", []).map(drop)
                } else {
                    w.conn.execute_batch("ROLLBACK TO job; RELEASE job")
                };
                if undo.is_err() || w.conn.is_autocommit() {
                    // SQLite rolled the whole transaction back (I/O error,
                    // full disk): every job of this batch fails.
                    Self::abandon(&mut w, d, batch);
                }
                result
            }
            Err(e) => {
                Self::abandon(&mut w, d, batch);
                Ok(Err(e.into()))
            }
        };
        let last = self.waiting.load(Ordering::SeqCst) == 0 || jobs + 1 >= MAX_BATCH;
        if last && w.open.is_some() {
            w.open = None;
            match w.conn.exec("COMMIT", []) {
                Ok(_) => d.committed(batch),
                Err(e) => {
                    tracing::error!(error = %e, batch, "batch commit failed; rolling back");
                    Self::abandon(&mut w, d, batch);
                }
            }
        }
        drop(w);
        let result = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        d.owe(batch)?;
        result
    }

    /// Ends the open batch without committing it: none of its jobs persists.
    fn abandon(w: &mut Writer, d: &Durability, batch: u64) {
        if !w.conn.is_autocommit() {
            let _ = w.conn.execute_batch("ROLLBACK");
        }
        w.open = None;
        d.lost(batch);
    }

    /// Owes the caller everything committed so far being on disk (see
    /// [`Durability`]).
    fn durable(&self) -> Result<(), StorageError> {
        match &self.durability {
            Some(d) => d.owe(d.horizon()),
            None => Ok(()),
        }
    }

    /// Runs `f` in a read transaction (one snapshot); the caller is owed what
    /// it could have seen being on disk.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if self.readers.is_empty() {
            // In-memory databases read on the writer connection.
            let mut w = lock(&self.writer);
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx)?;
            tx.commit()?;
            return Ok(out);
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let out = {
            let mut conn = lock(&self.readers[i]);
            // A deferred transaction: every statement inside sees one snapshot.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx)?;
            tx.commit()?;
            out
        };
        self.durable()?;
        Ok(out)
    }
}

const ACCOUNT_COLUMNS: &str = "id, username, password_hash, merchant, currency, balance, debt";

/// id, username, password_hash, merchant, currency, balance, debt.
type AccountRow = (i64, String, String, bool, String, i64, i64);

fn account_from(
    (id, username, password_hash, merchant, currency, balance, debt): AccountRow,
) -> Result<AccountRecord, StorageError> {
    Ok(AccountRecord {
        id,
        username,
        password_hash,
        merchant,
        currency: currency_from_sql(&currency)?,
        balance: amount_from_sql(balance)?,
        debt: amount_from_sql(debt)?,
    })
}

fn account_where(
    tx: &Connection,
    clause: &str,
    param: &dyn rusqlite::ToSql,
) -> Result<Option<AccountRecord>, StorageError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {clause}");
    tx.row(&sql, [param], |r| AccountRow::try_from(r))
        .optional()?
        .map(account_from)
        .transpose()
}

/// Applies a credit or debit to an account and writes its ledger entry.
/// Returns the new balance and the ledger id.
///
/// An account in debt (a card of its own over-spent, see `cards::settle_transfers`)
/// may not withdraw, pay out or load a card ([`StorageError::AccountInDebt`]), and
/// every credit to it first pays the debt: a `debt_repayment` debit right after the
/// credit's entry.
fn post(
    tx: &Connection,
    account: &AccountRecord,
    kind: LedgerKind,
    credit: bool,
    amount: Amount,
    memo: &str,
    now: Timestamp,
) -> Result<(Amount, i64), StorageError> {
    if !credit
        && !account.debt.is_zero()
        && matches!(
            kind,
            LedgerKind::Withdraw | LedgerKind::Payout | LedgerKind::CardLoad
        )
    {
        return Err(StorageError::AccountInDebt(account.debt));
    }
    let balance = if credit {
        account
            .balance
            .checked_add(amount)
            .map_err(|_| StorageError::AmountOverflow)?
    } else {
        account
            .balance
            .checked_sub(amount)
            .map_err(|_| StorageError::InsufficientFunds)?
    };
    let ledger_id = ledger_entry(tx, account, kind, credit, amount, balance, memo, now)?;
    let repay = if credit {
        amount.min(account.debt)
    } else {
        Amount::ZERO
    };
    let balance = if repay.is_zero() {
        balance
    } else {
        let after = balance
            .checked_sub(repay)
            .map_err(|_| StorageError::InsufficientFunds)?;
        let memo = format!(
            "debt repaid, {} still owed",
            account.debt.checked_sub(repay).unwrap_or(Amount::ZERO)
        );
        ledger_entry(
            tx,
            account,
            LedgerKind::DebtRepayment,
            false,
            repay,
            after,
            &memo,
            now,
        )?;
        tx.exec(
            "UPDATE accounts SET debt = debt - ?1 WHERE id = ?2",
            params![amount_to_sql(repay)?, account.id],
        )?;
        after
    };
    tx.exec(
        "UPDATE accounts SET balance = ?1 WHERE id = ?2",
        params![amount_to_sql(balance)?, account.id],
    )?;
    Ok((balance, ledger_id))
}

/// Writes one ledger row; its id.
#[allow(clippy::too_many_arguments)]
fn ledger_entry(
    tx: &Connection,
    account: &AccountRecord,
    kind: LedgerKind,
    credit: bool,
    amount: Amount,
    balance_after: Amount,
    memo: &str,
    now: Timestamp,
) -> Result<i64, StorageError> {
    tx.exec(
        "INSERT INTO ledger (account_id, currency, kind, credit, amount, balance_after, created_at, memo)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            account.id,
            account.currency.as_str(),
            ledger_kind_name(kind),
            credit,
            amount_to_sql(amount)?,
            amount_to_sql(balance_after)?,
            now.unix(),
            memo
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// id, currency, value, public_key, withdraw_until, deposit_until.
type KeysetRow = (Vec<u8>, String, i64, Vec<u8>, i64, i64);

fn keyset_from(
    (id, currency, value, public_key, wu, du): KeysetRow,
) -> Result<KeysetRecord, StorageError> {
    Ok(KeysetRecord {
        id: KeysetId(array32(id, "keyset id")?),
        currency: currency_from_sql(&currency)?,
        value: amount_from_sql(value)?,
        public_key,
        withdraw_until: Timestamp::from_unix(wu),
        deposit_until: Timestamp::from_unix(du),
    })
}

impl Storage for SqliteStorage {
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

    fn find_withdrawal(
        &self,
        account_id: AccountId,
        request_id: &str,
    ) -> Result<Option<StoredWithdrawal>, StorageError> {
        self.read(|tx| find_withdrawal(tx, account_id, request_id))
    }

    fn withdraw(&self, w: &NewWithdrawal) -> Result<WithdrawOutcome, StorageError> {
        self.write(|tx| {
            if let Some(stored) = find_withdrawal(tx, w.account_id, &w.request_id)? {
                return if stored.request_hash == w.request_hash {
                    Ok(WithdrawOutcome::Replayed(stored.blind_sigs))
                } else {
                    Err(StorageError::IdempotencyConflict)
                };
            }
            let account =
                account_where(tx, "id = ?1", &w.account_id)?.ok_or(StorageError::UnknownAccount)?;
            let memo = format!("{} coins", w.blind_sigs.len());
            let (balance, ledger_id) = post(
                tx,
                &account,
                LedgerKind::Withdraw,
                false,
                w.value,
                &memo,
                w.created_at,
            )?;
            tx.exec(
                "INSERT INTO withdrawals (account_id, request_id, request_hash, currency, value, blind_sigs, ledger_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    w.account_id,
                    w.request_id,
                    &w.request_hash[..],
                    w.currency.as_str(),
                    amount_to_sql(w.value)?,
                    encode_blobs(&w.blind_sigs),
                    ledger_id,
                    w.created_at.unix()
                ],
            )?;
            Ok(WithdrawOutcome::Done { balance })
        })
    }

    fn spent_by(&self, coin_pubs: &[[u8; 32]]) -> Result<Vec<Option<OpId>>, StorageError> {
        self.read(|tx| spent_by(tx, coin_pubs))
    }

    fn find_swap(&self, op_id: &OpId) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
        self.read(|tx| find_swap(tx, op_id))
    }

    fn spend(&self, req: &SpendRequest) -> Result<SpendOutcome, StorageError> {
        if let SpendEffect::OrderPayment {
            order_id,
            paid_at,
            bank_sig,
        } = &req.effect
        {
            return self.write(|tx| merchant::pay(tx, req, order_id, *paid_at, bank_sig));
        }
        self.write(|tx| {
            let pubs: Vec<[u8; 32]> = req.coins.iter().map(|c| c.coin_pub).collect();
            let spent = spent_by(tx, &pubs)?;
            let is_swap = matches!(req.effect, SpendEffect::Swap { .. });
            if is_swap
                && !spent.is_empty()
                && spent.iter().all(|s| s.as_ref() == Some(&req.op_id))
                && let Some(sigs) = find_swap(tx, &req.op_id)?
            {
                return Ok(SpendOutcome::Replayed(sigs));
            }
            if let Some((coin, _)) = pubs.iter().zip(&spent).find(|(_, s)| s.is_some()) {
                return Err(StorageError::CoinAlreadySpent(*coin));
            }
            let (op_kind, outcome) = match &req.effect {
                SpendEffect::Deposit { account_id } => {
                    let account = account_where(tx, "id = ?1", account_id)?
                        .ok_or(StorageError::UnknownAccount)?;
                    let memo = format!("{} coins", req.coins.len());
                    let (balance, _) = post(
                        tx,
                        &account,
                        LedgerKind::Deposit,
                        true,
                        req.value,
                        &memo,
                        req.now,
                    )?;
                    ("deposit", SpendOutcome::Deposited { balance })
                }
                SpendEffect::Swap { value, blind_sigs } => {
                    tx.exec(
                        "INSERT INTO swaps (op_id, currency, value, blind_sigs, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            &req.op_id[..],
                            req.currency.as_str(),
                            amount_to_sql(*value)?,
                            encode_blobs(blind_sigs),
                            req.now.unix()
                        ],
                    )?;
                    ("swap", SpendOutcome::Swapped)
                }
                // Handled above, before the spent-set checks.
                SpendEffect::OrderPayment { .. } => {
                    return Err(corrupt("order payment on the generic spend path"));
                }
            };
            insert_spent(tx, req, op_kind)?;
            Ok(outcome)
        })
    }

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

    fn make_merchant(
        &self,
        username: &str,
        display_name: Option<&str>,
    ) -> Result<AccountRecord, StorageError> {
        self.write(|tx| merchant::make_merchant(tx, username, display_name))
    }

    fn merchant_name(&self, account_id: AccountId) -> Result<Option<String>, StorageError> {
        self.read(|tx| merchant::merchant_name(tx, account_id))
    }

    fn create_order(&self, order: &NewOrder) -> Result<OrderRecord, StorageError> {
        self.write(|tx| merchant::create_order(tx, order))
    }

    fn order(&self, id: &str) -> Result<Option<OrderRecord>, StorageError> {
        self.read(|tx| merchant::order(tx, id))
    }

    fn merchant_orders(
        &self,
        merchant_id: AccountId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<OrderRecord>, StorageError> {
        self.read(|tx| merchant::merchant_orders(tx, merchant_id, limit, before))
    }

    fn order_coins(&self, order_id: &str) -> Result<Vec<[u8; 32]>, StorageError> {
        self.read(|tx| merchant::order_coins(tx, order_id))
    }

    fn refund(&self, refund: &NewRefund) -> Result<RefundOutcome, StorageError> {
        self.write(|tx| merchant::refund(tx, refund))
    }

    fn find_refund_claim(&self, op_id: &OpId) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
        self.read(|tx| merchant::find_refund_claim(tx, op_id))
    }

    fn claim_refund(&self, claim: &NewRefundClaim) -> Result<RefundClaimOutcome, StorageError> {
        self.write(|tx| merchant::claim_refund(tx, claim))
    }

    fn create_card(&self, card: &NewCard) -> Result<CardRecord, StorageError> {
        self.write(|tx| cards::create_card(tx, card))
    }

    fn card(&self, id: &[u8; 8]) -> Result<Option<CardRecord>, StorageError> {
        self.read(|tx| cards::card(tx, id))
    }

    fn card_load(&self, load: &NewCardLoad) -> Result<CardLoadOutcome, StorageError> {
        self.write(|tx| cards::card_load(tx, load))
    }

    fn card_unload(&self, unload: &NewCardUnload) -> Result<CardUnloadOutcome, StorageError> {
        self.write(|tx| cards::card_unload(tx, unload))
    }

    fn card_loads_from(
        &self,
        card_id: &[u8; 8],
        from: u32,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        self.read(|tx| cards::card_loads_from(tx, card_id, from, limit))
    }

    fn card_exceptions(
        &self,
        upload: &CardExceptionUpload,
        sign: &dyn Fn(&RecoveryLoad) -> Vec<u8>,
    ) -> Result<CardExceptionOutcome, StorageError> {
        self.write(|tx| cards::card_exceptions(tx, upload, sign))
    }

    fn card_settle(&self, settlement: &CardSettlement) -> Result<CardSettleOutcome, StorageError> {
        self.write(|tx| cards::card_settle(tx, settlement))
    }

    fn card_unlock(&self, unlock: &NewCardUnlock) -> Result<Option<String>, StorageError> {
        self.write(|tx| cards::card_unlock(tx, unlock))
    }

    fn card_unlock_request(
        &self,
        request: &NewCardUnlockRequest,
    ) -> Result<CardUnlockRequestRecord, StorageError> {
        self.write(|tx| cards::card_unlock_request(tx, request))
    }

    fn card_unlock_status(
        &self,
        card_id: &[u8; 8],
    ) -> Result<Option<CardUnlockRequestRecord>, StorageError> {
        self.read(|tx| cards::card_unlock_status(tx, card_id))
    }

    fn card_unlock_requests_pending(&self) -> Result<Vec<CardUnlockRequestRecord>, StorageError> {
        self.read(cards::card_unlock_requests_pending)
    }

    fn card_unlock_refuse(
        &self,
        refusal: &CardUnlockRefusal,
    ) -> Result<CardUnlockRequestRecord, StorageError> {
        self.write(|tx| cards::card_unlock_refuse(tx, refusal))
    }
}

/// Records the coins of `req` in the spent set under its operation id.
fn insert_spent(tx: &Connection, req: &SpendRequest, op_kind: &str) -> Result<(), StorageError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO spent_coins (coin_pub, keyset_id, currency, value, msg_prefix, denom_sig,
                                  coin_sig, spend_msg, op_kind, op_id, spent_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for c in &req.coins {
        insert.execute(params![
            &c.coin_pub[..],
            &c.keyset_id.0[..],
            c.currency.as_str(),
            amount_to_sql(c.value)?,
            &c.msg_prefix[..],
            c.denom_sig,
            &c.coin_sig[..],
            c.spend_msg,
            op_kind,
            &req.op_id[..],
            req.now.unix()
        ])?;
    }
    Ok(())
}

fn find_withdrawal(
    tx: &Connection,
    account_id: AccountId,
    request_id: &str,
) -> Result<Option<StoredWithdrawal>, StorageError> {
    let row: Option<(Vec<u8>, Vec<u8>)> = tx
        .row(
            "SELECT request_hash, blind_sigs FROM withdrawals WHERE account_id = ?1 AND request_id = ?2",
            params![account_id, request_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(hash, sigs)| {
        Ok(StoredWithdrawal {
            request_hash: array32(hash, "request hash")?,
            blind_sigs: decode_blobs(&sigs).ok_or_else(|| corrupt("withdrawal signatures"))?,
        })
    })
    .transpose()
}

fn find_swap(tx: &Connection, op_id: &OpId) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
    let sigs: Option<Vec<u8>> = tx
        .row(
            "SELECT blind_sigs FROM swaps WHERE op_id = ?1",
            [&op_id[..]],
            |r| r.get(0),
        )
        .optional()?;
    sigs.map(|s| decode_blobs(&s).ok_or_else(|| corrupt("swap signatures")))
        .transpose()
}

fn spent_by(tx: &Connection, coin_pubs: &[[u8; 32]]) -> Result<Vec<Option<OpId>>, StorageError> {
    let mut stmt = tx.prepare_cached("SELECT op_id FROM spent_coins WHERE coin_pub = ?1")?;
    coin_pubs
        .iter()
        .map(|p| {
            let op: Option<Vec<u8>> = stmt.query_row([&p[..]], |r| r.get(0)).optional()?;
            op.map(|o| array32(o, "op id")).transpose()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use super::*;

    fn file_db() -> (tempfile::TempDir, Arc<SqliteStorage>) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("bank.sqlite"), 1).unwrap();
        s.write(|tx| {
            tx.execute_batch(
                "CREATE TABLE t_parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE t_child (id INTEGER PRIMARY KEY,
                                       parent INTEGER NOT NULL REFERENCES t_parent(id));",
            )?;
            Ok(())
        })
        .unwrap();
        (dir, Arc::new(s))
    }

    fn count(s: &SqliteStorage, table: &str) -> i64 {
        s.read(|tx| Ok(tx.row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?))
            .unwrap()
    }

    fn settle(debt: Debt) -> Result<(), StorageError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(debt.settle())
    }

    #[test]
    fn concurrent_jobs_batch_and_every_answer_is_on_disk() {
        let (_dir, s) = file_db();
        let threads: Vec<_> = (0..16i64)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for i in 0..50i64 {
                        let id = t * 1000 + i;
                        let d = s.durability.as_ref().unwrap();
                        let mut batch = 0;
                        let r = s.write(|tx| {
                            batch = d.begun();
                            tx.exec("INSERT INTO t_parent (id) VALUES (?1)", [id])?;
                            // Every third job is refused after writing: its
                            // row must not stay, the batch goes on.
                            if i % 3 == 0 {
                                return Err(StorageError::UnknownAccount);
                            }
                            Ok(())
                        });
                        assert_eq!(r.is_ok(), i % 3 != 0);
                        // Answered: the batch holding the job is on disk.
                        assert!(batch > 0 && d.synced() >= batch);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count(&s, "t_parent"), 16 * (50 - 17));
        let d = s.durability.as_ref().unwrap();
        assert_eq!(d.synced(), d.horizon());
    }

    #[test]
    fn a_deferred_answer_waits_for_the_sync_of_its_batch() {
        let (_dir, s) = file_db();
        let (r, debt) = defer(|| s.write(|tx| Ok(tx.exec("INSERT INTO t_parent VALUES (1)", [])?)));
        r.unwrap();
        let d = s.durability.as_ref().unwrap();
        let batch = d.horizon();
        settle(debt).unwrap();
        assert!(d.synced() >= batch);
    }

    #[test]
    fn a_batch_that_cannot_commit_fails_every_job_in_it() {
        let (_dir, s) = file_db();
        // Job A: fine, but another job "waits", so A leaves the batch open.
        s.waiting.fetch_add(1, Ordering::SeqCst);
        let (a, debt_a) =
            defer(|| s.write(|tx| Ok(tx.exec("INSERT INTO t_parent VALUES (1)", [])?)));
        s.waiting.fetch_sub(1, Ordering::SeqCst);
        assert!(a.is_ok(), "A's own work succeeded");
        // Job B joins the batch with a foreign key checked only at COMMIT,
        // so the batch's COMMIT fails.
        let (b, debt_b) = defer(|| {
            s.write(|tx| {
                tx.execute_batch("PRAGMA defer_foreign_keys = ON")?;
                Ok(tx.exec("INSERT INTO t_child VALUES (1, 999)", [])?)
            })
        });
        assert!(b.is_ok(), "B's own statements succeeded");
        assert!(settle(debt_a).is_err(), "A must not be told it is done");
        assert!(settle(debt_b).is_err());
        assert_eq!(count(&s, "t_parent"), 0);
        assert_eq!(count(&s, "t_child"), 0);
        // The store goes on: the next job commits and is answered.
        s.write(|tx| Ok(tx.exec("INSERT INTO t_parent VALUES (2)", [])?))
            .unwrap();
        assert_eq!(count(&s, "t_parent"), 1);
    }

    #[test]
    fn a_panicking_job_is_rolled_back_and_the_writer_goes_on() {
        let (_dir, s) = file_db();
        let s2 = Arc::clone(&s);
        let panicked = std::thread::spawn(move || {
            let _ = s2.write(|tx| -> Result<(), StorageError> {
                tx.exec("INSERT INTO t_parent VALUES (1)", [])?;
                panic!("job bug");
            });
        })
        .join();
        assert!(panicked.is_err());
        s.write(|tx| Ok(tx.exec("INSERT INTO t_parent VALUES (2)", [])?))
            .unwrap();
        assert_eq!(count(&s, "t_parent"), 1);
    }
}
