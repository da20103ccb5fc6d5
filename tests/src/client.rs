//! A small native wallet client over HTTP, built on `ecash_shared` the way the
//! cyberwallet uses it: fetch keysets, make planchets, withdraw, unblind, swap,
//! deposit, ask coin states.
//!
//! Only `ecash_shared`, `reqwest`, `serde_json` and `getrandom` are used.
//! `bank-server/tests/{crash,merchant_cli}.rs` use it too, through bank-server's
//! dev-dependency on this crate (Cargo gives the real binary's path only to
//! bank-server's own tests).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;

use ecash_shared::api::{
    AccountInfo, AdminCreditRequest, BalanceResponse, BlindSignaturesResponse, CoinState,
    CoinStateRequest, CoinStateResponse, Contract, CreateOrderRequest, CreateOrderResponse,
    Credentials, DepositRequest, DepositResponse, HistoryResponse, KeysResponse, LoginResponse,
    MerchantOrdersResponse, OrderStatusResponse, PayRequest, PayResponse, PayoutRequest, Receipt,
    RefundClaimRequest, RefundRequest, RefundResponse, SpendCoin, SwapRequest, WithdrawRequest,
};
use ecash_shared::coin::{PlanchetSecrets, hash_outputs};
use ecash_shared::encoding::{Timestamp, b64_encode};
use ecash_shared::{
    Amount, Coin, CoinPub, CoinSecret, ErrorCode, ErrorResponse, Keyset, KeysetId, SpendMessage,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A failed call.
#[derive(Debug)]
pub enum ClientError {
    /// No answer (connection refused or reset, …).
    Transport(reqwest::Error),
    /// An error answer.
    Api { status: u16, error: ErrorResponse },
    /// An answer that is not what the protocol says.
    Protocol(String),
}

impl ClientError {
    /// The error code, if the server answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { error, .. } => Some(error.code),
            _ => None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Transport(e) => write!(f, "transport: {e}"),
            ClientError::Api { status, error } => {
                write!(f, "{status} {}: {}", error.code, error.detail)
            }
            ClientError::Protocol(s) => write!(f, "protocol: {s}"),
        }
    }
}

impl std::error::Error for ClientError {}

pub type Result<T> = std::result::Result<T, ClientError>;

/// A raw answer: status and JSON body.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Raw {
    /// The `code` of an error body.
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(|c| c.as_str())
    }
}

