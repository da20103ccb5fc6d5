//! The domain: the bank's keys and signer, the one verify-and-spend path, merchants'
//! contracts and receipts, passwords, the CPU pool for them, and the audit. No HTTP
//! types here: the API ([`crate::api`]) and the command line both call it.

pub mod accounts;
pub mod audit;
pub mod cards;
pub mod deposit;
pub mod keys;
pub mod merchant;
pub mod orders;
pub mod password;
pub mod pay;
pub mod payout;
pub mod pool;
pub mod refund;
pub mod signer;
pub mod spend;
pub mod swap;
pub mod withdraw;

use std::sync::Arc;

use crate::config::Config;
use crate::storage::Storage;
use keys::Keys;

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
