#![doc = include_str!("../README.md")]
//! `ecash-card`: an electronic purse on a smart card — Mondex-style offline value transfer
//! between cards, with the card as CAFE's observer — plus the APDU layer, reader
//! transports and a virtual card. Native and `wasm32-unknown-unknown`.
//!
//! Module map:
//!
//! - [`api`] — JSON bodies of the bank's card endpoints.
//! - [`apdu`] — ISO 7816-4 command/response APDUs (via the `iso7816` crate), status words.
//! - [`card`] — the [`Card`] trait: ATR, reset, one response APDU per command APDU.
//! - [`purse`] — the purse application: command table, state, session; the card as observer.
//! - [`keys`] — card ids, issuer and card ed25519 keys, domain-separated signing.
//! - [`cert`] — card certificates: issuer signature over id, key and risk profile.
//! - [`message`] — signed fixed-layout messages (`body || signature`).
//! - [`transfer`] — purse-to-purse transfer: START FROM/TO, REQUEST, VALUE, ACK.
//! - [`load`] — issuer-signed load authorizations and card receipts.
//! - [`unload`] — card-signed unload proofs back to the bank.
//! - [`risk`] — limits, locking, the issuer's UNLOCK.
//! - [`exception`] — exception log, and how lost value is proven and re-credited.
//! - [`settle`] — credits taken offline, kept on the payee card until the bank settles them.
//! - [`log`] — the transaction log.
//! - [`pin`] — PIN/PUK fields and retry counters (constant-time, zeroized).
//! - [`issuer`] — the bank's side: signing, and a reference ledger of what it must store.
//! - [`host`] — command builders and synchronous helpers against a [`Card`].
//! - [`client`] — async purse client over any [`transport::CardTransport`], `transfer`, and
//!   settling with the bank (exception log upload, pending loads) over a [`client::CardBank`].
//! - [`virtual_card`] — the purse in memory, committed to a store (memory, JSON file).
//! - [`transport`] — readers: virtual, CCID (WebUSB), HID (WebHID), the localhost bridge.
//! - [`wire`] — bounds-checked big-endian field encoding.

pub mod apdu;
pub mod api;
pub mod card;
pub mod cert;
pub mod client;
pub mod exception;
pub mod host;
pub mod issuer;
pub mod keys;
pub mod load;
pub mod log;
pub mod message;
pub mod pin;
pub mod purse;
pub mod risk;
pub mod settle;
pub mod transfer;
pub mod transport;
pub mod unload;
pub mod virtual_card;
pub mod wire;

pub use apdu::{Command, Response, Sw};
pub use card::Card;
pub use cert::{CardCert, CardProfile, Mode};
pub use keys::{CardId, CardKey, CardPublicKey, IssuerKey, IssuerPublicKey};
pub use pin::Pin;
pub use purse::{AID, Purse, PurseState, PurseStatus};
pub use transfer::{Purpose, Terms};
pub use transport::{CardHandle, CardTransport, ReaderInfo, TransportError};
pub use virtual_card::VirtualCard;

/// Errors of parsing, verification and card exchanges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that are not a valid message.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// A signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// A certificate was not signed by the issuer.
    #[error("certificate not signed by the issuer (not a genuine purse)")]
    BadCertificate,
    /// Well-formed and signed, but not what was expected here.
    #[error("{0}")]
    Mismatch(&'static str),
    /// The card answered an error status word.
    #[error("card answered {0}")]
    Status(Sw),
    /// Amount arithmetic overflowed.
    #[error(transparent)]
    Amount(#[from] ecash_shared::AmountError),
    /// The reader or its transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// No randomness available.
    #[error("random number generator unavailable")]
    Rng,
    /// Persisting the card state failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The bank (issuer) could not be reached or refused (see [`client::CardBank`]).
    #[error("bank: {0}")]
    Bank(String),
}
