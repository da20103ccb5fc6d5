//! The pages and the pieces they share. Components render [`crate::state`]
//! and start wallet operations through [`crate::hooks::ops`]; none of them
//! speaks the protocol.

pub mod bank;
pub mod card;
pub mod chart;
pub mod field;
pub mod format;
pub mod history;
pub mod home;
pub mod layout;
pub mod login;
pub mod pay;
pub mod qr;
pub mod receive;
pub mod send;
pub mod withdraw;
