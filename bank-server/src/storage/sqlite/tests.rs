//! The writer's group commit and durability, on a file database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::*;

fn file_db() -> (tempfile::TempDir, Arc<SqliteStorage>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(&dir.path().join("bank.sqlite"), 1).unwrap();
    s.write(|tx| {
        tx.execute_batch(
            "CREATE TABLE t_parent (id INTEGER PRIMARY KEY);
             CREATE TABLE t_child (id INTEGER PRIMARY KEY,
                                   parent INTEGER NOT NULL REFERENCES t_parent(id));",
        )?;
        Ok(())
    })
    .unwrap();
    (dir, Arc::new(s))
}

fn count(s: &SqliteStorage, table: &str) -> i64 {
    s.read(|tx| Ok(tx.row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?))
        .unwrap()
}

fn settle(debt: Debt) -> Result<(), StorageError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(debt.settle())
}

#[test]
fn concurrent_jobs_batch_and_every_answer_is_on_disk() {
    let (_dir, s) = file_db();
    let threads: Vec<_> = (0..16i64)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..50i64 {
                    let id = t * 1000 + i;
                    let d = s.durability.as_ref().unwrap();
                    let mut batch = 0;
                    let r = s.write(|tx| {
                        batch = d.begun();
                        tx.exec("INSERT INTO t_parent (id) VALUES (?1)", [id])?;
                        // Every third job is refused after writing: its
                        // row must not stay, the batch goes on.
                        if i % 3 == 0 {
                            return Err(StorageError::UnknownAccount);
                        }
                        Ok(())
                    });
                    assert_eq!(r.is_ok(), i % 3 != 0);
                    // Answered: the batch holding the job is on disk.
                    assert!(batch > 0 && d.synced() >= batch);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(count(&s, "t_parent"), 16 * (50 - 17));
    let d = s.durability.as_ref().unwrap();
    assert_eq!(d.synced(), d.horizon());
}

#[test]
fn a_deferred_answer_waits_for_the_sync_of_its_batch() {
    let (_dir, s) = file_db();
    let (r, debt) = defer(|| s.write(|tx| Ok(tx.exec("INSERT INTO t_parent VALUES (1)", [])?)));
    r.unwrap();
    let d = s.durability.as_ref().unwrap();
    let batch = d.horizon();
    settle(debt).unwrap();
    assert!(d.synced() >= batch);
}

#[test]
fn a_batch_that_cannot_commit_fails_every_job_in_it() {
    let (_dir, s) = file_db();
    // Job A: fine, but another job "waits", so A leaves the batch open.
    s.waiting.fetch_add(1, Ordering::SeqCst);
    let (a, debt_a) = defer(|| s.write(|tx| Ok(tx.exec("INSERT INTO t_parent VALUES (1)", [])?)));
    s.waiting.fetch_sub(1, Ordering::SeqCst);
    assert!(a.is_ok(), "A's own work succeeded");
    // Job B joins the batch with a foreign key checked only at COMMIT,
    // so the batch's COMMIT fails.
    let (b, debt_b) = defer(|| {
        s.write(|tx| {
            tx.execute_batch("PRAGMA defer_foreign_keys = ON")?;
            Ok(tx.exec("INSERT INTO t_child VALUES (1, 999)", [])?)
        })
    });
    assert!(b.is_ok(), "B's own statements succeeded");
    assert!(settle(debt_a).is_err(), "A must not be told it is done");
    assert!(settle(debt_b).is_err());
    assert_eq!(count(&s, "t_parent"), 0);
    assert_eq!(count(&s, "t_child"), 0);
    // The store goes on: the next job commits and is answered.
    s.write(|tx| Ok(tx.exec("INSERT INTO t_parent VALUES (2)", [])?))
        .unwrap();
    assert_eq!(count(&s, "t_parent"), 1);
}

#[test]
fn a_panicking_job_is_rolled_back_and_the_writer_goes_on() {
    let (_dir, s) = file_db();
    let s2 = Arc::clone(&s);
    let panicked = std::thread::spawn(move || {
        let _ = s2.write(|tx| -> Result<(), StorageError> {
            tx.exec("INSERT INTO t_parent VALUES (1)", [])?;
            panic!("job bug");
        });
    })
    .join();
    assert!(panicked.is_err());
    s.write(|tx| Ok(tx.exec("INSERT INTO t_parent VALUES (2)", [])?))
        .unwrap();
    assert_eq!(count(&s, "t_parent"), 1);
}
