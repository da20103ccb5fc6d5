//! What the binary-level tests share: the real `bank-server` binary run as a
//! command (`cli`, `audit`) on a SQLite file, or started as a server on a
//! loopback port (`start`, stopped with SIGKILL when dropped), and the library
//! configuration of the same small bank (`config`, `account`).

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use bank_server::storage::{AccountId, NewAccount};
use bank_server::{Bank, Config, Database, now};
use ecash_shared::{Amount, Currency};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bank-server");

/// The operator token of servers from [`start`].
pub const ADMIN: &str = "binary-test-admin-token";

/// Runs a command of the binary on `db` (denominations up to 4) and waits for it.
pub fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(["--max-denomination", "4"])
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `bank-server audit` of the database in `dir` (as [`start`] lays it out):
/// asserts it succeeds and is clean, and returns the report.
pub fn audit(dir: &Path) -> String {
    let out = Command::new(BIN)
        .arg("--db")
        .arg(dir.join("bank.sqlite"))
        .arg("audit")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "audit failed:\n{text}");
    assert!(text.contains("audit: clean"), "{text}");
    text
}

/// The library configuration of the bank [`cli`] works on.
pub fn config(db: &Path) -> Config {
    Config {
        database: Database::File(db.to_owned()),
        max_denomination: Amount::from_minor(4),
        static_dir: None,
        ..Config::default()
    }
}

/// Opens a customer account through the library.
pub fn account(bank: &Bank, username: &str) -> AccountId {
    bank.storage
        .create_account(&NewAccount {
            username: username.into(),
            password_hash: "x".into(),
            merchant: false,
            currency: Currency::EUR,
            created_at: now(),
        })
        .unwrap()
}

/// A server started by [`start`]; dropping it kills it (SIGKILL on Unix) and
/// waits for it, also on a failing assertion: never a server left behind.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// Kept open, so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bank-server serve` on a loopback port with its database in `dir`
/// (denominations up to 64, two workers, no wallet files, [`ADMIN`] as the
/// operator token) and `extra` arguments; returns once it says where it listens.
// The child is waited for by `Server`'s `Drop`.
#[allow(clippy::zombie_processes)]
pub fn start(dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(dir.join("bank.sqlite"))
        .args([
            "--max-denomination",
            "64",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--workers", "2", "--static-dir", "/nonexistent"])
        .args(extra)
        .env("BANK_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "server exited before listening"
        );
        if let Some(rest) = line.trim().strip_prefix("bank-server: listening on ") {
            let url = rest.trim_end_matches('/').to_owned();
            return Server {
                child,
                url,
                _stdout: stdout,
            };
        }
    }
}
