//! Typed calls to the bank's HTTP API over a [`Transport`].
//!
//! - [`cards`] — the card endpoints, and [`CardSession`]: them as a purse client's bank.

use ecash_shared::ErrorResponse;
use ecash_shared::api::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::WalletError;
use crate::transport::{Method, Transport};

pub mod cards;

pub use cards::{CardSession, card_error_text};

/// The bank's API, typed.
#[derive(Debug, Clone)]
pub struct BankClient<T> {
    transport: T,
}

impl<T: Transport> BankClient<T> {
    /// A client over `transport`.
    pub fn new(transport: T) -> Self {
        BankClient { transport }
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub(crate) async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Req>,
    ) -> Result<Resp, WalletError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| WalletError::Protocol(e.to_string()))?;
        let resp = self.transport.send(method, path, bearer, body).await?;
        if (200..300).contains(&resp.status) {
            serde_json::from_slice(&resp.body)
                .map_err(|e| WalletError::Protocol(format!("unexpected answer from {path}: {e}")))
        } else {
            match serde_json::from_slice::<ErrorResponse>(&resp.body) {
                Ok(err) => Err(WalletError::Bank(err)),
                // Not the bank's JSON (a proxy, a static server): name the
                // status as well as a code can.
                Err(_) => Err(WalletError::Bank(ErrorResponse::new(
                    code_for_status(resp.status),
                    format!("HTTP {} from {path}", resp.status),
                ))),
            }
        }
    }

    /// `GET /v1/keys`.
    pub async fn keys(&self) -> Result<KeysResponse, WalletError> {
        self.call::<(), _>(Method::Get, "/v1/keys", None, None)
            .await
    }

    /// `POST /v1/accounts`.
    pub async fn register(&self, creds: &Credentials) -> Result<AccountCreated, WalletError> {
        self.call(Method::Post, "/v1/accounts", None, Some(creds))
            .await
    }

    /// `POST /v1/login`.
    pub async fn login(&self, creds: &Credentials) -> Result<LoginResponse, WalletError> {
        self.call(Method::Post, "/v1/login", None, Some(creds))
            .await
    }

    /// `GET /v1/accounts/me`.
    pub async fn account(&self, token: &str) -> Result<AccountInfo, WalletError> {
        self.call::<(), _>(Method::Get, "/v1/accounts/me", Some(token), None)
            .await
    }

    /// `GET /v1/accounts/me/history`.
    pub async fn account_history(
        &self,
        token: &str,
        limit: u32,
    ) -> Result<HistoryResponse, WalletError> {
        let path = format!("/v1/accounts/me/history?limit={limit}");
        self.call::<(), _>(Method::Get, &path, Some(token), None)
            .await
    }

    /// `POST /v1/accounts/me/payout`.
    pub async fn payout(
        &self,
        token: &str,
        req: &PayoutRequest,
    ) -> Result<BalanceResponse, WalletError> {
        self.call(
            Method::Post,
            "/v1/accounts/me/payout",
            Some(token),
            Some(req),
        )
        .await
    }

    /// `POST /v1/withdraw`.
    pub async fn withdraw(
        &self,
        token: &str,
        req: &WithdrawRequest,
    ) -> Result<BlindSignaturesResponse, WalletError> {
        self.call(Method::Post, "/v1/withdraw", Some(token), Some(req))
            .await
    }

    /// `POST /v1/swap`.
    pub async fn swap(&self, req: &SwapRequest) -> Result<BlindSignaturesResponse, WalletError> {
        self.call(Method::Post, "/v1/swap", None, Some(req)).await
    }

    /// `POST /v1/deposit`.
    pub async fn deposit(
        &self,
        token: &str,
        req: &DepositRequest,
    ) -> Result<DepositResponse, WalletError> {
        self.call(Method::Post, "/v1/deposit", Some(token), Some(req))
            .await
    }

    /// `POST /v1/coins/state`.
    pub async fn coin_states(
        &self,
        req: &CoinStateRequest,
    ) -> Result<CoinStateResponse, WalletError> {
        self.call(Method::Post, "/v1/coins/state", None, Some(req))
            .await
    }

    /// `GET /v1/orders/{id}`.
    pub async fn contract(&self, order_id: &str) -> Result<Contract, WalletError> {
        let path = format!("/v1/orders/{}", path_segment(order_id)?);
        self.call::<(), _>(Method::Get, &path, None, None).await
    }

    /// `POST /v1/orders/{id}/pay`.
    pub async fn pay(&self, order_id: &str, req: &PayRequest) -> Result<PayResponse, WalletError> {
        let path = format!("/v1/orders/{}/pay", path_segment(order_id)?);
        self.call(Method::Post, &path, None, Some(req)).await
    }

    /// `POST /v1/orders/{id}/refund/claim`.
    pub async fn claim_refund(
        &self,
        order_id: &str,
        req: &RefundClaimRequest,
    ) -> Result<BlindSignaturesResponse, WalletError> {
        let path = format!("/v1/orders/{}/refund/claim", path_segment(order_id)?);
        self.call(Method::Post, &path, None, Some(req)).await
    }

    /// `GET /v1/orders/{id}/status`.
    pub async fn order_status(&self, order_id: &str) -> Result<OrderStatusResponse, WalletError> {
        let path = format!("/v1/orders/{}/status", path_segment(order_id)?);
        self.call::<(), _>(Method::Get, &path, None, None).await
    }
}

/// The closest error code for a bare HTTP status.
fn code_for_status(status: u16) -> ecash_shared::ErrorCode {
    use ecash_shared::ErrorCode;
    match status {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        413 => ErrorCode::PayloadTooLarge,
        429 => ErrorCode::RateLimited,
        s if s >= 500 => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    }
}

/// Order ids go into URL paths: only URL-safe characters are accepted.
fn path_segment(id: &str) -> Result<&str, WalletError> {
    if !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(id)
    } else {
        Err(WalletError::Order(format!("invalid order id {id:?}")))
    }
}
