//! Swap: `POST /v1/swap {inputs:[{coin, coin_sig}], outputs:[{keyset_id,
//! blinded_msg}]}` → `{blind_sigs}`. No account: coins in, fresh blinded coins
//! of the same total value out (change-making, and unlinkability).
//!
//! Each input's `coin_sig` signs `SpendMessage::Swap { outputs_hash:
//! hash_outputs(outputs) }`, so a coin seen in transit cannot be swapped into
//! someone else's outputs. The inputs are marked spent iff the outputs are
//! signed (one transaction stores both). The swap is keyed by its content
//! (outputs hash and input coins): replaying the identical swap returns the
//! stored signatures, so a wallet that lost the answer recovers; any other use
//! of a spent input is `COIN_ALREADY_SPENT`.

//!
//! Coin state: the wallet asks which of its coins the bank saw spent (after a
//! lost answer, or to check a token before accepting it); see
//! [`Bank::coin_state`].

use ecash_shared::SpendMessage;
use ecash_shared::api::{CoinState, MAX_COINS_PER_REQUEST, SwapRequest};
use ecash_shared::coin::{CoinPub, hash_outputs};
use ecash_shared::encoding::Timestamp;

use super::Bank;
use super::pool::BlockingFailed;
use super::spend::{self, SpendError};
use super::withdraw::{OutputError, check_outputs, sign_outputs};
use crate::storage::{SpendRequest, StorageError, SwapOutcome, SwapOutputs};

/// Errors of `swap`.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// Inputs and outputs differ in value.
    #[error("inputs are worth {inputs} but outputs {outputs} minor units")]
    ValueMismatch {
        /// Value in.
        inputs: u64,
        /// Value out.
        outputs: u64,
    },
    /// Inputs.
    #[error(transparent)]
    Spend(#[from] SpendError),
    /// Outputs.
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl From<StorageError> for SwapError {
    fn from(e: StorageError) -> Self {
        SwapError::Spend(SpendError::Storage(e))
    }
}
impl From<BlockingFailed> for SwapError {
    fn from(e: BlockingFailed) -> Self {
        SwapError::Spend(SpendError::Blocking(e))
    }
}

/// Errors of `coins/state`.
#[derive(Debug, thiserror::Error)]
pub enum CoinStateError {
    /// Over the limit.
    #[error("at most {MAX_COINS_PER_REQUEST} coins per request")]
    TooManyCoins,
    /// Storage.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

impl Bank {
    /// Swaps `req.inputs` for `req.outputs` signed: the blind signatures, in
    /// request order (those stored before, for a replay of the same swap).
    pub fn swap(&self, req: SwapRequest, now: Timestamp) -> Result<Vec<Vec<u8>>, SwapError> {
        spend::check_shape(&req.inputs)?;
        if req.outputs.len() > MAX_COINS_PER_REQUEST {
            return Err(OutputError::TooManyCoins.into());
        }
        let (out_value, signers) = check_outputs(&self.keys, &req.outputs, now)?;
        let in_value = spend::value_of(&self.keys, &req.inputs, now)?;
        if in_value != out_value {
            return Err(SwapError::ValueMismatch {
                inputs: in_value.minor(),
                outputs: out_value.minor(),
            });
        }
        let outputs_hash = hash_outputs(&req.outputs);
        let op_id = spend::op_id("swap", &[&outputs_hash], &req.inputs);
        let msg = SpendMessage::Swap { outputs_hash };
        let verified = spend::verify(&self.keys, &req.inputs, &msg, now)?;
        if let Some(stored) = self.storage.find_swap(&op_id)? {
            return Ok(stored);
        }
        // Refuse before the RSA work if an input is already gone.
        let pubs: Vec<[u8; 32]> = verified.coins.iter().map(|c| c.coin_pub).collect();
        let spent = self.storage.spent_by(&pubs)?;
        if let Some((coin, _)) = pubs.iter().zip(&spent).find(|(_, s)| s.is_some()) {
            return Err(StorageError::CoinAlreadySpent(*coin).into());
        }
        let blind_sigs = sign_outputs(&req.outputs, &signers)?;
        let outcome = self.storage.spend_swap(&SpendRequest {
            op_id,
            coins: verified.coins,
            value: verified.value,
            currency: verified.currency,
            effect: SwapOutputs {
                value: out_value,
                blind_sigs: blind_sigs.clone(),
            },
            now,
        })?;
        Ok(match outcome {
            SwapOutcome::Swapped => blind_sigs,
            SwapOutcome::Replayed(stored) => stored,
        })
    }

    /// Whether each coin is spent, in request order.
    pub fn coin_state(&self, coin_pubs: &[CoinPub]) -> Result<Vec<CoinState>, CoinStateError> {
        if coin_pubs.len() > MAX_COINS_PER_REQUEST {
            return Err(CoinStateError::TooManyCoins);
        }
        let pubs: Vec<[u8; 32]> = coin_pubs.iter().map(CoinPub::to_bytes).collect();
        Ok(self
            .storage
            .spent_by(&pubs)?
            .into_iter()
            .map(|s| {
                if s.is_some() {
                    CoinState::Spent
                } else {
                    CoinState::Unspent
                }
            })
            .collect())
    }
}
