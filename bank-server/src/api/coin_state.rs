//! `POST /v1/coins/state {coin_pubs}` → `{states:[{coin_pub, state}]}` in
//! request order: whether each coin is in the spent set. No account needed;
//! wallets use it to resolve operations whose answer they lost.

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{
    CoinState, CoinStateEntry, CoinStateRequest, CoinStateResponse, MAX_COINS_PER_REQUEST,
};

use crate::Bank;
use crate::api::error::{ApiError, BlockingFailed, blocking};
use crate::storage::StorageError;

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

impl ApiError for CoinStateError {
    fn code(&self) -> ErrorCode {
        match self {
            CoinStateError::TooManyCoins => ErrorCode::TooManyCoins,
            CoinStateError::Storage(e) => e.code(),
            CoinStateError::Blocking(_) => ErrorCode::Internal,
        }
    }
}
crate::api_error!(CoinStateError);

/// Registers the route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/coins/state", web::post().to(coin_state));
}

async fn coin_state(
    bank: web::Data<Bank>,
    body: web::Json<CoinStateRequest>,
) -> Result<HttpResponse, CoinStateError> {
    let req = body.into_inner();
    if req.coin_pubs.len() > MAX_COINS_PER_REQUEST {
        return Err(CoinStateError::TooManyCoins);
    }
    let pubs: Vec<[u8; 32]> = req.coin_pubs.iter().map(|p| p.to_bytes()).collect();
    let spent =
        blocking(move || bank.storage.spent_by(&pubs).map_err(CoinStateError::from)).await?;
    let states = req
        .coin_pubs
        .into_iter()
        .zip(spent)
        .map(|(coin_pub, s)| CoinStateEntry {
            coin_pub,
            state: if s.is_some() {
                CoinState::Spent
            } else {
                CoinState::Unspent
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(CoinStateResponse { states }))
}
