//! The root component.

use ecash_shared::api::HealthResponse;
use yew::prelude::*;

/// What the page knows about the bank that served it.
#[derive(Clone, PartialEq)]
enum BankStatus {
    Checking,
    Up(String),
    Down(String),
}

/// The root component: a header and the bank's status.
#[function_component(App)]
pub fn app() -> Html {
    let status = use_state(|| BankStatus::Checking);
    {
        let status = status.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let result = async {
                    let resp = gloo_net::http::Request::get("/v1/health").send().await?;
                    resp.json::<HealthResponse>().await
                }
                .await;
                status.set(match result {
                    Ok(h) => BankStatus::Up(h.version),
                    Err(e) => BankStatus::Down(e.to_string()),
                });
            });
        });
    }
    html! {
        <main class="wallet">
            <h1>{ "Cyberwallet" }</h1>
            <p id="bank-status">{
                match &*status {
                    BankStatus::Checking => "Connecting to the bank…".to_owned(),
                    BankStatus::Up(v) => format!("Connected to the bank (server {v})."),
                    BankStatus::Down(e) => format!("The bank is not reachable: {e}"),
                }
            }</p>
        </main>
    }
}
