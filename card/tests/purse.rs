//! The purse application through its APDUs: issuance, PIN, load, unload, transfer, risk
//! rules, terminal mode, forged purses, replays and tampering, exceptions and recovery.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(not(target_arch = "wasm32"))] // Native: proptest, tempfile, threads.

mod common;

use common::*;
use ecash_card::apdu::Sw;
use ecash_card::cert::{CardProfile, Mode};
use ecash_card::exception::{ClearAuthBody, EXCEPTION_LOG_CAPACITY, ExceptionKind};
use ecash_card::host::{self, cmd, exchange};
use ecash_card::issuer::{Issuer, Ledger};
use ecash_card::load::{LoadAuthBody, LoadKind};
use ecash_card::log::{LogEntry, LogKind, LogStatus};
use ecash_card::risk::{LockReason, LockReport, LockReportBody};
use ecash_card::transfer::{Ack, Purpose, Request, StartFrom, StartTo, Value};
use ecash_card::unload::{UnloadOrder, destination_for_account};
use ecash_card::{Card, CardCert, Error, IssuerKey, Pin, PurseState, VirtualCard};
use ecash_shared::Amount;

fn eur(minor: u64) -> Amount {
    Amount::from_minor(minor)
}

fn sw(r: Result<Vec<u8>, Error>) -> Sw {
    match r {
        Ok(_) => Sw::OK,
        Err(Error::Status(sw)) => sw,
        Err(e) => panic!("not a status word: {e}"),
    }
}

fn balance(card: &mut VirtualCard) -> u64 {
    host::status(card).unwrap().balance.minor()
}

/// Runs the first two steps; returns the REQUEST.
fn start(
    payer: &mut VirtualCard,
    payer_cert: &CardCert,
    payee: &mut VirtualCard,
    payee_cert: &CardCert,
    amount: u64,
) -> Request {
    let seq = exchange(
        payer,
        &cmd::start_from(&StartFrom {
            payee: payee_cert.clone(),
            amount: eur(amount),
            purpose: Purpose::Payment,
            day: 20_000,
        }),
    )
    .unwrap();
    Request::parse(
        &exchange(
            payee,
            &cmd::start_to(&StartTo {
                payer: payer_cert.clone(),
                amount: eur(amount),
                purpose: Purpose::Payment,
                payer_seq: u32::from_be_bytes(seq.try_into().unwrap()),
                day: 20_000,
            }),
        )
        .unwrap(),
    )
    .unwrap()
}

struct Pair {
    ledger: Ledger,
    a: VirtualCard,
    a_cert: CardCert,
    b: VirtualCard,
    b_cert: CardCert,
}

fn pair(mode_b: Mode) -> Pair {
    let mut ledger = ledger();
    let (mut a, a_cert) = issue(&mut ledger, 1, Mode::Personal);
    let (b, b_cert) = issue(&mut ledger, 2, mode_b);
    fund(&mut ledger, &mut a, &a_cert, 10_000);
    exchange(&mut a, &cmd::verify(&pin())).unwrap();
    Pair {
        ledger,
        a,
        a_cert,
        b,
        b_cert,
    }
}

#[test]
fn issuance_select_and_status() {
    let mut ledger = ledger();
    let mut blank = VirtualCard::new(PurseState::manufacture_with_seed(&[9; 32])).unwrap();
    let sel = exchange(&mut blank, &cmd::select()).unwrap();
    assert_eq!(sel, [0]);
    assert_eq!(host::status(&mut blank).unwrap().lifecycle, 0);
    // Purse commands before personalization.
    assert_eq!(
        sw(exchange(&mut blank, &cmd::get_balance())),
        Sw::CONDITIONS_NOT_SATISFIED
    );
    let cert = host::issue_card(
        &mut blank,
        &mut ledger,
        card_id(9),
        profile(Mode::Personal),
        &pin(),
        &puk(),
    )
    .unwrap();
    assert_eq!(host::select(&mut blank).unwrap(), cert);
    let st = host::status(&mut blank).unwrap();
    assert_eq!(
        (st.lifecycle, st.mode, st.balance),
        (2, Some(Mode::Personal), Amount::ZERO)
    );
    assert_eq!((st.pin_tries, st.puk_tries, st.next_load_seq), (3, 10, 1));
    // Personalization happens once.
    assert_eq!(
        sw(exchange(
            &mut blank,
            &cmd::initialize(&ledger.issuer().public_key())
        )),
        Sw::CONDITIONS_NOT_SATISFIED
    );
    assert_eq!(
        sw(exchange(
            &mut blank,
            &cmd::personalize(&cert, &pin(), &puk())
        )),
        Sw::CONDITIONS_NOT_SATISFIED
    );
}

#[test]
fn personalization_refuses_a_certificate_for_another_key_or_issuer() {
    let mut ledger = ledger();
    let mut card = VirtualCard::new(PurseState::manufacture_with_seed(&[3; 32])).unwrap();
    exchange(&mut card, &cmd::select()).unwrap();
    exchange(&mut card, &cmd::initialize(&ledger.issuer().public_key())).unwrap();
    let other = ecash_card::CardKey::from_seed(&[4; 32]).public();
    let wrong_key = ledger
        .certify(card_id(3), other, profile(Mode::Personal))
        .unwrap();
    assert_eq!(
        sw(exchange(
            &mut card,
            &cmd::personalize(&wrong_key, &pin(), &puk())
        )),
        Sw::WRONG_DATA
    );
    let rogue = Issuer::new(IssuerKey::from_seed(&[0x66; 32]));
    let mine = card.state().card_public_key();
    let forged = rogue.certify(card_id(3), mine, profile(Mode::Personal));
    assert_eq!(
        sw(exchange(
            &mut card,
            &cmd::personalize(&forged, &pin(), &puk())
        )),
        Sw::BAD_SIGNATURE
    );
}

