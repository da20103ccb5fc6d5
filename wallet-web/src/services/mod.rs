//! The browser's side of the wallet's traits, and the page's session.
//!
//! - [`idb`] — [`idb::IdbStorage`], the `Storage` on IndexedDB.
//! - [`http`] — [`http::HttpTransport`], the `Transport` on `fetch`.
//! - [`opener`] — `postMessage` to the shop page that opened the wallet.
//! - [`reader`] — the Card page's readers (virtual, WebUSB, WebHID, card bridge) as one
//!   `CardTransport`, and the reader choice.
//! - [`session`] — the login kept in `sessionStorage` for the tab's lifetime.
//! - [`wallet`] — [`wallet::WebWallet`], the wallet on these, one database per bank.

pub mod http;
pub mod idb;
pub mod opener;
pub mod reader;
pub mod session;
pub mod wallet;
