#![doc = include_str!("../README.md")]
//! `bank-server`: the bank (issuer) of the e-cash system — accounts, blind-signed
//! coins, the spent set, wire in and out, and the audit that proves the books.
//!
//! A library with a thin `main.rs`, so tests start a real server on port 0.
//!
//! In layers that point down (the target of issue 14; `api` does not yet keep its
//! hands off storage everywhere, see `docs/architecture.md`):
//!
//! - [`api`] — HTTP: routes and extractors, `{code, detail}` answers and the wire
//!   code of every error ([`api::error`]), bearer tokens ([`api::auth`]), one module
//!   per protocol step (`accounts`, `admin`, `payout`, `withdraw`, `deposit`, `swap`,
//!   `coin_state`, `orders`, `pay`, `refund`, `cards`, `keys`), the checkout script
//!   (`embed`), the demo shop (`shop`), the wallet's static files (`web`), `health`.
//! - [`bank`] — the domain, no HTTP: [`Bank`], keysets and the receipt and issuer
//!   keys ([`bank::keys`]), blind signers ([`bank::signer`]), the one verify-and-spend
//!   path ([`bank::spend`]), merchants' contracts and receipts ([`bank::merchant`]),
//!   the card issuer's rules ([`bank::cards`]), passwords and their CPU pool, the
//!   audit ([`bank::audit`]).
//! - [`storage`] — per-concern storage traits under one `Storage`, and SQLite.
//! - [`config`] — server configuration and its safe defaults.
//!
//! The modules are also re-exported at their former paths (`bank_server::keys`, …)
//! for the binary, the benchmarks and the tests.

pub mod api;
pub mod bank;
pub mod config;
pub mod storage;

// The modules at their former paths, for the binaries and tests outside the crate.
pub use api::{
    accounts, admin, auth, cards, coin_state, deposit, embed, error, health, orders, pay, payout,
    refund, shop, swap, web, withdraw,
};
pub use bank::{audit, keys, merchant, password, pool, signer, spend};

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web as aweb};
use anyhow::Context;
use ecash_shared::encoding::Timestamp;

pub use bank::Bank;
pub use config::{Config, Database};

use crate::storage::{SqliteStorage, Storage};

/// The current time, whole seconds.
pub fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Timestamp::from_unix(secs)
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
                    .configure(api::keys::configure)
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