#[test]
fn pin_retries_block_and_puk_unblocks() {
    let mut ledger = ledger();
    let (mut card, _) = issue(&mut ledger, 1, Mode::Personal);
    let wrong = Pin::new("9999").unwrap();
    assert_eq!(
        sw(exchange(&mut card, &cmd::pin_status())),
        Sw::retries_left(3)
    );
    assert_eq!(
        sw(exchange(&mut card, &cmd::verify(&wrong))),
        Sw::retries_left(2)
    );
    assert_eq!(
        sw(exchange(&mut card, &cmd::verify(&wrong))),
        Sw::retries_left(1)
    );
    // A right PIN resets the counter.
    exchange(&mut card, &cmd::verify(&pin())).unwrap();
    assert_eq!(sw(exchange(&mut card, &cmd::pin_status())), Sw::OK);
    for left in [2, 1, 0] {
        assert_eq!(
            sw(exchange(&mut card, &cmd::verify(&wrong))),
            Sw::retries_left(left)
        );
    }
    assert_eq!(
        sw(exchange(&mut card, &cmd::verify(&pin()))),
        Sw::AUTH_BLOCKED
    );
    assert_eq!(
        sw(exchange(&mut card, &cmd::pin_status())),
        Sw::AUTH_BLOCKED
    );
    // Power cycling does not give tries back.
    card.power_off();
    exchange(&mut card, &cmd::select()).unwrap();
    assert_eq!(
        sw(exchange(&mut card, &cmd::verify(&pin()))),
        Sw::AUTH_BLOCKED
    );
    // Wrong PUK costs a PUK try; the right one sets a new PIN.
    let new = Pin::new("24680").unwrap();
    let bad_puk = Pin::new_puk("00000000").unwrap();
    assert_eq!(
        sw(exchange(
            &mut card,
            &cmd::reset_retry_counter(&bad_puk, &new)
        )),
        Sw::retries_left(9)
    );
    exchange(&mut card, &cmd::reset_retry_counter(&puk(), &new)).unwrap();
    assert_eq!(
        sw(exchange(&mut card, &cmd::verify(&pin()))),
        Sw::retries_left(2)
    );
    exchange(&mut card, &cmd::verify(&new)).unwrap();
    // CHANGE REFERENCE DATA needs the old PIN.
    let newer = Pin::new("13579").unwrap();
    assert_eq!(
        sw(exchange(&mut card, &cmd::change_pin(&pin(), &newer))),
        Sw::retries_left(2)
    );
    exchange(&mut card, &cmd::change_pin(&new, &newer)).unwrap();
    exchange(&mut card, &cmd::verify(&newer)).unwrap();
    // Malformed PIN fields are refused without costing a try.
    let mut bad = cmd::verify(&pin());
    bad.data = b"12".to_vec();
    assert_eq!(sw(exchange(&mut card, &bad)), Sw::WRONG_LENGTH);
    bad.data = b"12ab\xff\xff\xff\xff".to_vec();
    assert_eq!(sw(exchange(&mut card, &bad)), Sw::WRONG_DATA);
    assert_eq!(host::status(&mut card).unwrap().pin_tries, 3);
}

#[test]
fn puk_blocks_for_good() {
    let mut ledger = ledger();
    let (mut card, _) = issue(&mut ledger, 1, Mode::Personal);
    let bad = Pin::new_puk("00000000").unwrap();
    for left in (0..10).rev() {
        assert_eq!(
            sw(exchange(&mut card, &cmd::reset_retry_counter(&bad, &pin()))),
            Sw::retries_left(left)
        );
    }
    assert_eq!(
        sw(exchange(
            &mut card,
            &cmd::reset_retry_counter(&puk(), &pin())
        )),
        Sw::AUTH_BLOCKED
    );
}

#[test]
fn load_checks_issuer_card_sequence_and_cap() {
    let mut ledger = ledger();
    let (mut card, cert) = issue(&mut ledger, 1, Mode::Personal);
    let auth = ledger
        .authorize_load(cert.card_id, eur(500), LoadKind::Bank)
        .unwrap();
    let receipt = host::load(&mut card, &auth).unwrap();
    receipt.verify_card(&cert.card_pub).unwrap();
    assert_eq!(receipt.body.balance_after, eur(500));
    // Replay: the sequence number moved on.
    assert_eq!(
        sw(exchange(&mut card, &cmd::load(&auth))),
        Sw::CONDITIONS_NOT_SATISFIED
    );
    // RESEND gives the receipt again.
    assert_eq!(
        exchange(&mut card, &cmd::resend(3)).unwrap(),
        receipt.to_bytes()
    );
    // Skipping a number is refused; in order it works.
    let a2 = ledger
        .authorize_load(cert.card_id, eur(1), LoadKind::Bank)
        .unwrap();
    let a3 = ledger
        .authorize_load(cert.card_id, eur(2), LoadKind::Bank)
        .unwrap();
    assert_eq!(
        sw(exchange(&mut card, &cmd::load(&a3))),
        Sw::CONDITIONS_NOT_SATISFIED
    );
    host::load(&mut card, &a2).unwrap();
    host::load(&mut card, &a3).unwrap();
    assert_eq!(balance(&mut card), 503);
    // Signed by someone else, tampered, or for another card.
    let rogue = Issuer::new(IssuerKey::from_seed(&[0x66; 32]));
    let next = LoadAuthBody {
        card_id: cert.card_id,
        currency: cert.profile.currency,
        amount: eur(100),
        load_seq: 4,
        kind: LoadKind::Bank,
        day: 0,
    };
    assert_eq!(
        sw(exchange(&mut card, &cmd::load(&rogue.sign_load(next)))),
        Sw::BAD_SIGNATURE
    );
    let mut tampered = ledger.issuer().sign_load(next);
    tampered.body.amount = eur(100_000);
    assert_eq!(
        sw(exchange(&mut card, &cmd::load(&tampered))),
        Sw::BAD_SIGNATURE
    );
    let other = ledger.issuer().sign_load(LoadAuthBody {
        card_id: card_id(77),
        ..next
    });
    assert_eq!(sw(exchange(&mut card, &cmd::load(&other))), Sw::WRONG_DATA);
    // Over the cap.
    let big = ledger.issuer().sign_load(LoadAuthBody {
        amount: eur(1_000_000),
        ..next
    });
    assert_eq!(sw(exchange(&mut card, &cmd::load(&big))), Sw::BALANCE_CAP);
    assert_eq!(balance(&mut card), 503);
}

