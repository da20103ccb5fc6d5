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

mod common;

use common::*;
use ecash_shared::Amount;
use ecash_wallet::Wallet;
use ecash_wallet::faults::{FaultPlan, FaultyStorage, FaultyTransport};
use ecash_wallet::wallet::Session;
use wallet_web::services::idb::IdbStorage;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const AMOUNT: Amount = Amount::from_minor(7); // three coins: 4 + 2 + 1

#[wasm_bindgen_test]
async fn interrupted_withdrawals_resume_without_loss() {
    let Some(bank) = test_bank("interrupted_withdrawals_resume_without_loss") else {
        return;
    };
    let Account {
        http,
        username,
        token,
    } = credited_account(&bank, "resume", 100_000).await;
    let session = Session {
        username,
        token: token.clone(),
    };

    // How many await points one withdrawal passes.
    let counting = FaultPlan::new(0, false);
    let db = fresh_db("resume").await;
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
            let db = fresh_db("resume").await;
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
