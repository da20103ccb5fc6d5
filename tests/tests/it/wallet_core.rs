//! The cyberwallet's own logic (`ecash_wallet`, the code the browser runs)
//! against a real bank-server: the whole flow, and a crash injected at every
//! await point of withdraw, swap (change), receive and deposit, in both
//! flavours (request never sent; request handled but the answer lost). After
//! each crash a fresh wallet on the same storage resumes, and the total value
//! (wallet coins + bank accounts + tokens in flight) is exactly what it was.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::Amount;
use ecash_shared::api::Credentials;
use ecash_tests::server::TestBank;
use ecash_tests::wallet_transport::ReqwestTransport;
use ecash_wallet::faults::{FaultPlan, FaultyStorage, FaultyTransport};
use ecash_wallet::model::HistoryKind;
use ecash_wallet::wallet::Session;
use ecash_wallet::{MemoryStorage, Wallet, WalletError};

type Plain = Wallet<MemoryStorage, ReqwestTransport>;
type Faulty = Wallet<FaultyStorage<MemoryStorage>, FaultyTransport<ReqwestTransport>>;

fn a(v: u64) -> Amount {
    Amount::from_minor(v)
}

/// Opens an account with `credit` and returns its session.
async fn account(bank: &TestBank, name: &str, credit: u64) -> Session {
    let w = Plain::new(MemoryStorage::new(), ReqwestTransport::new(&bank.url));
    let creds = Credentials {
        username: name.into(),
        password: "password123".into(),
        merchant: false,
    };
    w.client().register(&creds).await.unwrap();
    let login = w.client().login(&creds).await.unwrap();
    if credit > 0 {
        bank.client()
            .admin_credit(&bank.admin_token, name, credit)
            .await
            .unwrap();
    }
    Session {
        username: name.into(),
        token: login.token,
    }
}

fn plain(bank: &TestBank, storage: &MemoryStorage, session: &Session) -> Plain {
    let w = Wallet::new(storage.clone(), ReqwestTransport::new(&bank.url));
    w.set_session(Some(session.clone()));
    w
}

fn faulty(
    bank: &TestBank,
    storage: &MemoryStorage,
    session: &Session,
    plan: &std::rc::Rc<FaultPlan>,
) -> Faulty {
    let w = Wallet::new(
        FaultyStorage::new(storage.clone(), plan.clone()),
        FaultyTransport::new(ReqwestTransport::new(&bank.url), plan.clone()),
    );
    w.set_session(Some(session.clone()));
    w
}

async fn account_balance(w: &Plain) -> Amount {
    let s = w.session().unwrap();
    w.client().account(&s.token).await.unwrap().balance
}

/// Wallet coins (reserved included) + the account's balance.
async fn total(w: &Plain) -> Amount {
    w.total_value()
        .await
        .unwrap()
        .checked_add(account_balance(w).await)
        .unwrap()
}

