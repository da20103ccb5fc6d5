//! The issuer's side (the bank): certify cards, authorize loads, unlocks and clearances,
//! check unload proofs, and settle exception logs.
//!
//! [`Issuer`] is the signing part the bank embeds. [`Ledger`] is an in-memory reference
//! of the records the bank must keep — the tests use it as "the bank", and its methods
//! spell out what the bank's endpoints must do with their database:
//!
//! | ledger method | bank endpoint (`bank-server`'s `cards` module) | bank must store |
//! |---|---|---|
//! | [`Ledger::certify`] | `POST /v1/cards` {card_pub, mode} → cert | card id (unique), cert |
//! | [`Ledger::authorize_load`] | `POST /v1/cards/{id}/loads` {amount, payment} → auth | `(card_id, load_seq)` unique, amount, kind — before answering |
//! | [`Ledger::loads_from`] | `GET /v1/cards/{id}/loads?from=seq` | – (re-send stored auths) |
//! | [`Ledger::accept_unload`] | `POST /v1/cards/{id}/unloads` {proof} → credit | `(card_id, unload_seq)` unique, with the proof (a different proof for a used number = cloned card) |
//! | [`Ledger::accept_exceptions`] | `POST /v1/cards/{id}/exceptions` {records} → clear auth | every record, by `(card_id, exception_id)` (another record under a stored id = cloned card) |
//! | [`Ledger::recover`] | (the same call, in its transaction) | `(payer, payer_seq)` recovered once |
//! | [`Ledger::authorize_unlock`] | `POST /v1/cards/{id}/unlock-requests` {unlock_seq} (the owner asks), `bank-server admin card-unlock` or `POST /v1/cards/{id}/unlock` {unlock_seq} (staff decision), `GET /v1/cards/{id}/unlock` (the owner's wallet fetches it) | the request, once per `(card_id, unlock_seq)`, and the decision (audit) |
//!
//! Money: a bank load takes money from the customer (coins deposited or an account
//! debited) into a "cards outstanding" liability; an unload moves it back to an account;
//! a recovery re-loads value the archive proved lost (it was already counted as
//! outstanding). Total on cards ≤ loaded − unloaded at all times.

use std::collections::{BTreeMap, BTreeSet};

use ecash_shared::{Amount, Currency};

use crate::Error;
use crate::cert::{CardCert, CardProfile};
use crate::exception::{
    ClearAuth, ClearAuthBody, EXCEPTION_LOG_CAPACITY, ExceptionKind, ExceptionRecord,
    ExceptionRecordBody,
};
use crate::keys::{CardId, CardPublicKey, IssuerKey, IssuerPublicKey};
use crate::load::{LoadAuth, LoadAuthBody, LoadKind};
use crate::message::Signed;
use crate::risk::{LockReport, UnlockAuth, UnlockAuthBody, check_lock_report_of};
use crate::settle::{Credit, SettleAuth, SettleAuthBody};
use crate::transfer::Terms;
use crate::unload::{UnloadProof, UnloadProofBody};

/// The issuer's signing key and what it signs.
#[derive(Debug, Clone)]
pub struct Issuer {
    key: IssuerKey,
}

impl Issuer {
    /// An issuer with this key.
    pub fn new(key: IssuerKey) -> Self {
        Issuer { key }
    }

    /// The public key written into every card at INITIALIZE.
    pub fn public_key(&self) -> IssuerPublicKey {
        self.key.public()
    }

    /// Certifies a card key (the card proved nothing: it is the issuer who personalizes
    /// the card, right after INITIALIZE revealed the key).
    pub fn certify(
        &self,
        card_id: CardId,
        card_pub: CardPublicKey,
        profile: CardProfile,
    ) -> CardCert {
        CardCert::issue(&self.key, card_id, card_pub, profile)
    }

    /// Signs a load authorization.
    pub fn sign_load(&self, body: LoadAuthBody) -> LoadAuth {
        Signed::by_issuer(body, &self.key)
    }

    /// Signs an unlock.
    pub fn sign_unlock(&self, body: UnlockAuthBody) -> UnlockAuth {
        Signed::by_issuer(body, &self.key)
    }

    /// Signs an exception-log clearance.
    pub fn sign_clear(&self, body: ClearAuthBody) -> ClearAuth {
        Signed::by_issuer(body, &self.key)
    }

    /// Signs a clearance of a card's settled (and refused) credits.
    pub fn sign_settle(&self, body: SettleAuthBody) -> SettleAuth {
        Signed::by_issuer(body, &self.key)
    }

