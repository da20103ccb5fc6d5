//! Async purse client over any [`CardTransport`]: what the wallet page (and a shop
//! terminal) calls. [`transfer`] runs the five-step protocol between two purses, each
//! on its own transport (two virtual cards, a virtual card and a bridged reader, …).
//!
//! Settling with the bank goes through a [`CardBank`] (the bank's card endpoints, over
//! whatever HTTP client the host has): [`PurseClient::settle_exceptions`] uploads the
//! exception log and applies the clearance, [`PurseClient::fetch_loads`] loads every
//! authorization the bank holds for the card from its next load number (a load whose
//! answer was lost, recovery loads of value lost in flight), and
//! [`PurseClient::settle_credits`] presents the credits the card took offline so the
//! bank counts them (until then they are not spendable), and
//! [`PurseClient::sync_with_bank`] does all three — after
//! [`PurseClient::apply_unlock`], which reopens a purse its risk rules locked once the
//! bank approved the owner's [`PurseClient::request_unlock`] (a locked purse takes no
//! load).

use ecash_shared::{Amount, Currency};

use crate::Error;
use crate::apdu::{Command, Response, Sw};
use crate::api::{
    ExceptionsResponse, NewUnlockRequest, TransfersResponse, UnlockState, UnlockStatus,
};
use crate::cert::CardCert;
use crate::exception::{ClearAuth, ExceptionRecord};
use crate::host::{cmd, parse_select};
use crate::keys::CardId;
use crate::load::{LoadAuth, LoadReceipt};
use crate::log::LogEntry;
use crate::pin::Pin;
use crate::purse::{PurseStatus, parse_balance};
use crate::risk::{LockReport, UnlockAuth, check_lock_report_of};
use crate::settle::{Credit, SettleAuth};
use crate::transfer::{Ack, Purpose, Request, StartFrom, StartTo, Terms, Value};
use crate::transport::{CardHandle, CardTransport};
use crate::unload::{UnloadOrder, UnloadProof};

/// The bank's card endpoints a purse settles through (bearer: the card's owner).
/// Errors are [`Error::Bank`] with the bank's `{code, detail}` or why it was unreachable.
#[allow(async_fn_in_trait)] // Futures are not Send in the browser; no caller needs Send.
pub trait CardBank {
    /// `POST /v1/cards/{id}/exceptions` with these records.
    async fn upload_exceptions(
        &self,
        card_id: CardId,
        records: Vec<ExceptionRecord>,
    ) -> Result<ExceptionsResponse, Error>;

    /// `POST /v1/cards/{id}/transfers` with the card's unsettled credits.
    async fn settle_transfers(
        &self,
        card_id: CardId,
        credits: Vec<Credit>,
    ) -> Result<TransfersResponse, Error>;

    /// `GET /v1/cards/{id}/loads?from=N`: stored authorizations from `from` on, in order.
    async fn loads_from(&self, card_id: CardId, from: u32) -> Result<Vec<LoadAuth>, Error>;

    /// `POST /v1/cards/{id}/unlock-requests`: ask the operator to reopen the card.
    async fn request_unlock(
        &self,
        card_id: CardId,
        request: &NewUnlockRequest,
    ) -> Result<UnlockStatus, Error>;

    /// `GET /v1/cards/{id}/unlock`: the card's current unlock request; `None` when the
    /// bank answers `NO_UNLOCK_REQUEST` (nobody asked).
    async fn unlock_status(&self, card_id: CardId) -> Result<Option<UnlockStatus>, Error>;
}