/// Resumes until nothing is pending (a resume can itself only fail on the network).
async fn resume_all(w: &Plain) {
    for r in w.resume().await.unwrap() {
        r.result
            .unwrap_or_else(|e| panic!("resume of {} failed: {e}", r.id));
    }
    assert!(
        w.pending().await.unwrap().is_empty(),
        "nothing pending after resume"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_flow_with_the_wallet_logic() {
    let bank = TestBank::start().await;
    let alice = account(&bank, "alice", 1000).await;
    let bob = account(&bank, "bob", 0).await;
    let (sa, sb) = (MemoryStorage::new(), MemoryStorage::new());
    let wa = plain(&bank, &sa, &alice);
    let wb = plain(&bank, &sb, &bob);

    // Empty wallet.
    assert_eq!(wa.balance().await.unwrap(), Amount::ZERO);
    assert!(matches!(
        wa.send(a(1)).await,
        Err(WalletError::InsufficientCoins(_))
    ));

    // Withdraw 300 (binary split of 300 = 256? no: max coin 64 here → 4×64 + 32 + 8 + 4).
    let progress = std::cell::RefCell::new(Vec::new());
    wa.withdraw(a(300), &|p| progress.borrow_mut().push(p))
        .await
        .unwrap();
    assert!(!progress.borrow().is_empty());
    assert_eq!(wa.balance().await.unwrap(), a(300));
    assert_eq!(account_balance(&wa).await, a(700));

    // Too much: the bank refuses, nothing pending, nothing lost.
    let err = wa.withdraw(a(5000), &|_| {}).await.unwrap_err();
    assert_eq!(err.code(), Some(ecash_shared::ErrorCode::InsufficientFunds));
    assert!(wa.pending().await.unwrap().is_empty());

    // Send 37 (needs change: a swap first), Bob receives.
    let token = wa.send(a(37)).await.unwrap();
    assert_eq!(wa.balance().await.unwrap(), a(263));
    assert_eq!(wb.receive(&token).await.unwrap(), a(37));
    assert_eq!(wb.balance().await.unwrap(), a(37));
    // The same token cannot be received twice, or reclaimed by the sender.
    let again = wb.receive(&token).await.unwrap_err();
    assert_eq!(
        again.code(),
        Some(ecash_shared::ErrorCode::CoinAlreadySpent)
    );
    assert_eq!(wb.balance().await.unwrap(), a(37));
    let sent = wa.sent_tokens().await.unwrap();
    assert_eq!(sent.len(), 1);
    assert!(wa.reclaim(&sent[0].id).await.is_err());
    assert!(wa.sent_tokens().await.unwrap().is_empty());

    // A token that is never received can be taken back.
    let token2 = wa.send(a(5)).await.unwrap();
    let id = wa.sent_tokens().await.unwrap()[0].id.clone();
    assert_eq!(wa.reclaim(&id).await.unwrap(), a(5));
    assert_eq!(wa.balance().await.unwrap(), a(263));
    assert!(wb.receive(&token2).await.is_err());

    // Bob deposits to his account.
    assert_eq!(wb.deposit(a(30)).await.unwrap(), a(30));
    assert_eq!(account_balance(&wb).await, a(30));
    assert_eq!(wb.balance().await.unwrap(), a(7));

    // History records every step with the balance after it.
    let kinds: Vec<HistoryKind> = wa.history().await.unwrap().iter().map(|h| h.kind).collect();
    assert_eq!(
        kinds,
        vec![
            HistoryKind::Withdraw,
            HistoryKind::Send,
            HistoryKind::Send,
            HistoryKind::Receive
        ]
    );
    let last = wa.history().await.unwrap().pop().unwrap();
    assert_eq!(last.balance_after, a(263));
    let bob_kinds: Vec<HistoryKind> = wb.history().await.unwrap().iter().map(|h| h.kind).collect();
    assert_eq!(bob_kinds, vec![HistoryKind::Receive, HistoryKind::Deposit]);

    // Conservation: 1000 wired in, nothing paid out.
    let t = total(&wa).await.checked_add(total(&wb).await).unwrap();
    assert_eq!(t, a(1000));
    bank.assert_audit_clean();
}

/// For every await point in turn, in both crash flavours: evaluates `$prep`
/// (bound to `$v`, may `.await`), runs `$op` with the faulty wallet `$w`,
/// resumes with a fresh wallet `$f` after the crash and evaluates `$check`.
/// Stops when the operation completes without reaching the crash point.
/// Returns the number of await points.
macro_rules! crash_everywhere {
    ($bank:expr, $storage:expr, $session:expr, prepare $v:ident = $prep:expr, |$w:ident| $op:expr, |$f:ident| $check:expr) => {{
        let mut points = 0;
        for lose_response in [false, true] {
            for n in 1u64.. {
                #[allow(unused_variables)]
                let $v = $prep;
                let plan = FaultPlan::new(n, lose_response);
                let $w = faulty($bank, $storage, $session, &plan);
                let result = $op;
                if !plan.tripped() {
                    result.unwrap();
                    points = points.max(n - 1);
                    break;
                }
                assert!(result.is_err(), "a crashed operation reports an error");
                let $f = plain($bank, $storage, $session);
                resume_all(&$f).await;
                $check;
                assert!(n < 200, "the operation never finished");
            }
        }
        assert!(
            points >= 3,
            "the operation has await points to crash at ({points})"
        );
        points
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_every_await_point_loses_nothing() {
    let bank = TestBank::start().await;
    let carol = account(&bank, "carol", 100_000).await;
    let dave = account(&bank, "dave", 0).await;
    let (sc, sd) = (MemoryStorage::new(), MemoryStorage::new());
    let wc = plain(&bank, &sc, &carol);
    let wd = plain(&bank, &sd, &dave);
    let start = a(100_000);

    // Withdraw: account + wallet stays 100 000 whatever happens.
    let p_withdraw = crash_everywhere!(&bank, &sc, &carol, prepare _unit = (),
        |w| w.withdraw(a(77), &|_| {}).await,
        |f| assert_eq!(total(&f).await, start, "withdraw"));
    assert_eq!(total(&wc).await, start);

    // Swap for change: each round starts from a wallet holding one 64 coin,
    // so paying 3 needs a swap; account + wallet stays constant.
    let p_swap = crash_everywhere!(&bank, &sc, &carol, prepare _unit = {
            let held = wc.balance().await.unwrap();
            if !held.is_zero() {
                wc.deposit(held).await.unwrap();
            }
            wc.withdraw(a(64), &|_| {}).await.unwrap();
        },
        |w| w.exact_coins(a(3)).await,
        |f| assert_eq!(total(&f).await, start, "swap"));
    assert_eq!(total(&wc).await, start);

    // Receive: a fresh token from carol each round; dave's wallet gains the
    // token's value exactly once (the resumed swap completes it).
    let p_receive = crash_everywhere!(&bank, &sd, &dave, prepare token = {
        if wc.balance().await.unwrap() < a(9) {
            wc.withdraw(a(500), &|_| {}).await.unwrap();
        }
        let before = wd.total_value().await.unwrap();
        (wc.send(a(9)).await.unwrap(), before)
    },
    |w| w.receive(&token.0).await,
    |f| {
        // Crashed before the intent was logged: the token was never used
        // and still receives in full. Otherwise the resume finished it.
        if f.total_value().await.unwrap() == token.1 {
            assert_eq!(f.receive(&token.0).await.unwrap(), a(9));
        }
        assert_eq!(f.total_value().await.unwrap(), token.1.checked_add(a(9)).unwrap(), "receive");
    });

    // Deposit: dave's wallet + dave's account stays constant.
    let dave_total = total(&wd).await;
    let p_deposit = crash_everywhere!(&bank, &sd, &dave, prepare _unit = (),
        |w| w.deposit(a(2)).await,
        |f| assert_eq!(total(&f).await, dave_total, "deposit"));
    assert_eq!(total(&wd).await, dave_total);

    // Nothing anywhere was created or destroyed: carol + dave + unclaimed tokens.
    let all = total(&wc).await.checked_add(total(&wd).await).unwrap();
    assert_eq!(all, start);
    bank.assert_audit_clean();
    eprintln!(
        "await points: withdraw {p_withdraw}, swap {p_swap}, receive {p_receive}, deposit {p_deposit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_crash_at_every_await_point_loses_nothing() {
    use ecash_shared::api::CreateOrderRequest;
    let bank = TestBank::start().await;
    let erin = account(&bank, "erin", 100_000).await;
    let shop = bank.merchant("shop", 0).await;
    let storage = MemoryStorage::new();
    let we = plain(&bank, &storage, &erin);
    we.withdraw(a(5_000), &|_| {}).await.unwrap();
    let shop_balance = || async { shop.client.me().await.unwrap().balance };
    // Erin's wallet + Erin's account + the shop's account never changes.
    let start = total(&we).await.checked_add(shop_balance().await).unwrap();
    let mut paid = 0u64;
    let points = crash_everywhere!(&bank, &storage, &erin, prepare order = {
        // A price that needs change every round.
        shop.client
            .create_order(&CreateOrderRequest {
                amount: a(13),
                summary: "tea".into(),
                fulfillment_url: None,
                expires_in: Some(600),
                allowed_origin: None,
            })
            .await
            .unwrap()
    },
    |w| w.pay(&order.order_id).await,
    |f| {
        let now = total(&f).await.checked_add(shop_balance().await).unwrap();
        assert_eq!(now, start, "pay");
        // Paid exactly once, or not at all (then it still can be).
        let status = f.client().order_status(&order.order_id).await.unwrap();
        if status.receipt.is_none() {
            f.pay(&order.order_id).await.unwrap();
        }
        paid += 1;
        let receipt = f.receipt_for(&order.order_id).await.unwrap();
        assert!(receipt.is_some(), "the receipt is in the history");
    });
    assert!(paid > 0);
    assert_eq!(
        total(&we).await.checked_add(shop_balance().await).unwrap(),
        start
    );
    bank.assert_audit_clean();
    eprintln!("await points: pay {points}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_are_claimed_automatically_once() {
    use ecash_shared::api::CreateOrderRequest;
    let bank = TestBank::start().await;
    let fay = account(&bank, "fay", 1_000).await;
    let shop = bank.merchant("shop2", 0).await;
    let storage = MemoryStorage::new();
    let w = plain(&bank, &storage, &fay);
    w.withdraw(a(100), &|_| {}).await.unwrap();
    let order = shop
        .client
        .create_order(&CreateOrderRequest {
            amount: a(40),
            summary: "book".into(),
            fulfillment_url: None,
            expires_in: Some(600),
            allowed_origin: None,
        })
        .await
        .unwrap();
    w.pay(&order.order_id).await.unwrap();
    assert_eq!(w.balance().await.unwrap(), a(60));
    // Nothing refunded yet: resume claims nothing and reports nothing.
    assert!(w.resume().await.unwrap().is_empty());

    // The shop refunds part, the wallet claims it when it next checks in.
    shop.client.refund(&order.order_id, 15).await.unwrap();
    let resumed = w.resume().await.unwrap();
    assert_eq!(resumed.len(), 1);
    resumed[0].result.as_ref().unwrap();
    assert_eq!(w.balance().await.unwrap(), a(75));
    let last = w.history().await.unwrap().pop().unwrap();
    assert_eq!(
        (last.kind, last.amount, last.incoming),
        (HistoryKind::Refund, a(15), true)
    );
    // Checking again claims nothing more.
    assert!(w.resume().await.unwrap().is_empty());
    assert_eq!(w.balance().await.unwrap(), a(75));

    // A second refund of the rest is claimed too.
    shop.client.refund(&order.order_id, 25).await.unwrap();
    assert_eq!(w.check_refunds().await.unwrap(), a(25));
    assert_eq!(w.balance().await.unwrap(), a(100));
    assert_eq!(w.check_refunds().await.unwrap(), Amount::ZERO);
    bank.assert_audit_clean();
}