    /// Checks a credit a payee presents: both certificates are this issuer's, and
    /// [`Credit::check`].
    pub fn check_credit(
        &self,
        payer: &CardCert,
        payee: &CardCert,
        credit: &Credit,
    ) -> Result<(), Error> {
        self.check_cert(payer)?;
        self.check_cert(payee)?;
        credit.check(payer, payee)
    }

    /// Checks a certificate is ours.
    pub fn check_cert(&self, cert: &CardCert) -> Result<(), Error> {
        cert.verify(&self.public_key())
    }

    /// Checks an unload proof against the card's certificate.
    pub fn check_unload(&self, cert: &CardCert, proof: &UnloadProof) -> Result<(), Error> {
        self.check_cert(cert)?;
        proof.verify_card(&cert.card_pub)?;
        if proof.body.card_id != cert.card_id || proof.body.currency != cert.profile.currency {
            return Err(Error::Mismatch("unload proof does not match the card"));
        }
        Ok(())
    }

    /// Checks an exception record against the certificate of the card that signed it,
    /// and that the card is the side of the transfer the record's kind says.
    pub fn check_exception(&self, cert: &CardCert, record: &ExceptionRecord) -> Result<(), Error> {
        self.check_cert(cert)?;
        record.verify_card(&cert.card_pub)?;
        let b = &record.body;
        let side = match b.kind {
            ExceptionKind::UnackedDebit => b.terms.payer,
            ExceptionKind::AbandonedCredit => b.terms.payee,
        };
        if b.card_id != cert.card_id || side != cert.card_id {
            return Err(Error::Mismatch("exception record does not match the card"));
        }
        Ok(())
    }

