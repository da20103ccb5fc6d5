//! Deposit: coins back into the logged-in bank account ("real money").
//!
//! The intent is logged before the request. If the answer is lost, resuming
//! asks the bank for the coins' state: spent means the deposit happened
//! (only this wallet holds the coin secrets), unspent means it is replayed.

use ecash_shared::api::{CoinState, CoinStateRequest, DepositRequest};
use ecash_shared::coin::SpendMessage;
use ecash_shared::{Amount, ErrorCode};

use crate::WalletError;
use crate::model::{HistoryKind, OpKind, PendingOp};
use crate::storage::{Storage, Store, Write};
use crate::transport::Transport;
use crate::wallet::Wallet;

impl<S: Storage, T: Transport> Wallet<S, T> {
    /// Deposits coins worth `amount` into the logged-in account.
    pub async fn deposit(&self, amount: Amount) -> Result<Amount, WalletError> {
        let session = self.require_session()?;
        let coins = self.exact_coins(amount).await?;
        let msg = SpendMessage::Deposit {
            account: session.username.clone(),
        };
        let op = self
            .log_spend(&coins, &msg, |coins| OpKind::Deposit {
                username: session.username,
                coins,
                amount,
            })
            .await?;
        self.run_deposit(&op).await
    }

    /// Sends (or settles) a logged deposit.
    pub(crate) async fn run_deposit(&self, op: &PendingOp) -> Result<Amount, WalletError> {
        let OpKind::Deposit {
            username,
            coins,
            amount,
        } = &op.kind
        else {
            return Err(WalletError::Protocol("not a deposit".into()));
        };
        let keys: Vec<String> = coins.iter().map(|c| c.coin.coin_pub.to_string()).collect();
        let session = self.require_session()?;
        let result = if &session.username == username {
            self.client
                .deposit(
                    &session.token,
                    &DepositRequest {
                        coins: coins.clone(),
                    },
                )
                .await
                .map(|_| ())
        } else {
            Err(WalletError::NotLoggedIn)
        };
        match result {
            Ok(()) => {}
            Err(e) if e.code() == Some(ErrorCode::CoinAlreadySpent) => {
                // Did our own earlier attempt land? All spent means yes
                // (deposits are all or nothing).
                let states = self
                    .client
                    .coin_states(&CoinStateRequest {
                        coin_pubs: coins.iter().map(|c| c.coin.coin_pub).collect(),
                    })
                    .await?;
                if !states.states.iter().all(|s| s.state == CoinState::Spent) {
                    self.release_or_drop(&op.id, &keys).await?;
                    return Err(e);
                }
            }
            Err(e)
                if e.is_retryable()
                    || matches!(e, WalletError::NotLoggedIn)
                    || e.code() == Some(ErrorCode::Unauthorized) =>
            {
                return Err(e);
            }
            Err(e) => {
                self.release_or_drop(&op.id, &keys).await?;
                return Err(e);
            }
        }
        let balance = self.balance().await?;
        let mut writes: Vec<Write> = keys
            .iter()
            .map(|k| Write::Delete(Store::Coins, k.clone()))
            .collect();
        writes.push(Write::Delete(Store::Ops, op.id.clone()));
        writes.push(
            self.history_write(
                HistoryKind::Deposit,
                *amount,
                false,
                balance,
                format!("to bank account {username}"),
                None,
            )
            .await?,
        );
        self.storage.commit(writes).await?;
        Ok(*amount)
    }
}
