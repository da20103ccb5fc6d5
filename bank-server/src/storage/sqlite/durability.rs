//! Group commit: no answer before everything it could have seen is on disk,
//! with one `fdatasync` of the WAL file for all the commits made meanwhile
//! (see the module docs of [`sqlite`](super)).
//!
//! A syncer thread per database file runs while commits are not yet synced:
//! it takes the number of the latest commit, syncs the WAL file (every commit
//! up to that number has finished writing to it) and publishes the number.
//! Commits made during an fsync are covered by the next one, so the number of
//! fsyncs per second stays at what the disk can do while the commits per
//! second grow with the load, and no transaction ever waits for the disk.
//!
//! Waiting: a storage call made inside [`defer`] (the server's `blocking`
//! helper wraps every handler's storage work in it) only notes what it owes
//! in a [`Debt`], which the async handler then [`settle`](Debt::settle)s
//! without holding a thread; any other caller (the CLI, tests) waits in place.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::lock;
use crate::storage::StorageError;

/// The disk could not confirm a write: nothing after it can be trusted.
#[derive(Debug, thiserror::Error)]
#[error("the database could not be synced to disk ({0}); restart the server")]
struct SyncFailed(String);

/// What the syncer has done: every batch up to `synced` is on disk, or an
/// fsync failed (sticky: the page cache is in an unknown state). Batches whose
/// COMMIT failed are listed: none of their jobs persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Synced {
    synced: u64,
    failed: Option<String>,
    lost_batches: std::collections::BTreeSet<u64>,
}

/// Batches whose commit failed that are remembered (failures are rare; a
/// waiter looks its batch up right after the failure is published).
const LOST_BATCHES_KEPT: usize = 1024;

impl Synced {
    fn covers(&self, horizon: u64) -> Option<Result<(), StorageError>> {
        if let Some(e) = &self.failed {
            return Some(Err(StorageError::backend(SyncFailed(e.clone()))));
        }
        if self.lost_batches.contains(&horizon) {
            return Some(Err(StorageError::backend(CommitFailed)));
        }
        (self.synced >= horizon).then_some(Ok(()))
    }
}

/// The transaction a job belonged to could not be committed.
#[derive(Debug, thiserror::Error)]
#[error("the transaction could not be committed")]
struct CommitFailed;

#[derive(Debug)]
struct Shared {
    /// Write transactions ("batches") begun, numbered from 1 (under the
    /// writer mutex).
    begun: AtomicU64,
    /// The latest batch committed (batches commit in order, under the writer
    /// mutex, right after COMMIT returned).
    committed: AtomicU64,
    /// Wakes the syncer (a commit) and stops it (`stop`).
    work: Mutex<bool>,
    work_cv: Condvar,
    /// Published progress, for threads ...
    done: Mutex<Synced>,
    done_cv: Condvar,
    /// ... and for async tasks.
    done_tx: tokio::sync::watch::Sender<Synced>,
    db: PathBuf,
    wal: PathBuf,
}

