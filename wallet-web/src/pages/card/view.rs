//! Parts of the Card page in HTML: the reader picker, a purse's details (unsettled
//! credits, the bank's view of it), the account's debt and the locked purses.

use yew::prelude::*;

use super::env::{lock_reason, slot_name};
use super::state::{CardState, Locked, PurseView, View};
use crate::components::field::Field;
use crate::services::reader::{self, ReaderKind};
use crate::state::AppState;

/// The reader picker's callbacks.
pub(super) struct Buttons {
    /// Another reader kind picked.
    pub(super) on_kind: Callback<Event>,
    /// "Connect".
    pub(super) on_connect: Callback<MouseEvent>,
    /// Another reader of the device picked.
    pub(super) on_reader_name: Callback<Event>,
    /// Whether the controls are disabled.
    pub(super) disabled: bool,
}

/// "Where is your purse?": the reader kind, the bridge's address and token, Connect,
/// and the device's readers when it has several.
pub(super) fn reader_picker(
    state: &CardState,
    bridge_url: &UseStateHandle<String>,
    bridge_token: &UseStateHandle<String>,
    b: Buttons,
) -> Html {
    let kind = state.kind;
    let disabled = b.disabled;
    let chosen_reader = state
        .env
        .as_ref()
        .and_then(|e| e.personal.as_ref())
        .map(|(_, name)| name.clone());
    html! {
        <fieldset id="card-reader" class="card-reader">
            <legend>{ "Where is your purse?" }</legend>
            <div class="field">
                <label for="card-reader-kind">{ "Reader" }</label>
                <select id="card-reader-kind" onchange={b.on_kind} disabled={disabled}>
                    { for ReaderKind::ALL.iter().map(|k| html! {
                        <option value={k.as_str()} selected={*k == kind}>{ k.label() }</option>
                    }) }
                </select>
            </div>
            if kind == ReaderKind::Bridge {
                <Field id="card-bridge-url" label="Card bridge address" kind="url"
                    value={bridge_url.clone()} placeholder={reader::DEFAULT_BRIDGE_URL} />
                <Field id="card-bridge-token" label="Session token" kind="password"
                    value={bridge_token.clone()}
                    hint="The token `card-bridge serve` printed when it started (not stored)." />
            }
            if kind != ReaderKind::Virtual {
                <div class="actions">
                    <button id="card-reader-connect" type="button" onclick={b.on_connect}
                        disabled={disabled}>{ "Connect" }</button>
                </div>
            }
            if state.readers.len() > 1 {
                <div class="field">
                    <label for="card-reader-name">{ "Card reader" }</label>
                    <select id="card-reader-name" onchange={b.on_reader_name} disabled={disabled}>
                        { for state.readers.iter().map(|r| html! {
                            <option value={r.name.clone()}
                                selected={chosen_reader.as_deref() == Some(r.name.as_str())}>
                                { format!("{}{}", r.name, if r.card_present { "" } else { " (no card)" }) }
                            </option>
                        }) }
                    </select>
                </div>
            }
        </fieldset>
    }
}

/// Unsettled credits and the bank's view of a certified purse.
pub(super) fn purse_details(ctx: &AppState, slot: &'static str, p: &Option<PurseView>) -> Html {
    let Some(p) = p else { return Html::default() };
    let unsettled = (!p.unsettled.is_zero()).then(|| {
        html! {
            <p id={format!("card-unsettled-{slot}")}>
                { "Received offline, not yet settled: " }<strong>{ ctx.money(p.unsettled) }</strong>
                { " (sync to spend it). Spendable now: " }
                <strong id={format!("card-spendable-{slot}")}>{ ctx.money(p.spendable()) }</strong>
            </p>
        }
    });
    let bank = match &p.bank {
        None => Html::default(),
        Some(Ok(info)) => html! {
            <>
                <p id={format!("card-bank-{slot}")} class="muted">
                    { format!("At the bank: {}", ctx.money(info.bank_balance)) }
                </p>
                if let Some(reason) = &info.blocked {
                    <div id={format!("card-blocked-{slot}")} class="notice error" role="alert">
                        <p>{ format!("Blocked by the bank: {reason}") }</p>
                    </div>
                }
            </>
        },
        Some(Err(msg)) => html! {
            <p id={format!("card-bank-{slot}")} class="muted">
                { format!("At the bank: not known right now ({msg}).") }
            </p>
        },
    };
    html! { <>{ for unsettled }{ bank }</> }
}

/// One account owns both purses: its debt, as the bank last said it.
pub(super) fn account_debt(ctx: &AppState, view: &View) -> Html {
    let debt = [&view.personal, &view.terminal]
        .into_iter()
        .flatten()
        .filter_map(|p| p.bank.as_ref()?.as_ref().ok())
        .map(|info| info.account_debt)
        .max()
        .filter(|d| !d.is_zero());
    let Some(debt) = debt else {
        return Html::default();
    };
    html! {
        <div id="card-account-debt" class="notice error" role="alert">
            <p>{ format!("Your account owes the bank {}: it cannot withdraw, pay out or load a card until this is paid (money coming into the account pays it first).", ctx.money(debt)) }</p>
        </div>
    }
}

/// The locked purses, each with where its unlock stands and "Request unlock".
pub(super) fn locked_notices(
    locked: &[Locked],
    on_request_unlock: impl Fn(&'static str) -> Callback<MouseEvent>,
    disabled: bool,
) -> Html {
    html! {
        { for locked.iter().map(|l| html! {
            <div id={format!("card-locked-{}", l.slot)} class="notice warning" role="status"
                data-card-id={l.card_id.to_string()}>
                <p>
                    <strong>{ format!("{} is locked", slot_name(l.slot)) }</strong>
                    { format!(": {} (card {}). Value cannot leave or enter it until the bank unlocks it. ", lock_reason(l.reason), l.card_id) }
                    <span id={format!("card-unlock-state-{}", l.slot)}>{ l.unlock.clone() }</span>
                </p>
                <div class="actions">
                    <button id={format!("card-request-unlock-{}", l.slot)} type="button"
                        onclick={on_request_unlock(l.slot)} disabled={disabled}>{ "Request unlock" }</button>
                </div>
            </div>
        }) }
    }
}
