//! Request and response bodies of every HTTP endpoint (ARCHITECTURE.md, "HTTP API").
//!
//! Every struct rejects unknown fields; bytes are unpadded base64url, amounts
//! integer minor units, times RFC 3339 UTC.

use serde::{Deserialize, Serialize};

use crate::amount::{Amount, Currency};
use crate::coin::{BlindedCoin, Coin, CoinPub, CoinSig};
use crate::encoding::{Bytes, Timestamp, b64_array};
use crate::keyset::KeysetInfo;

/// Most coins accepted in one withdraw, deposit, swap or pay request.
pub const MAX_COINS_PER_REQUEST: usize = 1024;

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthResponse {
    /// Always `"ok"` when the server answers.
    pub status: String,
    /// Server version.
    pub version: String,
}

/// `GET /v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysResponse {
    /// The bank's currency.
    pub currency: Currency,
    /// The bank's ed25519 receipt-signing public key.
    #[serde(with = "b64_array")]
    pub receipt_key: [u8; 32],
    /// Every keyset still valid for deposit.
    pub keysets: Vec<KeysetInfo>,
}

/// `POST /v1/accounts` and `POST /v1/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Username.
    pub username: String,
    /// Password (never logged; `Debug` redacts it).
    pub password: String,
    /// Open the account as a merchant (account creation only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merchant: bool,
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("merchant", &self.merchant)
            .finish()
    }
}

/// `POST /v1/accounts` answer (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountCreated {
    /// The new account's username.
    pub username: String,
}

/// `POST /v1/login` answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    /// When the token stops working.
    pub expires_at: Timestamp,
}

impl core::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// `GET /v1/accounts/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountInfo {
    /// Username.
    pub username: String,
    /// Balance.
    pub balance: Amount,
    /// Currency of the balance.
    pub currency: Currency,
    /// Whether the account is a merchant.
    pub merchant: bool,
    /// What the account owes the bank (a card of its own gave out more than was
    /// loaded onto it and the balance did not cover it): paid first out of every
    /// credit; while non-zero the account cannot withdraw, pay out or load a card.
    #[serde(default)]
    pub debt: Amount,
}

/// Kind of a ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LedgerKind {
    /// Money wired in by the operator.
    Credit,
    /// Money wired out to a bank account.
    Payout,
    /// Coins withdrawn (debit).
    Withdraw,
    /// Coins deposited (credit).
    Deposit,
    /// Coins received for a merchant order (credit).
    OrderPayment,
    /// A refund granted by a merchant (debit).
    Refund,
    /// Money loaded onto an electronic purse card (debit).
    CardLoad,
    /// Value unloaded from an electronic purse card back to the account (credit).
    CardUnload,
    /// The shortfall of an own card caught over-spending, taken from the balance
    /// (debit).
    CardShortfall,
    /// A debt to the bank paid out of money coming in (debit).
    DebtRepayment,
}

/// One ledger entry; `amount` is signed by `direction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// Entry id, increasing.
    pub id: i64,
    /// What moved the money.
    pub kind: LedgerKind,
    /// `true` when the account was credited, `false` when debited.
    pub credit: bool,
    /// Amount moved.
    pub amount: Amount,
    /// Balance after the entry.
    pub balance_after: Amount,
    /// When.
    pub created_at: Timestamp,
    /// Human description (e.g. order id, masked IBAN).
    pub memo: String,
}

/// The query string of `GET /v1/accounts/me/history?limit&before`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Entries per page, 1 to [`HISTORY_MAX_LIMIT`] (default [`HISTORY_DEFAULT_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Only entries with a smaller id: the previous page's `next_before`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

/// Default page size of the history.
pub const HISTORY_DEFAULT_LIMIT: u32 = 50;
/// Largest page size of the history.
pub const HISTORY_MAX_LIMIT: u32 = 500;

/// `GET /v1/accounts/me/history?limit&before`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryResponse {
    /// Newest first.
    pub entries: Vec<LedgerEntry>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// `POST /v1/admin/credit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminCreditRequest {
    /// Account to credit.
    pub username: String,
    /// Amount wired in.
    pub amount: Amount,
}

/// `POST /v1/accounts/me/payout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// Amount wired out.
    pub amount: Amount,
    /// Destination account number.
    pub iban: String,
}

/// Answer to credit and payout: the new balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceResponse {
    /// Balance after the operation.
    pub balance: Amount,
}

/// `POST /v1/withdraw`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    /// Client-chosen idempotency key (16–64 bytes of entropy, base64url).
    pub request_id: String,
    /// Blinded coins to sign.
    pub coins: Vec<BlindedCoin>,
}

