//! Accounts, login sessions, the ledger: wire in and out, history.

use ecash_shared::api::LedgerEntry;
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency};

use super::*;

/// A new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Validated username.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Merchant role.
    pub merchant: bool,
    /// Currency of the balance.
    pub currency: Currency,
    /// Creation time.
    pub created_at: Timestamp,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Row id.
    pub id: AccountId,
    /// Username.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Merchant role.
    pub merchant: bool,
    /// Currency.
    pub currency: Currency,
    /// Balance.
    pub balance: Amount,
    /// What the account owes the bank (shortfalls of its own over-spending cards that
    /// its balance could not cover); paid first out of every credit.
    pub debt: Amount,
}

/// Accounts, sessions, wire in and out, history. One transaction per method (see the module docs of [`crate::storage`]).
pub trait AccountStore {
    /// Opens an account with balance zero.
    fn create_account(&self, account: &NewAccount) -> Result<AccountId, StorageError>;
    /// Finds an account by name.
    fn account_by_username(&self, username: &str) -> Result<Option<AccountRecord>, StorageError>;
    /// Finds an account by id.
    fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRecord>, StorageError>;

    /// Stores a login token (by its hash) valid until `expires_at`; drops
    /// expired tokens of every account on the way.
    fn create_session(
        &self,
        token_hash: &[u8; 32],
        account_id: AccountId,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StorageError>;
    /// The account of an unexpired token.
    fn session_account(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<AccountRecord>, StorageError>;

    /// Wire in: credits an account (ledger kind `credit`).
    fn credit(
        &self,
        username: &str,
        amount: Amount,
        memo: &str,
        now: Timestamp,
    ) -> Result<Amount, StorageError>;
    /// Wire out: debits an account (ledger kind `payout`).
    fn payout(
        &self,
        account_id: AccountId,
        amount: Amount,
        memo: &str,
        now: Timestamp,
    ) -> Result<Amount, StorageError>;
    /// Ledger entries of an account, newest first, ids below `before`.
    fn history(
        &self,
        account_id: AccountId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<LedgerEntry>, StorageError>;
}
