//! Merchant orders and payments over HTTP: create, read the contract, pay,
//! verify the receipt, replay, and every refusal — each with its documented
//! code, and with nothing changed (the audit report is identical before and
//! after, and the coins stay unspent).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use ecash_shared::api::{CoinState, CreateOrderRequest, LedgerKind, OrderState, PayRequest};
use ecash_shared::encoding::b64_encode;
use ecash_shared::{Amount, CoinPub, Currency, ErrorCode};
use ecash_tests::client::{OwnedCoin, Wallet, expect_code, order_request, pay_request};
use ecash_tests::server::TestBank;

fn pubs(coins: &[OwnedCoin]) -> Vec<CoinPub> {
    coins.iter().map(|c| c.coin.coin_pub).collect()
}

async fn states(w: &Wallet, coins: &[OwnedCoin]) -> Vec<CoinState> {
    w.client.coin_states(&pubs(coins)).await.unwrap()
}

async fn all_unspent(w: &Wallet, coins: &[OwnedCoin]) -> bool {
    states(w, coins)
        .await
        .iter()
        .all(|s| *s == CoinState::Unspent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_pay_receipt_replay_and_books() {
    let bank = TestBank::start().await;
    let shop = bank.merchant("coffee-shop", 0).await;
    let alice = bank.user("alice", 1000).await;
    assert!(shop.client.me().await.unwrap().merchant);

    let req = CreateOrderRequest {
        amount: Amount::from_minor(250),
        summary: "  Flat white  ".into(),
        fulfillment_url: Some("https://shop.example/thanks".into()),
        expires_in: Some(600),
        allowed_origin: Some("https://Shop.Example".into()),
    };
    let created = shop.client.create_order(&req).await.unwrap();
    let id = created.order_id.clone();
    assert_eq!(id.len(), 22, "16 random bytes, base64url");
    let host = bank.url.trim_start_matches("http://");
    assert_eq!(created.pay_uri, format!("ecash://pay/{host}/{id}"));
    let c = &created.contract;
    assert_eq!(c.order_id, id);
    assert_eq!(c.merchant, "coffee-shop");
    assert_eq!(c.amount.minor(), 250);
    assert_eq!(c.currency, Currency::EUR);
    assert_eq!(c.summary, "Flat white", "trimmed");
    assert_eq!(
        c.fulfillment_url.as_deref(),
        Some("https://shop.example/thanks")
    );
    assert_eq!(
        c.allowed_origin.as_deref(),
        Some("https://shop.example"),
        "origin normalised"
    );
    assert_eq!(c.expires_at.unix() - c.created_at.unix(), 600);
    assert!(c.hash_is_valid());

    // The public contract is the same; anyone can read it.
    let public = bank.client().contract(&id).await.unwrap();
    assert_eq!(&public, c);
    // Tampering with any field breaks the hash the wallet checks.
    let mut tampered = public.clone();
    tampered.amount = Amount::from_minor(1);
    assert!(!tampered.hash_is_valid());

    let st = bank.client().order_status(&id, None).await.unwrap();
    assert_eq!(
        (st.state, st.receipt, st.refunded),
        (OrderState::Unpaid, None, None)
    );

    // Pay with 3×64 + 32 + 16 + 8 + 2 = 250.
    let coins = alice.withdraw(250).await.unwrap();
    let receipt = alice.pay_order(&id, &coins).await.unwrap();
    assert_eq!(receipt.order_id, id);
    assert_eq!(receipt.contract_hash, c.contract_hash);
    assert_eq!(receipt.amount.minor(), 250);
    let keys = bank.client().keys().await.unwrap();
    assert!(receipt.verify(&keys.receipt_key));
    let mut forged = receipt.clone();
    forged.amount = Amount::from_minor(251);
    assert!(!forged.verify(&keys.receipt_key));

    // Replays: the same coins (in any order) get the same receipt, and no
    // money moves twice.
    let req = pay_request(&c.contract_hash, &coins);
    let again = alice.client.pay_raw(&id, &req).await.unwrap();
    assert_eq!(again.receipt, receipt);
    let mut reordered = req.clone();
    reordered.coins.reverse();
    let again = alice.client.pay_raw(&id, &reordered).await.unwrap();
    assert_eq!(again.receipt, receipt);

    let st = bank.client().order_status(&id, None).await.unwrap();
    assert_eq!(st.state, OrderState::Paid);
    assert_eq!(st.receipt.as_ref(), Some(&receipt));
    assert!(
        states(&alice, &coins)
            .await
            .iter()
            .all(|s| *s == CoinState::Spent)
    );

    // The merchant was credited once, with an order_payment entry.
    assert_eq!(shop.client.balance().await.unwrap().minor(), 250);
    let h = shop.client.history(None, None).await.unwrap();
    assert_eq!(h.entries.len(), 1);
    assert_eq!(
        (
            h.entries[0].kind,
            h.entries[0].credit,
            h.entries[0].amount.minor()
        ),
        (LedgerKind::OrderPayment, true, 250)
    );
    assert!(h.entries[0].memo.contains(&id), "{}", h.entries[0].memo);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 750);

    // The merchant's list.
    let list = shop.client.merchant_orders(None, None).await.unwrap();
    assert_eq!(list.orders.len(), 1);
    assert_eq!(list.orders[0].state, OrderState::Paid);
    assert_eq!(list.orders[0].contract, *c);
    assert_eq!(list.orders[0].receipt.as_ref(), Some(&receipt));
    assert_eq!(list.orders[0].pay_uri, created.pay_uri);

    let report = bank.assert_audit_clean();
    let eur = &report.currencies[&Currency::EUR];
    assert_eq!(eur.order_payments, 250);
    assert_eq!(eur.coins_spent, 250);
    assert_eq!(report.orders, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_order_list_pages_newest_first() {
    let bank = TestBank::start().await;
    let shop = bank.merchant("shop", 0).await;
    let other = bank.merchant("other", 0).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let o = shop
            .client
            .create_simple_order(10 + i, &format!("item {i}"))
            .await
            .unwrap();
        ids.push(o.order_id);
    }
    other.client.create_simple_order(1, "x").await.unwrap();
    ids.reverse();
    let all = shop.client.merchant_orders(None, None).await.unwrap();
    let got: Vec<_> = all
        .orders
        .iter()
        .map(|o| o.contract.order_id.clone())
        .collect();
    assert_eq!(got, ids, "newest first, only this merchant's");
    assert!(all.orders.iter().all(|o| o.state == OrderState::Unpaid));
    assert_eq!(all.next_before, None);
    let p1 = shop.client.merchant_orders(Some(2), None).await.unwrap();
    let p2 = shop
        .client
        .merchant_orders(Some(2), p1.next_before)
        .await
        .unwrap();
    let p3 = shop
        .client
        .merchant_orders(Some(2), p2.next_before)
        .await
        .unwrap();
    assert_eq!(p3.next_before, None);
    let paged: Vec<_> = [p1, p2, p3]
        .into_iter()
        .flat_map(|p| p.orders)
        .map(|o| o.contract.order_id)
        .collect();
    assert_eq!(paged, ids);
    expect_code(
        shop.client.merchant_orders(Some(0), None).await,
        ErrorCode::BadRequest,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_payments_change_nothing() {
    let bank = TestBank::start().await;
    let shop = bank.merchant("shop", 0).await;
    let alice = bank.user("alice", 1000).await;
    let bob = bank.user("bob", 1000).await;

    let paid = shop
        .client
        .create_simple_order(100, "paid one")
        .await
        .unwrap();
    let other = shop.client.create_simple_order(100, "other").await.unwrap();
    let fresh = shop.client.create_simple_order(100, "fresh").await.unwrap();
    let alice_coins = alice.withdraw(100).await.unwrap();
    alice.pay_order(&paid.order_id, &alice_coins).await.unwrap();
    let bob_coins = bob.withdraw(100).await.unwrap();
    let small = bob.withdraw_values(&[32, 16]).await.unwrap();
    let big = bob.withdraw_values(&[64, 64]).await.unwrap();

    let books = bank.assert_audit_clean();

    // Paying a paid order with other coins: 409, and no coin is spent.
    expect_code(
        bob.pay_order(&paid.order_id, &bob_coins).await,
        ErrorCode::OrderAlreadyPaid,
    );
    assert!(all_unspent(&bob, &bob_coins).await);

    // Wrong amount, too little and too much.
    expect_code(
        bob.pay_order(&fresh.order_id, &small).await,
        ErrorCode::WrongAmount,
    );
    expect_code(
        bob.pay_order(&fresh.order_id, &big).await,
        ErrorCode::WrongAmount,
    );
    assert!(all_unspent(&bob, &small).await && all_unspent(&bob, &big).await);

    // Coins signed over another contract's hash.
    let tampered = pay_request(&other.contract.contract_hash, &bob_coins);
    expect_code(
        bob.client.pay_raw(&fresh.order_id, &tampered).await,
        ErrorCode::BadCoinSignature,
    );
    let mut h = fresh.contract.contract_hash;
    h[0] ^= 1;
    expect_code(
        bob.client
            .pay_raw(&fresh.order_id, &pay_request(&h, &bob_coins))
            .await,
        ErrorCode::BadCoinSignature,
    );
    assert!(all_unspent(&bob, &bob_coins).await);

    // A coin that paid one order, reused at another (signed properly for it).
    let mut reuse = bob_coins.clone();
    let n = reuse.len();
    let stolen = alice_coins
        .iter()
        .find(|c| c.value == reuse[n - 1].value)
        .cloned();
    if let Some(c) = stolen {
        reuse[n - 1] = c;
    } else {
        reuse = alice_coins.clone();
    }
    expect_code(
        alice.pay_order(&fresh.order_id, &reuse).await,
        ErrorCode::CoinAlreadySpent,
    );
    expect_code(
        alice.pay_order(&fresh.order_id, &alice_coins).await,
        ErrorCode::CoinAlreadySpent,
    );
    assert!(all_unspent(&bob, &bob_coins).await);
    let st = bank
        .client()
        .order_status(&fresh.order_id, None)
        .await
        .unwrap();
    assert_eq!(st.state, OrderState::Unpaid);

    // Malformed: no coins, the same coin twice.
    expect_code(
        bob.client
            .pay_raw(&fresh.order_id, &PayRequest { coins: vec![] })
            .await,
        ErrorCode::NoCoins,
    );
    let mut twice = pay_request(&fresh.contract.contract_hash, &bob_coins[..1]);
    twice.coins.push(twice.coins[0].clone());
    expect_code(
        bob.client.pay_raw(&fresh.order_id, &twice).await,
        ErrorCode::DuplicateCoin,
    );

    // Unknown orders, and ids that cannot be ids.
    let ghost = b64_encode(&[9u8; 16]);
    for id in [ghost.as_str(), "not%20an%20id", "x.y"] {
        expect_code(bob.client.contract(id).await, ErrorCode::OrderNotFound);
        expect_code(
            bob.client.order_status(id, None).await,
            ErrorCode::OrderNotFound,
        );
        expect_code(
            bob.client.order_status(id, Some(100)).await,
            ErrorCode::OrderNotFound,
        );
        expect_code(
            bob.client
                .pay_raw(id, &pay_request(&[0; 32], &bob_coins))
                .await,
            ErrorCode::OrderNotFound,
        );
    }
    let raw = bank
        .client()
        .raw("GET", &format!("/v1/orders/{ghost}/qr.svg"), &[], None)
        .await
        .unwrap();
    assert_eq!((raw.status, raw.code()), (404, Some("ORDER_NOT_FOUND")));

    assert_eq!(bank.audit(), books, "nothing changed");
    // And the refused coins are still good money.
    bob.pay_order(&fresh.order_id, &bob_coins).await.unwrap();
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_orders_cannot_be_paid() {
    let bank = TestBank::start().await;
    let shop = bank.merchant("shop", 0).await;
    let alice = bank.user("alice", 100).await;
    let mut req = order_request(100, "short-lived");
    req.expires_in = Some(60);
    let order = shop.client.create_order(&req).await.unwrap();
    let coins = alice.withdraw(100).await.unwrap();
    let books = bank.assert_audit_clean();

    // Sixty seconds later, by the merchant clock (no sleeping).
    bank.advance_clock(60);
    let st = bank
        .client()
        .order_status(&order.order_id, None)
        .await
        .unwrap();
    assert_eq!(st.state, OrderState::Expired);
    expect_code(
        alice.pay_order(&order.order_id, &coins).await,
        ErrorCode::OrderExpired,
    );
    assert!(all_unspent(&alice, &coins).await);
    // A long poll on an expired order answers at once.
    let t = Instant::now();
    let st = bank
        .client()
        .order_status(&order.order_id, Some(20_000))
        .await
        .unwrap();
    assert_eq!(st.state, OrderState::Expired);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(bank.audit(), books);

    // A long poll on an order that expires while waiting answers at expiry.
    let mut req = order_request(100, "expires during the poll");
    req.expires_in = Some(60);
    let soon = shop.client.create_order(&req).await.unwrap();
    bank.advance_clock(59);
    let t = Instant::now();
    let st = bank
        .client()
        .order_status(&soon.order_id, Some(20_000))
        .await
        .unwrap();
    assert_eq!(st.state, OrderState::Expired);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // The shop makes a new order; the coins pay it.
    let fresh = shop.client.create_simple_order(100, "again").await.unwrap();
    alice.pay_order(&fresh.order_id, &coins).await.unwrap();
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_merchants_create_orders_and_terms_are_checked() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 0).await;
    let shop = bank.merchant("shop", 0).await;
    let books = bank.assert_audit_clean();

    expect_code(
        alice.client.create_simple_order(100, "nope").await,
        ErrorCode::Forbidden,
    );
    expect_code(
        alice.client.merchant_orders(None, None).await,
        ErrorCode::Forbidden,
    );
    expect_code(
        bank.client().create_simple_order(100, "nope").await,
        ErrorCode::Unauthorized,
    );
    expect_code(
        bank.client().merchant_orders(None, None).await,
        ErrorCode::Unauthorized,
    );

    expect_code(
        shop.client.create_simple_order(0, "free").await,
        ErrorCode::InvalidAmount,
    );
    let bad = [
        CreateOrderRequest {
            summary: String::new(),
            ..order_request(1, "")
        },
        CreateOrderRequest {
            summary: "line\nbreak".into(),
            ..order_request(1, "")
        },
        CreateOrderRequest {
            expires_in: Some(0),
            ..order_request(1, "x")
        },
        CreateOrderRequest {
            expires_in: Some(u64::MAX),
            ..order_request(1, "x")
        },
        CreateOrderRequest {
            allowed_origin: Some("*".into()),
            ..order_request(1, "x")
        },
        CreateOrderRequest {
            allowed_origin: Some("https://shop.example/checkout".into()),
            ..order_request(1, "x")
        },
        CreateOrderRequest {
            fulfillment_url: Some("javascript:alert(1)".into()),
            ..order_request(1, "x")
        },
    ];
    for req in bad {
        expect_code(shop.client.create_order(&req).await, ErrorCode::BadRequest);
    }
    // Unknown fields are refused too.
    let raw = shop
        .client
        .raw(
            "POST",
            "/v1/merchant/orders",
            &[("Content-Type", "application/json")],
            Some(br#"{"amount":1,"summary":"x","tip":5}"#.to_vec()),
        )
        .await
        .unwrap();
    assert_eq!((raw.status, raw.code()), (400, Some("BAD_REQUEST")));
    assert!(
        shop.client
            .merchant_orders(None, None)
            .await
            .unwrap()
            .orders
            .is_empty()
    );
    assert_eq!(bank.audit(), books);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_wallets_racing_for_one_order_one_wins() {
    const ORDERS: usize = 6;
    let bank = TestBank::start().await;
    let shop = bank.merchant("shop", 0).await;
    let alice = bank.user("alice", 1000).await;
    let bob = bank.user("bob", 1000).await;
    let mut races = Vec::new();
    for i in 0..ORDERS {
        let o = shop
            .client
            .create_simple_order(40, &format!("race {i}"))
            .await
            .unwrap();
        let a = alice.withdraw(40).await.unwrap();
        let b = bob.withdraw(40).await.unwrap();
        races.push((o.order_id, a, b));
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, (id, a, b)) in races.iter().enumerate() {
        for (who, w, coins) in [(0, alice.clone(), a.clone()), (1, bob.clone(), b.clone())] {
            let id = id.clone();
            set.spawn(async move { (i, who, w.pay_order(&id, &coins).await) });
        }
    }
    let mut winners = vec![Vec::new(); ORDERS];
    while let Some(r) = set.join_next().await {
        let (i, who, r) = r.unwrap();
        match r {
            Ok(receipt) => winners[i].push((who, receipt)),
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::OrderAlreadyPaid), "{e}"),
        }
    }
    for (i, (id, a, b)) in races.iter().enumerate() {
        assert_eq!(winners[i].len(), 1, "order {i}: {:?}", winners[i]);
        let (who, receipt) = &winners[i][0];
        let st = bank.client().order_status(id, None).await.unwrap();
        assert_eq!(st.receipt.as_ref(), Some(receipt));
        let (won, lost, w_lost) = if *who == 0 {
            (a, b, &bob)
        } else {
            (b, a, &alice)
        };
        assert!(
            states(&alice, won)
                .await
                .iter()
                .all(|s| *s == CoinState::Spent)
        );
        assert!(
            all_unspent(w_lost, lost).await,
            "the loser's coins stay unspent"
        );
    }
    assert_eq!(
        shop.client.balance().await.unwrap().minor(),
        40 * ORDERS as u64
    );
    let report = bank.assert_audit_clean();
    assert_eq!(
        report.currencies[&Currency::EUR].order_payments,
        40 * ORDERS as i128
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_returns_when_paid() {
    let bank = TestBank::start().await;
    let shop = bank.merchant("shop", 0).await;
    let alice = bank.user("alice", 100).await;
    let order = shop
        .client
        .create_simple_order(100, "wait for it")
        .await
        .unwrap();
    let coins = alice.withdraw(100).await.unwrap();

    // Unpaid: a short long poll times out and says unpaid.
    let t = Instant::now();
    let st = bank
        .client()
        .order_status(&order.order_id, Some(300))
        .await
        .unwrap();
    assert_eq!(st.state, OrderState::Unpaid);
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );

    // A long poll of up to 30 s returns once the order is paid.
    let watcher = bank.client();
    let id = order.order_id.clone();
    let poll = tokio::spawn(async move {
        let t = Instant::now();
        let st = watcher.order_status(&id, Some(30_000)).await.unwrap();
        (st, t.elapsed())
    });
    // Let the poll register before paying (it would see the payment anyway).
    let t = Instant::now();
    while bank.bank.order_events.watched() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the poll never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let receipt = alice.pay_order(&order.order_id, &coins).await.unwrap();
    let (st, waited) = poll.await.unwrap();
    assert_eq!(st.state, OrderState::Paid);
    assert_eq!(st.receipt, Some(receipt));
    assert!(
        waited < Duration::from_secs(25),
        "woken, not timed out: {waited:?}"
    );
    assert_eq!(bank.bank.order_events.watched(), 0, "waiters clean up");

    // On a paid order the long poll answers at once; over-long waits are capped.
    let t = Instant::now();
    let st = bank
        .client()
        .order_status(&order.order_id, Some(u64::MAX))
        .await
        .unwrap();
    assert_eq!(st.state, OrderState::Paid);
    assert!(t.elapsed() < Duration::from_secs(10));
    let raw = bank
        .client()
        .raw(
            "GET",
            &format!("/v1/orders/{}/status?timeout_ms=soon", order.order_id),
            &[],
            None,
        )
        .await
        .unwrap();
    assert_eq!((raw.status, raw.code()), (400, Some("BAD_REQUEST")));
}
