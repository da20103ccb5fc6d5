//! Refunds over HTTP: a merchant refunds part of a payment, the payer claims
//! it anonymously as fresh coins (once; an identical replay recovers the
//! signatures), and every refusal has its documented code and changes
//! nothing. The audit balances throughout.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::api::{LedgerKind, OrderState};
use ecash_shared::encoding::b64_encode;
use ecash_shared::{Currency, ErrorCode};
use ecash_tests::client::{OwnedCoin, Wallet, expect_code, total};
use ecash_tests::server::TestBank;

/// A paid order of `amount`: (order id, the coins that paid it).
async fn paid_order(shop: &Wallet, payer: &Wallet, amount: u64) -> (String, Vec<OwnedCoin>) {
    let o = shop
        .client
        .create_simple_order(amount, "refundable")
        .await
        .unwrap();
    let coins = payer.withdraw(amount).await.unwrap();
    payer.pay_order(&o.order_id, &coins).await.unwrap();
    (o.order_id, coins)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_then_claim_once_with_replay() {
    let bank = TestBank::start().await;
    let shop = bank.merchant("shop", 0).await;
    let alice = bank.user("alice", 1000).await;
    let (id, paid) = paid_order(&shop, &alice, 100).await;

    let r = shop.client.refund(&id, 30).await.unwrap();
    assert_eq!(
        (r.order_id.as_str(), r.refunded.minor(), r.balance.minor()),
        (id.as_str(), 30, 70)
    );
    let st = bank.client().order_status(&id, None).await.unwrap();
    assert_eq!(st.state, OrderState::Refunded);
    assert_eq!(st.refunded.map(|a| a.minor()), Some(30));
    assert!(st.receipt.is_some(), "the receipt stays");
    let h = shop.client.history(None, None).await.unwrap();
    assert_eq!(
        (
            h.entries[0].kind,
            h.entries[0].credit,
            h.entries[0].amount.minor()
        ),
        (LedgerKind::Refund, false, 30)
    );
    // Granted, not yet claimed: owed to the payer, and the books balance.
    let report = bank.assert_audit_clean();
    let eur = &report.currencies[&Currency::EUR];
    assert_eq!((eur.refunds_granted, eur.refunds_claimed), (30, 0));
    assert_eq!(eur.refunds_unclaimed(), 30);

    // The payer claims 30 as fresh coins.
    let claim = alice.prepare_refund_claim(&id, &paid, 30, Some(&[16, 8, 4, 2]));
    let first = alice
        .client
        .refund_claim_raw(&id, &claim.request)
        .await
        .unwrap();
    // The answer was "lost": the identical claim again gets the same signatures.
    let second = alice
        .client
        .refund_claim_raw(&id, &claim.request)
        .await
        .unwrap();
    assert_eq!(first, second);
    let fresh = claim.planchets.finish(&second).unwrap();
    assert_eq!(total(&fresh), 30);
    let report = bank.assert_audit_clean();
    let eur = &report.currencies[&Currency::EUR];
    assert_eq!((eur.refunds_granted, eur.refunds_claimed), (30, 30));
    assert_eq!(
        eur.coins_signed,
        100 + 30,
        "claimed refunds are coins signed"
    );

    // A different claim of the same refund: refused, nothing signed.
    let again = alice.prepare_refund_claim(&id, &paid, 30, None);
    expect_code(
        alice.finish_refund_claim(&again).await,
        ErrorCode::RefundAlreadyClaimed,
    );
    assert_eq!(bank.audit(), report);

    // The refunded coins are good money.
    assert_eq!(
        alice.deposit(&fresh).await.unwrap().balance.minor(),
        900 + 30
    );

    // More refunds, up to what was paid; each claimed in turn.
    shop.client.refund(&id, 20).await.unwrap();
    let c2 = alice.prepare_refund_claim(&id, &paid, 20, None);
    assert_eq!(total(&alice.finish_refund_claim(&c2).await.unwrap()), 20);
    expect_code(shop.client.refund(&id, 51).await, ErrorCode::RefundTooLarge);
    let r = shop.client.refund(&id, 50).await.unwrap();
    assert_eq!((r.refunded.minor(), r.balance.minor()), (100, 0));
    expect_code(shop.client.refund(&id, 1).await, ErrorCode::RefundTooLarge);
    let c3 = alice.prepare_refund_claim(&id, &paid, 50, None);
    assert_eq!(total(&alice.finish_refund_claim(&c3).await.unwrap()), 50);

    let list = shop.client.merchant_orders(None, None).await.unwrap();
    let o = &list.orders[0];
    assert_eq!(
        (o.state, o.refunded.minor(), o.refund_claimed.minor()),
        (OrderState::Refunded, 100, 100)
    );
    let report = bank.assert_audit_clean();
    let eur = &report.currencies[&Currency::EUR];
    assert_eq!((eur.refunds_granted, eur.refunds_claimed), (100, 100));
    assert_eq!(eur.order_payments, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_claims_change_nothing() {
    let bank = TestBank::start().await;
    let shop = bank.merchant("shop", 0).await;
    let alice = bank.user("alice", 1000).await;
    let bob = bank.user("bob", 1000).await;
    let (id, paid) = paid_order(&shop, &alice, 100).await;
    assert!(paid.len() >= 2, "100 = 64 + 32 + 4");
    let (other_id, _) = paid_order(&shop, &bob, 10).await;
    let unpaid = shop.client.create_simple_order(5, "unpaid").await.unwrap();

    // Nothing refunded yet.
    let claim = alice.prepare_refund_claim(&id, &paid, 40, None);
    expect_code(alice.finish_refund_claim(&claim).await, ErrorCode::NoRefund);
    let claim_unpaid = alice.prepare_refund_claim(&unpaid.order_id, &paid, 5, None);
    expect_code(
        alice.finish_refund_claim(&claim_unpaid).await,
        ErrorCode::NoRefund,
    );

    shop.client.refund(&id, 40).await.unwrap();
    shop.client.refund(&other_id, 10).await.unwrap();
    let books = bank.assert_audit_clean();

    // Coin keys that did not pay this order (valid, unspent coins of Bob's).
    let bobs = bob.withdraw(100).await.unwrap();
    let books_after_withdraw = bank.assert_audit_clean();
    let foreign = bob.prepare_refund_claim(&id, &bobs, 40, None);
    expect_code(
        bob.finish_refund_claim(&foreign).await,
        ErrorCode::BadCoinSignature,
    );
    // One foreign key among the payer's.
    let mut mixed_coins = paid.clone();
    mixed_coins[0] = bobs[0].clone();
    let mixed = alice.prepare_refund_claim(&id, &mixed_coins, 40, None);
    expect_code(
        alice.finish_refund_claim(&mixed).await,
        ErrorCode::BadCoinSignature,
    );
    // Only some of the paying coins sign.
    let partial = alice.prepare_refund_claim(&id, &paid[1..], 40, None);
    expect_code(
        alice.finish_refund_claim(&partial).await,
        ErrorCode::BadCoinSignature,
    );
    // Signatures over other outputs.
    let mut swapped = alice.prepare_refund_claim(&id, &paid, 40, None);
    let decoy = alice.prepare_refund_claim(&id, &paid, 40, Some(&[32, 8]));
    swapped.request.outputs = decoy.request.outputs.clone();
    swapped.planchets = decoy.planchets.clone();
    expect_code(
        alice.finish_refund_claim(&swapped).await,
        ErrorCode::BadCoinSignature,
    );
    // Signed for another order (the claim message names the order).
    let mut elsewhere = alice.prepare_refund_claim(&other_id, &paid, 40, None);
    elsewhere.order_id = id.clone();
    expect_code(
        alice.finish_refund_claim(&elsewhere).await,
        ErrorCode::BadCoinSignature,
    );
    // The payer of one order cannot claim another order's refund.
    let wrong_order = alice.prepare_refund_claim(&other_id, &paid, 10, None);
    expect_code(
        alice.finish_refund_claim(&wrong_order).await,
        ErrorCode::BadCoinSignature,
    );
    // Outputs worth more or less than the refund.
    for amount in [32, 48] {
        let c = alice.prepare_refund_claim(&id, &paid, amount, None);
        expect_code(
            alice.finish_refund_claim(&c).await,
            ErrorCode::ValueMismatch,
        );
    }
    // Malformed claims.
    let mut short = alice.prepare_refund_claim(&id, &paid, 40, None);
    short.request.sigs.pop();
    expect_code(
        alice.finish_refund_claim(&short).await,
        ErrorCode::BadRequest,
    );
    let mut dup = alice.prepare_refund_claim(&id, &paid, 40, None);
    dup.request.coin_pubs[1] = dup.request.coin_pubs[0];
    expect_code(
        alice.finish_refund_claim(&dup).await,
        ErrorCode::DuplicateCoin,
    );
    let mut empty = alice.prepare_refund_claim(&id, &paid, 40, None);
    empty.request.coin_pubs.clear();
    empty.request.sigs.clear();
    expect_code(alice.finish_refund_claim(&empty).await, ErrorCode::NoCoins);
    let ghost = b64_encode(&[3u8; 16]);
    let mut unknown = alice.prepare_refund_claim(&ghost, &paid, 40, None);
    unknown.order_id = ghost;
    expect_code(
        alice.finish_refund_claim(&unknown).await,
        ErrorCode::OrderNotFound,
    );

    assert_eq!(bank.audit(), books_after_withdraw, "nothing changed");
    assert_ne!(books, books_after_withdraw);

    // The rightful claim still works.
    let good = alice.prepare_refund_claim(&id, &paid, 40, None);
    assert_eq!(total(&alice.finish_refund_claim(&good).await.unwrap()), 40);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_sign_once() {
    let bank = TestBank::start().await;
    let shop = bank.merchant("shop", 0).await;
    let alice = bank.user("alice", 1000).await;
    let (id, paid) = paid_order(&shop, &alice, 64).await;
    shop.client.refund(&id, 16).await.unwrap();

    // Eight different claims at once: one wins.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let c = alice.prepare_refund_claim(&id, &paid, 16, None);
        let w = alice.clone();
        set.spawn(async move { w.finish_refund_claim(&c).await });
    }
    let mut wins = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(coins) => {
                wins += 1;
                assert_eq!(total(&coins), 16);
            }
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::RefundAlreadyClaimed), "{e}"),
        }
    }
    assert_eq!(wins, 1);
    let report = bank.assert_audit_clean();
    assert_eq!(report.currencies[&Currency::EUR].refunds_claimed, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_refund_and_with_what_money() {
    let bank = TestBank::start().await;
    let shop_a = bank.merchant("shop-a", 0).await;
    let shop_b = bank.merchant("shop-b", 0).await;
    let alice = bank.user("alice", 1000).await;
    let (b_order, _) = paid_order(&shop_b, &alice, 100).await;
    let a_unpaid = shop_a
        .client
        .create_simple_order(10, "unpaid")
        .await
        .unwrap();
    // Shop B wires its takings out, so it cannot fund a refund.
    shop_b
        .client
        .payout(95, "DE89 3704 0044 0532 0130 00")
        .await
        .unwrap();
    let books = bank.assert_audit_clean();

    expect_code(
        shop_a.client.refund(&b_order, 10).await,
        ErrorCode::Forbidden,
    );
    expect_code(
        alice.client.refund(&b_order, 10).await,
        ErrorCode::Forbidden,
    );
    expect_code(
        bank.client().refund(&b_order, 10).await,
        ErrorCode::Unauthorized,
    );
    expect_code(
        shop_a.client.refund(&a_unpaid.order_id, 1).await,
        ErrorCode::RefundTooLarge,
    );
    expect_code(
        shop_b.client.refund(&b_order, 10).await,
        ErrorCode::InsufficientFunds,
    );
    expect_code(
        shop_b.client.refund(&b_order, 0).await,
        ErrorCode::InvalidAmount,
    );
    expect_code(
        shop_b.client.refund(&b64_encode(&[1u8; 16]), 1).await,
        ErrorCode::OrderNotFound,
    );
    assert_eq!(bank.audit(), books, "nothing changed");

    // Within its balance, shop B refunds its own order.
    let r = shop_b.client.refund(&b_order, 5).await.unwrap();
    assert_eq!((r.refunded.minor(), r.balance.minor()), (5, 0));
    bank.assert_audit_clean();
}
