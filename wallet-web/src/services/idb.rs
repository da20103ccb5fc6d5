//! IndexedDB storage: the wallet's [`Storage`] in the browser.
//!
//! One database (default [`DB_NAME`]), one object store per [`Store`], keys
//! out of line (the record key), values the JSON strings the wallet writes.
//!
//! [`Storage::commit`] is one `readwrite` transaction over every store it
//! touches, opened with durability `"strict"` (the browser reports `complete`
//! only once the data is on disk), and it resolves only when `complete` fires:
//! when the wallet goes on to send a request, its intent is durable. An abort
//! (a failed request, quota, a closed database, the page going away) rolls
//! the whole batch back, and the commit fails.
//!
//! Each read is a single-request `readonly` transaction; nothing keeps a
//! transaction open across an `await` of other work (IndexedDB would commit it
//! under our feet).

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory, IdbRequest, IdbTransaction};

use ecash_wallet::storage::{Storage, StorageError, Store, Write};

/// The wallet's database name.
pub const DB_NAME: &str = "ecash-wallet";

/// Schema version: bump it (and extend `upgrade`) when stores are added.
const DB_VERSION: u32 = 1;

/// How long [`IdbStorage::delete_database`] waits while other connections block it.
pub const BLOCKED_TIMEOUT_MS: i32 = 3_000;

/// The wallet's records in IndexedDB. Clones share the connection.
#[derive(Debug, Clone)]
pub struct IdbStorage {
    db: IdbDatabase,
    name: String,
    /// Test hook: abort the next commit after this many writes were issued.
    abort_next: Rc<Cell<Option<usize>>>,
}

impl IdbStorage {
    /// Opens (creating or upgrading as needed) the database `name`.
    pub async fn open(name: &str) -> Result<Self, StorageError> {
        let factory = factory()?;
        let req = factory
            .open_with_u32(name, DB_VERSION)
            .map_err(|e| js_err("opening the wallet database", &e))?;
        // Runs (before `success`) when the database is new or older: create the
        // stores that are missing. An exception aborts the upgrade and the open.
        let upgrade_req = req.clone();
        let upgrade = Closure::<dyn FnMut(web_sys::Event) -> Result<(), JsValue>>::new(
            move |_e: web_sys::Event| {
                let db: IdbDatabase = upgrade_req.result()?.dyn_into()?;
                let existing = db.object_store_names();
                for store in Store::ALL {
                    if !existing.contains(store.name()) {
                        db.create_object_store(store.name())?;
                    }
                }
                Ok(())
            },
        );
        req.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let result = wait_request(&req).await;
        req.set_onupgradeneeded(None);
        drop(upgrade);
        result.map_err(|e| StorageError(format!("opening the wallet database: {e}")))?;
        let db: IdbDatabase = req
            .result()
            .and_then(|r| r.dyn_into())
            .map_err(|e| js_err("opening the wallet database", &e))?;
        // Another tab upgrading the schema asks us to step aside: close, so it
        // is not blocked (this tab then reports storage errors until reloaded).
        let closing = db.clone();
        let on_versionchange = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| closing.close());
        db.set_onversionchange(Some(on_versionchange.as_ref().unchecked_ref()));
        // Lives as long as the connection, i.e. the page: one small closure per open.
        on_versionchange.forget();
        Ok(IdbStorage {
            db,
            name: name.to_owned(),
            abort_next: Rc::new(Cell::new(None)),
        })
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the connection (pending transactions still finish).
    pub fn close(&self) {
        self.db.close();
    }

    /// Deletes the database `name` (every store, every record). Waits until
    /// the deletion is done. Fails if another connection keeps it blocked for
    /// [`BLOCKED_TIMEOUT_MS`] (a connection that is closing reports `blocked`
    /// briefly while its last transactions finish: that is not a failure).
    pub async fn delete_database(name: &str) -> Result<(), StorageError> {
        let req = factory()?
            .delete_database(name)
            .map_err(|e| js_err("deleting the wallet database", &e))?;
        let blocked = JsFuture::from(Promise::new(&mut |resolve, _reject| {
            req.set_onblocked(Some(&resolve));
        }));
        let gave_up = async {
            let _ = blocked.await;
            sleep_ms(BLOCKED_TIMEOUT_MS).await;
        };
        let outcome = first_of(wait_request(&req), gave_up).await;
        req.set_onblocked(None);
        outcome.map_err(|e| StorageError(format!("deleting the wallet database: {e}")))
    }

