//! The authorization matrix: no request reads or moves another account's
//! money; bad, foreign or expired tokens get 401; the operator endpoint needs
//! the operator token.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bank_server::auth::token_hash;
use ecash_shared::ErrorCode;
use ecash_shared::api::LedgerKind;
use ecash_shared::encoding::Timestamp;
use ecash_tests::client::{Client, expect_code, now};
use ecash_tests::server::TestBank;

fn body(v: serde_json::Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&v).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_refuse_missing_bad_foreign_and_expired_tokens() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 100).await;
    let coins = alice.withdraw(10).await.unwrap();
    let w = alice.prepare_withdraw(5);
    let deposit = alice.deposit_request(&coins);

    // An expired session of alice's.
    let alice_id = bank
        .bank
        .storage
        .account_by_username("alice")
        .unwrap()
        .unwrap()
        .id;
    let past = Timestamp::from_unix(now().unix() - 10);
    bank.bank
        .storage
        .create_session(
            &token_hash("expired-token"),
            alice_id,
            past,
            Timestamp::from_unix(0),
        )
        .unwrap();
    let alice_token = alice.client.token.clone().unwrap();

    let before = bank.audit();
    let requests: Vec<(&str, &str, Option<Vec<u8>>)> = vec![
        ("GET", "/v1/accounts/me", None),
        ("GET", "/v1/accounts/me/history", None),
        (
            "POST",
            "/v1/accounts/me/payout",
            body(serde_json::json!({"amount": 1, "iban": "DE89370400440532013000"})),
        ),
        (
            "POST",
            "/v1/withdraw",
            Some(serde_json::to_vec(&w.request).unwrap()),
        ),
        (
            "POST",
            "/v1/deposit",
            Some(serde_json::to_vec(&deposit).unwrap()),
        ),
    ];
    let bad_auth: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        (
            "garbage token",
            Some("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
        ),
        ("empty bearer", Some("Bearer ".into())),
        ("wrong scheme", Some(format!("Basic {alice_token}"))),
        ("token without scheme", Some(alice_token.clone())),
        (
            "operator token",
            Some(format!("Bearer {}", bank.admin_token)),
        ),
        ("expired token", Some("Bearer expired-token".into())),
        ("huge header", Some(format!("Bearer {}", "A".repeat(5000)))),
    ];
    let c = Client::new(&bank.url);
    for (method, path, b) in &requests {
        for (what, auth) in &bad_auth {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(a) = auth {
                headers.push(("authorization", a.as_str()));
            }
            let r = c.raw(method, path, &headers, b.clone()).await.unwrap();
            assert_eq!(
                (r.status, r.code()),
                (401, Some("UNAUTHORIZED")),
                "{method} {path} with {what}: {:?}",
                r.body
            );
        }
    }
    // Auth is checked before the body is looked at.
    let r = c
        .raw(
            "POST",
            "/v1/withdraw",
            &[("content-type", "application/json")],
            Some(b"{not json".to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), Some("UNAUTHORIZED"));
    assert_eq!(bank.audit(), before, "nothing moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_account_reads_or_moves_another_accounts_money() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 500).await;
    let bob = bank.user("bob", 200).await;

    // Each sees only itself.
    assert_eq!(alice.client.me().await.unwrap().username, "alice");
    assert_eq!(bob.client.me().await.unwrap().username, "bob");

    // Alice withdraws; only she is debited.
    let w = alice.prepare_withdraw(100);
    let alice_sigs = alice.client.withdraw_raw(&w.request).await.unwrap();
    let alice_coins = w.planchets.finish(&alice_sigs).unwrap();
    assert_eq!(alice.client.balance().await.unwrap().minor(), 400);
    assert_eq!(bob.client.balance().await.unwrap().minor(), 200);

    // Bob replays Alice's withdraw request: idempotency keys are per account,
    // so this is Bob's own withdrawal, paid by Bob.
    bob.client.withdraw_raw(&w.request).await.unwrap();
    assert_eq!(bob.client.balance().await.unwrap().minor(), 100);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 400);

    // Coins signed for a deposit to Alice cannot be deposited by Bob.
    let for_alice = alice.deposit_request(&alice_coins);
    expect_code(
        bob.client.deposit_raw(&for_alice).await,
        ErrorCode::BadCoinSignature,
    );
    assert_eq!(bob.client.balance().await.unwrap().minor(), 100);

    // Bob's payout moves only Bob's money, and Bob cannot pay out Alice's.
    expect_code(
        bob.client.payout(150, "DE89370400440532013000").await,
        ErrorCode::InsufficientFunds,
    );
    bob.client
        .payout(50, "DE89370400440532013000")
        .await
        .unwrap();
    assert_eq!(alice.client.balance().await.unwrap().minor(), 400);

    // Histories are separate.
    let ha = alice.client.history(None, None).await.unwrap();
    let hb = bob.client.history(None, None).await.unwrap();
    assert_eq!(ha.entries.len(), 2);
    assert_eq!(hb.entries.len(), 3);
    assert!(ha.entries.iter().all(|e| e.kind != LedgerKind::Payout));
    let ids_a: Vec<i64> = ha.entries.iter().map(|e| e.id).collect();
    assert!(hb.entries.iter().all(|e| !ids_a.contains(&e.id)));

    // Only the operator credits accounts.
    let bob_token = bob.client.token.clone().unwrap();
    expect_code(
        bob.client.admin_credit(&bob_token, "bob", 1000).await,
        ErrorCode::Forbidden,
    );
    let anon = bank.client();
    let r = anon
        .raw(
            "POST",
            "/v1/admin/credit",
            &[("content-type", "application/json")],
            body(serde_json::json!({"username": "bob", "amount": 1000})),
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.code()), (401, Some("UNAUTHORIZED")));
    expect_code(
        anon.admin_credit("not-the-token", "bob", 1000).await,
        ErrorCode::Forbidden,
    );
    assert_eq!(bob.client.balance().await.unwrap().minor(), 50);

    // Alice's coins are still hers: she deposits them.
    assert_eq!(
        alice.deposit(&alice_coins).await.unwrap().balance.minor(),
        500
    );
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_account_rules() {
    let bank = TestBank::start().await;
    let c = bank.client();
    c.create_account("carol", "password123").await.unwrap();
    expect_code(
        c.create_account("carol", "another-password").await,
        ErrorCode::UsernameTaken,
    );
    expect_code(
        c.login("carol", "wrong-password").await,
        ErrorCode::InvalidCredentials,
    );
    expect_code(
        c.login("nobody", "password123").await,
        ErrorCode::InvalidCredentials,
    );
    expect_code(
        c.create_account("Carol!", "password123").await,
        ErrorCode::InvalidUsername,
    );
    expect_code(
        c.create_account("dave", "short").await,
        ErrorCode::WeakPassword,
    );
    // Two logins, two working tokens.
    let t1 = c.login("carol", "password123").await.unwrap();
    let t2 = c.login("carol", "password123").await.unwrap();
    assert_ne!(t1.token, t2.token);
    assert_eq!(t1.me().await.unwrap().username, "carol");
    assert_eq!(t2.me().await.unwrap().username, "carol");
}
