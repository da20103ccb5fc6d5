//! Refunds, in two steps.
//!
//! 1. `POST /v1/merchant/orders/{id}/refund {amount}` (merchant bearer): the
//!    merchant gives back part or all of a payment. `amount` must be at most
//!    paid − already refunded (`REFUND_TOO_LARGE`; an unpaid order has
//!    nothing to refund), the order must be the caller's (`FORBIDDEN`), and
//!    the merchant's balance must cover it (`INSUFFICIENT_FUNDS`). The
//!    merchant is debited at once (ledger kind `refund`).
//! 2. `POST /v1/orders/{id}/refund/claim {coin_pubs, sigs, outputs}` (no
//!    account): the payer, still anonymous, proves it paid by signing with
//!    the keys of **every** coin that paid the order (in any order) over
//!    `SpendMessage::Refund { order_id, outputs_hash: hash_outputs(outputs) }`,
//!    and gets the blinded `outputs` signed (`{blind_sigs}`). They must be
//!    worth exactly the unclaimed refund (`VALUE_MISMATCH`).
//!
//! A claim takes everything refunded and not yet claimed, so each refund is
//! claimed once: a second, different claim gets `REFUND_ALREADY_CLAIMED`
//! (until the merchant refunds more). An identical replay of a claim (same
//! order and outputs, valid signatures) returns the stored signatures, so a
//! wallet that lost the answer recovers, as with swap. No refund at all:
//! `NO_REFUND`. A key that did not pay the order, a bad signature, or
//! signatures missing for some of the paying coins: `BAD_COIN_SIGNATURE`.
//!
//! For the audit, claimed refunds are coins signed, balanced by the refund
//! debits (see [`audit`](crate::bank::audit)).

use std::collections::HashSet;

use ecash_shared::api::{MAX_COINS_PER_REQUEST, RefundClaimRequest};
use ecash_shared::coin::hash_outputs;
use ecash_shared::encoding::b64_encode;
use ecash_shared::{Amount, SpendMessage};
use sha2::{Digest, Sha256};

use super::Bank;
use super::merchant::{self, valid_order_id};
use super::pool::BlockingFailed;
use super::withdraw::{OutputError, check_outputs, sign_outputs};
use crate::storage::{
    AccountRecord, MAX_STORED_AMOUNT, NewRefund, NewRefundClaim, OpId, RefundClaimOutcome,
    RefundOutcome, StorageError,
};

/// Errors of the refund endpoints.
#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    /// The account is not a merchant.
    #[error("only merchant accounts can refund")]
    NotAMerchant,
    /// Zero or out-of-range amount.
    #[error("the amount must be between 1 and {} minor units", MAX_STORED_AMOUNT.minor())]
    InvalidAmount,
    /// `coin_pubs` and `sigs` differ in length.
    #[error("coin_pubs and sigs must have the same length")]
    Mismatched,
    /// No coin keys.
    #[error("the claim carries no coin keys")]
    NoCoins,
    /// Too many coin keys.
    #[error("at most {MAX_COINS_PER_REQUEST} coin keys per claim")]
    TooManyCoins,
    /// A coin key twice.
    #[error("coin {} appears more than once", b64_encode(.0))]
    DuplicateCoin([u8; 32]),
    /// A key that did not pay this order, or a signature that does not verify.
    #[error("coin {}: not a valid signature by a coin that paid this order", b64_encode(.0))]
    BadCoinSignature([u8; 32]),
    /// Some coins that paid the order did not sign.
    #[error("every coin that paid the order must sign the claim ({signed} of {paid} did)")]
    MissingSigners {
        /// Keys that signed.
        signed: usize,
        /// Coins that paid.
        paid: usize,
    },
    /// Outputs.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Storage: order not found, not yours, too large, no refund, …
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

/// A claim's id: the order and the outputs' hash (the coins are fixed by
/// the order).
fn claim_op_id(order_id: &str, outputs_hash: &[u8; 32]) -> OpId {
    let mut h = Sha256::new();
    for b in [
        b"ecash/v1/refund-claim".as_slice(),
        order_id.as_bytes(),
        outputs_hash,
    ] {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    }
    h.finalize().into()
}

