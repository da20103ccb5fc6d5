//! Identities and signatures: card ids, the issuer's and the cards' ed25519 keys, and
//! the domain-separated message every signature covers.
//!
//! Every signed message is `"ecash/v1/card/" || len(tag) || tag || body`, where `tag`
//! names the message type (`cert`, `request`, `value`, `ack`, `load`, `load-receipt`,
//! `unload`, `unlock`, `exception`, `clear`, `lock-report`, `settle`) and `body` its fixed-layout encoding, so a
//! signature for one message type never verifies as another.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::Error;

/// Prefix of every message a card or the issuer signs.
pub const DOMAIN: &[u8] = b"ecash/v1/card/";

/// The bytes a signature covers: domain, message tag, body.
pub fn signing_input(tag: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOMAIN.len() + 1 + tag.len() + body.len());
    out.extend_from_slice(DOMAIN);
    // Tags are short ASCII literals of this crate (< 256 bytes).
    out.push(u8::try_from(tag.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Serde for fixed-size byte arrays as lower-case hex strings.
pub(crate) mod hex_array {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(s.as_bytes(), &mut out)
            .map_err(|_| serde::de::Error::custom(format!("expected {N} hex-encoded bytes")))?;
        Ok(out)
    }
}

/// Serde for variable-length bytes as lower-case hex strings.
pub(crate) mod hex_vec {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(s.as_bytes()).map_err(|_| serde::de::Error::custom("expected hex"))
    }
}

/// A card's identity: 8 bytes the issuer assigns when it certifies the card.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CardId(#[serde(with = "hex_array")] pub [u8; 8]);

impl fmt::Display for CardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for CardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardId({self})")
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "hex_array")] pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..8]))
    }
}

/// An ed25519 public key: a valid, non-small-order point (checked when parsed).
#[derive(Clone, Copy, PartialEq, Eq)]
struct PubKey(VerifyingKey);

impl PubKey {
    fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        let key =
            VerifyingKey::from_bytes(bytes).map_err(|_| Error::Malformed("bad public key"))?;
        if key.is_weak() {
            return Err(Error::Malformed("weak public key"));
        }
        Ok(PubKey(key))
    }

    /// Strict verification (no malleable signatures, no small-order components).
    fn verify(&self, tag: &str, body: &[u8], sig: &Signature) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0
            .verify_strict(&signing_input(tag, body), &sig)
            .is_ok()
    }
}

macro_rules! public_key_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub struct $name(PubKey);

        impl $name {
            /// Parses 32 bytes; rejects non-points and small-order keys.
            pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
                PubKey::from_bytes(bytes).map($name)
            }

            /// The 32 bytes.
            pub fn to_bytes(&self) -> [u8; 32] {
                self.0 .0.to_bytes()
            }

            /// Whether `sig` is this key's signature over message `tag` with `body`.
            pub fn verify(&self, tag: &str, body: &[u8], sig: &Signature) -> bool {
                self.0.verify(tag, body, sig)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.to_bytes()))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.to_bytes()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let bytes: [u8; 32] = hex_array::deserialize(d)?;
                $name::from_bytes(&bytes).map_err(serde::de::Error::custom)
            }
        }
    };
}

public_key_type!(
    /// The issuer's (the bank's) public key: certifies cards and signs loads, unlocks
    /// and exception-log clearances. Written into each card at initialization.
    IssuerPublicKey
);
public_key_type!(
    /// A card's public key, certified by the issuer in its [`crate::cert::CardCert`].
    CardPublicKey
);

/// An ed25519 signing key. Zeroized on drop (ed25519-dalek's `zeroize` feature), never
/// printed; serialized (hex seed) only into the card's own persisted state.
#[derive(Clone)]
struct SecretKey(SigningKey);

impl SecretKey {
    fn generate() -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|_| Error::Rng)?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    fn sign(&self, tag: &str, body: &[u8]) -> Signature {
        Signature(self.0.sign(&signing_input(tag, body)).to_bytes())
    }
}

impl Serialize for SecretKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let seed = Zeroizing::new(self.0.to_bytes());
        let text = Zeroizing::new(hex::encode(seed.as_ref()));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(<String>::deserialize(d)?);
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.as_bytes(), seed.as_mut())
            .map_err(|_| serde::de::Error::custom("expected a 32-byte hex seed"))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }
}

macro_rules! secret_key_type {
    ($(#[$doc:meta])* $name:ident, $public:ident) => {
        $(#[$doc])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(SecretKey);

        impl $name {
            /// A fresh random key (getrandom: the OS, or WebCrypto in the browser).
            pub fn generate() -> Result<Self, Error> {
                SecretKey::generate().map($name)
            }

            /// A key from a 32-byte seed (tests and deterministic personalization).
            pub fn from_seed(seed: &[u8; 32]) -> Self {
                $name(SecretKey(SigningKey::from_bytes(seed)))
            }

            /// The public key.
            pub fn public(&self) -> $public {
                $public(PubKey(self.0 .0.verifying_key()))
            }

            /// Signs message `tag` with `body` (see [`signing_input`]).
            pub fn sign(&self, tag: &str, body: &[u8]) -> Signature {
                self.0.sign(tag, body)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(redacted)"))
            }
        }
    };
}

secret_key_type!(
    /// The issuer's signing key (held by the bank).
    IssuerKey,
    IssuerPublicKey
);
secret_key_type!(
    /// A card's signing key: generated on the card, never leaves it.
    CardKey,
    CardPublicKey
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_domain_separated() {
        let k = CardKey::from_seed(&[7; 32]);
        let sig = k.sign("value", b"body");
        assert!(k.public().verify("value", b"body", &sig));
        assert!(!k.public().verify("ack", b"body", &sig));
        assert!(!k.public().verify("value", b"bodz", &sig));
        let other = IssuerKey::from_seed(&[8; 32]);
        assert!(!other.public().verify("value", b"body", &Signature(sig.0)));
    }

    #[test]
    fn secrets_are_not_printed_and_keys_round_trip() {
        let k = CardKey::from_seed(&[7; 32]);
        assert_eq!(format!("{k:?}"), "CardKey(redacted)");
        let json = serde_json::to_string(&k).unwrap();
        let back: CardKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back.public(), k.public());
        let pubjson = serde_json::to_string(&k.public()).unwrap();
        assert_eq!(
            serde_json::from_str::<CardPublicKey>(&pubjson).unwrap(),
            k.public()
        );
        // The identity point is small-order: rejected.
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert!(CardPublicKey::from_bytes(&ident).is_err());
    }
}
