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
    Purse, assert_refused, authorize, balance, card_endpoints, card_path, cloned_terminal, issue,
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
        .sync_with_bank(&card_endpoints(&shop.client).session())
        .await
        .unwrap();
    assert_eq!((s.cleared, s.loaded.len()), (1, 0));
    let s = payer
        .sync_with_bank(&card_endpoints(&alice.client).session())
        .await
        .unwrap();
    assert_eq!(s.cleared, 1);
    assert_eq!(s.loaded.len(), 1);
    assert_eq!(s.loaded_value().unwrap().minor(), 120);
    assert_eq!(balance(&mut payer).await, 500, "the lost value is back");
    assert_eq!(payer.status().await.unwrap().exceptions, 0);
    assert_eq!(payee.status().await.unwrap().exceptions, 0);
    let s = payer
        .sync_with_bank(&card_endpoints(&alice.client).session())
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
        .sync_with_bank(&card_endpoints(&alice.client).session())
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
    let alices_bank = card_endpoints(&alice.client);
    let alices = alices_bank.session();
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

/// The bank's card ledger as a property (issue 13): random loads, offline transfers
/// (honest, from a cloned copy of a card, lost in flight), unloads and syncs, with
/// replayed settled credits and unload proofs and forged or tampered credits and
/// unload proofs thrown in, in random order, over four purses of three accounts and
/// a copy of one of them. After every step the audit is clean and money adds up: the
/// unload credits never exceed the load debits plus the shortfalls booked against
/// the owners of over-spending cards (taken from their balances or owed), the
/// accounts' balances minus their debts plus what the bank holds for the cards is
/// what was wired in (read over the API), honest cards are never blocked and never
/// hold more spendable value than the bank holds for them, and only the cloned
/// card's owner ever owes the bank.
mod ledger_property {
    use std::collections::BTreeMap;

    use bank_server::audit::{AuditReport, CurrencyTotals};
    use ecash_card::api::{
        CardInfo, LoadResponse, TransfersRequest, TransfersResponse, UnloadRequest, UnloadResponse,
    };
    use ecash_card::client::{PurseClient, transfer};
    use ecash_card::host::cmd;
    use ecash_card::settle::Credit;
    use ecash_card::transfer::{
        Ack, AckBody, Request, StartFrom, StartTo, Terms, Value, ValueBody,
    };
    use ecash_card::transport::virtual_reader::VirtualReader;
    use ecash_card::unload::{UnloadOrder, UnloadProof, UnloadProofBody, destination_for_account};
    use ecash_card::{CardId, CardKey, Mode, Purpose, VirtualCard};
    use ecash_shared::{Amount, Currency, ErrorCode};
    use ecash_tests::cards::{Purse, card_endpoints, issue, load_request, pin, post_json, today};
    use ecash_tests::client::{ClientError, Wallet};
    use ecash_tests::server::TestBank;
    use proptest::prelude::*;

    /// Reader slots: four genuine purses, then the copy of one of them.
    const SLOTS: [&str; 5] = ["alice-1", "alice-2", "bob", "till", "clone"];
    /// The slot of the copy.
    const CLONE: usize = 4;
    /// Who owns the genuine purses: alice two personal ones, bob one, the shop a terminal.
    const OWNER: [usize; 4] = [0, 0, 1, 2];
    /// The accounts and what the operator wires into each.
    const ACCOUNTS: [(&str, u64); 3] = [("alice", 5_000), ("bob", 5_000), ("shop", 3_000)];
    /// Loaded onto every genuine purse before the copy is made.
    const FIRST_LOAD: u64 = 2_000;
    /// Transfers stay under every purse's per-transfer limit (50.00).
    const MAX_TRANSFER: u64 = 3_000;

