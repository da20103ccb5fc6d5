#![doc = include_str!("../README.md")]
//! `ecash-shared`: the protocol and cryptography every part of the system speaks.
//!
//! Builds for native targets and for `wasm32-unknown-unknown`; depends on no
//! server or browser crate.
//!
//! - [`amount`] — `Amount` (checked `u64` minor units) and `Currency`.
//! - [`blind_rsa`] — RFC 9474 RSA blind signatures, all four variants.
//! - [`encoding`] — unpadded base64url byte strings and RFC 3339 timestamps on the wire.
//! - [`keyset`] — denomination keysets: one RSA key per value, id = SHA-256 of its DER.
//! - [`coin`] — coin secrets, coins, and the domain-separated messages coin keys sign.
//! - [`denom`] — splitting an amount into a minimal multiset of denominations.
//! - [`error`] — the closed list of error codes and the `{code, detail}` body.
//! - [`api`] — request and response bodies of every HTTP endpoint.

pub mod amount;
pub mod api;
pub mod blind_rsa;
pub mod coin;
pub mod denom;
pub mod encoding;
pub mod error;
pub mod keyset;

pub use amount::{Amount, AmountError, Currency};
pub use coin::{Coin, CoinPub, CoinSecret, CoinSig, SpendMessage};
pub use error::{ErrorCode, ErrorResponse};
pub use keyset::{Keyset, KeysetId, KeysetInfo};

/// The blind-signature variant coins use (ARCHITECTURE.md: RSABSSA-SHA384-PSS-Randomized).
pub const COIN_VARIANT: blind_rsa::Variant = blind_rsa::Variant::Sha384PssRandomized;
/// The scheme name published in `/v1/keys` for coin keysets.
pub const COIN_SCHEME: &str = "RSABSSA-SHA384-PSS-Randomized";