#[test]
fn unload_needs_pin_and_the_bank_credits_once() {
    let mut ledger = ledger();
    let (mut card, cert) = issue(&mut ledger, 1, Mode::Personal);
    fund(&mut ledger, &mut card, &cert, 1_000);
    let order = UnloadOrder {
        amount: eur(300),
        destination: destination_for_account("alice"),
        day: 20_000,
    };
    assert_eq!(
        sw(exchange(&mut card, &cmd::unload(&order))),
        Sw::SECURITY_NOT_SATISFIED
    );
    exchange(&mut card, &cmd::verify(&pin())).unwrap();
    let too_much = UnloadOrder {
        amount: eur(5_000),
        ..order
    };
    assert_eq!(
        sw(exchange(&mut card, &cmd::unload(&too_much))),
        Sw::INSUFFICIENT_FUNDS
    );
    let proof = host::unload(&mut card, &order).unwrap();
    assert_eq!(balance(&mut card), 700);
    assert_eq!(ledger.accept_unload(&proof).unwrap(), eur(300));
    assert_eq!(
        ledger.accept_unload(&proof).unwrap(),
        Amount::ZERO,
        "credited once"
    );
    assert_eq!(proof.body.destination, destination_for_account("alice"));
    let mut tampered = proof.clone();
    tampered.body.amount = eur(3_000);
    assert!(ledger.accept_unload(&tampered).is_err());
    assert_eq!(
        exchange(&mut card, &cmd::resend(2)).unwrap(),
        proof.to_bytes()
    );
    // A personal purse keeps its PIN for the session.
    host::unload(
        &mut card,
        &UnloadOrder {
            amount: eur(1),
            ..order
        },
    )
    .unwrap();
    // A copy of the card (its state file) unloading again with the same number is a
    // clone: the bank refuses the second, different proof.
    let mut clone = VirtualCard::from_json(&card.state_json()).unwrap();
    exchange(&mut clone, &cmd::select()).unwrap();
    exchange(&mut clone, &cmd::verify(&pin())).unwrap();
    let mine = host::unload(
        &mut card,
        &UnloadOrder {
            amount: eur(10),
            ..order
        },
    )
    .unwrap();
    let theirs = host::unload(
        &mut clone,
        &UnloadOrder {
            amount: eur(20),
            ..order
        },
    )
    .unwrap();
    assert_eq!(mine.body.unload_seq, theirs.body.unload_seq);
    assert_eq!(ledger.accept_unload(&mine).unwrap(), eur(10));
    assert!(ledger.accept_unload(&theirs).is_err(), "clone detected");
}

#[test]
fn transfer_moves_value_and_logs_both_sides() {
    let mut p = pair(Mode::Personal);
    let terms = host::transfer(
        &mut p.a,
        &p.a_cert,
        &mut p.b,
        &p.b_cert,
        eur(2_500),
        Purpose::Payment,
        20_000,
    )
    .unwrap();
    assert_eq!((balance(&mut p.a), balance(&mut p.b)), (7_500, 2_500));
    assert_eq!(
        (terms.payer, terms.payee),
        (p.a_cert.card_id, p.b_cert.card_id)
    );
    let st = host::status(&mut p.a).unwrap();
    assert_eq!(
        (st.pending, st.spent_today, st.day),
        (0, eur(2_500), 20_000)
    );
    let debit = LogEntry::parse(&exchange(&mut p.a, &cmd::get_log(0)).unwrap()).unwrap();
    assert_eq!(
        (debit.kind, debit.status, debit.counterparty, debit.amount),
        (
            LogKind::Debit,
            LogStatus::Complete,
            p.b_cert.card_id,
            eur(2_500)
        )
    );
    let load = LogEntry::parse(&exchange(&mut p.a, &cmd::get_log(1)).unwrap()).unwrap();
    assert_eq!(load.kind, LogKind::Load);
    assert_eq!(
        sw(exchange(&mut p.a, &cmd::get_log(2))),
        Sw::RECORD_NOT_FOUND
    );
    // The payee's log is private (personal purse): PIN first.
    assert_eq!(
        sw(exchange(&mut p.b, &cmd::get_log(0))),
        Sw::SECURITY_NOT_SATISFIED
    );
    exchange(&mut p.b, &cmd::verify(&pin())).unwrap();
    let credit = LogEntry::parse(&exchange(&mut p.b, &cmd::get_log(0)).unwrap()).unwrap();
    assert_eq!(
        (credit.kind, credit.seq, credit.counter_seq),
        (LogKind::Credit, terms.payee_seq, terms.payer_seq)
    );
    // What b took offline is not spendable until the issuer has settled it.
    let st = host::status(&mut p.b).unwrap();
    assert_eq!((st.credits, st.unsettled), (1, eur(2_500)));
    let credit = &host::credits(&mut p.b).unwrap()[0];
    assert_eq!(*credit.terms(), terms);
    let back = |p: &mut Pair| {
        host::transfer(
            &mut p.b,
            &p.b_cert,
            &mut p.a,
            &p.a_cert,
            eur(500),
            Purpose::Payment,
            20_000,
        )
    };
    assert_eq!(
        back(&mut p).unwrap_err(),
        Error::Status(Sw::INSUFFICIENT_FUNDS)
    );
    settle(&mut p.ledger, &mut p.b, &p.b_cert);
    assert_eq!(p.ledger.bank_balance(p.b_cert.card_id), eur(2_500));
    assert_eq!(p.ledger.bank_balance(p.a_cert.card_id), eur(7_500));
    // And back.
    host::transfer(
        &mut p.b,
        &p.b_cert,
        &mut p.a,
        &p.a_cert,
        eur(500),
        Purpose::Payment,
        20_000,
    )
    .unwrap();
    assert_eq!((balance(&mut p.a), balance(&mut p.b)), (8_000, 2_000));
}

