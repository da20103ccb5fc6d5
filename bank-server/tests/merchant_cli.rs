//! The merchant side of the real binary: `admin make-merchant`, `audit` over
//! orders, refunds and tampered merchant tables, the demo shop served by
//! default (and not with `--no-demo-shop`), and a paid order's receipt
//! surviving a SIGKILL of the server.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use bank_server::storage::{NewOrder, NewRefund, OrderPayment, SpendRequest};
use bank_server::{Bank, now};
use common::{ADMIN, account, audit, cli, config, start, stdout};
use ecash_shared::api::{CreateOrderResponse, OrderState};
use ecash_shared::coin::PlanchetSecrets;
use ecash_shared::{Amount, Currency, SpendMessage, blind_rsa};
use ecash_tests::client::{self, Client, Wallet};

#[test]
fn make_merchant_and_audit_of_orders_and_refunds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.sqlite");
    let bank = Bank::open(config(&db)).unwrap();
    let alice = account(&bank, "alice");
    drop(bank);

    let out = cli(
        &db,
        &["admin", "make-merchant", "alice", "--name", "Alice's Café"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains(r#"alice is a merchant: contracts show "Alice's Café""#),
        "{}",
        stdout(&out)
    );
    assert!(
        !cli(&db, &["admin", "make-merchant", "nobody"])
            .status
            .success()
    );
    assert!(
        !cli(&db, &["admin", "make-merchant", "alice", "--name", ""])
            .status
            .success()
    );

    // An order paid with two coins of 4, then refunded 3.
    let bank = Bank::open(config(&db)).unwrap();
    assert!(bank.storage.account_by_id(alice).unwrap().unwrap().merchant);
    let t = now();
    let mut order = NewOrder {
        id: "order-1".into(),
        merchant_id: alice,
        merchant_name: bank.storage.merchant_name(alice).unwrap().unwrap(),
        currency: Currency::EUR,
        amount: Amount::from_minor(8),
        summary: "two things".into(),
        fulfillment_url: None,
        allowed_origin: None,
        created_at: t,
        expires_at: t.plus_secs(600),
        contract_hash: [0; 32],
    };
    order.contract_hash = bank_server::merchant::contract(&order).compute_hash();
    bank.storage.create_order(&order).unwrap();
    let four = bank
        .storage
        .keysets()
        .unwrap()
        .into_iter()
        .find(|k| k.value.minor() == 4)
        .unwrap();
    let k = bank.keys.get(&four.id).unwrap();
    let msg = SpendMessage::Pay {
        contract_hash: order.contract_hash,
    };
    let coins: Vec<_> = (0..2)
        .map(|_| {
            let p = PlanchetSecrets::create(&k.keyset).unwrap();
            let s =
                blind_rsa::blind_sign(k.secret.as_ref().unwrap(), p.blinded.blinded_msg.as_slice())
                    .unwrap();
            let coin = p.finish(&k.keyset, &s).unwrap();
            bank_server::storage::SpentCoin {
                coin_pub: coin.coin_pub.to_bytes(),
                keyset_id: coin.keyset_id,
                currency: Currency::EUR,
                value: Amount::from_minor(4),
                msg_prefix: coin.msg_prefix,
                denom_sig: coin.sig.0.clone(),
                coin_sig: p.secret.sign(&msg).0,
                spend_msg: msg.to_bytes(),
            }
        })
        .collect();
    // The coins were signed outside any withdrawal: wire the same value in and
    // "withdraw" it, so the books balance as they would for real coins.
    let payer = account(&bank, "payer");
    bank.storage
        .credit("payer", Amount::from_minor(8), "wire in", t)
        .unwrap();
    bank.storage
        .withdraw(&bank_server::storage::NewWithdrawal {
            account_id: payer,
            request_id: "w".into(),
            request_hash: [0; 32],
            currency: Currency::EUR,
            value: Amount::from_minor(8),
            blind_sigs: vec![],
            created_at: t,
        })
        .unwrap();
    bank.storage
        .spend_payment(&SpendRequest {
            op_id: [1; 32],
            coins,
            value: Amount::from_minor(8),
            currency: Currency::EUR,
            effect: OrderPayment {
                order_id: "order-1".into(),
                paid_at: t,
                bank_sig: bank_server::merchant::sign_receipt(&bank.keys, &order, t),
            },
            now: t,
        })
        .unwrap();
    bank.storage
        .refund(&NewRefund {
            order_id: "order-1".into(),
            merchant_id: alice,
            amount: Amount::from_minor(3),
            now: t,
        })
        .unwrap();
    drop(bank);

    let out = cli(&db, &["audit"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "refunds granted 3 - refunds claimed 0 + card loads 0 - card unloads 0 + card shortfalls 0 (balanced)"
        ),
        "{text}"
    );
    assert!(text.contains("1 orders"), "{text}");
    assert!(text.contains("audit: clean"), "{text}");

    // Tampering with the merchant tables is caught.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE orders SET refunded = 1", []).unwrap();
    let out = cli(&db, &["audit"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("refunds sum to 3"),
        "{}",
        stdout(&out)
    );
    conn.execute("UPDATE orders SET refunded = 3, summary = 'one thing'", [])
        .unwrap();
    let out = cli(&db, &["audit"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("contract hash does not match"),
        "{}",
        stdout(&out)
    );
}

async fn status_of(url: &str) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shop_by_default_and_receipts_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    assert_eq!(status_of(&format!("{}/shop", server.url)).await, 200);
    assert_eq!(
        status_of(&format!("{}/embed/checkout.js", server.url)).await,
        200
    );

    let c = Client::new(&server.url);
    let order: CreateOrderResponse = c
        .post(
            "/shop/api/orders",
            &serde_json::json!({"item": "croissant"}),
        )
        .await
        .unwrap();
    assert_eq!(order.contract.merchant, "Demo Shop");
    c.create_account("bob", "password123").await.unwrap();
    let bob = c.login("bob", "password123").await.unwrap();
    bob.admin_credit(ADMIN, "bob", 500).await.unwrap();
    let bob = Wallet::new(bob, "bob").await.unwrap();
    let coins = bob.withdraw(order.contract.amount.minor()).await.unwrap();
    let req = client::pay_request(&order.contract.contract_hash, &coins);
    let receipt = bob
        .client
        .pay_raw(&order.order_id, &req)
        .await
        .unwrap()
        .receipt;

    // SIGKILL right after the answer; the receipt and the payment are on disk.
    drop(server);
    let server = start(dir.path(), &[]);
    let bob = Wallet::new(bob.client.with_base(&server.url), "bob")
        .await
        .unwrap();
    let again = bob
        .client
        .pay_raw(&order.order_id, &req)
        .await
        .unwrap()
        .receipt;
    assert_eq!(
        again, receipt,
        "the replay after a crash gets the same receipt"
    );
    assert!(receipt.verify(&bob.receipt_key));
    let st = bob
        .client
        .order_status(&order.order_id, None)
        .await
        .unwrap();
    assert_eq!(st.state, OrderState::Paid);
    drop(server);

    let report = audit(dir.path());
    assert!(report.contains("1 orders"), "{report}");

    // Turned off: no shop page; the embed is still there for other shops.
    let server = start(dir.path(), &["--no-demo-shop"]);
    assert_eq!(status_of(&format!("{}/shop", server.url)).await, 404);
    assert_eq!(
        status_of(&format!("{}/embed/checkout.js", server.url)).await,
        200
    );
}
