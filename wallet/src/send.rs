//! Send and receive: coins passed person to person as a token string.
//!
//! Sending takes exact coins out of the wallet into a token (one atomic commit;
//! the token is kept so the sender can take it back while it is unclaimed).
//! Receiving verifies the coins and swaps them at once, so the sender cannot
//! spend them again.

use ecash_shared::Amount;
use ecash_shared::denom;

use crate::WalletError;
use crate::model::{HistoryKind, OpKind, PendingOp, SentToken, SwapPurpose};
use crate::storage::{Storage, Store, Write};
use crate::token;
use crate::transport::Transport;
use crate::wallet::{Wallet, flatten, random_id, split_err, sum, to_json};

impl<S: Storage, T: Transport> Wallet<S, T> {
    /// Takes coins worth `amount` out of the wallet into a token string.
    pub async fn send(&self, amount: Amount) -> Result<String, WalletError> {
        let coins = self.exact_coins(amount).await?;
        let pairs: Vec<_> = coins
            .iter()
            .map(|c| (c.coin.clone(), c.coin_secret()))
            .collect();
        let token = token::encode(&self.client.transport().bank_url(), &pairs)?;
        let id = random_id()?;
        let sent = SentToken {
            id: id.clone(),
            at: self.now(),
            amount,
            token: token.clone(),
        };
        let balance = self
            .balance()
            .await?
            .checked_sub(amount)
            .map_err(crate::wallet::amount_err)?;
        let mut writes: Vec<Write> = coins
            .iter()
            .map(|c| Write::Delete(Store::Coins, c.key()))
            .collect();
        writes.push(Write::Put(Store::Sent, id, to_json(&sent)?));
        writes.push(
            self.history_write(
                HistoryKind::Send,
                amount,
                false,
                balance,
                format!("token with {} coins", coins.len()),
                None,
            )
            .await?,
        );
        self.storage.commit(writes).await?;
        Ok(token)
    }

    /// Receives a token: verifies its coins and swaps them into fresh ones.
    pub async fn receive(&self, token_str: &str) -> Result<Amount, WalletError> {
        self.receive_as(token_str, SwapPurpose::Receive).await
    }

    /// Takes back a sent token that was not received yet.
    pub async fn reclaim(&self, sent_id: &str) -> Result<Amount, WalletError> {
        let Some(raw) = self.storage.get(Store::Sent, sent_id).await? else {
            return Err(WalletError::InvalidToken("no such sent token".into()));
        };
        let sent: SentToken = crate::wallet::from_json(&raw)?;
        let result = self.receive_as(&sent.token, SwapPurpose::Receive).await;
        match &result {
            Ok(_) => {
                self.storage
                    .commit(vec![Write::Delete(Store::Sent, sent_id.to_owned())])
                    .await?
            }
            Err(e) if e.code() == Some(ecash_shared::ErrorCode::CoinAlreadySpent) => {
                // The recipient took it: it is no longer ours to reclaim.
                self.storage
                    .commit(vec![Write::Delete(Store::Sent, sent_id.to_owned())])
                    .await?
            }
            Err(_) => {}
        }
        result
    }

    async fn receive_as(
        &self,
        token_str: &str,
        purpose: SwapPurpose,
    ) -> Result<Amount, WalletError> {
        let token = token::decode(token_str)?;
        let here = self.client.transport().bank_url();
        if token.bank_url.trim_end_matches('/') != here.trim_end_matches('/') {
            return Err(WalletError::InvalidToken(format!(
                "the coins are from the bank at {}, this wallet uses {here}",
                token.bank_url
            )));
        }
        let now = self.now();
        let mut values = Vec::with_capacity(token.coins.len());
        let mut seen = std::collections::BTreeSet::new();
        for (coin, _) in &token.coins {
            if !seen.insert(coin.coin_pub) {
                return Err(WalletError::InvalidToken("a coin appears twice".into()));
            }
            let keyset = self.keyset(&coin.keyset_id).await.map_err(|_| {
                WalletError::InvalidToken("a coin's denomination is unknown to this bank".into())
            })?;
            if !keyset.can_deposit(now) {
                return Err(WalletError::InvalidToken("a coin has expired".into()));
            }
            if !coin.verify_denomination(&keyset) {
                return Err(WalletError::InvalidToken(
                    "a coin's bank signature is invalid".into(),
                ));
            }
            values.push(keyset.value);
        }
        let amount = sum(values)?;
        let keys = self.keys().await?;
        let denoms: Vec<Amount> = keys.withdrawable(now).keys().copied().collect();
        let out_values = flatten(&denom::split(amount, &denoms).map_err(split_err)?);
        let (signed, outputs) = self.prepare_swap(&token.coins, &out_values).await?;
        let op = PendingOp {
            id: random_id()?,
            created_at: now,
            kind: OpKind::Swap {
                purpose,
                inputs: signed,
                outputs,
                amount,
            },
        };
        self.storage
            .commit(vec![Write::Put(Store::Ops, op.id.clone(), to_json(&op)?)])
            .await?;
        self.run_swap(&op).await
    }
}
