//! A native, blocking client of the bridge (tests and command-line tools); the browser
//! uses `ecash_card::transport::web::BridgeTransport`. Implements [`CardTransport`]
//! (its futures complete without waiting).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ecash_card::transport::bridge::{BridgeRequest, BridgeResponse, ClientCore, HexBytes};
use ecash_card::transport::{CardHandle, CardTransport, Connected, ReaderInfo, TransportError};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{Message, WebSocket};

/// A connection to a card bridge.
pub struct BridgeClient {
    ws: WebSocket<TcpStream>,
    core: ClientCore,
}

impl core::fmt::Debug for BridgeClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BridgeClient")
    }
}

fn io(e: impl core::fmt::Display) -> TransportError {
    TransportError::Io(e.to_string())
}

impl BridgeClient {
    /// Opens the WebSocket with the given `Origin` and `Host` headers, without `hello`.
    pub fn open(addr: SocketAddr, origin: &str, host: &str) -> Result<Self, TransportError> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(io)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        let mut request = format!("ws://{addr}/").into_client_request().map_err(io)?;
        let headers = request.headers_mut();
        headers.insert("origin", HeaderValue::from_str(origin).map_err(io)?);
        headers.insert("host", HeaderValue::from_str(host).map_err(io)?);
        let (ws, _) = tungstenite::client(request, stream).map_err(io)?;
        Ok(BridgeClient {
            ws,
            core: ClientCore::new(),
        })
    }

    /// Opens the WebSocket as a page of `origin` would and authenticates with `token`.
    pub fn connect(addr: SocketAddr, origin: &str, token: &str) -> Result<Self, TransportError> {
        let mut c = Self::open(addr, origin, &addr.to_string())?;
        let token = token.to_owned();
        c.request(|id| BridgeRequest::Hello { id, token })?;
        Ok(c)
    }

    /// Sends a raw text frame and returns the raw answer (protocol tests).
    pub fn raw(&mut self, text: &str) -> Result<String, TransportError> {
        self.ws.send(Message::text(text)).map_err(io)?;
        loop {
            match self.ws.read().map_err(io)? {
                Message::Text(t) => return Ok(t.as_str().to_owned()),
                Message::Close(_) => return Err(TransportError::Io("closed by the bridge".into())),
                _ => continue,
            }
        }
    }

    /// One request, its checked answer.
    pub fn request(
        &mut self,
        make: impl FnOnce(u64) -> BridgeRequest,
    ) -> Result<BridgeResponse, TransportError> {
        let id = self.core.next_id();
        let text = ClientCore::encode(&make(id))?;
        let answer = self.raw(&text)?;
        ClientCore::decode(id, &answer)
    }
}

impl CardTransport for BridgeClient {
    async fn list_readers(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        Ok(self
            .request(|id| BridgeRequest::List { id })?
            .readers
            .unwrap_or_default())
    }

    async fn connect(&mut self, reader: &str) -> Result<Connected, TransportError> {
        let reader = reader.to_owned();
        let r = self.request(|id| BridgeRequest::Connect { id, reader })?;
        Ok(Connected {
            handle: r
                .handle
                .ok_or_else(|| TransportError::Protocol("no handle".into()))?,
            atr: r.atr.unwrap_or_default().0,
        })
    }

    async fn transmit(
        &mut self,
        handle: CardHandle,
        apdu: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        let apdu = HexBytes(apdu.to_vec());
        self.request(|id| BridgeRequest::Transmit { id, handle, apdu })?
            .response
            .map(|h| h.0)
            .ok_or_else(|| TransportError::Protocol("no response".into()))
    }

    async fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        self.request(|id| BridgeRequest::Disconnect { id, handle })
            .map(drop)
    }
}
