//! The pages, one per route ([`crate::route::Route`]); [`crate::app`] imports them
//! for routing only. Pages render [`crate::state`] with the widgets of
//! [`crate::components`] and start wallet operations through [`crate::hooks`];
//! none of them speaks the protocol (the Card page's purse operations call the
//! bank through `ecash_wallet::BankClient`).
//!
//! - [`home`] (`#/`) — balance, coins, pending operations.
//! - [`login`] (`#/login`) — bank URL, register, log in.
//! - [`withdraw`] (`#/withdraw`) — coins from the bank account.
//! - [`pay`] (`#/pay`, `#/pay/{order}`) — pay a shop's order.
//! - [`send`] (`#/send`) and [`receive`] (`#/receive`) — tokens person to person.
//! - [`bank`] (`#/bank`) — deposit to the account, pay out to an IBAN.
//! - [`history`] (`#/history`) — the wallet's history and balance chart.
//! - [`card`] (`#/card`) — the electronic purses.
//! - [`not_found`] — any other URL.

pub mod bank;
pub mod card;
pub mod history;
pub mod home;
pub mod login;
pub mod not_found;
pub mod pay;
pub mod receive;
pub mod send;
pub mod withdraw;
