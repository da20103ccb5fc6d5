#![doc = include_str!("../README.md")]
//! `wallet-web`: the cyberwallet.
//!
//! The wallet's logic lives in [`core`] and runs natively (tested against a real
//! bank-server) and in the browser; the browser adds IndexedDB storage, an HTTP
//! transport over `fetch` and the Yew user interface.
//!
//! - [`core`] — storage and transport traits, the wallet and its operations
//!   (withdraw, pay, swap, send, receive, deposit) with an intent log.
//! - [`input`] — parsing what people type (amounts, payment requests, IBANs).
//! - [`route`] — the pages and their `/#/…` URLs.
//! - `services` (wasm) — IndexedDB storage, the `fetch` transport, the tab's
//!   session, `postMessage` to a shop's page.
//! - `app`, `components`, `hooks`, `state` (wasm) — the Yew user interface.

pub mod core;
pub mod input;
pub mod route;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod hooks;
#[cfg(target_arch = "wasm32")]
pub mod services;
#[cfg(target_arch = "wasm32")]
mod state;
