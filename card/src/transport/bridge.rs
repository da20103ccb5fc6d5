//! The localhost card bridge's wire protocol: JSON text frames over a WebSocket to
//! `ws://127.0.0.1:<port>/`. The `card-bridge` binary serves it over PC/SC; the wallet
//! page (`transport::web::BridgeTransport`) and native tools speak it.
//!
//! The bridge checks the WebSocket handshake's `Origin` against its allow-list and its
//! `Host` against loopback names (DNS rebinding), then expects `hello` with the session
//! token it printed at start; nothing else is answered before that.
//!
//! ```text
//! → {"id":1,"op":"hello","token":"…"}                ← {"id":1,"ok":true,"version":1}
//! → {"id":2,"op":"list"}                             ← {"id":2,"ok":true,"readers":[{"name":"…","card_present":true}]}
//! → {"id":3,"op":"connect","reader":"…"}             ← {"id":3,"ok":true,"handle":1,"atr":"3b88…"}
//! → {"id":4,"op":"transmit","handle":1,"apdu":"00a4…"} ← {"id":4,"ok":true,"response":"…9000"}
//! → {"id":5,"op":"disconnect","handle":1}            ← {"id":5,"ok":true}
//! errors:                                            ← {"id":n,"ok":false,"error":{"code":"NO_CARD","detail":"…"}}
//! ```
//!
//! APDUs and ATRs are lower-case hex. Unknown fields are rejected.

use serde::{Deserialize, Serialize};

use super::{CardHandle, ReaderInfo, TransportError};

/// Protocol version answered to `hello`.
pub const VERSION: u32 = 1;
/// Largest text frame either side accepts (an extended APDU in hex, with room).
pub const MAX_FRAME: usize = 160 * 1024;

/// Error codes.
pub mod codes {
    /// Not JSON, unknown op or field, bad hex.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// `hello` missing or the token is wrong.
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    /// No such reader.
    pub const NO_SUCH_READER: &str = "NO_SUCH_READER";
    /// The reader has no card.
    pub const NO_CARD: &str = "NO_CARD";
    /// Unknown or closed handle.
    pub const NO_SUCH_HANDLE: &str = "NO_SUCH_HANDLE";
    /// Too many cards connected in this session.
    pub const TOO_MANY_HANDLES: &str = "TOO_MANY_HANDLES";
    /// PC/SC failed.
    pub const READER_ERROR: &str = "READER_ERROR";
}

/// Bytes as lower-case hex in JSON.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexBytes(#[serde(with = "crate::keys::hex_vec")] pub Vec<u8>);

impl core::fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // APDUs may carry a PIN: print the length only.
        write!(f, "HexBytes({} bytes)", self.0.len())
    }
}

/// A request from the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum BridgeRequest {
    /// Authenticate with the session token.
    Hello {
        /// Request id (echoed).
        id: u64,
        /// The token the bridge printed.
        token: String,
    },
    /// List readers.
    List {
        /// Request id.
        id: u64,
    },
    /// Connect to the card in a reader.
    Connect {
        /// Request id.
        id: u64,
        /// Reader name from `list`.
        reader: String,
    },
    /// Exchange one APDU.
    Transmit {
        /// Request id.
        id: u64,
        /// From `connect`.
        handle: CardHandle,
        /// Command APDU.
        apdu: HexBytes,
    },
    /// Release a card.
    Disconnect {
        /// Request id.
        id: u64,
        /// From `connect`.
        handle: CardHandle,
    },
}

impl BridgeRequest {
    /// The request id.
    pub fn id(&self) -> u64 {
        match self {
            BridgeRequest::Hello { id, .. }
            | BridgeRequest::List { id }
            | BridgeRequest::Connect { id, .. }
            | BridgeRequest::Transmit { id, .. }
            | BridgeRequest::Disconnect { id, .. } => *id,
        }
    }
}

/// An error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeErrorBody {
    /// One of [`codes`].
    pub code: String,
    /// Detail for humans.
    pub detail: String,
}

