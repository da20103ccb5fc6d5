//! A virtual card: the purse application in memory, natively or in the wallet page,
//! with its state committed to a [`PurseStore`] after every command that changed it.
//!
//! Commit rule (a real card's EEPROM transaction): the response leaves the card only
//! after the new state is stored; if storing fails, the card rolls back to the old
//! state, forgets its session and answers `6581` — the command did not happen. A
//! power cut is therefore "the last command happened or it did not, and its response
//! may be lost", which the purse protocol tolerates.
//!
//! Stores: [`MemoryStore`] (shared handle; the browser wallet reads it after each
//! exchange and writes IndexedDB), [`FileStore`] natively (JSON file, atomic replace via
//! temp file + fsync + rename).
//!
//! **A virtual card is not tamper-resistant.** Its state holds the card key: whoever can
//! read it can copy the purse and spend the same value twice offline — the observer
//! guarantee of [`crate::purse`] needs a real card. The issuer should certify virtual
//! cards with low caps and limits; copies show up when both reach the bank (two
//! different unload proofs or exception records under one sequence number, which
//! [`crate::issuer::Ledger::accept_unload`] refuses).

use std::cell::RefCell;
use std::rc::Rc;

use zeroize::Zeroizing;

use crate::Error;
use crate::apdu::{Response, Sw};
use crate::card::Card;
use crate::purse::{ATR, Purse, PurseState};

/// Where a virtual card commits its state (JSON of [`PurseState`]).
pub trait PurseStore {
    /// Stores the state durably, or fails and leaves the previous state in place.
    fn save(&mut self, state_json: &str) -> Result<(), Error>;
}

/// Keeps the last committed state in memory, shared with whoever holds a clone.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Rc<RefCell<Option<Zeroizing<String>>>>);

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last committed state JSON.
    pub fn latest(&self) -> Option<Zeroizing<String>> {
        self.0.borrow().clone()
    }
}

impl PurseStore for MemoryStore {
    fn save(&mut self, state_json: &str) -> Result<(), Error> {
        *self.0.borrow_mut() = Some(Zeroizing::new(state_json.to_owned()));
        Ok(())
    }
}

/// A purse in memory.
pub struct VirtualCard {
    purse: Purse,
    committed: Zeroizing<String>,
    store: Option<Box<dyn PurseStore>>,
}

impl core::fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VirtualCard({:?})", self.purse.state())
    }
}

fn to_json(state: &PurseState) -> Result<Zeroizing<String>, Error> {
    serde_json::to_string(state)
        .map(Zeroizing::new)
        .map_err(|e| Error::Storage(e.to_string()))
}

impl VirtualCard {
    /// A card over `state`, committing nowhere (state lives as long as the value).
    pub fn new(state: PurseState) -> Result<Self, Error> {
        Ok(VirtualCard {
            committed: to_json(&state)?,
            purse: Purse::from_state(state),
            store: None,
        })
    }

    /// A card over `state` committing to `store` (the state is saved first).
    pub fn with_store(state: PurseState, mut store: Box<dyn PurseStore>) -> Result<Self, Error> {
        let committed = to_json(&state)?;
        store.save(&committed)?;
        Ok(VirtualCard {
            purse: Purse::from_state(state),
            committed,
            store: Some(store),
        })
    }

    /// A fresh blank card (random key) committing nowhere.
    pub fn blank() -> Result<Self, Error> {
        Self::new(PurseState::manufacture()?)
    }

