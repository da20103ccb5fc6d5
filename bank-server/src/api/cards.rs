//! The card routes (under `/v1/cards`): see [`crate::bank::cards`] for what each
//! does and answers. Each handler parses the path and body, runs one [`Bank`]
//! operation on the blocking pool and answers its JSON.

use actix_web::{HttpResponse, web};
use ecash_card::api::{
    CertifyRequest, ExceptionsRequest, IssuerInfo, LoadRequest, LoadResponse, LoadsQuery,
    LoadsResponse, NewUnlockRequest, TransfersRequest, UnloadRequest, UnlockRequest,
    UnlockResponse,
};
use ecash_shared::ErrorCode;

use crate::Bank;
use crate::api::auth::{Admin, Authenticated};
use crate::api::error::{ApiError, blocking};
pub use crate::bank::cards::*;

impl ApiError for CardError {
    fn code(&self) -> ErrorCode {
        match self {
            CardError::BadCardId => ErrorCode::NotFound,
            CardError::NotYourCard | CardError::WrongDestination => ErrorCode::Forbidden,
            CardError::InvalidAmount(_) | CardError::ZeroUnload => ErrorCode::InvalidAmount,
            CardError::ZeroLoadSeq
            | CardError::OtherCard(_)
            | CardError::BadProof(_)
            | CardError::ZeroFrom
            | CardError::TooManyExceptions
            | CardError::TooManyCredits
            | CardError::BadCredit { .. }
            | CardError::ConflictingExceptions(_)
            | CardError::OtherCardsException { .. }
            | CardError::BadException { .. }
            | CardError::ZeroUnlockSeq
            | CardError::BadLockReport(_)
            | CardError::BadText { .. } => ErrorCode::BadRequest,
            CardError::NoUnlockRequest => ErrorCode::NoUnlockRequest,
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
        .route("/cards/{id}/loads", web::get().to(loads_from))
        .route("/cards/{id}/unloads", web::post().to(unload))
        .route("/cards/{id}/exceptions", web::post().to(exceptions))
        .route("/cards/{id}/transfers", web::post().to(transfers))
        .route("/cards/{id}", web::get().to(card_info))
        .route("/cards/{id}/unlock", web::post().to(unlock))
        .route("/cards/{id}/unlock", web::get().to(unlock_status))
        .route(
            "/cards/{id}/unlock-requests",
            web::post().to(request_unlock),
        );
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
    let res = blocking(move || bank.certify_card(&auth.0, &req, crate::now())).await?;
    Ok(HttpResponse::Ok().json(res))
}

async fn load(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<LoadRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let req = body.into_inner();
    let auth = blocking(move || bank.load_card(&auth.0, id, &req, crate::now())).await?;
    Ok(HttpResponse::Ok().json(LoadResponse { auth }))
}

async fn unload(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<UnloadRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let proof = body.into_inner().proof;
    let res = blocking(move || bank.unload_card(&auth.0, id, proof, crate::now())).await?;
    Ok(HttpResponse::Ok().json(res))
}

async fn loads_from(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    query: web::Query<LoadsQuery>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let from = query.from;
    let loads = blocking(move || bank.card_loads(&auth.0, id, from)).await?;
    Ok(HttpResponse::Ok().json(LoadsResponse { loads }))
}

async fn exceptions(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<ExceptionsRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let records = body.into_inner().records;
    let res = blocking(move || bank.card_exceptions(&auth.0, id, records, crate::now())).await?;
    Ok(HttpResponse::Ok().json(res))
}

async fn transfers(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<TransfersRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let credits = body.into_inner().credits;
    let res = blocking(move || bank.settle_transfers(&auth.0, id, credits, crate::now())).await?;
    Ok(HttpResponse::Ok().json(res))
}

async fn card_info(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let info = blocking(move || bank.card_info(&auth.0, id)).await?;
    Ok(HttpResponse::Ok().json(info))
}

async fn request_unlock(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<NewUnlockRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let req = body.into_inner();
    let status = blocking(move || bank.request_unlock(&auth.0, id, req, crate::now())).await?;
    Ok(HttpResponse::Ok().json(status))
}

async fn unlock_status(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let status = blocking(move || bank.unlock_status(&auth.0, id)).await?;
    Ok(HttpResponse::Ok().json(status))
}

async fn unlock(
    bank: web::Data<Bank>,
    _admin: Admin,
    path: web::Path<String>,
    body: web::Json<UnlockRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let unlock_seq = body.into_inner().unlock_seq;
    let approval = blocking(move || bank.approve_unlock(id, unlock_seq, crate::now())).await?;
    Ok(HttpResponse::Ok().json(UnlockResponse {
        auth: approval.auth,
        unblocked: approval.lifted_block.is_some(),
    }))
}
