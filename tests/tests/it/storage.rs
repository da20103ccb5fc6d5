//! The storage suite against SQLite, in memory and in a file.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use bank_server::storage::SqliteStorage;
use ecash_tests::storage_suite::Fixture;

fn memory() -> Fixture {
    Fixture {
        storage: Arc::new(SqliteStorage::open_in_memory().unwrap()),
        keep: vec![],
    }
}

fn file() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(&dir.path().join("bank.sqlite"), 2).unwrap();
    Fixture {
        storage: Arc::new(storage),
        keep: vec![Box::new(dir)],
    }
}

ecash_tests::storage_test_suite!(sqlite_memory, super::memory);
ecash_tests::storage_test_suite!(sqlite_file, super::file);

#[test]
fn reopening_a_file_keeps_everything_and_migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.sqlite");
    {
        let s = SqliteStorage::open(&path, 1).unwrap();
        use bank_server::storage::prelude::*;
        s.create_account(&bank_server::storage::NewAccount {
            username: "alice".into(),
            password_hash: "h".into(),
            merchant: false,
            currency: ecash_shared::Currency::EUR,
            created_at: ecash_shared::encoding::Timestamp::from_unix(0),
        })
        .unwrap();
    }
    let s = SqliteStorage::open(&path, 1).unwrap();
    use bank_server::storage::prelude::*;
    assert!(s.account_by_username("alice").unwrap().is_some());
}
