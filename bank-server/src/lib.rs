#![doc = include_str!("../README.md")]
//! `bank-server`: the bank (issuer) of the e-cash system — accounts, blind-signed
//! coins, the spent set, wire in and out, and the audit that proves the books.
//!
//! A library with a thin `main.rs`, so tests start a real server on port 0.
//!
//! - [`config`] — server configuration and its safe defaults.
//! - [`error`] — `{code, detail}` answers, extractor errors, JSON 404s, `blocking`.
//! - [`storage`] — the `Storage` trait and its SQLite implementation.
//! - [`keys`] — denomination keysets and the receipt key: key file, rotation, `GET /v1/keys`.
//! - [`auth`] — bearer tokens of accounts and of the operator.
//! - [`accounts`] — open an account, log in, balance, history.
//! - [`admin`] — wire in (`POST /v1/admin/credit`).
//! - [`payout`] — wire out (`POST /v1/accounts/me/payout`), IBAN check.
//! - [`withdraw`] — account debit → blind signatures; signing of blinded outputs.
//! - [`password`] — Argon2id password hashes with reused per-thread memory.
//! - [`pool`] — dedicated worker threads for CPU-heavy work (password hashing).
//! - [`signer`] — blind-signing backends: OpenSSL (default) or the `rsa` crate.
//! - [`spend`] — the one path that verifies and spends coins.
//! - [`deposit`] — coins → the caller's account.
//! - [`swap`] — coins → fresh blinded coins of equal value.
//! - [`coin_state`] — spent or unspent, per coin.
//! - [`merchant`] — merchant accounts, order ids, contracts, receipts, order notifications.
//! - [`orders`] — create and list orders; contract, status (long poll) and QR code.
//! - [`pay`] — coins → a paid order and a bank-signed receipt.
//! - [`refund`] — a merchant's refund, and the payer's anonymous claim as fresh coins.
//! - [`embed`] — `/embed/checkout.js`, the shop-side checkout script.
//! - [`shop`] — the demo shop at `/shop`.
//! - [`cards`] — electronic purse cards: issuer key, certify, load, unload.
//! - [`audit`] — conservation of money and validity of every spent coin.
//! - [`health`] — `GET /v1/health`.
//! - [`web`] — static files: the cyberwallet built by Trunk, served at `/`.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod cards;
pub mod coin_state;
pub mod config;
pub mod deposit;
pub mod embed;
pub mod error;
pub mod health;
pub mod keys;
pub mod merchant;
pub mod orders;
pub mod password;
pub mod pay;
pub mod payout;
pub mod pool;
pub mod refund;
pub mod shop;
pub mod signer;
pub mod spend;
pub mod storage;
pub mod swap;
pub mod web;
pub mod withdraw;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web as aweb};
use anyhow::Context;
use ecash_shared::encoding::Timestamp;

pub use config::{Config, Database};

use crate::keys::Keys;
use crate::storage::{SqliteStorage, Storage};

/// The current time, whole seconds.
pub fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Timestamp::from_unix(secs)
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct Bank {
    /// Persistent state.
    pub storage: Arc<dyn Storage>,
    /// Keys, loaded once at start.
    pub keys: Arc<Keys>,
    /// Configuration.
    pub config: Arc<Config>,
    /// SHA-256 of the operator token, if the operator endpoints are enabled.
    pub admin_token_hash: Option<[u8; 32]>,
    /// Wakes long-polled order status requests.
    pub order_events: Arc<merchant::OrderEvents>,
}

impl std::fmt::Debug for Bank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bank")
            .field("keys", &self.keys)
            .field("admin", &self.admin_token_hash.is_some())
            .finish_non_exhaustive()
    }
}

/// Opens the configured storage (creating the database's directory).
pub fn open_storage(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(match &config.database {
        Database::File(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            Arc::new(
                SqliteStorage::open(path, config.db_readers.max(1))
                    .with_context(|| format!("opening database {}", path.display()))?,
            )
        }
        Database::Memory => Arc::new(SqliteStorage::open_in_memory().context("opening database")?),
    })
}

