//! A reader with virtual cards in it: each slot is a named reader holding a
//! [`VirtualCard`]. Clones share the slots, so two purse clients in one page (one per
//! card) can pay each other through the same reader.
//!
//! In the browser, storage is asynchronous (IndexedDB): give the reader a
//! [`Persister`] and every command that changes a card's state is answered only after
//! the persister has stored the new state; if it fails, the card goes back to the old
//! state and answers `6581` (the command did not happen). A response never leaves
//! before its state is durable — without that, a crash after a VALUE left but before
//! the debit was stored would let the purse pay twice. Commands to one card are
//! serialized: a second one while a write is pending gets a transport error.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use zeroize::Zeroizing;

use super::{CardHandle, CardTransport, Connected, ReaderInfo, TransportError};
use crate::Error;
use crate::apdu::{Response, Sw};
use crate::card::Card;
use crate::virtual_card::VirtualCard;

/// Stores a card's new state: `(slot name, state JSON)` → done or failed.
pub type Persister =
    Rc<dyn Fn(String, Zeroizing<String>) -> Pin<Box<dyn Future<Output = Result<(), Error>>>>>;

#[derive(Debug)]
struct Slot {
    name: String,
    card: Option<VirtualCard>,
    busy: bool,
}

#[derive(Default)]
struct Inner {
    slots: Vec<Slot>,
    /// Open handle → slot index.
    handles: BTreeMap<CardHandle, usize>,
    next_handle: u32,
    persister: Option<Persister>,
}

/// Virtual cards in named slots (see the module docs).
#[derive(Clone, Default)]
pub struct VirtualReader(Rc<RefCell<Inner>>);

impl core::fmt::Debug for VirtualReader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let inner = self.0.borrow();
        let names: Vec<&str> = inner.slots.iter().map(|s| s.name.as_str()).collect();
        write!(f, "VirtualReader({names:?})")
    }
}

impl VirtualReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Commits every state change through `persister` before answering (see the module
    /// docs).
    pub fn set_persister(&self, persister: Persister) {
        self.0.borrow_mut().persister = Some(persister);
    }

    /// Puts `card` in the slot `name` (created if needed); the old card is returned.
    pub fn insert(&self, name: &str, card: VirtualCard) -> Option<VirtualCard> {
        let mut inner = self.0.borrow_mut();
        match inner.slots.iter().position(|s| s.name == name) {
            Some(i) => {
                inner.handles.retain(|_, slot| *slot != i);
                inner.slots[i].card.replace(card)
            }
            None => {
                inner.slots.push(Slot {
                    name: name.to_owned(),
                    card: Some(card),
                    busy: false,
                });
                None
            }
        }
    }

    /// Takes the card out of slot `name` (its handles close).
    pub fn remove(&self, name: &str) -> Option<VirtualCard> {
        let mut inner = self.0.borrow_mut();
        let i = inner.slots.iter().position(|s| s.name == name)?;
        inner.handles.retain(|_, slot| *slot != i);
        inner.slots[i].card.take()
    }

    /// Runs `f` on the card in slot `name`.
    pub fn with_card<R>(&self, name: &str, f: impl FnOnce(&mut VirtualCard) -> R) -> Option<R> {
        let mut inner = self.0.borrow_mut();
        let slot = inner.slots.iter_mut().find(|s| s.name == name)?;
        slot.card.as_mut().map(f)
    }

    /// The committed state JSON of the card in slot `name` (secret), for persistence.
    pub fn state_json(&self, name: &str) -> Option<Zeroizing<String>> {
        self.with_card(name, |c| c.state_json())
    }

    fn set_busy(&self, index: usize, busy: bool) {
        if let Some(slot) = self.0.borrow_mut().slots.get_mut(index) {
            slot.busy = busy;
        }
    }
}

impl CardTransport for VirtualReader {
    async fn list_readers(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        Ok(self
            .0
            .borrow()
            .slots
            .iter()
            .map(|s| ReaderInfo {
                name: s.name.clone(),
                card_present: s.card.is_some(),
            })
            .collect())
    }

    async fn connect(&mut self, reader: &str) -> Result<Connected, TransportError> {
        let mut inner = self.0.borrow_mut();
        let index = inner
            .slots
            .iter()
            .position(|s| s.name == reader)
            .ok_or_else(|| TransportError::NoSuchReader(reader.to_owned()))?;
        let shared = inner.handles.values().any(|&s| s == index);
        let card = inner.slots[index]
            .card
            .as_mut()
            .ok_or(TransportError::NoCard)?;
        if !shared {
            card.reset();
        }
        let atr = card.atr().to_vec();
        inner.next_handle = inner.next_handle.wrapping_add(1);
        let handle = CardHandle(inner.next_handle);
        inner.handles.insert(handle, index);
        Ok(Connected { handle, atr })
    }

    async fn transmit(
        &mut self,
        handle: CardHandle,
        apdu: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        let (index, name, before, response, after, persister) = {
            let mut inner = self.0.borrow_mut();
            let index = *inner
                .handles
                .get(&handle)
                .ok_or(TransportError::NoSuchHandle)?;
            let persister = inner.persister.clone();
            let slot = &mut inner.slots[index];
            if slot.busy {
                return Err(TransportError::Io(
                    "the card is still storing its previous state".into(),
                ));
            }
            let card = slot.card.as_mut().ok_or(TransportError::NoCard)?;
            let before = card.state_json();
            let response = card.transmit(apdu);
            let after = card.state_json();
            (index, slot.name.clone(), before, response, after, persister)
        };
        let Some(persister) = persister else {
            return Ok(response);
        };
        if *before == *after {
            return Ok(response);
        }
        self.set_busy(index, true);
        let stored = persister(name, after).await;
        self.set_busy(index, false);
        if stored.is_err() {
            let mut inner = self.0.borrow_mut();
            if let Some(card) = inner.slots[index].card.as_mut() {
                // `before` was committed by this card: it parses back.
                let _ = card.restore(&before);
            }
            return Ok(Response::status(Sw::MEMORY_FAILURE).to_bytes());
        }
        Ok(response)
    }

    async fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        let mut inner = self.0.borrow_mut();
        let index = inner
            .handles
            .remove(&handle)
            .ok_or(TransportError::NoSuchHandle)?;
        if !inner.handles.values().any(|&s| s == index)
            && let Some(card) = inner.slots[index].card.as_mut()
        {
            card.power_off();
        }
        Ok(())
    }
}
