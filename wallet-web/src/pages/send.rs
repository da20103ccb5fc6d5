//! Send: coins out of the wallet into a token string (and QR code) to give
//! someone; sent tokens can be taken back until they are received.

use wasm_bindgen_futures::JsFuture;
use yew::prelude::*;

use crate::components::field::Field;
use crate::components::format::local_time;
use crate::components::qr::Qr;
use crate::hooks::{ops, use_app};
use crate::input::parse_amount;
use crate::state::{Action, Notice};

/// Amount → token, and the list of sent tokens.
#[component]
pub fn Send() -> Html {
    let ctx = use_app();
    let amount = use_state(String::new);
    let token = use_state(|| None::<String>);
    let copied = use_state(|| false);
    let onsubmit = {
        let (ctx, amount, token, copied) =
            (ctx.clone(), amount.clone(), token.clone(), copied.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = match parse_amount(&amount) {
                Ok(v) => v,
                Err(msg) => return ctx.dispatch(Action::Notice(Notice::error(msg))),
            };
            let (token, amount, copied) = (token.clone(), amount.clone(), copied.clone());
            ops::run(
                &ctx,
                "Sending",
                move |w| async move { w.send(value).await },
                move |ctx, t| {
                    token.set(Some(t));
                    amount.set(String::new());
                    copied.set(false);
                    ctx.dispatch(Action::Notice(Notice::success(format!(
                        "{} is in the token below: give it to the recipient.",
                        ctx.money(value)
                    ))));
                },
            );
        })
    };
    let copy = {
        let (token, copied, ctx) = (token.clone(), copied.clone(), ctx.clone());
        Callback::from(move |_: MouseEvent| {
            let Some(t) = (*token).clone() else { return };
            let copied = copied.clone();
            let ctx = ctx.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let Some(w) = web_sys::window() else { return };
                match JsFuture::from(w.navigator().clipboard().write_text(&t)).await {
                    Ok(_) => copied.set(true),
                    Err(_) => ctx.dispatch(Action::Notice(Notice::error(
                        "Copying was not allowed: select the token and copy it yourself.",
                    ))),
                }
            });
        })
    };
    let busy = ctx.busy.is_some();
    html! {
        <section aria-labelledby="send-title">
            <div class="card narrow">
                <h1 id="send-title">{ "Send" }</h1>
                <p class="muted">{ "Coins leave your wallet as a token: whoever gets the token can receive the coins. You can take it back until then." }</p>
                <form {onsubmit} novalidate=true>
                    <Field id="send-amount" label={format!("Amount ({})", ctx.currency())}
                        value={amount} inputmode="decimal" placeholder="5.00" />
                    <div class="actions">
                        <button id="send-submit" type="submit" disabled={busy}>{ "Make token" }</button>
                    </div>
                </form>
                if let Some(t) = &*token {
                    <div class="token-out">
                        <label for="token">{ "Token" }</label>
                        <textarea id="token" readonly=true rows="5" value={t.clone()} spellcheck="false" />
                        <div class="actions">
                            <button id="copy-token" class="secondary" onclick={copy}>
                                { if *copied { "Copied" } else { "Copy" } }
                            </button>
                        </div>
                        <Qr id="token-qr" data={t.clone()} label="QR code of the token" />
                    </div>
                }
            </div>
            <SentList />
        </section>
    }
}

/// Tokens sent and not taken back, each with "Take back".
#[component]
fn SentList() -> Html {
    let ctx = use_app();
    if ctx.data.sent.is_empty() {
        return html! {};
    }
    let busy = ctx.busy.is_some();
    html! {
        <div class="card narrow">
            <h2>{ "Sent tokens" }</h2>
            <p class="muted">{ "Not received yet? Take a token back and its coins return to your wallet. Once the recipient has received it, taking back fails and the entry goes away." }</p>
            <ul id="sent-list" class="rows">
                { for ctx.data.sent.iter().map(|s| {
                    let reclaim = {
                        let (ctx, id) = (ctx.clone(), s.id.clone());
                        Callback::from(move |_: MouseEvent| {
                            let id = id.clone();
                            ops::run(&ctx, "Taking the token back",
                                move |w| async move { w.reclaim(&id).await },
                                |ctx, got| ctx.dispatch(Action::Notice(Notice::success(format!(
                                    "Took back {}.", ctx.money(got)))))
                            );
                        })
                    };
                    html! {
                        <li data-sent-id={s.id.clone()}>
                            <span class="amount">{ ctx.money(s.amount) }</span>
                            <span class="muted small">{ local_time(s.at) }</span>
                            <button class="secondary small reclaim" data-testid={format!("reclaim-{}", s.id)}
                                onclick={reclaim} disabled={busy}>{ "Take back" }</button>
                        </li>
                    }
                }) }
            </ul>
        </div>
    }
}
