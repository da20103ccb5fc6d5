//! `POST /v1/coins/state {coin_pubs}` → `{states:[{coin_pub, state}]}` in
//! request order: whether each coin is in the spent set. No account needed;
//! wallets use it to resolve operations whose answer they lost.

use actix_web::{HttpResponse, web};
use ecash_shared::ErrorCode;
use ecash_shared::api::{CoinStateEntry, CoinStateRequest, CoinStateResponse};

use crate::Bank;
use crate::api::error::{ApiError, blocking};
pub use crate::bank::swap::CoinStateError;

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

/// Registers the coin-state route (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/coins/state", web::post().to(coin_state));
}

async fn coin_state(
    bank: web::Data<Bank>,
    body: web::Json<CoinStateRequest>,
) -> Result<HttpResponse, CoinStateError> {
    let pubs = body.into_inner().coin_pubs;
    let b = bank.clone();
    let asked = pubs.clone();
    let states = blocking(move || b.coin_state(&asked)).await?;
    let states = pubs
        .into_iter()
        .zip(states)
        .map(|(coin_pub, state)| CoinStateEntry { coin_pub, state })
        .collect();
    Ok(HttpResponse::Ok().json(CoinStateResponse { states }))
}