    #[derive(Debug, Clone)]
    enum Op {
        /// The owner loads `amount` onto the purse in `slot` (the copy asks under its
        /// own next load number, which the original may have used).
        Load { slot: usize, amount: u64 },
        /// An offline transfer of `pct`% of the payer's spendable value; `lose`: the
        /// VALUE never reaches the payee and both ABORT.
        Pay {
            payer: usize,
            payee: usize,
            pct: u64,
            lose: bool,
        },
        /// The wallet's "Sync with bank" (settle credits, exceptions, fetch loads).
        Sync { slot: usize },
        /// Every purse syncs, in slot order.
        SyncAll,
        /// Unload `pct`% of the purse's spendable value to its owner's account.
        Unload { slot: usize, pct: u64 },
        /// Copy the cloned card's current state into the copy's slot again.
        Clone,
        /// A credit taken earlier presented again (to the bank and to the payee card).
        ReplayCredit { pick: usize },
        /// An unload proof the bank accepted presented again.
        ReplayUnload { pick: usize },
        /// A credit whose VALUE and ACK are signed by a key the bank never certified.
        ForgedCredit {
            payer: usize,
            payee: usize,
            amount: u64,
            seed: u8,
        },
        /// A credit taken earlier with its amount raised (signatures kept).
        TamperedCredit { pick: usize },
        /// A credit taken earlier presented for another card.
        MisdirectedCredit { pick: usize, to: usize },
        /// An unload proof for a genuine card signed by another key.
        ForgedUnload { slot: usize, amount: u64, seed: u8 },
    }

    /// The operations of a run whose copied card is in slot `target`.
    fn op(target: usize) -> impl Strategy<Value = Op> {
        let genuine = 0..4usize;
        let any_slot = 0..5usize;
        let pct = 1..=100u64;
        prop_oneof![
            3 => (any_slot.clone(), 100..=4_000u64)
                .prop_map(|(slot, amount)| Op::Load { slot, amount }),
            6 => (any_slot.clone(), any_slot.clone(), pct.clone())
                .prop_map(|(payer, payee, pct)| Op::Pay { payer, payee, pct, lose: false }),
            3 => (genuine.clone(), pct.clone())
                .prop_map(|(payee, pct)| Op::Pay { payer: CLONE, payee, pct, lose: false }),
            2 => (genuine.clone(), pct.clone())
                .prop_map(move |(payee, pct)| Op::Pay { payer: target, payee, pct, lose: false }),
            2 => (any_slot.clone(), any_slot.clone(), pct.clone())
                .prop_map(|(payer, payee, pct)| Op::Pay { payer, payee, pct, lose: true }),
            6 => any_slot.clone().prop_map(|slot| Op::Sync { slot }),
            2 => Just(Op::SyncAll),
            3 => (any_slot, pct).prop_map(|(slot, pct)| Op::Unload { slot, pct }),
            1 => Just(Op::Clone),
            1 => (0..64usize).prop_map(|pick| Op::ReplayCredit { pick }),
            1 => (0..64usize).prop_map(|pick| Op::ReplayUnload { pick }),
            1 => (genuine.clone(), genuine.clone(), 1..=5_000u64, any::<u8>()).prop_map(
                |(payer, payee, amount, seed)| Op::ForgedCredit { payer, payee, amount, seed }
            ),
            1 => (0..64usize).prop_map(|pick| Op::TamperedCredit { pick }),
            1 => (0..64usize, genuine.clone())
                .prop_map(|(pick, to)| Op::MisdirectedCredit { pick, to }),
            1 => (genuine, 1..=5_000u64, any::<u8>())
                .prop_map(|(slot, amount, seed)| Op::ForgedUnload { slot, amount, seed }),
        ]
    }

    /// What a run did, to show that the interesting paths were taken.
    #[derive(Debug, Default)]
    struct Stats {
        loads: usize,
        transfers: usize,
        lost: usize,
        settled: usize,
        refused_credits: usize,
        unloads: usize,
        unloads_refused: usize,
        replays: usize,
        forgeries: usize,
    }

    struct World {
        bank: TestBank,
        owners: Vec<Wallet>,
        reader: VirtualReader,
        purses: Vec<Option<Purse>>,
        /// The card ids of the genuine slots.
        ids: Vec<CardId>,
        /// The genuine slot whose card has a copy in [`CLONE`].
        target: usize,
        wired_in: i128,
        /// Bank loads the bank authorized: `(card, load_seq)` → amount.
        loads: BTreeMap<(CardId, u32), u64>,
        /// Unloads the bank credited: `(card, unload_seq)` → (proof, owner, answer).
        unloads: BTreeMap<(CardId, u32), (UnloadProof, usize, UnloadResponse)>,
        /// Every credit a payee purse took (VALUE + ACK), in order.
        credits: Vec<Credit>,
        /// Terms the bank answered settled.
        settled: Vec<Terms>,
        stats: Stats,
    }

