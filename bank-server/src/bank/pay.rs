//! Pay a merchant order: `POST /v1/orders/{id}/pay {coins:[{coin, coin_sig}]}`
//! → `{receipt}`. No account: the coins are the payment.
//!
//! Each `coin_sig` signs `SpendMessage::Pay { contract_hash }` of the order,
//! so coins signed for one contract pay no other. The coins go through the
//! one spend path ([`spend`]): verified on the blocking pool, then ONE
//! transaction checks the order (unpaid, not expired, the amount) and the
//! spent set, records the coins spent, credits the merchant (ledger kind
//! `order_payment`) and marks the order paid with the receipt.
//!
//! The receipt — `{order_id, contract_hash, amount, paid_at, bank_sig}` —
//! is signed with the bank's ed25519 receipt key (`receipt_key` in
//! `/v1/keys`) over `Receipt::signed_bytes`.
//!
//! Idempotent: the payment is keyed by the order and its set of coins (in
//! any order), so the same coins for the same order return the stored
//! receipt (the receipt is public through the status endpoint anyway). Other
//! coins for a paid order get `ORDER_ALREADY_PAID` and nothing is spent;
//! two concurrent payments of one order: exactly one wins.
//!
//! Checks, in order: the order exists (`ORDER_NOT_FOUND`); replay; paid by
//! others (`ORDER_ALREADY_PAID`); expired (`ORDER_EXPIRED`); the coins' value
//! by their keysets equals the amount (`WRONG_AMOUNT`); every coin verifies
//! (`BAD_DENOMINATION_SIGNATURE`, `BAD_COIN_SIGNATURE`, …); no coin is spent
//! (`COIN_ALREADY_SPENT`).

use ecash_shared::SpendMessage;
use ecash_shared::api::{PayRequest, SpendCoin};

use super::Bank;
use super::merchant::{self, valid_order_id};
use super::pool::BlockingFailed;
use super::spend::{self, SpendError};
use crate::storage::{NewOrder, OpId, OrderPayment, SpendRequest, StorageError, StoredPayment};

/// Errors of `pay`: those of [`spend`] (which carry the order's state
/// through its storage errors).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PayError(#[from] pub SpendError);

impl From<StorageError> for PayError {
    fn from(e: StorageError) -> Self {
        PayError(SpendError::Storage(e))
    }
}
impl From<BlockingFailed> for PayError {
    fn from(e: BlockingFailed) -> Self {
        PayError(SpendError::Blocking(e))
    }
}

/// The payment's operation id: the order and its coins, sorted, so the same
/// coins in another order are the same payment.
pub fn pay_op_id(order_id: &str, coins: &[SpendCoin]) -> OpId {
    let mut sorted = coins.to_vec();
    sorted.sort_by_key(|c| c.coin.coin_pub);
    spend::op_id("pay", &[order_id.as_bytes()], &sorted)
}

impl Bank {
    /// Pays order `order_id` with `req.coins`: the order and its payment (made
    /// now, or by an identical earlier request).
    pub fn pay(
        &self,
        order_id: String,
        req: PayRequest,
    ) -> Result<(NewOrder, StoredPayment), PayError> {
        if !valid_order_id(&order_id) {
            return Err(StorageError::OrderNotFound.into());
        }
        spend::check_shape(&req.coins)?;
        let now = merchant::now(self);
        let op_id = pay_op_id(&order_id, &req.coins);
        let order = self
            .storage
            .order(&order_id)?
            .ok_or(StorageError::OrderNotFound)?;
        // Cheap refusals first; the transaction checks all of them again.
        if let Some(p) = &order.payment {
            if p.op_id == op_id {
                return Ok((order.order, p.clone()));
            }
            return Err(StorageError::OrderAlreadyPaid.into());
        }
        if now >= order.order.expires_at {
            return Err(StorageError::OrderExpired.into());
        }
        let value = spend::value_of(&self.keys, &req.coins, now)?;
        if value != order.order.amount {
            return Err(StorageError::WrongAmount {
                value: value.minor(),
                amount: order.order.amount.minor(),
            }
            .into());
        }
        let msg = SpendMessage::Pay {
            contract_hash: order.order.contract_hash,
        };
        let verified = spend::verify(&self.keys, &req.coins, &msg, now)?;
        let bank_sig = merchant::sign_receipt(&self.keys, &order.order, now);
        let payment = self.storage.spend_payment(&SpendRequest {
            op_id,
            coins: verified.coins,
            value: verified.value,
            currency: verified.currency,
            effect: OrderPayment {
                order_id: order.order.id.clone(),
                paid_at: now,
                bank_sig,
            },
            now,
        })?;
        tracing::info!(order = %order.order.id, amount = order.order.amount.minor(), "order paid");
        Ok((order.order, payment))
    }
}
