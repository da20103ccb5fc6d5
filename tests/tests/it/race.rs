//! Double spending under concurrency: for each of 10 coins, 64 requests that
//! spend it (deposits and swaps mixed, all different) are sent at once.
//! Exactly one per coin succeeds; the others get `COIN_ALREADY_SPENT`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::ErrorCode;
use ecash_shared::api::CoinState;
use ecash_tests::client::{ClientError, total};
use ecash_tests::server::TestBank;

const COINS: usize = 10;
const REQUESTS_PER_COIN: usize = 64;

enum Attempt {
    Deposit(ecash_shared::api::DepositRequest),
    Swap(ecash_tests::client::PendingSwap),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_spends_of_one_coin_one_wins() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 1000).await;
    let coins = alice.withdraw_values(&[16; COINS]).await.unwrap();
    let mut attempts = Vec::new();
    for (i, coin) in coins.iter().enumerate() {
        for j in 0..REQUESTS_PER_COIN {
            let a = if j % 2 == 0 {
                Attempt::Deposit(alice.deposit_request(std::slice::from_ref(coin)))
            } else {
                // Each swap has fresh outputs, so no two are identical.
                Attempt::Swap(alice.prepare_swap(std::slice::from_ref(coin), None))
            };
            attempts.push((i, a));
        }
    }

    let mut set = tokio::task::JoinSet::new();
    for (i, a) in attempts {
        let w = alice.clone();
        set.spawn(async move {
            let r: Result<u64, ClientError> = match &a {
                Attempt::Deposit(req) => {
                    w.client.deposit_raw(req).await.map(|d| d.credited.minor())
                }
                Attempt::Swap(s) => w.finish_swap(s).await.map(|_| 0),
            };
            (i, matches!(a, Attempt::Deposit(_)), r)
        });
    }
    let mut wins = vec![0usize; coins.len()];
    let mut deposited = 0u64;
    while let Some(res) = set.join_next().await {
        let (i, is_deposit, r) = res.unwrap();
        match r {
            Ok(credited) => {
                wins[i] += 1;
                if is_deposit {
                    deposited += credited;
                }
            }
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::CoinAlreadySpent), "{e}"),
        }
    }
    assert!(wins.iter().all(|&w| w == 1), "wins per coin: {wins:?}");

    let states = alice
        .client
        .coin_states(&coins.iter().map(|c| c.coin.coin_pub).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(states.iter().all(|s| *s == CoinState::Spent));
    let expected = 1000 - total(&coins) + deposited;
    assert_eq!(alice.client.balance().await.unwrap().minor(), expected);
    let report = bank.assert_audit_clean();
    assert_eq!(report.spent_coins, coins.len());
}