/// `path` with the paging query of a list endpoint: `?limit=L&before=B`, each
/// part only when given.
fn paged(path: &str, limit: Option<u32>, before: Option<i64>) -> String {
    let mut q = Vec::new();
    if let Some(l) = limit {
        q.push(format!("limit={l}"));
    }
    if let Some(b) = before {
        q.push(format!("before={b}"));
    }
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

/// The HTTP side: one base URL, an optional bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    pub fn with_token(&self, token: Option<&str>) -> Self {
        Client {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The same client (and token) against another base URL.
    pub fn with_base(&self, base: &str) -> Self {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(ClientError::Transport)?;
        if (200..300).contains(&status) {
            serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Protocol(format!("{e}: {}", String::from_utf8_lossy(&bytes)))
            })
        } else {
            let error: ErrorResponse = serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Protocol(format!(
                    "status {status}, not an error body ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                ))
            })?;
            Err(ClientError::Api { status, error })
        }
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self
            .auth(self.http.get(self.url(path)))
            .send()
            .await
            .map_err(ClientError::Transport)?;
        Self::decode(resp).await
    }

    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let resp = self
            .auth(self.http.post(self.url(path)))
            .json(body)
            .send()
            .await
            .map_err(ClientError::Transport)?;
        Self::decode(resp).await
    }

    /// Sends any request and returns status and JSON body, for bad-input tests.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Raw> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut rb = self.auth(self.http.request(method, self.url(path)));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb.send().await.map_err(ClientError::Transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(ClientError::Transport)?;
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
        });
        Ok(Raw { status, body })
    }

    pub async fn keys(&self) -> Result<KeysResponse> {
        self.get("/v1/keys").await
    }

    pub async fn create_account(&self, username: &str, password: &str) -> Result<()> {
        self.open_account(username, password, false).await
    }

    /// Opens a merchant account.
    pub async fn create_merchant_account(&self, username: &str, password: &str) -> Result<()> {
        self.open_account(username, password, true).await
    }

    /// `POST /v1/accounts`, with the merchant flag or not.
    async fn open_account(&self, username: &str, password: &str, merchant: bool) -> Result<()> {
        let _: serde_json::Value = self
            .post(
                "/v1/accounts",
                &Credentials {
                    username: username.to_owned(),
                    password: password.to_owned(),
                    merchant,
                },
            )
            .await?;
        Ok(())
    }

    /// Logs in and returns a client carrying the token.
    pub async fn login(&self, username: &str, password: &str) -> Result<Client> {
        let resp: LoginResponse = self
            .post(
                "/v1/login",
                &Credentials {
                    username: username.to_owned(),
                    password: password.to_owned(),
                    merchant: false,
                },
            )
            .await?;
        Ok(self.with_token(Some(&resp.token)))
    }

    pub async fn me(&self) -> Result<AccountInfo> {
        self.get("/v1/accounts/me").await
    }

    pub async fn balance(&self) -> Result<Amount> {
        Ok(self.me().await?.balance)
    }

    pub async fn history(
        &self,
        limit: Option<u32>,
        before: Option<i64>,
    ) -> Result<HistoryResponse> {
        self.get(&paged("/v1/accounts/me/history", limit, before))
            .await
    }

    /// `POST /v1/admin/credit` with the operator token (ignores `self.token`).
    pub async fn admin_credit(
        &self,
        admin_token: &str,
        username: &str,
        amount: u64,
    ) -> Result<Amount> {
        let r: BalanceResponse = self
            .with_token(Some(admin_token))
            .post(
                "/v1/admin/credit",
                &AdminCreditRequest {
                    username: username.to_owned(),
                    amount: Amount::from_minor(amount),
                },
            )
            .await?;
        Ok(r.balance)
    }

    pub async fn payout(&self, amount: u64, iban: &str) -> Result<Amount> {
        let r: BalanceResponse = self
            .post(
                "/v1/accounts/me/payout",
                &PayoutRequest {
                    amount: Amount::from_minor(amount),
                    iban: iban.to_owned(),
                },
            )
            .await?;
        Ok(r.balance)
    }

    pub async fn withdraw_raw(&self, req: &WithdrawRequest) -> Result<BlindSignaturesResponse> {
        self.post("/v1/withdraw", req).await
    }

    pub async fn deposit_raw(&self, req: &DepositRequest) -> Result<DepositResponse> {
        self.post("/v1/deposit", req).await
    }

    pub async fn swap_raw(&self, req: &SwapRequest) -> Result<BlindSignaturesResponse> {
        self.post("/v1/swap", req).await
    }

    /// `POST /v1/merchant/orders` (merchant bearer).
    pub async fn create_order(&self, req: &CreateOrderRequest) -> Result<CreateOrderResponse> {
        self.post("/v1/merchant/orders", req).await
    }

    /// An order of `amount` with a summary and nothing else.
    pub async fn create_simple_order(
        &self,
        amount: u64,
        summary: &str,
    ) -> Result<CreateOrderResponse> {
        self.create_order(&order_request(amount, summary)).await
    }

    /// `GET /v1/merchant/orders?limit&before` (merchant bearer).
    pub async fn merchant_orders(
        &self,
        limit: Option<u32>,
        before: Option<i64>,
    ) -> Result<MerchantOrdersResponse> {
        self.get(&paged("/v1/merchant/orders", limit, before)).await
    }

    /// `GET /v1/orders/{id}`: the contract.
    pub async fn contract(&self, order_id: &str) -> Result<Contract> {
        self.get(&format!("/v1/orders/{order_id}")).await
    }

    /// `POST /v1/orders/{id}/pay`.
    pub async fn pay_raw(&self, order_id: &str, req: &PayRequest) -> Result<PayResponse> {
        self.post(&format!("/v1/orders/{order_id}/pay"), req).await
    }

    /// `GET /v1/orders/{id}/status[?timeout_ms=]`.
    pub async fn order_status(
        &self,
        order_id: &str,
        timeout_ms: Option<u64>,
    ) -> Result<OrderStatusResponse> {
        match timeout_ms {
            Some(t) => {
                self.get(&format!("/v1/orders/{order_id}/status?timeout_ms={t}"))
                    .await
            }
            None => self.get(&format!("/v1/orders/{order_id}/status")).await,
        }
    }

    /// `POST /v1/merchant/orders/{id}/refund` (merchant bearer).
    pub async fn refund(&self, order_id: &str, amount: u64) -> Result<RefundResponse> {
        self.post(
            &format!("/v1/merchant/orders/{order_id}/refund"),
            &RefundRequest {
                amount: Amount::from_minor(amount),
            },
        )
        .await
    }

    /// `POST /v1/orders/{id}/refund/claim`.
    pub async fn refund_claim_raw(
        &self,
        order_id: &str,
        req: &RefundClaimRequest,
    ) -> Result<BlindSignaturesResponse> {
        self.post(&format!("/v1/orders/{order_id}/refund/claim"), req)
            .await
    }

    pub async fn coin_states(&self, pubs: &[CoinPub]) -> Result<Vec<CoinState>> {
        let r: CoinStateResponse = self
            .post(
                "/v1/coins/state",
                &CoinStateRequest {
                    coin_pubs: pubs.to_vec(),
                },
            )
            .await?;
        if r.states.len() != pubs.len() || r.states.iter().zip(pubs).any(|(s, p)| s.coin_pub != *p)
        {
            return Err(ClientError::Protocol("coin states out of order".into()));
        }
        Ok(r.states.into_iter().map(|s| s.state).collect())
    }
}

