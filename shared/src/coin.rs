//! Coins. A coin is an ed25519 key pair whose public key the bank blind-signed
//! (Taler's improvement on DigiCash): spending needs a `coin_sig` by the coin's
//! secret key over what it pays for, so a coin seen in transit cannot be
//! redirected to another payment.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::blind_rsa::{self, MSG_PREFIX_LEN, PreparedMessage};
use crate::encoding::{Bytes, b64_array, b64_decode, b64_encode};
use crate::keyset::{Keyset, KeysetId};

/// A coin's secret: an ed25519 signing key. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct CoinSecret(SigningKey);

impl CoinSecret {
    /// A fresh random coin secret.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())?;
        Ok(CoinSecret(SigningKey::from_bytes(&seed)))
    }

    /// Restores a stored secret.
    pub fn from_bytes(seed: &[u8; 32]) -> Self {
        CoinSecret(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for the wallet's storage.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The coin's public key: the message the bank blind-signs.
    pub fn coin_pub(&self) -> CoinPub {
        CoinPub(self.0.verifying_key())
    }

    /// Signs a spend message with the coin key.
    pub fn sign(&self, msg: &SpendMessage) -> CoinSig {
        CoinSig(self.0.sign(&msg.to_bytes()).to_bytes())
    }
}

impl fmt::Debug for CoinSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CoinSecret(redacted)")
    }
}

/// A coin's public key, a valid ed25519 point (checked when parsed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CoinPub(VerifyingKey);

/// Bytes that are not a usable coin public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid coin public key")]
pub struct InvalidCoinPub;

impl CoinPub {
    /// Parses 32 bytes; rejects non-points and small-order (weak) keys.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, InvalidCoinPub> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| InvalidCoinPub)?;
        if key.is_weak() {
            return Err(InvalidCoinPub);
        }
        Ok(CoinPub(key))
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 32 bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Checks a coin signature over `msg` (strict verification: no malleability).
    pub fn verify(&self, msg: &SpendMessage, sig: &CoinSig) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0.verify_strict(&msg.to_bytes(), &sig).is_ok()
    }
}

impl PartialOrd for CoinPub {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for CoinPub {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}
impl core::hash::Hash for CoinPub {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Display for CoinPub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64_encode(self.as_bytes()))
    }
}
impl fmt::Debug for CoinPub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CoinPub({self})")
    }
}

impl Serialize for CoinPub {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64_encode(self.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for CoinPub {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let v =
            b64_decode(&s).map_err(|_| serde::de::Error::custom("invalid unpadded base64url"))?;
        let arr = <[u8; 32]>::try_from(v.as_slice())
            .map_err(|_| serde::de::Error::custom("coin_pub must be 32 bytes"))?;
        CoinPub::from_bytes(&arr).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature by a coin key over a [`SpendMessage`].
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CoinSig(#[serde(with = "b64_array")] pub [u8; 64]);

impl fmt::Debug for CoinSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CoinSig({})", b64_encode(&self.0))
    }
}

/// What a coin key signs. Each purpose has its own tag, so a signature made
/// for one purpose is never valid for another (domain separation).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpendMessage {
    /// Pay a merchant order, identified by its contract hash.
    Pay {
        /// SHA-256 of the canonical contract.
        contract_hash: [u8; 32],
    },
    /// Deposit into the named account.
    Deposit {
        /// The account credited.
        account: String,
    },
    /// Swap into the blinded outputs with this hash (see [`hash_outputs`]).
    Swap {
        /// Hash of the outputs.
        outputs_hash: [u8; 32],
    },
    /// Claim a refund of an order paid with this coin into these outputs.
    Refund {
        /// The order refunded.
        order_id: String,
        /// Hash of the outputs.
        outputs_hash: [u8; 32],
    },
}

const SPEND_DOMAIN: &[u8] = b"ecash/v1/coin-sig";

impl SpendMessage {
    /// The exact bytes signed: domain, tag, then each field length-prefixed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        let field = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        field(&mut out, SPEND_DOMAIN);
        match self {
            SpendMessage::Pay { contract_hash } => {
                field(&mut out, b"pay");
                field(&mut out, contract_hash);
            }
            SpendMessage::Deposit { account } => {
                field(&mut out, b"deposit");
                field(&mut out, account.as_bytes());
            }
            SpendMessage::Swap { outputs_hash } => {
                field(&mut out, b"swap");
                field(&mut out, outputs_hash);
            }
            SpendMessage::Refund {
                order_id,
                outputs_hash,
            } => {
                field(&mut out, b"refund");
                field(&mut out, order_id.as_bytes());
                field(&mut out, outputs_hash);
            }
        }
        out
    }
}

/// A blinded coin to be signed: which key, and the blinded message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlindedCoin {
    /// Keyset (and so value) to sign with.
    pub keyset_id: KeysetId,
    /// RFC 9474 `blinded_msg`.
    pub blinded_msg: Bytes,
}

/// The hash a swap or refund claim's coin signatures commit to: SHA-256 over
/// the domain tag and each output's keyset id and blinded message, in order.
pub fn hash_outputs(outputs: &[BlindedCoin]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"ecash/v1/outputs");
    h.update((outputs.len() as u64).to_be_bytes());
    for o in outputs {
        h.update(o.keyset_id.0);
        h.update((o.blinded_msg.0.len() as u64).to_be_bytes());
        h.update(&o.blinded_msg.0);
    }
    h.finalize().into()
}

