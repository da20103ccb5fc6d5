//! Swap: coins in, fresh blinded coins of the same value out. Used to make
//! change and to take coins received from someone else (so the sender cannot
//! spend them again).
//!
//! The intent (signed inputs, output secrets) is written before the request;
//! replaying the identical swap returns the bank's stored signatures.

use ecash_shared::Amount;
use ecash_shared::api::{SpendCoin, SwapRequest};
use ecash_shared::coin::{CoinSecret, SpendMessage, hash_outputs};

use crate::WalletError;
use crate::model::{HistoryKind, OpKind, PendingOp, StoredCoin, StoredPlanchet, SwapPurpose};
use crate::storage::{Storage, Store, Write};
use crate::transport::Transport;
use crate::wallet::{Wallet, sum, to_json};

impl<S: Storage, T: Transport> Wallet<S, T> {
    /// Builds the planchets for `values` and signs `inputs` over them.
    pub(crate) async fn prepare_swap(
        &self,
        inputs: &[(ecash_shared::Coin, CoinSecret)],
        values: &[Amount],
    ) -> Result<(Vec<SpendCoin>, Vec<StoredPlanchet>), WalletError> {
        let outputs = self.make_planchets(values, &|_| {}).await?;
        let blinded: Vec<_> = outputs.iter().map(|p| p.blinded.clone()).collect();
        let msg = SpendMessage::Swap {
            outputs_hash: hash_outputs(&blinded),
        };
        let signed = inputs
            .iter()
            .map(|(coin, secret)| SpendCoin {
                coin: coin.clone(),
                coin_sig: secret.sign(&msg),
            })
            .collect();
        Ok((signed, outputs))
    }

    /// Swaps the wallet's own `inputs` into coins of the given `values` (change).
    pub(crate) async fn swap_for_change(
        &self,
        inputs: Vec<StoredCoin>,
        values: Vec<Amount>,
    ) -> Result<(), WalletError> {
        let amount = sum(inputs.iter().map(|c| c.value))?;
        let pairs: Vec<_> = inputs
            .iter()
            .map(|c| (c.coin.clone(), c.coin_secret()))
            .collect();
        let (signed, outputs) = self.prepare_swap(&pairs, &values).await?;
        let op = PendingOp {
            id: crate::wallet::random_id()?,
            created_at: self.now(),
            kind: OpKind::Swap {
                purpose: SwapPurpose::Change,
                inputs: signed,
                outputs,
                amount,
            },
        };
        let mut writes = Self::reserve_writes(&inputs, &op.id)?;
        writes.push(Write::Put(Store::Ops, op.id.clone(), to_json(&op)?));
        self.storage.commit(writes).await?;
        self.run_swap(&op).await.map(|_| ())
    }

    /// Sends (or replays) a logged swap and stores its outputs.
    pub(crate) async fn run_swap(&self, op: &PendingOp) -> Result<Amount, WalletError> {
        let OpKind::Swap {
            purpose,
            inputs,
            outputs,
            amount,
        } = &op.kind
        else {
            return Err(WalletError::Protocol("not a swap".into()));
        };
        let req = SwapRequest {
            inputs: inputs.clone(),
            outputs: outputs.iter().map(|p| p.blinded.clone()).collect(),
        };
        let input_keys: Vec<String> = inputs.iter().map(|i| i.coin.coin_pub.to_string()).collect();
        let resp = match self.client.swap(&req).await {
            Ok(r) => r,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                // Refused: no output was signed, no input spent by this swap.
                match purpose {
                    SwapPurpose::Change => self.release_or_drop(&op.id, &input_keys).await?,
                    SwapPurpose::Receive => {
                        self.storage
                            .commit(vec![Write::Delete(Store::Ops, op.id.clone())])
                            .await?
                    }
                }
                return Err(e);
            }
        };
        if resp.blind_sigs.len() != outputs.len() {
            return Err(WalletError::Protocol(
                "wrong number of blind signatures".into(),
            ));
        }
        let now = self.now();
        let mut writes = Vec::with_capacity(outputs.len() + inputs.len() + 2);
        for (p, sig) in outputs.iter().zip(&resp.blind_sigs) {
            let keyset = self.keyset(&p.blinded.keyset_id).await?;
            let coin = p.finish(&keyset, sig.as_slice(), now)?;
            writes.push(Write::Put(Store::Coins, coin.key(), to_json(&coin)?));
        }
        for k in &input_keys {
            writes.push(Write::Delete(Store::Coins, k.clone()));
        }
        writes.push(Write::Delete(Store::Ops, op.id.clone()));
        if *purpose == SwapPurpose::Receive {
            let balance = self.balance_plus(*amount).await?;
            writes.push(
                self.history_write(
                    HistoryKind::Receive,
                    *amount,
                    true,
                    balance,
                    format!("{} coins received", inputs.len()),
                    None,
                )
                .await?,
            );
        }
        self.storage.commit(writes).await?;
        Ok(*amount)
    }
}