    /// `pct`% of `of`, at least 1, at most [`MAX_TRANSFER`].
    fn part(of: u64, pct: u64) -> u64 {
        (of * pct / 100).clamp(1, MAX_TRANSFER)
    }

    /// What the purse may give out: its balance less the credits the bank has not
    /// settled yet.
    async fn spendable(p: &mut Purse) -> Option<u64> {
        let s = p.status().await.ok()?;
        Some(s.balance.minor() - s.unsettled.minor())
    }

    /// START FROM, START TO, REQ: the payer debits and answers the VALUE, which never
    /// reaches the payee. An error if a purse refused a step.
    async fn debit_without_credit(
        payer: &mut Purse,
        payee: &mut Purse,
        amount: Amount,
    ) -> Result<Value, ecash_card::Error> {
        let seq = payer
            .exchange(&cmd::start_from(&StartFrom {
                payee: payee.cert().unwrap().clone(),
                amount,
                purpose: Purpose::Payment,
                day: today(),
            }))
            .await?;
        let request = Request::parse(
            &payee
                .exchange(&cmd::start_to(&StartTo {
                    payer: payer.cert().unwrap().clone(),
                    amount,
                    purpose: Purpose::Payment,
                    payer_seq: u32::from_be_bytes(seq.try_into().unwrap()),
                    day: today(),
                }))
                .await?,
        )?;
        Value::parse(&payer.exchange(&cmd::req(&request)).await?)
    }

    impl World {
        async fn new(target: usize) -> World {
            let bank = TestBank::start().await;
            let mut owners = Vec::new();
            for (name, credit) in ACCOUNTS {
                owners.push(if name == "shop" {
                    bank.merchant(name, credit).await
                } else {
                    bank.user(name, credit).await
                });
            }
            let reader = VirtualReader::new();
            let mut purses = Vec::new();
            let mut ids = Vec::new();
            for (slot, &owner) in OWNER.iter().enumerate() {
                let mode = if slot == 3 {
                    Mode::Terminal
                } else {
                    Mode::Personal
                };
                let p = issue(&reader, SLOTS[slot], &owners[owner].client, mode).await;
                ids.push(p.cert().unwrap().card_id);
                purses.push(Some(p));
            }
            purses.push(None);
            let mut w = World {
                bank,
                owners,
                reader,
                purses,
                ids,
                target,
                wired_in: ACCOUNTS.iter().map(|(_, c)| i128::from(*c)).sum(),
                loads: BTreeMap::new(),
                unloads: BTreeMap::new(),
                credits: Vec::new(),
                settled: Vec::new(),
                stats: Stats::default(),
            };
            for slot in 0..4 {
                w.load(slot, FIRST_LOAD).await;
            }
            w.clone_target().await;
            w
        }

        /// The genuine slot of the card in `slot`.
        fn card(&self, slot: usize) -> usize {
            if slot == CLONE { self.target } else { slot }
        }

        fn id(&self, slot: usize) -> CardId {
            self.ids[self.card(slot)]
        }

        fn owner(&self, slot: usize) -> usize {
            OWNER[self.card(slot)]
        }

        /// The cloned card (either copy).
        fn tainted(&self, slot: usize) -> bool {
            self.card(slot) == self.target
        }

        fn client(&self, slot: usize) -> &ecash_tests::client::Client {
            &self.owners[self.owner(slot)].client
        }

        fn path(&self, slot: usize, what: &str) -> String {
            format!("/v1/cards/{}/{what}", self.id(slot))
        }

        async fn info(&self, slot: usize) -> CardInfo {
            self.client(slot)
                .get(&format!("/v1/cards/{}", self.id(slot)))
                .await
                .unwrap()
        }

        async fn blocked(&self, slot: usize) -> bool {
            self.info(slot).await.blocked.is_some()
        }

        /// Asserts a refusal is the cloned card's (blocked at the bank by now).
        async fn refused_for_clone(&self, slot: usize, what: &str, e: &dyn std::fmt::Display) {
            assert!(
                self.tainted(slot),
                "{what} of honest card {} refused: {e}",
                SLOTS[slot]
            );
            assert!(
                self.blocked(slot).await,
                "{what} of {} refused but the card is not blocked: {e}",
                SLOTS[slot]
            );
        }

