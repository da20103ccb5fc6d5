//! Replays: a withdraw or swap sent again (a wallet that lost the answer) gets
//! the same signatures and moves no money twice; a reused key with another
//! body is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::ErrorCode;
use ecash_shared::api::{LedgerKind, WithdrawRequest};
use ecash_tests::client::{expect_code, total};
use ecash_tests::server::TestBank;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdraw_replay_returns_same_signatures_and_debits_once() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 500).await;
    let w = alice.prepare_withdraw(100);

    let first = alice.client.withdraw_raw(&w.request).await.unwrap();
    let second = alice.client.withdraw_raw(&w.request).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 400);

    // Concurrent replays too.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (c, r) = (alice.client.clone(), w.request.clone());
        set.spawn(async move { c.withdraw_raw(&r).await.unwrap() });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap(), first);
    }
    assert_eq!(alice.client.balance().await.unwrap().minor(), 400);

    // The signatures make good coins.
    let coins = w.planchets.finish(&first).unwrap();
    assert_eq!(total(&coins), 100);

    // Same request_id, another body: conflict, nothing debited.
    let other = alice.prepare_withdraw(50);
    let conflicting = WithdrawRequest {
        request_id: w.request.request_id.clone(),
        coins: other.request.coins.clone(),
    };
    expect_code(
        alice.client.withdraw_raw(&conflicting).await,
        ErrorCode::IdempotencyConflict,
    );
    // Same coins reordered is another body as well.
    let mut reordered = w.request.clone();
    reordered.coins.reverse();
    if reordered.coins != w.request.coins {
        expect_code(
            alice.client.withdraw_raw(&reordered).await,
            ErrorCode::IdempotencyConflict,
        );
    }
    assert_eq!(alice.client.balance().await.unwrap().minor(), 400);

    let h = alice.client.history(None, None).await.unwrap();
    let withdraws = h
        .entries
        .iter()
        .filter(|e| e.kind == LedgerKind::Withdraw)
        .count();
    assert_eq!(withdraws, 1);
    let report = bank.assert_audit_clean();
    assert_eq!(
        report.currencies[&ecash_shared::Currency::EUR].coins_signed,
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_withdraws_with_one_key_debit_once() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 500).await;
    let w = alice.prepare_withdraw(100);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (c, r) = (alice.client.clone(), w.request.clone());
        set.spawn(async move { c.withdraw_raw(&r).await.unwrap() });
    }
    let mut answers = Vec::new();
    while let Some(r) = set.join_next().await {
        answers.push(r.unwrap());
    }
    assert!(answers.windows(2).all(|p| p[0] == p[1]));
    assert_eq!(alice.client.balance().await.unwrap().minor(), 400);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_replay_recovers_the_signatures() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 500).await;
    let coins = alice.withdraw_values(&[64, 32]).await.unwrap();
    let s = alice.prepare_swap(&coins, Some(&[32, 32, 16, 8, 8]));

    let first = alice.client.swap_raw(&s.request).await.unwrap();
    // The answer was "lost": the identical request again.
    let second = alice.client.swap_raw(&s.request).await.unwrap();
    assert_eq!(first, second);
    let fresh = s.planchets.finish(&second).unwrap();
    assert_eq!(total(&fresh), 96);

    // Any other use of the inputs is a double spend.
    let other = alice.prepare_swap(&coins, Some(&[64, 32]));
    expect_code(
        alice.client.swap_raw(&other.request).await,
        ErrorCode::CoinAlreadySpent,
    );
    let one = alice.prepare_swap(&coins[..1], None);
    expect_code(
        alice.client.swap_raw(&one.request).await,
        ErrorCode::CoinAlreadySpent,
    );
    expect_code(alice.deposit(&coins).await, ErrorCode::CoinAlreadySpent);

    // Signed once only.
    let report = bank.assert_audit_clean();
    let eur = &report.currencies[&ecash_shared::Currency::EUR];
    assert_eq!(eur.coins_signed, 96 + 96);
    assert_eq!(eur.coins_spent, 96);

    // And the fresh coins are good money.
    assert_eq!(alice.deposit(&fresh).await.unwrap().balance.minor(), 500);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_is_not_replayable() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 100).await;
    let coins = alice.withdraw(100).await.unwrap();
    let req = alice.deposit_request(&coins);
    alice.client.deposit_raw(&req).await.unwrap();
    expect_code(
        alice.client.deposit_raw(&req).await,
        ErrorCode::CoinAlreadySpent,
    );
    assert_eq!(alice.client.balance().await.unwrap().minor(), 100);
    bank.assert_audit_clean();
}
