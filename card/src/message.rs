//! Signed messages: a fixed-layout body plus an ed25519 signature over
//! [`crate::keys::signing_input`]`(TAG, body)`. Wire form: `body || signature (64)`.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::keys::{CardKey, CardPublicKey, IssuerKey, IssuerPublicKey, Signature};
use crate::wire::{Reader, Writer};

/// A message body that is signed as a unit.
pub trait Body: Sized + Clone + PartialEq {
    /// The message tag inside the signed bytes (domain separation).
    const TAG: &'static str;
    /// Encoded body length.
    const LEN: usize;
    /// Writes the fixed-layout body.
    fn write(&self, w: &mut Writer);
    /// Reads the fixed-layout body.
    fn read(r: &mut Reader<'_>) -> Result<Self, Error>;

    /// The encoded body.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        self.write(&mut w);
        w.finish()
    }
}

/// A body with its signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed<T> {
    /// What was signed.
    pub body: T,
    /// The signature over the body.
    pub sig: Signature,
}

impl<T: Body> Signed<T> {
    /// Encoded length: body and signature.
    pub const LEN: usize = T::LEN + 64;

    /// Signs with a card key.
    pub fn by_card(body: T, key: &CardKey) -> Self {
        let sig = key.sign(T::TAG, &body.to_bytes());
        Signed { body, sig }
    }

    /// Signs with the issuer key.
    pub fn by_issuer(body: T, key: &IssuerKey) -> Self {
        let sig = key.sign(T::TAG, &body.to_bytes());
        Signed { body, sig }
    }

    /// Checks the signature of a card.
    pub fn verify_card(&self, key: &CardPublicKey) -> Result<(), Error> {
        if key.verify(T::TAG, &self.body.to_bytes(), &self.sig) {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }

    /// Checks the issuer's signature.
    pub fn verify_issuer(&self, key: &IssuerPublicKey) -> Result<(), Error> {
        if key.verify(T::TAG, &self.body.to_bytes(), &self.sig) {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }

    /// `body || signature`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        self.body.write(&mut w);
        w.bytes(&self.sig.0);
        w.finish()
    }

    /// Parses exactly `body || signature` (the signature is not checked here).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != Self::LEN {
            return Err(Error::Malformed("wrong message length"));
        }
        let mut r = Reader::new(bytes);
        let body = T::read(&mut r)?;
        let sig = Signature(r.array()?);
        r.finish()?;
        Ok(Signed { body, sig })
    }
}

impl<T: Body + fmt::Debug> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signed<{}>({:?})", T::TAG, self.body)
    }
}

impl<T: Body> Serialize for Signed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.to_bytes()))
    }
}

impl<'de, T: Body> Deserialize<'de> for Signed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes = hex::decode(text.as_bytes()).map_err(serde::de::Error::custom)?;
        Signed::parse(&bytes).map_err(serde::de::Error::custom)
    }
}
