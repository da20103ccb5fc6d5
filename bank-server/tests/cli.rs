//! The command line: `admin credit`, `audit` (clean and tampered), `keys rotate`,
//! and the operator's card unlock decisions (`admin card-requests | card-unlock |
//! card-refuse`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use bank_server::storage::{CardUnlockState, NewCard, NewCardUnlockRequest};
use bank_server::{Bank, now};
use common::{account, cli, config, stderr, stdout};
use ecash_card::risk::{LockReason, LockReport, LockReportBody};
use ecash_shared::{Amount, Currency};

#[test]
fn credit_audit_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.sqlite");

    let missing = cli(&db, &["audit"]);
    assert!(!missing.status.success());
    assert!(!db.exists(), "audit does not create a database");

    // A bank with one account, made through the library.
    let bank = Bank::open(config(&db)).unwrap();
    account(&bank, "alice");
    let keysets_before = bank.storage.keysets().unwrap();
    assert_eq!(keysets_before.len(), 3);
    drop(bank);

    let out = cli(&db, &["admin", "credit", "alice", "500"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("balance 500"), "{}", stdout(&out));
    let out = cli(&db, &["admin", "credit", "nobody", "5"]);
    assert!(!out.status.success());
    let out = cli(&db, &["admin", "credit", "alice", "0"]);
    assert!(!out.status.success());

    let out = cli(&db, &["audit"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("EUR: wired in 500"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("audit: clean"));

    // Rotation: three new keysets; the old ones stop signing, still deposit.
    let out = cli(&db, &["keys", "rotate"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("rotated: 3 new keysets"),
        "{}",
        stdout(&out)
    );
    let bank = Bank::open(config(&db)).unwrap();
    let all = bank.storage.keysets().unwrap();
    assert_eq!(all.len(), 6);
    let t = now();
    for old in &keysets_before {
        let k = bank.keys.get(&old.id).unwrap();
        assert!(!k.keyset.can_withdraw(t));
        assert!(k.keyset.can_deposit(t));
        assert!(k.secret.is_some());
    }
    let listed = bank.keys.keys_response(t).keysets;
    assert_eq!(
        listed.len(),
        6,
        "old keysets stay listed until deposit_until"
    );
    assert_eq!(all.iter().filter(|k| k.withdraw_until > t).count(), 3);
    drop(bank);

    // Tampering is caught: money appears from nowhere.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE accounts SET balance = balance + 1", [])
        .unwrap();
    drop(conn);
    let out = cli(&db, &["audit"]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("problem:"), "{}", stdout(&out));
}

#[test]
fn card_unlock_requests_listed_refused_and_approved() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.sqlite");
    let card = [0xab, 0xcd, 1, 2, 3, 4, 5, 6];
    let hex = "abcd010203040506";
    // A card of alice's whose owner asked to reopen it (the HTTP side is tested in
    // ecash-tests' card_recovery).
    let bank = Bank::open(config(&db)).unwrap();
    let alice = account(&bank, "alice");
    let card_key = ecash_card::CardKey::generate().unwrap();
    let card_pub = card_key.public();
    let cert = bank.keys.card_issuer().certify(
        ecash_card::CardId(card),
        card_pub,
        bank_server::cards::profile(ecash_card::Mode::Personal, Currency::EUR),
    );
    bank.storage
        .create_card(&NewCard {
            id: card,
            card_pub: card_pub.to_bytes(),
            account_id: alice,
            mode: "personal".into(),
            currency: Currency::EUR,
            cert: cert.to_bytes(),
            now: now(),
        })
        .unwrap();
    // What the HTTP endpoint stores after checking the card's signed lock report.
    let ask = |seq: u32| NewCardUnlockRequest {
        card_id: card,
        unlock_seq: seq,
        lock_reason: LockReason::DailyLimit.as_str().into(),
        lock_report: LockReport::by_card(
            LockReportBody {
                card_id: ecash_card::CardId(card),
                unlock_seq: seq,
                reason: LockReason::DailyLimit,
                day: 20_000,
                balance: Amount::from_minor(1_000),
                spent_today: Amount::from_minor(20_000),
            },
            &card_key,
        )
        .to_bytes(),
        account_id: alice,
        reason: Some("typed 60 for 6".into()),
        now: now(),
    };
    bank.storage.card_unlock_request(&ask(1)).unwrap();
    let issuer_key = bank.keys.card_issuer().public_key();
    drop(bank);

    let out = cli(&db, &["admin", "card-requests"]);
    assert!(out.status.success(), "{out:?}");
    let listed = stdout(&out);
    assert!(
        listed.contains(hex)
            && listed.contains("alice")
            && listed.contains("daily_limit")
            && listed.contains("typed 60 for 6"),
        "{listed}"
    );

    // Refused, with a note; then nothing is pending and nothing can be approved as such.
    let out = cli(
        &db,
        &["admin", "card-refuse", hex, "--note", "call the bank"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("refused"), "{}", stdout(&out));
    let out = cli(&db, &["admin", "card-requests"]);
    assert!(
        stdout(&out).contains("no pending unlock requests"),
        "{}",
        stdout(&out)
    );
    for args in [
        &["admin", "card-unlock", hex][..],
        &["admin", "card-refuse", hex],
    ] {
        let out = cli(&db, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains("no pending unlock request"),
            "{}",
            stderr(&out)
        );
    }
    // Bad input changes nothing.
    let long = "x".repeat(201);
    for args in [
        &["admin", "card-unlock", "xyz"][..],
        &["admin", "card-unlock", "0000000000000000"],
        &["admin", "card-unlock", hex, "--seq", "0"],
        &["admin", "card-unlock", hex, "--seq", "-1"],
        &["admin", "card-refuse", hex, "--note", &long],
    ] {
        let out = cli(&db, args);
        assert!(!out.status.success(), "{args:?}: {}", stdout(&out));
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
    let storage = bank_server::open_storage(&config(&db)).unwrap();
    let refused = storage.card_unlock_status(&card).unwrap().unwrap();
    assert_eq!(
        (refused.state, refused.unlock_seq, refused.note.as_deref()),
        (CardUnlockState::Refused, 1, Some("call the bank"))
    );
    assert!(refused.decided_by.unwrap().contains("CLI"));

    // The card locks again later; its owner asks for number 2, the operator approves.
    storage.card_unlock_request(&ask(2)).unwrap();
    drop(storage);
    let out = cli(&db, &["admin", "card-unlock", hex]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains(&format!("card {hex}: unlock 2 approved")),
        "{}",
        stdout(&out)
    );
    let storage = bank_server::open_storage(&config(&db)).unwrap();
    let approved = storage.card_unlock_status(&card).unwrap().unwrap();
    assert_eq!(
        (approved.state, approved.unlock_seq),
        (CardUnlockState::Approved, 2)
    );
    let auth = ecash_card::risk::UnlockAuth::parse(&approved.auth.unwrap()).unwrap();
    auth.verify_issuer(&issuer_key).unwrap();
    assert_eq!((auth.body.card_id.0, auth.body.unlock_seq), (card, 2));
    drop(storage);

    // An unasked number with --seq: signed and shown to the owner the same way.
    let out = cli(&db, &["admin", "card-unlock", hex, "--seq", "3"]);
    assert!(out.status.success(), "{out:?}");
    let storage = bank_server::open_storage(&config(&db)).unwrap();
    let unasked = storage.card_unlock_status(&card).unwrap().unwrap();
    assert_eq!(
        (unasked.state, unasked.unlock_seq, unasked.asked_by_owner),
        (CardUnlockState::Approved, 3, false)
    );
    drop(storage);
    let out = cli(&db, &["audit"]);
    assert!(out.status.success(), "{}", stdout(&out));
}
