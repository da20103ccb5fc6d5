//! Withdraw: `POST /v1/withdraw {request_id, coins:[{keyset_id, blinded_msg}]}`
//! (bearer) → `{blind_sigs}`; the account is debited by the coins' value.
//!
//! Order of work: validate, answer a replay from storage, check the balance
//! (cheap, so a poor account costs no RSA work), blind-sign in memory on the
//! blocking pool, then in ONE transaction re-check idempotency and balance,
//! debit and store the signatures. Signatures leave only after that commit:
//! if it fails, nothing is returned and nothing is debited.
//!
//! Idempotency: keyed by `(account, request_id)`; the body is identified by
//! `hash_outputs(coins)`. The same key and body returns the stored signatures
//! and debits nothing; the same key with another body is `IDEMPOTENCY_CONFLICT`.
//!
//! This module also holds the checks and signing of blinded outputs that swap
//! shares ([`check_outputs`], [`sign_outputs`]).

use std::collections::HashSet;
use std::sync::Arc;

use ecash_shared::api::{MAX_COINS_PER_REQUEST, WithdrawRequest};
use ecash_shared::blind_rsa;
use ecash_shared::coin::{BlindedCoin, hash_outputs};
use ecash_shared::encoding::{Timestamp, b64_decode};
use ecash_shared::{Amount, KeysetId};

use super::Bank;
use super::keys::Keys;
use super::pool::BlockingFailed;
use super::signer::Signer;
use crate::storage::{AccountRecord, NewWithdrawal, StorageError, WithdrawOutcome};

/// Why blinded outputs cannot be signed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// No outputs.
    #[error("the request carries no coins")]
    NoCoins,
    /// Over the limit.
    #[error("at most {MAX_COINS_PER_REQUEST} coins per request")]
    TooManyCoins,
    /// The same blinded message twice.
    #[error("blinded coin #{0} appears more than once")]
    DuplicateCoin(usize),
    /// Keyset unknown.
    #[error("unknown keyset {0}")]
    UnknownKeyset(KeysetId),
    /// Keyset past its withdraw window (or without a private key here).
    #[error("keyset {0} no longer signs coins")]
    KeysetExpired(KeysetId),
    /// Not modulus-sized, or not below the modulus.
    #[error("blinded coin #{0}: the blinded message is not valid for its key")]
    BadBlindedMessage(usize),
    /// Values overflow.
    #[error("the coins' values add up to more than can be represented")]
    AmountOverflow,
    /// The signer failed its self-check (a fault) or the RNG failed.
    #[error("blind signing failed")]
    SigningFailed(#[source] blind_rsa::Error),
}

/// Errors of `withdraw`.
#[derive(Debug, thiserror::Error)]
pub enum WithdrawError {
    /// Bad `request_id`.
    #[error("request_id must be 16 to 64 random bytes in unpadded base64url")]
    BadRequestId,
    /// Outputs.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Storage: insufficient funds, idempotency conflict, …
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

/// Checks blinded outputs: count, duplicates, keysets that may sign now, and
/// blinded messages of the modulus' length. Returns their total value and
/// the signing key of each.
pub fn check_outputs(
    keys: &Keys,
    outputs: &[BlindedCoin],
    now: Timestamp,
) -> Result<(Amount, Vec<Signer>), OutputError> {
    if outputs.is_empty() {
        return Err(OutputError::NoCoins);
    }
    if outputs.len() > MAX_COINS_PER_REQUEST {
        return Err(OutputError::TooManyCoins);
    }
    let mut seen = HashSet::with_capacity(outputs.len());
    let mut total = Amount::ZERO;
    let mut signers = Vec::with_capacity(outputs.len());
    for (i, o) in outputs.iter().enumerate() {
        let k = keys
            .get(&o.keyset_id)
            .ok_or(OutputError::UnknownKeyset(o.keyset_id))?;
        let secret = match &k.signer {
            Some(s) if k.keyset.can_withdraw(now) => Arc::clone(s),
            _ => return Err(OutputError::KeysetExpired(o.keyset_id)),
        };
        if o.blinded_msg.0.len() != k.keyset.public_key.modulus_len() {
            return Err(OutputError::BadBlindedMessage(i));
        }
        if !seen.insert(o.blinded_msg.as_slice()) {
            return Err(OutputError::DuplicateCoin(i));
        }
        total = total
            .checked_add(k.keyset.value)
            .map_err(|_| OutputError::AmountOverflow)?;
        signers.push(secret);
    }
    Ok((total, signers))
}

/// RFC 9474 §4.3 `BlindSign` of every output (CPU-bound: blocking pool).
pub fn sign_outputs(
    outputs: &[BlindedCoin],
    signers: &[Signer],
) -> Result<Vec<Vec<u8>>, OutputError> {
    outputs
        .iter()
        .zip(signers)
        .enumerate()
        .map(|(i, (o, sk))| {
            sk.blind_sign(o.blinded_msg.as_slice())
                .map_err(|e| match e {
                    blind_rsa::Error::InvalidInput => OutputError::BadBlindedMessage(i),
                    other => OutputError::SigningFailed(other),
                })
        })
        .collect()
}

fn valid_request_id(id: &str) -> bool {
    id.len() <= 128 && b64_decode(id).is_ok_and(|b| (16..=64).contains(&b.len()))
}

impl Bank {
    /// Withdraws `req.coins` from `account`: the blind signatures, in request
    /// order (those stored before, for a replay of the same request).
    pub fn withdraw(
        &self,
        account: &AccountRecord,
        req: WithdrawRequest,
        now: Timestamp,
    ) -> Result<Vec<Vec<u8>>, WithdrawError> {
        if !valid_request_id(&req.request_id) {
            return Err(WithdrawError::BadRequestId);
        }
        let (value, signers) = check_outputs(&self.keys, &req.coins, now)?;
        let request_hash = hash_outputs(&req.coins);
        if let Some(stored) = self.storage.find_withdrawal(account.id, &req.request_id)? {
            return if stored.request_hash == request_hash {
                Ok(stored.blind_sigs)
            } else {
                Err(StorageError::IdempotencyConflict.into())
            };
        }
        // Cheap, so a poor account costs no RSA work; the transaction checks again.
        if account.balance < value {
            return Err(StorageError::InsufficientFunds.into());
        }
        let blind_sigs = sign_outputs(&req.coins, &signers)?;
        let outcome = self.storage.withdraw(&NewWithdrawal {
            account_id: account.id,
            request_id: req.request_id,
            request_hash,
            currency: self.keys.currency(),
            value,
            blind_sigs: blind_sigs.clone(),
            created_at: now,
        })?;
        Ok(match outcome {
            WithdrawOutcome::Done { .. } => blind_sigs,
            WithdrawOutcome::Replayed(stored) => stored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(valid_request_id(&ecash_shared::encoding::b64_encode(
            &[7u8; 16]
        )));
        assert!(valid_request_id(&ecash_shared::encoding::b64_encode(
            &[7u8; 64]
        )));
        assert!(!valid_request_id(&ecash_shared::encoding::b64_encode(
            &[7u8; 15]
        )));
        assert!(!valid_request_id(&ecash_shared::encoding::b64_encode(
            &[7u8; 65]
        )));
        assert!(!valid_request_id("not base64!"));
        assert!(!valid_request_id(""));
    }
}
