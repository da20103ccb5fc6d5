//! Electronic purse cards (crate `ecash-card`): the bank as card issuer.
//!
//! The issuer key (ed25519) is in the private key file next to the receipt key and
//! is published at `GET /v1/cards/issuer`; a wallet writes it into a blank card at
//! INITIALIZE. Bodies are the types of [`ecash_card::api`].
//!
//! - `POST /v1/cards` (bearer) `{card_pub, mode}` → `{card_id, cert}`: a fresh
//!   random card id and the issuer's certificate with the risk profile of a
//!   *virtual* card (low caps and limits, see [`profile`]), registered to the
//!   caller. The same key again by the same account and mode answers the stored
//!   certificate (a retry); another account's key is `FORBIDDEN`, another mode
//!   `IDEMPOTENCY_CONFLICT`.
//! - `POST /v1/cards/{id}/loads` (bearer, the card's owner) `{amount, load_seq}` →
//!   `{auth}`: `load_seq` must be the card's next load number (GET STATUS); the
//!   account is debited (ledger kind `card_load`) and the signed authorization
//!   stored under `(card_id, load_seq)` in one transaction before it leaves. A retry
//!   with the same number and amount answers the stored authorization and debits
//!   nothing; another amount is `IDEMPOTENCY_CONFLICT`; any other number
//!   `BAD_REQUEST`. Zero or above the card's cap: `INVALID_AMOUNT`; balance too
//!   low: `INSUFFICIENT_FUNDS`; not the owner: `FORBIDDEN`; no such card: `NOT_FOUND`.
//! - `POST /v1/cards/{id}/unloads` (bearer) `{proof}` → `{card_id, unload_seq, amount}`:
//!   the proof must be signed by the certified card key (`BAD_REQUEST` otherwise, or
//!   for a proof of another card than `{id}`), its destination must be
//!   [`destination_for_account`] of the caller (`FORBIDDEN`); the caller is credited
//!   once per `(card_id, unload_seq)` (ledger kind `card_unload`). The identical
//!   proof again answers the same result and credits nothing; a *different* proof
//!   under a used number can only come from a copy of the card (a cloned virtual
//!   card) and is refused with `IDEMPOTENCY_CONFLICT`.
//!
//! Bad input changes nothing. For the audit, value on cards is loads − unloads
//! (see [`audit`](crate::audit)).

use actix_web::{HttpResponse, web};
use ecash_card::api::{
    CertifyRequest, CertifyResponse, IssuerInfo, LoadRequest, LoadResponse, UnloadRequest,
    UnloadResponse,
};
use ecash_card::cert::{CardCert, CardProfile, Mode};
use ecash_card::keys::CardId;
use ecash_card::load::{LoadAuthBody, LoadKind};
use ecash_card::unload::destination_for_account;
use ecash_shared::{Amount, Currency, ErrorCode};

use crate::Bank;
use crate::auth::Authenticated;
use crate::error::{ApiError, BlockingFailed, blocking};
use crate::storage::{
    CardLoadOutcome, CardRecord, MAX_STORED_AMOUNT, NewCard, NewCardLoad, NewCardUnload,
    StorageError,
};

/// Errors of the card endpoints.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// The path is not 16 hex digits.
    #[error("card ids are 16 hexadecimal digits")]
    BadCardId,
    /// Loads are for the card's owner.
    #[error("this card is registered to another account")]
    NotYourCard,
    /// Zero or above the card's cap.
    #[error("the amount must be between 1 and {0} minor units (the card's balance cap)")]
    InvalidAmount(u64),
    /// Load numbers start at 1.
    #[error("load_seq starts at 1")]
    ZeroLoadSeq,
    /// The proof is for another card.
    #[error("the unload proof is for card {0}, not this one")]
    OtherCard(CardId),
    /// Signature, certificate or currency do not check.
    #[error("the unload proof does not verify: {0}")]
    BadProof(ecash_card::Error),
    /// The proof pays another account.
    #[error("the unload proof names another account as its destination")]
    WrongDestination,
    /// Zero unload.
    #[error("the unload proof carries no value")]
    ZeroUnload,
    /// A stored certificate that does not parse.
    #[error("stored card certificate is corrupt")]
    CorruptCert(ecash_card::Error),
    /// No randomness.
    #[error("random number generator unavailable")]
    Rng,
    /// Storage: insufficient funds, conflicts, …
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

impl ApiError for CardError {
    fn code(&self) -> ErrorCode {
        match self {
            CardError::BadCardId => ErrorCode::NotFound,
            CardError::NotYourCard | CardError::WrongDestination => ErrorCode::Forbidden,
            CardError::InvalidAmount(_) | CardError::ZeroUnload => ErrorCode::InvalidAmount,
            CardError::ZeroLoadSeq | CardError::OtherCard(_) | CardError::BadProof(_) => {
                ErrorCode::BadRequest
            }
            CardError::CorruptCert(_) | CardError::Rng | CardError::Blocking(_) => {
                ErrorCode::Internal
            }
            CardError::Storage(e) => e.code(),
        }
    }
}
crate::api_error!(CardError);

/// Registers the card routes (under `/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/cards/issuer", web::get().to(issuer))
        .route("/cards", web::post().to(certify))
        .route("/cards/{id}/loads", web::post().to(load))
        .route("/cards/{id}/unloads", web::post().to(unload));
}

/// The risk profile of a virtual card (a key in a browser's storage, not a
/// tamper-resistant chip): low caps and limits, in minor units.
pub fn profile(mode: Mode, currency: Currency) -> CardProfile {
    let (cap, per_transfer, daily) = match mode {
        Mode::Personal => (20_000, 5_000, 10_000),
        Mode::Terminal => (100_000, 5_000, 20_000),
    };
    CardProfile {
        mode,
        currency,
        balance_cap: Amount::from_minor(cap),
        per_transfer_limit: Amount::from_minor(per_transfer),
        daily_limit: Amount::from_minor(daily),
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Personal => "personal",
        Mode::Terminal => "terminal",
    }
}

