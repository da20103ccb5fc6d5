//! Widgets the pages share: the header and banners, form fields, formatting, the
//! balance chart, QR codes. Components render what they are given (or
//! [`crate::state`]) and none of them speaks the protocol; the header's
//! "Log out" goes through [`crate::hooks::ops`].
//!
//! - [`layout`] — the header, the notice banner and the busy status.
//! - [`field`] — a labelled input bound to a `UseStateHandle<String>`.
//! - [`format`] — amounts and times as the pages write them.
//! - [`chart`] — the balance over time (History page).
//! - [`qr`] — a token as a QR code (Send page).

pub mod chart;
pub mod field;
pub mod format;
pub mod layout;
pub mod qr;
