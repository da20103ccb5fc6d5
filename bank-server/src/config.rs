//! Server configuration. Every field has a safe default: `bank-server` with no
//! arguments serves a demo bank on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ecash_shared::{Amount, Currency};

/// Where the bank keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (WAL mode); the key file lives next to it.
    File(PathBuf),
    /// A private in-memory SQLite database (tests). Keys are kept in
    /// [`Config::key_file`] if set, else only in memory.
    Memory,
}

/// Configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory with the built wallet (`index.html`, wasm, js); `None` serves a
    /// placeholder page explaining how to build it.
    pub static_dir: Option<PathBuf>,
    /// The database.
    pub database: Database,
    /// The private key file; `None` means next to the database file
    /// (`bank.sqlite` → `bank.keys.json`).
    pub key_file: Option<PathBuf>,
    /// The bank's currency.
    pub currency: Currency,
    /// Largest denomination; keysets are made for 1, 2, 4, … up to it.
    pub max_denomination: Amount,
    /// How long new keysets sign coins (seconds).
    pub withdraw_period_secs: i64,
    /// How long after the withdraw window coins stay spendable (seconds).
    pub deposit_grace_secs: i64,
    /// Bearer token of the operator endpoints (`/v1/admin/*`); `None` disables them.
    pub admin_token: Option<String>,
    /// Lifetime of a login token (seconds).
    pub session_ttl_secs: i64,
    /// Reader connections to a SQLite file (there is always one writer).
    pub db_readers: usize,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// Which implementation makes blind signatures.
    pub signer: crate::bank::signer::SignerBackend,
    /// Serve the demo shop (`/shop`, `POST /shop/api/orders`) and keep its
    /// merchant account "Demo Shop" (created at start if missing).
    pub demo_shop: bool,
    /// Shift of the merchant endpoints' clock (order creation, expiry,
    /// receipts). Zero in production; tests move it forward to expire orders
    /// without sleeping.
    pub clock_offset: ClockOffset,
}

/// Seconds added to the merchant endpoints' clock, shared by every clone of a
/// [`Config`] (tests hold one and move time forward).
#[derive(Debug, Clone, Default)]
pub struct ClockOffset(Arc<AtomicI64>);

impl ClockOffset {
    /// The current shift in seconds.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves the clock forward by `secs` (backward if negative).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::Relaxed);
    }
}

/// One year in seconds.
const YEAR: i64 = 365 * 24 * 3600;

impl Default for Config {
    fn default() -> Self {
        Config {
            static_dir: Some(PathBuf::from("dist")),
            database: Database::File(PathBuf::from("demo-data/bank.sqlite")),
            key_file: None,
            currency: Currency::EUR,
            // 2^13 cents = 81.92 EUR: 14 keysets, any amount up to a few hundred
            // euros in a handful of coins.
            max_denomination: Amount::from_minor(1 << 13),
            withdraw_period_secs: YEAR,
            deposit_grace_secs: YEAR,
            admin_token: None,
            session_ttl_secs: 24 * 3600,
            db_readers: 4,
            workers: None,
            signer: crate::bank::signer::SignerBackend::default(),
            demo_shop: false,
            clock_offset: ClockOffset::default(),
        }
    }
}

impl Config {
    /// The key file in use: explicit, or derived from the database path.
    pub fn key_file_path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.key_file {
            return Some(p.clone());
        }
        match &self.database {
            Database::File(db) => Some(key_file_next_to(db)),
            Database::Memory => None,
        }
    }
}

/// `dir/bank.sqlite` → `dir/bank.keys.json`.
pub fn key_file_next_to(db: &Path) -> PathBuf {
    db.with_extension("keys.json")
}
