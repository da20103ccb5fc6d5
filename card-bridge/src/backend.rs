//! Readers behind the bridge: [`PcscBackend`] (the real PC/SC stack through `pcscd`)
//! and [`VirtualBackend`] (purses in memory, for tests and demos without PC/SC). Each
//! page session gets its own backend; handles are per session.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_card::transport::{CardHandle, CardTransport, ReaderInfo, TransportError};

/// Handles one session may hold at once.
pub const MAX_HANDLES: usize = 8;

/// A reader stack the server drives (blocking).
pub trait ReaderBackend {
    /// Readers and card presence.
    fn list(&mut self) -> Result<Vec<ReaderInfo>, TransportError>;
    /// Connects to the card in `reader`: a handle and the ATR.
    fn connect(&mut self, reader: &str) -> Result<(CardHandle, Vec<u8>), TransportError>;
    /// Exchanges one APDU.
    fn transmit(&mut self, handle: CardHandle, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;
    /// Releases a card (and resets it, so no PIN state outlives the session).
    fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError>;
    /// Open handles.
    fn handles(&self) -> usize;
}

fn reader_error(e: pcsc::Error) -> TransportError {
    match e {
        pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => TransportError::NoCard,
        pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable => {
            TransportError::NoSuchReader(e.to_string())
        }
        pcsc::Error::InvalidHandle => TransportError::NoSuchHandle,
        e => TransportError::Io(format!("PC/SC: {e}")),
    }
}

/// PC/SC through `pcscd` (libpcsclite).
pub struct PcscBackend {
    ctx: pcsc::Context,
    cards: BTreeMap<CardHandle, pcsc::Card>,
    next: u32,
}

impl core::fmt::Debug for PcscBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PcscBackend({} cards)", self.cards.len())
    }
}

impl PcscBackend {
    /// Establishes a PC/SC context (fails if `pcscd` is not running).
    pub fn new() -> Result<Self, TransportError> {
        Ok(PcscBackend {
            ctx: pcsc::Context::establish(pcsc::Scope::User).map_err(reader_error)?,
            cards: BTreeMap::new(),
            next: 0,
        })
    }
}

impl ReaderBackend for PcscBackend {
    fn list(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        let names = match self.ctx.list_readers_owned() {
            Ok(n) => n,
            Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
            Err(e) => return Err(reader_error(e)),
        };
        let mut states: Vec<pcsc::ReaderState> = names
            .iter()
            .map(|n| pcsc::ReaderState::new(n.clone(), pcsc::State::UNAWARE))
            .collect();
        self.ctx
            .get_status_change(Duration::ZERO, &mut states)
            .map_err(reader_error)?;
        Ok(states
            .iter()
            .map(|s| ReaderInfo {
                name: s.name().to_string_lossy().into_owned(),
                card_present: s.event_state().contains(pcsc::State::PRESENT),
            })
            .collect())
    }

    fn connect(&mut self, reader: &str) -> Result<(CardHandle, Vec<u8>), TransportError> {
        let name =
            CString::new(reader).map_err(|_| TransportError::NoSuchReader(reader.to_owned()))?;
        let card = self
            .ctx
            .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .map_err(reader_error)?;
        // SCardStatus rather than the ATR attribute: not every driver (vpcd) has it.
        let atr = card.status2_owned().map_err(reader_error)?.atr().to_vec();
        self.next = self.next.wrapping_add(1);
        let handle = CardHandle(self.next);
        self.cards.insert(handle, card);
        Ok((handle, atr))
    }

    fn transmit(&mut self, handle: CardHandle, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let card = self
            .cards
            .get(&handle)
            .ok_or(TransportError::NoSuchHandle)?;
        let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        let response = card.transmit(apdu, &mut buf).map_err(reader_error)?;
        Ok(response.to_vec())
    }

    fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        let card = self
            .cards
            .remove(&handle)
            .ok_or(TransportError::NoSuchHandle)?;
        card.disconnect(pcsc::Disposition::ResetCard)
            .map_err(|(_, e)| reader_error(e))
    }

    fn handles(&self) -> usize {
        self.cards.len()
    }
}

impl Drop for PcscBackend {
    fn drop(&mut self) {
        for (_, card) in core::mem::take(&mut self.cards) {
            let _ = card.disconnect(pcsc::Disposition::ResetCard);
        }
    }
}

/// Runs a future that completes without waiting (the virtual reader's).
fn ready<F: Future>(f: F) -> Result<F::Output, TransportError> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Ok(v),
        Poll::Pending => Err(TransportError::Io("virtual reader would block".into())),
    }
}

/// Virtual purses in a [`VirtualReader`].
#[derive(Debug)]
pub struct VirtualBackend {
    reader: VirtualReader,
    open: usize,
}

impl VirtualBackend {
    /// A backend over `reader`.
    pub fn new(reader: VirtualReader) -> Self {
        VirtualBackend { reader, open: 0 }
    }
}

impl ReaderBackend for VirtualBackend {
    fn list(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        ready(self.reader.list_readers())?
    }

    fn connect(&mut self, reader: &str) -> Result<(CardHandle, Vec<u8>), TransportError> {
        let c = ready(self.reader.connect(reader))??;
        self.open += 1;
        Ok((c.handle, c.atr))
    }

    fn transmit(&mut self, handle: CardHandle, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        ready(self.reader.transmit(handle, apdu))?
    }

    fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        ready(self.reader.disconnect(handle))??;
        self.open = self.open.saturating_sub(1);
        Ok(())
    }

    fn handles(&self) -> usize {
        self.open
    }
}
