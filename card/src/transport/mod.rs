//! Readers: the [`CardTransport`] trait (list readers, connect, transmit, disconnect) and
//! its implementations.
//!
//! - [`virtual_reader`] — virtual cards in memory (the wallet page, tests);
//! - [`ccid`] — USB CCID framing (pure codec + host logic over a [`ccid::BulkPipe`]) and a
//!   reader emulator; WebUSB supplies the pipe in the browser;
//! - [`hid`] — APDUs over 64-byte HID reports (Ledger-style framing) and a token
//!   emulator; WebHID supplies the reports in the browser;
//! - [`bridge`] — the JSON protocol of the localhost `card-bridge` (PC/SC over a
//!   WebSocket);
//! - `web` (wasm32 only) — WebUSB, WebHID and WebSocket glue.
//!
//! The trait is async because the browser's device APIs are; the virtual reader and the
//! emulators complete immediately. It is not `Send`: in the browser nothing is.

use serde::{Deserialize, Serialize};

pub mod bridge;
pub mod ccid;
pub mod hid;
pub mod virtual_reader;
#[cfg(target_arch = "wasm32")]
pub mod web;

/// What went wrong below the APDU layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No reader by that name.
    #[error("no reader named {0:?}")]
    NoSuchReader(String),
    /// The reader has no card.
    #[error("no card in the reader")]
    NoCard,
    /// The handle is not (or no longer) connected.
    #[error("unknown or closed card handle")]
    NoSuchHandle,
    /// A frame from the device or the bridge broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The device, browser API or socket failed.
    #[error("I/O error: {0}")]
    Io(String),
    /// The card bridge answered an error.
    #[error("bridge error {code}: {detail}")]
    Bridge {
        /// Error code (see [`bridge::codes`]).
        code: String,
        /// Human-readable detail.
        detail: String,
    },
    /// Not available here (e.g. WebHID outside a browser).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// A reader as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderInfo {
    /// The reader's name (unique on its transport).
    pub name: String,
    /// Whether a card is present.
    pub card_present: bool,
}

/// A connected card, as the transport numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CardHandle(pub u32);

/// A successful connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The handle for transmit and disconnect.
    pub handle: CardHandle,
    /// The card's answer-to-reset.
    pub atr: Vec<u8>,
}

/// Reaches cards: list readers, connect to one (power on), exchange APDUs, disconnect.
#[allow(async_fn_in_trait)] // Futures are not Send in the browser; no caller needs Send.
pub trait CardTransport {
    /// The readers and whether each holds a card.
    async fn list_readers(&mut self) -> Result<Vec<ReaderInfo>, TransportError>;

    /// Powers the card in `reader` and returns a handle and its ATR.
    async fn connect(&mut self, reader: &str) -> Result<Connected, TransportError>;

    /// One command APDU to the card, its response APDU back.
    async fn transmit(
        &mut self,
        handle: CardHandle,
        apdu: &[u8],
    ) -> Result<Vec<u8>, TransportError>;

    /// Releases (and powers off) the card.
    async fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError>;
}