/// What [`PurseClient::apply_unlock`] found, and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnlockOutcome {
    /// The purse is not locked; the bank was not asked.
    #[default]
    NotLocked,
    /// Locked, and the bank holds no unlock request for it: ask with
    /// [`PurseClient::request_unlock`].
    NotRequested,
    /// Locked; the request for the card's unlock number awaits the operator.
    Pending {
        /// The number asked for.
        unlock_seq: u32,
    },
    /// Locked; the operator approved the request for the card's unlock number, and
    /// [`PurseClient::apply_unlock`] will apply it (only
    /// [`PurseClient::check_unlock`] answers this).
    Approved {
        /// The number approved.
        unlock_seq: u32,
    },
    /// Locked; the operator refused the request for the card's unlock number.
    Refused {
        /// The number asked for.
        unlock_seq: u32,
        /// The operator's note.
        note: Option<String>,
    },
    /// Locked; the bank's latest request or approval is for another unlock number
    /// (one already used, or asked for by a stale page): nothing applied, ask again.
    Stale {
        /// The number of the bank's request.
        bank: u32,
        /// The number the card expects.
        card: u32,
    },
    /// The approved UNLOCK was applied: the purse is open again.
    Unlocked {
        /// The number used.
        unlock_seq: u32,
    },
}

/// What [`PurseClient::sync_with_bank`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether the purse was locked, and what became of it (first: a locked purse
    /// takes no load).
    pub unlock: UnlockOutcome,
    /// Exception records the bank stored and the card then cleared.
    pub cleared: usize,
    /// What the bank did with the card's unsettled credits (`None`: there were none).
    pub settled: Option<TransfersResponse>,
    /// The load receipts of the authorizations loaded, in order.
    pub loaded: Vec<LoadReceipt>,
}

impl SyncReport {
    /// Total value loaded.
    pub fn loaded_value(&self) -> Result<Amount, Error> {
        Ok(Amount::checked_sum(
            self.loaded.iter().map(|r| r.body.amount),
        )?)
    }
}

/// A connected, selected purse.
#[derive(Debug)]
pub struct PurseClient<T: CardTransport> {
    transport: T,
    handle: CardHandle,
    cert: Option<CardCert>,
}

impl<T: CardTransport> PurseClient<T> {
    /// Connects to the card in `reader` and selects the purse.
    pub async fn connect(mut transport: T, reader: &str) -> Result<Self, Error> {
        let connected = transport.connect(reader).await?;
        let mut client = PurseClient {
            transport,
            handle: connected.handle,
            cert: None,
        };
        client.select().await?;
        Ok(client)
    }

    /// The purse's certificate (after SELECT on a personalized purse).
    pub fn cert(&self) -> Option<&CardCert> {
        self.cert.as_ref()
    }

    /// The transport and handle.
    pub fn handle(&self) -> CardHandle {
        self.handle
    }

    /// Sends one command; the data on `9000`, [`Error::Status`] otherwise.
    pub async fn exchange(&mut self, command: &Command) -> Result<Vec<u8>, Error> {
        let bytes = command.to_bytes()?;
        let response = self.transport.transmit(self.handle, &bytes).await?;
        Response::parse(&response)?.into_result()
    }

    /// SELECT (again, e.g. after a reset); reads the certificate.
    pub async fn select(&mut self) -> Result<Option<&CardCert>, Error> {
        let data = self.exchange(&cmd::select()).await?;
        self.cert = parse_select(&data)?;
        Ok(self.cert.as_ref())
    }

    fn require_cert(&self) -> Result<&CardCert, Error> {
        self.cert
            .as_ref()
            .ok_or(Error::Mismatch("the purse is not personalized"))
    }

    /// VERIFY the PIN. A wrong PIN is `Error::Status(63Cx)` (x tries left), a blocked
    /// one `Error::Status(6983)`.
    pub async fn verify_pin(&mut self, pin: &Pin) -> Result<(), Error> {
        self.exchange(&cmd::verify(pin)).await.map(drop)
    }