#[test]
fn payer_needs_pin_funds_and_a_genuine_payee() {
    let mut p = pair(Mode::Personal);
    let start = |cert: &CardCert, amount: u64| {
        cmd::start_from(&StartFrom {
            payee: cert.clone(),
            amount: eur(amount),
            purpose: Purpose::Payment,
            day: 1,
        })
    };
    assert_eq!(
        sw(exchange(&mut p.a, &start(&p.b_cert, 20_000))),
        Sw::INSUFFICIENT_FUNDS
    );
    assert_eq!(sw(exchange(&mut p.a, &start(&p.b_cert, 0))), Sw::WRONG_DATA);
    assert_eq!(
        sw(exchange(&mut p.a, &start(&p.a_cert, 10))),
        Sw::WRONG_DATA,
        "not to itself"
    );
    // A forged purse: a real-looking certificate from another issuer key.
    let rogue = Issuer::new(IssuerKey::from_seed(&[0x66; 32]));
    let forged = rogue.certify(card_id(50), p.b_cert.card_pub, p.b_cert.profile);
    assert_eq!(
        sw(exchange(&mut p.a, &start(&forged, 10))),
        Sw::BAD_SIGNATURE
    );
    // An uncertified key pasted into a genuine certificate.
    let mut pasted = p.b_cert.clone();
    pasted.card_pub = ecash_card::CardKey::from_seed(&[0x77; 32]).public();
    assert_eq!(
        sw(exchange(&mut p.a, &start(&pasted, 10))),
        Sw::BAD_SIGNATURE
    );
    // Without the PIN.
    p.a.power_off();
    exchange(&mut p.a, &cmd::select()).unwrap();
    assert_eq!(
        sw(exchange(&mut p.a, &start(&p.b_cert, 10))),
        Sw::SECURITY_NOT_SATISFIED
    );
    // The payee refuses a forged payer too.
    let forged_payer = rogue.certify(card_id(51), p.a_cert.card_pub, p.a_cert.profile);
    let to = cmd::start_to(&StartTo {
        payer: forged_payer,
        amount: eur(10),
        purpose: Purpose::Payment,
        payer_seq: 1,
        day: 1,
    });
    assert_eq!(sw(exchange(&mut p.b, &to)), Sw::BAD_SIGNATURE);
}

#[test]
fn replayed_tampered_and_misdirected_messages_are_refused() {
    let mut p = pair(Mode::Personal);
    let (mut c, c_cert) = issue(&mut p.ledger, 3, Mode::Personal);
    let request = start(&mut p.a, &p.a_cert, &mut p.b, &p.b_cert, 1_000);

    // Tampered amount in REQUEST: signature fails; nothing debited.
    let mut bad = request.clone();
    bad.body.0.amount = eur(9_000);
    assert_eq!(sw(exchange(&mut p.a, &cmd::req(&bad))), Sw::BAD_SIGNATURE);
    // The same terms signed by another key (a purse pretending to be the payee).
    let impostor = Request::by_card(request.body, &ecash_card::CardKey::from_seed(&[0x41; 32]));
    assert_eq!(
        sw(exchange(&mut p.a, &cmd::req(&impostor))),
        Sw::BAD_SIGNATURE
    );
    assert_eq!(balance(&mut p.a), 10_000);

    let value = Value::parse(&exchange(&mut p.a, &cmd::req(&request)).unwrap()).unwrap();
    assert_eq!(balance(&mut p.a), 9_000);
    // REQUEST replayed: the payer is no longer expecting it — no second debit.
    assert_eq!(
        sw(exchange(&mut p.a, &cmd::req(&request))),
        Sw::REFERENCE_NOT_FOUND
    );
    assert_eq!(balance(&mut p.a), 9_000);

    // VALUE to the wrong purse, and tampered VALUE: refused.
    assert_eq!(
        sw(exchange(&mut c, &cmd::val(&value))),
        Sw::REFERENCE_NOT_FOUND
    );
    let mut fat = value.clone();
    fat.body.0.amount = eur(5_000);
    assert_eq!(sw(exchange(&mut p.b, &cmd::val(&fat))), Sw::BAD_SIGNATURE);
    let ack = Ack::parse(&exchange(&mut p.b, &cmd::val(&value)).unwrap()).unwrap();
    assert_eq!(balance(&mut p.b), 1_000);
    // VALUE replayed: credited once.
    assert_eq!(
        sw(exchange(&mut p.b, &cmd::val(&value))),
        Sw::REFERENCE_NOT_FOUND
    );
    assert_eq!(balance(&mut p.b), 1_000);
    // A VALUE signed with a stranger's key for these terms.
    let stranger = Value::by_card(value.body, &ecash_card::CardKey::from_seed(&[0x42; 32]));
    assert_eq!(
        sw(exchange(&mut p.b, &cmd::val(&stranger))),
        Sw::REFERENCE_NOT_FOUND
    );

    // ACK forged by the payer's host (signed by another key): refused; the real one ends it.
    let fake_ack = Ack::by_card(ack.body, &ecash_card::CardKey::from_seed(&[0x43; 32]));
    assert_eq!(
        sw(exchange(&mut p.a, &cmd::ack(&fake_ack))),
        Sw::BAD_SIGNATURE
    );
    exchange(&mut p.a, &cmd::ack(&ack)).unwrap();
    assert_eq!(
        sw(exchange(&mut p.a, &cmd::ack(&ack))),
        Sw::REFERENCE_NOT_FOUND
    );

    // An old REQUEST in a new transfer: payer_seq differs, refused.
    let _new = start(&mut p.a, &p.a_cert, &mut c, &c_cert, 10);
    assert_eq!(
        sw(exchange(&mut p.a, &cmd::req(&request))),
        Sw::REFERENCE_NOT_FOUND
    );
    assert_eq!(balance(&mut p.a), 9_000);
}