/// A coin: the bank's signature on a coin public key. Whoever also holds the
/// matching [`CoinSecret`] can spend it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coin {
    /// The keyset that signed it (its value).
    pub keyset_id: KeysetId,
    /// The coin's public key.
    pub coin_pub: CoinPub,
    /// The RFC 9474 random prefix.
    #[serde(with = "b64_array")]
    pub msg_prefix: [u8; MSG_PREFIX_LEN],
    /// The RSA signature over `msg_prefix || coin_pub`.
    pub sig: Bytes,
}

impl Coin {
    /// The message the RSA signature covers (RFC 9474 `input_msg`).
    pub fn input_msg(&self) -> Vec<u8> {
        blind_rsa::prepare_with_prefix(
            crate::COIN_VARIANT,
            self.coin_pub.as_bytes(),
            Some(self.msg_prefix),
        )
        .input_msg
    }

    /// Checks the bank's signature with the coin's keyset.
    pub fn verify_denomination(&self, keyset: &Keyset) -> bool {
        keyset.id == self.keyset_id
            && blind_rsa::verify(
                &keyset.public_key,
                crate::COIN_VARIANT,
                &self.input_msg(),
                self.sig.as_slice(),
            )
            .is_ok()
    }
}

/// A coin being withdrawn: everything the wallet must keep (in its intent log,
/// before sending) to turn the bank's blind signature into a coin.
#[derive(Debug, Clone)]
pub struct PlanchetSecrets {
    /// The coin secret.
    pub secret: CoinSecret,
    /// The prepared message (`msg_prefix || coin_pub`).
    pub prepared: PreparedMessage,
    /// Blinding inverse.
    pub inv: blind_rsa::BlindingInverse,
    /// What is sent to the bank.
    pub blinded: BlindedCoin,
}

/// Why a planchet could not be made or finished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanchetError {
    /// Random number generator failure.
    #[error("random number generator failure")]
    Rng,
    /// The blind signature did not verify, or another blind-RSA failure.
    #[error(transparent)]
    BlindRsa(#[from] blind_rsa::Error),
}

impl PlanchetSecrets {
    /// Creates a coin secret and blinds its public key for `keyset`.
    pub fn create(keyset: &Keyset) -> Result<Self, PlanchetError> {
        let secret = CoinSecret::generate().map_err(|_| PlanchetError::Rng)?;
        let coin_pub = secret.coin_pub();
        let prepared = blind_rsa::prepare(crate::COIN_VARIANT, coin_pub.as_bytes())?;
        let blinded =
            blind_rsa::blind(&keyset.public_key, crate::COIN_VARIANT, &prepared.input_msg)?;
        Ok(PlanchetSecrets {
            secret,
            prepared,
            inv: blinded.inv,
            blinded: BlindedCoin {
                keyset_id: keyset.id,
                blinded_msg: Bytes(blinded.blinded_msg),
            },
        })
    }

    /// Creates `count` planchets for one keyset, sharing the blinding's modular
    /// inversion among them ([`blind_rsa::blind_many`]).
    pub fn create_many(keyset: &Keyset, count: usize) -> Result<Vec<Self>, PlanchetError> {
        let mut secrets = Vec::with_capacity(count);
        let mut prepared = Vec::with_capacity(count);
        for _ in 0..count {
            let secret = CoinSecret::generate().map_err(|_| PlanchetError::Rng)?;
            prepared.push(blind_rsa::prepare(
                crate::COIN_VARIANT,
                secret.coin_pub().as_bytes(),
            )?);
            secrets.push(secret);
        }
        let msgs: Vec<&[u8]> = prepared.iter().map(|p| p.input_msg.as_slice()).collect();
        let blinded = blind_rsa::blind_many(&keyset.public_key, crate::COIN_VARIANT, &msgs)?;
        Ok(secrets
            .into_iter()
            .zip(prepared)
            .zip(blinded)
            .map(|((secret, prepared), b)| PlanchetSecrets {
                secret,
                prepared,
                inv: b.inv,
                blinded: BlindedCoin {
                    keyset_id: keyset.id,
                    blinded_msg: Bytes(b.blinded_msg),
                },
            })
            .collect())
    }

    /// Unblinds and verifies the bank's blind signature into a coin.
    pub fn finish(&self, keyset: &Keyset, blind_sig: &[u8]) -> Result<Coin, PlanchetError> {
        let sig = blind_rsa::finalize(
            &keyset.public_key,
            crate::COIN_VARIANT,
            &self.prepared.input_msg,
            blind_sig,
            &self.inv,
        )?;
        let msg_prefix = self
            .prepared
            .msg_prefix
            .ok_or(PlanchetError::BlindRsa(blind_rsa::Error::InvalidInput))?;
        Ok(Coin {
            keyset_id: keyset.id,
            coin_pub: self.secret.coin_pub(),
            msg_prefix,
            sig: Bytes(sig),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_messages_are_domain_separated() {
        let h = [7u8; 32];
        let msgs = [
            SpendMessage::Pay { contract_hash: h },
            SpendMessage::Swap { outputs_hash: h },
            SpendMessage::Deposit {
                account: "alice".into(),
            },
            SpendMessage::Refund {
                order_id: String::new(),
                outputs_hash: h,
            },
        ];
        let secret = CoinSecret::generate().unwrap();
        let pubkey = secret.coin_pub();
        for (i, a) in msgs.iter().enumerate() {
            let sig = secret.sign(a);
            for (j, b) in msgs.iter().enumerate() {
                assert_eq!(pubkey.verify(b, &sig), i == j, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn weak_and_invalid_coin_pubs_are_rejected() {
        // The identity point is small-order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(CoinPub::from_bytes(&identity).is_err());
        assert!(serde_json::from_str::<CoinPub>("\"AAAA\"").is_err());
    }
}