/// A response from the bridge; fields present according to the request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeResponse {
    /// The request's id (0 for a request that could not be parsed).
    pub id: u64,
    /// Success.
    pub ok: bool,
    /// `hello`: protocol version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// `list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readers: Option<Vec<ReaderInfo>>,
    /// `connect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<CardHandle>,
    /// `connect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atr: Option<HexBytes>,
    /// `transmit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<HexBytes>,
    /// On failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<BridgeErrorBody>,
}

impl BridgeResponse {
    /// A bare success.
    pub fn ok(id: u64) -> Self {
        BridgeResponse {
            id,
            ok: true,
            ..Default::default()
        }
    }

    /// A failure.
    pub fn error(id: u64, code: &str, detail: impl Into<String>) -> Self {
        BridgeResponse {
            id,
            ok: false,
            error: Some(BridgeErrorBody {
                code: code.to_owned(),
                detail: detail.into(),
            }),
            ..Default::default()
        }
    }

    /// `Ok(self)` on success, the error as a [`TransportError`] otherwise; also maps the
    /// bridge's codes back to the matching variants.
    pub fn into_result(self) -> Result<Self, TransportError> {
        if self.ok {
            return Ok(self);
        }
        let e = self.error.unwrap_or(BridgeErrorBody {
            code: "UNKNOWN".into(),
            detail: String::new(),
        });
        Err(match e.code.as_str() {
            codes::NO_CARD => TransportError::NoCard,
            codes::NO_SUCH_HANDLE => TransportError::NoSuchHandle,
            codes::NO_SUCH_READER => TransportError::NoSuchReader(e.detail),
            _ => TransportError::Bridge {
                code: e.code,
                detail: e.detail,
            },
        })
    }
}

/// Request ids and response matching, without I/O (used by the browser and native
/// clients).
#[derive(Debug, Clone, Default)]
pub struct ClientCore {
    next_id: u64,
}

impl ClientCore {
    /// A fresh core.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next request id.
    pub fn next_id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    /// Serializes a request.
    pub fn encode(request: &BridgeRequest) -> Result<String, TransportError> {
        serde_json::to_string(request).map_err(|e| TransportError::Protocol(e.to_string()))
    }

    /// Parses a response text frame and checks it answers `id`.
    pub fn decode(id: u64, text: &str) -> Result<BridgeResponse, TransportError> {
        if text.len() > MAX_FRAME {
            return Err(TransportError::Protocol("bridge frame too large".into()));
        }
        let response: BridgeResponse = serde_json::from_str(text)
            .map_err(|e| TransportError::Protocol(format!("bridge: {e}")))?;
        if response.id != id && response.id != 0 {
            return Err(TransportError::Protocol(format!(
                "bridge answered request {} instead of {id}",
                response.id
            )));
        }
        response.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_strictly() {
        let r: BridgeRequest =
            serde_json::from_str(r#"{"id":4,"op":"transmit","handle":1,"apdu":"00a40400"}"#)
                .unwrap();
        assert_eq!(
            r,
            BridgeRequest::Transmit {
                id: 4,
                handle: CardHandle(1),
                apdu: HexBytes(vec![0, 0xA4, 4, 0])
            }
        );
        for bad in [
            r#"{"id":4,"op":"transmit","handle":1,"apdu":"zz"}"#,
            r#"{"id":4,"op":"transmit","handle":1,"apdu":"00","x":1}"#,
            r#"{"id":4,"op":"format"}"#,
            r#"{"op":"list"}"#,
        ] {
            assert!(serde_json::from_str::<BridgeRequest>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses_round_trip_and_map_errors() {
        let ok = BridgeResponse {
            handle: Some(CardHandle(3)),
            atr: Some(HexBytes(vec![0x3B])),
            ..BridgeResponse::ok(7)
        };
        let text = serde_json::to_string(&ok).unwrap();
        assert_eq!(text, r#"{"id":7,"ok":true,"handle":3,"atr":"3b"}"#);
        assert_eq!(ClientCore::decode(7, &text).unwrap(), ok);
        assert!(ClientCore::decode(8, &text).is_err());
        let err =
            serde_json::to_string(&BridgeResponse::error(9, codes::NO_CARD, "empty")).unwrap();
        assert_eq!(ClientCore::decode(9, &err), Err(TransportError::NoCard));
    }
}
