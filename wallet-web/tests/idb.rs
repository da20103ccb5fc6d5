//! IndexedDB storage in headless Chromium: round trips, atomic commits, and
//! data that survives closing and reopening the database.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_wallet::storage::{Storage, Store, Write};
use wallet_web::services::idb::IdbStorage;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A database of its own for each test.
async fn fresh(tag: &str) -> IdbStorage {
    let name = format!("ecash-test-{tag}-{}", js_sys::Math::random());
    IdbStorage::open(&name).await.unwrap()
}

async fn drop_db(s: IdbStorage) {
    let name = s.name().to_owned();
    s.close();
    IdbStorage::delete_database(&name).await.unwrap();
}

fn put(store: Store, k: &str, v: &str) -> Write {
    Write::Put(store, k.into(), v.into())
}

#[wasm_bindgen_test]
async fn put_get_list_delete() {
    let s = fresh("basic").await;
    assert_eq!(s.get(Store::Coins, "a").await.unwrap(), None);
    assert!(s.list(Store::Coins).await.unwrap().is_empty());

    s.commit(vec![
        put(Store::Coins, "b", r#"{"v":2}"#),
        put(Store::Coins, "a", r#"{"v":1}"#),
        put(Store::Meta, "keys", "{}"),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.get(Store::Coins, "a").await.unwrap().as_deref(),
        Some(r#"{"v":1}"#)
    );
    // Ordered by key, whatever the insertion order.
    assert_eq!(
        s.list(Store::Coins).await.unwrap(),
        vec![
            ("a".to_owned(), r#"{"v":1}"#.to_owned()),
            ("b".to_owned(), r#"{"v":2}"#.to_owned()),
        ]
    );
    // Stores are separate.
    assert_eq!(s.list(Store::Meta).await.unwrap().len(), 1);
    assert!(s.list(Store::Ops).await.unwrap().is_empty());

    // Replace, delete, delete-absent in one batch; later writes win.
    s.commit(vec![
        put(Store::Coins, "a", "1'"),
        Write::Delete(Store::Coins, "b".into()),
        Write::Delete(Store::Coins, "never-there".into()),
        put(Store::History, "00000000000000000001", "h1"),
        put(Store::History, "00000000000000000001", "h1'"),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.list(Store::Coins).await.unwrap(),
        vec![("a".to_owned(), "1'".to_owned())]
    );
    assert_eq!(
        s.get(Store::History, "00000000000000000001")
            .await
            .unwrap()
            .as_deref(),
        Some("h1'")
    );
    // An empty batch is fine.
    s.commit(vec![]).await.unwrap();
    drop_db(s).await;
}

#[wasm_bindgen_test]
async fn every_store_round_trips_unicode_and_large_values() {
    let s = fresh("stores").await;
    let big = "x".repeat(1 << 20);
    let writes: Vec<Write> = Store::ALL
        .iter()
        .map(|st| put(*st, "k", "ünïcødé ✓ \u{1F4B6}"))
        .chain([put(Store::Meta, "big", &big)])
        .collect();
    s.commit(writes).await.unwrap();
    for st in Store::ALL {
        assert_eq!(
            s.get(st, "k").await.unwrap().as_deref(),
            Some("ünïcødé ✓ \u{1F4B6}")
        );
    }
    assert_eq!(
        s.get(Store::Meta, "big").await.unwrap().unwrap().len(),
        1 << 20
    );
    drop_db(s).await;
}

#[wasm_bindgen_test]
async fn aborted_commit_leaves_nothing_behind() {
    let s = fresh("abort").await;
    s.commit(vec![put(Store::Coins, "keep", "old")])
        .await
        .unwrap();

    // Abort after some writes were placed, and after all of them were: in
    // both cases none of the batch may be visible, and the old value stays.
    for after in [1usize, 3] {
        s.abort_next_commit_after(after);
        let err = s
            .commit(vec![
                put(Store::Coins, "keep", "new"),
                put(Store::Ops, "op1", "intent"),
                Write::Delete(Store::Coins, "keep".into()),
            ])
            .await
            .unwrap_err();
        assert!(err.0.contains("rolled back"), "{err}");
        assert_eq!(
            s.get(Store::Coins, "keep").await.unwrap().as_deref(),
            Some("old")
        );
        assert!(s.list(Store::Ops).await.unwrap().is_empty());
    }
    // The hook is one-shot: the next commit goes through.
    s.commit(vec![put(Store::Ops, "op2", "ok")]).await.unwrap();
    assert_eq!(s.list(Store::Ops).await.unwrap().len(), 1);
    drop_db(s).await;
}

/// Creates a database at the wallet's schema version with only the `coins`
/// store, so a commit touching `ops` names a store that does not exist.
async fn create_partial_db(name: &str) {
    let factory: web_sys::IdbFactory = js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let req = factory.open_with_u32(name, 1).unwrap();
    let upgrade_req = req.clone();
    let on_upgrade = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        let db: web_sys::IdbDatabase = upgrade_req.result().unwrap().dyn_into().unwrap();
        db.create_object_store("coins").unwrap();
    });
    req.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    JsFuture::from(done).await.unwrap();
    let db: web_sys::IdbDatabase = req.result().unwrap().dyn_into().unwrap();
    db.close();
}

#[wasm_bindgen_test]
async fn commit_to_a_missing_store_fails_whole() {
    let name = format!("ecash-test-partial-{}", js_sys::Math::random());
    create_partial_db(&name).await;
    let s = IdbStorage::open(&name).await.unwrap();
    let err = s
        .commit(vec![
            put(Store::Coins, "c1", "coin"),
            put(Store::Ops, "op", "intent"),
        ])
        .await
        .unwrap_err();
    assert!(err.0.contains("NotFoundError"), "{err}");
    assert_eq!(s.get(Store::Coins, "c1").await.unwrap(), None);
    // Reading a missing store is an error too, not an empty answer.
    assert!(s.list(Store::Ops).await.is_err());
    drop_db(s).await;
}

#[wasm_bindgen_test]
async fn data_survives_reopening() {
    let s = fresh("reopen").await;
    let name = s.name().to_owned();
    s.commit(vec![
        put(Store::Coins, "c", "coin"),
        put(Store::Sent, "t", "token"),
    ])
    .await
    .unwrap();
    s.close();
    drop(s);

    let again = IdbStorage::open(&name).await.unwrap();
    assert_eq!(
        again.get(Store::Coins, "c").await.unwrap().as_deref(),
        Some("coin")
    );
    assert_eq!(
        again.get(Store::Sent, "t").await.unwrap().as_deref(),
        Some("token")
    );
    // A closed connection reports errors instead of hanging.
    again.close();
    assert!(again.get(Store::Coins, "c").await.is_err());
    assert!(
        again
            .commit(vec![put(Store::Coins, "d", "x")])
            .await
            .is_err()
    );
    IdbStorage::delete_database(&name).await.unwrap();

    // Deleted means gone.
    let fresh_again = IdbStorage::open(&name).await.unwrap();
    assert!(fresh_again.list(Store::Coins).await.unwrap().is_empty());
    drop_db(fresh_again).await;
}

#[wasm_bindgen_test]
async fn clones_share_the_connection() {
    let a = fresh("clone").await;
    let b = a.clone();
    a.commit(vec![put(Store::Meta, "x", "1")]).await.unwrap();
    assert_eq!(b.get(Store::Meta, "x").await.unwrap().as_deref(), Some("1"));
    drop_db(a).await;
}

#[wasm_bindgen_test]
async fn the_wallet_runs_on_indexeddb() {
    // The wallet's own reads over an empty IndexedDB: balance zero, nothing
    // pending, no history; `resume` has nothing to do and needs no bank.
    use ecash_wallet::Wallet;
    use wallet_web::services::http::HttpTransport;
    let s = fresh("wallet").await;
    let w = Wallet::new(s.clone(), HttpTransport::new("http://127.0.0.1:9"));
    assert!(w.balance().await.unwrap().is_zero());
    assert!(w.pending().await.unwrap().is_empty());
    assert!(w.history().await.unwrap().is_empty());
    assert!(w.resume().await.unwrap().is_empty());
    drop_db(s).await;
}
