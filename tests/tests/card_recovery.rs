//! Electronic purse cards settling with the bank (issue #8): a transfer between two
//! virtual purses loses its VALUE in flight; both exception logs reach the bank (in
//! either order, and twice) and the payer gets exactly one recovery load; bad uploads
//! are refused and store nothing; `GET …/loads?from=` re-sends stored authorizations;
//! a cloned card is blocked at the bank until an operator unlocks it, whether caught
//! by an unload number or by an exception id it reuses (its lost transfer is not
//! recovered); a purse its risk rules locked is reopened through the owner's unlock
//! request, the operator's decision and the wallet's sync. The audit stays clean
//! throughout.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_card::api::{
    ExceptionsRequest, IssuerInfo, LoadResponse, NewUnlockRequest, UnloadRequest, UnloadResponse,
    UnlockRequest, UnlockResponse, UnlockState, UnlockStatus,
};
use ecash_card::client::{PurseClient, UnlockOutcome};
use ecash_card::exception::{ExceptionKind, ExceptionRecord};
use ecash_card::host::cmd;
use ecash_card::load::LoadKind;
use ecash_card::risk::{LockReason, LockReport, LockReportBody};
use ecash_card::transfer::{Request, StartFrom, StartTo, Value};
use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_card::{CardKey, Mode, Purpose, Sw, VirtualCard};
use ecash_shared::{Amount, Currency, ErrorCode};
use ecash_tests::cards::{
    HttpCardBank, Purse, assert_refused, authorize, balance, card_path, cloned_terminal, issue,
    load, load_request, loads_from, pay, pin, post_json, today, two_purses, unload_proof, upload,
};
use ecash_tests::client::{Client, expect_code};
use ecash_tests::server::TestBank;
use serde_json::json;

/// A transfer of `minor` from `payer` to `payee` whose VALUE never reaches the payee;
/// both purses then ABORT: the payer logs an unacked debit, the payee an abandoned
/// credit. Returns the lost VALUE (refused for good by the payee).
async fn lose_a_transfer(payer: &mut Purse, payee: &mut Purse, minor: u64) -> Value {
    let amount = Amount::from_minor(minor);
    payer.verify_pin(&pin()).await.unwrap();
    let seq = payer
        .exchange(&cmd::start_from(&StartFrom {
            payee: payee.cert().unwrap().clone(),
            amount,
            purpose: Purpose::Payment,
            day: today(),
        }))
        .await
        .unwrap();
    let request = Request::parse(
        &payee
            .exchange(&cmd::start_to(&StartTo {
                payer: payer.cert().unwrap().clone(),
                amount,
                purpose: Purpose::Payment,
                payer_seq: u32::from_be_bytes(seq.try_into().unwrap()),
                day: today(),
            }))
            .await
            .unwrap(),
    )
    .unwrap();
    let value = Value::parse(&payer.exchange(&cmd::req(&request)).await.unwrap()).unwrap();
    // VALUE lost; both give up.
    assert_eq!(payer.abort().await.unwrap(), 2);
    assert_eq!(payee.abort().await.unwrap(), 2);
    assert!(payee.exchange(&cmd::val(&value)).await.is_err());
    value
}

