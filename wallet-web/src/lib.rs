//! `wallet-web`: the cyberwallet.
//!
//! The wallet's logic lives in [`core`] and runs natively (tested against a real
//! bank-server) and in the browser; the browser adds IndexedDB storage, an HTTP
//! transport over `fetch` and the Yew user interface.
//!
//! - [`core`] — storage and transport traits, the wallet and its operations
//!   (withdraw, pay, swap, send, receive, deposit) with an intent log.
//! - `services` (wasm) — IndexedDB storage and the `fetch` transport.
//! - `app`, `components`, `state` (wasm) — the Yew user interface.

pub mod core;