impl Bank {
    /// Opens storage and loads (on first start: generates) the keys. Blocking:
    /// key generation takes seconds.
    pub fn open(config: Config) -> anyhow::Result<Bank> {
        let storage = open_storage(&config)?;
        Bank::with_storage(config, storage)
    }

    /// Like [`Bank::open`] with a given storage backend.
    pub fn with_storage(config: Config, storage: Arc<dyn Storage>) -> anyhow::Result<Bank> {
        let keys = keys::load_or_create(&config, &*storage, now())?;
        let admin_token_hash = config.admin_token.as_deref().map(auth::token_hash);
        if config.demo_shop {
            merchant::ensure_demo_shop(&*storage, &config)?;
        }
        Ok(Bank {
            storage,
            keys: Arc::new(keys),
            config: Arc::new(config),
            admin_token_hash,
            order_events: Arc::default(),
        })
    }
}

/// CORS for the API: a wallet page served from another origin (or a bank
/// chosen in the wallet's "bank URL" field) may call it. Any origin is safe
/// here because authentication is a bearer token the page must hold, never a
/// cookie, so credentials are not allowed and no request rides on ambient
/// authority.
fn api_cors() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allow_any_origin()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
        ])
        .max_age(3600)
}

/// Registers every route of the server: the API under `/v1` (unknown routes
/// there answer a JSON 404), the checkout embed, the demo shop (if enabled)
/// and the wallet's static files at `/`.
pub fn configure(bank: Bank) -> impl FnOnce(&mut aweb::ServiceConfig) + Clone + use<> {
    move |cfg: &mut aweb::ServiceConfig| {
        let static_dir = bank.config.static_dir.clone();
        let demo_shop = bank.config.demo_shop;
        cfg.app_data(aweb::Data::new(bank))
            .app_data(
                aweb::JsonConfig::default()
                    .limit(error::MAX_BODY_BYTES)
                    .error_handler(error::json_error),
            )
            .app_data(aweb::QueryConfig::default().error_handler(error::query_error))
            .app_data(aweb::PathConfig::default().error_handler(error::path_error))
            .service(
                aweb::scope("/v1")
                    .wrap(api_cors())
                    // The hottest dynamic route first: actix tries patterns in
                    // order, and each miss is a regex run (~4 % of a payment).
                    .configure(pay::configure)
                    .configure(health::configure)
                    .configure(keys::configure)
                    .configure(accounts::configure)
                    .configure(payout::configure)
                    .configure(admin::configure)
                    .configure(withdraw::configure)
                    .configure(deposit::configure)
                    .configure(swap::configure)
                    .configure(coin_state::configure)
                    .configure(orders::configure)
                    .configure(refund::configure)
                    .configure(cards::configure)
                    .default_service(aweb::to(error::not_found)),
            );
        cfg.configure(embed::configure)
            .configure(shop::configure(demo_shop));
        cfg.configure(web::configure(static_dir));
    }
}

/// Starts serving `bank` on `listener`; the returned server runs when awaited
/// (or spawned) and can be stopped through its handle.
pub fn serve(listener: TcpListener, bank: Bank) -> std::io::Result<Server> {
    let workers = bank.config.workers;
    let routes = configure(bank);
    let mut server = HttpServer::new(move || App::new().configure(routes.clone()));
    if let Some(n) = workers {
        server = server.workers(n.max(1));
    }
    Ok(server.listen(listener)?.run())
}

/// Opens the bank described by `config` and serves on `listener` until the
/// process is stopped.
pub async fn run(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let bank = actix_web::rt::task::spawn_blocking(move || Bank::open(config))
        .await
        .context("opening the bank")??;
    serve(listener, bank)?.await?;
    Ok(())
}
