//! Running wallet operations from components.
//!
//! A component calls [`run`] with a label and an async closure over the
//! wallet; the operation runs in `spawn_local`, one at a time (a second one
//! is refused with a message: two operations could pick the same coins), its
//! error is shown with `WalletError`'s message, and afterwards what the pages
//! show is read again from storage.

use std::future::Future;
use std::rc::Rc;

use ecash_shared::ErrorCode;
use ecash_wallet::WalletError;
use ecash_wallet::wallet::Resumed;
use wasm_bindgen_futures::spawn_local;

use crate::services::session;
use crate::state::{Action, AppContext, Notice, WalletData, WebWallet};

/// Runs `op` on the wallet in the background; `done` gets its result.
pub fn run<R, Fut>(
    ctx: &AppContext,
    label: &str,
    op: impl FnOnce(Rc<WebWallet>) -> Fut + 'static,
    done: impl FnOnce(&AppContext, R) + 'static,
) where
    R: 'static,
    Fut: Future<Output = Result<R, WalletError>> + 'static,
{
    let Some(wallet) = ctx.wallet.clone() else {
        ctx.dispatch(Action::Notice(Notice::error(
            ctx.startup_error
                .clone()
                .unwrap_or_else(|| "The wallet is still starting: try again in a moment.".into()),
        )));
        return;
    };
    run_on(ctx, wallet, label, op, done);
}

/// Like [`run`] on a given wallet (the one just opened for another bank,
/// before the context shows it).
pub fn run_on<R, Fut>(
    ctx: &AppContext,
    wallet: Rc<WebWallet>,
    label: &str,
    op: impl FnOnce(Rc<WebWallet>) -> Fut + 'static,
    done: impl FnOnce(&AppContext, R) + 'static,
) where
    R: 'static,
    Fut: Future<Output = Result<R, WalletError>> + 'static,
{
    let lock = ctx.lock.clone();
    if lock.replace(true) {
        ctx.dispatch(Action::Notice(Notice::error(format!(
            "Please wait: {} is still running.",
            ctx.busy.as_deref().unwrap_or("another operation")
        ))));
        return;
    }
    ctx.dispatch(Action::Started(label.to_owned()));
    let ctx = ctx.clone();
    spawn_local(async move {
        match op(wallet.clone()).await {
            Ok(r) => done(&ctx, r),
            Err(e) => report(&ctx, &wallet, &e),
        }
        refresh(&ctx, &wallet).await;
        lock.set(false);
        ctx.dispatch(Action::Finished);
    });
}

/// Shows a wallet error; an expired session logs out.
pub fn report(ctx: &AppContext, wallet: &WebWallet, e: &WalletError) {
    if e.code() == Some(ErrorCode::Unauthorized) {
        logout(ctx, wallet);
    }
    ctx.dispatch(Action::Notice(Notice::error(e.to_string())));
}

/// Forgets the session.
pub fn logout(ctx: &AppContext, wallet: &WebWallet) {
    session::clear();
    wallet.set_session(None);
    ctx.dispatch(Action::LoggedOut);
}

/// Reads what the pages show again: storage, and the bank account if logged in.
pub async fn refresh(ctx: &AppContext, wallet: &WebWallet) {
    match WalletData::load(wallet).await {
        Ok(d) => ctx.dispatch(Action::Data(d)),
        Err(e) => ctx.dispatch(Action::Notice(Notice::error(e.to_string()))),
    }
    refresh_account(ctx, wallet).await;
}

/// Fetches the bank account of the logged-in user.
pub async fn refresh_account(ctx: &AppContext, wallet: &WebWallet) {
    let Some(s) = wallet.session() else {
        ctx.dispatch(Action::Account(None));
        return;
    };
    match wallet.client().account(&s.token).await {
        Ok(a) => ctx.dispatch(Action::Account(Some(a))),
        Err(e) if e.code() == Some(ErrorCode::Unauthorized) => {
            logout(ctx, wallet);
            ctx.dispatch(Action::Notice(Notice::error(e.to_string())));
        }
        // The bank is unreachable: the page says the balance is unknown.
        Err(_) => ctx.dispatch(Action::Account(None)),
    }
}

/// Finishes pending operations (at start, after logging in, on "retry now").
pub fn resume(ctx: &AppContext) {
    run(
        ctx,
        "Finishing pending operations",
        |w| async move { w.resume().await },
        |ctx, resumed| ctx.dispatch(Action::Resumed(describe_resume(&resumed))),
    );
}

/// What resume did, in words (`None` when nothing was pending).
pub fn describe_resume(resumed: &[Resumed]) -> Option<String> {
    if resumed.is_empty() {
        return None;
    }
    let finished = resumed.iter().filter(|r| r.result.is_ok()).count();
    let failed: Vec<String> = resumed
        .iter()
        .filter_map(|r| r.result.as_ref().err().map(ToString::to_string))
        .collect();
    let mut out = String::new();
    if finished > 0 {
        out.push_str(&format!(
            "Finished {finished} interrupted operation{}.",
            if finished == 1 { "" } else { "s" }
        ));
    }
    if !failed.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!(
            "{} still pending: {}",
            if failed.len() == 1 {
                "1 operation is".to_owned()
            } else {
                format!("{} operations are", failed.len())
            },
            failed.join("; ")
        ));
    }
    Some(out)
}
