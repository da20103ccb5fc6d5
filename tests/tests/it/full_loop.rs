//! The whole money loop over HTTP: open an account, wire in, withdraw, swap,
//! deposit, ask coin states, pay out, read the history, and a clean audit.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::api::{CoinState, LedgerKind};
use ecash_shared::{Amount, COIN_SCHEME, Currency, ErrorCode};
use ecash_tests::client::{expect_code, total};
use ecash_tests::server::TestBank;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_money_loop() {
    let bank = TestBank::start().await;
    let client = bank.client();

    let health: serde_json::Value = client.get("/v1/health").await.unwrap();
    assert_eq!(health["status"], "ok");

    // Keys: 1, 2, 4, …, 64 and the receipt key.
    let keys = client.keys().await.unwrap();
    assert_eq!(keys.currency, Currency::EUR);
    let values: Vec<u64> = keys.keysets.iter().map(|k| k.value.minor()).collect();
    assert_eq!(values, vec![1, 2, 4, 8, 16, 32, 64]);
    assert!(keys.keysets.iter().all(|k| k.scheme == COIN_SCHEME));
    assert_eq!(
        keys.receipt_key,
        bank.bank.keys.receipt_key().verifying_key().to_bytes()
    );

    // Account and wire in.
    let alice = bank.user("alice", 0).await;
    let me = alice.client.me().await.unwrap();
    assert_eq!(
        (me.username.as_str(), me.balance, me.currency, me.merchant),
        ("alice", Amount::ZERO, Currency::EUR, false)
    );
    let balance = alice
        .client
        .admin_credit(&bank.admin_token, "alice", 1000)
        .await
        .unwrap();
    assert_eq!(balance.minor(), 1000);

    // Withdraw 300 = 4×64 + 32 + 8 + 4.
    let coins = alice.withdraw(300).await.unwrap();
    assert_eq!(total(&coins), 300);
    assert_eq!(coins.len(), 7);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 700);

    // Swap one 64 into 32 + 16 + 8 + 8.
    let big = coins.iter().position(|c| c.value.minor() == 64).unwrap();
    let change = alice
        .swap(&coins[big..=big], Some(&[32, 16, 8, 8]))
        .await
        .unwrap();
    assert_eq!(total(&change), 64);
    assert_eq!(
        alice.client.balance().await.unwrap().minor(),
        700,
        "a swap moves no account money"
    );

    // States: the swapped input is spent, the rest unspent.
    let mut pubs = vec![coins[big].coin.coin_pub];
    pubs.extend(change.iter().map(|c| c.coin.coin_pub));
    let states = alice.client.coin_states(&pubs).await.unwrap();
    assert_eq!(states[0], CoinState::Spent);
    assert!(states[1..].iter().all(|s| *s == CoinState::Unspent));

    // Spending the swapped coin again fails.
    expect_code(
        alice.deposit(&coins[big..=big]).await,
        ErrorCode::CoinAlreadySpent,
    );

    // Deposit everything left: 236 + 64.
    let mut wallet: Vec<_> = coins
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != big)
        .map(|(_, c)| c.clone())
        .collect();
    wallet.extend(change);
    let dep = alice.deposit(&wallet).await.unwrap();
    assert_eq!(dep.credited.minor(), 300);
    assert_eq!(dep.balance.minor(), 1000);
    let states = alice
        .client
        .coin_states(&wallet.iter().map(|c| c.coin.coin_pub).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(states.iter().all(|s| *s == CoinState::Spent));

    // Pay out.
    let after = alice
        .client
        .payout(250, "DE89 3704 0044 0532 0130 00")
        .await
        .unwrap();
    assert_eq!(after.minor(), 750);
    expect_code(
        alice.client.payout(10, "DE89 3704 0044 0532 0130 01").await,
        ErrorCode::InvalidIban,
    );
    expect_code(
        alice.client.payout(751, "DE89370400440532013000").await,
        ErrorCode::InsufficientFunds,
    );

    // History, newest first, paginated.
    let h = alice.client.history(None, None).await.unwrap();
    let kinds: Vec<(LedgerKind, bool, u64)> = h
        .entries
        .iter()
        .map(|e| (e.kind, e.credit, e.amount.minor()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (LedgerKind::Payout, false, 250),
            (LedgerKind::Deposit, true, 300),
            (LedgerKind::Withdraw, false, 300),
            (LedgerKind::Credit, true, 1000),
        ]
    );
    assert_eq!(h.entries[0].balance_after.minor(), 750);
    assert!(h.entries[0].memo.contains("DE89"), "{}", h.entries[0].memo);
    assert!(!h.entries[0].memo.contains("0532"), "IBAN masked");
    assert_eq!(h.next_before, None);
    let p1 = alice.client.history(Some(2), None).await.unwrap();
    assert_eq!(p1.entries.len(), 2);
    let p2 = alice.client.history(Some(2), p1.next_before).await.unwrap();
    assert_eq!(p2.entries.len(), 2);
    assert_eq!(p2.next_before, None, "last page");
    assert_eq!(
        p1.entries.into_iter().chain(p2.entries).collect::<Vec<_>>(),
        h.entries
    );

    // The books.
    let report = bank.assert_audit_clean();
    let eur = &report.currencies[&Currency::EUR];
    assert_eq!(eur.wired_in, 1000);
    assert_eq!(eur.wired_out, 250);
    assert_eq!(eur.balances, 750);
    assert_eq!(eur.coins_signed, 300 + 64);
    assert_eq!(eur.coins_spent, 300 + 64);
    assert_eq!(report.spent_coins, 7 + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_survive_a_restart_and_the_key_file_is_private() {
    let bank = TestBank::start().await;
    let before = bank.client().keys().await.unwrap();
    let alice = bank.user("alice", 100).await;
    let coins = alice.withdraw(100).await.unwrap();
    let key_file = bank.dir.path().join("bank.keys.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let bank = bank.restart().await;
    let after = bank.client().keys().await.unwrap();
    assert_eq!(before, after, "same keys after restart");
    // Coins from before the restart deposit fine; the login survived too.
    let alice =
        ecash_tests::client::Wallet::new(alice.client.clone().with_base(&bank.url), "alice")
            .await
            .unwrap();
    assert_eq!(alice.deposit(&coins).await.unwrap().balance.minor(), 100);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_rotation_old_coins_still_deposit_and_new_coins_use_new_keys() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 300).await;
    let old_coins = alice.withdraw(100).await.unwrap();
    let old_w = alice.prepare_withdraw(8);

    let config = (*bank.bank.config).clone();
    let storage = std::sync::Arc::clone(&bank.bank.storage);
    let fresh = tokio::task::spawn_blocking(move || {
        bank_server::keys::rotate(&config, &*storage, bank_server::now())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(fresh.len(), 7);
    let bank = bank.restart().await;

    let keys = bank.client().keys().await.unwrap();
    assert_eq!(
        keys.keysets.len(),
        14,
        "old keysets listed until deposit_until"
    );
    let alice = ecash_tests::client::Wallet::new(alice.client.with_base(&bank.url), "alice")
        .await
        .unwrap();
    // Blinded for an old keyset: refused now.
    expect_code(
        alice.client.withdraw_raw(&old_w.request).await,
        ErrorCode::KeysetExpired,
    );
    // New withdrawals use the new keys.
    let new_coins = alice.withdraw(100).await.unwrap();
    let fresh_ids: Vec<_> = fresh.iter().map(|k| k.id).collect();
    assert!(
        new_coins
            .iter()
            .all(|c| fresh_ids.contains(&c.coin.keyset_id))
    );
    // Old coins swap into new ones and deposit.
    let swapped = alice.swap(&old_coins[..1], None).await.unwrap();
    assert!(
        swapped
            .iter()
            .all(|c| fresh_ids.contains(&c.coin.keyset_id))
    );
    alice.deposit(&old_coins[1..]).await.unwrap();
    alice.deposit(&swapped).await.unwrap();
    alice.deposit(&new_coins).await.unwrap();
    assert_eq!(alice.client.balance().await.unwrap().minor(), 300);
    bank.assert_audit_clean();
}
