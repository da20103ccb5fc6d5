//! Logging in: opening the wallet of the chosen bank, the bank's session, and the
//! tab's copy of it ([`crate::services::session`]). Logging out and an expired
//! session are [`super::ops::logout`] and [`super::ops::report`].

use ecash_shared::api::Credentials;
use ecash_wallet::wallet::Session;
use wasm_bindgen_futures::spawn_local;

use super::navigate;
use super::ops::{self, describe_resume};
use crate::route::Route;
use crate::services::session::{self, SavedSession};
use crate::services::wallet::open_wallet;
use crate::state::{Action, AppContext, Notice};

/// Registers `user` first when `register`, then logs in at the bank at `url` (its
/// own database when it is not the current bank: coins of two banks never mix),
/// keeps the session for the tab, finishes pending work and goes home.
pub fn log_in(ctx: &AppContext, url: String, user: String, pass: String, register: bool) {
    let ctx = ctx.clone();
    spawn_local(async move {
        let wallet = match (&ctx.wallet, url == ctx.bank_url) {
            (Some(w), true) => w.clone(),
            _ => match open_wallet(&url).await {
                Ok(w) => {
                    ctx.dispatch(Action::WalletReady {
                        wallet: w.clone(),
                        bank_url: url.clone(),
                        username: None,
                    });
                    w
                }
                Err(e) => {
                    return ctx.dispatch(Action::Notice(Notice::error(e.to_string())));
                }
            },
        };
        let label = if register {
            "Opening your account"
        } else {
            "Logging in"
        };
        ops::run_on(
            &ctx,
            wallet,
            label,
            move |w| async move {
                let creds = Credentials {
                    username: user.clone(),
                    password: pass,
                    merchant: false,
                };
                if register {
                    w.client().register(&creds).await?;
                }
                let login = w.client().login(&creds).await?;
                w.set_session(Some(Session {
                    username: user.clone(),
                    token: login.token.clone(),
                }));
                session::save(&SavedSession {
                    bank_url: url.clone(),
                    username: user.clone(),
                    token: login.token,
                });
                session::save_bank_url(&url);
                let resumed = w.resume().await?;
                Ok((user, resumed))
            },
            move |ctx, (user, resumed)| {
                ctx.dispatch(Action::LoggedIn(user.clone()));
                ctx.dispatch(Action::Resumed(describe_resume(&resumed)));
                let text = if register {
                    format!("Welcome, {user}: your account is open.")
                } else {
                    format!("Logged in as {user}.")
                };
                ctx.dispatch(Action::Notice(Notice::success(text).on(&Route::Home)));
                navigate(&Route::Home);
            },
        );
    });
}
