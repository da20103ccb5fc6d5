//! Electronic purse cards against the bank: two virtual purses (a customer's and a
//! shop terminal) are certified, loaded from an account (a retried load gets the
//! same authorization and debits once), pay each other offline, and unload back to
//! the bank (credited once; a different proof under a used number — a cloned card —
//! is refused). Every refusal has its documented code and changes nothing; the audit
//! balances with the value on cards throughout.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_card::Mode;
use ecash_card::api::{IssuerInfo, LoadRequest, LoadResponse, UnloadRequest, UnloadResponse};
use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_shared::api::LedgerKind;
use ecash_shared::{Amount, Currency, ErrorCode};
use ecash_tests::cards::{
    balance, card_path, cloned_terminal, issue, load, load_request, pay, two_purses, unload_proof,
};
use ecash_tests::client::{Client, expect_code};
use ecash_tests::server::TestBank;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certify_load_transfer_unload() {
    let (bank, alice, shop, mut personal, mut terminal) = two_purses(1000).await;
    assert_ne!(
        personal.cert().unwrap().card_id,
        terminal.cert().unwrap().card_id
    );
    bank.assert_audit_clean();

    // Load 300: the account is debited once, a retry answers the same authorization.
    let seq = personal.status().await.unwrap().next_load_seq;
    let req = load_request(300, seq);
    let first: LoadResponse = alice
        .client
        .post(&card_path(&personal, "loads"), &req)
        .await
        .unwrap();
    let retry: LoadResponse = alice
        .client
        .post(&card_path(&personal, "loads"), &req)
        .await
        .unwrap();
    assert_eq!(first, retry);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 700);
    personal.load(&first.auth).await.unwrap();
    assert_eq!(balance(&mut personal).await, 300);
    // After the card took it, the same number again is still the stored answer
    // (and the card refuses to load it twice).
    let late: LoadResponse = alice
        .client
        .post(&card_path(&personal, "loads"), &req)
        .await
        .unwrap();
    assert_eq!(late, first);
    assert!(personal.load(&late.auth).await.is_err());
    assert_eq!(balance(&mut personal).await, 300);
    let h = alice.client.history(None, None).await.unwrap();
    assert_eq!(
        (
            h.entries[0].kind,
            h.entries[0].credit,
            h.entries[0].amount.minor()
        ),
        (LedgerKind::CardLoad, false, 300)
    );
    let r = bank.assert_audit_clean();
    let eur = &r.currencies[&Currency::EUR];
    assert_eq!((eur.card_loads, eur.card_unloads), (300, 0));
    assert_eq!(eur.card_value_outstanding(), 300);

    // A second load takes the next number.
    load(&mut personal, &alice.client, 50).await;
    assert_eq!(balance(&mut personal).await, 350);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 650);

    // Offline: personal pays the terminal 120; the bank sees nothing.
    pay(&mut personal, &mut terminal, 120).await.unwrap();
    assert_eq!(balance(&mut personal).await, 230);
    assert_eq!(balance(&mut terminal).await, 120);
    bank.assert_audit_clean();

    // The terminal unloads 100 to the shop's account: credited once.
    let proof = unload_proof(&mut terminal, "shop", 100).await;
    let body = UnloadRequest {
        proof: proof.clone(),
    };
    // Not to alice, who is not the proof's destination.
    expect_code(
        alice
            .client
            .post::<_, UnloadResponse>(&card_path(&terminal, "unloads"), &body)
            .await,
        ErrorCode::Forbidden,
    );
    let r: UnloadResponse = shop
        .client
        .post(&card_path(&terminal, "unloads"), &body)
        .await
        .unwrap();
    assert_eq!(
        (r.amount.minor(), r.unload_seq, r.card_id),
        (100, proof.body.unload_seq, proof.body.card_id)
    );
    assert_eq!(shop.client.balance().await.unwrap().minor(), 100);
    // The same proof again: the same answer, nothing more credited.
    let again: UnloadResponse = shop
        .client
        .post(&card_path(&terminal, "unloads"), &body)
        .await
        .unwrap();
    assert_eq!(again, r);
    assert_eq!(shop.client.balance().await.unwrap().minor(), 100);
    let h = shop.client.history(None, None).await.unwrap();
    assert_eq!(h.entries.len(), 1);
    assert_eq!(
        (h.entries[0].kind, h.entries[0].credit),
        (LedgerKind::CardUnload, true)
    );

    // The customer unloads the rest of her purse to her own account.
    let proof = unload_proof(&mut personal, "alice", 230).await;
    let r: UnloadResponse = alice
        .client
        .post(&card_path(&personal, "unloads"), &UnloadRequest { proof })
        .await
        .unwrap();
    assert_eq!(r.amount.minor(), 230);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 880);
    assert_eq!(balance(&mut personal).await, 0);

    let r = bank.assert_audit_clean();
    let eur = &r.currencies[&Currency::EUR];
    assert_eq!((eur.card_loads, eur.card_unloads), (350, 330));
    assert_eq!(eur.card_value_outstanding(), 20, "still on the terminal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloned_card_is_refused() {
    // A terminal loaded with 200, and a copy of its key and state in another slot.
    let (bank, shop, mut terminal, mut clone) = cloned_terminal(200).await;

    let proof = unload_proof(&mut terminal, "shop", 150).await;
    let copy = unload_proof(&mut clone, "shop", 120).await;
    assert_eq!(proof.body.unload_seq, copy.body.unload_seq);
    let path = card_path(&terminal, "unloads");
    let _: UnloadResponse = shop
        .client
        .post(&path, &UnloadRequest { proof })
        .await
        .unwrap();
    expect_code(
        shop.client
            .post::<_, UnloadResponse>(&path, &UnloadRequest { proof: copy })
            .await,
        ErrorCode::IdempotencyConflict,
    );
    assert_eq!(shop.client.balance().await.unwrap().minor(), 800 + 150);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_changes_nothing() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 100).await;
    let bob = bank.user("bob", 100).await;
    let reader = VirtualReader::new();
    let mut purse = issue(&reader, "personal", &alice.client, Mode::Personal).await;
    let loads = card_path(&purse, "loads");
    let unloads = card_path(&purse, "unloads");
    let post_load = |c: &Client, path: &str, r: LoadRequest| {
        let c = c.clone();
        let path = path.to_owned();
        async move { c.post::<_, LoadResponse>(&path, &r).await }
    };

    // No token; another account's card; unknown or malformed card ids.
    expect_code(
        post_load(&bank.client(), &loads, load_request(10, 1)).await,
        ErrorCode::Unauthorized,
    );
    expect_code(
        post_load(&bob.client, &loads, load_request(10, 1)).await,
        ErrorCode::Forbidden,
    );
    expect_code(
        post_load(
            &alice.client,
            "/v1/cards/0000000000000000/loads",
            load_request(10, 1),
        )
        .await,
        ErrorCode::NotFound,
    );
    expect_code(
        post_load(&alice.client, "/v1/cards/xyz/loads", load_request(10, 1)).await,
        ErrorCode::NotFound,
    );
    // Zero, above the virtual card's cap, more than the balance.
    expect_code(
        post_load(&alice.client, &loads, load_request(0, 1)).await,
        ErrorCode::InvalidAmount,
    );
    expect_code(
        post_load(&alice.client, &loads, load_request(1_000_000, 1)).await,
        ErrorCode::InvalidAmount,
    );
    expect_code(
        post_load(&alice.client, &loads, load_request(101, 1)).await,
        ErrorCode::InsufficientFunds,
    );
    // Not the card's next number.
    expect_code(
        post_load(&alice.client, &loads, load_request(10, 2)).await,
        ErrorCode::BadRequest,
    );
    expect_code(
        post_load(&alice.client, &loads, load_request(10, 0)).await,
        ErrorCode::BadRequest,
    );
    // Bad bodies.
    let raw = alice
        .client
        .raw(
            "POST",
            &loads,
            &[("content-type", "application/json")],
            Some(br#"{"amount":10,"load_seq":1,"extra":true}"#.to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 400);
    let raw = alice
        .client
        .raw(
            "POST",
            "/v1/cards",
            &[("content-type", "application/json")],
            Some(br#"{"card_pub":"00","mode":"personal"}"#.to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 400);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 100);
    assert_eq!(
        bank.assert_audit_clean().currencies[&Currency::EUR].card_loads,
        0
    );

    // A stored number with another amount.
    load(&mut purse, &alice.client, 40).await;
    expect_code(
        post_load(&alice.client, &loads, load_request(41, 1)).await,
        ErrorCode::IdempotencyConflict,
    );
    assert_eq!(alice.client.balance().await.unwrap().minor(), 60);

    // Unloads: the proof of this card to another card's path, a forged signature.
    let mut proof = unload_proof(&mut purse, "alice", 10).await;
    let other = issue(&reader, "other", &alice.client, Mode::Personal).await;
    expect_code(
        alice
            .client
            .post::<_, UnloadResponse>(
                &card_path(&other, "unloads"),
                &UnloadRequest {
                    proof: proof.clone(),
                },
            )
            .await,
        ErrorCode::BadRequest,
    );
    let good = proof.clone();
    proof.body.amount = Amount::from_minor(11);
    expect_code(
        alice
            .client
            .post::<_, UnloadResponse>(&unloads, &UnloadRequest { proof })
            .await,
        ErrorCode::BadRequest,
    );
    assert_eq!(alice.client.balance().await.unwrap().minor(), 60);
    bank.assert_audit_clean();
    let _: UnloadResponse = alice
        .client
        .post(&unloads, &UnloadRequest { proof: good })
        .await
        .unwrap();
    assert_eq!(alice.client.balance().await.unwrap().minor(), 70);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_key_added_to_an_old_key_file_and_kept() {
    // This option writes a key file as before cards (no card issuer key).
    let bank = TestBank::start_with(ecash_tests::server::Options {
        expired_keysets: true,
        ..Default::default()
    })
    .await;
    let before: IssuerInfo = bank.client().get("/v1/cards/issuer").await.unwrap();
    let bank = bank.restart().await;
    let after: IssuerInfo = bank.client().get("/v1/cards/issuer").await.unwrap();
    assert_eq!(before, after);
    // The older keys are still there.
    assert!(bank.expired.is_some());
    let keys = bank.client().keys().await.unwrap();
    assert!(!keys.keysets.is_empty());
}
