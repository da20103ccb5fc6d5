//! Deposit: `POST /v1/deposit {coins:[{coin, coin_sig}]}` (bearer) spends the
//! coins into the caller's own account. Each `coin_sig` signs
//! `SpendMessage::Deposit { account: <username> }`, so coins signed for one
//! account cannot be deposited into another. All coins or none.
//!
//! A deposit is not replayable: sending the same coins again answers
//! `COIN_ALREADY_SPENT` (the wallet learns the outcome of a lost answer from
//! `/v1/coins/state` and its balance).

use ecash_shared::SpendMessage;
use ecash_shared::api::DepositRequest;
use ecash_shared::encoding::Timestamp;

use super::Bank;
use super::pool::BlockingFailed;
use super::spend::{self, SpendError};
use crate::storage::{AccountRecord, DepositInto, SpendRequest, StorageError};

/// Errors of `deposit`: those of [`spend`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DepositError(#[from] pub SpendError);

impl From<StorageError> for DepositError {
    fn from(e: StorageError) -> Self {
        DepositError(SpendError::Storage(e))
    }
}
impl From<BlockingFailed> for DepositError {
    fn from(e: BlockingFailed) -> Self {
        DepositError(SpendError::Blocking(e))
    }
}

/// What a deposit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deposited {
    /// The coins' value, credited.
    pub credited: ecash_shared::Amount,
    /// The account's balance after the credit.
    pub balance: ecash_shared::Amount,
}

impl Bank {
    /// Spends `req.coins` into `account`.
    pub fn deposit(
        &self,
        account: &AccountRecord,
        req: DepositRequest,
        now: Timestamp,
    ) -> Result<Deposited, DepositError> {
        spend::check_shape(&req.coins)?;
        let msg = SpendMessage::Deposit {
            account: account.username.clone(),
        };
        let verified = spend::verify(&self.keys, &req.coins, &msg, now)?;
        let op_id = spend::op_id("deposit", &[account.username.as_bytes()], &req.coins);
        let balance = self.storage.spend_deposit(&SpendRequest {
            op_id,
            coins: verified.coins,
            value: verified.value,
            currency: verified.currency,
            effect: DepositInto {
                account_id: account.id,
            },
            now,
        })?;
        tracing::info!(account = %account.username, value = verified.value.minor(), "deposit");
        Ok(Deposited {
            credited: verified.value,
            balance,
        })
    }
}
