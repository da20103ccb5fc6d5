//! Host side: command APDUs for every purse command, and helpers that run them
//! synchronously against a [`Card`] (tests, the vpcd card, personalization). The async
//! equivalent over any reader is [`crate::client::PurseClient`].

use ecash_shared::Amount;

use crate::Error;
use crate::apdu::{Command, Response};
use crate::card::Card;
use crate::cert::{CardCert, CardProfile};
use crate::exception::{ClearAuth, ExceptionRecord};
use crate::issuer::Ledger;
use crate::keys::{CardId, CardPublicKey, IssuerPublicKey};
use crate::load::{LoadAuth, LoadReceipt};
use crate::pin::Pin;
use crate::purse::{AID, PIN_REF, PurseStatus, ins};
use crate::risk::UnlockAuth;
use crate::settle::{Credit, SettleAuth};
use crate::transfer::{Ack, Purpose, Request, StartFrom, StartTo, Terms, Value};
use crate::unload::{UnloadOrder, UnloadProof};

const ISO: u8 = 0x00;
const PROP: u8 = 0x80;

/// Command APDUs.
pub mod cmd {
    use super::*;

    /// SELECT the purse by AID.
    pub fn select() -> Command {
        Command::new(ISO, ins::SELECT, 0x04, 0x00, AID.to_vec())
    }

    /// VERIFY the PIN.
    pub fn verify(pin: &Pin) -> Command {
        Command::new(ISO, ins::VERIFY, 0, PIN_REF, pin.field().to_vec())
    }

    /// VERIFY without data: asks whether the PIN is verified / tries left.
    pub fn pin_status() -> Command {
        let mut c = Command::new(ISO, ins::VERIFY, 0, PIN_REF, Vec::new());
        c.le = 0;
        c
    }

    /// CHANGE REFERENCE DATA.
    pub fn change_pin(old: &Pin, new: &Pin) -> Command {
        let mut data = old.field().to_vec();
        data.extend_from_slice(new.field().as_ref());
        Command::new(ISO, ins::CHANGE_REFERENCE_DATA, 0, PIN_REF, data)
    }

    /// RESET RETRY COUNTER with the PUK.
    pub fn reset_retry_counter(puk: &Pin, new: &Pin) -> Command {
        let mut data = puk.field().to_vec();
        data.extend_from_slice(new.field().as_ref());
        Command::new(ISO, ins::RESET_RETRY_COUNTER, 0, PIN_REF, data)
    }

    /// INITIALIZE with the issuer key.
    pub fn initialize(issuer: &IssuerPublicKey) -> Command {
        Command::new(PROP, ins::INITIALIZE, 0, 0, issuer.to_bytes().to_vec())
    }

    /// PERSONALIZE with the certificate, PIN and PUK.
    pub fn personalize(cert: &CardCert, pin: &Pin, puk: &Pin) -> Command {
        let mut data = cert.to_bytes();
        data.extend_from_slice(pin.field().as_ref());
        data.extend_from_slice(puk.field().as_ref());
        Command::new(PROP, ins::PERSONALIZE, 0, 0, data)
    }

    /// GET STATUS.
    pub fn get_status() -> Command {
        Command::new(PROP, ins::GET_STATUS, 0, 0, Vec::new())
    }

    /// GET BALANCE.
    pub fn get_balance() -> Command {
        Command::new(PROP, ins::GET_BALANCE, 0, 0, Vec::new())
    }

    /// LOAD.
    pub fn load(auth: &LoadAuth) -> Command {
        Command::new(PROP, ins::LOAD, 0, 0, auth.to_bytes())
    }

    /// UNLOAD.
    pub fn unload(order: &UnloadOrder) -> Command {
        Command::new(PROP, ins::UNLOAD, 0, 0, order.to_bytes())
    }

    /// UNLOCK.
    pub fn unlock(auth: &UnlockAuth) -> Command {
        Command::new(PROP, ins::UNLOCK, 0, 0, auth.to_bytes())
    }

    /// GET LOCK REPORT.
    pub fn get_lock_report() -> Command {
        Command::new(PROP, ins::GET_LOCK_REPORT, 0, 0, Vec::new())
    }

    /// START FROM (to the payer).
    pub fn start_from(s: &StartFrom) -> Command {
        Command::new(PROP, ins::START_FROM, 0, 0, s.to_bytes())
    }

    /// START TO (to the payee).
    pub fn start_to(s: &StartTo) -> Command {
        Command::new(PROP, ins::START_TO, 0, 0, s.to_bytes())
    }

    /// REQ (to the payer).
    pub fn req(r: &Request) -> Command {
        Command::new(PROP, ins::REQ, 0, 0, r.to_bytes())
    }

    /// VAL (to the payee).
    pub fn val(v: &Value) -> Command {
        Command::new(PROP, ins::VAL, 0, 0, v.to_bytes())
    }

    /// ACK (to the payer).
    pub fn ack(a: &Ack) -> Command {
        Command::new(PROP, ins::ACK, 0, 0, a.to_bytes())
    }

    /// ABORT.
    pub fn abort() -> Command {
        Command::new(PROP, ins::ABORT, 0, 0, Vec::new())
    }

    /// RESEND: 1 last ACK, 2 last unload proof, 3 last load receipt.
    pub fn resend(which: u8) -> Command {
        Command::new(PROP, ins::RESEND, which, 0, Vec::new())
    }

    /// GET LOG entry `index` (0 = newest).
    pub fn get_log(index: u8) -> Command {
        Command::new(PROP, ins::GET_LOG, index, 0, Vec::new())
    }