/// A coin the wallet owns: the coin and its secret.
#[derive(Debug, Clone)]
pub struct OwnedCoin {
    pub coin: Coin,
    pub secret: CoinSecret,
    pub value: Amount,
}

impl OwnedCoin {
    /// The coin with its signature over `msg`.
    pub fn spend(&self, msg: &SpendMessage) -> SpendCoin {
        SpendCoin {
            coin: self.coin.clone(),
            coin_sig: self.secret.sign(msg),
        }
    }
}

/// Planchets of a withdraw or swap in flight: what must be kept to finish it.
#[derive(Debug, Clone)]
pub struct Planchets {
    pub items: Vec<(PlanchetSecrets, Keyset)>,
}

impl Planchets {
    pub fn blinded(&self) -> Vec<ecash_shared::coin::BlindedCoin> {
        self.items.iter().map(|(p, _)| p.blinded.clone()).collect()
    }

    pub fn value(&self) -> Amount {
        Amount::checked_sum(self.items.iter().map(|(_, k)| k.value)).unwrap()
    }

    /// Unblinds the bank's answer into coins (each verified).
    pub fn finish(&self, sigs: &BlindSignaturesResponse) -> Result<Vec<OwnedCoin>> {
        if sigs.blind_sigs.len() != self.items.len() {
            return Err(ClientError::Protocol("wrong number of signatures".into()));
        }
        self.items
            .iter()
            .zip(&sigs.blind_sigs)
            .map(|((p, k), s)| {
                let coin = p
                    .finish(k, s.as_slice())
                    .map_err(|e| ClientError::Protocol(format!("unblinding: {e}")))?;
                Ok(OwnedCoin {
                    coin,
                    secret: p.secret.clone(),
                    value: k.value,
                })
            })
            .collect()
    }
}

/// A withdraw in flight.
#[derive(Debug, Clone)]
pub struct PendingWithdraw {
    pub request: WithdrawRequest,
    pub planchets: Planchets,
}

/// A swap in flight.
#[derive(Debug, Clone)]
pub struct PendingSwap {
    pub request: SwapRequest,
    pub planchets: Planchets,
}

/// 16 random bytes, base64url: a withdraw idempotency key.
pub fn random_request_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    b64_encode(&b)
}

/// A refund claim in flight.
#[derive(Debug, Clone)]
pub struct PendingRefundClaim {
    pub order_id: String,
    pub request: RefundClaimRequest,
    pub planchets: Planchets,
}

/// A create-order request with only an amount and a summary.
pub fn order_request(amount: u64, summary: &str) -> CreateOrderRequest {
    CreateOrderRequest {
        amount: Amount::from_minor(amount),
        summary: summary.to_owned(),
        fulfillment_url: None,
        expires_in: None,
        allowed_origin: None,
    }
}

