//! The API answers cross-origin requests (wallets served from elsewhere), never
//! with credentials (auth is a bearer token, not a cookie).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_tests::server::TestBank;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_allows_cross_origin_calls_without_credentials() {
    let bank = TestBank::start().await;
    let http = reqwest::Client::new();
    let pre = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/withdraw", bank.url),
        )
        .header("Origin", "http://127.0.0.1:9999")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success(), "{}", pre.status());
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "http://127.0.0.1:9999");
    assert!(h.get("access-control-allow-credentials").is_none());
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));

    let keys = http
        .get(format!("{}/v1/keys", bank.url))
        .header("Origin", "http://example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.headers()["access-control-allow-origin"],
        "http://example.test"
    );
    // A disallowed method is not advertised.
    let del = http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/keys", bank.url))
        .header("Origin", "http://example.test")
        .header("Access-Control-Request-Method", "DELETE")
        .send()
        .await
        .unwrap();
    assert!(!del.status().is_success());
}
