//! Electronic purse cards (crate `ecash-card`): the bank as card issuer.
//!
//! **The bank's own ledger per card.** A card key the user holds is a claim, never
//! proof: a virtual card is a key its holder controls. So the bank keeps, per card,
//! `bank_balance` = bank loads − unloads − settled transfers out + settled transfers
//! in, and never pays out of a card more than that (see `ecash_card::settle` for the
//! card's side: credits taken offline stay on the payee card, unspendable, until
//! settled here). Unloads and settled transfers out are bounded by it in the
//! transaction that books them; a card found giving out more is not genuine — it is
//! blocked, the evidence kept, and its shortfall booked against its owner.
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
//!   card) and is refused with `IDEMPOTENCY_CONFLICT` — and the card is blocked
//!   at the bank (below).
//!   An unload for more than the card's bank-side balance is answered
//!   `CARD_OVERSPENT` and, in the same transaction, the card is blocked and the proof
//!   kept as evidence (`card_overspends`); nothing is credited.
//! - `POST /v1/cards/{id}/transfers` (bearer, the payee card's owner) `{credits}` →
//!   `{clear, settled, refused, bank_balance}`: settles the offline payments this card
//!   received (`transfers`; the rules are [`CardStore::card_settle`](crate::storage::CardStore::card_settle)'s).
//! - `GET /v1/cards/{id}` (bearer, the card's owner) → `CardInfo`: the bank-side
//!   balance, the block, the owner's debt.
//! - `GET /v1/cards/{id}/loads?from=N` (bearer, the card's owner) → `{loads}`:
//!   the stored authorizations (bank loads and recoveries) with `load_seq ≥ N`
//!   (N ≥ 1), in order, at most [`LOADS_PAGE_MAX`]; a card fetches an
//!   authorization whose answer was lost, and its recovery loads, from its next
//!   load number. Unknown or malformed query fields, N = 0: `BAD_REQUEST`.
//! - `POST /v1/cards/{id}/exceptions` (bearer, the card's owner) `{records}` →
//!   `{clear, recovered}`: the card's exception log as GET EXCEPTION read it (at
//!   most [`EXCEPTION_LOG_CAPACITY`](ecash_card::exception::EXCEPTION_LOG_CAPACITY) distinct ids). Every record must be signed by
//!   this card's certified key and name this card on the side its kind says
//!   (`BAD_REQUEST` otherwise, and nothing is stored). In one transaction each
//!   record is stored once by `(card_id, exception_id)`, and every transfer now
//!   proven lost (an unacked debit and an abandoned credit with identical terms)
//!   gets one recovery load for the *payer* card, once per `(payer, payer_seq)`,
//!   under the payer card's next load number (kind `Recovery`; no account is
//!   debited). `clear` is the issuer's CLEAR EXCEPTIONS authorization naming
//!   exactly the ids sent; `recovered` the recovery loads of the transfers the
//!   records name. A recovery is made only if the payer card's bank-side balance
//!   covers it (the lost debit was never settled, so a genuine payer's does) and
//!   the transfer was not settled (if it was, the payee card signed an ACK and an
//!   abandoned credit for it, and is blocked). Sending the same records again answers the same and stores
//!   nothing more; another record under a stored id blocks the card (below).
//! - `POST /v1/cards/{id}/unlock-requests` (bearer, the card's owner)
//!   `{report, reason?}` → [`UnlockStatus`](ecash_card::api::UnlockStatus): asks the operator to reopen a
//!   card its risk rules locked. `report` is the card's signed lock report (GET
//!   LOCK REPORT: the unlock number it expects and why it locked), verified
//!   against the card's certificate, so the bank knows from the card itself that
//!   it is locked; the request is for the report's number. Stored once per
//!   `(card_id, unlock_seq)`: asking again answers the stored request, whatever
//!   its state; asking for another number gives the card's pending request up
//!   (superseded). A blocked card may ask too (its way out). A report that does
//!   not verify, is another card's or names number 0, a reason over
//!   [`UNLOCK_REASON_MAX_CHARS`](ecash_card::api::UNLOCK_REASON_MAX_CHARS) characters or with control characters:
//!   `BAD_REQUEST`.
//! - `GET /v1/cards/{id}/unlock` (bearer, the card's owner) → [`UnlockStatus`](ecash_card::api::UnlockStatus):
//!   the card's pending request, else its latest decided one — approved with
//!   the signed UNLOCK, or refused with the operator's note; none at all:
//!   `NO_UNLOCK_REQUEST`. The wallet applies an approval only while the card
//!   still expects its number, so an old approval is harmless.
//! - `POST /v1/cards/{id}/unlock` (operator token) `{unlock_seq}` →
//!   `{auth, unblocked}`: the operator's approval, [`approve_unlock`]: the
//!   issuer-signed UNLOCK for that number, recorded with who and when in
//!   `card_unlocks`, the card's request for the number marked approved (stored
//!   as an unasked approval if there was none); it also lifts a bank-side
//!   block. Not the operator: `FORBIDDEN`; `unlock_seq` 0: `BAD_REQUEST`. The
//!   `bank-server admin card-requests | card-unlock | card-refuse` commands list
//!   the pending requests and decide them with the same functions
//!   ([`approve_unlock`], [`refuse_unlock`]).
//!
//! **Blocked cards.** A different unload proof under a used number, or a
//! card-signed exception record under a stored exception id that names another
//! transfer (a genuine card numbers its exceptions once), is answered
//! `IDEMPOTENCY_CONFLICT` and, in the same transaction, the card is marked
//! blocked — deliberately the one change a refused request makes (see
//! [`CardUnloadOutcome::Cloned`] and
//! [`CardExceptionOutcome::cloned`](crate::storage::CardExceptionOutcome::cloned)).
//! From then on loads, unloads, exception uploads and `GET …/loads` of that card
//! answer `FORBIDDEN` ("this card is blocked by the bank …") until an operator
//! unlocks it.
//!
//! Bad input changes nothing. For the audit, value on cards is bank loads −
//! unloads + the shortfalls of caught cards; recovery loads re-credit value already
//! counted there and are checked against the stored exception records instead (see
//! [`audit`](crate::bank::audit)).

