//! Any URL the router does not know.

use yew::prelude::*;

/// "Page not found", with a way back.
#[component]
pub fn NotFound() -> Html {
    html! {
        <section class="card narrow">
            <h1>{ "Page not found" }</h1>
            <p><a href="#/">{ "Back to the wallet" }</a></p>
        </section>
    }
}