    /// CHANGE REFERENCE DATA.
    pub async fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), Error> {
        self.exchange(&cmd::change_pin(old, new)).await.map(drop)
    }

    /// RESET RETRY COUNTER with the PUK.
    pub async fn unblock_pin(&mut self, puk: &Pin, new: &Pin) -> Result<(), Error> {
        self.exchange(&cmd::reset_retry_counter(puk, new))
            .await
            .map(drop)
    }

    /// GET STATUS.
    pub async fn status(&mut self) -> Result<PurseStatus, Error> {
        PurseStatus::parse(&self.exchange(&cmd::get_status()).await?)
    }

    /// GET BALANCE.
    pub async fn balance(&mut self) -> Result<(Amount, Currency), Error> {
        parse_balance(&self.exchange(&cmd::get_balance()).await?)
    }

    /// The transaction log, newest first (a personal purse needs its PIN).
    pub async fn log(&mut self) -> Result<Vec<LogEntry>, Error> {
        let n = self.status().await?.log_entries;
        let mut out = Vec::with_capacity(usize::from(n));
        for i in 0..n {
            out.push(LogEntry::parse(&self.exchange(&cmd::get_log(i)).await?)?);
        }
        Ok(out)
    }

    /// The exception log (card-signed records, oldest first), to upload to the bank.
    pub async fn exceptions(&mut self) -> Result<Vec<ExceptionRecord>, Error> {
        let n = self.status().await?.exceptions;
        let mut out = Vec::with_capacity(usize::from(n));
        for i in 0..n {
            out.push(ExceptionRecord::parse(
                &self.exchange(&cmd::get_exception(i)).await?,
            )?);
        }
        Ok(out)
    }

    /// LOAD an issuer authorization.
    pub async fn load(&mut self, auth: &LoadAuth) -> Result<LoadReceipt, Error> {
        LoadReceipt::parse(&self.exchange(&cmd::load(auth)).await?)
    }

    /// UNLOAD to the bank (PIN first).
    pub async fn unload(&mut self, order: &UnloadOrder) -> Result<UnloadProof, Error> {
        UnloadProof::parse(&self.exchange(&cmd::unload(order)).await?)
    }

    /// GET LOCK REPORT: the card-signed report of its lock, checked against its own
    /// certificate. An open card answers `6985` ([`Error::Status`]).
    pub async fn lock_report(&mut self) -> Result<LockReport, Error> {
        let cert = self.require_cert()?.clone();
        let report = LockReport::parse(&self.exchange(&cmd::get_lock_report()).await?)?;
        check_lock_report_of(&cert, &report)?;
        Ok(report)
    }

    /// UNLOCK with an issuer authorization.
    pub async fn unlock(&mut self, auth: &UnlockAuth) -> Result<(), Error> {
        self.exchange(&cmd::unlock(auth)).await.map(drop)
    }

    /// CLEAR EXCEPTIONS with an issuer authorization.
    pub async fn clear_exceptions(&mut self, auth: &ClearAuth) -> Result<(), Error> {
        self.exchange(&cmd::clear_exceptions(auth)).await.map(drop)
    }

    /// Reads the exception log (GET EXCEPTION), uploads it to the bank and applies the
    /// clearance it answers (CLEAR EXCEPTIONS): the card drops exactly the records the
    /// bank stored. Returns how many were cleared. Safe to repeat: the bank stores each
    /// record once and answers a repeat the same way.
    pub async fn settle_exceptions<B: CardBank>(&mut self, bank: &B) -> Result<usize, Error> {
        let records = self.exceptions().await?;
        if records.is_empty() {
            return Ok(0);
        }
        let card_id = self.require_cert()?.card_id;
        let answer = bank.upload_exceptions(card_id, records).await?;
        match answer.clear {
            Some(clear) => {
                self.clear_exceptions(&clear).await?;
                Ok(clear.body.ids.len())
            }
            None => Ok(0),
        }
    }

    /// Reads the unsettled credits (GET CREDIT), oldest first.
    pub async fn credits(&mut self) -> Result<Vec<Credit>, Error> {
        let n = self.status().await?.credits;
        let mut out = Vec::with_capacity(usize::from(n));
        for i in 0..n {
            out.push(Credit::parse(&self.exchange(&cmd::get_credit(i)).await?)?);
        }
        Ok(out)
    }

    /// CLEAR CREDITS with the issuer's clearance.
    pub async fn clear_credits(&mut self, auth: &SettleAuth) -> Result<(), Error> {
        self.exchange(&cmd::clear_credits(auth)).await.map(drop)
    }

    /// Presents the card's unsettled credits to the bank and applies the clearance it
    /// answers (CLEAR CREDITS): settled credits become spendable on the card, credits
    /// refused for good leave it with their value. `None` when the card held none.
    /// Safe to repeat: the bank settles each transfer once and answers a repeat the
    /// same way.
    pub async fn settle_credits<B: CardBank>(
        &mut self,
        bank: &B,
    ) -> Result<Option<TransfersResponse>, Error> {
        let credits = self.credits().await?;
        if credits.is_empty() {
            return Ok(None);
        }
        let card_id = self.require_cert()?.card_id;
        let answer = bank.settle_transfers(card_id, credits).await?;
        if let Some(clear) = &answer.clear {
            if clear.body.card_id != card_id {
                return Err(Error::Mismatch("the bank's clearance is for another card"));
            }
            self.clear_credits(clear).await?;
        }
        Ok(Some(answer))
    }

    /// Loads, in order, every authorization the bank holds for this card from its next
    /// load number on (GET STATUS `next_load_seq`): a bank load whose answer never
    /// reached the card, recovery loads. Stops at the first the card refuses (e.g. over
    /// its balance cap) with that error; what was loaded before stays loaded.
    pub async fn fetch_loads<B: CardBank>(&mut self, bank: &B) -> Result<Vec<LoadReceipt>, Error> {
        let card_id = self.require_cert()?.card_id;
        let mut receipts = Vec::new();
        loop {
            let next = self.status().await?.next_load_seq;
            let auths = bank.loads_from(card_id, next).await?;
            if auths.is_empty() {
                return Ok(receipts);
            }
            // Each round loads at least one authorization (or fails), so the card's
            // next number grows and the loop ends when the bank has nothing more.
            for auth in &auths {
                receipts.push(self.load(auth).await?);
            }
        }
    }

    /// Asks the bank to reopen this purse: sends the card's signed lock report (which
    /// names the unlock number the card expects) with the owner's `reason`. The bank
    /// keeps one request per number, so asking again is harmless; the answer says where
    /// it stands. An open purse has nothing to ask: [`Error::Mismatch`], and the bank
    /// is not called.
    pub async fn request_unlock<B: CardBank>(
        &mut self,
        bank: &B,
        reason: Option<String>,
    ) -> Result<UnlockStatus, Error> {
        let card_id = self.require_cert()?.card_id;
        // A certified (active) purse answers GET LOCK REPORT with 6985 only when open.
        let report = match self.lock_report().await {
            Err(Error::Status(Sw::CONDITIONS_NOT_SATISFIED)) => {
                return Err(Error::Mismatch("the purse is not locked"));
            }
            r => r?,
        };
        bank.request_unlock(card_id, &NewUnlockRequest { report, reason })
            .await
    }

    /// If the purse is locked, asks the bank where its unlock request stands, without
    /// touching the card: what [`apply_unlock`](Self::apply_unlock) would do.
    pub async fn check_unlock<B: CardBank>(&mut self, bank: &B) -> Result<UnlockOutcome, Error> {
        Ok(self.unlock_decision(bank).await?.0)
    }

    /// If the purse is locked, asks the bank where its unlock request stands and, once
    /// approved for the number the card expects, applies the UNLOCK (the card checks
    /// the issuer's signature, its id and the number). An approval for another number
    /// is stale — already used, or for an earlier lock — and is left alone, so
    /// repeating this is harmless.
    pub async fn apply_unlock<B: CardBank>(&mut self, bank: &B) -> Result<UnlockOutcome, Error> {
        match self.unlock_decision(bank).await? {
            (UnlockOutcome::Approved { unlock_seq }, Some(auth)) => {
                self.unlock(&auth).await?;
                Ok(UnlockOutcome::Unlocked { unlock_seq })
            }
            (outcome, _) => Ok(outcome),
        }
    }

    /// The purse's lock as the bank sees it, with the approved UNLOCK (checked to be
    /// for this card and the number it expects) when there is one.
    async fn unlock_decision<B: CardBank>(
        &mut self,
        bank: &B,
    ) -> Result<(UnlockOutcome, Option<UnlockAuth>), Error> {
        let status = self.status().await?;
        if status.lock.is_none() {
            return Ok((UnlockOutcome::NotLocked, None));
        }
        let card_id = self.require_cert()?.card_id;
        let Some(answer) = bank.unlock_status(card_id).await? else {
            return Ok((UnlockOutcome::NotRequested, None));
        };
        let card = status.next_unlock_seq;
        if answer.card_id != card_id || answer.unlock_seq != card {
            let stale = UnlockOutcome::Stale {
                bank: answer.unlock_seq,
                card,
            };
            return Ok((stale, None));
        }
        Ok(match answer.state {
            UnlockState::Pending => (UnlockOutcome::Pending { unlock_seq: card }, None),
            UnlockState::Refused => {
                let refused = UnlockOutcome::Refused {
                    unlock_seq: card,
                    note: answer.note,
                };
                (refused, None)
            }
            UnlockState::Approved => {
                let auth = answer.auth.ok_or(Error::Bank(
                    "the bank approved the unlock but sent no authorization".to_owned(),
                ))?;
                if auth.body.card_id != card_id || auth.body.unlock_seq != card {
                    return Err(Error::Mismatch(
                        "the bank's UNLOCK is for another card or number",
                    ));
                }
                (UnlockOutcome::Approved { unlock_seq: card }, Some(auth))
            }
        })
    }

    /// [`apply_unlock`](Self::apply_unlock), [`settle_credits`](Self::settle_credits),
    /// [`settle_exceptions`](Self::settle_exceptions), then
    /// [`fetch_loads`](Self::fetch_loads) unless the purse is still locked. To
    /// recover a transfer between two purses of one holder, settle both purses'
    /// exceptions before fetching the loads (the recovery exists once both records
    /// reached the bank).
    pub async fn sync_with_bank<B: CardBank>(&mut self, bank: &B) -> Result<SyncReport, Error> {
        let unlock = self.apply_unlock(bank).await?;
        let settled = self.settle_credits(bank).await?;
        let cleared = self.settle_exceptions(bank).await?;
        let still_locked = !matches!(
            unlock,
            UnlockOutcome::NotLocked | UnlockOutcome::Unlocked { .. }
        );
        let loaded = if still_locked {
            Vec::new()
        } else {
            self.fetch_loads(bank).await?
        };
        Ok(SyncReport {
            unlock,
            cleared,
            settled,
            loaded,
        })
    }

    /// ABORT the transfer in progress (0 nothing, 1 start dropped, 2 exception logged).
    pub async fn abort(&mut self) -> Result<u8, Error> {
        let data = self.exchange(&cmd::abort()).await?;
        data.first()
            .copied()
            .ok_or(Error::Malformed("empty ABORT response"))
    }

    /// The payee's last ACK, to finish a transfer whose ACK was lost.
    pub async fn resend_ack(&mut self) -> Result<Ack, Error> {
        Ack::parse(&self.exchange(&cmd::resend(1)).await?)
    }

    /// Disconnects and gives the transport back.
    pub async fn disconnect(mut self) -> Result<T, Error> {
        self.transport.disconnect(self.handle).await?;
        Ok(self.transport)
    }
}

