//! Storage: named stores of JSON records, written in atomic batches.
//!
//! Every state change of the wallet is one [`Storage::commit`]: either all of its
//! writes happen or none (IndexedDB transactions in the browser). That is what
//! makes the intent log work: a pending operation and the coins it reserves are
//! written together, and its completion replaces both in one step.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The stores the wallet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Store {
    /// Coins the wallet holds, keyed by coin public key.
    Coins,
    /// Pending operations (the intent log), keyed by operation id.
    Ops,
    /// History entries, keyed by a zero-padded sequence number.
    History,
    /// Tokens sent to other people, keyed by operation id.
    Sent,
    /// Settings and caches (bank keys), keyed by name.
    Meta,
}

impl Store {
    /// Every store.
    pub const ALL: [Store; 5] = [
        Store::Coins,
        Store::Ops,
        Store::History,
        Store::Sent,
        Store::Meta,
    ];

    /// The store's name (the IndexedDB object store).
    pub fn name(self) -> &'static str {
        match self {
            Store::Coins => "coins",
            Store::Ops => "ops",
            Store::History => "history",
            Store::Sent => "sent",
            Store::Meta => "meta",
        }
    }
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Insert or replace a record.
    Put(Store, String, String),
    /// Remove a record (no error if absent).
    Delete(Store, String),
}

/// Storage failed (quota, a closed database, a broken record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage error: {0}")]
pub struct StorageError(pub String);

/// A store of JSON records with atomic batches.
///
/// Futures are not `Send`: the browser is single-threaded, and natively the
/// wallet runs on one task.
#[allow(async_fn_in_trait)]
pub trait Storage {
    /// One record.
    async fn get(&self, store: Store, key: &str) -> Result<Option<String>, StorageError>;
    /// Every record of a store, ordered by key.
    async fn list(&self, store: Store) -> Result<Vec<(String, String)>, StorageError>;
    /// Applies all writes atomically.
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StorageError>;
}

/// In-memory storage. Clones share the same data, so a test can "restart" a
/// wallet on the storage an interrupted one left behind.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    data: Rc<RefCell<BTreeMap<Store, BTreeMap<String, String>>>>,
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Storage for MemoryStorage {
    async fn get(&self, store: Store, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .data
            .borrow()
            .get(&store)
            .and_then(|s| s.get(key).cloned()))
    }

    async fn list(&self, store: Store) -> Result<Vec<(String, String)>, StorageError> {
        Ok(self
            .data
            .borrow()
            .get(&store)
            .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StorageError> {
        let mut data = self.data.borrow_mut();
        for w in writes {
            match w {
                Write::Put(store, k, v) => {
                    data.entry(store).or_default().insert(k, v);
                }
                Write::Delete(store, k) => {
                    if let Some(s) = data.get_mut(&store) {
                        s.remove(&k);
                    }
                }
            }
        }
        Ok(())
    }
}
