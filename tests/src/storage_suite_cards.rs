//! The card cases of the storage suite (run by
//! [`storage_test_suite!`](crate::storage_test_suite) against every backend): the
//! bank's ledger per card — loads under the cap, unloads bounded by what the bank
//! holds, settled transfers once per terms, over-spenders blocked with their
//! shortfall booked against the owner, recoveries bounded, the audit clean.
//!
//! The card messages are real (an issuer key, card keys, signed authorizations,
//! proofs, VALUEs and ACKs), so the audit over the backend verifies them.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use bank_server::audit::audit;
use bank_server::storage::{
    AccountId, CardExceptionUpload, CardLoadOutcome, CardSettlement, CardUnloadOutcome,
    CreditOutcome, NewAccount, NewCard, NewCardException, NewCardLoad, NewCardTransfer,
    NewCardUnload, RecoveryLoad, Storage, StorageError,
};
use ecash_card::cert::{CardProfile, Mode};
use ecash_card::exception::{ExceptionKind, ExceptionRecord, ExceptionRecordBody};
use ecash_card::issuer::Issuer;
use ecash_card::load::{LoadAuthBody, LoadKind};
use ecash_card::message::Body;
use ecash_card::transfer::{Ack, AckBody, Purpose, Terms, Value, ValueBody};
use ecash_card::unload::{UnloadProof, UnloadProofBody, destination_for_account};
use ecash_card::{CardCert, CardId, CardKey, IssuerKey};
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency};

const EUR: Currency = Currency::EUR;

fn t() -> Timestamp {
    Timestamp::from_unix(1_800_000_000)
}

fn a(v: u64) -> Amount {
    Amount::from_minor(v)
}

fn issuer() -> Issuer {
    Issuer::new(IssuerKey::from_seed(&[0x51; 32]))
}

/// A certified card of `owner` (key from `n`), registered in the backend.
struct Card {
    key: CardKey,
    cert: CardCert,
}

impl Card {
    fn id(&self) -> [u8; 8] {
        self.cert.card_id.0
    }
}

fn account(s: &dyn Storage, name: &str, credit: u64) -> AccountId {
    let id = s
        .create_account(&NewAccount {
            username: name.to_owned(),
            password_hash: "$argon2id$fake".to_owned(),
            merchant: false,
            currency: EUR,
            created_at: t(),
        })
        .unwrap();
    if credit > 0 {
        s.credit(name, a(credit), "wire", t()).unwrap();
    }
    id
}

fn card(s: &dyn Storage, owner: AccountId, n: u8) -> Card {
    let key = CardKey::from_seed(&[n; 32]);
    let cert = issuer().certify(
        CardId([0xC0, 0, 0, 0, 0, 0, 0, n]),
        key.public(),
        CardProfile {
            mode: Mode::Personal,
            currency: EUR,
            balance_cap: a(20_000),
            per_transfer_limit: a(5_000),
            daily_limit: a(10_000),
        },
    );
    s.create_card(&NewCard {
        id: cert.card_id.0,
        card_pub: key.public().to_bytes(),
        account_id: owner,
        mode: "personal".to_owned(),
        currency: EUR,
        cert: cert.to_bytes(),
        now: t(),
    })
    .unwrap();
    Card { key, cert }
}

fn load(
    s: &dyn Storage,
    c: &Card,
    owner: AccountId,
    seq: u32,
    minor: u64,
) -> Result<CardLoadOutcome, StorageError> {
    let auth = issuer().sign_load(LoadAuthBody {
        card_id: c.cert.card_id,
        currency: EUR,
        amount: a(minor),
        load_seq: seq,
        kind: LoadKind::Bank,
        day: 1,
    });
    s.card_load(&NewCardLoad {
        card_id: c.id(),
        account_id: owner,
        currency: EUR,
        amount: a(minor),
        load_seq: seq,
        cap: c.cert.profile.balance_cap,
        auth: auth.to_bytes(),
        now: t(),
    })
}

