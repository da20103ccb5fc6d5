//! A real bank-server in this process, on a loopback port, with a SQLite file
//! in a temporary directory and a small denomination set (1..64: 7 keysets).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use bank_server::audit::AuditReport;
use bank_server::keys::{KeyFile, KeyPair, generate_keysets};
use bank_server::{Bank, Config, Database};
use ecash_shared::blind_rsa::{self, SecretKey};
use ecash_shared::coin::PlanchetSecrets;
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency, Keyset, KeysetId};
use tempfile::TempDir;

use crate::client::{Client, OwnedCoin, Wallet, now, random_request_id};

/// Largest denomination of test banks.
pub const TEST_MAX_DENOMINATION: u64 = 64;

/// Options of a test bank.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also create two keysets of value 1 whose windows have ended: one that
    /// no longer signs (deposit still fine), one fully expired.
    pub expired_keysets: bool,
    /// Login token lifetime override.
    pub session_ttl_secs: Option<i64>,
    /// Serve the demo shop (and keep its merchant account).
    pub demo_shop: bool,
}

/// Ids of the extra keysets of [`Options::expired_keysets`].
#[derive(Debug, Clone, Copy)]
pub struct ExpiredKeysets {
    /// `withdraw_until` in the past, `deposit_until` in the future.
    pub withdraw_closed: KeysetId,
    /// Both windows in the past.
    pub expired: KeysetId,
}

/// A running test bank. Dropping it stops the server.
pub struct TestBank {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The operator token.
    pub admin_token: String,
    /// The bank's state (storage, keys), shared with the server.
    pub bank: Bank,
    /// Database and key file directory.
    pub dir: Arc<TempDir>,
    /// The extra expired keysets, if asked for.
    pub expired: Option<ExpiredKeysets>,
    handle: ServerHandle,
}

impl Drop for TestBank {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits.
        drop(self.handle.stop(false));
    }
}

/// The configuration of a test bank with its database in `dir`.
pub fn test_config(dir: &std::path::Path, admin_token: &str) -> Config {
    Config {
        static_dir: None,
        database: Database::File(dir.join("bank.sqlite")),
        key_file: None,
        currency: Currency::EUR,
        max_denomination: Amount::from_minor(TEST_MAX_DENOMINATION),
        admin_token: Some(admin_token.to_owned()),
        db_readers: 2,
        workers: Some(2),
        ..Config::default()
    }
}

impl TestBank {
    /// A bank with default options.
    pub async fn start() -> TestBank {
        Self::start_with(Options::default()).await
    }

    /// A bank with options.
    pub async fn start_with(opts: Options) -> TestBank {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let admin_token = random_request_id();
        let mut config = test_config(dir.path(), &admin_token);
        if let Some(ttl) = opts.session_ttl_secs {
            config.session_ttl_secs = ttl;
        }
        config.demo_shop = opts.demo_shop;
        let expired = if opts.expired_keysets {
            Some(write_key_file_with_expired(&config))
        } else {
            None
        };
        Self::start_in(dir, config, admin_token, expired).await
    }

    /// Starts (or restarts) a bank on an existing directory and config.
    pub async fn start_in(
        dir: Arc<TempDir>,
        config: Config,
        admin_token: String,
        expired: Option<ExpiredKeysets>,
    ) -> TestBank {
        let bank = tokio::task::spawn_blocking(move || Bank::open(config))
            .await
            .unwrap()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = bank_server::serve(listener, bank.clone()).unwrap();
        let handle = server.handle();
        tokio::spawn(server);
        TestBank {
            url,
            admin_token,
            bank,
            dir,
            expired,
            handle,
        }
    }

    /// Stops this server and starts a new one on the same database and keys.
    pub async fn restart(self) -> TestBank {
        let dir = Arc::clone(&self.dir);
        let config = (*self.bank.config).clone();
        let admin_token = self.admin_token.clone();
        let expired = self.expired;
        self.handle.stop(true).await;
        drop(self);
        Self::start_in(dir, config, admin_token, expired).await
    }

