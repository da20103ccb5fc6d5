//! PINs and PUKs with retry counters (ISO 7816-4 VERIFY / CHANGE REFERENCE DATA /
//! RESET RETRY COUNTER). A PIN is 4–8 ASCII digits carried as an 8-byte field padded with
//! `0xFF` (the PIV convention), so every comparison is over 8 bytes, in constant time.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::Error;
use crate::apdu::Sw;

/// Length of the PIN field in VERIFY and friends.
pub const PIN_FIELD_LEN: usize = 8;
/// Wrong PIN tries before the PIN blocks.
pub const PIN_TRIES: u8 = 3;
/// Wrong PUK tries before the PUK blocks for good.
pub const PUK_TRIES: u8 = 10;

/// A PIN or PUK: digits padded with `0xFF` to 8 bytes. Zeroized on drop, compared in
/// constant time, never printed.
#[derive(Clone)]
pub struct Pin(Zeroizing<[u8; PIN_FIELD_LEN]>);

impl Pin {
    /// A PIN of 4 to 8 decimal digits.
    pub fn new(digits: &str) -> Result<Self, Error> {
        Self::with_len(digits, 4..=8)
    }

    /// A PUK: exactly 8 decimal digits.
    pub fn new_puk(digits: &str) -> Result<Self, Error> {
        Self::with_len(digits, 8..=8)
    }

    fn with_len(digits: &str, len: core::ops::RangeInclusive<usize>) -> Result<Self, Error> {
        let b = digits.as_bytes();
        if !len.contains(&b.len()) || !b.iter().all(u8::is_ascii_digit) {
            return Err(Error::Malformed("a PIN is 4-8 digits, a PUK 8 digits"));
        }
        let mut field = Zeroizing::new([0xFFu8; PIN_FIELD_LEN]);
        field[..b.len()].copy_from_slice(b);
        Ok(Pin(field))
    }

    /// Parses the 8-byte field: 4–8 digits then `0xFF` padding.
    pub fn from_field(field: &[u8]) -> Result<Self, Error> {
        let field: &[u8; PIN_FIELD_LEN] = field
            .try_into()
            .map_err(|_| Error::Malformed("PIN field is 8 bytes"))?;
        let digits = field.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits < 4 || field[digits..].iter().any(|&b| b != 0xFF) {
            return Err(Error::Malformed("PIN field is 4-8 digits padded with FF"));
        }
        Ok(Pin(Zeroizing::new(*field)))
    }

    /// The 8-byte field, for a command APDU.
    pub fn field(&self) -> Zeroizing<[u8; PIN_FIELD_LEN]> {
        self.0.clone()
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &Pin) -> bool {
        self.0.as_ref().ct_eq(other.0.as_ref()).into()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(redacted)")
    }
}

impl Serialize for Pin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(hex::encode(self.0.as_ref())))
    }
}

impl<'de> Deserialize<'de> for Pin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let mut field = Zeroizing::new([0u8; PIN_FIELD_LEN]);
        hex::decode_to_slice(text.as_bytes(), field.as_mut())
            .map_err(|_| serde::de::Error::custom("bad PIN field"))?;
        Pin::from_field(field.as_ref()).map_err(serde::de::Error::custom)
    }
}

/// A reference value with its retry counter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinCounter {
    value: Pin,
    tries_left: u8,
    max_tries: u8,
}

impl PinCounter {
    /// A fresh counter with `max_tries` tries.
    pub fn new(value: Pin, max_tries: u8) -> Self {
        PinCounter {
            value,
            tries_left: max_tries,
            max_tries,
        }
    }

    /// Tries left before blocking.
    pub fn tries_left(&self) -> u8 {
        self.tries_left
    }

    /// Whether the counter is exhausted.
    pub fn is_blocked(&self) -> bool {
        self.tries_left == 0
    }

    /// Checks an attempt: `Ok` resets the counter; a wrong value costs a try and answers
    /// `63Cx` (x tries left); a blocked reference answers `6983` without comparing.
    pub fn verify(&mut self, attempt: &Pin) -> Result<(), Sw> {
        if self.is_blocked() {
            return Err(Sw::AUTH_BLOCKED);
        }
        // Decrement first, as a card does before comparing (a power cut in between must
        // not give a free try); restore on success.
        self.tries_left -= 1;
        if self.value.ct_eq(attempt) {
            self.tries_left = self.max_tries;
            Ok(())
        } else {
            Err(Sw::retries_left(self.tries_left))
        }
    }

    /// Sets a new reference value and resets the counter.
    pub fn reset(&mut self, value: Pin) {
        self.value = value;
        self.tries_left = self.max_tries;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_format() {
        assert!(Pin::new("123").is_err());
        assert!(Pin::new("123456789").is_err());
        assert!(Pin::new("12a4").is_err());
        assert!(Pin::new_puk("1234567").is_err());
        let p = Pin::new("1234").unwrap();
        assert_eq!(*p.field(), [b'1', b'2', b'3', b'4', 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(Pin::from_field(&*p.field()).unwrap().ct_eq(&p));
        assert!(Pin::from_field(&[b'1', b'2', b'3', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(Pin::from_field(&[b'1', b'2', b'3', b'4', 0xFF, b'5', 0xFF, 0xFF]).is_err());
        assert!(Pin::from_field(&[b'1'; 7]).is_err());
        assert_eq!(format!("{p:?}"), "Pin(redacted)");
    }

    #[test]
    fn counter_blocks_after_max_tries() {
        let mut c = PinCounter::new(Pin::new("1234").unwrap(), 3);
        let wrong = Pin::new("0000").unwrap();
        assert_eq!(c.verify(&wrong), Err(Sw::retries_left(2)));
        assert_eq!(c.verify(&Pin::new("1234").unwrap()), Ok(()));
        assert_eq!(c.tries_left(), 3);
        assert_eq!(c.verify(&wrong), Err(Sw::retries_left(2)));
        assert_eq!(c.verify(&wrong), Err(Sw::retries_left(1)));
        assert_eq!(c.verify(&wrong), Err(Sw::retries_left(0)));
        assert_eq!(c.verify(&Pin::new("1234").unwrap()), Err(Sw::AUTH_BLOCKED));
        c.reset(Pin::new("5678").unwrap());
        assert_eq!(c.verify(&Pin::new("5678").unwrap()), Ok(()));
    }
}