/// Blind signatures, in request order (withdraw, swap, refund claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlindSignaturesResponse {
    /// RFC 9474 `blind_sig` for each output.
    pub blind_sigs: Vec<Bytes>,
}

/// A coin together with its signature for one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendCoin {
    /// The coin.
    pub coin: Coin,
    /// The coin key's signature over the operation's `SpendMessage`.
    pub coin_sig: CoinSig,
}

/// `POST /v1/deposit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// Coins, each signed over `SpendMessage::Deposit { account }`.
    pub coins: Vec<SpendCoin>,
}

/// `POST /v1/deposit` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositResponse {
    /// Value credited.
    pub credited: Amount,
    /// Balance after.
    pub balance: Amount,
}

/// `POST /v1/swap`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapRequest {
    /// Coins in, each signed over `SpendMessage::Swap { hash_outputs(outputs) }`.
    pub inputs: Vec<SpendCoin>,
    /// Blinded coins out, of equal total value.
    pub outputs: Vec<BlindedCoin>,
}

/// `POST /v1/coins/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinStateRequest {
    /// Coins asked about.
    pub coin_pubs: Vec<CoinPub>,
}

/// Whether a coin is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoinState {
    /// Never seen spent.
    Unspent,
    /// Recorded in the spent set.
    Spent,
}

/// The state of one coin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinStateEntry {
    /// The coin.
    pub coin_pub: CoinPub,
    /// Its state.
    pub state: CoinState,
}

/// `POST /v1/coins/state` answer, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoinStateResponse {
    /// One entry per requested coin.
    pub states: Vec<CoinStateEntry>,
}

/// Longest order summary, in bytes.
pub const MAX_SUMMARY_LEN: usize = 500;
/// Longest `fulfillment_url` and `allowed_origin`, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest order lifetime (`expires_in`), in seconds: 30 days.
pub const MAX_ORDER_TTL_SECS: u64 = 30 * 24 * 3600;
/// Order lifetime when `expires_in` is absent, in seconds: one hour.
pub const DEFAULT_ORDER_TTL_SECS: u64 = 3600;
/// Longest wait of a long-polled `GET /v1/orders/{id}/status?timeout_ms=`.
pub const MAX_STATUS_TIMEOUT_MS: u64 = 30_000;

/// `POST /v1/merchant/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// Price.
    pub amount: Amount,
    /// What is sold.
    pub summary: String,
    /// Where the shop sends the buyer after payment.
    #[serde(default)]
    pub fulfillment_url: Option<String>,
    /// Seconds until the order expires: 1 to [`MAX_ORDER_TTL_SECS`]
    /// (default [`DEFAULT_ORDER_TTL_SECS`]).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Origin allowed to receive the receipt by `postMessage` (the shop's
    /// page), as `scheme://host[:port]` with scheme `http` or `https`.
    #[serde(default)]
    pub allowed_origin: Option<String>,
}

/// The contract a wallet pays: `GET /v1/orders/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Order id.
    pub order_id: String,
    /// Merchant's name.
    pub merchant: String,
    /// Price.
    pub amount: Amount,
    /// Currency.
    pub currency: Currency,
    /// What is sold.
    pub summary: String,
    /// Fulfillment URL, if any.
    pub fulfillment_url: Option<String>,
    /// Origin allowed to receive the receipt by `postMessage`.
    pub allowed_origin: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Payment deadline.
    pub expires_at: Timestamp,
    /// SHA-256 of the canonical encoding (see [`Contract::compute_hash`]).
    #[serde(with = "b64_array")]
    pub contract_hash: [u8; 32],
}

impl Contract {
    /// SHA-256 over a canonical, length-prefixed encoding of every field but
    /// the hash itself. The wallet recomputes it and refuses a mismatch.
    pub fn compute_hash(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        };
        field(b"ecash/v1/contract");
        field(self.order_id.as_bytes());
        field(self.merchant.as_bytes());
        field(&self.amount.minor().to_be_bytes());
        field(self.currency.as_str().as_bytes());
        field(self.summary.as_bytes());
        field(self.fulfillment_url.as_deref().unwrap_or("").as_bytes());
        field(self.allowed_origin.as_deref().unwrap_or("").as_bytes());
        field(&self.created_at.unix().to_be_bytes());
        field(&self.expires_at.unix().to_be_bytes());
        h.finalize().into()
    }

    /// Whether `contract_hash` matches the other fields.
    pub fn hash_is_valid(&self) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.compute_hash().ct_eq(&self.contract_hash))
    }
}

/// `POST /v1/merchant/orders` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderResponse {
    /// Order id.
    pub order_id: String,
    /// `ecash://pay/{host}/{order_id}`.
    pub pay_uri: String,
    /// The contract.
    pub contract: Contract,
}