    /// Fault injection for tests: the next [`Storage::commit`] issues its first
    /// `writes` writes and then aborts its transaction, as a crash or a failed
    /// request would. The commit must then leave no trace.
    pub fn abort_next_commit_after(&self, writes: usize) {
        self.abort_next.set(Some(writes));
    }

    /// A transaction over `stores` in `mode`, with durability "strict" for
    /// readwrite. `IDBDatabase.transaction(names, mode, {durability})` is
    /// called through `Reflect` because web-sys only binds the options
    /// argument under `web_sys_unstable_apis`; browsers without the option
    /// ignore it (and keep their default durability).
    fn transaction(&self, stores: &[Store], readwrite: bool) -> Result<IdbTransaction, JsValue> {
        let names: Array = stores.iter().map(|s| JsValue::from_str(s.name())).collect();
        if !readwrite {
            return self.db.transaction_with_str_sequence(&names);
        }
        let options = Object::new();
        Reflect::set(&options, &"durability".into(), &"strict".into())?;
        let method: Function = Reflect::get(&self.db, &"transaction".into())?.dyn_into()?;
        method
            .call3(&self.db, &names, &"readwrite".into(), &options)?
            .dyn_into::<IdbTransaction>()
    }
}

impl Storage for IdbStorage {
    async fn get(&self, store: Store, key: &str) -> Result<Option<String>, StorageError> {
        let what = || format!("reading {}", store.name());
        let req = self
            .transaction(&[store], false)
            .and_then(|tx| tx.object_store(store.name()))
            .and_then(|os| os.get(&JsValue::from_str(key)))
            .map_err(|e| js_err(&what(), &e))?;
        wait_request(&req)
            .await
            .map_err(|e| StorageError(format!("{}: {e}", what())))?;
        let value = req.result().map_err(|e| js_err(&what(), &e))?;
        if value.is_undefined() {
            return Ok(None);
        }
        value
            .as_string()
            .map(Some)
            .ok_or_else(|| StorageError(format!("{}: record {key} is not text", what())))
    }

