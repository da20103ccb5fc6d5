//! Crash safety of the real binary: a mixed workload (withdraw, swap, deposit)
//! from two wallets while the server is killed with SIGKILL at random moments
//! and restarted, a few times. Each wallet keeps an intent log (at most one
//! operation in flight) and, after a restart, resolves it the way the
//! cyberwallet does: replay withdraw and swap (idempotent), ask coin states
//! for a deposit. Then:
//!
//! - every balance equals what the acknowledged operations imply (no
//!   acknowledged deposit or withdraw lost, nothing applied twice);
//! - every coin from an acknowledged withdraw or swap deposits fine at the end;
//! - `bank-server audit` is clean after every crash.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{ADMIN, audit, start};
use ecash_shared::api::{CoinState, DepositRequest};
use ecash_tests::client::{
    self, Client, ClientError, OwnedCoin, PendingSwap, PendingWithdraw, Wallet,
};

const CYCLES: usize = 5;
const WALLETS: usize = 2;
const START_CREDIT: u64 = 1_000_000;

/// xorshift64*, seeded from the OS and printed, so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn new() -> Self {
        let seed = std::env::var("CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).unwrap();
                u64::from_le_bytes(b) | 1
            });
        eprintln!("crash test seed: CRASH_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An operation sent but not (yet) acknowledged: the wallet's intent log.
#[derive(Clone)]
enum Pending {
    Withdraw(PendingWithdraw),
    Swap(PendingSwap),
    Deposit {
        coins: Vec<OwnedCoin>,
        req: DepositRequest,
    },
}

/// What a wallet knows: its coins, its expected balance, its intent log.
struct Model {
    wallet: Wallet,
    coins: Vec<OwnedCoin>,
    balance: u64,
    pending: Option<Pending>,
    acked: usize,
    rng: Rng,
}

impl Model {
    fn take_coins(&mut self, max: usize) -> Vec<OwnedCoin> {
        let n = 1 + usize::try_from(self.rng.below(max as u64)).unwrap();
        let mut out = Vec::new();
        for _ in 0..n.min(self.coins.len()) {
            let i = usize::try_from(self.rng.below(self.coins.len() as u64)).unwrap();
            out.push(self.coins.swap_remove(i));
        }
        out
    }

    fn next_op(&mut self) -> Pending {
        let roll = self.rng.below(10);
        if self.coins.is_empty() || roll < 4 {
            let amount = 1 + self.rng.below(200);
            assert!(self.balance >= amount);
            Pending::Withdraw(self.wallet.prepare_withdraw(amount))
        } else if roll < 7 {
            let inputs = self.take_coins(3);
            Pending::Swap(self.wallet.prepare_swap(&inputs, None))
        } else {
            let coins = self.take_coins(4);
            let req = self.wallet.deposit_request(&coins);
            Pending::Deposit { coins, req }
        }
    }

    /// Sends the pending operation; applies it when acknowledged.
    async fn send(&mut self) -> Result<(), ClientError> {
        let Some(op) = self.pending.clone() else {
            return Ok(());
        };
        match op {
            Pending::Withdraw(w) => {
                let coins = self.wallet.finish_withdraw(&w).await?;
                self.balance -= client::total(&coins);
                self.coins.extend(coins);
            }
            Pending::Swap(swap) => {
                let coins = self.wallet.finish_swap(&swap).await?;
                self.coins.extend(coins);
            }
            Pending::Deposit { coins, req } => {
                let r = self.wallet.client.deposit_raw(&req).await?;
                assert_eq!(r.credited.minor(), client::total(&coins));
                self.balance += r.credited.minor();
                assert_eq!(
                    r.balance.minor(),
                    self.balance,
                    "deposit answer disagrees with the model"
                );
            }
        }
        self.pending = None;
        self.acked += 1;
        Ok(())
    }

    /// After a restart: finish whatever was in flight.
    async fn resolve(&mut self) {
        if let Some(Pending::Deposit { coins, .. }) = &self.pending {
            let pubs: Vec<_> = coins.iter().map(|c| c.coin.coin_pub).collect();
            let states = self.wallet.client.coin_states(&pubs).await.unwrap();
            if states.iter().all(|s| *s == CoinState::Spent) {
                // It committed before the crash: the credit must be there.
                self.balance += client::total(coins);
                self.pending = None;
                self.acked += 1;
                return;
            }
            assert!(
                states.iter().all(|s| *s == CoinState::Unspent),
                "a deposit was applied partly: {states:?}"
            );
        }
        // Withdraw and swap are idempotent; an uncommitted deposit is resent.
        self.send().await.unwrap();
    }

    /// Runs operations until the server goes away.
    async fn run(mut self) -> Model {
        loop {
            if self.pending.is_none() {
                self.pending = Some(self.next_op());
            }
            match self.send().await {
                Ok(()) => {}
                Err(ClientError::Transport(_)) => return self,
                Err(e) => panic!("{}: unexpected error: {e}", self.wallet.username),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new();
    let mut server = start(dir.path(), &[]);

    let mut models = Vec::new();
    for i in 0..WALLETS {
        let name = format!("wallet{i}");
        let c = Client::new(&server.url);
        c.create_account(&name, "password123").await.unwrap();
        let c = c.login(&name, "password123").await.unwrap();
        c.admin_credit(ADMIN, &name, START_CREDIT).await.unwrap();
        models.push(Model {
            wallet: Wallet::new(c, &name).await.unwrap(),
            coins: Vec::new(),
            balance: START_CREDIT,
            pending: None,
            acked: 0,
            rng: Rng(rng.next() | 1),
        });
    }

    for cycle in 0..CYCLES {
        let tasks: Vec<_> = models.into_iter().map(|m| tokio::spawn(m.run())).collect();
        let delay = 30 + rng.below(300);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.child.kill().unwrap(); // SIGKILL on Unix
        server.child.wait().unwrap();
        models = Vec::new();
        for t in tasks {
            models.push(t.await.unwrap());
        }
        let in_flight = models.iter().filter(|m| m.pending.is_some()).count();
        eprintln!("cycle {cycle}: killed after {delay} ms, {in_flight} operation(s) in flight");

        audit(dir.path());
        server = start(dir.path(), &[]);
        for m in &mut models {
            m.wallet.client = m.wallet.client.with_base(&server.url);
            m.resolve().await;
            let balance = m.wallet.client.balance().await.unwrap().minor();
            assert_eq!(
                balance, m.balance,
                "{} after cycle {cycle}",
                m.wallet.username
            );
        }
    }

    // Every coin ever acknowledged is good money: deposit them all.
    let mut acked = 0;
    for m in &mut models {
        acked += m.acked;
        for chunk in m.coins.chunks(100) {
            m.wallet.deposit(chunk).await.unwrap();
        }
        let balance = m.wallet.client.balance().await.unwrap().minor();
        assert_eq!(
            balance, START_CREDIT,
            "{}: all money back",
            m.wallet.username
        );
    }
    assert!(acked > 0, "the workload did something");
    drop(server);
    let report = audit(dir.path());
    eprintln!("{acked} acknowledged operations\n{report}");
}
