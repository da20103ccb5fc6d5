//! The bank account: deposit coins back into it, and pay out to an IBAN.

use ecash_shared::api::PayoutRequest;
use ecash_wallet::WalletError;
use yew::prelude::*;

use crate::components::field::Field;
use crate::hooks::{ops, use_app};
use crate::input::{normalize_iban, parse_amount};
use crate::state::{Action, Notice};

/// Deposit and payout forms.
#[component]
pub fn Bank() -> Html {
    let ctx = use_app();
    let deposit_amount = use_state(String::new);
    let payout_amount = use_state(String::new);
    let iban = use_state(String::new);
    let on_deposit = {
        let (ctx, field) = (ctx.clone(), deposit_amount.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = match parse_amount(&field) {
                Ok(v) => v,
                Err(msg) => return ctx.dispatch(Action::Notice(Notice::error(msg))),
            };
            let field = field.clone();
            ops::run(
                &ctx,
                "Depositing",
                move |w| async move { w.deposit(value).await },
                move |ctx, got| {
                    field.set(String::new());
                    ctx.dispatch(Action::Notice(Notice::success(format!(
                        "Deposited {} into your bank account.",
                        ctx.money(got)
                    ))));
                },
            );
        })
    };
    let on_payout = {
        let (ctx, field, iban) = (ctx.clone(), payout_amount.clone(), iban.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = match parse_amount(&field) {
                Ok(v) => v,
                Err(msg) => return ctx.dispatch(Action::Notice(Notice::error(msg))),
            };
            let account = match normalize_iban(&iban) {
                Ok(v) => v,
                Err(msg) => return ctx.dispatch(Action::Notice(Notice::error(msg))),
            };
            let field = field.clone();
            ops::run(
                &ctx,
                "Paying out",
                move |w| async move {
                    let s = w.session().ok_or(WalletError::NotLoggedIn)?;
                    let req = PayoutRequest {
                        amount: value,
                        iban: account,
                    };
                    w.client().payout(&s.token, &req).await
                },
                move |ctx, r| {
                    field.set(String::new());
                    ctx.dispatch(Action::Notice(Notice::success(format!(
                        "Paid out {}; your bank balance is now {}.",
                        ctx.money(value),
                        ctx.money(r.balance)
                    ))));
                },
            );
        })
    };
    let busy = ctx.busy.is_some();
    html! {
        <section aria-labelledby="bank-title">
            <h1 id="bank-title" class="visually-hidden">{ "Bank account" }</h1>
            <div class="card narrow">
                <h2>{ "Bank account" }</h2>
                if ctx.username.is_none() {
                    <p class="notice info"><a href="#/login">{ "Log in" }</a>{ " to deposit or pay out." }</p>
                } else if let Some(a) = &ctx.account {
                    <p>{ "Balance: " }<strong id="bank-balance">{ format!("{} {}", a.balance, a.currency) }</strong></p>
                }
            </div>
            <div class="card narrow">
                <h2>{ "Deposit" }</h2>
                <p class="muted">{ format!("Coins from your wallet (holding {}) go back into your bank account.", ctx.money(ctx.data.balance)) }</p>
                <form onsubmit={on_deposit} novalidate=true>
                    <Field id="deposit-amount" label={format!("Amount ({})", ctx.currency())}
                        value={deposit_amount} inputmode="decimal" placeholder="10.00" />
                    <div class="actions"><button id="deposit-submit" type="submit" disabled={busy}>{ "Deposit" }</button></div>
                </form>
            </div>
            <div class="card narrow">
                <h2>{ "Pay out" }</h2>
                <p class="muted">{ "Money from your bank account is wired to an account at another bank." }</p>
                <form onsubmit={on_payout} novalidate=true>
                    <Field id="payout-amount" label={format!("Amount ({})", ctx.currency())}
                        value={payout_amount} inputmode="decimal" placeholder="10.00" />
                    <Field id="payout-iban" label="To IBAN" value={iban} placeholder="DE89 3704 0044 0532 0130 00" />
                    <div class="actions"><button id="payout-submit" type="submit" disabled={busy}>{ "Pay out" }</button></div>
                </form>
            </div>
        </section>
    }
}