fn parse_card_id(s: &str) -> Result<[u8; 8], CardError> {
    if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CardError::BadCardId);
    }
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| CardError::BadCardId)?;
    }
    Ok(out)
}

/// Days since 1970-01-01 (the cards' date).
fn today() -> u32 {
    u32::try_from(crate::now().unix().max(0) / 86_400).unwrap_or(u32::MAX)
}

async fn find_card(bank: &web::Data<Bank>, id: [u8; 8]) -> Result<CardRecord, CardError> {
    let b = bank.clone();
    blocking(move || b.storage.card(&id).map_err(CardError::from))
        .await?
        .ok_or(CardError::Storage(StorageError::UnknownCard))
}

async fn issuer(bank: web::Data<Bank>) -> HttpResponse {
    HttpResponse::Ok().json(IssuerInfo {
        issuer_key: bank.keys.card_issuer().public_key(),
        currency: bank.keys.currency(),
    })
}

async fn certify(
    bank: web::Data<Bank>,
    auth: Authenticated,
    body: web::Json<CertifyRequest>,
) -> Result<HttpResponse, CardError> {
    let req = body.into_inner();
    let currency = bank.keys.currency();
    let account_id = auth.0.id;
    let now = crate::now();
    let record = blocking(move || {
        // A random 64-bit id; draw again on the (unlikely) collision.
        for _ in 0..4 {
            let mut id = [0u8; 8];
            getrandom::fill(&mut id).map_err(|_| CardError::Rng)?;
            let cert = bank.keys.card_issuer().certify(
                CardId(id),
                req.card_pub,
                profile(req.mode, currency),
            );
            match bank.storage.create_card(&NewCard {
                id,
                card_pub: req.card_pub.to_bytes(),
                account_id,
                mode: mode_name(req.mode).to_owned(),
                currency,
                cert: cert.to_bytes(),
                now,
            }) {
                Err(StorageError::CardIdTaken) => continue,
                other => return other.map_err(CardError::from),
            }
        }
        Err(CardError::Storage(StorageError::CardIdTaken))
    })
    .await?;
    let cert = CardCert::parse(&record.cert).map_err(CardError::CorruptCert)?;
    Ok(HttpResponse::Ok().json(CertifyResponse {
        card_id: cert.card_id,
        cert,
    }))
}

async fn load(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<LoadRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let req = body.into_inner();
    let card = find_card(&bank, id).await?;
    if card.account_id != auth.0.id {
        return Err(CardError::NotYourCard);
    }
    let cert = CardCert::parse(&card.cert).map_err(CardError::CorruptCert)?;
    let cap = cert.profile.balance_cap.min(MAX_STORED_AMOUNT);
    if req.amount.is_zero() || req.amount > cap {
        return Err(CardError::InvalidAmount(cap.minor()));
    }
    if req.load_seq == 0 {
        return Err(CardError::ZeroLoadSeq);
    }
    let auth_msg = bank.keys.card_issuer().sign_load(LoadAuthBody {
        card_id: CardId(id),
        currency: cert.profile.currency,
        amount: req.amount,
        load_seq: req.load_seq,
        kind: LoadKind::Bank,
        day: today(),
    });
    let new = NewCardLoad {
        card_id: id,
        account_id: auth.0.id,
        currency: cert.profile.currency,
        amount: req.amount,
        load_seq: req.load_seq,
        auth: auth_msg.to_bytes(),
        now: crate::now(),
    };
    let b = bank.clone();
    let outcome = blocking(move || b.storage.card_load(&new).map_err(CardError::from)).await?;
    let auth_msg = match outcome {
        CardLoadOutcome::Done { .. } => auth_msg,
        CardLoadOutcome::Replayed(stored) => ecash_card::load::LoadAuth::parse(&stored)
            .map_err(|_| CardError::Storage(StorageError::backend(CorruptAuth)))?,
    };
    Ok(HttpResponse::Ok().json(LoadResponse { auth: auth_msg }))
}

#[derive(Debug, thiserror::Error)]
#[error("stored load authorization does not parse")]
struct CorruptAuth;

async fn unload(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<UnloadRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let proof = body.into_inner().proof;
    if proof.body.card_id.0 != id {
        return Err(CardError::OtherCard(proof.body.card_id));
    }
    let card = find_card(&bank, id).await?;
    let cert = CardCert::parse(&card.cert).map_err(CardError::CorruptCert)?;
    bank.keys
        .card_issuer()
        .check_unload(&cert, &proof)
        .map_err(CardError::BadProof)?;
    if proof.body.destination != destination_for_account(&auth.0.username) {
        return Err(CardError::WrongDestination);
    }
    if proof.body.amount.is_zero() {
        return Err(CardError::ZeroUnload);
    }
    if proof.body.amount > MAX_STORED_AMOUNT {
        return Err(CardError::Storage(StorageError::AmountOverflow));
    }
    let new = NewCardUnload {
        card_id: id,
        account_id: auth.0.id,
        currency: proof.body.currency,
        amount: proof.body.amount,
        unload_seq: proof.body.unload_seq,
        proof: proof.to_bytes(),
        now: crate::now(),
    };
    let b = bank.clone();
    blocking(move || b.storage.card_unload(&new).map_err(CardError::from)).await?;
    Ok(HttpResponse::Ok().json(UnloadResponse {
        card_id: proof.body.card_id,
        unload_seq: proof.body.unload_seq,
        amount: proof.body.amount,
    }))
}
