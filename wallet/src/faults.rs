//! Fault injection for crash tests: wrappers around any [`Storage`] and
//! [`Transport`] that "kill" the wallet at its N-th await point.
//!
//! From the tripping call on, every call fails, as if the tab had closed: a test
//! then builds a fresh wallet on the inner storage and calls `resume`. A
//! transport trip either drops the request before it is sent or sends it and
//! loses the answer (the bank acted, the wallet never heard).

use std::cell::Cell;
use std::rc::Rc;

use crate::storage::{Storage, StorageError, Store, Write};
use crate::transport::{HttpResponse, Method, Transport, TransportError};

/// Where the crash happens, shared by the wrappers of one wallet.
#[derive(Debug, Default)]
pub struct FaultPlan {
    countdown: Cell<u64>,
    tripped: Cell<bool>,
    lose_response: bool,
    steps: Cell<u64>,
}

impl FaultPlan {
    /// Crash at the `n`-th await point (1-based); `lose_response` decides what a
    /// crash during an HTTP request does. `n = 0` never crashes (counts steps).
    pub fn new(n: u64, lose_response: bool) -> Rc<Self> {
        Rc::new(FaultPlan {
            countdown: Cell::new(n),
            tripped: Cell::new(false),
            lose_response,
            steps: Cell::new(0),
        })
    }

    /// Whether the crash happened.
    pub fn tripped(&self) -> bool {
        self.tripped.get()
    }

    /// Await points passed so far.
    pub fn steps(&self) -> u64 {
        self.steps.get()
    }

    /// Counts one await point; `true` when this one crashes.
    fn step(&self) -> bool {
        if self.tripped.get() {
            return true;
        }
        self.steps.set(self.steps.get() + 1);
        match self.countdown.get() {
            0 => false,
            1 => {
                self.tripped.set(true);
                true
            }
            n => {
                self.countdown.set(n - 1);
                false
            }
        }
    }
}

/// A storage that fails from the planned step on.
#[derive(Debug, Clone)]
pub struct FaultyStorage<S> {
    /// The real storage underneath.
    pub inner: S,
    plan: Rc<FaultPlan>,
}

impl<S> FaultyStorage<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, plan: Rc<FaultPlan>) -> Self {
        FaultyStorage { inner, plan }
    }
}

fn crashed() -> StorageError {
    StorageError("injected crash".into())
}

impl<S: Storage> Storage for FaultyStorage<S> {
    async fn get(&self, store: Store, key: &str) -> Result<Option<String>, StorageError> {
        if self.plan.step() {
            return Err(crashed());
        }
        self.inner.get(store, key).await
    }

    async fn list(&self, store: Store) -> Result<Vec<(String, String)>, StorageError> {
        if self.plan.step() {
            return Err(crashed());
        }
        self.inner.list(store).await
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StorageError> {
        if self.plan.step() {
            return Err(crashed());
        }
        self.inner.commit(writes).await
    }
}

/// A transport that fails from the planned step on.
#[derive(Debug, Clone)]
pub struct FaultyTransport<T> {
    /// The real transport underneath.
    pub inner: T,
    plan: Rc<FaultPlan>,
}

impl<T> FaultyTransport<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, plan: Rc<FaultPlan>) -> Self {
        FaultyTransport { inner, plan }
    }
}

impl<T: Transport> Transport for FaultyTransport<T> {
    async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, TransportError> {
        let was_tripped = self.plan.tripped();
        if self.plan.step() {
            if !was_tripped && self.plan.lose_response {
                // The bank gets the request; the answer is lost.
                let _ = self.inner.send(method, path, bearer, body).await;
            }
            return Err(TransportError("injected crash".into()));
        }
        self.inner.send(method, path, bearer, body).await
    }

    fn now_unix(&self) -> i64 {
        self.inner.now_unix()
    }

    async fn yield_now(&self) {
        self.inner.yield_now().await;
    }

    fn bank_url(&self) -> String {
        self.inner.bank_url()
    }
}
