//! A withdrawal interrupted at every await point, then resumed, in the
//! browser: IndexedDB storage and `fetch` to a real bank. Nothing is lost and
//! nothing is debited twice.
//!
//! Needs a bank: build with `ECASH_TEST_BANK_URL=http://127.0.0.1:PORT` and
//! `ECASH_TEST_ADMIN_TOKEN=…` (to credit the test account). The bank must
//! allow the test page's origin (the runner serves it from another port), or
//! the browser blocks the requests (CORS). Without the variables the test
//! prints a notice and passes without checking anything.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::Amount;
use ecash_shared::api::Credentials;
use wallet_web::core::Wallet;
use wallet_web::core::faults::{FaultPlan, FaultyStorage, FaultyTransport};
use wallet_web::core::transport::{Method, Transport};
use wallet_web::core::wallet::Session;
use wallet_web::services::http::HttpTransport;
use wallet_web::services::idb::IdbStorage;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const AMOUNT: Amount = Amount::from_minor(7); // three coins: 4 + 2 + 1

async fn fresh_db() -> IdbStorage {
    IdbStorage::open(&format!("ecash-resume-{}", js_sys::Math::random()))
        .await
        .unwrap()
}

async fn account_balance(http: &HttpTransport, token: &str) -> Amount {
    let w = Wallet::new(fresh_db().await, http.clone());
    w.client().account(token).await.unwrap().balance
}

#[wasm_bindgen_test]
async fn interrupted_withdrawals_resume_without_loss() {
    let (Some(url), Some(admin)) = (
        option_env!("ECASH_TEST_BANK_URL"),
        option_env!("ECASH_TEST_ADMIN_TOKEN"),
    ) else {
        console_log!(
            "SKIPPED interrupted_withdrawals_resume_without_loss: \
             set ECASH_TEST_BANK_URL and ECASH_TEST_ADMIN_TOKEN at build time to run it"
        );
        return;
    };
    let http = HttpTransport::new(url);
    let username = format!("resume{}", (js_sys::Math::random() * 1e9) as u64);
    let creds = Credentials {
        username: username.clone(),
        password: "correct horse battery".into(),
        merchant: false,
    };
    let setup = Wallet::new(fresh_db().await, http.clone());
    setup.client().register(&creds).await.unwrap();
    let token = setup.client().login(&creds).await.unwrap().token;
    let credit = serde_json::json!({ "username": username, "amount": 100_000 });
    let resp = http
        .send(
            Method::Post,
            "/v1/admin/credit",
            Some(admin),
            Some(credit.to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let session = Session {
        username: username.clone(),
        token: token.clone(),
    };

    // How many await points one withdrawal passes.
    let counting = FaultPlan::new(0, false);
    let db = fresh_db().await;
    let w = Wallet::new(
        FaultyStorage::new(db.clone(), counting.clone()),
        FaultyTransport::new(http.clone(), counting.clone()),
    );
    w.set_session(Some(session.clone()));
    w.withdraw(AMOUNT, &|_| {}).await.unwrap();
    let steps = counting.steps();
    assert!(steps > 3, "only {steps} await points");
    let mut completed = 0;

    for lose_response in [false, true] {
        for n in 1..=steps {
            let before = account_balance(&http, &token).await;
            let db = fresh_db().await;
            let plan = FaultPlan::new(n, lose_response);
            let crashing = Wallet::new(
                FaultyStorage::new(db.clone(), plan.clone()),
                FaultyTransport::new(http.clone(), plan.clone()),
            );
            crashing.set_session(Some(session.clone()));
            let _ = crashing.withdraw(AMOUNT, &|_| {}).await;
            assert!(plan.tripped(), "step {n} of {steps} never reached");

            // The tab is reopened: a fresh wallet on what IndexedDB kept.
            let reopened = Wallet::new(db.clone(), http.clone());
            reopened.set_session(Some(session.clone()));
            for r in reopened.resume().await.unwrap() {
                r.result.unwrap();
            }
            assert!(reopened.pending().await.unwrap().is_empty());
            let after = account_balance(&http, &token).await;
            let debited = before.checked_sub(after).unwrap();
            let held = reopened.total_value().await.unwrap();
            // Either the withdrawal happened (debited once, coins held) or it
            // never reached the bank (nothing debited, nothing held).
            assert_eq!(
                held, debited,
                "step {n}, lose_response {lose_response}: holds {held}, debited {debited}"
            );
            assert!(held == AMOUNT || held.is_zero());
            completed += usize::from(held == AMOUNT);
            db.close();
            IdbStorage::delete_database(db.name()).await.unwrap();
        }
    }
    console_log!(
        "{} interrupted withdrawals ({steps} crash points, answer kept or lost): \
         {completed} finished by resume, the rest never reached the bank",
        2 * steps
    );
}
