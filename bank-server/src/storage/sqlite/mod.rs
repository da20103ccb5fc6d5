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

use ecash_shared::api::LedgerKind;
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency, KeysetId};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::*;

mod accounts;
mod audit;
mod cards;
mod cards_impl;
mod coins;
pub mod durability;
mod keysets_impl;
mod merchant;
mod orders_impl;

use durability::Durability;
pub use durability::{Debt, defer};

/// Schema migrations, applied in order; `PRAGMA user_version` counts how many ran.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../../../migrations/0001_init.sql"),
    ),
    (
        "0002_merchant",
        include_str!("../../../migrations/0002_merchant.sql"),
    ),
    (
        "0003_cards",
        include_str!("../../../migrations/0003_cards.sql"),
    ),
    (
        "0004_card_exceptions",
        include_str!("../../../migrations/0004_card_exceptions.sql"),
    ),
    (
        "0005_card_unlock_requests",
        include_str!("../../../migrations/0005_card_unlock_requests.sql"),
    ),
    (
        "0006_card_lock_reports",
        include_str!("../../../migrations/0006_card_lock_reports.sql"),
    ),
    (
        "0007_card_ledger",
        include_str!("../../../migrations/0007_card_ledger.sql"),
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
        if *name == "0007_card_ledger" {
            refuse_value_on_cards_before_the_card_ledger(&tx)?;
        }
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

/// Before the bank kept a ledger per card (migration 0007), value moved between cards
/// offline without the bank seeing it, so what each card holds cannot be known from
/// its loads and unloads: a database whose cards still hold value is not upgraded.
fn refuse_value_on_cards_before_the_card_ledger(tx: &Connection) -> Result<(), StorageError> {
    let outstanding: i64 = tx.row(
        "SELECT coalesce((SELECT sum(amount) FROM card_loads WHERE kind = 'bank'), 0)
              - coalesce((SELECT sum(amount) FROM card_unloads), 0)",
        [],
        |r| r.get(0),
    )?;
    if outstanding != 0 {
        return Err(StorageError::backend(LegacyCardValue(outstanding)));
    }
    Ok(())
}

/// Why a database was not upgraded to the card ledger.
#[derive(Debug, thiserror::Error)]
#[error(
    "cards hold {0} minor units loaded before the bank kept a ledger per card: unload every card with the previous bank-server, then upgrade"
)]
struct LegacyCardValue(i64);

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

/// Records the coins of `req` in the spent set under its operation id.
/// Refuses the whole request if any of its coins is already spent.
fn refuse_spent<E>(tx: &Connection, req: &SpendRequest<E>) -> Result<(), StorageError> {
    let pubs: Vec<[u8; 32]> = req.coins.iter().map(|c| c.coin_pub).collect();
    let spent = spent_by(tx, &pubs)?;
    match pubs.iter().zip(&spent).find(|(_, s)| s.is_some()) {
        Some((coin, _)) => Err(StorageError::CoinAlreadySpent(*coin)),
        None => Ok(()),
    }
}

fn insert_spent<E>(
    tx: &Connection,
    req: &SpendRequest<E>,
    op_kind: &str,
) -> Result<(), StorageError> {
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
mod tests;