    /// An unauthenticated client of this bank.
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// Runs the audit on the live database.
    pub fn audit(&self) -> AuditReport {
        bank_server::audit::audit(&*self.bank.storage).unwrap()
    }

    /// Asserts the audit is clean and returns it.
    pub fn assert_audit_clean(&self) -> AuditReport {
        let r = self.audit();
        assert!(r.is_clean(), "audit:\n{r}");
        r
    }

    /// Opens an account, logs in, and credits `amount` (if non-zero).
    pub async fn user(&self, name: &str, amount: u64) -> Wallet {
        let c = self.client();
        c.create_account(name, "password123").await.unwrap();
        self.logged_in(&c, name, amount).await
    }

    /// Opens a merchant account (merchant flag at creation), logs in, and
    /// credits `amount` (if non-zero).
    pub async fn merchant(&self, name: &str, amount: u64) -> Wallet {
        let c = self.client();
        c.create_merchant_account(name, "password123")
            .await
            .unwrap();
        self.logged_in(&c, name, amount).await
    }

    /// Logs in to the account just opened, and credits `amount` (if non-zero).
    async fn logged_in(&self, c: &Client, name: &str, amount: u64) -> Wallet {
        let c = c.login(name, "password123").await.unwrap();
        if amount > 0 {
            c.admin_credit(&self.admin_token, name, amount)
                .await
                .unwrap();
        }
        Wallet::new(c, name).await.unwrap()
    }

    /// Moves the merchant endpoints' clock forward (order expiry without sleeping).
    pub fn advance_clock(&self, secs: i64) {
        self.bank.config.clock_offset.advance(secs);
    }

    /// A keyset loaded by the bank (also those `/v1/keys` no longer lists).
    pub fn keyset(&self, id: &KeysetId) -> Keyset {
        self.bank.keys.get(id).unwrap().keyset.clone()
    }

    /// A coin of keyset `id`, signed directly with the bank's private key
    /// (for keysets that no longer sign through the API).
    pub fn mint(&self, id: &KeysetId) -> OwnedCoin {
        let k = self.bank.keys.get(id).unwrap();
        mint_with(&k.keyset, k.secret.as_ref().unwrap())
    }
}

/// Makes a coin with a keyset's private key, as the bank would sign it.
pub fn mint_with(keyset: &Keyset, secret: &SecretKey) -> OwnedCoin {
    let p = PlanchetSecrets::create(keyset).unwrap();
    let sig = blind_rsa::blind_sign(secret, p.blinded.blinded_msg.as_slice()).unwrap();
    let coin = p.finish(keyset, &sig).unwrap();
    OwnedCoin {
        coin,
        secret: p.secret,
        value: keyset.value,
    }
}

/// Writes a key file with the normal test set plus two expired value-1 keysets.
fn write_key_file_with_expired(config: &Config) -> ExpiredKeysets {
    let now = now();
    let later = now.plus_secs(365 * 24 * 3600);
    let values: Vec<Amount> = ecash_shared::denom::powers_of_two(config.max_denomination);
    let mut keysets: Vec<KeyPair> =
        generate_keysets(config.currency, &values, later, later.plus_secs(3600)).unwrap();
    let one = [Amount::from_minor(1)];
    let closed = generate_keysets(
        config.currency,
        &one,
        Timestamp::from_unix(now.unix() - 3600),
        later,
    )
    .unwrap()
    .remove(0);
    let expired = generate_keysets(
        config.currency,
        &one,
        Timestamp::from_unix(now.unix() - 7200),
        Timestamp::from_unix(now.unix() - 3600),
    )
    .unwrap()
    .remove(0);
    let ids = ExpiredKeysets {
        withdraw_closed: closed.record.id,
        expired: expired.record.id,
    };
    keysets.push(closed);
    keysets.push(expired);
    let file = KeyFile {
        receipt_key: bank_server::keys::generate_receipt_key().unwrap(),
        // As a key file written before cards: the bank adds its card issuer key on start.
        card_issuer_key: None,
        keysets,
    };
    file.save(&config.key_file_path().unwrap()).unwrap();
    ids
}