#[test]
fn lost_ack_is_resent_by_the_payee() {
    let mut p = pair(Mode::Personal);
    let request = start(&mut p.a, &p.a_cert, &mut p.b, &p.b_cert, 400);
    let value = Value::parse(&exchange(&mut p.a, &cmd::req(&request)).unwrap()).unwrap();
    let _lost = exchange(&mut p.b, &cmd::val(&value)).unwrap();
    // Both lose power; the ACK never arrived.
    p.a.power_off();
    p.b.power_off();
    exchange(&mut p.b, &cmd::select()).unwrap();
    exchange(&mut p.a, &cmd::select()).unwrap();
    assert_eq!(host::status(&mut p.a).unwrap().pending, 3);
    let ack = Ack::parse(&exchange(&mut p.b, &cmd::resend(1)).unwrap()).unwrap();
    exchange(&mut p.a, &cmd::ack(&ack)).unwrap();
    assert_eq!(host::status(&mut p.a).unwrap().pending, 0);
}

#[test]
fn lost_value_is_recovered_once_through_the_exception_logs() {
    let mut p = pair(Mode::Personal);
    // A copy of the payer's card (its state file), for the end of the test.
    let mut copy = VirtualCard::from_json(&p.a.state_json()).unwrap();
    let request = start(&mut p.a, &p.a_cert, &mut p.b, &p.b_cert, 1_500);
    let value = Value::parse(&exchange(&mut p.a, &cmd::req(&request)).unwrap()).unwrap();
    // VALUE lost. Both give up.
    assert_eq!(exchange(&mut p.a, &cmd::abort()).unwrap(), [2]);
    assert_eq!(exchange(&mut p.b, &cmd::abort()).unwrap(), [2]);
    // The late VALUE is refused for good.
    assert_eq!(
        sw(exchange(&mut p.b, &cmd::val(&value))),
        Sw::REFERENCE_NOT_FOUND
    );
    assert_eq!((balance(&mut p.a), balance(&mut p.b)), (8_500, 0));

    let a_ex = host::exceptions(&mut p.a).unwrap();
    let b_ex = host::exceptions(&mut p.b).unwrap();
    assert_eq!(a_ex.len(), 1);
    assert_eq!(a_ex[0].body.kind, ExceptionKind::UnackedDebit);
    assert_eq!(b_ex[0].body.kind, ExceptionKind::AbandonedCredit);
    let log = LogEntry::parse(&exchange(&mut p.a, &cmd::get_log(0)).unwrap()).unwrap();
    assert_eq!(log.status, LogStatus::Exception);

    // Only the payer's record: not proven lost yet.
    let clear_a = p
        .ledger
        .accept_exceptions(p.a_cert.card_id, &a_ex)
        .unwrap()
        .unwrap();
    assert!(p.ledger.recover().unwrap().is_empty());
    exchange(&mut p.a, &cmd::clear_exceptions(&clear_a)).unwrap();
    assert_eq!(host::status(&mut p.a).unwrap().exceptions, 0);
    // A record of another card's is refused by the ledger.
    assert!(p.ledger.accept_exceptions(p.a_cert.card_id, &b_ex).is_err());
    let clear_b = p
        .ledger
        .accept_exceptions(p.b_cert.card_id, &b_ex)
        .unwrap()
        .unwrap();
    exchange(&mut p.b, &cmd::clear_exceptions(&clear_b)).unwrap();
    let recoveries = p.ledger.recover().unwrap();
    assert_eq!(recoveries.len(), 1);
    assert_eq!(recoveries[0].body.kind, LoadKind::Recovery);
    host::load(&mut p.a, &recoveries[0]).unwrap();
    assert_eq!(balance(&mut p.a), 10_000);
    // Uploading the same records again recovers nothing more.
    p.ledger.accept_exceptions(p.a_cert.card_id, &a_ex).unwrap();
    p.ledger.accept_exceptions(p.b_cert.card_id, &b_ex).unwrap();
    assert!(p.ledger.recover().unwrap().is_empty());
    // A clearance signed by someone else, or for another card, is refused.
    let rogue = Issuer::new(IssuerKey::from_seed(&[0x66; 32]));
    let body = ClearAuthBody {
        card_id: p.a_cert.card_id,
        ids: vec![1],
    };
    assert_eq!(
        sw(exchange(
            &mut p.a,
            &cmd::clear_exceptions(&rogue.sign_clear(body))
        )),
        Sw::BAD_SIGNATURE
    );

    // The copy loses another transfer: its record comes under the exception id the
    // original used. Only a clone signs that: refused, nothing stored or recovered.
    exchange(&mut copy, &cmd::select()).unwrap();
    exchange(&mut copy, &cmd::verify(&pin())).unwrap();
    let request = start(&mut copy, &p.a_cert, &mut p.b, &p.b_cert, 200);
    exchange(&mut copy, &cmd::req(&request)).unwrap();
    exchange(&mut copy, &cmd::abort()).unwrap();
    exchange(&mut p.b, &cmd::abort()).unwrap();
    let copy_ex = host::exceptions(&mut copy).unwrap();
    assert_eq!(copy_ex[0].body.exception_id, a_ex[0].body.exception_id);
    assert_ne!(copy_ex[0].body, a_ex[0].body);
    assert!(
        p.ledger
            .accept_exceptions(p.a_cert.card_id, &copy_ex)
            .is_err(),
        "clone detected"
    );
    let b_ex = host::exceptions(&mut p.b).unwrap();
    p.ledger.accept_exceptions(p.b_cert.card_id, &b_ex).unwrap();
    assert!(p.ledger.recover().unwrap().is_empty());
}

