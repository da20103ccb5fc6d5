//! A labelled text input or textarea, controlled by a `UseStateHandle<String>`.

use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

/// Properties of [`Field`].
#[derive(Properties, PartialEq)]
pub struct FieldProps {
    /// Element id (also what the label points at, and the e2e selector).
    pub id: AttrValue,
    /// Visible label.
    pub label: AttrValue,
    /// The value.
    pub value: UseStateHandle<String>,
    /// `text`, `password`, `url`, …; `textarea` for a multi-line field.
    #[prop_or(AttrValue::Static("text"))]
    pub kind: AttrValue,
    /// Placeholder.
    #[prop_or_default]
    pub placeholder: AttrValue,
    /// Help text under the field.
    #[prop_or_default]
    pub hint: Option<AttrValue>,
    /// `autocomplete` attribute.
    #[prop_or(AttrValue::Static("off"))]
    pub autocomplete: AttrValue,
    /// `inputmode` attribute (`decimal` for amounts).
    #[prop_or_default]
    pub inputmode: Option<AttrValue>,
    /// Whether the field must be filled.
    #[prop_or(true)]
    pub required: bool,
}

/// A labelled input.
#[component]
pub fn Field(p: &FieldProps) -> Html {
    let hint_id = format!("{}-hint", p.id);
    let described = p.hint.as_ref().map(|_| hint_id.clone());
    let input = if p.kind == "textarea" {
        let value = p.value.clone();
        let oninput = Callback::from(move |e: InputEvent| {
            value.set(e.target_unchecked_into::<HtmlTextAreaElement>().value());
        });
        html! {
            <textarea id={p.id.clone()} value={(*p.value).clone()} {oninput} rows="4"
                placeholder={p.placeholder.clone()} required={p.required}
                spellcheck="false" aria-describedby={described.clone()} />
        }
    } else {
        let value = p.value.clone();
        let oninput = Callback::from(move |e: InputEvent| {
            value.set(e.target_unchecked_into::<HtmlInputElement>().value());
        });
        html! {
            <input id={p.id.clone()} type={p.kind.clone()} value={(*p.value).clone()} {oninput}
                placeholder={p.placeholder.clone()} required={p.required}
                autocomplete={p.autocomplete.clone()} inputmode={p.inputmode.clone()}
                spellcheck="false" aria-describedby={described.clone()} />
        }
    };
    html! {
        <div class="field">
            <label for={p.id.clone()}>{ p.label.clone() }</label>
            { input }
            if let Some(h) = &p.hint {
                <p class="hint" id={hint_id}>{ h.clone() }</p>
            }
        </div>
    }
}
