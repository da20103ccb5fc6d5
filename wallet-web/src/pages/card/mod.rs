//! The Card page: two virtual electronic purses in this page — the holder's personal
//! purse and a "shop terminal" purse — kept in IndexedDB (a database of their own
//! next to the wallet's). Logged in, the holder certifies them at the bank, loads the
//! personal purse from the bank account or from the wallet's coins, pays the terminal
//! offline (purse to purse, no bank involved), and unloads the purses back to the
//! account.
//!
//! A load checks the purse first (certified, not locked, room under its balance cap),
//! so that the bank is never asked for value the card would refuse. A load from the
//! wallet's coins is two steps: the wallet deposits the coins into the holder's account
//! (its own intent-logged deposit, resumed like any other if the page closes), then
//! the purse loads from the account. Between the two the value is in the account, in
//! plain sight; if the second step fails the page says so and the value can be loaded
//! from the account. The bank's audit sees an ordinary deposit and an ordinary load.
//!
//! Every card command is answered only after the card's new state is stored (the
//! reader's persister). An unload settles the purse's credits first and asks the card
//! to UNLOAD only a balance that is all spendable. An unload proof is stored before it
//! is sent to the bank and removed once the bank answered, so a proof lost on the way
//! is sent again when the page opens.
//!
//! Value a purse takes offline (the terminal, paid by the holder's purse) stays on it
//! as an unsettled credit until the bank has counted it, and is not spendable until
//! then: the page shows it apart ("received offline, not yet settled") with what the
//! purse can spend now. Logged in, it also shows each certified purse as the bank's
//! ledger sees it (`GET /v1/cards/{id}`: "At the bank", a block, the account's debt);
//! that answer is extra, and the purses are shown without it when it does not come.
//!
//! "Sync with bank" settles the purses with the issuer: each purse's credits taken
//! offline (GET CREDIT) go to the bank and its clearance is applied (CLEAR CREDITS:
//! settled ones become spendable, refused ones leave the card), each purse's exception
//! log (GET EXCEPTION) goes to the bank and the clearance it answers is applied (CLEAR
//! EXCEPTIONS) — both purses first, so a transfer lost between them is proven — then
//! each purse loads what the bank holds for it from its next load number: a load whose
//! answer never arrived, and recovery loads of value lost in flight. A load fetches
//! those first too. The protocol steps are `ecash_card::client`'s; the bank's card
//! endpoints are `ecash_wallet`'s shared client (`BankClient`, and its `CardSession`
//! as the purse client's bank).
//!
//! A purse its risk rules locked (a payment over its per-transfer or daily limit) is
//! shown locked, with its card id and where its unlock stands at the bank. "Request
//! unlock" asks the bank's operator to reopen it (for the card's next unlock number);
//! once the operator approved, "Sync with bank" applies the signed UNLOCK to the card
//! before anything else (a locked purse takes no load).
//!
//! The holder's purse need not be the page's: the reader picker puts it on a card in a
//! USB reader (WebUSB), a HID token (WebHID) or any PC/SC reader behind `card-bridge`
//! ([`crate::services::reader`]). Every operation runs over a `PageReader`,
//! whichever it is; the shop terminal stays a virtual purse in the page, so "pay"
//!
//! The page's files: [`env`] (where the purses are, connecting to them), [`purse`]
//! (reading, certifying, loading, paying, unlock requests), [`settle`] (sync and
//! unload), [`state`] (the page's state, a reducer) and [`view`] (its parts in HTML).

mod env;
mod purse;
mod settle;
mod state;
mod view;

use std::rc::Rc;

use ecash_card::Pin;
use ecash_shared::Amount;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use self::env::{Env, PERSONAL, TERMINAL, connect_reader, open_env};
use self::purse::{LoadSource, certify, load, pay, read_view, request_unlock};
use self::settle::{sync, unload};
use self::state::{CardAction, CardState, PurseView};
use self::view::{Buttons, account_debt, locked_notices, purse_details, reader_picker};
use crate::components::field::Field;
use crate::hooks::{ops, use_app};
use crate::input::parse_amount;
use crate::services::reader::{self, ReaderKind};

type OpFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>>>>;

/// A purse operation: the purses, the session (token, username) if logged in, the PIN;
/// answers the message to show.
type Op = Rc<dyn Fn(Rc<Env>, Option<(String, String)>, Pin) -> OpFuture>;

/// The session's (token, username), or the error to show.
fn need_login(s: Option<(String, String)>) -> Result<(String, String), String> {
    s.ok_or_else(|| "Log in first.".to_owned())
}