#[test]
fn credited_then_ack_lost_is_not_recovered_and_late_ack_settles() {
    let mut p = pair(Mode::Personal);
    let request = start(&mut p.a, &p.a_cert, &mut p.b, &p.b_cert, 700);
    let value = Value::parse(&exchange(&mut p.a, &cmd::req(&request)).unwrap()).unwrap();
    let ack = Ack::parse(&exchange(&mut p.b, &cmd::val(&value)).unwrap()).unwrap();
    exchange(&mut p.a, &cmd::abort()).unwrap();
    assert_eq!(
        exchange(&mut p.b, &cmd::abort()).unwrap(),
        [0],
        "payee is done"
    );
    let a_ex = host::exceptions(&mut p.a).unwrap();
    p.ledger.accept_exceptions(p.a_cert.card_id, &a_ex).unwrap();
    assert!(
        p.ledger.recover().unwrap().is_empty(),
        "the payee has the value"
    );
    // The late ACK settles the exception on the card.
    exchange(&mut p.a, &cmd::ack(&ack)).unwrap();
    assert_eq!(host::status(&mut p.a).unwrap().exceptions, 0);
    let log = LogEntry::parse(&exchange(&mut p.a, &cmd::get_log(0)).unwrap()).unwrap();
    assert_eq!(log.status, LogStatus::Complete);
}

#[test]
fn starting_a_new_transfer_logs_the_unfinished_one_and_a_full_log_stops_transfers() {
    let mut p = pair(Mode::Personal);
    let mut outstanding = 0;
    loop {
        let seq = exchange(
            &mut p.a,
            &cmd::start_from(&StartFrom {
                payee: p.b_cert.clone(),
                amount: eur(10),
                purpose: Purpose::Payment,
                day: 1,
            }),
        );
        let Ok(seq) = seq else {
            assert_eq!(sw(seq), Sw::LOG_FULL);
            break;
        };
        let request = Request::parse(
            &exchange(
                &mut p.b,
                &cmd::start_to(&StartTo {
                    payer: p.a_cert.clone(),
                    amount: eur(10),
                    purpose: Purpose::Payment,
                    payer_seq: u32::from_be_bytes(seq.try_into().unwrap()),
                    day: 1,
                }),
            )
            .unwrap(),
        )
        .unwrap();
        exchange(&mut p.a, &cmd::req(&request)).unwrap();
        outstanding += 1;
        assert!(outstanding <= EXCEPTION_LOG_CAPACITY);
    }
    // Capacity 8: seven logged plus the one in progress, which still has room.
    assert_eq!(outstanding, EXCEPTION_LOG_CAPACITY);
    assert_eq!(
        host::status(&mut p.a).unwrap().exceptions as usize,
        EXCEPTION_LOG_CAPACITY - 1
    );
    assert_eq!(exchange(&mut p.a, &cmd::abort()).unwrap(), [2]);
    let ex = host::exceptions(&mut p.a).unwrap();
    assert_eq!(ex.len(), EXCEPTION_LOG_CAPACITY);
    let clear = p
        .ledger
        .accept_exceptions(p.a_cert.card_id, &ex)
        .unwrap()
        .unwrap();
    exchange(&mut p.a, &cmd::clear_exceptions(&clear)).unwrap();
    exchange(&mut p.b, &cmd::abort()).unwrap();
    let ex_b = host::exceptions(&mut p.b).unwrap();
    p.ledger.accept_exceptions(p.b_cert.card_id, &ex_b).unwrap();
    // All eight were lost in flight (no VALUE ever delivered): eight recoveries.
    let rec = p.ledger.recover().unwrap();
    assert_eq!(rec.len(), EXCEPTION_LOG_CAPACITY);
    for auth in &rec {
        host::load(&mut p.a, auth).unwrap();
    }
    assert_eq!(balance(&mut p.a), 10_000);
}