    /// GET EXCEPTION record `index` (0 = oldest).
    pub fn get_exception(index: u8) -> Command {
        Command::new(PROP, ins::GET_EXCEPTION, index, 0, Vec::new())
    }

    /// CLEAR EXCEPTIONS.
    pub fn clear_exceptions(auth: &ClearAuth) -> Command {
        Command::new(PROP, ins::CLEAR_EXCEPTIONS, 0, 0, auth.to_bytes())
    }

    /// GET CREDIT entry `index` (0 = oldest).
    pub fn get_credit(index: u8) -> Command {
        Command::new(PROP, ins::GET_CREDIT, index, 0, Vec::new())
    }

    /// CLEAR CREDITS.
    pub fn clear_credits(auth: &SettleAuth) -> Command {
        Command::new(PROP, ins::CLEAR_CREDITS, 0, 0, auth.to_bytes())
    }
}

/// Sends a command to a card; the response data on `9000`, the status word otherwise.
pub fn exchange<C: Card + ?Sized>(card: &mut C, command: &Command) -> Result<Vec<u8>, Error> {
    let bytes = command.to_bytes()?;
    Response::parse(&card.transmit(&bytes))?.into_result()
}

/// Parses the SELECT response: the certificate of a personalized purse.
pub fn parse_select(data: &[u8]) -> Result<Option<CardCert>, Error> {
    match data.split_first() {
        Some((2, cert)) => CardCert::parse(cert).map(Some),
        Some((0 | 1, [])) => Ok(None),
        _ => Err(Error::Malformed("unexpected SELECT response")),
    }
}

/// Initializes and personalizes a blank card with the issuer's ledger (what the bank's
/// issuing desk does): INITIALIZE, certify the revealed key, PERSONALIZE.
pub fn issue_card<C: Card + ?Sized>(
    card: &mut C,
    ledger: &mut Ledger,
    card_id: CardId,
    profile: CardProfile,
    pin: &Pin,
    puk: &Pin,
) -> Result<CardCert, Error> {
    exchange(card, &cmd::select())?;
    let key = exchange(card, &cmd::initialize(&ledger.issuer().public_key()))?;
    let key: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| Error::Malformed("card key"))?;
    let cert = ledger.certify(card_id, CardPublicKey::from_bytes(&key)?, profile)?;
    exchange(card, &cmd::personalize(&cert, pin, puk))?;
    Ok(cert)
}

/// SELECT and read the certificate of a personalized purse.
pub fn select<C: Card + ?Sized>(card: &mut C) -> Result<CardCert, Error> {
    parse_select(&exchange(card, &cmd::select())?)?
        .ok_or(Error::Mismatch("the purse is not personalized"))
}

/// GET STATUS.
pub fn status<C: Card + ?Sized>(card: &mut C) -> Result<PurseStatus, Error> {
    PurseStatus::parse(&exchange(card, &cmd::get_status())?)
}

/// LOAD an authorization; the card's receipt.
pub fn load<C: Card + ?Sized>(card: &mut C, auth: &LoadAuth) -> Result<LoadReceipt, Error> {
    LoadReceipt::parse(&exchange(card, &cmd::load(auth))?)
}

/// UNLOAD; the card's proof.
pub fn unload<C: Card + ?Sized>(card: &mut C, order: &UnloadOrder) -> Result<UnloadProof, Error> {
    UnloadProof::parse(&exchange(card, &cmd::unload(order))?)
}

/// Reads every unsettled credit, oldest first.
pub fn credits<C: Card + ?Sized>(card: &mut C) -> Result<Vec<Credit>, Error> {
    let n = status(card)?.credits;
    (0..n)
        .map(|i| Credit::parse(&exchange(card, &cmd::get_credit(i))?))
        .collect()
}

/// CLEAR CREDITS with the issuer's clearance.
pub fn clear_credits<C: Card + ?Sized>(card: &mut C, auth: &SettleAuth) -> Result<(), Error> {
    exchange(card, &cmd::clear_credits(auth)).map(drop)
}

/// Reads every exception record, oldest first.
pub fn exceptions<C: Card + ?Sized>(card: &mut C) -> Result<Vec<ExceptionRecord>, Error> {
    let n = status(card)?.exceptions;
    (0..n)
        .map(|i| ExceptionRecord::parse(&exchange(card, &cmd::get_exception(i))?))
        .collect()
}

/// A whole transfer between two selected purses (the payer's PIN already verified):
/// the five steps of [`crate::transfer`]. On error, the purses keep their state; the
/// caller may retry a step, ABORT, or leave it to the exception log.
pub fn transfer<P: Card + ?Sized, Q: Card + ?Sized>(
    payer: &mut P,
    payer_cert: &CardCert,
    payee: &mut Q,
    payee_cert: &CardCert,
    amount: Amount,
    purpose: Purpose,
    day: u32,
) -> Result<Terms, Error> {
    let seq = exchange(
        payer,
        &cmd::start_from(&StartFrom {
            payee: payee_cert.clone(),
            amount,
            purpose,
            day,
        }),
    )?;
    let payer_seq = u32::from_be_bytes(
        seq.as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("payer_seq"))?,
    );
    let request = Request::parse(&exchange(
        payee,
        &cmd::start_to(&StartTo {
            payer: payer_cert.clone(),
            amount,
            purpose,
            payer_seq,
            day,
        }),
    )?)?;
    let value = Value::parse(&exchange(payer, &cmd::req(&request))?)?;
    let ack = Ack::parse(&exchange(payee, &cmd::val(&value))?)?;
    exchange(payer, &cmd::ack(&ack))?;
    Ok(ack.body.0)
}
