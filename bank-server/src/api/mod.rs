//! The HTTP layer: routes and extractors, `{code, detail}` answers, the mapping of
//! domain and storage errors to wire codes, the web pages. Handlers parse, call the
//! domain ([`crate::bank`]) and the storage it exposes, and answer JSON.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod cards;
pub mod coin_state;
pub mod deposit;
pub mod embed;
pub mod error;
pub mod health;
pub mod keys;
pub mod orders;
pub mod pay;
pub mod payout;
pub mod refund;
pub mod shop;
pub mod swap;
pub mod web;
pub mod withdraw;
