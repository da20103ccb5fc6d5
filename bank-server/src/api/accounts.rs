//! Accounts: open (`POST /v1/accounts`), log in (`POST /v1/login`), read the
//! balance (`GET /v1/accounts/me`) and the ledger (`GET /v1/accounts/me/history`).
//!
//! Passwords are hashed with Argon2id (default parameters) on a dedicated
//! per-core thread pool ([`crate::bank::password`]).

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{
    AccountCreated, AccountInfo, Credentials, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT,
    HistoryQuery, HistoryResponse, LoginResponse,
};
use ecash_shared::encoding::b64_encode;
use zeroize::Zeroizing;

use crate::Bank;
use crate::api::auth::{Authenticated, token_hash};
use crate::api::error::{ApiError, BlockingFailed, blocking};
use crate::bank::pool::CpuPool;
use crate::storage::{NewAccount, StorageError};

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

impl ApiError for AccountError {
    fn code(&self) -> ErrorCode {
        match self {
            AccountError::InvalidUsername => ErrorCode::InvalidUsername,
            AccountError::WeakPassword => ErrorCode::WeakPassword,
            AccountError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AccountError::BadLimit => ErrorCode::BadRequest,
            AccountError::Hashing | AccountError::Rng | AccountError::Blocking(_) => {
                ErrorCode::Internal
            }
            AccountError::Storage(e) => e.code(),
        }
    }
}
crate::api_error!(AccountError);

/// Registers the account routes (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts", web::post().to(create))
        .route("/login", web::post().to(login))
        .route("/accounts/me", web::get().to(me))
        .route("/accounts/me/history", web::get().to(history));
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

async fn create(
    bank: web::Data<Bank>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AccountError> {
    let creds = body.into_inner();
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
    Ok(HttpResponse::Created().json(AccountCreated { username }))
}

async fn login(
    bank: web::Data<Bank>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, AccountError> {
    let creds = body.into_inner();
    if creds.username.len() > 64 || creds.password.len() > 256 {
        return Err(AccountError::InvalidCredentials);
    }
    let _permit = hashing_permits()
        .acquire()
        .await
        .map_err(|_| AccountError::Hashing)?;
    let response = password_pool()?
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
        .await??;
    Ok(HttpResponse::Ok().json(response))
}

async fn me(auth: Authenticated) -> HttpResponse {
    let a = auth.0;
    HttpResponse::Ok().json(AccountInfo {
        username: a.username,
        balance: a.balance,
        currency: a.currency,
        merchant: a.merchant,
        debt: a.debt,
    })
}

async fn history(
    bank: web::Data<Bank>,
    auth: Authenticated,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, AccountError> {
    let limit = query.limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
        return Err(AccountError::BadLimit);
    }
    let before = query.before;
    let account_id = auth.0.id;
    // One more than asked tells whether another page follows.
    let mut entries = blocking(move || {
        bank.storage
            .history(account_id, limit.saturating_add(1), before)
            .map_err(AccountError::from)
    })
    .await?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_before = if entries.len() > page {
        entries.truncate(page);
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(HistoryResponse {
        entries,
        next_before,
    }))
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
