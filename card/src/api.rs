//! JSON bodies of the bank's card endpoints (`bank-server`'s `cards` module), shared by
//! the bank, the wallet page and the tests. Keys, ids and signed messages travel as
//! lower-case hex (their fixed-layout encodings); amounts as minor units.
//!
//! | endpoint | request | answer |
//! |---|---|---|
//! | `GET /v1/cards/issuer` | – | [`IssuerInfo`] |
//! | `POST /v1/cards` (bearer) | [`CertifyRequest`] | [`CertifyResponse`] |
//! | `POST /v1/cards/{id}/loads` (bearer, the card's owner) | [`LoadRequest`] | [`LoadResponse`] |
//! | `POST /v1/cards/{id}/unloads` (bearer, the proof's destination) | [`UnloadRequest`] | [`UnloadResponse`] |
//! | `GET /v1/cards/{id}/loads?from=N` (bearer, the card's owner) | [`LoadsQuery`] | [`LoadsResponse`] |
//! | `POST /v1/cards/{id}/exceptions` (bearer, the card's owner) | [`ExceptionsRequest`] | [`ExceptionsResponse`] |
//! | `POST /v1/cards/{id}/transfers` (bearer, the payee card's owner) | [`TransfersRequest`] | [`TransfersResponse`] |
//! | `GET /v1/cards/{id}` (bearer, the card's owner) | – | [`CardInfo`] |
//! | `POST /v1/cards/{id}/unlock` (operator token) | [`UnlockRequest`] | [`UnlockResponse`] |
//! | `POST /v1/cards/{id}/unlock-requests` (bearer, the card's owner) | [`NewUnlockRequest`] | [`UnlockStatus`] |
//! | `GET /v1/cards/{id}/unlock` (bearer, the card's owner) | – | [`UnlockStatus`] (`NO_UNLOCK_REQUEST` when there is none) |

use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency};
use serde::{Deserialize, Serialize};

use crate::cert::{CardCert, Mode};
use crate::exception::{ClearAuth, ExceptionRecord};
use crate::keys::{CardId, CardPublicKey, IssuerPublicKey};
use crate::load::LoadAuth;
use crate::risk::{LockReason, LockReport, UnlockAuth};
use crate::settle::{Credit, SettleAuth};
use crate::unload::UnloadProof;

/// Most load authorizations one `GET /v1/cards/{id}/loads` answers; ask again from the
/// last one's `load_seq + 1` for more.
pub const LOADS_PAGE_MAX: usize = 100;

/// `GET /v1/cards/issuer`: the key written into every card at INITIALIZE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerInfo {
    /// The issuer's ed25519 public key.
    pub issuer_key: IssuerPublicKey,
    /// The only currency the bank's cards hold.
    pub currency: Currency,
}

/// `POST /v1/cards`: certify the key a blank card revealed at INITIALIZE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifyRequest {
    /// The card's public key.
    pub card_pub: CardPublicKey,
    /// Personal purse or merchant terminal.
    pub mode: Mode,
}

/// The certificate to PERSONALIZE the card with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifyResponse {
    /// The card's id (also inside the certificate).
    pub card_id: CardId,
    /// The issuer's certificate.
    pub cert: CardCert,
}

/// `POST /v1/cards/{id}/loads`: debit the account, authorize the card's next load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    /// Amount (> 0, at most the card's balance cap).
    pub amount: Amount,
    /// The card's next load sequence number (GET STATUS `next_load_seq`).
    pub load_seq: u32,
}

/// The issuer-signed authorization to LOAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadResponse {
    /// The authorization (the stored one on a retry).
    pub auth: LoadAuth,
}

/// `POST /v1/cards/{id}/unloads`: credit a card-signed unload proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnloadRequest {
    /// The card's proof (its destination must be the caller's account).
    pub proof: UnloadProof,
}

/// What the unload credited (the same answer for a repeat of the same proof, which
/// credits nothing more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnloadResponse {
    /// The card.
    pub card_id: CardId,
    /// The proof's sequence number.
    pub unload_seq: u32,
    /// Amount credited (once).
    pub amount: Amount,
}

/// The query of `GET /v1/cards/{id}/loads?from=N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadsQuery {
    /// The first load number wanted (≥ 1): the card's next one (GET STATUS
    /// `next_load_seq`) to fetch what it has not loaded yet.
    pub from: u32,
}

/// Stored load authorizations (bank loads and recoveries) from `from` on, in order,
/// at most [`LOADS_PAGE_MAX`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadsResponse {
    /// Consecutive load numbers starting at `from` (empty: nothing stored from there).
    pub loads: Vec<LoadAuth>,
}

/// `POST /v1/cards/{id}/exceptions`: the card's exception log as GET EXCEPTION read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionsRequest {
    /// Card-signed records of this card (at most
    /// [`EXCEPTION_LOG_CAPACITY`](crate::exception::EXCEPTION_LOG_CAPACITY) distinct ids).
    pub records: Vec<ExceptionRecord>,
}

