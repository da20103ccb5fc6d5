//! Card storage, SQLite-specific (migrations over earlier rows, constraints).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency};
use rusqlite::Connection;

use super::super::{MIGRATIONS, SqliteStorage};
use crate::storage::*;

const P: [u8; 8] = [1; 8];
const Q: [u8; 8] = [2; 8];

fn t() -> Timestamp {
    Timestamp::from_unix(1_800_000_000)
}

fn eur(minor: u64) -> Amount {
    Amount::from_minor(minor)
}

fn setup() -> (SqliteStorage, AccountId) {
    let s = SqliteStorage::open_in_memory().unwrap();
    let account = s
        .create_account(&NewAccount {
            username: "alice".into(),
            password_hash: "x".into(),
            merchant: false,
            currency: Currency::EUR,
            created_at: t(),
        })
        .unwrap();
    s.credit("alice", eur(1000), "wire in", t()).unwrap();
    for (id, key) in [(P, 1u8), (Q, 2)] {
        s.create_card(&NewCard {
            id,
            card_pub: [key; 32],
            account_id: account,
            mode: "personal".into(),
            currency: Currency::EUR,
            cert: vec![key],
            now: t(),
        })
        .unwrap();
    }
    (s, account)
}

fn load(s: &SqliteStorage, account: AccountId, seq: u32) -> Result<CardLoadOutcome, StorageError> {
    s.card_load(&NewCardLoad {
        card_id: P,
        account_id: account,
        currency: Currency::EUR,
        amount: eur(500),
        load_seq: seq,
        cap: eur(1_000_000),
        auth: vec![seq as u8],
        now: t(),
    })
}

fn upload(s: &SqliteStorage, account: AccountId, card: [u8; 8]) -> CardExceptionOutcome {
    let record = NewCardException {
        exception_id: 1,
        unacked_debit: card == P,
        payer: P,
        payer_seq: 7,
        currency: Currency::EUR,
        amount: eur(120),
        terms: b"the terms".to_vec(),
        record: vec![card[0]],
    };
    let sign = |l: &RecoveryLoad| format!("{}:{}", l.load_seq, l.amount.minor()).into_bytes();
    s.card_exceptions(
        &CardExceptionUpload {
            card_id: card,
            account_id: account,
            records: vec![record],
            now: t(),
        },
        &sign,
    )
    .unwrap()
}

/// The operator's approval of unlock 1 of `card`.
fn operator_unlock(card: [u8; 8]) -> NewCardUnlock {
    NewCardUnlock {
        card_id: card,
        unlock_seq: 1,
        decided_by: "test operator".into(),
        auth: vec![9],
        pending_only: false,
        now: t(),
    }
}

fn count(s: &SqliteStorage, sql: &str) -> i64 {
    s.read(|tx| Ok(tx.query_row(sql, [], |r| r.get(0))?))
        .unwrap()
}