    async fn list(&self, store: Store) -> Result<Vec<(String, String)>, StorageError> {
        let what = || format!("listing {}", store.name());
        // Both requests are placed before the first await, in one transaction,
        // so keys and values come from the same snapshot in the same order.
        let (keys_req, values_req) = self
            .transaction(&[store], false)
            .and_then(|tx| tx.object_store(store.name()))
            .and_then(|os| Ok((os.get_all_keys()?, os.get_all()?)))
            .map_err(|e| js_err(&what(), &e))?;
        for req in [&keys_req, &values_req] {
            wait_request(req)
                .await
                .map_err(|e| StorageError(format!("{}: {e}", what())))?;
        }
        let keys: Array = keys_req
            .result()
            .and_then(|r| r.dyn_into())
            .map_err(|e| js_err(&what(), &e))?;
        let values: Array = values_req
            .result()
            .and_then(|r| r.dyn_into())
            .map_err(|e| js_err(&what(), &e))?;
        if keys.length() != values.length() {
            return Err(StorageError(format!("{}: keys and values differ", what())));
        }
        let mut out = Vec::with_capacity(keys.length() as usize);
        for (k, v) in keys.iter().zip(values.iter()) {
            match (k.as_string(), v.as_string()) {
                (Some(k), Some(v)) => out.push((k, v)),
                _ => return Err(StorageError(format!("{}: a record is not text", what()))),
            }
        }
        // IndexedDB orders string keys by UTF-16 code units; the trait promises
        // the order of Rust strings (the same for the ASCII keys the wallet uses).
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StorageError> {
        let abort_after = self.abort_next.take();
        if writes.is_empty() {
            return Ok(());
        }
        let mut stores: Vec<Store> = writes
            .iter()
            .map(|w| match w {
                Write::Put(s, _, _) | Write::Delete(s, _) => *s,
            })
            .collect();
        stores.sort();
        stores.dedup();
        let tx = self
            .transaction(&stores, true)
            .map_err(|e| js_err("starting a commit", &e))?;
        // Handlers first, then the requests: `complete` resolves, `abort`
        // rejects. A failed request fires `error` and then aborts the
        // transaction, so `abort` covers it (and nothing was written).
        let done = JsFuture::from(Promise::new(&mut |resolve, reject| {
            tx.set_oncomplete(Some(&resolve));
            tx.set_onabort(Some(&reject));
        }));
        let placed = place_writes(&tx, &writes, abort_after);
        let issue_error = placed.err();
        if issue_error.is_some() {
            // Throws only if the transaction is already finishing; either way
            // the `abort` event settles `done`.
            let _ = tx.abort();
        }
        let outcome = done.await;
        tx.set_oncomplete(None);
        tx.set_onabort(None);
        match (outcome, issue_error) {
            (Ok(_), None) => Ok(()),
            (_, Some(e)) => Err(js_err("commit rolled back", &e)),
            (Err(_), None) => Err(StorageError(format!(
                "commit rolled back: {}",
                tx_error(&tx)
            ))),
        }
    }
}

/// Places every write on `tx` (synchronously, so the transaction stays active).
fn place_writes(
    tx: &IdbTransaction,
    writes: &[Write],
    abort_after: Option<usize>,
) -> Result<(), JsValue> {
    for (i, w) in writes.iter().enumerate() {
        if abort_after == Some(i) {
            return Err(JsValue::from_str("aborted by the test hook"));
        }
        match w {
            Write::Put(s, k, v) => {
                tx.object_store(s.name())?
                    .put_with_key(&JsValue::from_str(v), &JsValue::from_str(k))?;
            }
            Write::Delete(s, k) => {
                tx.object_store(s.name())?.delete(&JsValue::from_str(k))?;
            }
        }
    }
    if abort_after == Some(writes.len()) {
        return Err(JsValue::from_str("aborted by the test hook"));
    }
    Ok(())
}

/// `indexedDB` of the page or worker.
fn factory() -> Result<IdbFactory, StorageError> {
    let unavailable =
        || StorageError("this browser does not offer IndexedDB (private mode?)".into());
    Reflect::get(&js_sys::global(), &"indexedDB".into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
        .and_then(|v| v.dyn_into::<IdbFactory>().ok())
        .ok_or_else(unavailable)
}

/// Waits for a request's `success` (Ok) or `error` (Err with the DOM error).
async fn wait_request(req: &IdbRequest) -> Result<(), String> {
    let outcome = JsFuture::from(Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    }))
    .await;
    req.set_onsuccess(None);
    req.set_onerror(None);
    match outcome {
        Ok(_) => Ok(()),
        Err(_) => Err(match req.error() {
            Ok(Some(e)) => format!("{}: {}", e.name(), e.message()),
            _ => "request failed".into(),
        }),
    }
}

/// The outcome of `done`, unless `give_up` finishes first.
async fn first_of(
    done: impl std::future::Future<Output = Result<(), String>>,
    give_up: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    use std::pin::pin;
    use std::task::Poll;
    let mut done = pin!(done);
    let mut give_up = pin!(give_up);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = done.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        if give_up.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(
                "another tab has the wallet open: close it and try again".into(),
            ));
        }
        Poll::Pending
    })
    .await
}

/// Resolves after `ms` milliseconds (at once where there is no window).
async fn sleep_ms(ms: i32) {
    let p = Promise::new(&mut |resolve, _reject| {
        let scheduled = web_sys::window().and_then(|w| {
            w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
                .ok()
        });
        if scheduled.is_none() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(p).await;
}

fn tx_error(tx: &IdbTransaction) -> String {
    match tx.error() {
        Some(e) => format!("{}: {}", e.name(), e.message()),
        None => "the transaction was aborted".into(),
    }
}

/// A storage error from a thrown JS value (a `DOMException`, an `Error`, a string).
fn js_err(context: &str, e: &JsValue) -> StorageError {
    StorageError(format!("{context}: {}", js_message(e)))
}

/// The message of a thrown JS value.
pub(crate) fn js_message(e: &JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    if let Some(d) = e.dyn_ref::<web_sys::DomException>() {
        return format!("{}: {}", d.name(), d.message());
    }
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    format!("{e:?}")
}