use actix_web::{HttpResponse, web};
use ecash_card::api::{
    CardInfo, CertifyRequest, CertifyResponse, ExceptionsRequest, ExceptionsResponse, IssuerInfo,
    LOADS_PAGE_MAX, LoadRequest, LoadResponse, LoadsQuery, LoadsResponse, NewUnlockRequest,
    RefusedCredit, TransfersRequest, TransfersResponse, UnloadRequest, UnloadResponse,
    UnlockRequest, UnlockResponse,
};
use ecash_card::cert::CardCert;
use ecash_card::exception::{ClearAuthBody, ExceptionKind};
use ecash_card::keys::CardId;
use ecash_card::load::{LoadAuthBody, LoadKind};
use ecash_card::message::Body;
use ecash_card::settle::{CREDIT_LOG_CAPACITY, Credit, SettleAuthBody};
use ecash_card::unload::destination_for_account;
use ecash_shared::ErrorCode;

use crate::Bank;
use crate::api::auth::{Admin, Authenticated};
use crate::api::error::{ApiError, blocking};
pub use crate::bank::cards::*;
use crate::storage::{
    CardExceptionUpload, CardLoadOutcome, CardRecord, CardSettlement, CardUnloadOutcome,
    CreditOutcome, MAX_STORED_AMOUNT, NewCard, NewCardException, NewCardLoad, NewCardTransfer,
    NewCardUnload, NewCardUnlockRequest, RecoveryLoad, StorageError,
};

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

async fn find_card(bank: &web::Data<Bank>, id: [u8; 8]) -> Result<CardRecord, CardError> {
    let b = bank.clone();
    blocking(move || b.storage.card(&id).map_err(CardError::from))
        .await?
        .ok_or(CardError::Storage(StorageError::UnknownCard))
}

/// The caller's own card, blocked or not.
async fn owned_card(
    bank: &web::Data<Bank>,
    id: [u8; 8],
    auth: &Authenticated,
) -> Result<CardRecord, CardError> {
    let card = find_card(bank, id).await?;
    if card.account_id != auth.0.id {
        return Err(CardError::NotYourCard);
    }
    Ok(card)
}

