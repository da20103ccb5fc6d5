//! The wallet's history: every entry, payment receipts, a balance chart.

use ecash_shared::encoding::b64_encode;
use ecash_wallet::model::{HistoryEntry, HistoryKind};
use yew::prelude::*;

use crate::components::chart::{BalanceChart, balance_points};
use crate::components::format::{local_time, short, signed};
use crate::hooks::use_app;
use crate::state::AppState;

fn kind_label(k: HistoryKind) -> &'static str {
    match k {
        HistoryKind::Withdraw => "Withdrawal",
        HistoryKind::Payment => "Payment",
        HistoryKind::Send => "Sent",
        HistoryKind::Receive => "Received",
        HistoryKind::Deposit => "Deposit",
        HistoryKind::Refund => "Refund",
        HistoryKind::Reclaim => "Taken back",
    }
}

/// History, newest first.
#[component]
pub fn History() -> Html {
    let ctx = use_app();
    let history = &ctx.data.history;
    html! {
        <section class="card" aria-labelledby="history-title">
            <h1 id="history-title">{ "History" }</h1>
            if !ctx.data.loaded {
                <p class="muted">{ "Reading the wallet…" }</p>
            } else if history.is_empty() {
                <p id="history-empty" class="empty">
                    { "Nothing yet. Your withdrawals, payments and tokens will be listed here." }
                </p>
            } else {
                <BalanceChart points={balance_points(history)} currency={ctx.currency().to_owned()} />
                <ol id="history" class="history" reversed=true>
                    { for history.iter().rev().map(|h| entry(&ctx, h)) }
                </ol>
            }
        </section>
    }
}

fn entry(ctx: &AppState, h: &HistoryEntry) -> Html {
    let payment = match (&h.receipt, &h.contract) {
        (Some(r), c) => html! {
            <details class="receipt">
                <summary>{ "Receipt" }</summary>
                <dl class="details">
                    if let Some(c) = c {
                        <dt>{ "Merchant" }</dt><dd>{ c.merchant.clone() }</dd>
                        <dt>{ "For" }</dt><dd>{ c.summary.clone() }</dd>
                    }
                    <dt>{ "Order" }</dt><dd><code>{ r.order_id.clone() }</code></dd>
                    <dt>{ "Paid at" }</dt><dd>{ local_time(r.paid_at) }</dd>
                    <dt>{ "Contract hash" }</dt><dd><code title={b64_encode(&r.contract_hash)}>{ short(&b64_encode(&r.contract_hash)) }</code></dd>
                    <dt>{ "Bank signature" }</dt><dd><code title={b64_encode(&r.bank_sig)}>{ short(&b64_encode(&r.bank_sig)) }</code></dd>
                </dl>
            </details>
        },
        _ => html! {},
    };
    html! {
        <li class={classes!("entry", if h.incoming { "in" } else { "out" })}
            data-kind={kind_label(h.kind)} data-seq={h.seq.to_string()}>
            <div class="entry-main">
                <span class="kind">{ kind_label(h.kind) }</span>
                <span class="amount">{ format!("{} {}", signed(h.amount, h.incoming), ctx.currency()) }</span>
            </div>
            <div class="entry-meta muted small">
                <time datetime={h.at.to_rfc3339()}>{ local_time(h.at) }</time>
                { " · " }{ h.memo.clone() }
                { " · balance " }{ ctx.money(h.balance_after) }
            </div>
            { payment }
        </li>
    }
}
