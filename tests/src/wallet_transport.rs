//! The cyberwallet's logic (`ecash_wallet`) natively: an HTTP transport
//! over `reqwest` for its `Transport` trait, so the same wallet code that runs
//! in the browser runs against a real bank-server here.

use std::time::{SystemTime, UNIX_EPOCH};

use ecash_wallet::transport::{HttpResponse, Method, Transport, TransportError};

/// `reqwest` transport to one bank.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    base: String,
    http: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport to the bank at `base` (e.g. `http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Self {
        ReqwestTransport {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }
}

impl Transport for ReqwestTransport {
    async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, TransportError> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            Method::Get => self.http.get(url),
            Method::Post => self
                .http
                .post(url)
                .header("content-type", "application/json"),
        };
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| TransportError(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TransportError(e.to_string()))?
            .to_vec();
        Ok(HttpResponse { status, body })
    }

    fn now_unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    fn bank_url(&self) -> String {
        self.base.clone()
    }
}
