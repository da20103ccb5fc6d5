//! Accounts: open (`POST /v1/accounts`), log in (`POST /v1/login`), read the
//! balance (`GET /v1/accounts/me`) and the ledger (`GET /v1/accounts/me/history`).
//!
//! Passwords are hashed with Argon2id (default parameters) on a dedicated
//! per-core thread pool ([`crate::bank::password`]).

//!
//! Sessions are random 32-byte bearer tokens; the bank stores only their
//! SHA-256 ([`token_hash`]). The operator's wire-in ([`credit`]) is here too:
//! the API's `POST /v1/admin/credit` and `bank-server admin credit` call it.

use std::sync::OnceLock;

use ecash_shared::Amount;
use ecash_shared::api::{Credentials, HISTORY_MAX_LIMIT, LedgerEntry, LoginResponse};
use ecash_shared::encoding::{Timestamp, b64_encode};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::Bank;
use super::pool::{BlockingFailed, CpuPool};
use crate::storage::{AccountRecord, MAX_STORED_AMOUNT, NewAccount, Storage, StorageError};

/// Errors of the account endpoints.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Username fails the rules.
    #[error("usernames are 3 to 32 characters: a-z, 0-9, '.', '_' or '-'")]
    InvalidUsername,
    /// Password too short or too long.
    #[error("passwords are 8 to 256 bytes long")]
    WeakPassword,
    /// Wrong username or password.
    #[error("wrong username or password")]
    InvalidCredentials,
    /// Bad `limit`.
    #[error("limit must be between 1 and {HISTORY_MAX_LIMIT}")]
    BadLimit,
    /// Password hashing failed.
    #[error("password hashing failed")]
    Hashing,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// Storage.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

/// Usernames: 3–32 of `a-z 0-9 . _ -`.
pub fn valid_username(u: &str) -> bool {
    (3..=32).contains(&u.len())
        && u.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// Passwords: 8–256 bytes.
pub fn valid_password(p: &str) -> bool {
    (8..=256).contains(&p.len())
}

/// An Argon2id PHC string of `password` (default parameters, fresh salt).
pub(crate) fn hash_password(password: &[u8]) -> Result<String, AccountError> {
    crate::bank::password::hash(password).map_err(|_| AccountError::Hashing)
}

fn verify_password(password: &[u8], hash: &str) -> bool {
    crate::bank::password::verify(password, hash)
}

/// Argon2id with the default parameters takes 19 MiB and tens of
/// milliseconds per hash: bound how many wait at once, so a burst of logins
/// cannot queue without limit.
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(4 * crate::bank::pool::cores()))
}

/// The threads that hash passwords (one per core): hashing runs there, not
/// on the blocking pool, so at most this many 19 MiB Argon2 arenas exist.
fn password_pool() -> Result<&'static CpuPool, AccountError> {
    static POOL: OnceLock<Option<CpuPool>> = OnceLock::new();
    POOL.get_or_init(|| CpuPool::new("argon2", crate::bank::pool::cores()).ok())
        .as_ref()
        .ok_or(AccountError::Hashing)
}

/// A hash to verify against when the user does not exist, so that a login
/// for an unknown name costs as much as one with a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(b"not a real password").unwrap_or_default())
}