fn unload(
    s: &dyn Storage,
    c: &Card,
    to: (AccountId, &str),
    seq: u32,
    minor: u64,
) -> Result<CardUnloadOutcome, StorageError> {
    let proof = UnloadProof::by_card(
        UnloadProofBody {
            card_id: c.cert.card_id,
            currency: EUR,
            amount: a(minor),
            unload_seq: seq,
            destination: destination_for_account(to.1),
        },
        &c.key,
    );
    s.card_unload(&NewCardUnload {
        card_id: c.id(),
        account_id: to.0,
        currency: EUR,
        amount: a(minor),
        unload_seq: seq,
        proof: proof.to_bytes(),
        now: t(),
    })
}

fn terms(payer: &Card, payee: &Card, minor: u64, seq: u32) -> Terms {
    Terms {
        payer: payer.cert.card_id,
        payee: payee.cert.card_id,
        currency: EUR,
        amount: a(minor),
        payer_seq: seq,
        payee_seq: seq,
        purpose: Purpose::Payment,
    }
}

/// The payee card's credit for these terms, as the storage takes it.
fn credit(payer: &Card, payee: &Card, t: Terms) -> NewCardTransfer {
    let value = Value::by_card(ValueBody(t), &payer.key);
    NewCardTransfer {
        payer: payer.id(),
        payer_seq: t.payer_seq,
        payee_seq: t.payee_seq,
        terms: ValueBody(t).to_bytes(),
        currency: EUR,
        amount: t.amount,
        value: value.to_bytes(),
        ack: Ack::by_card(AckBody(t), &payee.key).to_bytes(),
    }
}

fn settle(
    s: &dyn Storage,
    payee: &Card,
    owner: AccountId,
    credits: Vec<NewCardTransfer>,
) -> Vec<CreditOutcome> {
    s.card_settle(&CardSettlement {
        card_id: payee.id(),
        account_id: owner,
        credits,
        cap: a(20_000),
        now: t(),
    })
    .unwrap()
    .outcomes
}

fn held(s: &dyn Storage, c: &Card) -> u64 {
    s.card(&c.id()).unwrap().unwrap().bank_balance.minor()
}

fn assert_clean(s: &dyn Storage) -> bank_server::audit::AuditReport {
    let r = audit(s).unwrap();
    assert!(r.is_clean(), "audit:\n{r}");
    r
}

pub fn cards_load_and_unload_within_the_bank_side_balance(s: &dyn Storage) {
    let alice = account(s, "alice", 30_000);
    let c = card(s, alice, 1);
    assert!(matches!(
        load(s, &c, alice, 1, 15_000),
        Ok(CardLoadOutcome::Done { .. })
    ));
    // The bank holds 150.00 for the card; 60.00 more would pass its 200.00 cap.
    assert!(matches!(
        load(s, &c, alice, 2, 6_000),
        Err(StorageError::CardBankCap {
            held: 15_000,
            room: 5_000
        })
    ));
    assert_eq!(
        (
            held(s, &c),
            s.account_by_id(alice).unwrap().unwrap().balance.minor()
        ),
        (15_000, 15_000)
    );
    assert!(matches!(
        unload(s, &c, (alice, "alice"), 1, 10_000),
        Ok(CardUnloadOutcome::Done { .. })
    ));
    assert_eq!(held(s, &c), 5_000);
    // More than the bank holds: refused, the card blocked, nothing credited.
    assert_eq!(
        unload(s, &c, (alice, "alice"), 2, 5_001).unwrap(),
        CardUnloadOutcome::Overspent {
            bank_balance: a(5_000)
        }
    );
    assert!(s.card(&c.id()).unwrap().unwrap().blocked.is_some());
    assert_eq!(
        s.account_by_id(alice).unwrap().unwrap().balance.minor(),
        25_000
    );
    assert!(matches!(
        unload(s, &c, (alice, "alice"), 3, 1),
        Err(StorageError::CardBlocked(_))
    ));
    assert_clean(s);
    // At most 8 cards per account.
    for n in 2..=8 {
        card(s, alice, n);
    }
    let key = CardKey::from_seed(&[9; 32]);
    let cert = issuer().certify(CardId([9; 8]), key.public(), c.cert.profile);
    let r = s.create_card(&NewCard {
        id: cert.card_id.0,
        card_pub: key.public().to_bytes(),
        account_id: alice,
        mode: "personal".to_owned(),
        currency: EUR,
        cert: cert.to_bytes(),
        now: t(),
    });
    assert!(matches!(r, Err(StorageError::TooManyCards)));
}