        async fn clone_target(&mut self) {
            let state = self.reader.state_json(SLOTS[self.target]).unwrap();
            self.purses[CLONE] = None;
            self.reader
                .insert(SLOTS[CLONE], VirtualCard::from_json(&state).unwrap());
            let copy = PurseClient::connect(self.reader.clone(), SLOTS[CLONE])
                .await
                .unwrap();
            self.purses[CLONE] = Some(copy);
        }

        async fn apply(&mut self, op: &Op) {
            match *op {
                Op::Load { slot, amount } => self.load(slot, amount).await,
                Op::Pay {
                    payer,
                    payee,
                    pct,
                    lose,
                } => self.pay(payer, payee, pct, lose).await,
                Op::Sync { slot } => self.sync(slot).await,
                Op::SyncAll => {
                    for slot in 0..SLOTS.len() {
                        self.sync(slot).await;
                    }
                }
                Op::Unload { slot, pct } => self.unload(slot, pct).await,
                Op::Clone => self.clone_target().await,
                Op::ReplayCredit { pick } => self.replay_credit(pick).await,
                Op::ReplayUnload { pick } => self.replay_unload(pick).await,
                Op::ForgedCredit {
                    payer,
                    payee,
                    amount,
                    seed,
                } => {
                    if self.id(payer) == self.id(payee) {
                        return;
                    }
                    let key = CardKey::from_seed(&[seed; 32]);
                    let terms = Terms {
                        payer: self.id(payer),
                        payee: self.id(payee),
                        currency: Currency::EUR,
                        amount: Amount::from_minor(amount),
                        payer_seq: 1_000 + u32::from(seed),
                        payee_seq: 1_000 + u32::from(seed),
                        purpose: Purpose::Payment,
                    };
                    let credit = Credit {
                        value: Value::by_card(ValueBody(terms), &key),
                        ack: Ack::by_card(AckBody(terms), &key),
                    };
                    self.present_bad_credit(payee, credit).await;
                }
                Op::TamperedCredit { pick } => {
                    let Some(mut c) = self.pick_credit(pick) else {
                        return;
                    };
                    let raised = Amount::from_minor(c.terms().amount.minor() + 1);
                    c.value.body.0.amount = raised;
                    c.ack.body.0.amount = raised;
                    let payee = self.slot_of(c.terms().payee);
                    self.present_bad_credit(payee, c).await;
                }
                Op::MisdirectedCredit { pick, to } => {
                    let Some(c) = self.pick_credit(pick) else {
                        return;
                    };
                    if self.id(to) == c.terms().payee {
                        return;
                    }
                    self.present_bad_credit(to, c).await;
                }
                Op::ForgedUnload { slot, amount, seed } => {
                    let proof = UnloadProof::by_card(
                        UnloadProofBody {
                            card_id: self.id(slot),
                            currency: Currency::EUR,
                            amount: Amount::from_minor(amount),
                            unload_seq: 1_000 + u32::from(seed),
                            destination: destination_for_account(ACCOUNTS[self.owner(slot)].0),
                        },
                        &CardKey::from_seed(&[seed; 32]),
                    );
                    let before = self.bank.audit();
                    let r = post_json(
                        self.client(slot),
                        &self.path(slot, "unloads"),
                        serde_json::to_value(UnloadRequest { proof }).unwrap(),
                    )
                    .await;
                    self.expect_bad(slot, r.status, r.code(), &r.body).await;
                    assert_eq!(
                        self.bank.audit(),
                        before,
                        "a forged unload changed the books"
                    );
                    self.stats.forgeries += 1;
                }
            }
        }

        /// The genuine slot of a card id.
        fn slot_of(&self, id: CardId) -> usize {
            self.ids.iter().position(|&i| i == id).unwrap()
        }

        fn pick_credit(&self, pick: usize) -> Option<Credit> {
            (!self.credits.is_empty()).then(|| self.credits[pick % self.credits.len()].clone())
        }