/// Pays `amount` from `payer` to `payee` (the payer's PIN verified first). On error
/// both purses keep a consistent state: retry, [`PurseClient::abort`], or settle later
/// through the exception logs.
pub async fn transfer<A: CardTransport, B: CardTransport>(
    payer: &mut PurseClient<A>,
    payee: &mut PurseClient<B>,
    amount: Amount,
    purpose: Purpose,
    day: u32,
) -> Result<Terms, Error> {
    let payer_cert = payer.require_cert()?.clone();
    let payee_cert = payee.require_cert()?.clone();
    let seq = payer
        .exchange(&cmd::start_from(&StartFrom {
            payee: payee_cert,
            amount,
            purpose,
            day,
        }))
        .await?;
    let payer_seq = u32::from_be_bytes(
        seq.as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("payer_seq"))?,
    );
    let request = Request::parse(
        &payee
            .exchange(&cmd::start_to(&StartTo {
                payer: payer_cert,
                amount,
                purpose,
                payer_seq,
                day,
            }))
            .await?,
    )?;
    let value = Value::parse(&payer.exchange(&cmd::req(&request)).await?)?;
    let ack = Ack::parse(&payee.exchange(&cmd::val(&value)).await?)?;
    payer.exchange(&cmd::ack(&ack)).await?;
    Ok(ack.body.0)
}