pub fn cards_settle_once_and_book_over_spenders(s: &dyn Storage) {
    let alice = account(s, "alice", 600);
    let bob = account(s, "bob", 0);
    let (p, q) = (card(s, alice, 1), card(s, bob, 2));
    let other = card(s, alice, 3);
    load(s, &p, alice, 1, 500).unwrap();
    let first = credit(&p, &q, terms(&p, &q, 300, 1));
    assert_eq!(
        settle(s, &q, bob, vec![first.clone()]),
        [CreditOutcome::Settled]
    );
    assert_eq!((held(s, &p), held(s, &q)), (200, 300));
    // A repeat settles nothing more.
    assert_eq!(settle(s, &q, bob, vec![first]), [CreditOutcome::Settled]);
    assert_eq!((held(s, &p), held(s, &q)), (200, 300));
    assert_clean(s);
    // A VALUE for 400 the card cannot cover: the payee is paid in full, the payer
    // blocked, its 200 shortfall taken from alice's 100 and the rest owed.
    let over = credit(&p, &q, terms(&p, &q, 400, 2));
    let out = s
        .card_settle(&CardSettlement {
            card_id: q.id(),
            account_id: bob,
            credits: vec![over],
            cap: a(20_000),
            now: t(),
        })
        .unwrap();
    assert_eq!(
        (out.outcomes, out.caught),
        (vec![CreditOutcome::Settled], vec![p.id()])
    );
    assert_eq!((held(s, &p), held(s, &q)), (0, 700));
    let owner = s.account_by_id(alice).unwrap().unwrap();
    assert_eq!((owner.balance.minor(), owner.debt.minor()), (0, 100));
    assert!(s.card(&p.id()).unwrap().unwrap().blocked.is_some());
    let r = assert_clean(s);
    let eur = &r.currencies[&EUR];
    assert_eq!((eur.card_shortfalls, eur.receivables), (200, 100));
    // In debt: no card load (on another, open card of hers), no new card; a
    // credit pays the debt first.
    let key = CardKey::from_seed(&[4; 32]);
    let cert = issuer().certify(CardId([4; 8]), key.public(), p.cert.profile);
    let certify = s.create_card(&NewCard {
        id: cert.card_id.0,
        card_pub: key.public().to_bytes(),
        account_id: alice,
        mode: "personal".to_owned(),
        currency: EUR,
        cert: cert.to_bytes(),
        now: t(),
    });
    assert!(matches!(certify, Err(StorageError::AccountInDebt(_))));
    assert!(matches!(
        load(s, &other, alice, 1, 1),
        Err(StorageError::AccountInDebt(_))
    ));
    s.credit("alice", a(150), "wire", t()).unwrap();
    let owner = s.account_by_id(alice).unwrap().unwrap();
    assert_eq!((owner.balance.minor(), owner.debt.minor()), (50, 0));
    // Caught before: a further VALUE its owner cannot cover is refused for good.
    let more = credit(&p, &q, terms(&p, &q, 60, 3));
    assert!(matches!(
        settle(s, &q, bob, vec![more])[..],
        [CreditOutcome::Refused(_)]
    ));
    assert_eq!(held(s, &q), 700);
    // Over the payee card's cap at the bank: not counted yet, nothing moves.
    let big = s
        .card_settle(&CardSettlement {
            card_id: q.id(),
            account_id: bob,
            credits: vec![credit(&p, &q, terms(&p, &q, 50, 9))],
            cap: a(700),
            now: t(),
        })
        .unwrap();
    assert!(matches!(big.outcomes[..], [CreditOutcome::Deferred(_)]));
    assert_eq!(held(s, &q), 700);
    // One it can: paid out of the owner's balance.
    let small = credit(&p, &q, terms(&p, &q, 50, 4));
    assert_eq!(settle(s, &q, bob, vec![small]), [CreditOutcome::Settled]);
    assert_eq!(s.account_by_id(alice).unwrap().unwrap().balance.minor(), 0);
    assert_clean(s);
}

