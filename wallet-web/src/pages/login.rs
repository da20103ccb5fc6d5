//! Connect to a bank: its URL, then register or log in.

use yew::prelude::*;

use crate::components::field::Field;
use crate::hooks::session::log_in;
use crate::hooks::use_app;
use crate::input::normalize_bank_url;
use crate::state::{Action, Notice};

/// Bank URL, username, password; register or log in.
#[component]
pub fn Login() -> Html {
    let ctx = use_app();
    let bank_url = use_state(|| ctx.bank_url.clone());
    let username = use_state(String::new);
    let password = use_state(String::new);
    {
        // The bank URL is known only once the app has started.
        let bank_url = bank_url.clone();
        use_effect_with(ctx.bank_url.clone(), move |url| {
            if bank_url.is_empty() {
                bank_url.set(url.clone());
            }
        });
    }
    let submit = |register: bool| {
        let ctx = ctx.clone();
        let (bank_url, username, password) = (bank_url.clone(), username.clone(), password.clone());
        move || {
            let url = match normalize_bank_url(&bank_url) {
                Ok(u) => u,
                Err(e) => return ctx.dispatch(Action::Notice(Notice::error(e))),
            };
            let user = username.trim().to_owned();
            let pass = (*password).clone();
            if user.is_empty() || pass.is_empty() {
                return ctx.dispatch(Action::Notice(Notice::error(
                    "Enter a username and a password.",
                )));
            }
            if ctx.lock.get() {
                return ctx.dispatch(Action::Notice(Notice::error(
                    "Please wait for the running operation to finish.",
                )));
            }
            password.set(String::new());
            log_in(&ctx, url, user, pass, register);
        }
    };
    let on_login = {
        let go = submit(false);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            go();
        })
    };
    let on_register = {
        let go = submit(true);
        Callback::from(move |_: MouseEvent| go())
    };
    let busy = ctx.busy.is_some();
    html! {
        <section class="card narrow" aria-labelledby="login-title">
            <h1 id="login-title">{ "Connect to your bank" }</h1>
            if let Some(u) = &ctx.username {
                <p class="notice info">{ format!("You are logged in as {u}. Log in again to switch accounts.") }</p>
            }
            <form onsubmit={on_login} novalidate=true>
                <Field id="bank-url" label="Bank URL" kind="url" value={bank_url}
                    hint="The bank that issues your coins. Usually the address of this page." />
                <Field id="username" label="Username" value={username} autocomplete="username"
                    hint="3 to 32 characters: lower-case letters, digits, '.', '_' or '-'." />
                <Field id="password" label="Password" kind="password" value={password}
                    autocomplete="current-password" hint="At least 8 characters." />
                <div class="actions">
                    <button id="login" type="submit" disabled={busy}>{ "Log in" }</button>
                    <button id="register" type="button" class="secondary" onclick={on_register} disabled={busy}>
                        { "Open an account" }
                    </button>
                </div>
            </form>
        </section>
    }
}