async fn lost_value_is_recovered_once(payee_first: bool) {
    let (bank, alice, shop, mut payer, mut payee) = two_purses(1000).await;
    let bank_load = load(&mut payer, &alice.client, 500).await;
    assert_eq!(alice.client.balance().await.unwrap().minor(), 500);

    lose_a_transfer(&mut payer, &mut payee, 120).await;
    assert_eq!(
        (balance(&mut payer).await, balance(&mut payee).await),
        (380, 0)
    );
    let payer_records = payer.exceptions().await.unwrap();
    let payee_records = payee.exceptions().await.unwrap();
    assert_eq!(payer_records.len(), 1);
    assert_eq!(payer_records[0].body.kind, ExceptionKind::UnackedDebit);
    assert_eq!(payee_records[0].body.kind, ExceptionKind::AbandonedCredit);
    bank.assert_audit_clean();

    // The first log alone proves nothing: a clearance, no recovery. Twice: the same.
    let (first_owner, first_purse, first_records, second_owner, second_purse, second_records) =
        if payee_first {
            (
                &shop,
                &payee,
                &payee_records,
                &alice,
                &payer,
                &payer_records,
            )
        } else {
            (
                &alice,
                &payer,
                &payer_records,
                &shop,
                &payee,
                &payee_records,
            )
        };
    let a = upload(&first_owner.client, first_purse, first_records).await;
    let clear = a.clear.clone().unwrap();
    assert_eq!(clear.body.card_id, first_purse.cert().unwrap().card_id);
    assert_eq!(clear.body.ids, [first_records[0].body.exception_id]);
    assert!(a.recovered.is_empty());
    assert_eq!(
        upload(&first_owner.client, first_purse, first_records).await,
        a
    );
    let r = bank.assert_audit_clean();
    assert_eq!(r.card_exceptions, 1);
    assert_eq!(r.currencies[&Currency::EUR].card_recoveries, 0);

    // The second log proves the loss: one recovery load for the payer, whoever sent it.
    let b = upload(&second_owner.client, second_purse, second_records).await;
    assert_eq!(
        b.clear.as_ref().unwrap().body.card_id,
        second_purse.cert().unwrap().card_id
    );
    assert_eq!(b.recovered.len(), 1);
    let recovery = b.recovered[0].clone();
    let info: IssuerInfo = alice.client.get("/v1/cards/issuer").await.unwrap();
    recovery.verify_issuer(&info.issuer_key).unwrap();
    assert_eq!(recovery.body.card_id, payer.cert().unwrap().card_id);
    assert_eq!(recovery.body.kind, LoadKind::Recovery);
    assert_eq!(recovery.body.amount.minor(), 120);
    assert_eq!(recovery.body.load_seq, 2, "the payer's next load number");
    // Both logs again, in both orders: the same answers, nothing doubled.
    assert_eq!(
        upload(&second_owner.client, second_purse, second_records).await,
        b
    );
    let again = upload(&first_owner.client, first_purse, first_records).await;
    assert_eq!(again.clear, a.clear);
    assert_eq!(again.recovered, std::slice::from_ref(&recovery));
    let r = bank.assert_audit_clean();
    assert_eq!(r.card_exceptions, 2);
    let eur = &r.currencies[&Currency::EUR];
    assert_eq!(
        (eur.card_loads, eur.card_recoveries, eur.card_unloads),
        (500, 120, 0)
    );
    // No account moved: the value was counted on cards when it was loaded.
    assert_eq!(alice.client.balance().await.unwrap().minor(), 500);
    assert_eq!(shop.client.balance().await.unwrap().minor(), 0);

    // The stored authorizations, from any number.
    assert_eq!(
        loads_from(&alice.client, &payer, 1).await,
        [bank_load, recovery.clone()]
    );
    assert_eq!(
        loads_from(&alice.client, &payer, 2).await,
        std::slice::from_ref(&recovery)
    );
    assert!(loads_from(&alice.client, &payer, 3).await.is_empty());
    // The recovery holds number 2: a bank load under it is refused, nothing debited.
    expect_code(
        alice
            .client
            .post::<_, LoadResponse>(&card_path(&payer, "loads"), &load_request(120, 2))
            .await,
        ErrorCode::IdempotencyConflict,
    );
    assert_eq!(alice.client.balance().await.unwrap().minor(), 500);

    // Each purse syncs (the wallet's "Sync with bank"): logs cleared, the payer loads
    // its recovery; a second sync has nothing to do.
    let s = payee
        .sync_with_bank(&HttpCardBank(&shop.client))
        .await
        .unwrap();
    assert_eq!((s.cleared, s.loaded.len()), (1, 0));
    let s = payer
        .sync_with_bank(&HttpCardBank(&alice.client))
        .await
        .unwrap();
    assert_eq!(s.cleared, 1);
    assert_eq!(s.loaded.len(), 1);
    assert_eq!(s.loaded_value().unwrap().minor(), 120);
    assert_eq!(balance(&mut payer).await, 500, "the lost value is back");
    assert_eq!(payer.status().await.unwrap().exceptions, 0);
    assert_eq!(payee.status().await.unwrap().exceptions, 0);
    let s = payer
        .sync_with_bank(&HttpCardBank(&alice.client))
        .await
        .unwrap();
    assert_eq!((s.cleared, s.loaded.len()), (0, 0));
    assert_eq!(balance(&mut payer).await, 500);

    // Everything unloads back: the books close at zero on cards.
    let proof = unload_proof(&mut payer, "alice", 500).await;
    let _: UnloadResponse = alice
        .client
        .post(&card_path(&payer, "unloads"), &UnloadRequest { proof })
        .await
        .unwrap();
    assert_eq!(alice.client.balance().await.unwrap().minor(), 1000);
    let r = bank.assert_audit_clean();
    assert_eq!(r.currencies[&Currency::EUR].card_value_outstanding(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_value_is_recovered_once_payer_first() {
    lost_value_is_recovered_once(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_value_is_recovered_once_payee_first() {
    lost_value_is_recovered_once(true).await;
}

/// `ExceptionRecord` as JSON hex with one byte flipped.
fn flipped(r: &ExceptionRecord, byte: usize) -> serde_json::Value {
    let mut bytes = r.to_bytes();
    bytes[byte] ^= 1;
    json!(hex(&bytes))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_exception_uploads_are_refused_and_store_nothing() {
    let (bank, alice, shop, mut payer, mut payee) = two_purses(1000).await;
    load(&mut payer, &alice.client, 500).await;
    lose_a_transfer(&mut payer, &mut payee, 100).await;
    // A second lost transfer gives the payer two records.
    lose_a_transfer(&mut payer, &mut payee, 50).await;
    let mine = payer.exceptions().await.unwrap();
    let theirs = payee.exceptions().await.unwrap();
    assert_eq!((mine.len(), theirs.len()), (2, 2));
    let before = bank.assert_audit_clean();
    let url = card_path(&payer, "exceptions");
    let anonymous = bank.client();
    let good = json!(hex(&mine[0].to_bytes()));

    // Nine distinct ids (counted before any signature is checked).
    let nine_ids: Vec<serde_json::Value> = (1..=9u32)
        .map(|id| {
            let mut bytes = mine[0].to_bytes();
            bytes[8..12].copy_from_slice(&id.to_be_bytes());
            json!(hex(&bytes))
        })
        .collect();
    let cases: Vec<(&str, &Client, String, serde_json::Value, u16, &str)> = vec![
        (
            "another card's record",
            &alice.client,
            url.clone(),
            json!({ "records": [hex(&theirs[0].to_bytes())] }),
            400,
            "BAD_REQUEST",
        ),
        (
            "a good record with another card's",
            &alice.client,
            url.clone(),
            json!({ "records": [hex(&mine[1].to_bytes()), hex(&theirs[0].to_bytes())] }),
            400,
            "BAD_REQUEST",
        ),
        (
            "forged signature",
            &alice.client,
            url.clone(),
            json!({ "records": [flipped(&mine[0], 60)] }),
            400,
            "BAD_REQUEST",
        ),
        (
            "tampered amount (a good record first)",
            &alice.client,
            url.clone(),
            json!({ "records": [hex(&mine[1].to_bytes()), flipped(&mine[0], 39)] }),
            400,
            "BAD_REQUEST",
        ),
        (
            "tampered kind",
            &alice.client,
            url.clone(),
            json!({ "records": [flipped(&mine[0], 12)] }),
            400,
            "BAD_REQUEST",
        ),
        (
            "two different records under one id",
            &alice.client,
            url.clone(),
            json!({ "records": [good, flipped(&mine[0], 39)] }),
            400,
            "BAD_REQUEST",
        ),
        (
            "more distinct ids than a card holds",
            &alice.client,
            url.clone(),
            json!({ "records": nine_ids }),
            400,
            "BAD_REQUEST",
        ),
        (
            "not hex",
            &alice.client,
            url.clone(),
            json!({ "records": ["zz"] }),
            400,
            "BAD_REQUEST",
        ),
        (
            "short record",
            &alice.client,
            url.clone(),
            json!({ "records": ["00"] }),
            400,
            "BAD_REQUEST",
        ),
        (
            "unknown field",
            &alice.client,
            url.clone(),
            json!({ "records": [good], "extra": 1 }),
            400,
            "BAD_REQUEST",
        ),
        (
            "records missing",
            &alice.client,
            url.clone(),
            json!({}),
            400,
            "BAD_REQUEST",
        ),
        (
            "not the card's owner",
            &shop.client,
            url.clone(),
            json!({ "records": [good] }),
            403,
            "FORBIDDEN",
        ),
        (
            "no token",
            &anonymous,
            url.clone(),
            json!({ "records": [good] }),
            401,
            "UNAUTHORIZED",
        ),
        (
            "unknown card",
            &alice.client,
            "/v1/cards/0000000000000000/exceptions".to_owned(),
            json!({ "records": [good] }),
            404,
            "NOT_FOUND",
        ),
        (
            "malformed card id",
            &alice.client,
            "/v1/cards/xyz/exceptions".to_owned(),
            json!({ "records": [good] }),
            404,
            "NOT_FOUND",
        ),
    ];
    for (name, client, path, body, status, code) in cases {
        let r = post_json(client, &path, body).await;
        assert_refused(&r, status, code, name);
    }
    assert_eq!(bank.assert_audit_clean(), before, "nothing stored");
    assert_eq!(before.card_exceptions, 0);

    // Nothing to upload: no clearance, nothing stored.
    let empty = upload(&alice.client, &payer, &[]).await;
    assert_eq!((empty.clear, empty.recovered.len()), (None, 0));
    // A repeat of the same record in one upload counts once.
    let r = upload(&alice.client, &payer, &[mine[0].clone(), mine[0].clone()]).await;
    assert_eq!(r.clear.unwrap().body.ids, [mine[0].body.exception_id]);
    assert_eq!(bank.assert_audit_clean().card_exceptions, 1);
    // Only one record of the payer reached the bank: only its transfer is recovered.
    let r = upload(&shop.client, &payee, &theirs).await;
    assert_eq!(r.recovered.len(), 1);
    assert_eq!(r.recovered[0].body.amount.minor(), 100);
    let r = bank.assert_audit_clean();
    assert_eq!(r.currencies[&Currency::EUR].card_recoveries, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_are_sent_again_from_any_number() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 1000).await;
    let bob = bank.user("bob", 0).await;
    let reader = VirtualReader::new();
    let mut purse = issue(&reader, "personal", &alice.client, Mode::Personal).await;
    assert!(loads_from(&alice.client, &purse, 1).await.is_empty());
    let first = load(&mut purse, &alice.client, 100).await;
    // A load whose answer is lost on the way to the card: the bank debited and stored it.
    let lost = authorize(&purse, &alice.client, 30, 2).await;
    assert_eq!(balance(&mut purse).await, 100);
    assert_eq!(
        loads_from(&alice.client, &purse, 1).await,
        [first, lost.clone()]
    );
    assert_eq!(loads_from(&alice.client, &purse, 2).await, [lost]);
    assert!(loads_from(&alice.client, &purse, 3).await.is_empty());
    assert!(loads_from(&alice.client, &purse, u32::MAX).await.is_empty());
    // The card fetches what it has not loaded.
    let s = purse
        .sync_with_bank(&HttpCardBank(&alice.client))
        .await
        .unwrap();
    assert_eq!((s.cleared, s.loaded_value().unwrap().minor()), (0, 30));
    assert_eq!(balance(&mut purse).await, 130);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 870);
    bank.assert_audit_clean();

    let loads = card_path(&purse, "loads");
    let before = bank.assert_audit_clean();
    let anonymous = bank.client();
    for (q, status, code) in [
        ("?from=abc", 400, "BAD_REQUEST"),
        ("?from=0", 400, "BAD_REQUEST"),
        ("?from=-1", 400, "BAD_REQUEST"),
        ("?from=4294967296", 400, "BAD_REQUEST"),
        ("?from=1&limit=2", 400, "BAD_REQUEST"),
        ("?from=1&from=2", 400, "BAD_REQUEST"),
        ("", 400, "BAD_REQUEST"),
        ("?", 400, "BAD_REQUEST"),
    ] {
        let r = alice
            .client
            .raw("GET", &format!("{loads}{q}"), &[], None)
            .await
            .unwrap();
        assert_refused(&r, status, code, q);
    }
    for (client, p, status, code) in [
        (&bob.client, loads.clone(), 403, "FORBIDDEN"),
        (&anonymous, loads.clone(), 401, "UNAUTHORIZED"),
        (
            &alice.client,
            "/v1/cards/0000000000000000/loads".to_owned(),
            404,
            "NOT_FOUND",
        ),
    ] {
        let r = client
            .raw("GET", &format!("{p}?from=1"), &[], None)
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.code()),
            (status, Some(code)),
            "{p}: {:?}",
            r.body
        );
    }
    assert_eq!(bank.assert_audit_clean(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_card_is_blocked_until_an_operator_unlocks_it() {
    let (bank, shop, mut terminal, mut clone) = cloned_terminal(300).await;

    let proof = unload_proof(&mut terminal, "shop", 100).await;
    let copy = unload_proof(&mut clone, "shop", 90).await;
    let unloads = card_path(&terminal, "unloads");
    let _: UnloadResponse = shop
        .client
        .post(
            &unloads,
            &UnloadRequest {
                proof: proof.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(shop.client.balance().await.unwrap().minor(), 800);
    // The copy's proof: refused, credits nothing — and blocks the card.
    let before = bank.assert_audit_clean();
    expect_code(
        shop.client
            .post::<_, UnloadResponse>(&unloads, &UnloadRequest { proof: copy })
            .await,
        ErrorCode::IdempotencyConflict,
    );
    assert_eq!(bank.assert_audit_clean(), before, "only the block changed");

    // Blocked: every card operation is refused with a clear detail.
    let blocked = |r: ecash_tests::client::Result<serde_json::Value>| {
        let e = r.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e}");
        assert!(e.to_string().contains("blocked"), "{e}");
    };
    let seq = terminal.status().await.unwrap().next_load_seq;
    blocked(
        shop.client
            .post(&card_path(&terminal, "loads"), &load_request(10, seq))
            .await,
    );
    blocked(
        shop.client
            .post(
                &unloads,
                &UnloadRequest {
                    proof: proof.clone(),
                },
            )
            .await,
    );
    let fresh = unload_proof(&mut terminal, "shop", 10).await;
    blocked(
        shop.client
            .post(
                &unloads,
                &UnloadRequest {
                    proof: fresh.clone(),
                },
            )
            .await,
    );
    blocked(
        shop.client
            .post(
                &card_path(&terminal, "exceptions"),
                &ExceptionsRequest { records: vec![] },
            )
            .await,
    );
    blocked(
        shop.client
            .get(&format!("{}?from=1", card_path(&terminal, "loads")))
            .await,
    );
    assert_eq!(shop.client.balance().await.unwrap().minor(), 800);
    assert_eq!(bank.assert_audit_clean(), before);

    // Only the operator unlocks.
    let unlock_path = card_path(&terminal, "unlock");
    let unlock_seq = terminal.status().await.unwrap().next_unlock_seq;
    let req = UnlockRequest { unlock_seq };
    expect_code(
        shop.client
            .post::<_, UnlockResponse>(&unlock_path, &req)
            .await,
        ErrorCode::Forbidden,
    );
    expect_code(
        bank.client()
            .post::<_, UnlockResponse>(&unlock_path, &req)
            .await,
        ErrorCode::Unauthorized,
    );
    let admin = bank.client().with_token(Some(&bank.admin_token));
    expect_code(
        admin
            .post::<_, UnlockResponse>("/v1/cards/0000000000000000/unlock", &req)
            .await,
        ErrorCode::NotFound,
    );
    for body in [
        json!({}),
        json!({ "unlock_seq": -1 }),
        json!({ "unlock_seq": 1, "extra": 1 }),
    ] {
        let r = post_json(&admin, &unlock_path, body.clone()).await;
        assert_eq!((r.status, r.code()), (400, Some("BAD_REQUEST")), "{body}");
    }
    let r: UnlockResponse = admin.post(&unlock_path, &req).await.unwrap();
    assert!(r.unblocked);
    let info: IssuerInfo = shop.client.get("/v1/cards/issuer").await.unwrap();
    r.auth.verify_issuer(&info.issuer_key).unwrap();
    assert_eq!(
        (r.auth.body.card_id, r.auth.body.unlock_seq),
        (terminal.cert().unwrap().card_id, unlock_seq)
    );
    terminal.unlock(&r.auth).await.unwrap();
    assert_eq!(
        terminal.status().await.unwrap().next_unlock_seq,
        unlock_seq + 1
    );
    // A second decision finds no block to lift.
    let again: UnlockResponse = admin.post(&unlock_path, &req).await.unwrap();
    assert!(!again.unblocked);

    // Reopened: the held proof is credited, loads work again.
    let _: UnloadResponse = shop
        .client
        .post(&unloads, &UnloadRequest { proof: fresh })
        .await
        .unwrap();
    load(&mut terminal, &shop.client, 20).await;
    assert_eq!(shop.client.balance().await.unwrap().minor(), 800 + 10 - 20);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_reusing_an_exception_id_is_blocked_and_its_loss_not_recovered() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 1000).await;
    let shop = bank.merchant("shop", 0).await;
    let reader = VirtualReader::new();
    let mut payer = issue(&reader, "personal", &alice.client, Mode::Personal).await;
    let mut payee = issue(&reader, "terminal", &shop.client, Mode::Terminal).await;
    load(&mut payer, &alice.client, 500).await;
    // A copy of the loaded purse (its state file).
    let state = reader.state_json("personal").unwrap();
    reader.insert("copy", VirtualCard::from_json(&state).unwrap());
    let mut copy = PurseClient::connect(reader.clone(), "copy").await.unwrap();

    // The purse loses a transfer; its log reaches the bank.
    lose_a_transfer(&mut payer, &mut payee, 120).await;
    let mine = payer.exceptions().await.unwrap();
    upload(&alice.client, &payer, &mine).await;
    let before = bank.assert_audit_clean();
    // The copy loses another: its record has the same exception id, other terms.
    lose_a_transfer(&mut copy, &mut payee, 70).await;
    let theirs = copy.exceptions().await.unwrap();
    assert_eq!(theirs[0].body.exception_id, mine[0].body.exception_id);
    assert_ne!(theirs[0].body.terms, mine[0].body.terms);
    let exceptions = card_path(&payer, "exceptions");
    let e = alice
        .client
        .post::<_, serde_json::Value>(&exceptions, &ExceptionsRequest { records: theirs })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::IdempotencyConflict), "{e}");
    assert!(e.to_string().contains("cloned card"), "{e}");
    assert_eq!(bank.assert_audit_clean(), before, "only the block changed");
    // Blocked: even the genuine log is refused now.
    let e = alice
        .client
        .post::<_, serde_json::Value>(&exceptions, &ExceptionsRequest { records: mine })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{e}");

    // The payee's log proves both losses, but only the genuine one was recorded by
    // the payer's side: one recovery, for the 120.
    let payee_records = payee.exceptions().await.unwrap();
    assert_eq!(payee_records.len(), 2);
    let r = upload(&shop.client, &payee, &payee_records).await;
    assert_eq!(r.recovered.len(), 1);
    assert_eq!(r.recovered[0].body.amount, Amount::from_minor(120));
    bank.assert_audit_clean();
}

/// Breaks the payer's per-transfer limit (a personal purse's is 50.00) with a
/// payment of 60.00 it could pay: the card refuses it and locks itself.
async fn lock_by_risk(purse: &mut Purse, terminal: &mut Purse) {
    let e = pay(purse, terminal, 6_000).await.unwrap_err();
    assert_eq!(e, ecash_card::Error::Status(Sw::RISK_LOCKED));
    assert_eq!(
        purse.status().await.unwrap().lock,
        Some(LockReason::PerTransferLimit)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_purse_is_reopened_through_an_unlock_request() {
    let (bank, alice, _shop, mut purse, mut terminal) = two_purses(10_000).await;
    let bob = bank.user("bob", 0).await;
    let alices = HttpCardBank(&alice.client);
    let card_id = purse.cert().unwrap().card_id;
    load(&mut purse, &alice.client, 7_000).await;
    lock_by_risk(&mut purse, &mut terminal).await;
    assert_eq!(balance(&mut purse).await, 7_000);
    // A load authorized meanwhile: the bank debits and stores it, the locked card
    // refuses it; the sync after the unlock loads it.
    let seq = purse.status().await.unwrap().next_load_seq;
    let held = authorize(&purse, &alice.client, 40, seq).await;
    assert_eq!(
        purse.load(&held).await.unwrap_err(),
        ecash_card::Error::Status(Sw::PURSE_LOCKED)
    );

    // Nobody asked yet.
    assert_eq!(
        purse.apply_unlock(&alices).await.unwrap(),
        UnlockOutcome::NotRequested
    );
    let status_path = card_path(&purse, "unlock");
    let requests = card_path(&purse, "unlock-requests");
    expect_code(
        alice.client.get::<UnlockStatus>(&status_path).await,
        ErrorCode::NoUnlockRequest,
    );
    let s = purse.sync_with_bank(&alices).await.unwrap();
    assert_eq!(
        (s.unlock, s.cleared, s.loaded.len()),
        (UnlockOutcome::NotRequested, 0, 0)
    );

    // The card's own word: a signed lock report, checked here as the bank will.
    let report = purse.lock_report().await.unwrap();
    assert_eq!(
        (
            report.body.card_id,
            report.body.unlock_seq,
            report.body.reason,
            report.body.balance.minor()
        ),
        (card_id, 1, LockReason::PerTransferLimit, 7_000)
    );
    let report_hex = serde_json::to_value(&report).unwrap();
    let hex_of = |bytes: &[u8]| {
        serde_json::Value::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    // The same report with one byte changed: the unlock number (bytes 8..12), the
    // reason (12): the signature no longer holds.
    let tampered = |at: usize, to: u8| {
        let mut b = report.to_bytes();
        b[at] = to;
        hex_of(&b)
    };
    // A report the card never signed: another key, naming this card.
    let forged = hex_of(
        &LockReport::by_card(
            LockReportBody {
                unlock_seq: 7,
                ..report.body
            },
            &CardKey::from_seed(&[42; 32]),
        )
        .to_bytes(),
    );

    // Bad requests and strangers: refused, nothing stored.
    let before = bank.assert_audit_clean();
    let anonymous = bank.client();
    let ok = json!({ "report": report_hex });
    let with_report = |report: serde_json::Value| json!({ "report": report });
    let with_reason = |reason: serde_json::Value| json!({ "report": report_hex, "reason": reason });
    for (client, p, body, status, code) in [
        (&bob.client, &requests, ok.clone(), 403, "FORBIDDEN"),
        (&anonymous, &requests, ok.clone(), 401, "UNAUTHORIZED"),
        (
            &alice.client,
            &"/v1/cards/00000000000000ff/unlock-requests".to_owned(),
            ok.clone(),
            404,
            "NOT_FOUND",
        ),
        (
            &alice.client,
            &"/v1/cards/xyz/unlock-requests".to_owned(),
            ok.clone(),
            404,
            "NOT_FOUND",
        ),
        // Before lock reports, a bare number was enough: no longer.
        (
            &alice.client,
            &requests,
            json!({ "unlock_seq": 1 }),
            400,
            "BAD_REQUEST",
        ),
        (&alice.client, &requests, json!({}), 400, "BAD_REQUEST"),
        (
            &alice.client,
            &requests,
            with_report(tampered(11, 2)),
            400,
            "BAD_REQUEST",
        ),
        (
            &alice.client,
            &requests,
            with_report(tampered(12, 2)),
            400,
            "BAD_REQUEST",
        ),
        (
            &alice.client,
            &requests,
            with_report(tampered(12, 0)),
            400,
            "BAD_REQUEST",
        ),
        (
            &alice.client,
            &requests,
            with_report(forged.clone()),
            400,
            "BAD_REQUEST",
        ),
        (
            &alice.client,
            &requests,
            with_report(hex_of(&report.to_bytes()[..96])),
            400,
            "BAD_REQUEST",
        ),
        (
            &alice.client,
            &requests,
            with_report(json!(5)),
            400,
            "BAD_REQUEST",
        ),
        // The purse's genuine report sent for the shop's terminal: not alice's card.
        (
            &alice.client,
            &card_path(&terminal, "unlock-requests"),
            ok.clone(),
            403,
            "FORBIDDEN",
        ),
        (
            &alice.client,
            &requests,
            json!({ "report": report_hex, "extra": 1 }),
            400,
            "BAD_REQUEST",
        ),
        (
            &alice.client,
            &requests,
            with_reason(json!("x".repeat(201))),
            400,
            "BAD_REQUEST",
        ),
        (
            &alice.client,
            &requests,
            with_reason(json!("a\u{7}b")),
            400,
            "BAD_REQUEST",
        ),
        (
            &alice.client,
            &requests,
            with_reason(json!(5)),
            400,
            "BAD_REQUEST",
        ),
    ] {
        let r = post_json(client, p, body.clone()).await;
        assert_refused(&r, status, code, &format!("{p} {body}"));
    }
    for (client, code) in [
        (&bob.client, ErrorCode::Forbidden),
        (&anonymous, ErrorCode::Unauthorized),
    ] {
        expect_code(client.get::<UnlockStatus>(&status_path).await, code);
    }
    expect_code(
        alice.client.get::<UnlockStatus>(&status_path).await,
        ErrorCode::NoUnlockRequest,
    );
    assert!(
        bank.bank
            .storage
            .card_unlock_requests_pending()
            .unwrap()
            .is_empty()
    );
    assert_eq!(bank.assert_audit_clean(), before);

    // The owner asks; asking again answers the same request.
    let asked = purse
        .request_unlock(&alices, Some("  I typed 60 instead of 6  ".to_owned()))
        .await
        .unwrap();
    assert_eq!(
        (
            asked.card_id,
            asked.unlock_seq,
            asked.state,
            asked.lock,
            asked.reason.as_deref()
        ),
        (
            card_id,
            1,
            UnlockState::Pending,
            Some(LockReason::PerTransferLimit),
            Some("I typed 60 instead of 6")
        )
    );
    assert!(asked.auth.is_none() && asked.decided_at.is_none());
    assert_eq!(purse.request_unlock(&alices, None).await.unwrap(), asked);
    assert_eq!(
        alice
            .client
            .get::<UnlockStatus>(&status_path)
            .await
            .unwrap(),
        asked
    );
    assert_eq!(
        purse.apply_unlock(&alices).await.unwrap(),
        UnlockOutcome::Pending { unlock_seq: 1 }
    );
    let pending = bank.bank.storage.card_unlock_requests_pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (
            pending[0].card_id,
            pending[0].owner.as_str(),
            pending[0].unlock_seq
        ),
        (card_id.0, "alice", 1)
    );

    // The operator refuses; asking again does not reopen the question.
    let storage = &*bank.bank.storage;
    let refused = bank_server::cards::refuse_unlock(
        storage,
        card_id.0,
        "test operator",
        Some("call the bank"),
        bank_server::now(),
    )
    .unwrap();
    assert_eq!(refused.unlock_seq, 1);
    assert_eq!(
        purse.apply_unlock(&alices).await.unwrap(),
        UnlockOutcome::Refused {
            unlock_seq: 1,
            note: Some("call the bank".to_owned())
        }
    );
    assert_eq!(
        purse.request_unlock(&alices, None).await.unwrap().state,
        UnlockState::Refused
    );
    assert!(storage.card_unlock_requests_pending().unwrap().is_empty());
    // Nothing pending: the command-line approval of "the pending request" refuses.
    let approve_pending = || {
        bank_server::cards::approve_unlock(
            storage,
            bank.bank.keys.card_issuer(),
            card_id.0,
            None,
            "test operator",
            bank_server::now(),
        )
    };
    let none_pending = approve_pending().unwrap_err();
    assert!(
        none_pending
            .to_string()
            .contains("no pending unlock request"),
        "{none_pending}"
    );
    assert_eq!(purse.status().await.unwrap().next_unlock_seq, 1);

    // The operator changes their mind over HTTP (number 0 refused first).
    let admin = bank.client().with_token(Some(&bank.admin_token));
    let r = post_json(&admin, &status_path, json!({ "unlock_seq": 0 })).await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some("BAD_REQUEST")),
        "{:?}",
        r.body
    );
    let approved: UnlockResponse = admin
        .post(&status_path, &UnlockRequest { unlock_seq: 1 })
        .await
        .unwrap();
    assert!(!approved.unblocked);
    let shown: UnlockStatus = alice.client.get(&status_path).await.unwrap();
    assert_eq!(
        (shown.state, shown.auth.as_ref(), shown.note.as_deref()),
        (UnlockState::Approved, Some(&approved.auth), None)
    );
    assert!(shown.decided_at.is_some());
    assert_eq!(
        purse.check_unlock(&alices).await.unwrap(),
        UnlockOutcome::Approved { unlock_seq: 1 }
    );
    assert!(purse.status().await.unwrap().lock.is_some(), "only looked");
    bank.assert_audit_clean();

    // The wallet's sync applies it, then loads what was held.
    let s = purse.sync_with_bank(&alices).await.unwrap();
    assert_eq!(s.unlock, UnlockOutcome::Unlocked { unlock_seq: 1 });
    assert_eq!(s.loaded_value().unwrap().minor(), 40);
    let st = purse.status().await.unwrap();
    assert_eq!((st.lock, st.next_unlock_seq), (None, 2));
    assert_eq!(balance(&mut purse).await, 7_040);
    // It works again: a payment within the limits.
    pay(&mut purse, &mut terminal, 100).await.unwrap();
    assert_eq!(
        (balance(&mut purse).await, balance(&mut terminal).await),
        (6_940, 100)
    );

    // Replays are harmless: the used authorization is refused by the card, a sync
    // of an open purse asks nothing.
    assert_eq!(
        purse.unlock(&approved.auth).await.unwrap_err(),
        ecash_card::Error::Status(Sw::CONDITIONS_NOT_SATISFIED)
    );
    assert_eq!(
        purse.sync_with_bank(&alices).await.unwrap().unlock,
        UnlockOutcome::NotLocked
    );
    // Locked again: the old approval is stale, the card stays locked until a new one.
    lock_by_risk(&mut purse, &mut terminal).await;
    assert_eq!(
        purse.apply_unlock(&alices).await.unwrap(),
        UnlockOutcome::Stale { bank: 1, card: 2 }
    );
    assert_eq!(
        purse.unlock(&approved.auth).await.unwrap_err(),
        ecash_card::Error::Status(Sw::CONDITIONS_NOT_SATISFIED)
    );
    assert!(purse.status().await.unwrap().lock.is_some());
    let asked = purse.request_unlock(&alices, None).await.unwrap();
    assert_eq!((asked.unlock_seq, asked.state), (2, UnlockState::Pending));
    // Approved the command line's way: the pending request, whatever its number.
    let done = approve_pending().unwrap();
    assert_eq!((done.unlock_seq, done.lifted_block), (2, None));
    assert_eq!(
        purse.apply_unlock(&alices).await.unwrap(),
        UnlockOutcome::Unlocked { unlock_seq: 2 }
    );
    assert_eq!(
        purse.apply_unlock(&alices).await.unwrap(),
        UnlockOutcome::NotLocked
    );
    assert!(storage.card_unlock_requests_pending().unwrap().is_empty());
    // Open, the purse has nothing to ask and signs no report; an old report asks
    // again for number 1, whose approval the card no longer takes.
    assert_eq!(
        purse.request_unlock(&alices, None).await.unwrap_err(),
        ecash_card::Error::Mismatch("the purse is not locked")
    );
    assert_eq!(
        purse.lock_report().await.unwrap_err(),
        ecash_card::Error::Status(Sw::CONDITIONS_NOT_SATISFIED)
    );
    let old = post_json(&alice.client, &requests, ok.clone()).await;
    assert_eq!(old.status, 200, "{:?}", old.body);
    let old: UnlockStatus = serde_json::from_value(old.body).unwrap();
    assert_eq!((old.unlock_seq, old.state), (1, UnlockState::Approved));
    assert_eq!(
        purse.unlock(&old.auth.unwrap()).await.unwrap_err(),
        ecash_card::Error::Status(Sw::CONDITIONS_NOT_SATISFIED)
    );

    // Another owner's card stays out of reach, and money adds up.
    expect_code(
        bob.client
            .post::<_, UnlockStatus>(
                &card_path(&terminal, "unlock-requests"),
                &NewUnlockRequest {
                    report,
                    reason: None,
                },
            )
            .await,
        ErrorCode::Forbidden,
    );
    assert_eq!(
        alice.client.balance().await.unwrap().minor(),
        10_000 - 7_000 - 40
    );
    bank.assert_audit_clean();
}