/// The Card page (`#/card`).
#[component]
pub fn Card() -> Html {
    let ctx = use_app();
    let state = use_reducer(|| CardState::new(reader::load_choice().0));
    let pin = use_state(String::new);
    let load_amount = use_state(String::new);
    let pay_amount = use_state(String::new);
    let unlock_reason = use_state(String::new);
    let bridge_url = use_state(|| reader::load_choice().1);
    let bridge_token = use_state(String::new);

    // The bank's URL arrives after the first render (from the session): only the
    // purses of the latest URL are shown, whichever opening finishes last.
    let generation = use_mut_ref(|| 0u32);
    {
        let state = state.clone();
        let bank_url = ctx.bank_url.clone();
        let token = ctx
            .wallet
            .as_ref()
            .and_then(|w| w.session())
            .map(|s| s.token);
        let generation = generation.clone();
        use_effect_with(bank_url.clone(), move |_| {
            let mine = {
                let mut g = generation.borrow_mut();
                *g = g.wrapping_add(1);
                *g
            };
            let current = move || *generation.borrow() == mine;
            spawn_local(async move {
                // The choice as it is now: it may have changed while this opened.
                match open_env(bank_url, reader::load_choice().0).await {
                    Ok(e) => {
                        let v = read_view(&e, None, token.as_deref()).await;
                        if !current() {
                            return;
                        }
                        state.dispatch(CardAction::Opened(e, v));
                    }
                    Err(msg) => state.dispatch(CardAction::Error(format!(
                        "The purses cannot be stored: {msg}"
                    ))),
                }
            });
        });
    }

    // Runs one purse operation, then re-reads the purses.
    let run = {
        let (state, pin, ctx) = (state.clone(), pin.clone(), ctx.clone());
        Rc::new(move |op: Op| {
            let Some(e) = state.env.clone() else { return };
            let pin_value = match Pin::new(pin.trim()) {
                Ok(p) => p,
                Err(_) => {
                    return state.dispatch(CardAction::Error(
                        "Enter the purse PIN (4 to 8 digits).".into(),
                    ));
                }
            };
            let session = ctx
                .wallet
                .as_ref()
                .and_then(|w| w.session())
                .map(|s| (s.token, s.username));
            let (state, ctx) = (state.clone(), ctx.clone());
            state.dispatch(CardAction::Started);
            let token = session.as_ref().map(|(t, _)| t.clone());
            spawn_local(async move {
                e.release_left_open().await;
                state.dispatch(CardAction::Done(
                    op(e.clone(), session, pin_value.clone()).await,
                ));
                state.dispatch(CardAction::View(
                    read_view(&e, Some(&pin_value), token.as_deref()).await,
                ));
                // A load from the coins changed the wallet too.
                if let Some(w) = ctx.wallet.clone() {
                    ops::refresh(&ctx, &w).await;
                }
                state.dispatch(CardAction::Finished);
            });
        })
    };
    // A button that runs `op`.
    let button = |op: Op| {
        let run = run.clone();
        Callback::from(move |_: MouseEvent| run(op.clone()))
    };
    // A button that runs the operation `op` makes of the amount typed in `field`.
    let with_amount = |field: &UseStateHandle<String>, op: Rc<dyn Fn(Amount) -> Op>| {
        let (run, field, state) = (run.clone(), field.clone(), state.clone());
        Callback::from(move |_: MouseEvent| match parse_amount(&field) {
            Ok(value) => run(op(value)),
            Err(msg) => state.dispatch(CardAction::Error(msg)),
        })
    };

    let on_pin = button(Rc::new(|_, _, _| {
        Box::pin(async { Ok("PIN accepted.".to_owned()) })
    }));
    let on_certify = button(Rc::new(|e, s, pin| {
        Box::pin(async move {
            let (token, _) = need_login(s)?;
            Ok(match certify(&e, &token, &pin).await? {
                Some(puk) => format!(
                    "Purses certified. Their PUK (to unblock the PIN) is {puk}: note it now."
                ),
                None => "The purses are already certified.".to_owned(),
            })
        })
    }));
    let on_load = with_amount(
        &load_amount,
        Rc::new(|value| -> Op {
            Rc::new(move |e, s, _| {
                Box::pin(async move {
                    let (token, _) = need_login(s)?;
                    load(&e, &token, value, &LoadSource::Account).await
                })
            })
        }),
    );
    let on_load_coins = {
        let (run, amount, state, ctx) =
            (run.clone(), load_amount.clone(), state.clone(), ctx.clone());
        Callback::from(move |_: MouseEvent| {
            let value = match parse_amount(&amount) {
                Ok(v) => v,
                Err(msg) => return state.dispatch(CardAction::Error(msg)),
            };
            let Some(wallet) = ctx.wallet.clone() else {
                return state.dispatch(CardAction::Error(
                    ctx.startup_error.clone().unwrap_or_else(|| {
                        "The wallet is still starting: try again in a moment.".into()
                    }),
                ));
            };
            let lock = ctx.lock.clone();
            run(Rc::new(move |e, s, _| {
                let (wallet, lock) = (wallet.clone(), lock.clone());
                Box::pin(async move {
                    let (token, _) = need_login(s)?;
                    // One wallet operation at a time: two could pick the same coins.
                    if lock.replace(true) {
                        return Err(
                            "Please wait: another wallet operation is still running.".into()
                        );
                    }
                    let r = load(&e, &token, value, &LoadSource::Coins(wallet)).await;
                    lock.set(false);
                    r
                })
            }))
        })
    };
    let on_pay = with_amount(
        &pay_amount,
        Rc::new(|value| -> Op {
            Rc::new(move |e, _, pin| {
                Box::pin(async move {
                    pay(&e, &pin, value).await?;
                    Ok(format!("Paid {value} to the shop terminal, offline."))
                })
            })
        }),
    );
    let on_unload = button(Rc::new(|e, s, pin| {
        Box::pin(async move {
            let (token, username) = need_login(s)?;
            unload(&e, &token, &username, &pin).await
        })
    }));
    let on_sync = button(Rc::new(|e, s, _| {
        Box::pin(async move {
            let (token, _) = need_login(s)?;
            sync(&e, &token).await
        })
    }));
    let on_request_unlock = |slot: &'static str| {
        let (run, reason) = (run.clone(), unlock_reason.clone());
        Callback::from(move |_: MouseEvent| {
            let reason = Some(reason.trim().to_owned()).filter(|r| !r.is_empty());
            run(Rc::new(move |e, s, _| {
                let reason = reason.clone();
                Box::pin(async move {
                    let (token, _) = need_login(s)?;
                    request_unlock(&e, &token, slot, reason).await
                })
            }))
        })
    };

    // Shows the purses with the holder's purse where `personal` says.
    let show = {
        let (state, ctx) = (state.clone(), ctx.clone());
        Rc::new(move |e: Env| {
            let e = Rc::new(e);
            let token = ctx
                .wallet
                .as_ref()
                .and_then(|w| w.session())
                .map(|s| s.token);
            state.dispatch(CardAction::Show(e.clone()));
            let state = state.clone();
            spawn_local(async move {
                let view = read_view(&e, None, token.as_deref()).await;
                state.dispatch(CardAction::Shown(view, e.personal.is_some()));
            });
        })
    };

    let on_kind = {
        let (state, url, show) = (state.clone(), bridge_url.clone(), show.clone());
        Callback::from(move |ev: Event| {
            let value = ev
                .target_unchecked_into::<web_sys::HtmlSelectElement>()
                .value();
            let kind = ReaderKind::parse(&value);
            reader::save_choice(kind, &url);
            state.dispatch(CardAction::Kind(kind, match kind {
                ReaderKind::Virtual => None,
                ReaderKind::Bridge => Some(
                    "Start `card-bridge serve --allow-origin <this page's origin>`, paste the session token it prints, then press Connect.".to_owned(),
                ),
                _ => Some("Press Connect and choose the device in the browser's list.".to_owned()),
            }));
            if let Some(e) = state.env.clone() {
                let personal = match kind {
                    ReaderKind::Virtual => e.virtual_personal(),
                    _ => None,
                };
                show(e.with_personal(personal));
            }
        })
    };

    // Opens the device (the browser's chooser runs within this click's gesture).
    let connect_to = {
        let (state, url, token, show) = (
            state.clone(),
            bridge_url.clone(),
            bridge_token.clone(),
            show.clone(),
        );
        Rc::new(move |wanted: Option<String>| {
            let Some(e) = state.env.clone() else { return };
            let kind = state.kind;
            reader::save_choice(kind, &url);
            let (url, token) = ((*url).clone(), (*token).clone());
            let (state, show) = (state.clone(), show.clone());
            state.dispatch(CardAction::Started);
            spawn_local(async move {
                match connect_reader(&e, kind, &url, &token, wanted).await {
                    Ok((e, list, name)) => {
                        state.dispatch(CardAction::Connected(list, name));
                        show(e);
                    }
                    Err(msg) => state.dispatch(CardAction::ConnectFailed(msg)),
                }
            });
        })
    };
    let on_connect = {
        let connect_to = connect_to.clone();
        Callback::from(move |_: MouseEvent| connect_to(None))
    };
    let on_reader_name = {
        let connect_to = connect_to.clone();
        Callback::from(move |ev: Event| {
            connect_to(Some(
                ev.target_unchecked_into::<web_sys::HtmlSelectElement>()
                    .value(),
            ))
        })
    };

    // Also while the purses of a previous bank URL are shown.
    let disabled = state.busy
        || state
            .env
            .as_ref()
            .is_none_or(|e| e.bank_url != ctx.bank_url);
    let view = &state.view;
    let money = |p: &Option<PurseView>| match p {
        Some(p) => ctx.money(p.balance),
        None => "not certified".to_owned(),
    };
    let personal_money = if view.connected {
        money(&view.personal)
    } else {
        "no reader connected".to_owned()
    };
    let picker = reader_picker(
        &state,
        &bridge_url,
        &bridge_token,
        Buttons {
            on_kind,
            on_connect,
            on_reader_name,
            disabled,
        },
    );
    html! {
        <section id="card-page" class="card narrow" aria-labelledby="card-title">
            <h1 id="card-title">{ "Card" }</h1>
            <p class="muted">{ "Two virtual electronic purses in this browser: yours and a shop terminal. Value moves between them offline, purse to purse; the bank only sees loads and unloads." }</p>
            if ctx.username.is_none() {
                <p class="notice info">{ "Certifying, loading and unloading need the bank: " }<a href="#/login">{ "log in" }</a>{ " first." }</p>
            }
            if let Some(msg) = &state.error {
                <div id="card-error" class="notice error" role="alert"><p>{ msg.clone() }</p></div>
            }
            if let Some(msg) = &state.info {
                <div id="card-notice" class="notice success" role="status"><p>{ msg.clone() }</p></div>
            }
            { picker }
            <p>{ "Your purse: " }<strong id="card-balance">{ personal_money }</strong></p>
            { purse_details(&ctx, PERSONAL, &view.personal) }
            <p>{ "Shop terminal: " }<strong id="card-terminal-balance">{ money(&view.terminal) }</strong></p>
            { purse_details(&ctx, TERMINAL, &view.terminal) }
            { account_debt(&ctx, view) }
            { locked_notices(&view.locked, on_request_unlock, disabled) }
            if !view.locked.is_empty() {
                <Field id="card-unlock-reason" label="Why should the bank unlock it? (optional)"
                    value={unlock_reason.clone()} placeholder="I typed 60 instead of 6" />
            }
            <Field id="card-pin" label="Purse PIN" kind="password" value={pin.clone()} inputmode="numeric"
                placeholder="1234" hint="4 to 8 digits; chosen when the purses are certified." />
            <div class="actions">
                <button id="card-pin-submit" type="button" onclick={on_pin} disabled={disabled}>{ "Enter PIN" }</button>
                <button id="card-certify" type="button" onclick={on_certify} disabled={disabled}>{ "Certify purses" }</button>
            </div>
            <Field id="card-load-amount" label={format!("Load your purse ({})", ctx.currency())}
                value={load_amount.clone()} inputmode="decimal" placeholder="10.00"
                hint={format!("From the bank account, or from the wallet's coins (the wallet holds {}): they are deposited into the account, then loaded.", ctx.money(ctx.data.balance))} />
            <div class="actions">
                <button id="card-load" type="button" onclick={on_load} disabled={disabled}>{ "Load from the bank account" }</button>
                <button id="card-load-coins" type="button" onclick={on_load_coins} disabled={disabled}>{ "Load from the wallet's coins" }</button>
            </div>
            <Field id="card-pay-amount" label={format!("Pay the shop terminal ({})", ctx.currency())}
                value={pay_amount.clone()} inputmode="decimal" placeholder="2.50" />
            <div class="actions">
                <button id="card-pay" type="button" onclick={on_pay} disabled={disabled}>{ "Pay offline" }</button>
                <button id="card-unload" type="button" onclick={on_unload} disabled={disabled}>{ "Unload both purses to the bank" }</button>
            </div>
            <p class="muted">{ "A payment interrupted after the value left your purse is recorded on both purses; syncing sends those records to the bank, which gives the value back to your purse once both records prove it was lost." }</p>
            <div class="actions">
                <button id="card-sync" type="button" onclick={on_sync} disabled={disabled}>{ "Sync with bank" }</button>
            </div>
            <h2>{ "Your purse's log" }</h2>
            <ul id="card-log">
                { for view.log.iter().map(|l| html! { <li>{ l.clone() }</li> }) }
            </ul>
        </section>
    }
}
