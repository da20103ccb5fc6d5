//! Withdraw: coins blind-signed against a debit of the bank account.
//!
//! 1. split the amount into denominations, create and blind the coins;
//! 2. write the intent (request id, secrets, blinding inverses) — only then
//! 3. `POST /v1/withdraw` (idempotent on the request id);
//! 4. unblind, verify, and store the coins with a history entry, in one commit.
//!
//! A crash between any two steps is finished by [`Wallet::resume`], which
//! replays step 3 with the same request id: the bank answers with the same
//! signatures and debits nothing twice.

use ecash_shared::Amount;
use ecash_shared::api::{MAX_COINS_PER_REQUEST, WithdrawRequest};
use ecash_shared::denom;

use crate::WalletError;
use crate::model::{HistoryKind, OpKind, PendingOp};
use crate::storage::{Storage, Store, Write};
use crate::transport::Transport;
use crate::wallet::{Progress, Wallet, YIELD_EVERY, flatten, random_id, split_err, to_json};

impl<S: Storage, T: Transport> Wallet<S, T> {
    /// Withdraws `amount` from the logged-in account into fresh coins.
    pub async fn withdraw(
        &self,
        amount: Amount,
        progress: &dyn Fn(Progress),
    ) -> Result<Amount, WalletError> {
        let session = self.require_session()?;
        if amount.is_zero() {
            return Err(WalletError::InvalidAmount(
                "the amount must be more than zero".into(),
            ));
        }
        let keys = self.keys().await?;
        let now = self.now();
        let values: Vec<Amount> = keys.withdrawable(now).keys().copied().collect();
        let values = flatten(&denom::split(amount, &values).map_err(split_err)?);
        if values.len() > MAX_COINS_PER_REQUEST {
            return Err(WalletError::InvalidAmount(format!(
                "{amount} needs {} coins; at most {MAX_COINS_PER_REQUEST} per withdrawal",
                values.len()
            )));
        }
        let planchets = self.make_planchets(&values, progress).await?;
        let op = PendingOp {
            id: random_id()?,
            created_at: now,
            kind: OpKind::Withdraw {
                username: session.username,
                request_id: random_id()?,
                amount,
                planchets,
            },
        };
        self.storage
            .commit(vec![Write::Put(Store::Ops, op.id.clone(), to_json(&op)?)])
            .await?;
        self.run_withdraw(&op, progress).await
    }

    /// Sends (or replays) a logged withdrawal and stores its coins.
    pub(crate) async fn run_withdraw(
        &self,
        op: &PendingOp,
        progress: &dyn Fn(Progress),
    ) -> Result<Amount, WalletError> {
        let OpKind::Withdraw {
            request_id,
            amount,
            planchets,
            ..
        } = &op.kind
        else {
            return Err(WalletError::Protocol("not a withdrawal".into()));
        };
        let session = self.require_session()?;
        let req = WithdrawRequest {
            request_id: request_id.clone(),
            coins: planchets.iter().map(|p| p.blinded.clone()).collect(),
        };
        progress(Progress::Waiting);
        let resp = match self.client.withdraw(&session.token, &req).await {
            Ok(r) => r,
            Err(e)
                if e.is_retryable() || e.code() == Some(ecash_shared::ErrorCode::Unauthorized) =>
            {
                return Err(e);
            }
            Err(e) => {
                // The bank refused: nothing was debited. Forget the intent.
                self.storage
                    .commit(vec![Write::Delete(Store::Ops, op.id.clone())])
                    .await?;
                return Err(e);
            }
        };
        if resp.blind_sigs.len() != planchets.len() {
            return Err(WalletError::Protocol(
                "wrong number of blind signatures".into(),
            ));
        }
        let now = self.now();
        let total = planchets.len();
        let mut writes = Vec::with_capacity(total + 2);
        for (i, (p, sig)) in planchets.iter().zip(&resp.blind_sigs).enumerate() {
            let keyset = self.keyset(&p.blinded.keyset_id).await?;
            let coin = p.finish(&keyset, sig.as_slice(), now)?;
            writes.push(Write::Put(Store::Coins, coin.key(), to_json(&coin)?));
            if i % YIELD_EVERY == YIELD_EVERY - 1 {
                progress(Progress::Unblinding(i + 1, total));
                self.client.transport().yield_now().await;
            }
        }
        progress(Progress::Unblinding(total, total));
        let balance = self.balance_plus(*amount).await?;
        writes.push(Write::Delete(Store::Ops, op.id.clone()));
        writes.push(
            self.history_write(
                HistoryKind::Withdraw,
                *amount,
                true,
                balance,
                format!("{} coins from the bank account", total),
                None,
            )
            .await?,
        );
        self.storage.commit(writes).await?;
        Ok(*amount)
    }
}
