//! The [`Card`] trait: what a smart card is to a reader — power, an ATR, and one response
//! APDU for each command APDU (ISO/IEC 7816-3/-4).

/// A smart card (real behind a reader, or [`crate::virtual_card::VirtualCard`]).
pub trait Card {
    /// The answer-to-reset.
    fn atr(&self) -> &[u8];

    /// Power on or warm reset: the card's session (selection, PIN status) starts afresh.
    fn reset(&mut self);

    /// Power off: the session is lost; persistent state stays.
    fn power_off(&mut self);

    /// One command APDU in, one response APDU (`data || SW1 SW2`) out. Never panics;
    /// malformed commands get an error status word.
    fn transmit(&mut self, command: &[u8]) -> Vec<u8>;
}

impl<C: Card + ?Sized> Card for Box<C> {
    fn atr(&self) -> &[u8] {
        (**self).atr()
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn power_off(&mut self) {
        (**self).power_off()
    }
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        (**self).transmit(command)
    }
}