/// GET LOCK REPORT, its signature checked against the card's certificate.
fn lock_report(card: &mut VirtualCard, cert: &CardCert) -> LockReportBody {
    let report = LockReport::parse(&exchange(card, &cmd::get_lock_report()).unwrap()).unwrap();
    report.verify_card(&cert.card_pub).unwrap();
    assert_eq!(report.body.card_id, cert.card_id);
    report.body
}

#[test]
fn risk_limits_lock_the_purse_until_the_issuer_unlocks_it() {
    let mut ledger = ledger();
    let small = CardProfile {
        per_transfer_limit: eur(1_000),
        daily_limit: eur(1_500),
        balance_cap: eur(5_000),
        ..profile(Mode::Personal)
    };
    let (mut a, a_cert) = issue_with(&mut ledger, 1, small);
    let (mut b, b_cert) = issue_with(&mut ledger, 2, small);
    fund(&mut ledger, &mut a, &a_cert, 4_000);
    exchange(&mut a, &cmd::verify(&pin())).unwrap();
    // An open purse signs no lock report.
    assert_eq!(
        sw(exchange(&mut a, &cmd::get_lock_report())),
        Sw::CONDITIONS_NOT_SATISFIED
    );
    let huge = cmd::start_from(&StartFrom {
        payee: b_cert.clone(),
        amount: eur(1_001),
        purpose: Purpose::Payment,
        day: 100,
    });
    assert_eq!(sw(exchange(&mut a, &huge)), Sw::RISK_LOCKED);
    let st = host::status(&mut a).unwrap();
    assert_eq!(st.lock, Some(LockReason::PerTransferLimit));
    // Locked, it signs what the bank needs to hear: why, and the number it expects.
    let report = lock_report(&mut a, &a_cert);
    assert_eq!(
        (
            report.unlock_seq,
            report.reason,
            report.balance,
            report.spent_today
        ),
        (1, LockReason::PerTransferLimit, eur(4_000), eur(0))
    );
    let signed = LockReport::parse(&exchange(&mut a, &cmd::get_lock_report()).unwrap()).unwrap();
    assert!(signed.verify_card(&b_cert.card_pub).is_err());
    // The issuer's check (the bank's): this card's certificate only, numbers from 1.
    let issuer = ledger.issuer();
    issuer.check_lock_report(&a_cert, &signed).unwrap();
    assert!(issuer.check_lock_report(&b_cert, &signed).is_err());
    let other_issuer = Issuer::new(IssuerKey::from_seed(&[0x22; 32]));
    assert!(other_issuer.check_lock_report(&a_cert, &signed).is_err());
    let mut moved = signed.clone();
    moved.body.unlock_seq = 2;
    assert!(issuer.check_lock_report(&a_cert, &moved).is_err());
    let mut with_data = cmd::get_lock_report();
    with_data.data = vec![0];
    assert_eq!(sw(exchange(&mut a, &with_data)), Sw::WRONG_LENGTH);
    // Locked: no value moves in or out.
    let t = host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(10),
        Purpose::Payment,
        100,
    );
    assert_eq!(t.unwrap_err(), Error::Status(Sw::PURSE_LOCKED));
    let auth = ledger
        .authorize_load(a_cert.card_id, eur(1), LoadKind::Bank)
        .unwrap();
    assert_eq!(sw(exchange(&mut a, &cmd::load(&auth))), Sw::PURSE_LOCKED);
    let order = UnloadOrder {
        amount: eur(1),
        destination: [0; 32],
        day: 100,
    };
    assert_eq!(sw(exchange(&mut a, &cmd::unload(&order))), Sw::PURSE_LOCKED);
    // The issuer unlocks; an old unlock cannot be replayed later.
    let seq = host::status(&mut a).unwrap().next_unlock_seq;
    let unlock = ledger.authorize_unlock(a_cert.card_id, seq).unwrap();
    exchange(&mut a, &cmd::unlock(&unlock)).unwrap();
    assert_eq!(
        sw(exchange(&mut a, &cmd::unlock(&unlock))),
        Sw::CONDITIONS_NOT_SATISFIED
    );
    host::load(&mut a, &auth).unwrap();
    // Daily limit: 1000 + 500 fine, one more cent locks.
    host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(1_000),
        Purpose::Payment,
        100,
    )
    .unwrap();
    host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(500),
        Purpose::Payment,
        100,
    )
    .unwrap();
    let t = host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(1),
        Purpose::Payment,
        100,
    );
    assert_eq!(t.unwrap_err(), Error::Status(Sw::RISK_LOCKED));
    assert_eq!(
        host::status(&mut a).unwrap().lock,
        Some(LockReason::DailyLimit)
    );
    assert_eq!(
        sw(exchange(&mut a, &cmd::unlock(&unlock))),
        Sw::CONDITIONS_NOT_SATISFIED
    );
    let seq = host::status(&mut a).unwrap().next_unlock_seq;
    assert_eq!(seq, 2);
    let report = lock_report(&mut a, &a_cert);
    assert_eq!(
        (
            report.unlock_seq,
            report.reason,
            report.day,
            report.spent_today
        ),
        (2, LockReason::DailyLimit, 100, eur(1_500))
    );
    let again = ledger.authorize_unlock(a_cert.card_id, seq).unwrap();
    exchange(&mut a, &cmd::unlock(&again)).unwrap();
    // The next day the daily total restarts; the day never goes back.
    host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(1_000),
        Purpose::Payment,
        101,
    )
    .unwrap();
    let st = host::status(&mut a).unwrap();
    assert_eq!((st.day, st.spent_today), (101, eur(1_000)));
    host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(100),
        Purpose::Payment,
        50,
    )
    .unwrap();
    assert_eq!(host::status(&mut a).unwrap().day, 101);
    // Balance cap on the payee: refused, payee not locked.
    fund(&mut ledger, &mut a, &a_cert, 2_000);
    let t = host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(900),
        Purpose::Payment,
        102,
    );
    assert!(t.is_ok());
    assert_eq!(balance(&mut b), 3_500);
    let t = host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(1),
        Purpose::Payment,
        103,
    );
    assert!(t.is_ok());
    let t = host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(1_000),
        Purpose::Payment,
        104,
    );
    assert!(t.is_ok());
    let t = host::transfer(
        &mut a,
        &a_cert,
        &mut b,
        &b_cert,
        eur(600),
        Purpose::Payment,
        105,
    );
    assert_eq!(t.unwrap_err(), Error::Status(Sw::BALANCE_CAP));
    assert_eq!(host::status(&mut b).unwrap().lock, None);
}