/// The pay request of `coins` for a contract hash.
pub fn pay_request(contract_hash: &[u8; 32], coins: &[OwnedCoin]) -> PayRequest {
    let msg = SpendMessage::Pay {
        contract_hash: *contract_hash,
    };
    PayRequest {
        coins: coins.iter().map(|c| c.spend(&msg)).collect(),
    }
}

/// A wallet: a logged-in client and the bank's keysets.
#[derive(Debug, Clone)]
pub struct Wallet {
    pub client: Client,
    pub username: String,
    pub keysets: HashMap<KeysetId, Keyset>,
    pub receipt_key: [u8; 32],
}

impl Wallet {
    /// Fetches the keysets for a logged-in client.
    pub async fn new(client: Client, username: &str) -> Result<Self> {
        let keys = client.keys().await?;
        let mut keysets = HashMap::new();
        for info in &keys.keysets {
            let k = Keyset::from_info(info, keys.currency)
                .map_err(|e| ClientError::Protocol(format!("keyset {}: {e}", info.id)))?;
            keysets.insert(k.id, k);
        }
        Ok(Wallet {
            client,
            username: username.to_owned(),
            keysets,
            receipt_key: keys.receipt_key,
        })
    }

    /// The keyset that signs coins of `value` now (the newest one).
    pub fn keyset_for(&self, value: Amount) -> Option<&Keyset> {
        let now = now();
        self.keysets
            .values()
            .filter(|k| k.value == value && k.can_withdraw(now))
            .max_by_key(|k| (k.withdraw_until, k.id))
    }