        /// A bad request (`400`), or `403` for a card the bank blocked.
        async fn expect_bad(
            &self,
            slot: usize,
            status: u16,
            code: Option<&str>,
            body: &serde_json::Value,
        ) {
            match (status, code) {
                (400, Some("BAD_REQUEST")) => {}
                (403, Some("FORBIDDEN")) => {
                    self.refused_for_clone(slot, "a bad request", body).await;
                }
                _ => panic!("bad input for {} answered {status}: {body}", SLOTS[slot]),
            }
        }

        /// A credit no genuine payee card holds, presented for the card in `slot`:
        /// refused, nothing changes.
        async fn present_bad_credit(&mut self, slot: usize, credit: Credit) {
            let before = self.bank.audit();
            let r = post_json(
                self.client(slot),
                &self.path(slot, "transfers"),
                serde_json::to_value(TransfersRequest {
                    credits: vec![credit],
                })
                .unwrap(),
            )
            .await;
            self.expect_bad(slot, r.status, r.code(), &r.body).await;
            assert_eq!(self.bank.audit(), before, "a bad credit changed the books");
            self.stats.forgeries += 1;
        }

        async fn load(&mut self, slot: usize, amount: u64) {
            let Some(mut p) = self.purses[slot].take() else {
                return;
            };
            if let Ok(status) = p.status().await {
                let seq = status.next_load_seq;
                let r: Result<LoadResponse, ClientError> = self
                    .client(slot)
                    .post(&self.path(slot, "loads"), &load_request(amount, seq))
                    .await;
                match r {
                    Ok(r) => {
                        let stored = self.loads.entry((self.id(slot), seq)).or_insert(amount);
                        assert_eq!(*stored, amount, "a load number answered another amount");
                        // The card may refuse (locked, over its cap): a later sync
                        // fetches the authorization again.
                        let _ = p.load(&r.auth).await;
                        self.stats.loads += 1;
                    }
                    Err(e) => match e.code() {
                        Some(ErrorCode::InsufficientFunds | ErrorCode::InvalidAmount) => {}
                        // The number holds another load (a recovery, or a load
                        // of the other copy) the card has not taken yet.
                        Some(ErrorCode::IdempotencyConflict) => {}
                        Some(ErrorCode::AccountInDebt) => assert_eq!(
                            self.owner(slot),
                            self.owner(self.target),
                            "an honest owner is in debt: {e}"
                        ),
                        Some(ErrorCode::Forbidden) => {
                            self.refused_for_clone(slot, "a load", &e).await;
                        }
                        _ => panic!("load onto {} answered {e}", SLOTS[slot]),
                    },
                }
            }
            self.purses[slot] = Some(p);
        }

        async fn pay(&mut self, payer: usize, payee: usize, pct: u64, lose: bool) {
            if self.id(payer) == self.id(payee) {
                return;
            }
            let Some(mut a) = self.purses[payer].take() else {
                return;
            };
            let Some(mut b) = self.purses[payee].take() else {
                self.purses[payer] = Some(a);
                return;
            };
            if let Some(have) = spendable(&mut a).await {
                let amount = Amount::from_minor(part(have, pct));
                let _ = a.verify_pin(&pin()).await;
                if lose {
                    let sent = debit_without_credit(&mut a, &mut b, amount).await;
                    let _ = a.abort().await;
                    let _ = b.abort().await;
                    if let Ok(value) = sent {
                        // Too late: the payee refuses the VALUE for good.
                        let before = b.balance().await.unwrap();
                        assert!(b.exchange(&cmd::val(&value)).await.is_err());
                        assert_eq!(b.balance().await.unwrap(), before);
                        self.stats.lost += 1;
                    }
                } else {
                    match transfer(&mut a, &mut b, amount, Purpose::Payment, today()).await {
                        Ok(terms) => {
                            let held = b.credits().await.unwrap();
                            let c = held.iter().find(|c| *c.terms() == terms).unwrap();
                            self.credits.push(c.clone());
                            self.stats.transfers += 1;
                        }
                        Err(_) => {
                            let _ = a.abort().await;
                            let _ = b.abort().await;
                        }
                    }
                }
            }
            self.purses[payer] = Some(a);
            self.purses[payee] = Some(b);
        }

        fn mark_settled(&mut self, sent: &[Credit], answer: &TransfersResponse) {
            for c in sent {
                if answer.settled.contains(&c.terms().payee_seq)
                    && !self.settled.contains(c.terms())
                {
                    self.settled.push(*c.terms());
                    self.stats.settled += 1;
                }
            }
            self.stats.refused_credits += answer.refused.len();
        }

