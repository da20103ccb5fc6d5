//! The root component: opens the wallet, provides the shared state, and
//! shows the page the hash names. Pages are imported here for routing only.

use ecash_wallet::wallet::Session;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::components::layout;
use crate::hooks::{ops, use_app, use_route};
use crate::pages::{
    bank::Bank, card::Card, history::History, home::Home, login::Login, not_found::NotFound,
    pay::Pay, receive::Receive, send::Send, withdraw::Withdraw,
};
use crate::route::Route;
use crate::services::http::HttpTransport;
use crate::services::session;
use crate::services::wallet::open_wallet;
use crate::state::{Action, AppContext, AppState};

/// Opens the wallet, restores the tab's session, finishes pending work.
async fn start(ctx: AppContext) {
    let saved = session::load();
    let bank_url = saved
        .as_ref()
        .map(|s| s.bank_url.clone())
        .or_else(session::load_bank_url)
        .or_else(HttpTransport::page_origin)
        .unwrap_or_default();
    ctx.dispatch(Action::BankUrl(bank_url.clone()));
    let wallet = match open_wallet(&bank_url).await {
        Ok(w) => w,
        Err(e) => {
            let msg = format!("The wallet cannot store coins in this browser: {e}");
            ctx.dispatch(Action::StartupFailed(msg.clone()));
            ctx.dispatch(Action::Notice(crate::state::Notice::error(msg)));
            return;
        }
    };
    let username = saved.filter(|s| s.bank_url == bank_url).map(|s| {
        wallet.set_session(Some(Session {
            username: s.username.clone(),
            token: s.token.clone(),
        }));
        s.username.clone()
    });
    ctx.dispatch(Action::WalletReady {
        wallet: wallet.clone(),
        bank_url,
        username,
    });
    // Show what is stored at once, then finish what a closed tab left pending.
    ops::refresh(&ctx, &wallet).await;
    ops::run_on(
        &ctx,
        wallet,
        "Finishing pending operations",
        |w| async move { w.resume().await },
        |ctx, resumed| ctx.dispatch(Action::Resumed(ops::describe_resume(&resumed))),
    );
}

/// The cyberwallet.
#[component]
pub fn App() -> Html {
    let state = use_reducer(AppState::default);
    {
        let state = state.clone();
        use_effect_with((), move |_| spawn_local(start(state)));
    }
    html! {
        <ContextProvider<AppContext> context={state}>
            <Shell />
        </ContextProvider<AppContext>>
    }
}

/// Header, banner, status and the current page.
#[component]
fn Shell() -> Html {
    let route = use_route();
    let ctx = use_app();
    {
        // The bank balance shown on a page is fetched when the page opens.
        let ctx = ctx.clone();
        use_effect_with((route.clone(), ctx.wallet.is_some()), move |_| {
            if let Some(w) = ctx.wallet.clone()
                && w.session().is_some()
            {
                spawn_local(async move { ops::refresh_account(&ctx, &w).await });
            }
        });
    }
    let page = match &route {
        Route::Home => html! { <Home /> },
        Route::Login => html! { <Login /> },
        Route::Withdraw => html! { <Withdraw /> },
        Route::Pay(id) => html! { <Pay order_id={id.clone()} /> },
        Route::Send => html! { <Send /> },
        Route::Receive => html! { <Receive /> },
        Route::Bank => html! { <Bank /> },
        Route::History => html! { <History /> },
        Route::Card => html! { <Card /> },
        Route::NotFound => html! { <NotFound /> },
    };
    html! {
        <>
            <a class="skip" href="#main" onclick={Callback::from(|e: MouseEvent| {
                // The hash is the router's: focus the content instead of navigating.
                e.prevent_default();
                if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("main")) {
                    let _ = el.unchecked_into::<web_sys::HtmlElement>().focus();
                }
            })}>{ "Skip to content" }</a>
            <layout::Header route={route.clone()} />
            <main id="main" class="page" tabindex="-1">
                <layout::NoticeBanner route={route.clone()} />
                <layout::BusyStatus />
                { page }
            </main>
            <footer class="foot muted small">
                <p>{ "Coins are stored in this browser only. Bank: " }<span id="bank-url-shown">{ ctx.bank_url.clone() }</span></p>
            </footer>
        </>
    }
}
