//! Pay a merchant order: `/#/pay/{order_id}`, or a pasted payment request.
//!
//! Opened by a shop's checkout in a popup, the page reports back to the shop
//! with `postMessage` — the receipt, or that the buyer cancelled — addressed to
//! the contract's `allowed_origin` only.

use ecash_shared::ErrorCode;
use ecash_shared::api::{Contract, Receipt};
use ecash_shared::encoding::b64_encode;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::components::field::Field;
use crate::components::format::{local_time, short};
use crate::hooks::{navigate, ops, use_app};
use crate::input::{parse_pay_input, url_host};
use crate::route::Route;
use crate::services::opener;
use crate::state::{Action, AppContext, Notice};

/// Properties of [`Pay`].
#[derive(Properties, PartialEq)]
pub struct PayProps {
    /// The order from the URL, if any.
    pub order_id: Option<String>,
}

/// Where the payment stands on this page.
#[derive(Clone, PartialEq)]
enum View {
    /// No order yet.
    Idle,
    /// Fetching the contract.
    Loading,
    /// Contract shown, waiting for the buyer.
    Contract(Contract),
    /// Paid (now or earlier).
    Paid {
        contract: Option<Contract>,
        receipt: Receipt,
        told_shop: Option<String>,
    },
    /// The buyer said no.
    Cancelled { told_shop: Option<String> },
    /// The order cannot be shown.
    Failed,
}

/// The pay page.
#[component]
pub fn Pay(p: &PayProps) -> Html {
    let ctx = use_app();
    let view = use_state(|| View::Idle);
    let request = use_state(String::new);
    {
        let (ctx, view) = (ctx.clone(), view.clone());
        use_effect_with(
            (p.order_id.clone(), ctx.wallet.is_some()),
            move |(order_id, ready)| match (order_id.clone(), *ready) {
                (None, _) => view.set(View::Idle),
                (Some(_), false) => view.set(View::Loading),
                (Some(id), true) => load_order(ctx, view, id),
            },
        );
    }
    let open = {
        let (ctx, request) = (ctx.clone(), request.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match parse_pay_input(&request) {
                Ok(r) => {
                    if let Some(host) = r.host.filter(|h| h != url_host(&ctx.bank_url)) {
                        return ctx.dispatch(Action::Notice(Notice::error(format!(
                            "This payment request is for the bank at {host}; this wallet uses {}.",
                            ctx.bank_url
                        ))));
                    }
                    ctx.dispatch(Action::ClearNotice);
                    navigate(&Route::Pay(Some(r.order_id)));
                }
                Err(msg) => ctx.dispatch(Action::Notice(Notice::error(msg))),
            }
        })
    };
    let body = match &*view {
        View::Idle => html! {
            <form onsubmit={open} novalidate=true>
                <Field id="pay-input" label="Payment request" value={request}
                    placeholder="ecash://pay/127.0.0.1:8080/…"
                    hint="Paste the shop's payment request (ecash://pay/…) or its order id." />
                <div class="actions"><button id="pay-open" type="submit">{ "Show order" }</button></div>
            </form>
        },
        View::Loading => html! { <p class="muted" role="status">{ "Fetching the order…" }</p> },
        View::Contract(c) => contract_view(&ctx, &view, c),
        View::Paid {
            contract,
            receipt,
            told_shop,
        } => receipt_view(&ctx, contract.as_ref(), receipt, told_shop.as_deref()),
        View::Cancelled { told_shop } => html! {
            <div id="pay-cancelled">
                <p>{ "Payment cancelled. Nothing was paid." }</p>
                if let Some(origin) = told_shop {
                    <p class="muted">{ format!("The shop at {origin} was told.") }</p>
                }
                { close_or_home() }
            </div>
        },
        View::Failed => html! {
            <p class="actions"><a class="button secondary" href="#/pay">{ "Enter another payment request" }</a></p>
        },
    };
    html! {
        <section class="card narrow" aria-labelledby="pay-title">
            <h1 id="pay-title">{ "Pay" }</h1>
            { body }
        </section>
    }
}

/// Fetches the order's contract (or finds this wallet's receipt for it).
fn load_order(ctx: AppContext, view: UseStateHandle<View>, id: String) {
    let Some(wallet) = ctx.wallet.clone() else {
        return;
    };
    view.set(View::Loading);
    spawn_local(async move {
        if let Ok(Some(paid)) = wallet.receipt_for(&id).await
            && let Some(receipt) = paid.receipt
        {
            return view.set(View::Paid {
                contract: paid.contract,
                receipt,
                told_shop: None,
            });
        }
        match wallet.contract(&id).await {
            Ok(c) => view.set(View::Contract(c)),
            Err(e) => {
                let msg = match e.code() {
                    Some(ErrorCode::NotFound | ErrorCode::OrderNotFound) => format!(
                        "Order {id} not found: check the payment request, or ask the shop for a new one."
                    ),
                    _ => e.to_string(),
                };
                ctx.dispatch(Action::Notice(Notice::error(msg)));
                view.set(View::Failed);
            }
        }
    });
}

