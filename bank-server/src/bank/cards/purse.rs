//! The card operations of [`Bank`]: certify a card key, load and unload, the
//! exception logs that prove lost transfers, the settlement of offline transfers,
//! and the card as the bank sees it. Each is one blocking call: the card's
//! owner and state are read, the card's signatures checked against its
//! certificate, then one storage transaction books it.

use std::collections::BTreeMap;

use ecash_card::api::{
    CardInfo, CertifyRequest, CertifyResponse, ExceptionsResponse, LOADS_PAGE_MAX, LoadRequest,
    RefusedCredit, TransfersResponse, UnloadResponse,
};
use ecash_card::cert::CardCert;
use ecash_card::exception::{
    ClearAuthBody, EXCEPTION_LOG_CAPACITY, ExceptionKind, ExceptionRecord,
};
use ecash_card::keys::CardId;
use ecash_card::load::{LoadAuth, LoadAuthBody, LoadKind};
use ecash_card::message::Body;
use ecash_card::settle::{CREDIT_LOG_CAPACITY, Credit, SettleAuthBody};
use ecash_card::unload::{UnloadProof, destination_for_account};
use ecash_shared::encoding::Timestamp;

use super::{CardError, day_of, mode_name, parse_stored_auth, profile};
use crate::Bank;
use crate::storage::{
    AccountRecord, CardExceptionUpload, CardLoadOutcome, CardRecord, CardSettlement,
    CardUnloadOutcome, CreditOutcome, MAX_STORED_AMOUNT, NewCard, NewCardException, NewCardLoad,
    NewCardTransfer, NewCardUnload, RecoveryLoad, StorageError,
};

impl Bank {
    /// `account`'s card `id` and its certificate; with `open`, refused if the
    /// bank blocked it.
    pub fn owned_card(
        &self,
        id: [u8; 8],
        account: &AccountRecord,
        open: bool,
    ) -> Result<(CardRecord, CardCert), CardError> {
        let card = self
            .storage
            .card(&id)?
            .ok_or(CardError::Storage(StorageError::UnknownCard))?;
        if card.account_id != account.id {
            return Err(CardError::NotYourCard);
        }
        if open && let Some(reason) = card.blocked {
            return Err(CardError::Storage(StorageError::CardBlocked(reason)));
        }
        let cert = CardCert::parse(&card.cert).map_err(CardError::CorruptCert)?;
        Ok((card, cert))
    }

    /// Certifies `req.card_pub` for `account` under a fresh random card id (the
    /// stored certificate, for a retry with the same key and mode).
    pub fn certify_card(
        &self,
        account: &AccountRecord,
        req: &CertifyRequest,
        now: Timestamp,
    ) -> Result<CertifyResponse, CardError> {
        let currency = self.keys.currency();
        // A random 64-bit id; draw again on the (unlikely) collision.
        for _ in 0..4 {
            let mut id = [0u8; 8];
            getrandom::fill(&mut id).map_err(|_| CardError::Rng)?;
            let cert = self.keys.card_issuer().certify(
                CardId(id),
                req.card_pub,
                profile(req.mode, currency),
            );
            match self.storage.create_card(&NewCard {
                id,
                card_pub: req.card_pub.to_bytes(),
                account_id: account.id,
                mode: mode_name(req.mode).to_owned(),
                currency,
                cert: cert.to_bytes(),
                now,
            }) {
                Err(StorageError::CardIdTaken) => continue,
                Err(e) => return Err(e.into()),
                Ok(record) => {
                    let cert = CardCert::parse(&record.cert).map_err(CardError::CorruptCert)?;
                    return Ok(CertifyResponse {
                        card_id: cert.card_id,
                        cert,
                    });
                }
            }
        }
        Err(CardError::Storage(StorageError::CardIdTaken))
    }

    /// Loads `req.amount` from `account` onto its card `id`: the signed load
    /// authorization (the stored one, for a retry of the same number and amount).
    pub fn load_card(
        &self,
        account: &AccountRecord,
        id: [u8; 8],
        req: &LoadRequest,
        now: Timestamp,
    ) -> Result<LoadAuth, CardError> {
        let (_, cert) = self.owned_card(id, account, true)?;
        let cap = cert.profile.balance_cap.min(MAX_STORED_AMOUNT);
        if req.amount.is_zero() || req.amount > cap {
            return Err(CardError::InvalidAmount(cap.minor()));
        }
        if req.load_seq == 0 {
            return Err(CardError::ZeroLoadSeq);
        }
        let auth = self.keys.card_issuer().sign_load(LoadAuthBody {
            card_id: CardId(id),
            currency: cert.profile.currency,
            amount: req.amount,
            load_seq: req.load_seq,
            kind: LoadKind::Bank,
            day: day_of(now),
        });
        let outcome = self.storage.card_load(&NewCardLoad {
            card_id: id,
            account_id: account.id,
            currency: cert.profile.currency,
            amount: req.amount,
            load_seq: req.load_seq,
            cap,
            auth: auth.to_bytes(),
            now,
        })?;
        match outcome {
            CardLoadOutcome::Done { .. } => Ok(auth),
            CardLoadOutcome::Replayed(stored) => parse_stored_auth(&stored),
        }
    }

