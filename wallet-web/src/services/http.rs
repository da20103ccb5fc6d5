//! The wallet's [`Transport`] in the browser: `fetch` through gloo-net, the
//! page's clock, and a zero-delay timeout to let the page repaint.

use js_sys::{Promise, Uint8Array};
use wasm_bindgen_futures::JsFuture;

use ecash_wallet::transport::{HttpResponse, Method, Transport, TransportError};

/// How long one request may take before it counts as lost (the wallet then
/// keeps the operation pending and replays it). A withdrawal of the largest
/// batch (1024 coins) takes the bank a few seconds.
const REQUEST_TIMEOUT_MS: u32 = 120_000;

/// HTTP to one bank over `fetch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTransport {
    base: String,
}

impl HttpTransport {
    /// A transport to the bank at `base_url` (e.g. `http://127.0.0.1:8080`;
    /// a trailing slash is ignored).
    pub fn new(base_url: &str) -> Self {
        HttpTransport {
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The origin that served the page (`http://127.0.0.1:8080`), the default bank.
    pub fn page_origin() -> Option<String> {
        web_sys::window()?.location().origin().ok()
    }
}

impl Transport for HttpTransport {
    async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, TransportError> {
        let url = format!("{}{path}", self.base);
        let signal = web_sys::AbortSignal::timeout_with_u32(REQUEST_TIMEOUT_MS);
        let mut builder = gloo_net::http::RequestBuilder::new(&url)
            .method(match method {
                Method::Get => gloo_net::http::Method::GET,
                Method::Post => gloo_net::http::Method::POST,
            })
            .abort_signal(Some(&signal));
        // The token is never put in the URL or logged; only in this header.
        let auth;
        if let Some(token) = bearer {
            auth = format!("Bearer {token}");
            builder = builder.header("Authorization", &auth);
        }
        let request = match body {
            Some(bytes) => builder
                .header("Content-Type", "application/json")
                .body(Uint8Array::from(bytes.as_slice())),
            None => builder.build(),
        }
        .map_err(|e| TransportError(e.to_string()))?;
        let response = request
            .send()
            .await
            .map_err(|e| TransportError(network_message(&e)))?;
        let status = response.status();
        let body = response
            .binary()
            .await
            .map_err(|e| TransportError(network_message(&e)))?;
        Ok(HttpResponse { status, body })
    }

    fn now_unix(&self) -> i64 {
        // Milliseconds since the epoch as f64: exact for the next 285,000 years.
        (js_sys::Date::now() / 1000.0) as i64
    }

    async fn yield_now(&self) {
        // A macrotask boundary: the browser may paint the progress bar.
        let tick = Promise::new(&mut |resolve, _reject| {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
            } else {
                let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
            }
        });
        let _ = JsFuture::from(tick).await;
    }

    fn bank_url(&self) -> String {
        self.base.clone()
    }
}

fn network_message(e: &gloo_net::Error) -> String {
    let text = e.to_string();
    if text.contains("Failed to fetch") || text.contains("NetworkError") {
        "the bank is not reachable".into()
    } else if text.contains("TimeoutError") || text.contains("timed out") {
        "the bank did not answer in time".into()
    } else {
        text
    }
}
