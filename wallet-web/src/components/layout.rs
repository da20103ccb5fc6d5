//! The frame around every page: header with navigation and the user, the
//! message banner, and the running operation with its progress bar.

use ecash_wallet::wallet::Progress;
use yew::prelude::*;

use crate::hooks::{ops, use_app};
use crate::route::Route;
use crate::state::{Action, NoticeKind};

/// Properties of [`Header`].
#[derive(Properties, PartialEq)]
pub struct HeaderProps {
    /// The current page (highlighted in the navigation).
    pub route: Route,
}

/// Title, navigation, who is logged in.
#[component]
pub fn Header(p: &HeaderProps) -> Html {
    let ctx = use_app();
    let link = |route: Route, id: &'static str, label: &'static str| {
        let current = std::mem::discriminant(&route) == std::mem::discriminant(&p.route);
        html! {
            <li><a href={route.to_hash()} {id} class={classes!(current.then_some("current"))}
                aria-current={current.then_some("page")}>{ label }</a></li>
        }
    };
    let logout = {
        let ctx = ctx.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(w) = &ctx.wallet {
                ops::logout(&ctx, w);
                ctx.dispatch(Action::Notice(crate::state::Notice::info("Logged out.")));
            }
        })
    };
    html! {
        <header class="top">
            <div class="top-inner">
                <a class="brand" href="#/">{ "Cyberwallet" }</a>
                <div class="who">
                    if let Some(u) = &ctx.username {
                        <span>{ "Logged in as " }<strong id="user">{ u.clone() }</strong></span>
                        <button id="logout" class="link" onclick={logout}>{ "Log out" }</button>
                    } else {
                        <a id="nav-login" href="#/login" class="button small">{ "Log in" }</a>
                    }
                </div>
            </div>
            <nav aria-label="Wallet">
                <ul>
                    { link(Route::Home, "nav-home", "Wallet") }
                    { link(Route::Withdraw, "nav-withdraw", "Withdraw") }
                    { link(Route::Pay(None), "nav-pay", "Pay") }
                    { link(Route::Send, "nav-send", "Send") }
                    { link(Route::Receive, "nav-receive", "Receive") }
                    { link(Route::Bank, "nav-bank", "Bank account") }
                    { link(Route::History, "nav-history", "History") }
                    { link(Route::Card, "nav-card", "Card") }
                </ul>
            </nav>
        </header>
    }
}

/// The message banner (`#error` for errors, `#notice` otherwise), on the
/// page the message belongs to.
#[component]
pub fn NoticeBanner(p: &HeaderProps) -> Html {
    let ctx = use_app();
    let here = p.route.to_hash();
    let Some(n) = ctx
        .notice
        .as_ref()
        .filter(|n| n.page.as_deref() == Some(&here))
    else {
        return html! {};
    };
    let dismiss = {
        let ctx = ctx.clone();
        Callback::from(move |_: MouseEvent| ctx.dispatch(Action::ClearNotice))
    };
    let (id, class, role) = match n.kind {
        NoticeKind::Error => ("error", "notice error", "alert"),
        NoticeKind::Success => ("notice", "notice success", "status"),
        NoticeKind::Info => ("notice", "notice info", "status"),
    };
    html! {
        <div {id} {class} {role}>
            <p>{ n.text.clone() }</p>
            <button class="dismiss" aria-label="Dismiss message" onclick={dismiss}>{ "×" }</button>
        </div>
    }
}

/// The running operation: its label and, when it reports progress, a bar.
#[component]
pub fn BusyStatus() -> Html {
    let ctx = use_app();
    let Some(label) = &ctx.busy else {
        return html! {};
    };
    let (text, bar) = match ctx.progress {
        Some(Progress::Blinding(done, total)) => (
            format!("Creating and blinding coins: {done} of {total}"),
            Some((done, total)),
        ),
        Some(Progress::Waiting) => ("Waiting for the bank…".to_owned(), None),
        Some(Progress::Unblinding(done, total)) => (
            format!("Checking the bank's signatures: {done} of {total}"),
            Some((done, total)),
        ),
        None => (format!("{label}…"), None),
    };
    html! {
        <div id="busy" class="busy" role="status" aria-live="polite">
            <p id="progress-label">{ text }</p>
            if ctx.progress.is_some() {
                // Keyed: a bar that had a value must not be reused as the
                // indeterminate one (the browser keeps the old value).
                if let Some((done, total)) = bar {
                    <progress key="determinate" id="progress" max={total.max(1).to_string()}
                        value={done.to_string()} aria-labelledby="progress-label" />
                } else {
                    <progress key="indeterminate" id="progress" aria-labelledby="progress-label" />
                }
            } else {
                <span class="spinner" aria-hidden="true"></span>
            }
        </div>
    }
}