    /// Checks a lock report against the certificate of the card that signed it: the
    /// certificate is this issuer's, the report the card's own
    /// ([`check_lock_report_of`]), and its unlock number one a card can expect (≥ 1).
    pub fn check_lock_report(&self, cert: &CardCert, report: &LockReport) -> Result<(), Error> {
        self.check_cert(cert)?;
        check_lock_report_of(cert, report)?;
        if report.body.unlock_seq == 0 {
            return Err(Error::Mismatch("unlock numbers start at 1"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct CardAccount {
    cert: CardCert,
    /// Load authorizations in sequence order: `loads[i]` has `load_seq = i + 1`.
    loads: Vec<LoadAuth>,
    unloads: BTreeMap<u32, UnloadProofBody>,
}

/// In-memory reference of the bank's card records (see the module docs).
#[derive(Debug, Clone)]
pub struct Ledger {
    issuer: Issuer,
    cards: BTreeMap<CardId, CardAccount>,
    /// Unacked debits by (payer, payer_seq) and abandoned credits by (payee, payee_seq).
    unacked: BTreeMap<(CardId, u32), Terms>,
    abandoned: BTreeMap<(CardId, u32), Terms>,
    recovered: BTreeSet<(CardId, u32)>,
    /// Settled transfers by (payer, payer_seq).
    settled: BTreeMap<(CardId, u32), Terms>,
    /// What the issuer holds for each card: bank loads − unloads − settled transfers
    /// out + settled transfers in (see [`crate::settle`]).
    bank_balances: BTreeMap<CardId, Amount>,
    /// Every stored exception record's body, by (card, exception id).
    archived: BTreeMap<(CardId, u32), ExceptionRecordBody>,
    loaded: Amount,
    unloaded: Amount,
    day: u32,
}

impl Ledger {
    /// An empty ledger for `issuer`.
    pub fn new(issuer: Issuer) -> Self {
        Ledger {
            issuer,
            cards: BTreeMap::new(),
            unacked: BTreeMap::new(),
            abandoned: BTreeMap::new(),
            recovered: BTreeSet::new(),
            settled: BTreeMap::new(),
            bank_balances: BTreeMap::new(),
            archived: BTreeMap::new(),
            loaded: Amount::ZERO,
            unloaded: Amount::ZERO,
            day: 0,
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// Sets the issuer's date (days since 1970-01-01) put into authorizations.
    pub fn set_day(&mut self, day: u32) {
        self.day = day;
    }

    /// Certifies a new card under `card_id` (unique).
    pub fn certify(
        &mut self,
        card_id: CardId,
        card_pub: CardPublicKey,
        profile: CardProfile,
    ) -> Result<CardCert, Error> {
        if self.cards.contains_key(&card_id) {
            return Err(Error::Mismatch("card id already issued"));
        }
        let cert = self.issuer.certify(card_id, card_pub, profile);
        self.cards.insert(
            card_id,
            CardAccount {
                cert: cert.clone(),
                loads: Vec::new(),
                unloads: BTreeMap::new(),
            },
        );
        Ok(cert)
    }

    fn account(&self, card_id: CardId) -> Result<&CardAccount, Error> {
        self.cards
            .get(&card_id)
            .ok_or(Error::Mismatch("unknown card"))
    }

    fn account_mut(&mut self, card_id: CardId) -> Result<&mut CardAccount, Error> {
        self.cards
            .get_mut(&card_id)
            .ok_or(Error::Mismatch("unknown card"))
    }

    /// The certificate of a card.
    pub fn cert(&self, card_id: CardId) -> Result<&CardCert, Error> {
        self.account(card_id).map(|a| &a.cert)
    }

    /// Records and signs the card's next load (money already taken from the customer).
    pub fn authorize_load(
        &mut self,
        card_id: CardId,
        amount: Amount,
        kind: LoadKind,
    ) -> Result<LoadAuth, Error> {
        if amount.is_zero() {
            return Err(Error::Mismatch("zero load"));
        }
        let day = self.day;
        let issuer = self.issuer.clone();
        let account = self.account_mut(card_id)?;
        let load_seq = u32::try_from(account.loads.len() + 1)
            .map_err(|_| Error::Mismatch("load sequence exhausted"))?;
        let currency: Currency = account.cert.profile.currency;
        let auth = issuer.sign_load(LoadAuthBody {
            card_id,
            currency,
            amount,
            load_seq,
            kind,
            day,
        });
        account.loads.push(auth.clone());
        if kind == LoadKind::Bank {
            self.loaded = self.loaded.checked_add(amount)?;
            self.add_bank_balance(card_id, amount)?;
        }
        Ok(auth)
    }

    /// Every stored authorization from `load_seq` on (the card's next one first).
    pub fn loads_from(&self, card_id: CardId, load_seq: u32) -> Result<Vec<LoadAuth>, Error> {
        let account = self.account(card_id)?;
        let skip = usize::try_from(load_seq.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(account.loads.iter().skip(skip).cloned().collect())
    }

    /// Accepts an unload proof once; returns the amount to credit to the destination
    /// the first time, and zero for a repeat of the same proof. A *different* proof with
    /// a number already used can only come from a copy of the card's key and state (a
    /// cloned virtual card): it is refused, and the bank should block the card.
    pub fn accept_unload(&mut self, proof: &UnloadProof) -> Result<Amount, Error> {
        let card_id = proof.body.card_id;
        let cert = self.account(card_id)?.cert.clone();
        self.issuer.check_unload(&cert, proof)?;
        let amount = proof.body.amount;
        let account = self.account_mut(card_id)?;
        if let Some(seen) = account.unloads.get(&proof.body.unload_seq) {
            return if *seen == proof.body {
                Ok(Amount::ZERO)
            } else {
                Err(Error::Mismatch(
                    "two different unload proofs with one sequence number: cloned card",
                ))
            };
        }
        if self.bank_balance(card_id) < amount {
            return Err(Error::Mismatch(
                "the unload exceeds what the issuer holds for the card: over-spent",
            ));
        }
        self.account_mut(card_id)?
            .unloads
            .insert(proof.body.unload_seq, proof.body);
        self.sub_bank_balance(card_id, amount)?;
        self.unloaded = self.unloaded.checked_add(amount)?;
        Ok(amount)
    }

    /// Stores a card's exception records (as GET EXCEPTION read them) and answers the
    /// clearance naming exactly the records stored. Another record under an id stored
    /// before is refused (a cloned card) and nothing is stored.
    pub fn accept_exceptions(
        &mut self,
        card_id: CardId,
        records: &[ExceptionRecord],
    ) -> Result<Option<ClearAuth>, Error> {
        let cert = self.account(card_id)?.cert.clone();
        for r in records {
            self.issuer.check_exception(&cert, r)?;
        }
        let mut ids: Vec<u32> = records.iter().map(|r| r.body.exception_id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > EXCEPTION_LOG_CAPACITY {
            return Err(Error::Mismatch("more exception records than a card holds"));
        }
        // A genuine card numbers its exceptions once: another record under a stored
        // id comes from a copy of the card (the bank also blocks it).
        for r in records {
            let seen = self.archived.get(&(card_id, r.body.exception_id));
            if seen.is_some_and(|seen| *seen != r.body) {
                return Err(Error::Mismatch(
                    "two different exception records with one id: cloned card",
                ));
            }
        }
        for r in records {
            let b = r.body;
            if self.archived.insert((card_id, b.exception_id), b).is_some() {
                continue;
            }
            match b.kind {
                ExceptionKind::UnackedDebit => {
                    self.unacked
                        .insert((b.terms.payer, b.terms.payer_seq), b.terms);
                }
                ExceptionKind::AbandonedCredit => {
                    self.abandoned
                        .insert((b.terms.payee, b.terms.payee_seq), b.terms);
                }
            }
        }
        if ids.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.issuer.sign_clear(ClearAuthBody { card_id, ids })))
    }

    /// Transfers proven lost (an unacked debit and an abandoned credit with the same
    /// terms) and not yet recovered: each gets a recovery load for the payer, once.
    pub fn recover(&mut self) -> Result<Vec<LoadAuth>, Error> {
        let lost: Vec<Terms> = self
            .unacked
            .iter()
            .filter(|(key, t)| {
                !self.recovered.contains(key)
                    && self.abandoned.get(&(t.payee, t.payee_seq)) == Some(t)
            })
            .map(|(_, t)| *t)
            .collect();
        let mut out = Vec::new();
        for t in lost {
            self.recovered.insert((t.payer, t.payer_seq));
            out.push(self.authorize_load(t.payer, t.amount, LoadKind::Recovery)?);
        }
        Ok(out)
    }

    /// Signs an unlock for the card's current `unlock_seq` (read with GET STATUS), once
    /// the bank has decided to reopen the card. Signing the same number again (a retry
    /// after a lost answer or a failed write on the card) is harmless: the card accepts
    /// one and then moves its number on, so no old authorization reopens it later.
    pub fn authorize_unlock(&self, card_id: CardId, unlock_seq: u32) -> Result<UnlockAuth, Error> {
        self.account(card_id)?;
        Ok(self.issuer.sign_unlock(UnlockAuthBody {
            card_id,
            unlock_seq,
            day: self.day,
        }))
    }

    /// What the issuer holds for a card (zero for an unknown one).
    pub fn bank_balance(&self, card_id: CardId) -> Amount {
        self.bank_balances
            .get(&card_id)
            .copied()
            .unwrap_or(Amount::ZERO)
    }

    fn add_bank_balance(&mut self, card_id: CardId, amount: Amount) -> Result<(), Error> {
        let b = self.bank_balance(card_id).checked_add(amount)?;
        self.bank_balances.insert(card_id, b);
        Ok(())
    }

    fn sub_bank_balance(&mut self, card_id: CardId, amount: Amount) -> Result<(), Error> {
        let b = self
            .bank_balance(card_id)
            .checked_sub(amount)
            .map_err(|_| Error::Mismatch("over-spent"))?;
        self.bank_balances.insert(card_id, b);
        Ok(())
    }

    /// Settles the credits a payee card presents (GET CREDIT): each checked against
    /// both certificates, once per `(payer, payer_seq)`, moving its amount from the
    /// payer's bank-side balance to the payee's; answers the clearance naming all of
    /// them. A payer that cannot cover a credit over-spent: refused, nothing changes
    /// (the bank's rules for that case are in `bank-server`).
    pub fn settle(&mut self, payee: CardId, credits: &[Credit]) -> Result<SettleAuth, Error> {
        let payee_cert = self.cert(payee)?.clone();
        let mut fresh = Vec::new();
        for c in credits {
            let t = *c.terms();
            let payer_cert = self.cert(t.payer)?.clone();
            self.issuer.check_credit(&payer_cert, &payee_cert, c)?;
            match self.settled.get(&(t.payer, t.payer_seq)) {
                Some(seen) if *seen == t => {}
                Some(_) => return Err(Error::Mismatch("two VALUEs under one number: cloned card")),
                None if fresh.contains(&t) => {}
                None => fresh.push(t),
            }
        }
        let mut next = self.clone();
        for t in &fresh {
            next.sub_bank_balance(t.payer, t.amount)?;
            next.add_bank_balance(t.payee, t.amount)?;
            next.settled.insert((t.payer, t.payer_seq), *t);
        }
        *self = next;
        let settled = credits.iter().map(|c| c.terms().payee_seq).collect();
        Ok(self.issuer.sign_settle(SettleAuthBody {
            card_id: payee,
            settled,
            refused: Vec::new(),
        }))
    }

    /// Money taken in for bank loads.
    pub fn total_loaded(&self) -> Amount {
        self.loaded
    }

    /// Money paid out for unloads.
    pub fn total_unloaded(&self) -> Amount {
        self.unloaded
    }

    /// Value the issuer has re-credited after proven losses.
    pub fn total_recovered(&self) -> Amount {
        let amounts = self
            .recovered
            .iter()
            .filter_map(|k| self.unacked.get(k).map(|t| t.amount));
        Amount::checked_sum(amounts).unwrap_or(Amount::from_minor(u64::MAX))
    }
}