    /// Credits `account` with the card-signed unload `proof` of its card `id`,
    /// once per unload number, never beyond what the bank holds for the card.
    pub fn unload_card(
        &self,
        account: &AccountRecord,
        id: [u8; 8],
        proof: UnloadProof,
        now: Timestamp,
    ) -> Result<UnloadResponse, CardError> {
        if proof.body.card_id.0 != id {
            return Err(CardError::OtherCard(proof.body.card_id));
        }
        // The card's owner only: a copy of a card's key alone unloads nothing.
        let (_, cert) = self.owned_card(id, account, true)?;
        self.keys
            .card_issuer()
            .check_unload(&cert, &proof)
            .map_err(CardError::BadProof)?;
        if proof.body.destination != destination_for_account(&account.username) {
            return Err(CardError::WrongDestination);
        }
        if proof.body.amount.is_zero() {
            return Err(CardError::ZeroUnload);
        }
        if proof.body.amount > MAX_STORED_AMOUNT {
            return Err(CardError::Storage(StorageError::AmountOverflow));
        }
        let outcome = self.storage.card_unload(&NewCardUnload {
            card_id: id,
            account_id: account.id,
            currency: proof.body.currency,
            amount: proof.body.amount,
            unload_seq: proof.body.unload_seq,
            proof: proof.to_bytes(),
            now,
        })?;
        match outcome {
            CardUnloadOutcome::Cloned => {
                tracing::warn!(
                    card = %proof.body.card_id,
                    unload_seq = proof.body.unload_seq,
                    "cloned card: two different unload proofs under one number; card blocked"
                );
                Err(CardError::Storage(StorageError::CardCloned(
                    proof.body.unload_seq,
                )))
            }
            CardUnloadOutcome::Overspent { bank_balance } => {
                tracing::warn!(
                    card = %proof.body.card_id,
                    unload_seq = proof.body.unload_seq,
                    amount = proof.body.amount.minor(),
                    bank_balance = bank_balance.minor(),
                    "card unload beyond what the bank holds for it: card blocked"
                );
                Err(CardError::Storage(StorageError::CardOverspent(format!(
                    "this unload is for {} minor units but the bank holds {} for the card: \
                     it gave out more than was loaded onto it, so it is blocked and nothing was credited",
                    proof.body.amount.minor(),
                    bank_balance.minor()
                ))))
            }
            _ => Ok(UnloadResponse {
                card_id: proof.body.card_id,
                unload_seq: proof.body.unload_seq,
                amount: proof.body.amount,
            }),
        }
    }

    /// The stored load authorizations of `account`'s card `id` from number `from`.
    pub fn card_loads(
        &self,
        account: &AccountRecord,
        id: [u8; 8],
        from: u32,
    ) -> Result<Vec<LoadAuth>, CardError> {
        if from == 0 {
            return Err(CardError::ZeroFrom);
        }
        self.owned_card(id, account, true)?;
        self.storage
            .card_loads_from(&id, from, LOADS_PAGE_MAX)?
            .iter()
            .map(|a| parse_stored_auth(a))
            .collect()
    }

    /// Stores the exception log of `account`'s card `id` and makes the recovery
    /// loads of the transfers it proves lost.
    pub fn card_exceptions(
        &self,
        account: &AccountRecord,
        id: [u8; 8],
        records: Vec<ExceptionRecord>,
        now: Timestamp,
    ) -> Result<ExceptionsResponse, CardError> {
        let (_, cert) = self.owned_card(id, account, true)?;
        let records = check_records(self, &cert, records)?;
        if records.is_empty() {
            return Ok(ExceptionsResponse {
                clear: None,
                recovered: Vec::new(),
            });
        }
        let ids: Vec<u32> = records.iter().map(|r| r.body.exception_id).collect();
        let upload = CardExceptionUpload {
            card_id: id,
            account_id: account.id,
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
            now,
        };
        let issuer = self.keys.card_issuer();
        let day = day_of(now);
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
        let outcome = self.storage.card_exceptions(&upload, &sign)?;
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
        let clear = issuer.sign_clear(ClearAuthBody {
            card_id: CardId(id),
            ids,
        });
        Ok(ExceptionsResponse {
            clear: Some(clear),
            recovered,
        })
    }