impl Bank {
    /// Step 1: `merchant` gives back `amount` of its order `order_id`.
    pub fn refund(
        &self,
        merchant: &AccountRecord,
        order_id: String,
        amount: Amount,
    ) -> Result<RefundOutcome, RefundError> {
        if !merchant.merchant {
            return Err(RefundError::NotAMerchant);
        }
        if !valid_order_id(&order_id) {
            return Err(StorageError::OrderNotFound.into());
        }
        if amount.is_zero() || amount > MAX_STORED_AMOUNT {
            return Err(RefundError::InvalidAmount);
        }
        let outcome = self.storage.refund(&NewRefund {
            order_id: order_id.clone(),
            merchant_id: merchant.id,
            amount,
            now: merchant::now(self),
        })?;
        tracing::info!(order = %order_id, amount = amount.minor(), "refund granted");
        Ok(outcome)
    }

    /// Step 2: the payer claims the refund of order `order_id` as new coins:
    /// the blind signatures of `req.outputs`, in request order.
    pub fn claim_refund(
        &self,
        order_id: String,
        req: RefundClaimRequest,
    ) -> Result<Vec<Vec<u8>>, RefundError> {
        if !valid_order_id(&order_id) {
            return Err(StorageError::OrderNotFound.into());
        }
        if req.coin_pubs.is_empty() {
            return Err(RefundError::NoCoins);
        }
        if req.coin_pubs.len() > MAX_COINS_PER_REQUEST {
            return Err(RefundError::TooManyCoins);
        }
        if req.coin_pubs.len() != req.sigs.len() {
            return Err(RefundError::Mismatched);
        }
        let mut seen = HashSet::with_capacity(req.coin_pubs.len());
        for p in &req.coin_pubs {
            if !seen.insert(*p) {
                return Err(RefundError::DuplicateCoin(p.to_bytes()));
            }
        }
        let now = merchant::now(self);
        let (value, signers) = check_outputs(&self.keys, &req.outputs, now)?;
        let outputs_hash = hash_outputs(&req.outputs);
        let op_id = claim_op_id(&order_id, &outputs_hash);
        let currency = self.keys.currency();

        let order = self
            .storage
            .order(&order_id)?
            .ok_or(StorageError::OrderNotFound)?;
        if order.refunded.is_zero() {
            return Err(StorageError::NoRefund.into());
        }
        let paid: HashSet<[u8; 32]> = self.storage.order_coins(&order_id)?.into_iter().collect();
        let msg = SpendMessage::Refund {
            order_id: order_id.clone(),
            outputs_hash,
        };
        for (p, sig) in req.coin_pubs.iter().zip(&req.sigs) {
            if !paid.contains(p.as_bytes()) || !p.verify(&msg, sig) {
                return Err(RefundError::BadCoinSignature(p.to_bytes()));
            }
        }
        // No duplicates and all among the paying coins: equal counts mean
        // every paying coin signed.
        if req.coin_pubs.len() != paid.len() {
            return Err(RefundError::MissingSigners {
                signed: req.coin_pubs.len(),
                paid: paid.len(),
            });
        }
        if let Some(stored) = self.storage.find_refund_claim(&op_id)? {
            return Ok(stored);
        }
        // Refuse before the RSA work; the transaction checks again.
        let unclaimed = order
            .refunded
            .checked_sub(order.refund_claimed)
            .unwrap_or_default();
        if unclaimed.is_zero() {
            return Err(StorageError::RefundAlreadyClaimed.into());
        }
        if value != unclaimed {
            return Err(StorageError::RefundValueMismatch {
                outputs: value.minor(),
                refund: unclaimed.minor(),
            }
            .into());
        }
        let blind_sigs = sign_outputs(&req.outputs, &signers)?;
        let outcome = self.storage.claim_refund(&NewRefundClaim {
            op_id,
            order_id: order_id.clone(),
            currency,
            value,
            blind_sigs: blind_sigs.clone(),
            now,
        })?;
        tracing::info!(order = %order_id, value = value.minor(), "refund claimed");
        Ok(match outcome {
            RefundClaimOutcome::Claimed => blind_sigs,
            RefundClaimOutcome::Replayed(stored) => stored,
        })
    }
}
