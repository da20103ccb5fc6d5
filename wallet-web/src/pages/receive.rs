//! Receive: paste a token; its coins are checked and swapped into fresh ones.

use yew::prelude::*;

use crate::components::field::Field;
use crate::hooks::{ops, use_app};
use crate::state::{Action, Notice};

/// Token → `Wallet::receive`.
#[component]
pub fn Receive() -> Html {
    let ctx = use_app();
    let token = use_state(String::new);
    let received = use_state(|| None::<String>);
    let onsubmit = {
        let (ctx, token, received) = (ctx.clone(), token.clone(), received.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let t = token.trim().to_owned();
            if t.is_empty() {
                return ctx.dispatch(Action::Notice(Notice::error(
                    "Paste the token you were given (it starts with ecash:).",
                )));
            }
            let (token, received) = (token.clone(), received.clone());
            ops::run(
                &ctx,
                "Receiving",
                move |w| async move { w.receive(&t).await },
                move |ctx, got| {
                    token.set(String::new());
                    received.set(Some(ctx.money(got)));
                    ctx.dispatch(Action::Notice(Notice::success(format!(
                        "Received {}.",
                        ctx.money(got)
                    ))));
                },
            );
        })
    };
    let busy = ctx.busy.is_some();
    html! {
        <section class="card narrow" aria-labelledby="receive-title">
            <h1 id="receive-title">{ "Receive" }</h1>
            <p class="muted">{ "The coins are exchanged at the bank for fresh ones at once, so the sender cannot spend them again." }</p>
            <form {onsubmit} novalidate=true>
                <Field id="receive-token" label="Token" kind="textarea" value={token} placeholder="ecash:…" />
                <div class="actions">
                    <button id="receive-submit" type="submit" disabled={busy}>{ "Receive" }</button>
                </div>
            </form>
            if let Some(r) = &*received {
                <p id="receive-result" class="figure">{ format!("+{r}") }</p>
            }
        </section>
    }
}