/// The caller's own card, not blocked at the bank.
async fn owned_open_card(
    bank: &web::Data<Bank>,
    id: [u8; 8],
    auth: &Authenticated,
) -> Result<CardRecord, CardError> {
    let card = owned_card(bank, id, auth).await?;
    if let Some(reason) = card.blocked {
        return Err(CardError::Storage(StorageError::CardBlocked(reason)));
    }
    Ok(card)
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
    let card = owned_open_card(&bank, id, &auth).await?;
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
        cap,
        auth: auth_msg.to_bytes(),
        now: crate::now(),
    };
    let b = bank.clone();
    let outcome = blocking(move || b.storage.card_load(&new).map_err(CardError::from)).await?;
    let auth_msg = match outcome {
        CardLoadOutcome::Done { .. } => auth_msg,
        CardLoadOutcome::Replayed(stored) => parse_stored_auth(&stored)?,
    };
    Ok(HttpResponse::Ok().json(LoadResponse { auth: auth_msg }))
}

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
    // The card's owner only: a copy of a card's key alone unloads nothing.
    let card = owned_open_card(&bank, id, &auth).await?;
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
    let outcome = blocking(move || b.storage.card_unload(&new).map_err(CardError::from)).await?;
    if outcome == CardUnloadOutcome::Cloned {
        tracing::warn!(
            card = %proof.body.card_id,
            unload_seq = proof.body.unload_seq,
            "cloned card: two different unload proofs under one number; card blocked"
        );
        return Err(CardError::Storage(StorageError::CardCloned(
            proof.body.unload_seq,
        )));
    }
    if let CardUnloadOutcome::Overspent { bank_balance } = outcome {
        tracing::warn!(
            card = %proof.body.card_id,
            unload_seq = proof.body.unload_seq,
            amount = proof.body.amount.minor(),
            bank_balance = bank_balance.minor(),
            "card unload beyond what the bank holds for it: card blocked"
        );
        return Err(CardError::Storage(StorageError::CardOverspent(format!(
            "this unload is for {} minor units but the bank holds {} for the card: \
             it gave out more than was loaded onto it, so it is blocked and nothing was credited",
            proof.body.amount.minor(),
            bank_balance.minor()
        ))));
    }
    Ok(HttpResponse::Ok().json(UnloadResponse {
        card_id: proof.body.card_id,
        unload_seq: proof.body.unload_seq,
        amount: proof.body.amount,
    }))
}

