//! The command line: `admin credit`, `audit` (clean and tampered), `keys rotate`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::{Command, Output};

use bank_server::storage::NewAccount;
use bank_server::{Bank, Config, Database, now};
use ecash_shared::{Amount, Currency};

const BIN: &str = env!("CARGO_BIN_EXE_bank-server");

fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(["--max-denomination", "4"])
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn config(db: &Path) -> Config {
    Config {
        database: Database::File(db.to_owned()),
        max_denomination: Amount::from_minor(4),
        static_dir: None,
        ..Config::default()
    }
}

#[test]
fn credit_audit_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.sqlite");

    let missing = cli(&db, &["audit"]);
    assert!(!missing.status.success());
    assert!(!db.exists(), "audit does not create a database");

    // A bank with one account, made through the library.
    let bank = Bank::open(config(&db)).unwrap();
    bank.storage
        .create_account(&NewAccount {
            username: "alice".into(),
            password_hash: "x".into(),
            merchant: false,
            currency: Currency::EUR,
            created_at: now(),
        })
        .unwrap();
    let keysets_before = bank.storage.keysets().unwrap();
    assert_eq!(keysets_before.len(), 3);
    drop(bank);

    let out = cli(&db, &["admin", "credit", "alice", "500"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("balance 500"), "{}", stdout(&out));
    let out = cli(&db, &["admin", "credit", "nobody", "5"]);
    assert!(!out.status.success());
    let out = cli(&db, &["admin", "credit", "alice", "0"]);
    assert!(!out.status.success());

    let out = cli(&db, &["audit"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("EUR: wired in 500"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("audit: clean"));

    // Rotation: three new keysets; the old ones stop signing, still deposit.
    let out = cli(&db, &["keys", "rotate"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("rotated: 3 new keysets"),
        "{}",
        stdout(&out)
    );
    let bank = Bank::open(config(&db)).unwrap();
    let all = bank.storage.keysets().unwrap();
    assert_eq!(all.len(), 6);
    let t = now();
    for old in &keysets_before {
        let k = bank.keys.get(&old.id).unwrap();
        assert!(!k.keyset.can_withdraw(t));
        assert!(k.keyset.can_deposit(t));
        assert!(k.secret.is_some());
    }
    let listed = bank.keys.keys_response(t).keysets;
    assert_eq!(
        listed.len(),
        6,
        "old keysets stay listed until deposit_until"
    );
    assert_eq!(all.iter().filter(|k| k.withdraw_until > t).count(), 3);
    drop(bank);

    // Tampering is caught: money appears from nowhere.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE accounts SET balance = balance + 1", [])
        .unwrap();
    drop(conn);
    let out = cli(&db, &["audit"]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("problem:"), "{}", stdout(&out));
}