/// What the bank did with an exception log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionsResponse {
    /// The clearance naming exactly the ids of the records sent (all stored now or
    /// before), for CLEAR EXCEPTIONS; none when no record was sent.
    pub clear: Option<ClearAuth>,
    /// The recovery loads (kind `Recovery`, for the payer card) of the transfers these
    /// records name that were proven lost, whether by this upload or an earlier one.
    /// The payer card loads them in `load_seq` order, like any load (see
    /// `GET /v1/cards/{id}/loads`).
    pub recovered: Vec<LoadAuth>,
}

/// `POST /v1/cards/{id}/transfers`: the payee card's unsettled credits as GET CREDIT
/// read them (see [`crate::settle`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransfersRequest {
    /// Credits of this card as payee (at most
    /// [`CREDIT_LOG_CAPACITY`](crate::settle::CREDIT_LOG_CAPACITY) distinct ones).
    pub credits: Vec<Credit>,
}

/// A credit the bank will never count, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusedCredit {
    /// The payee card's sequence number of the credit.
    pub payee_seq: u32,
    /// Its value, which the card drops with it.
    pub amount: Amount,
    /// Why, for the owner.
    pub reason: String,
}

/// What the bank did with a card's credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransfersResponse {
    /// The clearance for CLEAR CREDITS naming every credit sent (none when none was).
    pub clear: Option<SettleAuth>,
    /// Payee sequence numbers of the credits settled (now or before).
    pub settled: Vec<u32>,
    /// Credits refused for good.
    pub refused: Vec<RefusedCredit>,
    /// Credits not counted yet (they would take the card's bank-side balance over
    /// its cap while its own payments out are unsettled): they stay on the card;
    /// sync again later.
    #[serde(default)]
    pub deferred: Vec<RefusedCredit>,
    /// The card's bank-side balance after this.
    pub bank_balance: Amount,
}

/// `GET /v1/cards/{id}` (the card's owner): the card as the bank's ledger sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardInfo {
    /// The card.
    pub card_id: CardId,
    /// `personal` or `terminal`.
    pub mode: Mode,
    /// What the bank holds for the card: loads − unloads − settled transfers out +
    /// settled transfers in. No unload or transfer out of the card is paid beyond it.
    pub bank_balance: Amount,
    /// Why the bank blocked the card, if it did.
    pub blocked: Option<String>,
    /// What the owner's account owes the bank (shortfalls of over-spending cards
    /// its own balance could not cover); while non-zero the account cannot
    /// withdraw, pay out or load a card.
    pub account_debt: Amount,
}

/// `POST /v1/cards/{id}/unlock` (operator): reopen a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    /// The card's next unlock number (GET STATUS `next_unlock_seq`).
    pub unlock_seq: u32,
}

/// The operator's decision, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockResponse {
    /// The issuer-signed UNLOCK authorization for the card.
    pub auth: UnlockAuth,
    /// Whether this also lifted a bank-side block (a card caught cloned).
    pub unblocked: bool,
}

/// Longest [`NewUnlockRequest::reason`] (and operator's note), in characters.
pub const UNLOCK_REASON_MAX_CHARS: usize = 200;

/// `POST /v1/cards/{id}/unlock-requests` (the card's owner): ask the bank to reopen a
/// card its risk rules locked, with the card's own signed [`LockReport`] (GET LOCK
/// REPORT), which the bank checks against the card's certificate: the request is for
/// the report's unlock number. One request per `(card, unlock_seq)`: asking again
/// answers the stored one; asking for another number gives the pending one up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUnlockRequest {
    /// The card-signed lock report (hex).
    pub report: LockReport,
    /// Why, for the operator: at most [`UNLOCK_REASON_MAX_CHARS`] characters, no
    /// control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where an unlock request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnlockState {
    /// Waiting for the operator.
    Pending,
    /// The operator approved: [`UnlockStatus::auth`] is the signed UNLOCK.
    Approved,
    /// The operator refused ([`UnlockStatus::note`] may say why).
    Refused,
}

/// A card's unlock request (`GET /v1/cards/{id}/unlock`: the pending one, else the
/// latest decided; the answer of `POST …/unlock-requests` too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockStatus {
    /// The card.
    pub card_id: CardId,
    /// The unlock number asked for. An approval is of use only while the card still
    /// expects this number (GET STATUS `next_unlock_seq`); after that it is stale.
    pub unlock_seq: u32,
    /// Where it stands.
    pub state: UnlockState,
    /// Why the card locked, as its signed lock report said (none on an operator's
    /// unasked unlock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockReason>,
    /// The owner's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was asked for (an operator's unasked unlock: when decided).
    pub requested_at: Timestamp,
    /// When the operator decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// The operator's note on a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Approved: the issuer-signed UNLOCK for `unlock_seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<UnlockAuth>,
}
