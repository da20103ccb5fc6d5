#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`storage`] — the `Storage` trait (atomic batches of writes) and an in-memory store.
//! - [`transport`] — the `Transport` trait (HTTP to the bank, clock, yielding).
//! - [`model`] — what the wallet stores: coins, pending operations, history.
//! - [`client`] — typed calls to the bank's HTTP API, the card endpoints included
//!   ([`client::CardSession`] is the bank side of `ecash_card::client::PurseClient`).
//! - [`wallet`] — the `Wallet`: balance, coin selection, resume of pending work.
//! - [`withdraw`], [`swap`], [`pay`], [`send`], [`deposit`], [`refund`] — one module per protocol step.
//! - [`faults`] — crash injection for tests: fail at the N-th await point.
//! - [`token`] — the compact token string that carries coins from person to person.
//! - [`error`] — `WalletError` with a human message for each bank error code.

pub mod client;
pub mod deposit;
pub mod error;
pub mod faults;
pub mod model;
pub mod pay;
pub mod refund;
pub mod send;
pub mod storage;
pub mod swap;
pub mod token;
pub mod transport;
pub mod wallet;
pub mod withdraw;

pub use client::BankClient;
pub use error::WalletError;
pub use storage::{MemoryStorage, Storage};
pub use transport::Transport;
pub use wallet::Wallet;
