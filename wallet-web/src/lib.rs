#![doc = include_str!("../README.md")]
//! `wallet-web`: the cyberwallet.
//!
//! The wallet's logic lives in the `ecash-wallet` crate ([`ecash_wallet`]: the bank
//! client, the wallet and its intent log, tokens) and runs natively (tested against a
//! real bank-server) and in the browser; this crate is the user interface: IndexedDB
//! storage, an HTTP transport over `fetch`, the card readers and the Yew pages. The
//! layers point down only: `app` → `pages` → `components`, `hooks` → `services`,
//! `state` → `ecash_wallet`.
//!
//! - [`input`] — parsing what people type (amounts, payment requests, IBANs).
//! - [`route`] — the pages and their `/#/…` URLs.
//! - `services` (wasm) — IndexedDB storage, the `fetch` transport, the tab's
//!   session, the wallet on these, the card readers, `postMessage` to a shop's page.
//! - `app` (wasm) — the root component: startup, the shared state, routing.
//! - `pages` (wasm) — one per route; `components` (wasm) — widgets the pages share.
//! - `hooks` (wasm) — the route, the app context, running wallet operations, logging in.
//! - `state` (wasm) — the app's shared state, a reducer.

pub mod input;
pub mod route;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod hooks;
#[cfg(target_arch = "wasm32")]
mod pages;
#[cfg(target_arch = "wasm32")]
pub mod services;
#[cfg(target_arch = "wasm32")]
mod state;
