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

use actix_web::{HttpResponse, web};
use ecash_shared::api::{BlindSignaturesResponse, MAX_COINS_PER_REQUEST, SwapRequest};
use ecash_shared::coin::hash_outputs;
use ecash_shared::encoding::Bytes;
use ecash_shared::{ErrorCode, SpendMessage};

use crate::Bank;
use crate::api::error::{ApiError, BlockingFailed, blocking};
use crate::api::withdraw::{OutputError, check_outputs, sign_outputs};
use crate::bank::spend::{self, SpendError};
use crate::storage::{SpendEffect, SpendOutcome, SpendRequest, StorageError};

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

impl ApiError for SwapError {
    fn code(&self) -> ErrorCode {
        match self {
            SwapError::ValueMismatch { .. } => ErrorCode::ValueMismatch,
            SwapError::Spend(e) => e.code(),
            SwapError::Output(e) => e.code(),
        }
    }
}
crate::api_error!(SwapError);

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

/// Registers the swap route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/swap", web::post().to(swap));
}

async fn swap(
    bank: web::Data<Bank>,
    body: web::Json<SwapRequest>,
) -> Result<HttpResponse, SwapError> {
    let req = body.into_inner();
    let now = crate::now();
    spend::check_shape(&req.inputs)?;
    if req.outputs.len() > MAX_COINS_PER_REQUEST {
        return Err(OutputError::TooManyCoins.into());
    }
    let (out_value, signers) = check_outputs(&bank.keys, &req.outputs, now)?;
    let in_value = spend::value_of(&bank.keys, &req.inputs, now)?;
    if in_value != out_value {
        return Err(SwapError::ValueMismatch {
            inputs: in_value.minor(),
            outputs: out_value.minor(),
        });
    }
    let outputs_hash = hash_outputs(&req.outputs);
    let op_id = spend::op_id("swap", &[&outputs_hash], &req.inputs);

    let sigs = blocking(move || {
        let msg = SpendMessage::Swap { outputs_hash };
        let verified = spend::verify(&bank.keys, &req.inputs, &msg, now)?;
        if let Some(stored) = bank.storage.find_swap(&op_id)? {
            return Ok(stored);
        }
        // Refuse before the RSA work if an input is already gone.
        let pubs: Vec<[u8; 32]> = verified.coins.iter().map(|c| c.coin_pub).collect();
        let spent = bank.storage.spent_by(&pubs)?;
        if let Some((coin, _)) = pubs.iter().zip(&spent).find(|(_, s)| s.is_some()) {
            return Err(StorageError::CoinAlreadySpent(*coin).into());
        }
        let blind_sigs = sign_outputs(&req.outputs, &signers)?;
        let outcome = bank.storage.spend(&SpendRequest {
            op_id,
            coins: verified.coins,
            value: verified.value,
            currency: verified.currency,
            effect: SpendEffect::Swap {
                value: out_value,
                blind_sigs: blind_sigs.clone(),
            },
            now,
        })?;
        Ok::<_, SwapError>(match outcome {
            SpendOutcome::Replayed(stored) => stored,
            _ => blind_sigs,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(BlindSignaturesResponse {
        blind_sigs: sigs.into_iter().map(Bytes).collect(),
    }))
}