        async fn sync(&mut self, slot: usize) {
            let Some(mut p) = self.purses[slot].take() else {
                return;
            };
            let held = p.credits().await.unwrap_or_default();
            let r = p
                .sync_with_bank(&card_endpoints(self.client(slot)).session())
                .await;
            self.purses[slot] = Some(p);
            match r {
                Ok(report) => {
                    if let Some(answer) = report.settled {
                        self.mark_settled(&held, &answer);
                    }
                }
                // The card refused something (a load over its cap, a locked purse).
                Err(ecash_card::Error::Status(_)) => {}
                Err(e) => self.refused_for_clone(slot, "a sync", &e).await,
            }
        }

        async fn unload(&mut self, slot: usize, pct: u64) {
            let Some(mut p) = self.purses[slot].take() else {
                return;
            };
            let mut proof = None;
            if let Some(have) = spendable(&mut p).await {
                let _ = p.verify_pin(&pin()).await;
                let order = UnloadOrder {
                    amount: Amount::from_minor((have * pct / 100).max(1)),
                    destination: destination_for_account(ACCOUNTS[self.owner(slot)].0),
                    day: today(),
                };
                proof = p.unload(&order).await.ok();
            }
            self.purses[slot] = Some(p);
            let Some(proof) = proof else {
                return;
            };
            let r: Result<UnloadResponse, ClientError> = self
                .client(slot)
                .post(
                    &self.path(slot, "unloads"),
                    &UnloadRequest {
                        proof: proof.clone(),
                    },
                )
                .await;
            match r {
                Ok(answer) => {
                    assert_eq!(answer.amount, proof.body.amount);
                    let key = (self.id(slot), proof.body.unload_seq);
                    match self.unloads.get(&key) {
                        // The other copy signed the very same proof: credited once.
                        Some((stored, _, _)) => assert_eq!(stored, &proof),
                        None => {
                            self.unloads.insert(key, (proof, self.owner(slot), answer));
                            self.stats.unloads += 1;
                        }
                    }
                }
                Err(e) => {
                    assert!(
                        matches!(
                            e.code(),
                            Some(
                                ErrorCode::CardOverspent
                                    | ErrorCode::IdempotencyConflict
                                    | ErrorCode::Forbidden
                            )
                        ),
                        "unload of {} answered {e}",
                        SLOTS[slot]
                    );
                    self.refused_for_clone(slot, "an unload", &e).await;
                    self.stats.unloads_refused += 1;
                }
            }
        }

        async fn replay_credit(&mut self, pick: usize) {
            let Some(c) = self.pick_credit(pick) else {
                return;
            };
            let slot = self.slot_of(c.terms().payee);
            // The payee card refuses the VALUE again.
            if let Some(p) = self.purses[slot].as_mut() {
                let before = p.balance().await.unwrap();
                assert!(p.exchange(&cmd::val(&c.value)).await.is_err());
                assert_eq!(p.balance().await.unwrap(), before);
            }
            // The bank settles it once: a settled credit again changes nothing.
            let known = self.settled.contains(c.terms());
            let before = self.bank.audit();
            let r = post_json(
                self.client(slot),
                &self.path(slot, "transfers"),
                serde_json::to_value(TransfersRequest {
                    credits: vec![c.clone()],
                })
                .unwrap(),
            )
            .await;
            match r.status {
                200 => {
                    let answer: TransfersResponse = serde_json::from_value(r.body).unwrap();
                    if known {
                        assert_eq!(answer.settled, [c.terms().payee_seq]);
                        assert_eq!(
                            self.bank.audit(),
                            before,
                            "a replayed credit changed the books"
                        );
                    }
                    self.mark_settled(std::slice::from_ref(&c), &answer);
                }
                403 => {
                    self.refused_for_clone(slot, "a replayed credit", &r.body)
                        .await
                }
                _ => panic!("replayed credit answered {}: {}", r.status, r.body),
            }
            self.stats.replays += 1;
        }