/// SHA-256 of a token, the form it is stored and compared in.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Bank {
    /// Opens an account. Hashing runs on the password pool, at most
    /// [`hashing_permits`] waiting at once.
    pub async fn open_account(&self, creds: Credentials) -> Result<String, AccountError> {
        if !valid_username(&creds.username) {
            return Err(AccountError::InvalidUsername);
        }
        if !valid_password(&creds.password) {
            return Err(AccountError::WeakPassword);
        }
        let username = creds.username.clone();
        let _permit = hashing_permits()
            .acquire()
            .await
            .map_err(|_| AccountError::Hashing)?;
        let bank = self.clone();
        password_pool()?
            .run(move || {
                let password = Zeroizing::new(creds.password.clone());
                let password_hash = hash_password(password.as_bytes())?;
                bank.storage.create_account(&NewAccount {
                    username: creds.username.clone(),
                    password_hash,
                    merchant: creds.merchant,
                    currency: bank.keys.currency(),
                    created_at: crate::now(),
                })?;
                Ok::<_, AccountError>(())
            })
            .await??;
        tracing::info!(%username, "account opened");
        Ok(username)
    }

    /// Checks the password and opens a session. An unknown name costs as
    /// much as a wrong password.
    pub async fn login(&self, creds: Credentials) -> Result<LoginResponse, AccountError> {
        if creds.username.len() > 64 || creds.password.len() > 256 {
            return Err(AccountError::InvalidCredentials);
        }
        let _permit = hashing_permits()
            .acquire()
            .await
            .map_err(|_| AccountError::Hashing)?;
        let bank = self.clone();
        password_pool()?
            .run(move || {
                let password = Zeroizing::new(creds.password.clone());
                let account = bank.storage.account_by_username(&creds.username)?;
                let hash = account
                    .as_ref()
                    .map_or(dummy_hash(), |a| a.password_hash.as_str());
                let ok = verify_password(password.as_bytes(), hash);
                let account = match account {
                    Some(a) if ok => a,
                    _ => return Err(AccountError::InvalidCredentials),
                };
                let mut raw = Zeroizing::new([0u8; 32]);
                getrandom::fill(raw.as_mut()).map_err(|_| AccountError::Rng)?;
                let token = b64_encode(raw.as_ref());
                let now = crate::now();
                let expires_at = now.plus_secs(bank.config.session_ttl_secs);
                bank.storage
                    .create_session(&token_hash(&token), account.id, expires_at, now)?;
                Ok(LoginResponse { token, expires_at })
            })
            .await?
    }

    /// The operator's wire-in: see [`credit`].
    pub fn credit(
        &self,
        username: &str,
        amount: Amount,
        now: Timestamp,
    ) -> Result<Amount, AdminError> {
        credit(&*self.storage, username, amount, now)
    }

    /// The account of an unexpired session, by the hash of its token.
    pub fn session_account(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<AccountRecord>, StorageError> {
        self.storage.session_account(token_hash, now)
    }

    /// A page of `account`'s ledger, newest first: at most `limit` entries
    /// older than `before`, and the `before` of the next page if one follows.
    pub fn history(
        &self,
        account: &AccountRecord,
        limit: u32,
        before: Option<i64>,
    ) -> Result<(Vec<LedgerEntry>, Option<i64>), AccountError> {
        if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
            return Err(AccountError::BadLimit);
        }
        // One more than asked tells whether another page follows.
        let mut entries = self
            .storage
            .history(account.id, limit.saturating_add(1), before)?;
        let page = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_before = if entries.len() > page {
            entries.truncate(page);
            entries.last().map(|e| e.id)
        } else {
            None
        };
        Ok((entries, next_before))
    }
}

/// Errors of the operator endpoints.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Zero or too large.
    #[error("the amount must be between 1 and {} minor units", MAX_STORED_AMOUNT.minor())]
    InvalidAmount,
    /// No such account.
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    /// Storage.
    #[error(transparent)]
    Storage(StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

/// Wire in: credits `username` with `amount` (a `credit` ledger entry).
pub fn credit(
    storage: &dyn Storage,
    username: &str,
    amount: Amount,
    now: Timestamp,
) -> Result<Amount, AdminError> {
    if amount.is_zero() || amount > MAX_STORED_AMOUNT {
        return Err(AdminError::InvalidAmount);
    }
    storage
        .credit(username, amount, "wire in", now)
        .map_err(|e| match e {
            StorageError::UnknownAccount => AdminError::UnknownAccount(username.to_owned()),
            other => AdminError::Storage(other),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "alice", "bob.smith", "a_b-c.9", &"x".repeat(32)] {
            assert!(valid_username(ok), "{ok}");
        }
        for bad in ["ab", "Alice", "al ice", "ålice", "", &"x".repeat(33), "a/b"] {
            assert!(!valid_username(bad), "{bad}");
        }
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password(b"correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(b"correct horse", &h));
        assert!(!verify_password(b"wrong horse", &h));
        assert!(!verify_password(b"x", "not a hash"));
    }
}
