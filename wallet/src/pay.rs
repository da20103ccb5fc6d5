//! Pay a merchant order: fetch and check the contract, get exact coins (making
//! change with a swap if needed), log the intent, pay, verify and keep the receipt.
//!
//! Paying is idempotent at the bank (the same coins for the same order return
//! the same receipt), so a lost answer is recovered by replaying.

use ecash_shared::api::{Contract, PayRequest, Receipt};
use ecash_shared::coin::SpendMessage;

use crate::WalletError;
use crate::model::{HistoryEntry, HistoryKind, OpKind, PendingOp};
use crate::storage::{Storage, Store, Write};
use crate::transport::Transport;
use crate::wallet::Wallet;

impl<S: Storage, T: Transport> Wallet<S, T> {
    /// Fetches an order's contract and checks it: the hash matches the fields,
    /// the currency is the bank's, and it has not expired.
    pub async fn contract(&self, order_id: &str) -> Result<Contract, WalletError> {
        let contract = self.client.contract(order_id).await?;
        if contract.order_id != order_id || !contract.hash_is_valid() {
            return Err(WalletError::Protocol(
                "the contract's hash does not match its terms".into(),
            ));
        }
        let keys = self.keys().await?;
        if contract.currency != keys.currency {
            return Err(WalletError::Order(format!(
                "the order is in {}, this bank issues {}",
                contract.currency, keys.currency
            )));
        }
        Ok(contract)
    }

    /// The receipt of an order this wallet already paid, if any.
    pub async fn receipt_for(&self, order_id: &str) -> Result<Option<HistoryEntry>, WalletError> {
        Ok(self.history().await?.into_iter().find(|h| {
            h.kind == HistoryKind::Payment
                && h.receipt.as_ref().is_some_and(|r| r.order_id == order_id)
        }))
    }

    /// Pays an order; returns the bank-signed receipt.
    pub async fn pay(&self, order_id: &str) -> Result<Receipt, WalletError> {
        if let Some(r) = self.receipt_for(order_id).await?.and_then(|h| h.receipt) {
            return Ok(r);
        }
        let contract = self.contract(order_id).await?;
        if contract.expires_at <= self.now() {
            return Err(WalletError::Order(
                "this order has expired: ask the shop for a new one".into(),
            ));
        }
        let coins = self.exact_coins(contract.amount).await?;
        let msg = SpendMessage::Pay {
            contract_hash: contract.contract_hash,
        };
        let op = self
            .log_spend(&coins, &msg, |coins| OpKind::Pay { contract, coins })
            .await?;
        self.run_pay(&op).await
    }

    /// Sends (or replays) a logged payment and records the receipt.
    pub(crate) async fn run_pay(&self, op: &PendingOp) -> Result<Receipt, WalletError> {
        let OpKind::Pay { contract, coins } = &op.kind else {
            return Err(WalletError::Protocol("not a payment".into()));
        };
        let keys: Vec<String> = coins.iter().map(|c| c.coin.coin_pub.to_string()).collect();
        let req = PayRequest {
            coins: coins.clone(),
        };
        let resp = match self.client.pay(&contract.order_id, &req).await {
            Ok(r) => r,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                // Refused (expired, paid by someone else, ...): the coins come back.
                self.release_or_drop(&op.id, &keys).await?;
                return Err(e);
            }
        };
        let receipt = resp.receipt;
        let bank = self.keys().await?;
        if receipt.order_id != contract.order_id
            || receipt.contract_hash != contract.contract_hash
            || receipt.amount != contract.amount
            || !receipt.verify(&bank.receipt_key)
        {
            return Err(WalletError::Protocol("the receipt does not verify".into()));
        }
        let balance = self.balance().await?;
        // Keep the paying coins' keys: they prove the payment if the merchant refunds.
        let paying: Vec<(ecash_shared::CoinPub, [u8; 32])> = self
            .coins()
            .await?
            .iter()
            .filter(|c| keys.contains(&c.key()))
            .map(|c| (c.coin.coin_pub, c.secret))
            .collect();
        let mut writes: Vec<Write> = keys
            .iter()
            .map(|k| Write::Delete(Store::Coins, k.clone()))
            .collect();
        writes.push(Write::Delete(Store::Ops, op.id.clone()));
        writes.push(crate::refund::remember_payment(
            &contract.order_id,
            &paying,
        )?);
        writes.push(
            self.history_write(
                HistoryKind::Payment,
                contract.amount,
                false,
                balance,
                format!("{}: {}", contract.merchant, contract.summary),
                Some((contract.clone(), receipt.clone())),
            )
            .await?,
        );
        self.storage.commit(writes).await?;
        Ok(receipt)
    }
}
