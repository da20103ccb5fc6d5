//! The end-to-end tests, one module per area, linked into one test binary (as
//! zero2prod's `tests/api/main.rs`): each area used to be its own binary, and
//! linking thirteen binaries against the bank cost more than running them.
//! Every test starts its own bank (port 0, its own temp dir), so they share
//! nothing but the process.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod auth;
mod bad_input;
mod card_recovery;
mod cards;
mod cors;
mod full_loop;
mod idempotency;
mod merchant;
mod merchant_refund;
mod merchant_static;
mod race;
mod storage;
mod wallet_core;