/// The durable horizon of one database file and its syncer thread.
#[derive(Debug)]
pub(super) struct Durability {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Durability {
    /// For the database at `db` (WAL at `db-wal`); starts the syncer.
    pub(super) fn start(db: &Path) -> std::io::Result<Self> {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let shared = Arc::new(Shared {
            begun: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            work: Mutex::new(false),
            work_cv: Condvar::new(),
            done: Mutex::new(Synced::default()),
            done_cv: Condvar::new(),
            done_tx: tokio::sync::watch::Sender::new(Synced::default()),
            db: db.to_owned(),
            wal: PathBuf::from(wal),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("db-sync".to_owned())
            .spawn(move || syncer(&s))?;
        Ok(Durability {
            shared,
            thread: Some(thread),
        })
    }

    /// Numbers a new batch (call under the writer mutex, at BEGIN).
    pub(super) fn begin(&self) -> u64 {
        self.shared.begun.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Records that `batch` committed (under the writer mutex, after COMMIT
    /// returned).
    pub(super) fn committed(&self, batch: u64) {
        self.shared.committed.store(batch, Ordering::SeqCst);
        // Taking the lock orders this wake-up after the syncer's check.
        drop(lock(&self.shared.work));
        self.shared.work_cv.notify_one();
    }

    /// Records that `batch` could not be committed: its jobs fail.
    pub(super) fn lost(&self, batch: u64) {
        let mut done = lock(&self.shared.done);
        done.lost_batches.insert(batch);
        if done.lost_batches.len() > LOST_BATCHES_KEPT {
            done.lost_batches.pop_first();
        }
        self.shared.publish(&done);
    }

    /// Every batch up to this one is on disk.
    #[cfg(test)]
    pub(super) fn synced(&self) -> u64 {
        lock(&self.shared.done).synced
    }

    /// The latest batch begun (inside a job: the job's own batch).
    #[cfg(test)]
    pub(super) fn begun(&self) -> u64 {
        self.shared.begun.load(Ordering::SeqCst)
    }

    /// The latest committed batch: everything a reader could have seen.
    pub(super) fn horizon(&self) -> u64 {
        self.shared.committed.load(Ordering::SeqCst)
    }

    /// Refuses new work after a failed fsync.
    pub(super) fn check(&self) -> Result<(), StorageError> {
        match &lock(&self.shared.done).failed {
            Some(e) => Err(StorageError::backend(SyncFailed(e.clone()))),
            None => Ok(()),
        }
    }

    /// Owes the caller every batch up to `horizon` being on disk: noted in
    /// the thread's deferred [`Debt`] if there is one, otherwise waited for here.
    pub(super) fn owe(&self, horizon: u64) -> Result<(), StorageError> {
        let deferred = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
            Some(debt) => {
                debt.add(&self.shared, horizon);
                true
            }
            None => false,
        });
        if deferred {
            return Ok(());
        }
        wait_blocking(&self.shared, horizon)
    }
}

impl Drop for Durability {
    fn drop(&mut self) {
        *lock(&self.shared.work) = true;
        self.shared.work_cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Shared {
    /// Publishes the progress to both kinds of waiters. Called with `done`
    /// locked, so that two publishers (the syncer, a lost batch) cannot
    /// overwrite a newer state with an older one in the watch channel.
    fn publish(&self, done: &Synced) {
        self.done_tx.send_replace(done.clone());
        self.done_cv.notify_all();
    }
}

fn wait_blocking(shared: &Shared, horizon: u64) -> Result<(), StorageError> {
    let mut done = lock(&shared.done);
    loop {
        if let Some(r) = done.covers(horizon) {
            return r;
        }
        done = shared
            .done_cv
            .wait(done)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
}

fn syncer(shared: &Shared) {
    let mut wal_file: Option<File> = None;
    let mut synced = 0u64;
    loop {
        {
            let mut stop = lock(&shared.work);
            while !*stop && shared.committed.load(Ordering::SeqCst) == synced {
                stop = shared
                    .work_cv
                    .wait(stop)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if *stop && shared.committed.load(Ordering::SeqCst) == synced {
                return;
            }
        }
        // Every commit counted here has finished writing to the WAL.
        let target = shared.committed.load(Ordering::SeqCst);
        let result = sync(shared, &mut wal_file);
        let failed = {
            let mut done = lock(&shared.done);
            match result {
                Ok(()) => {
                    done.synced = target;
                    synced = target;
                }
                Err(e) => {
                    tracing::error!(error = %e, "fsync of the database failed; refusing further work");
                    done.failed = Some(e.to_string());
                }
            }
            shared.publish(&done);
            done.failed.is_some()
        };
        if failed {
            // Waiters are answered with the error; nothing more to sync.
            let mut stop = lock(&shared.work);
            while !*stop {
                stop = shared
                    .work_cv
                    .wait(stop)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            return;
        }
    }
}

/// `fdatasync` of the WAL file; if there is none (SQLite checkpointed and
/// removed it when its last connection closed), of the database file.
fn sync(shared: &Shared, slot: &mut Option<File>) -> std::io::Result<()> {
    match std::fs::metadata(&shared.wal) {
        Ok(on_disk) => {
            let current = match slot.as_ref() {
                Some(f) => f.metadata()?.ino() == on_disk.ino(),
                None => false,
            };
            if !current {
                *slot = Some(File::open(&shared.wal)?);
            }
            match slot.as_ref() {
                Some(f) => f.sync_data(),
                None => Err(std::io::Error::other("WAL file not open")),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            *slot = None;
            File::open(&shared.db)?.sync_data()
        }
        Err(e) => Err(e),
    }
}

thread_local! {
    static DEFERRED: RefCell<Option<Debt>> = const { RefCell::new(None) };
}

/// Durability owed to a caller: for each database touched, the latest commit
/// its calls could have seen.
#[derive(Debug, Default)]
#[must_use = "a debt must be settled before answering"]
pub struct Debt {
    owed: Vec<(Arc<Shared>, u64)>,
}

impl Debt {
    fn add(&mut self, shared: &Arc<Shared>, horizon: u64) {
        match self.owed.iter_mut().find(|(s, _)| Arc::ptr_eq(s, shared)) {
            Some((_, h)) => *h = (*h).max(horizon),
            None => self.owed.push((Arc::clone(shared), horizon)),
        }
    }

    /// Waits, without blocking a thread, until everything owed is on disk.
    pub async fn settle(self) -> Result<(), StorageError> {
        for (shared, horizon) in self.owed {
            let mut rx = shared.done_tx.subscribe();
            let state = rx
                .wait_for(|s| s.covers(horizon).is_some())
                .await
                .map_err(StorageError::backend)?;
            if let Some(r) = state.covers(horizon) {
                r?;
            }
        }
        Ok(())
    }
}

/// Runs `f` with the durability waits of its storage calls deferred into the
/// returned [`Debt`] (settle it before answering anyone).
pub fn defer<T>(f: impl FnOnce() -> T) -> (T, Debt) {
    let outer = DEFERRED.with(|d| d.borrow_mut().replace(Debt::default()));
    // Restore the outer state even if `f` panics.
    struct Restore(Option<Option<Debt>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                DEFERRED.with(|d| *d.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(Some(outer));
    let out = f();
    let debt = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
    if let Some(outer) = restore.0.take() {
        DEFERRED.with(|d| *d.borrow_mut() = outer);
    }
    (out, debt)
}
