//! The home page: balances, coins by value, pending operations.

use yew::prelude::*;

use crate::components::format::local_time;
use crate::hooks::{ops, use_app};

/// Balance (big), pending value, bank balance, coins, pending operations.
#[component]
pub fn Home() -> Html {
    let ctx = use_app();
    let data = ctx.data.clone();
    let retry = {
        let ctx = ctx.clone();
        Callback::from(move |_: MouseEvent| ops::resume(&ctx))
    };
    let bank = match (&ctx.username, &ctx.account) {
        (None, _) => html! {
            <p id="bank-balance" class="muted"><a href="#/login">{ "Log in" }</a>{ " to see your bank account." }</p>
        },
        (Some(_), Some(a)) => html! {
            <>
                <p class="figure" id="bank-balance">{ format!("{} {}", a.balance, a.currency) }</p>
                if !a.debt.is_zero() {
                    <p id="bank-debt" class="notice error" role="alert">
                        { format!("You owe the bank {} {}: a card of yours gave out more than was loaded onto it. Money coming into the account pays this first; until then you cannot withdraw, pay out or load a card.", a.debt, a.currency) }
                    </p>
                }
            </>
        },
        (Some(_), None) => html! {
            <p id="bank-balance" class="muted">{ "Not known right now (the bank is not answering)." }</p>
        },
    };
    let busy = ctx.busy.is_some();
    html! {
        <section aria-labelledby="home-title">
            <h1 id="home-title" class="visually-hidden">{ "Your wallet" }</h1>
            <div class="cards">
                <div class="card balance-card">
                    <h2>{ "In your wallet" }</h2>
                    // Until storage was read, no figure: a test (or a person)
                    // must not take "0.00" for the balance.
                    if data.loaded {
                        <p class="big" id="balance" data-minor={data.balance.minor().to_string()}>
                            { ctx.money(data.balance) }
                        </p>
                        <p class="muted">
                            { "Pending: " }
                            <span id="pending-amount" data-minor={data.pending_amount.minor().to_string()}>
                                { ctx.money(data.pending_amount) }
                            </span>
                        </p>
                    } else {
                        <p class="big muted" id="balance-loading" aria-busy="true">{ "…" }</p>
                    }
                </div>
                <div class="card">
                    <h2>{ "Bank account" }</h2>
                    { bank }
                    <p class="actions">
                        <a class="button" href="#/withdraw">{ "Withdraw" }</a>
                        <a class="button secondary" href="#/bank">{ "Deposit" }</a>
                    </p>
                </div>
            </div>

            if let Some(r) = &ctx.resume_status {
                <p id="resume-status" class="notice info" role="status">{ r.clone() }</p>
            }

            <div class="card">
                <h2>{ "Pending operations" }</h2>
                if data.pending.is_empty() {
                    <p id="pending-empty" class="muted">{ "Nothing pending." }</p>
                } else {
                    <p class="muted">{ "These were interrupted or are waiting for the bank. Your money is safe: they finish when the bank answers." }</p>
                    <ul id="pending-ops" class="rows">
                        { for data.pending.iter().map(|p| html! {
                            <li data-op-id={p.id.clone()}>
                                <span>{ p.what.clone() }</span>
                                <span class="amount">{ ctx.money(p.amount) }</span>
                                <span class="muted small">{ format!("since {}", local_time(p.since)) }</span>
                            </li>
                        }) }
                    </ul>
                    <button id="retry" onclick={retry} disabled={busy}>{ "Retry now" }</button>
                }
            </div>

            <div class="card">
                <h2>{ "Coins" }</h2>
                if !data.loaded {
                    <p class="muted">{ "Reading the wallet…" }</p>
                } else if data.coins.is_empty() {
                    <p id="no-coins" class="empty">
                        { "No coins yet — " }<a href="#/withdraw">{ "withdraw some from your bank account" }</a>{ "." }
                    </p>
                } else {
                    <table id="coins" class="table">
                        <caption class="visually-hidden">{ "Coins by value" }</caption>
                        <thead><tr><th scope="col">{ "Value" }</th><th scope="col">{ "Count" }</th><th scope="col">{ "Subtotal" }</th></tr></thead>
                        <tbody>
                            { for data.coins.iter().map(|row| html! {
                                <tr data-value={row.value.minor().to_string()}>
                                    <td>{ ctx.money(row.value) }</td>
                                    <td>
                                        { row.count }
                                        if row.reserved > 0 {
                                            <span class="tag" title="Held by a pending operation">{ format!("{} reserved", row.reserved) }</span>
                                        }
                                    </td>
                                    <td>{ row.value.checked_mul(row.count as u64).map(|a| ctx.money(a)).unwrap_or_default() }</td>
                                </tr>
                            }) }
                        </tbody>
                        <tfoot><tr><th scope="row">{ "Total" }</th><td>{ data.coins.iter().map(|r| r.count).sum::<usize>() }</td><td>{ ctx.money(data.total) }</td></tr></tfoot>
                    </table>
                }
            </div>
        </section>
    }
}
