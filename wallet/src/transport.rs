//! The wallet's view of the outside world: HTTP to the bank, the clock, and a
//! way to let the user interface breathe during long work.

/// HTTP methods the bank's API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST with a JSON body.
    Post,
}

/// A response: status and body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

/// The request did not produce a response (network down, connection reset,
/// response lost). Whether the bank acted on it is unknown: the caller replays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("network error: {0}")]
pub struct TransportError(pub String);

/// HTTP to one bank, a clock and a yield point.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends a request to `path` (e.g. `/v1/keys`) of the bank.
    async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, TransportError>;

    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;

    /// Lets other work run (the browser repaints the progress bar). Natively a no-op.
    async fn yield_now(&self) {}

    /// The bank's base URL, as recorded in tokens (e.g. `http://127.0.0.1:8080`).
    fn bank_url(&self) -> String;
}