    /// Settles the offline payments `account`'s card `id` received.
    pub fn settle_transfers(
        &self,
        account: &AccountRecord,
        id: [u8; 8],
        credits: Vec<Credit>,
        now: Timestamp,
    ) -> Result<TransfersResponse, CardError> {
        let (card, cert) = self.owned_card(id, account, true)?;
        let credits = check_credits(self, &cert, credits)?;
        if credits.is_empty() {
            return Ok(TransfersResponse {
                clear: None,
                settled: Vec::new(),
                refused: Vec::new(),
                deferred: Vec::new(),
                bank_balance: card.bank_balance,
            });
        }
        let settlement = CardSettlement {
            card_id: id,
            account_id: account.id,
            credits,
            cap: cert.profile.balance_cap.min(MAX_STORED_AMOUNT),
            now,
        };
        let outcome = self.storage.card_settle(&settlement)?;
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
            let not_now = |reason: &String| RefusedCredit {
                payee_seq: c.payee_seq,
                amount: c.amount,
                reason: reason.clone(),
            };
            match o {
                CreditOutcome::Settled => settled.push(c.payee_seq),
                CreditOutcome::Refused(reason) => refused.push(not_now(reason)),
                CreditOutcome::Deferred(reason) => deferred.push(not_now(reason)),
            }
        }
        let clear = self.keys.card_issuer().sign_settle(SettleAuthBody {
            card_id: CardId(id),
            settled: settled.clone(),
            refused: refused.iter().map(|r| r.payee_seq).collect(),
        });
        Ok(TransfersResponse {
            clear: Some(clear),
            settled,
            refused,
            deferred,
            bank_balance: outcome.bank_balance,
        })
    }

    /// `account`'s card `id` as the bank sees it (blocked cards too).
    pub fn card_info(&self, account: &AccountRecord, id: [u8; 8]) -> Result<CardInfo, CardError> {
        let (card, cert) = self.owned_card(id, account, false)?;
        let owner = self
            .storage
            .account_by_id(account.id)?
            .ok_or(CardError::Storage(StorageError::UnknownAccount))?;
        Ok(CardInfo {
            card_id: CardId(id),
            mode: cert.profile.mode,
            bank_balance: card.bank_balance,
            blocked: card.blocked,
            account_debt: owner.debt,
        })
    }
}

/// The records of one upload, checked: distinct ids (an identical repeat is
/// dropped), at most a card log's worth, each signed by the card and naming it.
pub fn check_records(
    bank: &Bank,
    cert: &CardCert,
    records: Vec<ExceptionRecord>,
) -> Result<Vec<ExceptionRecord>, CardError> {
    let mut by_id: BTreeMap<u32, ExceptionRecord> = BTreeMap::new();
    for r in records {
        let id = r.body.exception_id;
        match by_id.get(&id) {
            Some(seen) if *seen != r => return Err(CardError::ConflictingExceptions(id)),
            Some(_) => {}
            None if by_id.len() == EXCEPTION_LOG_CAPACITY => {
                return Err(CardError::TooManyExceptions);
            }
            None => {
                by_id.insert(id, r);
            }
        }
    }
    for (&id, r) in &by_id {
        let b = &r.body;
        if b.card_id != cert.card_id {
            return Err(CardError::OtherCardsException {
                id,
                card: b.card_id,
            });
        }
        let bad = |reason: String| CardError::BadException { id, reason };
        bank.keys
            .card_issuer()
            .check_exception(cert, r)
            .map_err(|e| bad(e.to_string()))?;
        if id == 0 {
            return Err(bad("exception ids start at 1".to_owned()));
        }
        if b.terms.currency != cert.profile.currency {
            return Err(bad("the transfer is in another currency".to_owned()));
        }
        if b.terms.amount.is_zero() || b.terms.amount > MAX_STORED_AMOUNT {
            return Err(bad("the transfer's amount is out of range".to_owned()));
        }
    }
    Ok(by_id.into_values().collect())
}

/// The terms' encoding, the key two matching records share: the record's body
/// after `card_id (8) || exception_id (4) || kind (1)`.
pub fn terms_bytes(body: &ecash_card::exception::ExceptionRecordBody) -> Vec<u8> {
    body.to_bytes()
        .get(13..)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// The credits of one upload, checked against both cards' certificates: distinct
/// (an identical repeat is dropped), at most a card's credit log, each naming this
/// card as payee, within the payer certificate's per-transfer limit and this card's
/// cap (a genuine payee card takes nothing else).
fn check_credits(
    bank: &Bank,
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
        let payer = bank
            .storage
            .card(&t.payer.0)?
            .ok_or_else(|| bad("the paying card is not one this bank issued".to_owned()))?;
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
