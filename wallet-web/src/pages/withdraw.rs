//! Withdraw: coins from the bank account, with a progress bar.

use yew::prelude::*;

use crate::components::field::Field;
use crate::hooks::{ops, use_app};
use crate::input::parse_amount;
use crate::state::{Action, Notice};

/// Amount in major units → `Wallet::withdraw` with progress.
#[component]
pub fn Withdraw() -> Html {
    let ctx = use_app();
    let amount = use_state(String::new);
    let onsubmit = {
        let (ctx, amount) = (ctx.clone(), amount.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = match parse_amount(&amount) {
                Ok(v) => v,
                Err(msg) => return ctx.dispatch(Action::Notice(Notice::error(msg))),
            };
            let progress_ctx = ctx.clone();
            let amount = amount.clone();
            ops::run(
                &ctx,
                "Withdrawing",
                move |w| async move {
                    let progress = move |p| progress_ctx.dispatch(Action::Progress(p));
                    w.withdraw(value, &progress).await
                },
                move |ctx, got| {
                    amount.set(String::new());
                    ctx.dispatch(Action::Notice(Notice::success(format!(
                        "Withdrew {}: the coins are in your wallet.",
                        ctx.money(got)
                    ))));
                },
            );
        })
    };
    let busy = ctx.busy.is_some();
    html! {
        <section class="card narrow" aria-labelledby="withdraw-title">
            <h1 id="withdraw-title">{ "Withdraw" }</h1>
            if ctx.username.is_none() {
                <p class="notice info">{ "Withdrawing takes money from your bank account: " }<a href="#/login">{ "log in" }</a>{ " first." }</p>
            } else if let Some(a) = &ctx.account {
                <p class="muted">{ format!("Bank balance: {} {}", a.balance, a.currency) }</p>
            }
            <p class="muted">{ "Your wallet makes the coins and the bank signs them blindly: it cannot tell later which coins you spend where." }</p>
            <form {onsubmit} novalidate=true>
                <Field id="withdraw-amount" label={format!("Amount ({})", ctx.currency())}
                    value={amount} inputmode="decimal" placeholder="12.50"
                    hint="Up to two decimals, e.g. 12.05." />
                <div class="actions">
                    <button id="withdraw-submit" type="submit" disabled={busy}>{ "Withdraw" }</button>
                </div>
            </form>
        </section>
    }
}