#[test]
fn recovery_once_blocks_and_unlocks() {
    let (s, account) = setup();
    assert!(matches!(
        load(&s, account, 1).unwrap(),
        CardLoadOutcome::Done { .. }
    ));
    let none = upload(&s, account, P);
    assert_eq!((none.created, none.recovered.len()), (0, 0));
    let one = upload(&s, account, Q);
    assert_eq!(one.created, 1);
    assert_eq!(one.recovered, [b"2:120".to_vec()]);
    // Again, either side: the same recovery, nothing new.
    for card in [Q, P] {
        let again = upload(&s, account, card);
        assert_eq!((again.created, &again.recovered), (0, &one.recovered));
    }
    assert_eq!(count(&s, "SELECT count(*) FROM card_exceptions"), 2);
    assert_eq!(
        s.card_loads_from(&P, 1, 100).unwrap(),
        [vec![1], b"2:120".to_vec()]
    );
    assert_eq!(s.card_loads_from(&P, 2, 1).unwrap().len(), 1);
    assert!(s.card_loads_from(&P, 3, 100).unwrap().is_empty());
    // No account moved for the recovery; its number is not a bank load's.
    assert_eq!(s.account_by_id(account).unwrap().unwrap().balance, eur(500));
    assert!(matches!(
        load(&s, account, 2),
        Err(StorageError::CardLoadIsRecovery(2))
    ));

    // A different proof under a credited number blocks the card, and only that.
    let unload = |proof: u8| NewCardUnload {
        card_id: P,
        account_id: account,
        currency: Currency::EUR,
        amount: eur(100),
        unload_seq: 0,
        proof: vec![proof],
        now: t(),
    };
    assert!(matches!(
        s.card_unload(&unload(1)).unwrap(),
        CardUnloadOutcome::Done { .. }
    ));
    assert_eq!(
        s.card_unload(&unload(1)).unwrap(),
        CardUnloadOutcome::Replayed
    );
    let ledger = count(&s, "SELECT count(*) FROM ledger");
    assert_eq!(
        s.card_unload(&unload(2)).unwrap(),
        CardUnloadOutcome::Cloned
    );
    assert_eq!(count(&s, "SELECT count(*) FROM ledger"), ledger);
    assert_eq!(count(&s, "SELECT count(*) FROM card_unloads"), 1);
    assert!(s.card(&P).unwrap().unwrap().blocked.is_some());
    assert!(s.card(&Q).unwrap().unwrap().blocked.is_none());
    assert!(matches!(
        load(&s, account, 3),
        Err(StorageError::CardBlocked(_))
    ));
    assert!(matches!(
        s.card_unload(&unload(1)),
        Err(StorageError::CardBlocked(_))
    ));
    assert!(matches!(
        s.card_exceptions(
            &CardExceptionUpload {
                card_id: P,
                account_id: account,
                records: vec![],
                now: t(),
            },
            &|_| Vec::new(),
        ),
        Err(StorageError::CardBlocked(_))
    ));

    // The operator's decision is recorded and lifts the block.
    let unlock = operator_unlock(P);
    let lifted = s.card_unlock(&unlock).unwrap();
    assert!(lifted.unwrap().contains("cloned"));
    assert!(s.card(&P).unwrap().unwrap().blocked.is_none());
    assert_eq!(s.card_unlock(&unlock).unwrap(), None);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM card_unlocks WHERE decided_by = 'test operator' AND unlock_seq = 1"
        ),
        2
    );
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM card_unlocks WHERE lifted_block IS NOT NULL"
        ),
        1
    );
    assert!(matches!(
        load(&s, account, 3).unwrap(),
        CardLoadOutcome::Done { .. }
    ));
    assert!(matches!(
        s.card_unlock(&NewCardUnlock {
            card_id: [9; 8],
            ..unlock
        }),
        Err(StorageError::UnknownCard)
    ));
}

#[test]
fn another_record_under_a_stored_exception_id_blocks_the_card() {
    let (s, account) = setup();
    upload(&s, account, P);
    let (exceptions, loads) = (
        count(&s, "SELECT count(*) FROM card_exceptions"),
        count(&s, "SELECT count(*) FROM card_loads"),
    );
    let upload_p = |unacked_debit: bool, terms: &[u8]| {
        s.card_exceptions(
            &CardExceptionUpload {
                card_id: P,
                account_id: account,
                records: vec![
                    // A new id first: it is not stored either when another is refused.
                    NewCardException {
                        exception_id: 2,
                        unacked_debit: true,
                        payer: P,
                        payer_seq: 8,
                        currency: Currency::EUR,
                        amount: eur(5),
                        terms: b"other".to_vec(),
                        record: vec![2],
                    },
                    NewCardException {
                        exception_id: 1,
                        unacked_debit,
                        payer: P,
                        payer_seq: 7,
                        currency: Currency::EUR,
                        amount: eur(120),
                        terms: terms.to_vec(),
                        record: vec![1],
                    },
                ],
                now: t(),
            },
            &|_| b"auth".to_vec(),
        )
    };
    // Other terms, or another kind, under id 1: a copy of the card.
    for (unacked_debit, terms) in [(true, &b"the other terms"[..]), (false, b"the terms")] {
        assert!(s.card(&P).unwrap().unwrap().blocked.is_none());
        let out = upload_p(unacked_debit, terms).unwrap();
        assert_eq!(
            (out.cloned, out.created, out.recovered.len()),
            (Some(1), 0, 0)
        );
        let card = s.card(&P).unwrap().unwrap();
        assert!(
            card.blocked
                .unwrap()
                .contains("exception id 1: cloned card")
        );
        assert_eq!(
            count(&s, "SELECT count(*) FROM card_exceptions"),
            exceptions
        );
        assert_eq!(count(&s, "SELECT count(*) FROM card_loads"), loads);
        assert!(matches!(
            upload_p(true, b"the terms"),
            Err(StorageError::CardBlocked(_))
        ));
        s.card_unlock(&operator_unlock(P)).unwrap();
    }
    // The same record under id 1 (its signature may differ) is a repeat.
    let out = upload_p(true, b"the terms").unwrap();
    assert_eq!(out.cloned, None);
    assert_eq!(
        count(&s, "SELECT count(*) FROM card_exceptions"),
        exceptions + 1
    );
}

