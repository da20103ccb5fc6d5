//! Refund claims: when a merchant refunds an order this wallet paid, the wallet
//! claims fresh coins anonymously, proving with the paying coins' keys that
//! it paid (`POST /v1/orders/{id}/refund/claim`).
//!
//! After each payment the wallet keeps the paying coins' secrets under
//! `paid/{order_id}` in the meta store; [`Wallet::check_refunds`] (run by
//! `resume`, i.e. at start and after login) asks the bank about each paid
//! order and claims what was refunded and not yet claimed. The claim goes
//! through the intent log like every value-moving request: an identical
//! replay returns the bank's stored signatures.

use ecash_shared::api::{OrderState, RefundClaimRequest};
use ecash_shared::coin::{CoinSecret, SpendMessage, hash_outputs};
use ecash_shared::encoding::b64_array;
use ecash_shared::{Amount, CoinPub, denom};
use serde::{Deserialize, Serialize};

use crate::WalletError;
use crate::model::{HistoryKind, OpKind, PendingOp};
use crate::storage::{Storage, Store, Write};
use crate::transport::Transport;
use crate::wallet::{Wallet, flatten, from_json, random_id, split_err, to_json};

/// Prefix of the meta keys that remember paid orders.
const PAID: &str = "paid/";

/// A paid order and the secrets of the coins that paid it.
#[derive(Clone, Serialize, Deserialize)]
pub struct PaidOrder {
    /// The order.
    pub order_id: String,
    /// The coins that paid it: public key and secret seed.
    pub coins: Vec<PaidCoin>,
    /// Refund value already claimed.
    pub claimed: Amount,
}

/// One paying coin.
#[derive(Clone, Serialize, Deserialize)]
pub struct PaidCoin {
    /// Its public key.
    pub coin_pub: CoinPub,
    /// Its secret seed (needed to sign the claim).
    #[serde(with = "b64_array")]
    pub secret: [u8; 32],
}

impl Drop for PaidCoin {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl core::fmt::Debug for PaidOrder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PaidOrder")
            .field("order_id", &self.order_id)
            .field("claimed", &self.claimed)
            .finish_non_exhaustive()
    }
}

/// The meta-store write that remembers a payment's coins.
pub(crate) fn remember_payment(
    order_id: &str,
    coins: &[(CoinPub, [u8; 32])],
) -> Result<Write, WalletError> {
    let record = PaidOrder {
        order_id: order_id.to_owned(),
        coins: coins
            .iter()
            .map(|(coin_pub, secret)| PaidCoin {
                coin_pub: *coin_pub,
                secret: *secret,
            })
            .collect(),
        claimed: Amount::ZERO,
    };
    Ok(Write::Put(
        Store::Meta,
        format!("{PAID}{order_id}"),
        to_json(&record)?,
    ))
}

impl<S: Storage, T: Transport> Wallet<S, T> {
    /// Claims every refund the bank reports for orders this wallet paid.
    /// Returns the value claimed.
    pub async fn check_refunds(&self) -> Result<Amount, WalletError> {
        let paid: Vec<PaidOrder> = self
            .storage
            .list(Store::Meta)
            .await?
            .iter()
            .filter(|(k, _)| k.starts_with(PAID))
            .map(|(_, v)| from_json(v))
            .collect::<Result<_, _>>()?;
        let pending_claims: Vec<String> = self
            .pending()
            .await?
            .into_iter()
            .filter_map(|op| match op.kind {
                OpKind::RefundClaim { order_id, .. } => Some(order_id),
                _ => None,
            })
            .collect();
        let mut total = Amount::ZERO;
        for order in paid {
            if pending_claims.contains(&order.order_id) {
                continue; // resume finishes it
            }
            let status = self.client.order_status(&order.order_id).await?;
            let refunded = status.refunded.unwrap_or(Amount::ZERO);
            if status.state != OrderState::Refunded || refunded <= order.claimed {
                continue;
            }
            let amount = refunded
                .checked_sub(order.claimed)
                .map_err(crate::wallet::amount_err)?;
            total = total
                .checked_add(self.claim(&order, amount).await?)
                .map_err(crate::wallet::amount_err)?;
        }
        Ok(total)
    }

    async fn claim(&self, order: &PaidOrder, amount: Amount) -> Result<Amount, WalletError> {
        let keys = self.keys().await?;
        let denoms: Vec<Amount> = keys.withdrawable(self.now()).keys().copied().collect();
        let values = flatten(&denom::split(amount, &denoms).map_err(split_err)?);
        let outputs = self.make_planchets(&values, &|_| {}).await?;
        let blinded: Vec<_> = outputs.iter().map(|p| p.blinded.clone()).collect();
        let msg = SpendMessage::Refund {
            order_id: order.order_id.clone(),
            outputs_hash: hash_outputs(&blinded),
        };
        let request = RefundClaimRequest {
            coin_pubs: order.coins.iter().map(|c| c.coin_pub).collect(),
            sigs: order
                .coins
                .iter()
                .map(|c| CoinSecret::from_bytes(&c.secret).sign(&msg))
                .collect(),
            outputs: blinded,
        };
        let op = PendingOp {
            id: random_id()?,
            created_at: self.now(),
            kind: OpKind::RefundClaim {
                order_id: order.order_id.clone(),
                request,
                outputs,
                amount,
            },
        };
        self.storage
            .commit(vec![Write::Put(Store::Ops, op.id.clone(), to_json(&op)?)])
            .await?;
        self.run_refund_claim(&op).await
    }

    /// Sends (or replays) a logged refund claim and stores its coins.
    pub(crate) async fn run_refund_claim(&self, op: &PendingOp) -> Result<Amount, WalletError> {
        let OpKind::RefundClaim {
            order_id,
            request,
            outputs,
            amount,
        } = &op.kind
        else {
            return Err(WalletError::Protocol("not a refund claim".into()));
        };
        let resp = match self.client.claim_refund(order_id, request).await {
            Ok(r) => r,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                // Refused: nothing was signed. Forget the attempt; the next
                // check asks the bank again.
                self.storage
                    .commit(vec![Write::Delete(Store::Ops, op.id.clone())])
                    .await?;
                return Err(e);
            }
        };
        if resp.blind_sigs.len() != outputs.len() {
            return Err(WalletError::Protocol(
                "wrong number of blind signatures".into(),
            ));
        }
        let now = self.now();
        let mut writes = Vec::with_capacity(outputs.len() + 3);
        for (p, sig) in outputs.iter().zip(&resp.blind_sigs) {
            let keyset = self.keyset(&p.blinded.keyset_id).await?;
            let coin = p.finish(&keyset, sig.as_slice(), now)?;
            writes.push(Write::Put(Store::Coins, coin.key(), to_json(&coin)?));
        }
        let key = format!("{PAID}{order_id}");
        if let Some(raw) = self.storage.get(Store::Meta, &key).await? {
            let mut record: PaidOrder = from_json(&raw)?;
            record.claimed = record
                .claimed
                .checked_add(*amount)
                .map_err(crate::wallet::amount_err)?;
            writes.push(Write::Put(Store::Meta, key, to_json(&record)?));
        }
        writes.push(Write::Delete(Store::Ops, op.id.clone()));
        let balance = self.balance_plus(*amount).await?;
        writes.push(
            self.history_write(
                HistoryKind::Refund,
                *amount,
                true,
                balance,
                format!("refund of order {order_id}"),
                None,
            )
            .await?,
        );
        self.storage.commit(writes).await?;
        Ok(*amount)
    }
}
