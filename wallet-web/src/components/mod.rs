//! Widgets the pages share: the header and banners, form fields, formatting, the
//! balance chart, QR codes. Components render what they are given (or
//! [`crate::state`]); none of them speaks the protocol or starts an operation
//! of its own.
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
