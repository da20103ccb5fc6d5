//! The one code path that verifies and spends coins, used by deposit, swap
//! and merchant pay ([`pay`](crate::api::pay)).
//!
//! 1. [`check_shape`]: count limits and duplicates (cheap, before any crypto).
//! 2. [`verify`]: per coin, the keyset is known and inside its deposit window,
//!    the bank's RSA signature verifies and the coin key signed this
//!    operation's [`SpendMessage`]. CPU-bound: run it on the blocking pool,
//!    outside any database transaction.
//! 3. [`Storage::spend`](crate::storage::CoinStore::spend): in one transaction,
//!    no coin is spent yet, then all are recorded spent and the effect
//!    (credit, stored swap signatures) is applied. The spent set's primary key
//!    on `coin_pub` makes a double spend impossible even across processes.

use std::collections::HashSet;

use ecash_shared::api::{MAX_COINS_PER_REQUEST, SpendCoin};
use ecash_shared::encoding::{Timestamp, b64_encode};
use ecash_shared::{Amount, Currency, KeysetId, SpendMessage};
use sha2::{Digest, Sha256};

use crate::bank::keys::Keys;
use crate::bank::pool::BlockingFailed;
use crate::storage::{OpId, SpentCoin, StorageError};

/// Why coins cannot be spent.
#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    /// No coins.
    #[error("the request carries no coins")]
    NoCoins,
    /// Over the limit.
    #[error("at most {MAX_COINS_PER_REQUEST} coins per request")]
    TooManyCoins,
    /// The same coin twice.
    #[error("coin {} appears more than once", b64_encode(.0))]
    DuplicateCoin([u8; 32]),
    /// Keyset unknown to this bank.
    #[error("unknown keyset {0}")]
    UnknownKeyset(KeysetId),
    /// Keyset past its deposit window.
    #[error("keyset {0} is no longer valid for spending")]
    KeysetExpired(KeysetId),
    /// The bank's signature on the coin is invalid.
    #[error("coin {}: the bank's signature is invalid", b64_encode(.0))]
    BadDenominationSignature([u8; 32]),
    /// The coin key's signature is invalid for this operation.
    #[error("coin {}: the coin signature is invalid for this operation", b64_encode(.0))]
    BadCoinSignature([u8; 32]),
    /// The values overflow.
    #[error("the coins' values add up to more than can be represented")]
    AmountOverflow,
    /// Storage (already spent, …).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

/// Verified coins, ready for [`Storage::spend`](crate::storage::CoinStore::spend).
#[derive(Debug, Clone)]
pub struct VerifiedCoins {
    /// The coins as recorded in the spent set.
    pub coins: Vec<SpentCoin>,
    /// Their total value.
    pub value: Amount,
    /// Their currency.
    pub currency: Currency,
}

/// Count limits and duplicates.
pub fn check_shape(coins: &[SpendCoin]) -> Result<(), SpendError> {
    if coins.is_empty() {
        return Err(SpendError::NoCoins);
    }
    if coins.len() > MAX_COINS_PER_REQUEST {
        return Err(SpendError::TooManyCoins);
    }
    let mut seen = HashSet::with_capacity(coins.len());
    for c in coins {
        if !seen.insert(c.coin.coin_pub) {
            return Err(SpendError::DuplicateCoin(c.coin.coin_pub.to_bytes()));
        }
    }
    Ok(())
}

/// The total value of the coins by their keysets' values, without verifying
/// any signature (so a value check can fail before the expensive work).
pub fn value_of(keys: &Keys, coins: &[SpendCoin], now: Timestamp) -> Result<Amount, SpendError> {
    let mut total = Amount::ZERO;
    for c in coins {
        let k = keys
            .get(&c.coin.keyset_id)
            .ok_or(SpendError::UnknownKeyset(c.coin.keyset_id))?;
        if !k.keyset.can_deposit(now) {
            return Err(SpendError::KeysetExpired(c.coin.keyset_id));
        }
        total = total
            .checked_add(k.keyset.value)
            .map_err(|_| SpendError::AmountOverflow)?;
    }
    Ok(total)
}

/// Verifies every coin for `msg` (see the module docs). CPU-bound.
pub fn verify(
    keys: &Keys,
    coins: &[SpendCoin],
    msg: &SpendMessage,
    now: Timestamp,
) -> Result<VerifiedCoins, SpendError> {
    check_shape(coins)?;
    let value = value_of(keys, coins, now)?;
    let msg_bytes = msg.to_bytes();
    let mut out = Vec::with_capacity(coins.len());
    for c in coins {
        let k = keys
            .get(&c.coin.keyset_id)
            .ok_or(SpendError::UnknownKeyset(c.coin.keyset_id))?;
        if !c.coin.verify_denomination(&k.keyset) {
            return Err(SpendError::BadDenominationSignature(
                c.coin.coin_pub.to_bytes(),
            ));
        }
        if !c.coin.coin_pub.verify(msg, &c.coin_sig) {
            return Err(SpendError::BadCoinSignature(c.coin.coin_pub.to_bytes()));
        }
        out.push(SpentCoin {
            coin_pub: c.coin.coin_pub.to_bytes(),
            keyset_id: c.coin.keyset_id,
            currency: k.keyset.currency,
            value: k.keyset.value,
            msg_prefix: c.coin.msg_prefix,
            denom_sig: c.coin.sig.0.clone(),
            coin_sig: c.coin_sig.0,
            spend_msg: msg_bytes.clone(),
        });
    }
    Ok(VerifiedCoins {
        coins: out,
        value,
        currency: keys.currency(),
    })
}

/// A content-derived operation id: SHA-256 over a domain tag, the
/// operation's own fields, and the coins in request order.
pub fn op_id(kind: &str, fields: &[&[u8]], coins: &[SpendCoin]) -> OpId {
    let mut h = Sha256::new();
    let mut put = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    put(b"ecash/v1/op");
    put(kind.as_bytes());
    for f in fields {
        put(f);
    }
    for c in coins {
        put(c.coin.coin_pub.as_bytes());
    }
    h.finalize().into()
}
