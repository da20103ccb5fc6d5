//! What the server serves for shops: the checkout embed, the demo shop page
//! and its order endpoint, and QR codes of payment requests — with sensible
//! content types, from the binary (no files needed).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::api::{CreateOrderResponse, OrderState};
use ecash_shared::{Currency, ErrorCode};
use ecash_tests::client::expect_code;
use ecash_tests::server::{Options, TestBank};

async fn get(url: &str) -> (u16, String, String) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

async fn demo_bank() -> TestBank {
    TestBank::start_with(Options {
        demo_shop: true,
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_shop_and_qr_are_served_with_their_content_types() {
    let bank = demo_bank().await;

    let (status, ct, js) = get(&format!("{}/embed/checkout.js", bank.url)).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/javascript"), "{ct}");
    for needle in [
        "EcashCheckout",
        "event.origin !== walletOrigin",
        "event.source !== popup",
        "ecash-receipt",
        "ecash-cancelled",
        "/status",
        "popup.closed",
        "Ed25519",
    ] {
        assert!(js.contains(needle), "checkout.js lacks {needle}");
    }

    for path in ["/shop", "/shop/"] {
        let (status, ct, html) = get(&format!("{}{path}", bank.url)).await;
        assert_eq!(status, 200, "{path}");
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(html.contains(r#"<script src="/embed/checkout.js"></script>"#));
        for id in [
            r#"data-item="coffee""#,
            r#"id="buy-coffee""#,
            r#"id="shop-status""#,
            r#"id="shop-receipt""#,
            r#"id="shop-receipt-order""#,
            r#"id="shop-receipt-amount""#,
            r#"id="shop-receipt-paid-at""#,
            r#"id="shop-receipt-verified""#,
        ] {
            assert!(html.contains(id), "/shop lacks {id}");
        }
        assert!(html.contains("2.50 EUR"), "prices from the server's list");
    }

    let (status, ct, items) = get(&format!("{}/shop/api/items", bank.url)).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    let items: serde_json::Value = serde_json::from_str(&items).unwrap();
    assert_eq!(items[0]["key"], "coffee");
    assert_eq!(items[0]["price"], 250);

    // The demo endpoint: an order of the Demo Shop at the list price, for
    // this server's origin.
    let order: CreateOrderResponse = bank
        .client()
        .post("/shop/api/orders", &serde_json::json!({"item": "coffee"}))
        .await
        .unwrap();
    let c = &order.contract;
    assert_eq!(c.merchant, "Demo Shop");
    assert_eq!((c.amount.minor(), c.currency), (250, Currency::EUR));
    assert_eq!(c.allowed_origin.as_deref(), Some(bank.url.as_str()));
    assert!(c.hash_is_valid());
    assert_eq!(c.expires_at.unix() - c.created_at.unix(), 15 * 60);
    expect_code(
        bank.client()
            .post::<_, CreateOrderResponse>(
                "/shop/api/orders",
                &serde_json::json!({"item": "yacht"}),
            )
            .await,
        ErrorCode::NotFound,
    );
    expect_code(
        bank.client()
            .post::<_, CreateOrderResponse>(
                "/shop/api/orders",
                &serde_json::json!({"item": "coffee", "price": 1}),
            )
            .await,
        ErrorCode::BadRequest,
    );

    let (status, ct, svg) = get(&format!("{}/v1/orders/{}/qr.svg", bank.url, order.order_id)).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("image/svg+xml"), "{ct}");
    assert!(svg.contains("<svg"), "{svg}");

    // The public order endpoints may be read from a shop on another origin.
    let r = reqwest::Client::new()
        .get(format!("{}/v1/orders/{}/status", bank.url, order.order_id))
        .header("Origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("https://shop.example")
    );

    // A customer pays the demo order like any other.
    let alice = bank.user("alice", 1000).await;
    let coins = alice.withdraw(250).await.unwrap();
    alice.pay_order(&order.order_id, &coins).await.unwrap();
    let st = bank
        .client()
        .order_status(&order.order_id, None)
        .await
        .unwrap();
    assert_eq!(st.state, OrderState::Paid);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shop_account_is_created_once_and_can_be_turned_off() {
    let bank = demo_bank().await;
    let account = bank
        .bank
        .storage
        .account_by_username("demo-shop")
        .unwrap()
        .unwrap();
    assert!(account.merchant);
    assert_eq!(
        bank.bank
            .storage
            .merchant_name(account.id)
            .unwrap()
            .as_deref(),
        Some("Demo Shop")
    );
    // Its password is random: nobody logs in with a guess.
    expect_code(
        bank.client().login("demo-shop", "password123").await,
        ErrorCode::InvalidCredentials,
    );
    let bank = bank.restart().await;
    let again = bank
        .bank
        .storage
        .account_by_username("demo-shop")
        .unwrap()
        .unwrap();
    assert_eq!(again.id, account.id, "kept, not recreated");
    assert_eq!(bank.audit().balances.len(), 1);

    // Without the demo shop: no page, no endpoint; the embed stays.
    let plain = TestBank::start().await;
    let (status, _, _) = get(&format!("{}/shop", plain.url)).await;
    assert_eq!(status, 404);
    let raw = plain
        .client()
        .raw(
            "POST",
            "/shop/api/orders",
            &[("Content-Type", "application/json")],
            Some(br#"{"item":"coffee"}"#.to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 404);
    let (status, _, _) = get(&format!("{}/embed/checkout.js", plain.url)).await;
    assert_eq!(status, 200);
    assert!(
        plain
            .bank
            .storage
            .account_by_username("demo-shop")
            .unwrap()
            .is_none()
    );
}

/// Runs `tests/js/checkout.test.js` (the embed's logic: receipt
/// verification with WebCrypto Ed25519, message source/origin checks, popup
/// handling) in Node against a live bank. Skipped, loudly, without Node 20+.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_js_logic_in_node() {
    let node_ok = std::process::Command::new("node")
        .args([
            "-e",
            "process.exit(typeof fetch === 'function' && crypto.subtle ? 0 : 1)",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        eprintln!("SKIPPED checkout_js_logic_in_node: needs `node` 20 or newer on PATH");
        return;
    }
    let bank = demo_bank().await;
    let alice = bank.user("alice", 1000).await;
    let order = |item: &'static str| {
        let c = bank.client();
        async move {
            c.post::<_, CreateOrderResponse>(
                "/shop/api/orders",
                &serde_json::json!({ "item": item }),
            )
            .await
            .unwrap()
        }
    };
    let paid = order("coffee").await;
    let unpaid = order("stickers").await;
    let coins = alice.withdraw(250).await.unwrap();
    alice.pay_order(&paid.order_id, &coins).await.unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/js/checkout.test.js");
    let mut cmd = std::process::Command::new("node");
    cmd.arg(script)
        .env("BANK_URL", &bank.url)
        .env("PAID_ID", &paid.order_id)
        .env("UNPAID_ID", &unpaid.order_id);
    // The server runs on this runtime: wait for node off its threads.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "node failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("checkout.js: all checks passed"),
        "{stdout}"
    );
    bank.assert_audit_clean();
}