async fn loads_from(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    query: web::Query<LoadsQuery>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let from = query.from;
    if from == 0 {
        return Err(CardError::ZeroFrom);
    }
    owned_open_card(&bank, id, &auth).await?;
    let b = bank.clone();
    let stored = blocking(move || {
        b.storage
            .card_loads_from(&id, from, LOADS_PAGE_MAX)
            .map_err(CardError::from)
    })
    .await?;
    let loads = stored
        .iter()
        .map(|a| parse_stored_auth(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(LoadsResponse { loads }))
}

async fn exceptions(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<ExceptionsRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let card = owned_open_card(&bank, id, &auth).await?;
    let cert = CardCert::parse(&card.cert).map_err(CardError::CorruptCert)?;
    let records = check_records(&bank, &cert, body.into_inner().records)?;
    if records.is_empty() {
        return Ok(HttpResponse::Ok().json(ExceptionsResponse {
            clear: None,
            recovered: Vec::new(),
        }));
    }
    let ids: Vec<u32> = records.iter().map(|r| r.body.exception_id).collect();
    let upload = CardExceptionUpload {
        card_id: id,
        account_id: auth.0.id,
        records: records
            .iter()
            .map(|r| {
                let t = &r.body.terms;
                NewCardException {
                    exception_id: r.body.exception_id,
                    unacked_debit: r.body.kind == ExceptionKind::UnackedDebit,
                    payer: t.payer.0,
                    payer_seq: t.payer_seq,
                    currency: t.currency,
                    amount: t.amount,
                    terms: terms_bytes(&r.body),
                    record: r.to_bytes(),
                }
            })
            .collect(),
        now: crate::now(),
    };
    let b = bank.clone();
    let outcome = blocking(move || {
        let issuer = b.keys.card_issuer();
        let day = today();
        let sign = |l: &RecoveryLoad| {
            issuer
                .sign_load(LoadAuthBody {
                    card_id: CardId(l.card_id),
                    currency: l.currency,
                    amount: l.amount,
                    load_seq: l.load_seq,
                    kind: LoadKind::Recovery,
                    day,
                })
                .to_bytes()
        };
        b.storage
            .card_exceptions(&upload, &sign)
            .map_err(CardError::from)
    })
    .await?;
    if let Some(exception_id) = outcome.cloned {
        tracing::warn!(
            card = %CardId(id),
            exception_id,
            "cloned card: two different exception records under one id; card blocked"
        );
        return Err(CardError::Storage(StorageError::CardClonedException(
            exception_id,
        )));
    }
    if outcome.created > 0 {
        tracing::info!(
            card = %CardId(id),
            recoveries = outcome.created,
            "lost transfers proven by exception logs: recovery loads stored"
        );
    }
    let recovered = outcome
        .recovered
        .iter()
        .map(|a| parse_stored_auth(a))
        .collect::<Result<Vec<_>, _>>()?;
    let clear = bank.keys.card_issuer().sign_clear(ClearAuthBody {
        card_id: CardId(id),
        ids,
    });
    Ok(HttpResponse::Ok().json(ExceptionsResponse {
        clear: Some(clear),
        recovered,
    }))
}

/// The credits of one upload, checked against both cards' certificates: distinct
/// (an identical repeat is dropped), at most a card's credit log, each naming this
/// card as payee, within the payer certificate's per-transfer limit and this card's
/// cap (a genuine payee card takes nothing else).
async fn check_credits(
    bank: &web::Data<Bank>,
    payee: &CardCert,
    credits: Vec<Credit>,
) -> Result<Vec<NewCardTransfer>, CardError> {
    let mut distinct: Vec<Credit> = Vec::new();
    for c in credits {
        if distinct.contains(&c) {
            continue;
        }
        if distinct.len() == CREDIT_LOG_CAPACITY {
            return Err(CardError::TooManyCredits);
        }
        if distinct
            .iter()
            .any(|d| d.terms().payee_seq == c.terms().payee_seq)
        {
            return Err(CardError::BadCredit {
                payee_seq: c.terms().payee_seq,
                reason: "two different credits under one payee sequence number".to_owned(),
            });
        }
        distinct.push(c);
    }
    let mut out = Vec::with_capacity(distinct.len());
    for c in distinct {
        let t = *c.terms();
        let bad = |reason: String| CardError::BadCredit {
            payee_seq: t.payee_seq,
            reason,
        };
        if t.payer_seq == 0 || t.payee_seq == 0 {
            return Err(bad("sequence numbers start at 1".to_owned()));
        }
        let payer = {
            let b = bank.clone();
            let id = t.payer.0;
            blocking(move || b.storage.card(&id).map_err(CardError::from))
                .await?
                .ok_or_else(|| bad("the paying card is not one this bank issued".to_owned()))?
        };
        let payer_cert = CardCert::parse(&payer.cert).map_err(CardError::CorruptCert)?;
        bank.keys
            .card_issuer()
            .check_credit(&payer_cert, payee, &c)
            .map_err(|e| bad(e.to_string()))?;
        if t.amount > payer_cert.profile.per_transfer_limit
            || t.amount > payee.profile.balance_cap
            || t.amount > MAX_STORED_AMOUNT
        {
            return Err(bad(
                "the amount is over the payer's per-transfer limit or this card's cap".to_owned(),
            ));
        }
        out.push(NewCardTransfer {
            payer: t.payer.0,
            payer_seq: t.payer_seq,
            payee_seq: t.payee_seq,
            terms: c.value.body.to_bytes(),
            currency: t.currency,
            amount: t.amount,
            value: c.value.to_bytes(),
            ack: c.ack.to_bytes(),
        });
    }
    Ok(out)
}

async fn transfers(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<TransfersRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let card = owned_open_card(&bank, id, &auth).await?;
    let cert = CardCert::parse(&card.cert).map_err(CardError::CorruptCert)?;
    let credits = check_credits(&bank, &cert, body.into_inner().credits).await?;
    if credits.is_empty() {
        return Ok(HttpResponse::Ok().json(TransfersResponse {
            clear: None,
            settled: Vec::new(),
            refused: Vec::new(),
            deferred: Vec::new(),
            bank_balance: card.bank_balance,
        }));
    }
    let settlement = CardSettlement {
        card_id: id,
        account_id: auth.0.id,
        credits,
        cap: cert.profile.balance_cap.min(MAX_STORED_AMOUNT),
        now: crate::now(),
    };
    let b = bank.clone();
    let (settlement, outcome) = blocking(move || {
        let outcome = b.storage.card_settle(&settlement)?;
        Ok::<_, CardError>((settlement, outcome))
    })
    .await?;
    for payer in &outcome.caught {
        tracing::warn!(
            card = %CardId(*payer),
            payee = %CardId(id),
            "card caught giving out more than the bank held for it: blocked, shortfall booked against its owner"
        );
    }
    let mut settled = Vec::new();
    let mut refused = Vec::new();
    let mut deferred = Vec::new();
    for (c, o) in settlement.credits.iter().zip(&outcome.outcomes) {
        match o {
            CreditOutcome::Settled => settled.push(c.payee_seq),
            CreditOutcome::Refused(reason) => refused.push(RefusedCredit {
                payee_seq: c.payee_seq,
                amount: c.amount,
                reason: reason.clone(),
            }),
            CreditOutcome::Deferred(reason) => deferred.push(RefusedCredit {
                payee_seq: c.payee_seq,
                amount: c.amount,
                reason: reason.clone(),
            }),
        }
    }
    let clear = bank.keys.card_issuer().sign_settle(SettleAuthBody {
        card_id: CardId(id),
        settled: settled.clone(),
        refused: refused.iter().map(|r| r.payee_seq).collect(),
    });
    Ok(HttpResponse::Ok().json(TransfersResponse {
        clear: Some(clear),
        settled,
        refused,
        deferred,
        bank_balance: outcome.bank_balance,
    }))
}

async fn card_info(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let card = owned_card(&bank, id, &auth).await?;
    let cert = CardCert::parse(&card.cert).map_err(CardError::CorruptCert)?;
    let b = bank.clone();
    let owner = auth.0.id;
    let account = blocking(move || b.storage.account_by_id(owner).map_err(CardError::from))
        .await?
        .ok_or(CardError::Storage(StorageError::UnknownAccount))?;
    Ok(HttpResponse::Ok().json(CardInfo {
        card_id: CardId(id),
        mode: cert.profile.mode,
        bank_balance: card.bank_balance,
        blocked: card.blocked,
        account_debt: account.debt,
    }))
}

async fn request_unlock(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
    body: web::Json<NewUnlockRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let card = owned_card(&bank, id, &auth).await?;
    let cert = CardCert::parse(&card.cert).map_err(CardError::CorruptCert)?;
    let req = body.into_inner();
    bank.keys
        .card_issuer()
        .check_lock_report(&cert, &req.report)
        .map_err(CardError::BadLockReport)?;
    let new = NewCardUnlockRequest {
        card_id: id,
        unlock_seq: req.report.body.unlock_seq,
        lock_reason: req.report.body.reason.as_str().to_owned(),
        lock_report: req.report.to_bytes(),
        account_id: auth.0.id,
        reason: check_text("reason", req.reason.as_deref())?,
        now: crate::now(),
    };
    let b = bank.clone();
    let record =
        blocking(move || b.storage.card_unlock_request(&new).map_err(CardError::from)).await?;
    tracing::info!(
        card = %CardId(id),
        unlock_seq = record.unlock_seq,
        lock = record.lock_reason.as_deref().unwrap_or("-"),
        state = ?record.state,
        "card unlock requested"
    );
    Ok(HttpResponse::Ok().json(unlock_status_of(&record)?))
}

async fn unlock_status(
    bank: web::Data<Bank>,
    auth: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    owned_card(&bank, id, &auth).await?;
    let b = bank.clone();
    let record = blocking(move || b.storage.card_unlock_status(&id).map_err(CardError::from))
        .await?
        .ok_or(CardError::NoUnlockRequest)?;
    Ok(HttpResponse::Ok().json(unlock_status_of(&record)?))
}

async fn unlock(
    bank: web::Data<Bank>,
    _admin: Admin,
    path: web::Path<String>,
    body: web::Json<UnlockRequest>,
) -> Result<HttpResponse, CardError> {
    let id = parse_card_id(&path)?;
    let unlock_seq = body.into_inner().unlock_seq;
    let b = bank.clone();
    let approval = blocking(move || {
        approve_unlock(
            &*b.storage,
            b.keys.card_issuer(),
            id,
            Some(unlock_seq),
            "operator (admin token, HTTP)",
            crate::now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(UnlockResponse {
        auth: approval.auth,
        unblocked: approval.lifted_block.is_some(),
    }))
}