        async fn replay_unload(&mut self, pick: usize) {
            if self.unloads.is_empty() {
                return;
            }
            let (proof, owner, answer) = self
                .unloads
                .values()
                .nth(pick % self.unloads.len())
                .unwrap()
                .clone();
            let slot = self.slot_of(proof.body.card_id);
            let before = self.bank.audit();
            let r: Result<UnloadResponse, ClientError> = self.owners[owner]
                .client
                .post(&self.path(slot, "unloads"), &UnloadRequest { proof })
                .await;
            match r {
                Ok(again) => assert_eq!(again, answer),
                Err(e) if e.code() == Some(ErrorCode::Forbidden) => {
                    self.refused_for_clone(slot, "a replayed unload", &e).await;
                }
                Err(e) => panic!("replayed unload answered {e}"),
            }
            assert_eq!(
                self.bank.audit(),
                before,
                "a replayed unload changed the books"
            );
            self.stats.replays += 1;
        }

        /// The invariants, after every step.
        async fn check(&mut self, step: usize, op: Option<&Op>) -> AuditReport {
            let r = self.bank.audit();
            assert!(r.is_clean(), "after step {step} ({op:?}): audit:\n{r}");
            let eur: &CurrencyTotals = &r.currencies[&Currency::EUR];
            // What the issue asks: no more credited to accounts for unloads than
            // debited for loads plus the shortfalls booked against owners.
            assert!(
                eur.card_unload_credits
                    <= eur.card_load_debits + eur.shortfall_from_balance + eur.debt_booked,
                "after step {step} ({op:?}): {r}"
            );
            assert!(eur.card_unloads <= eur.card_loads + eur.card_shortfalls);
            assert_eq!(
                eur.card_shortfalls,
                eur.shortfall_from_balance + eur.debt_booked
            );
            // The bank's books against what its answers said.
            assert_eq!(eur.wired_in, self.wired_in);
            let loaded: u64 = self.loads.values().sum();
            let unloaded: u64 = self
                .unloads
                .values()
                .map(|(p, _, _)| p.body.amount.minor())
                .sum();
            assert_eq!(
                eur.card_loads,
                i128::from(loaded),
                "after step {step} ({op:?})"
            );
            assert_eq!(
                eur.card_unloads,
                i128::from(unloaded),
                "after step {step} ({op:?})"
            );

            // Over the API: balances less debts plus what the bank holds for the cards
            // is what was wired in; nobody's net worth grew out of thin air.
            let mut balances = 0i128;
            for o in &self.owners {
                balances += i128::from(o.client.balance().await.unwrap().minor());
            }
            let mut debts = [0i128; 3];
            let mut held = 0i128;
            for slot in 0..4 {
                let info = self.info(slot).await;
                held += i128::from(info.bank_balance.minor());
                debts[OWNER[slot]] = i128::from(info.account_debt.minor());
                if !self.tainted(slot) {
                    assert_eq!(info.blocked, None, "honest card {} blocked", SLOTS[slot]);
                    let p = self.purses[slot].as_mut().unwrap();
                    let have = spendable(p).await.unwrap();
                    assert!(
                        have <= info.bank_balance.minor(),
                        "after step {step} ({op:?}): honest card {} can spend {have}, \
                         the bank holds {}",
                        SLOTS[slot],
                        info.bank_balance.minor()
                    );
                }
            }
            for (owner, debt) in debts.iter().enumerate() {
                if owner != OWNER[self.target] {
                    assert_eq!(*debt, 0, "honest account {} owes", ACCOUNTS[owner].0);
                }
            }
            let net = balances - debts.iter().sum::<i128>();
            assert_eq!(net + held, self.wired_in, "after step {step} ({op:?})");
            assert!(net <= self.wired_in);
            assert_eq!(debts.iter().sum::<i128>(), eur.receivables);
            r
        }

        async fn run(&mut self, ops: &[Op]) -> AuditReport {
            let mut r = self.check(0, None).await;
            for (i, op) in ops.iter().enumerate() {
                self.apply(op).await;
                r = self.check(i + 1, Some(op)).await;
            }
            r
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 16,
            max_shrink_iters: 64,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn card_ledger_money_is_conserved_under_random_card_traffic(
            (target, ops) in prop_oneof![Just(0usize), Just(3usize)].prop_flat_map(|target| {
                (Just(target), prop::collection::vec(op(target), 12..=30))
            }),
        ) {
            block_on(async {
                let mut w = World::new(target).await;
                let r = w.run(&ops).await;
                let eur = &r.currencies[&Currency::EUR];
                eprintln!(
                    "copy of {}: {:?}, shortfalls {} (owed {}), recoveries {}",
                    SLOTS[target], w.stats, eur.card_shortfalls, eur.debt_booked, eur.card_recoveries
                );
            });
        }
    }

