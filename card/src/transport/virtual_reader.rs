//! A reader with virtual cards in it: each slot is a named reader holding a
//! [`VirtualCard`]. Clones share the slots, so two purse clients in one page (one per
//! card) can pay each other through the same reader.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use zeroize::Zeroizing;

use super::{CardHandle, CardTransport, Connected, ReaderInfo, TransportError};
use crate::card::Card;
use crate::virtual_card::VirtualCard;

#[derive(Debug, Default)]
struct Inner {
    slots: Vec<(String, Option<VirtualCard>)>,
    /// Open handle → slot index.
    handles: BTreeMap<CardHandle, usize>,
    next_handle: u32,
}

/// Virtual cards in named slots (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct VirtualReader(Rc<RefCell<Inner>>);

impl VirtualReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `card` in the slot `name` (created if needed); the old card is returned.
    pub fn insert(&self, name: &str, card: VirtualCard) -> Option<VirtualCard> {
        let mut inner = self.0.borrow_mut();
        match inner.slots.iter().position(|(n, _)| n == name) {
            Some(i) => {
                inner.handles.retain(|_, slot| *slot != i);
                inner.slots[i].1.replace(card)
            }
            None => {
                inner.slots.push((name.to_owned(), Some(card)));
                None
            }
        }
    }

    /// Takes the card out of slot `name` (its handles close).
    pub fn remove(&self, name: &str) -> Option<VirtualCard> {
        let mut inner = self.0.borrow_mut();
        let i = inner.slots.iter().position(|(n, _)| n == name)?;
        inner.handles.retain(|_, slot| *slot != i);
        inner.slots[i].1.take()
    }

    /// Runs `f` on the card in slot `name`.
    pub fn with_card<R>(&self, name: &str, f: impl FnOnce(&mut VirtualCard) -> R) -> Option<R> {
        let mut inner = self.0.borrow_mut();
        let slot = inner.slots.iter_mut().find(|(n, _)| n == name)?;
        slot.1.as_mut().map(f)
    }

    /// The committed state JSON of the card in slot `name` (secret), for persistence.
    pub fn state_json(&self, name: &str) -> Option<Zeroizing<String>> {
        self.with_card(name, |c| c.state_json())
    }
}

impl CardTransport for VirtualReader {
    async fn list_readers(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        Ok(self
            .0
            .borrow()
            .slots
            .iter()
            .map(|(name, card)| ReaderInfo {
                name: name.clone(),
                card_present: card.is_some(),
            })
            .collect())
    }

    async fn connect(&mut self, reader: &str) -> Result<Connected, TransportError> {
        let mut inner = self.0.borrow_mut();
        let index = inner
            .slots
            .iter()
            .position(|(n, _)| n == reader)
            .ok_or_else(|| TransportError::NoSuchReader(reader.to_owned()))?;
        let shared = inner.handles.values().any(|&s| s == index);
        let card = inner.slots[index]
            .1
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
        let mut inner = self.0.borrow_mut();
        let index = *inner
            .handles
            .get(&handle)
            .ok_or(TransportError::NoSuchHandle)?;
        let card = inner.slots[index]
            .1
            .as_mut()
            .ok_or(TransportError::NoCard)?;
        Ok(card.transmit(apdu))
    }

    async fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        let mut inner = self.0.borrow_mut();
        let index = inner
            .handles
            .remove(&handle)
            .ok_or(TransportError::NoSuchHandle)?;
        if !inner.handles.values().any(|&s| s == index)
            && let Some(card) = inner.slots[index].1.as_mut()
        {
            card.power_off();
        }
        Ok(())
    }
}