fn contract_view(ctx: &AppContext, view: &UseStateHandle<View>, c: &Contract) -> Html {
    let now = (js_sys::Date::now() / 1000.0) as i64;
    let expired = c.expires_at.unix() <= now;
    let short_of = c.amount > ctx.data.balance;
    let confirm = {
        let (ctx, view, id) = (ctx.clone(), view.clone(), c.order_id.clone());
        let contract = c.clone();
        Callback::from(move |_: MouseEvent| {
            let contract = contract.clone();
            let view = view.clone();
            let id = id.clone();
            ops::run(
                &ctx,
                "Paying",
                move |w| async move { w.pay(&id).await },
                move |ctx, receipt| {
                    ctx.dispatch(Action::Notice(Notice::success(format!(
                        "Paid {} to {}.",
                        ctx.money(receipt.amount),
                        contract.merchant
                    ))));
                    // After the success message, so a failure to tell the shop shows.
                    let told_shop = tell_shop(
                        ctx,
                        &contract,
                        serde_json::json!({ "type": "ecash-receipt", "receipt": receipt }),
                    );
                    view.set(View::Paid {
                        contract: Some(contract),
                        receipt,
                        told_shop,
                    });
                },
            );
        })
    };
    let cancel = {
        let (ctx, view, contract) = (ctx.clone(), view.clone(), c.clone());
        Callback::from(move |_: MouseEvent| {
            let told_shop = tell_shop(
                &ctx,
                &contract,
                serde_json::json!({ "type": "ecash-cancelled", "order_id": contract.order_id }),
            );
            view.set(View::Cancelled { told_shop });
        })
    };
    let busy = ctx.busy.is_some();
    html! {
        <div id="contract" data-order-id={c.order_id.clone()}>
            <dl class="details">
                <dt>{ "Merchant" }</dt><dd id="contract-merchant">{ c.merchant.clone() }</dd>
                <dt>{ "For" }</dt><dd id="contract-summary">{ c.summary.clone() }</dd>
                <dt>{ "Amount" }</dt>
                <dd id="contract-amount" class="figure" data-minor={c.amount.minor().to_string()}>
                    { format!("{} {}", c.amount, c.currency) }
                </dd>
                <dt>{ "Pay before" }</dt><dd id="contract-expiry">{ local_time(c.expires_at) }</dd>
                <dt>{ "Order" }</dt><dd><code>{ c.order_id.clone() }</code></dd>
            </dl>
            if expired {
                <p class="notice error" role="alert">{ "This order has expired: ask the shop for a new one." }</p>
            } else if short_of {
                <p class="notice info">
                    { format!("Your wallet holds {}. ", ctx.money(ctx.data.balance)) }
                    <a href="#/withdraw">{ "Withdraw more" }</a>{ " first." }
                </p>
            }
            <div class="actions">
                <button id="pay-confirm" onclick={confirm} disabled={busy || expired}>
                    { format!("Pay {} {}", c.amount, c.currency) }
                </button>
                <button id="pay-cancel" class="secondary" onclick={cancel} disabled={busy}>{ "Cancel" }</button>
            </div>
        </div>
    }
}

fn receipt_view(
    ctx: &AppContext,
    contract: Option<&Contract>,
    r: &Receipt,
    told_shop: Option<&str>,
) -> Html {
    html! {
        <div id="receipt" data-order-id={r.order_id.clone()}>
            <p class="notice success">{ "Paid. The bank signed this receipt:" }</p>
            <dl class="details">
                if let Some(c) = contract {
                    <dt>{ "Merchant" }</dt><dd>{ c.merchant.clone() }</dd>
                    <dt>{ "For" }</dt><dd>{ c.summary.clone() }</dd>
                }
                <dt>{ "Amount" }</dt><dd id="receipt-amount">{ ctx.money(r.amount) }</dd>
                <dt>{ "Paid at" }</dt><dd>{ local_time(r.paid_at) }</dd>
                <dt>{ "Order" }</dt><dd><code>{ r.order_id.clone() }</code></dd>
                <dt>{ "Contract hash" }</dt><dd><code title={b64_encode(&r.contract_hash)}>{ short(&b64_encode(&r.contract_hash)) }</code></dd>
                <dt>{ "Bank signature" }</dt><dd><code title={b64_encode(&r.bank_sig)}>{ short(&b64_encode(&r.bank_sig)) }</code>{ " (verified)" }</dd>
            </dl>
            if let Some(origin) = told_shop {
                <p class="muted">{ format!("The receipt was sent to the shop at {origin}.") }</p>
            }
            if let Some(url) = contract.and_then(|c| c.fulfillment_url.clone()).filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
                <p><a id="fulfillment" href={url} rel="noopener noreferrer">{ "Back to the shop" }</a></p>
            }
            { close_or_home() }
        </div>
    }
}

/// "Close window" in a popup, else a link home.
fn close_or_home() -> Html {
    if opener::has_opener() {
        let close = Callback::from(|_: MouseEvent| opener::close_window());
        html! { <p class="actions"><button id="close-window" onclick={close}>{ "Close window" }</button></p> }
    } else {
        html! { <p class="actions"><a class="button secondary" href="#/">{ "Back to the wallet" }</a></p> }
    }
}

/// Posts `message` to the shop that opened this popup, if the contract names
/// its origin; returns that origin when the message went out.
fn tell_shop(ctx: &AppContext, contract: &Contract, message: serde_json::Value) -> Option<String> {
    let origin = contract.allowed_origin.as_deref()?;
    match opener::post(&message, origin) {
        Ok(true) => Some(origin.to_owned()),
        Ok(false) => None,
        Err(e) => {
            ctx.dispatch(Action::Notice(Notice::error(format!(
                "Could not tell the shop: {e}"
            ))));
            None
        }
    }
}
