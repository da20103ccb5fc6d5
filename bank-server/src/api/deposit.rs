//! Deposit: `POST /v1/deposit {coins:[{coin, coin_sig}]}` (bearer) spends the
//! coins into the caller's own account. Each `coin_sig` signs
//! `SpendMessage::Deposit { account: <username> }`, so coins signed for one
//! account cannot be deposited into another. All coins or none.
//!
//! A deposit is not replayable: sending the same coins again answers
//! `COIN_ALREADY_SPENT` (the wallet learns the outcome of a lost answer from
//! `/v1/coins/state` and its balance).

use actix_web::{HttpResponse, web};
use ecash_shared::api::{DepositRequest, DepositResponse};
use ecash_shared::{ErrorCode, SpendMessage};

use crate::Bank;
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, blocking};
use crate::bank::spend::{self, SpendError};
use crate::storage::{SpendEffect, SpendOutcome, SpendRequest, StorageError};

/// Errors of `deposit`: those of [`spend`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DepositError(#[from] SpendError);

impl ApiError for DepositError {
    fn code(&self) -> ErrorCode {
        self.0.code()
    }
}
crate::api_error!(DepositError);

impl From<StorageError> for DepositError {
    fn from(e: StorageError) -> Self {
        DepositError(SpendError::Storage(e))
    }
}

/// Registers the deposit route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/deposit", web::post().to(deposit));
}

async fn deposit(
    bank: web::Data<Bank>,
    auth: Authenticated,
    body: web::Json<DepositRequest>,
) -> Result<HttpResponse, DepositError> {
    let req = body.into_inner();
    spend::check_shape(&req.coins)?;
    let account = auth.0;
    let now = crate::now();
    let b = bank.clone();
    let username = account.username.clone();
    let outcome = blocking(move || {
        let msg = SpendMessage::Deposit {
            account: username.clone(),
        };
        let verified = spend::verify(&b.keys, &req.coins, &msg, now)?;
        let op_id = spend::op_id("deposit", &[username.as_bytes()], &req.coins);
        let outcome = b.storage.spend(&SpendRequest {
            op_id,
            coins: verified.coins,
            value: verified.value,
            currency: verified.currency,
            effect: SpendEffect::Deposit {
                account_id: account.id,
            },
            now,
        })?;
        Ok::<_, SpendError>((verified.value, outcome))
    })
    .await?;
    match outcome {
        (credited, SpendOutcome::Deposited { balance }) => {
            tracing::info!(account = %account.username, value = credited.minor(), "deposit");
            Ok(HttpResponse::Ok().json(DepositResponse { credited, balance }))
        }
        // `spend` with a deposit effect answers nothing else.
        _ => Err(StorageError::backend(std::io::Error::other("unexpected spend outcome")).into()),
    }
}
