//! Denomination keysets (public records; the private keys are in the key file).

use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency, KeysetId};

use super::*;

/// A denomination keyset's public record (the private key is in the key file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetRecord {
    /// SHA-256 of `public_key`.
    pub id: KeysetId,
    /// Currency.
    pub currency: Currency,
    /// Value of each coin.
    pub value: Amount,
    /// DER `SubjectPublicKeyInfo`.
    pub public_key: Vec<u8>,
    /// End of the withdraw window.
    pub withdraw_until: Timestamp,
    /// End of the deposit window.
    pub deposit_until: Timestamp,
}

/// Denomination keysets. One transaction per method (see the module docs of [`crate::storage`]).
pub trait KeysetStore {
    /// Records a keyset; an existing id is left as it is.
    fn insert_keyset(&self, keyset: &KeysetRecord) -> Result<(), StorageError>;
    /// All keysets.
    fn keysets(&self) -> Result<Vec<KeysetRecord>, StorageError>;
    /// Moves a keyset's withdraw window end (rotation).
    fn set_withdraw_until(&self, id: &KeysetId, until: Timestamp) -> Result<(), StorageError>;
}
