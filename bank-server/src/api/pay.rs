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

use actix_web::{HttpResponse, web};
use ecash_shared::api::{PayRequest, PayResponse, SpendCoin};
use ecash_shared::{ErrorCode, SpendMessage};

use crate::Bank;
use crate::api::error::{ApiError, BlockingFailed, blocking};
use crate::bank::merchant::{self, valid_order_id};
use crate::bank::spend::{self, SpendError};
use crate::storage::{
    NewOrder, OpId, SpendEffect, SpendOutcome, SpendRequest, StorageError, StoredPayment,
};

/// Errors of `pay`: those of [`spend`] (which carry the order's state
/// through its storage errors).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PayError(#[from] SpendError);

impl ApiError for PayError {
    fn code(&self) -> ErrorCode {
        self.0.code()
    }
}
crate::api_error!(PayError);

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

/// Registers the pay route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/orders/{id}/pay", web::post().to(pay));
}

/// The payment's operation id: the order and its coins, sorted, so the same
/// coins in another order are the same payment.
pub fn pay_op_id(order_id: &str, coins: &[SpendCoin]) -> OpId {
    let mut sorted = coins.to_vec();
    sorted.sort_by_key(|c| c.coin.coin_pub);
    spend::op_id("pay", &[order_id.as_bytes()], &sorted)
}

async fn pay(
    bank: web::Data<Bank>,
    path: web::Path<String>,
    body: web::Json<PayRequest>,
) -> Result<HttpResponse, PayError> {
    let order_id = path.into_inner();
    if !valid_order_id(&order_id) {
        return Err(StorageError::OrderNotFound.into());
    }
    let req = body.into_inner();
    spend::check_shape(&req.coins)?;
    let now = merchant::now(&bank);
    let op_id = pay_op_id(&order_id, &req.coins);
    let b = bank.clone();
    let (order, payment) = blocking(move || -> Result<(NewOrder, StoredPayment), PayError> {
        let order = b
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
        let value = spend::value_of(&b.keys, &req.coins, now)?;
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
        let verified = spend::verify(&b.keys, &req.coins, &msg, now)?;
        let bank_sig = merchant::sign_receipt(&b.keys, &order.order, now);
        let outcome = b.storage.spend(&SpendRequest {
            op_id,
            coins: verified.coins,
            value: verified.value,
            currency: verified.currency,
            effect: SpendEffect::OrderPayment {
                order_id: order.order.id.clone(),
                paid_at: now,
                bank_sig,
            },
            now,
        })?;
        match outcome {
            SpendOutcome::Paid(p) => Ok((order.order, p)),
            // `spend` with an order payment answers nothing else.
            _ => {
                Err(StorageError::backend(std::io::Error::other("unexpected spend outcome")).into())
            }
        }
    })
    .await?;
    bank.order_events.notify(&order.id);
    tracing::info!(order = %order.id, amount = order.amount.minor(), "order paid");
    Ok(HttpResponse::Ok().json(PayResponse {
        receipt: merchant::receipt(&order, &payment),
    }))
}