    /// Restores a card from its state JSON.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let state: PurseState =
            serde_json::from_str(json).map_err(|e| Error::Storage(e.to_string()))?;
        Self::new(state)
    }

    /// The committed state as JSON (secret: holds the card key and PIN).
    pub fn state_json(&self) -> Zeroizing<String> {
        self.committed.clone()
    }

    /// The purse state.
    pub fn state(&self) -> &PurseState {
        self.purse.state()
    }

    /// Goes back to a previously committed state (e.g. when an asynchronous write of the
    /// newer one failed); the session is lost, as after a power cut.
    pub fn restore(&mut self, state_json: &str) -> Result<(), Error> {
        let state: PurseState =
            serde_json::from_str(state_json).map_err(|e| Error::Storage(e.to_string()))?;
        let committed = to_json(&state)?;
        if let Some(store) = self.store.as_mut() {
            store.save(&committed)?;
        }
        self.purse = Purse::from_state(state);
        self.committed = committed;
        Ok(())
    }

    /// Replaces the store (the current state is saved to it first).
    pub fn set_store(&mut self, mut store: Box<dyn PurseStore>) -> Result<(), Error> {
        store.save(&self.committed)?;
        self.store = Some(store);
        Ok(())
    }
}

impl Card for VirtualCard {
    fn atr(&self) -> &[u8] {
        &ATR
    }

    fn reset(&mut self) {
        self.purse.reset_session();
    }

    fn power_off(&mut self) {
        self.purse.reset_session();
    }

    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        let response = self.purse.process(command);
        let json = match to_json(self.purse.state()) {
            Ok(json) => json,
            Err(_) => return self.roll_back(),
        };
        if *json != *self.committed {
            if let Some(store) = self.store.as_mut()
                && store.save(&json).is_err()
            {
                return self.roll_back();
            }
            self.committed = json;
        }
        response
    }
}

impl VirtualCard {
    fn roll_back(&mut self) -> Vec<u8> {
        // The committed JSON came from a valid state: it parses back.
        match serde_json::from_str::<PurseState>(&self.committed) {
            Ok(state) => self.purse = Purse::from_state(state),
            Err(_) => self.purse.reset_session(),
        }
        Response::status(Sw::MEMORY_FAILURE).to_bytes()
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use file::FileStore;

#[cfg(not(target_arch = "wasm32"))]
mod file {
    use std::fs::{self, File, OpenOptions};
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use super::*;

    /// Commits the state to a JSON file: write a temp file beside it (mode 0600),
    /// fsync, rename over the old file, fsync the directory. A crash at any point
    /// leaves either the old or the new file, whole.
    #[derive(Debug, Clone)]
    pub struct FileStore {
        path: PathBuf,
    }

    impl FileStore {
        /// A store at `path` (the file need not exist yet).
        pub fn new(path: impl Into<PathBuf>) -> Self {
            FileStore { path: path.into() }
        }

        /// The file's path.
        pub fn path(&self) -> &Path {
            &self.path
        }

        /// Reads the stored state, if the file exists.
        pub fn load(&self) -> Result<Option<PurseState>, Error> {
            match fs::read_to_string(&self.path) {
                Ok(text) => {
                    let text = Zeroizing::new(text);
                    serde_json::from_str(&text)
                        .map(Some)
                        .map_err(|e| Error::Storage(format!("{}: {e}", self.path.display())))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::Storage(format!("{}: {e}", self.path.display()))),
            }
        }

        /// Opens the card stored at the path, or stores and returns `fresh()` if none.
        pub fn open_or_create(
            self,
            fresh: impl FnOnce() -> Result<PurseState, Error>,
        ) -> Result<VirtualCard, Error> {
            let state = match self.load()? {
                Some(state) => state,
                None => fresh()?,
            };
            VirtualCard::with_store(state, Box::new(self))
        }

        fn write_atomically(&self, text: &str) -> std::io::Result<()> {
            let dir = match self.path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let name = self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "purse".to_owned());
            let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let result = (|| {
                let mut f = options.open(&tmp)?;
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                drop(f);
                fs::rename(&tmp, &self.path)?;
                // The rename itself is durable once the directory is synced.
                File::open(&dir)?.sync_all()
            })();
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result
        }
    }

    impl PurseStore for FileStore {
        fn save(&mut self, state_json: &str) -> Result<(), Error> {
            self.write_atomically(state_json)
                .map_err(|e| Error::Storage(format!("{}: {e}", self.path.display())))
        }
    }
}