#[test]
fn terminal_mode_needs_the_pin_for_every_value_out() {
    let mut p = pair(Mode::Terminal);
    // The terminal receives without a PIN, all day.
    for _ in 0..3 {
        host::transfer(
            &mut p.a,
            &p.a_cert,
            &mut p.b,
            &p.b_cert,
            eur(1_000),
            Purpose::Payment,
            7,
        )
        .unwrap();
    }
    // Its log is readable for reconciliation.
    let e = LogEntry::parse(&exchange(&mut p.b, &cmd::get_log(0)).unwrap()).unwrap();
    assert_eq!(e.kind, LogKind::Credit);
    // Takings become refundable once the issuer has settled them.
    settle(&mut p.ledger, &mut p.b, &p.b_cert);
    // A refund needs the terminal PIN...
    let refund = |p: &mut Pair| {
        host::transfer(
            &mut p.b,
            &p.b_cert,
            &mut p.a,
            &p.a_cert,
            eur(100),
            Purpose::Refund,
            7,
        )
    };
    assert_eq!(
        refund(&mut p).unwrap_err(),
        Error::Status(Sw::SECURITY_NOT_SATISFIED)
    );
    exchange(&mut p.b, &cmd::verify(&pin())).unwrap();
    refund(&mut p).unwrap();
    // ...for each operation.
    assert_eq!(
        refund(&mut p).unwrap_err(),
        Error::Status(Sw::SECURITY_NOT_SATISFIED)
    );
    let order = UnloadOrder {
        amount: eur(1_000),
        destination: destination_for_account("shop"),
        day: 7,
    };
    assert_eq!(
        sw(exchange(&mut p.b, &cmd::unload(&order))),
        Sw::SECURITY_NOT_SATISFIED
    );
    exchange(&mut p.b, &cmd::verify(&pin())).unwrap();
    host::unload(&mut p.b, &order).unwrap();
    assert_eq!(
        sw(exchange(&mut p.b, &cmd::unload(&order))),
        Sw::SECURITY_NOT_SATISFIED
    );
    assert_eq!(balance(&mut p.b), 1_900);
    let refund_log = LogEntry::parse(&exchange(&mut p.b, &cmd::get_log(1)).unwrap()).unwrap();
    assert_eq!(
        (refund_log.kind, refund_log.amount),
        (LogKind::Debit, eur(100))
    );
}

#[test]
fn any_bytes_get_a_status_word_never_a_panic() {
    let mut ledger = ledger();
    let (mut card, _) = issue(&mut ledger, 1, Mode::Personal);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..4_000 {
        let len = (rnd() % 300) as usize;
        let mut apdu: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        // Aim half of them at real purse instructions with plausible lengths.
        if i % 2 == 0 && apdu.len() >= 5 {
            apdu[0] = 0x80;
            apdu[1] = [
                0x50, 0x52, 0x54, 0x56, 0x5C, 0x60, 0x62, 0x64, 0x66, 0x68, 0x6A, 0x6C, 0xB2, 0xB4,
                0xB6,
            ][(rnd() % 15) as usize];
            apdu[2] = 0;
            apdu[3] = 0;
            apdu[4] = (apdu.len() - 5).min(255) as u8;
            apdu.truncate(5 + apdu[4] as usize);
        }
        let r = card.transmit(&apdu);
        assert!(r.len() >= 2);
    }
    // Still a working purse.
    exchange(&mut card, &cmd::select()).unwrap();
    exchange(&mut card, &cmd::get_status()).unwrap();
}

#[test]
fn withheld_exception_records_are_not_erased() {
    let mut p = pair(Mode::Personal);
    for _ in 0..2 {
        let request = start(&mut p.a, &p.a_cert, &mut p.b, &p.b_cert, 100);
        exchange(&mut p.a, &cmd::req(&request)).unwrap();
        exchange(&mut p.a, &cmd::abort()).unwrap();
    }
    let records = host::exceptions(&mut p.a).unwrap();
    assert_eq!(records.len(), 2);
    // The host uploads only the second record; the clearance names only that one.
    let clear = p
        .ledger
        .accept_exceptions(p.a_cert.card_id, &records[1..])
        .unwrap()
        .unwrap();
    assert_eq!(clear.body.ids, [records[1].body.exception_id]);
    exchange(&mut p.a, &cmd::clear_exceptions(&clear)).unwrap();
    let left = host::exceptions(&mut p.a).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body.exception_id, records[0].body.exception_id);
    assert!(
        p.ledger
            .accept_exceptions(p.a_cert.card_id, &[])
            .unwrap()
            .is_none()
    );
}