    /// The denominations that can be withdrawn now.
    pub fn denominations(&self) -> Vec<Amount> {
        let now = now();
        let mut v: Vec<Amount> = self
            .keysets
            .values()
            .filter(|k| k.can_withdraw(now))
            .map(|k| k.value)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Planchets for `amount`, split into the fewest coins.
    pub fn planchets(&self, amount: Amount) -> Planchets {
        let split = ecash_shared::denom::split(amount, &self.denominations()).unwrap();
        let mut items = Vec::new();
        for (value, n) in split {
            let k = self.keyset_for(value).unwrap();
            for _ in 0..n {
                items.push((PlanchetSecrets::create(k).unwrap(), k.clone()));
            }
        }
        Planchets { items }
    }

    /// Planchets for explicit coin values.
    pub fn planchets_of(&self, values: &[u64]) -> Planchets {
        let items = values
            .iter()
            .map(|&v| {
                let k = self.keyset_for(Amount::from_minor(v)).unwrap();
                (PlanchetSecrets::create(k).unwrap(), k.clone())
            })
            .collect();
        Planchets { items }
    }

    pub fn prepare_withdraw(&self, amount: u64) -> PendingWithdraw {
        let planchets = self.planchets(Amount::from_minor(amount));
        PendingWithdraw {
            request: WithdrawRequest {
                request_id: random_request_id(),
                coins: planchets.blinded(),
            },
            planchets,
        }
    }

    pub async fn finish_withdraw(&self, w: &PendingWithdraw) -> Result<Vec<OwnedCoin>> {
        let sigs = self.client.withdraw_raw(&w.request).await?;
        w.planchets.finish(&sigs)
    }

    /// Withdraws coins of exactly these values.
    pub async fn withdraw_values(&self, values: &[u64]) -> Result<Vec<OwnedCoin>> {
        let planchets = self.planchets_of(values);
        let w = PendingWithdraw {
            request: WithdrawRequest {
                request_id: random_request_id(),
                coins: planchets.blinded(),
            },
            planchets,
        };
        self.finish_withdraw(&w).await
    }

    /// Withdraws `amount` in the fewest coins.
    pub async fn withdraw(&self, amount: u64) -> Result<Vec<OwnedCoin>> {
        let w = self.prepare_withdraw(amount);
        self.finish_withdraw(&w).await
    }

    /// A swap of `inputs` into fresh coins of `values` (or of the same total,
    /// split into the fewest coins, when `values` is `None`).
    pub fn prepare_swap(&self, inputs: &[OwnedCoin], values: Option<&[u64]>) -> PendingSwap {
        let planchets = match values {
            Some(v) => self.planchets_of(v),
            None => self.planchets(Amount::checked_sum(inputs.iter().map(|c| c.value)).unwrap()),
        };
        let outputs = planchets.blinded();
        let msg = SpendMessage::Swap {
            outputs_hash: hash_outputs(&outputs),
        };
        PendingSwap {
            request: SwapRequest {
                inputs: inputs.iter().map(|c| c.spend(&msg)).collect(),
                outputs,
            },
            planchets,
        }
    }

    pub async fn finish_swap(&self, s: &PendingSwap) -> Result<Vec<OwnedCoin>> {
        let sigs = self.client.swap_raw(&s.request).await?;
        s.planchets.finish(&sigs)
    }

    pub async fn swap(
        &self,
        inputs: &[OwnedCoin],
        values: Option<&[u64]>,
    ) -> Result<Vec<OwnedCoin>> {
        let s = self.prepare_swap(inputs, values);
        self.finish_swap(&s).await
    }

    /// The deposit of `coins` into this wallet's account.
    pub fn deposit_request(&self, coins: &[OwnedCoin]) -> DepositRequest {
        let msg = SpendMessage::Deposit {
            account: self.username.clone(),
        };
        DepositRequest {
            coins: coins.iter().map(|c| c.spend(&msg)).collect(),
        }
    }

    pub async fn deposit(&self, coins: &[OwnedCoin]) -> Result<DepositResponse> {
        self.client.deposit_raw(&self.deposit_request(coins)).await
    }

    /// Pays an order the way the cyberwallet does: fetch the contract, check
    /// its hash, sign the coins over it, pay, and verify the receipt.
    pub async fn pay_order(&self, order_id: &str, coins: &[OwnedCoin]) -> Result<Receipt> {
        let contract = self.client.contract(order_id).await?;
        if contract.order_id != order_id || !contract.hash_is_valid() {
            return Err(ClientError::Protocol("contract hash mismatch".into()));
        }
        let resp = self
            .client
            .pay_raw(order_id, &pay_request(&contract.contract_hash, coins))
            .await?;
        let r = resp.receipt;
        if r.order_id != order_id
            || r.contract_hash != contract.contract_hash
            || r.amount != contract.amount
            || !r.verify(&self.receipt_key)
        {
            return Err(ClientError::Protocol("receipt does not verify".into()));
        }
        Ok(r)
    }

    /// A refund claim for `order_id` paid with `paid`, into fresh coins of
    /// `values` (or of `amount` split into the fewest coins).
    pub fn prepare_refund_claim(
        &self,
        order_id: &str,
        paid: &[OwnedCoin],
        amount: u64,
        values: Option<&[u64]>,
    ) -> PendingRefundClaim {
        let planchets = match values {
            Some(v) => self.planchets_of(v),
            None => self.planchets(Amount::from_minor(amount)),
        };
        let outputs = planchets.blinded();
        let msg = SpendMessage::Refund {
            order_id: order_id.to_owned(),
            outputs_hash: hash_outputs(&outputs),
        };
        PendingRefundClaim {
            order_id: order_id.to_owned(),
            request: RefundClaimRequest {
                coin_pubs: paid.iter().map(|c| c.coin.coin_pub).collect(),
                sigs: paid.iter().map(|c| c.secret.sign(&msg)).collect(),
                outputs,
            },
            planchets,
        }
    }

    pub async fn finish_refund_claim(&self, c: &PendingRefundClaim) -> Result<Vec<OwnedCoin>> {
        let sigs = self
            .client
            .refund_claim_raw(&c.order_id, &c.request)
            .await?;
        c.planchets.finish(&sigs)
    }
}

/// The current time.
pub fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Timestamp::from_unix(i64::try_from(secs).unwrap())
}

/// Total value of coins.
pub fn total(coins: &[OwnedCoin]) -> u64 {
    coins.iter().map(|c| c.value.minor()).sum()
}

/// Asserts a call failed with `code`.
pub fn expect_code<T: std::fmt::Debug>(r: Result<T>, code: ErrorCode) {
    match r {
        Err(ClientError::Api { status, error }) => {
            assert_eq!(error.code, code, "detail: {}", error.detail);
            assert_eq!(status, code.http_status());
        }
        other => panic!("expected {code}, got {other:?}"),
    }
}
