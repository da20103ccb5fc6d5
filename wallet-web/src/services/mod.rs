//! The browser's side of the wallet's traits, and the page's session.
//!
//! - [`idb`] — [`idb::IdbStorage`], the `Storage` on IndexedDB.
//! - [`http`] — [`http::HttpTransport`], the `Transport` on `fetch`.
//! - [`opener`] — `postMessage` to the shop page that opened the wallet.
//! - [`session`] — the login kept in `sessionStorage` for the tab's lifetime.

pub mod http;
pub mod idb;
pub mod opener;
pub mod session;