fn ask(s: &SqliteStorage, account: AccountId, seq: u32, reason: &str) -> CardUnlockRequestRecord {
    s.card_unlock_request(&NewCardUnlockRequest {
        card_id: P,
        unlock_seq: seq,
        lock_reason: "daily_limit".into(),
        lock_report: vec![seq as u8; 97],
        account_id: account,
        reason: Some(reason.into()),
        now: t(),
    })
    .unwrap()
}

fn approve(
    s: &SqliteStorage,
    seq: u32,
    pending_only: bool,
) -> Result<Option<String>, StorageError> {
    s.card_unlock(&NewCardUnlock {
        card_id: P,
        unlock_seq: seq,
        decided_by: "op".into(),
        auth: vec![seq as u8],
        pending_only,
        now: t(),
    })
}

fn state_of(s: &SqliteStorage, seq: u32) -> String {
    s.read(|tx| {
        Ok(tx.query_row(
            "SELECT state FROM card_unlock_requests WHERE unlock_seq = ?1",
            [seq],
            |r| r.get(0),
        )?)
    })
    .unwrap()
}

#[test]
fn unlock_requests_one_pending_per_card_decided_once() {
    let (s, account) = setup();
    assert_eq!(s.card_unlock_status(&P).unwrap(), None);
    let first = ask(&s, account, 1, "typo");
    assert_eq!(
        (
            first.state,
            first.unlock_seq,
            first.owner.as_str(),
            first.asked_by_owner
        ),
        (CardUnlockState::Pending, 1, "alice", true)
    );
    assert_eq!(first.reason.as_deref(), Some("typo"));
    assert_eq!(first.lock_reason.as_deref(), Some("daily_limit"));
    let report: Vec<u8> = s
        .read(|c| {
            Ok(c.query_row(
                "SELECT lock_report FROM card_unlock_requests WHERE unlock_seq = 1",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(report, vec![1; 97]);
    // Asking again answers the stored request, reason and all.
    assert_eq!(ask(&s, account, 1, "other words"), first);
    assert_eq!(s.card_unlock_status(&P).unwrap(), Some(first.clone()));
    // Another number supersedes the pending one; the first number again takes over.
    let five = ask(&s, account, 5, "wrong number");
    assert_eq!(five.state, CardUnlockState::Pending);
    assert_eq!(state_of(&s, 1), "superseded");
    assert_eq!(ask(&s, account, 1, "again").state, CardUnlockState::Pending);
    assert_eq!(state_of(&s, 5), "superseded");
    assert_eq!(s.card_unlock_requests_pending().unwrap().len(), 1);

    // Approving only the pending number (as the CLI does): another one is refused.
    assert!(matches!(
        approve(&s, 5, true),
        Err(StorageError::NoPendingUnlockRequest)
    ));
    assert_eq!(count(&s, "SELECT count(*) FROM card_unlocks"), 0);
    assert_eq!(approve(&s, 1, true).unwrap(), None);
    let done = s.card_unlock_status(&P).unwrap().unwrap();
    assert_eq!(
        (done.state, done.unlock_seq, done.auth.as_deref()),
        (CardUnlockState::Approved, 1, Some(&[1u8][..]))
    );
    assert!(s.card_unlock_requests_pending().unwrap().is_empty());
    assert!(matches!(
        approve(&s, 1, true),
        Err(StorageError::NoPendingUnlockRequest)
    ));
    // Nothing pending to refuse.
    let refuse = |card_id| {
        s.card_unlock_refuse(&CardUnlockRefusal {
            card_id,
            decided_by: "op".into(),
            note: Some("no".into()),
            now: t(),
        })
    };
    assert!(matches!(
        refuse(P),
        Err(StorageError::NoPendingUnlockRequest)
    ));
    assert!(matches!(refuse([9; 8]), Err(StorageError::UnknownCard)));

    // The next lock: asked, refused, shown with the note; asking again keeps it.
    ask(&s, account, 2, "please");
    let refused = refuse(P).unwrap();
    assert_eq!(
        (refused.state, refused.note.as_deref(), refused.auth),
        (CardUnlockState::Refused, Some("no"), None)
    );
    assert_eq!(
        ask(&s, account, 2, "please").state,
        CardUnlockState::Refused
    );
    assert_eq!(s.card_unlock_status(&P).unwrap().unwrap().unlock_seq, 2);
    // The operator unlocks a number nobody asked for: stored as an approved request.
    assert_eq!(approve(&s, 3, false).unwrap(), None);
    let unasked = s.card_unlock_status(&P).unwrap().unwrap();
    assert_eq!(
        (
            unasked.unlock_seq,
            unasked.state,
            unasked.asked_by_owner,
            unasked.lock_reason
        ),
        (3, CardUnlockState::Approved, false, None)
    );
    // And approves the refused one after all.
    approve(&s, 2, false).unwrap();
    assert_eq!(state_of(&s, 2), "approved");
    assert!(matches!(
        s.card_unlock_request(&NewCardUnlockRequest {
            card_id: [9; 8],
            unlock_seq: 1,
            lock_reason: "daily_limit".into(),
            lock_report: vec![0; 97],
            account_id: account,
            reason: None,
            now: t(),
        }),
        Err(StorageError::UnknownCard)
    ));
    // Q's requests are its own.
    assert_eq!(s.card_unlock_status(&Q).unwrap(), None);
}

/// Alice's account and card P, as every migration since 0003 can hold them.
const ALICE_AND_CARD: &str =
    "INSERT INTO accounts (id, username, password_hash, merchant, currency, balance, created_at)
         VALUES (1, 'alice', 'x', 0, 'EUR', 0, 0);
     INSERT INTO cards (id, card_pub, account_id, mode, currency, cert, created_at)
         VALUES (x'0101010101010101', zeroblob(32), 1, 'personal', 'EUR', x'00', 0);";

/// A database after the first `done` migrations holding `rows`, then migrated once more.
fn migrated_over(done: usize, rows: &str) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    for (_, sql) in &MIGRATIONS[..done] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(rows).unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    tx.execute_batch(MIGRATIONS[done].1).unwrap();
    tx.commit().unwrap();
    // The later ones, so that today's queries run over the result.
    for (_, sql) in &MIGRATIONS[done + 1..] {
        conn.execute_batch(sql).unwrap();
    }
    conn
}

#[test]
fn migration_0006_keeps_earlier_requests_without_a_lock_report() {
    let conn = migrated_over(
        5,
        &format!(
            "{ALICE_AND_CARD}
             INSERT INTO card_unlock_requests (card_id, unlock_seq, account_id, reason, state, requested_at)
                 VALUES (x'0101010101010101', 1, 1, 'typo', 'pending', 10);"
        ),
    );
    let s = status_on(&conn);
    assert_eq!(
        (s.state, s.unlock_seq, s.reason.as_deref(), s.lock_reason),
        (CardUnlockState::Pending, 1, Some("typo"), None)
    );
    // The new columns refuse what no card reports.
    for (reason, report) in [("open", "x'00'"), ("daily_limit", "x'00'")] {
        let bad = conn.execute_batch(&format!(
            "INSERT INTO card_unlock_requests
                 (card_id, unlock_seq, account_id, state, requested_at, lock_reason, lock_report)
             VALUES (x'0101010101010101', 2, 1, 'refused', 10, '{reason}', {report})"
        ));
        assert!(bad.is_err(), "{reason} {report}");
    }
}

#[test]
fn migration_0005_keeps_earlier_unlocks_as_approved_requests() {
    let conn = migrated_over(
        4,
        &format!(
            "{ALICE_AND_CARD}
             INSERT INTO card_unlocks (card_id, unlock_seq, decided_by, auth, created_at) VALUES
                 (x'0101010101010101', 1, 'first', x'01', 10),
                 (x'0101010101010101', 1, 'second', x'02', 20),
                 (x'0101010101010101', 0, 'zero', x'00', 30);"
        ),
    );
    let rows: Vec<(u32, String, String, i64, i64)> = conn
        .prepare(
            "SELECT unlock_seq, state, decided_by, decided_at, unlock_id FROM card_unlock_requests",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [(1, "approved".into(), "second".into(), 20, 2)]);
    let s = status_on(&conn);
    assert_eq!(
        (s.state, s.auth),
        (CardUnlockState::Approved, Some(vec![2]))
    );
}

fn status_on(conn: &Connection) -> CardUnlockRequestRecord {
    super::card_unlock_status(conn, &P).unwrap().unwrap()
}

#[test]
fn migration_0004_keeps_the_loads_of_0003_as_bank_loads() {
    let conn = migrated_over(
        3,
        &format!(
            "{ALICE_AND_CARD}
             INSERT INTO ledger (id, account_id, currency, kind, credit, amount, balance_after, created_at, memo)
                 VALUES (5, 1, 'EUR', 'card_load', 0, 30, 0, 0, '');
             INSERT INTO card_loads (card_id, load_seq, account_id, currency, amount, auth, ledger_id, created_at)
                 VALUES (x'0101010101010101', 1, 1, 'EUR', 30, x'aa', 5, 0);"
        ),
    );
    let row: (String, i64, i64, Option<i64>, Vec<u8>) = conn
        .query_row(
            "SELECT kind, account_id, ledger_id, payer_seq, auth FROM card_loads",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(row, ("bank".into(), 1, 5, None, vec![0xaa]));
    let blocked: Option<String> = conn
        .query_row("SELECT blocked_reason FROM cards", [], |r| r.get(0))
        .unwrap();
    assert_eq!(blocked, None);
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
    // A recovery must have no account and a payer_seq; a bank load the reverse.
    assert!(
        conn.execute(
            "INSERT INTO card_loads (card_id, load_seq, kind, account_id, currency, amount, auth, created_at)
             VALUES (x'0101010101010101', 2, 'recovery', 1, 'EUR', 5, x'bb', 0)",
            [],
        )
        .is_err()
    );
}

#[test]
fn migration_0007_waits_until_no_card_holds_value_from_before_the_ledger() {
    // Loaded 500; then either nothing or all of it unloaded.
    for (unloaded, upgrades) in [(0, false), (500, true)] {
        let mut conn = Connection::open_in_memory().unwrap();
        for (_, sql) in &MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        conn.execute_batch(&format!(
            "{ALICE_AND_CARD}
             INSERT INTO ledger (id, account_id, currency, kind, credit, amount, balance_after, created_at, memo)
                 VALUES (1, 1, 'EUR', 'card_load', 0, 500, 0, 10, 'load');
             INSERT INTO card_loads (card_id, load_seq, kind, account_id, ledger_id, currency, amount, auth, created_at)
                 VALUES (x'0101010101010101', 1, 'bank', 1, 1, 'EUR', 500, x'00', 10);"
        ))
        .unwrap();
        if unloaded > 0 {
            conn.execute_batch(&format!(
                "INSERT INTO ledger (id, account_id, currency, kind, credit, amount, balance_after, created_at, memo)
                     VALUES (2, 1, 'EUR', 'card_unload', 1, {unloaded}, {unloaded}, 11, 'unload');
                 INSERT INTO card_unloads (card_id, unload_seq, account_id, currency, amount, proof, ledger_id, created_at)
                     VALUES (x'0101010101010101', 1, 1, 'EUR', {unloaded}, x'00', 2, 11);"
            ))
            .unwrap();
        }
        let r = super::super::migrate(&mut conn);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        if upgrades {
            r.unwrap();
            assert_eq!(version, i64::try_from(MIGRATIONS.len()).unwrap());
            let held: i64 = conn
                .query_row("SELECT bank_balance FROM cards", [], |r| r.get(0))
                .unwrap();
            assert_eq!(held, 0);
        } else {
            let e = r.unwrap_err();
            let chain = std::error::Error::source(&e).map(ToString::to_string);
            let chain = chain.unwrap_or_default();
            assert!(chain.contains("unload every card"), "{chain}");
            assert_eq!(version, 6, "nothing of 0007 applied");
        }
    }
}
