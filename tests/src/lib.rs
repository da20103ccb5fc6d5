#![doc = include_str!("../README.md")]
//! `ecash-tests`: end-to-end tests of the bank over loopback HTTP with a real
//! SQLite database. The library holds what the test binaries share:
//!
//! - [`client`] — a native wallet client (withdraw, swap, deposit, pay, refund claims) on `ecash_shared`.
//! - [`server`] — a real bank-server in this process on port 0, in a temp dir.
//! - [`cards`] — virtual purse cards issued, loaded and unloaded at a test bank, and its card endpoints.
//! - [`wallet_transport`] — the cyberwallet's own logic (`ecash_wallet`) over `reqwest`.
//! - [`storage_suite`] — the `Storage` trait's test suite, for every backend.
//! - [`storage_suite_cards`] — its card cases (the bank's ledger per card).
//!
//! The tests themselves are in `tests/`.

pub mod cards;
pub mod client;
pub mod server;
pub mod storage_suite;
pub mod storage_suite_cards;
pub mod wallet_transport;
