//! Denomination keysets: one RSA blind-signing key per coin value
//! ("use a different signature key for each coin denomination").

use core::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::amount::{Amount, Currency};
use crate::blind_rsa::PublicKey;
use crate::encoding::{Bytes, Timestamp, b64_array, b64_encode};

/// A keyset's identifier: SHA-256 of its public key's DER `SubjectPublicKeyInfo`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeysetId(#[serde(with = "b64_array")] pub [u8; 32]);

impl KeysetId {
    /// The id of a public key given as DER.
    pub fn of_der(der: &[u8]) -> Self {
        KeysetId(Sha256::digest(der).into())
    }
}

impl fmt::Display for KeysetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64_encode(&self.0))
    }
}

impl fmt::Debug for KeysetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeysetId({self})")
    }
}

/// A keyset as published in `/v1/keys` (the currency is given once for all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysetInfo {
    /// SHA-256 of `public_key`.
    pub id: KeysetId,
    /// Value of every coin signed with this key.
    pub value: Amount,
    /// Blind-signature scheme, `RSABSSA-SHA384-PSS-Randomized`.
    pub scheme: String,
    /// DER `SubjectPublicKeyInfo` of the RSA key.
    pub public_key: Bytes,
    /// Coins may be withdrawn (signed) until this time.
    pub withdraw_until: Timestamp,
    /// Coins may be deposited, paid or swapped until this time.
    pub deposit_until: Timestamp,
}

/// Why a published keyset was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeysetError {
    /// The id is not the SHA-256 of the key.
    #[error("keyset id does not match its public key")]
    IdMismatch,
    /// The key does not parse or has an unsupported size.
    #[error("invalid keyset public key")]
    BadKey,
    /// The scheme is not the one coins use.
    #[error("unsupported scheme {0}")]
    UnsupportedScheme(String),
    /// Zero value or a deposit window ending before the withdraw window.
    #[error("inconsistent keyset: {0}")]
    Inconsistent(&'static str),
}

/// A verified keyset: the id matches the key, the key parses, the windows make sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyset {
    /// The id (SHA-256 of the DER key).
    pub id: KeysetId,
    /// Value of each coin.
    pub value: Amount,
    /// Currency of the value.
    pub currency: Currency,
    /// The parsed public key.
    pub public_key: PublicKey,
    /// End of the withdraw window.
    pub withdraw_until: Timestamp,
    /// End of the deposit window.
    pub deposit_until: Timestamp,
}

impl Keyset {
    /// Checks a published keyset and parses its key.
    pub fn from_info(info: &KeysetInfo, currency: Currency) -> Result<Self, KeysetError> {
        if info.scheme != crate::COIN_SCHEME {
            return Err(KeysetError::UnsupportedScheme(info.scheme.clone()));
        }
        if KeysetId::of_der(info.public_key.as_slice()) != info.id {
            return Err(KeysetError::IdMismatch);
        }
        if info.value.is_zero() {
            return Err(KeysetError::Inconsistent("zero value"));
        }
        if info.deposit_until < info.withdraw_until {
            return Err(KeysetError::Inconsistent(
                "deposit window ends before withdraw window",
            ));
        }
        let public_key =
            PublicKey::from_der(info.public_key.as_slice()).map_err(|_| KeysetError::BadKey)?;
        Ok(Keyset {
            id: info.id,
            value: info.value,
            currency,
            public_key,
            withdraw_until: info.withdraw_until,
            deposit_until: info.deposit_until,
        })
    }

    /// The published form.
    pub fn to_info(&self) -> Result<KeysetInfo, KeysetError> {
        Ok(KeysetInfo {
            id: self.id,
            value: self.value,
            scheme: crate::COIN_SCHEME.to_owned(),
            public_key: Bytes(self.public_key.to_der().map_err(|_| KeysetError::BadKey)?),
            withdraw_until: self.withdraw_until,
            deposit_until: self.deposit_until,
        })
    }

    /// Whether coins may be withdrawn at `now`.
    pub fn can_withdraw(&self, now: Timestamp) -> bool {
        now < self.withdraw_until
    }

    /// Whether coins may be spent (deposit, pay, swap) at `now`.
    pub fn can_deposit(&self, now: Timestamp) -> bool {
        now < self.deposit_until
    }
}