fn record(c: &Card, id: u32, kind: ExceptionKind, t: Terms) -> NewCardException {
    let r = ExceptionRecord::by_card(
        ExceptionRecordBody {
            card_id: c.cert.card_id,
            exception_id: id,
            kind,
            terms: t,
        },
        &c.key,
    );
    NewCardException {
        exception_id: id,
        unacked_debit: kind == ExceptionKind::UnackedDebit,
        payer: t.payer.0,
        payer_seq: t.payer_seq,
        currency: EUR,
        amount: t.amount,
        terms: ValueBody(t).to_bytes(),
        record: r.to_bytes(),
    }
}

fn upload(s: &dyn Storage, c: &Card, owner: AccountId, records: Vec<NewCardException>) -> usize {
    let issuer = issuer();
    let sign = |l: &RecoveryLoad| {
        issuer
            .sign_load(LoadAuthBody {
                card_id: CardId(l.card_id),
                currency: l.currency,
                amount: l.amount,
                load_seq: l.load_seq,
                kind: LoadKind::Recovery,
                day: 1,
            })
            .to_bytes()
    };
    s.card_exceptions(
        &CardExceptionUpload {
            card_id: c.id(),
            account_id: owner,
            records,
            now: t(),
        },
        &sign,
    )
    .unwrap()
    .recovered
    .len()
}

pub fn cards_recovery_is_bounded_by_the_bank_side_balance(s: &dyn Storage) {
    let alice = account(s, "alice", 500);
    let bob = account(s, "bob", 0);
    let (p, q) = (card(s, alice, 1), card(s, bob, 2));
    load(s, &p, alice, 1, 500).unwrap();
    // A "lost" transfer of more than the bank holds for the payer: no recovery.
    let big = terms(&p, &q, 900, 1);
    upload(
        s,
        &p,
        alice,
        vec![record(&p, 1, ExceptionKind::UnackedDebit, big)],
    );
    assert_eq!(
        upload(
            s,
            &q,
            bob,
            vec![record(&q, 1, ExceptionKind::AbandonedCredit, big)]
        ),
        0
    );
    // One it covers: recovered once, the bank-side balance unchanged.
    let lost = terms(&p, &q, 200, 2);
    upload(
        s,
        &p,
        alice,
        vec![record(&p, 2, ExceptionKind::UnackedDebit, lost)],
    );
    assert_eq!(
        upload(
            s,
            &q,
            bob,
            vec![record(&q, 2, ExceptionKind::AbandonedCredit, lost)]
        ),
        1
    );
    assert_eq!(s.card_loads_from(&p.id(), 2, 10).unwrap().len(), 1);
    assert_eq!(held(s, &p), 500);
    // The payee then presents the same transfer (it signed an ACK too): refused,
    // and the payee card is blocked.
    let out = settle(s, &q, bob, vec![credit(&p, &q, lost)]);
    assert!(matches!(out[..], [CreditOutcome::Refused(_)]));
    assert!(s.card(&q.id()).unwrap().unwrap().blocked.is_some());
    assert_eq!((held(s, &p), held(s, &q)), (500, 0));
    assert_clean(s);
}

pub fn cards_concurrent_settlements_count_once(s: Arc<dyn Storage>) {
    let alice = account(&*s, "alice", 500);
    let bob = account(&*s, "bob", 0);
    let (p, q) = (card(&*s, alice, 1), card(&*s, bob, 2));
    load(&*s, &p, alice, 1, 500).unwrap();
    let c = credit(&p, &q, terms(&p, &q, 300, 1));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (s, c, id) = (s.clone(), c.clone(), q.id());
            std::thread::spawn(move || {
                s.card_settle(&CardSettlement {
                    card_id: id,
                    account_id: bob,
                    credits: vec![c],
                    cap: a(20_000),
                    now: t(),
                })
                .unwrap()
            })
        })
        .collect();
    for th in threads {
        assert_eq!(th.join().unwrap().outcomes, [CreditOutcome::Settled]);
    }
    assert_eq!((held(&*s, &p), held(&*s, &q)), (200, 300));
    assert_clean(&*s);
}
