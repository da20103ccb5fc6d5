//! Hooks: the current route, the app context, running wallet operations, logging in.
//!
//! - [`use_route`] — the page from `location.hash`, kept in step with `hashchange`.
//! - [`use_app`] — the shared [`crate::state::AppContext`].
//! - [`ops`] — run a wallet operation in the background, one at a time, then
//!   refresh what the pages show.
//! - [`session`] — logging in (the bank's session, kept for the tab).

pub mod ops;
pub mod session;
mod use_app;
mod use_route;

pub use use_app::use_app;
pub use use_route::{navigate, use_route};