    /// The clone paths a random run may miss, scripted: the copy and the original
    /// both pay under one payer number (caught at settlement: the shortfall taken as
    /// debt, a later credit from the blocked card refused), an unload beyond what the
    /// bank holds (refused, card blocked), a lost transfer recovered, replays and
    /// forgeries refused.
    #[test]
    fn card_ledger_scripted_clone_paths() {
        block_on(async {
            // The shop's terminal copied: both copies pay out of the same 3000, two
            // pairs of transfers under one payer number each.
            let mut w = World::new(3).await;
            let r = w
                .run(&[
                    Op::Load {
                        slot: 3,
                        amount: 1_000,
                    },
                    Op::Clone,
                    Op::Pay {
                        payer: CLONE,
                        payee: 2,
                        pct: 50,
                        lose: false,
                    },
                    Op::Pay {
                        payer: 3,
                        payee: 0,
                        pct: 50,
                        lose: false,
                    },
                    Op::Pay {
                        payer: CLONE,
                        payee: 1,
                        pct: 50,
                        lose: false,
                    },
                    // 1500 and 750 of the copy's settle; the original's 1500 under
                    // the copy's first number finds 750 left: caught, 750 owed.
                    Op::Sync { slot: 2 },
                    Op::Sync { slot: 1 },
                    Op::Sync { slot: 0 },
                    // The blocked original pays on; its owner cannot cover: refused.
                    Op::Pay {
                        payer: 3,
                        payee: 2,
                        pct: 100,
                        lose: false,
                    },
                    Op::Sync { slot: 2 },
                    Op::Unload {
                        slot: CLONE,
                        pct: 100,
                    },
                    Op::ReplayCredit { pick: 0 },
                    Op::TamperedCredit { pick: 1 },
                    Op::MisdirectedCredit { pick: 0, to: 3 },
                    Op::ForgedCredit {
                        payer: 3,
                        payee: 2,
                        amount: 100,
                        seed: 9,
                    },
                    Op::Unload { slot: 2, pct: 100 },
                    Op::ReplayUnload { pick: 0 },
                    Op::ForgedUnload {
                        slot: 2,
                        amount: 100,
                        seed: 9,
                    },
                ])
                .await;
            let eur = &r.currencies[&Currency::EUR];
            assert_eq!(
                (
                    eur.card_shortfalls,
                    eur.shortfall_from_balance,
                    eur.debt_booked,
                    eur.receivables
                ),
                (750, 0, 750, 750),
                "{r}"
            );
            assert_eq!(
                (
                    w.stats.refused_credits,
                    w.stats.unloads_refused,
                    w.stats.unloads
                ),
                (1, 1, 1),
                "{:?}",
                w.stats
            );
            assert!(w.blocked(3).await);

            // Alice's purse copied: the copy pays bob, the original then unloads
            // everything; a transfer between honest cards is lost and recovered.
            let mut w = World::new(0).await;
            let r = w
                .run(&[
                    Op::Pay {
                        payer: CLONE,
                        payee: 2,
                        pct: 100,
                        lose: false,
                    },
                    Op::Sync { slot: 2 },
                    Op::Unload { slot: 0, pct: 100 },
                    Op::Pay {
                        payer: 2,
                        payee: 3,
                        pct: 50,
                        lose: true,
                    },
                    Op::Sync { slot: 3 },
                    Op::Sync { slot: 2 },
                    Op::Sync { slot: 2 },
                    Op::Load {
                        slot: 1,
                        amount: 500,
                    },
                ])
                .await;
            let eur = &r.currencies[&Currency::EUR];
            assert_eq!(eur.card_recoveries, 2_000, "{r}");
            assert_eq!(
                eur.card_shortfalls, 0,
                "the unload was refused, not paid: {r}"
            );
            assert_eq!(w.stats.unloads_refused, 1, "{:?}", w.stats);
            assert!(w.blocked(0).await && !w.blocked(2).await);
        });
    }
}