/// `POST /v1/orders/{id}/pay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// Coins, each signed over `SpendMessage::Pay { contract_hash }`.
    pub coins: Vec<SpendCoin>,
}

/// A payment receipt signed by the bank's receipt key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Order id.
    pub order_id: String,
    /// Contract paid.
    #[serde(with = "b64_array")]
    pub contract_hash: [u8; 32],
    /// Amount paid.
    pub amount: Amount,
    /// When.
    pub paid_at: Timestamp,
    /// ed25519 signature by `receipt_key` over [`Receipt::signed_bytes`].
    #[serde(with = "b64_array")]
    pub bank_sig: [u8; 64],
}

impl Receipt {
    /// The bytes `bank_sig` signs.
    pub fn signed_bytes(
        order_id: &str,
        contract_hash: &[u8; 32],
        amount: Amount,
        paid_at: Timestamp,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        for b in [
            &b"ecash/v1/receipt"[..],
            order_id.as_bytes(),
            contract_hash,
            &amount.minor().to_be_bytes(),
            &paid_at.unix().to_be_bytes(),
        ] {
            out.extend_from_slice(&(b.len() as u64).to_be_bytes());
            out.extend_from_slice(b);
        }
        out
    }

    /// Checks `bank_sig` against the bank's receipt key.
    pub fn verify(&self, receipt_key: &[u8; 32]) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(receipt_key) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&self.bank_sig);
        let msg = Receipt::signed_bytes(
            &self.order_id,
            &self.contract_hash,
            self.amount,
            self.paid_at,
        );
        key.verify_strict(&msg, &sig).is_ok()
    }
}

/// `POST /v1/orders/{id}/pay` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayResponse {
    /// The receipt.
    pub receipt: Receipt,
}

/// An order's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Not paid yet.
    Unpaid,
    /// Paid.
    Paid,
    /// Paid, then (partly) refunded.
    Refunded,
    /// Expired unpaid.
    Expired,
}

/// `GET /v1/orders/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderStatusResponse {
    /// State.
    pub state: OrderState,
    /// The receipt once paid.
    pub receipt: Option<Receipt>,
    /// Refunded amount, if any.
    pub refunded: Option<Amount>,
}

/// The query string of `GET /v1/orders/{id}/status?timeout_ms=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderStatusQuery {
    /// Long poll: while the order is unpaid (and not expired), wait up to this
    /// many milliseconds for it to change (capped at [`MAX_STATUS_TIMEOUT_MS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// One order as its merchant sees it (`GET /v1/merchant/orders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantOrder {
    /// The contract.
    pub contract: Contract,
    /// `ecash://pay/{host}/{order_id}`.
    pub pay_uri: String,
    /// State.
    pub state: OrderState,
    /// The receipt once paid.
    pub receipt: Option<Receipt>,
    /// Total refunded by the merchant.
    pub refunded: Amount,
    /// Part of `refunded` the payer has claimed as fresh coins.
    pub refund_claimed: Amount,
}

/// The query string of `GET /v1/merchant/orders?limit&before`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderListQuery {
    /// Orders per page, 1 to [`HISTORY_MAX_LIMIT`] (default [`HISTORY_DEFAULT_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The previous page's `next_before`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

/// `GET /v1/merchant/orders`: the merchant's orders, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantOrdersResponse {
    /// Newest first.
    pub orders: Vec<MerchantOrder>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// `POST /v1/merchant/orders/{id}/refund` (merchant bearer): give back part
/// or all of a payment. The merchant's account is debited now; the payer
/// claims the value as fresh coins with [`RefundClaimRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// At most what was paid minus what was refunded before.
    pub amount: Amount,
}

/// `POST /v1/merchant/orders/{id}/refund` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundResponse {
    /// The order.
    pub order_id: String,
    /// Total refunded on this order so far.
    pub refunded: Amount,
    /// The merchant's balance after the debit.
    pub balance: Amount,
}

/// `POST /v1/orders/{id}/refund/claim` (no account): the payer proves it paid
/// the order by signing with the keys of the coins that paid it, and gets
/// blinded coins worth the unclaimed refund signed
/// ([`BlindSignaturesResponse`]).
///
/// `sigs[i]` is `coin_pubs[i]`'s signature over
/// `SpendMessage::Refund { order_id, outputs_hash: hash_outputs(outputs) }`.
/// Every coin that paid the order must sign, in any order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundClaimRequest {
    /// The coins that paid the order.
    pub coin_pubs: Vec<CoinPub>,
    /// One signature per coin, in the same order.
    pub sigs: Vec<CoinSig>,
    /// Blinded coins worth exactly the unclaimed refund.
    pub outputs: Vec<BlindedCoin>,
}
