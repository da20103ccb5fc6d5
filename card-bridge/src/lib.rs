#![doc = include_str!("../README.md")]
//! `card-bridge`: lets the wallet page reach PC/SC smart-card readers that a browser
//! cannot open itself (Chrome blocks the CCID class for WebUSB), over a WebSocket bound
//! to 127.0.0.1 — plus a virtual purse that plugs into vpcd as a card.
//!
//! Module map:
//!
//! - [`server`] — the WebSocket server: loopback only, `Origin` allow-list, `Host` check,
//!   session token, the JSON protocol of `ecash_card::transport::bridge`, limits.
//! - [`backend`] — readers behind the server: PC/SC (`pcsc`) or virtual cards.
//! - [`vicc`] — a virtual ICC for vsmartcard's `vpcd` driver: runs the purse application
//!   behind a PC/SC reader (vpcd socket protocol).
//! - [`client`] — a native blocking client of the bridge, as a `CardTransport`.
//! - [`token`] — the session token: random, shown at start, compared in constant time.

pub mod backend;
pub mod client;
pub mod server;
pub mod token;
pub mod vicc;
