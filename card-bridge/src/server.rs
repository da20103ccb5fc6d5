//! The WebSocket server (protocol: `ecash_card::transport::bridge`).
//!
//! Defences, in the order a connection meets them:
//!
//! 1. The listener is bound to a loopback address only ([`check_listen_addr`]).
//! 2. At most [`Config::max_sessions`] sessions at once; more are closed at once.
//! 3. The handshake must carry an `Origin` on the allow-list (other sites' pages cannot
//!    talk to the bridge; browsers always send `Origin` on WebSocket handshakes) and a
//!    `Host` naming this loopback port (DNS-rebinding defence); otherwise `403`.
//! 4. The first message must be `hello` with the session token (constant-time check),
//!    within [`HELLO_TIMEOUT`]; anything else is answered `UNAUTHORIZED` and closed.
//! 5. Frames over `MAX_FRAME`, unknown ops and fields, and bad hex are `BAD_REQUEST`;
//!    a session holds at most [`crate::backend::MAX_HANDLES`] cards; idle sessions close
//!    after [`IDLE_TIMEOUT`]; on close every card is reset and released.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ecash_card::transport::TransportError;
use ecash_card::transport::bridge::{
    BridgeRequest, BridgeResponse, HexBytes, MAX_FRAME, VERSION, codes,
};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::backend::{MAX_HANDLES, ReaderBackend};
use crate::token::SessionToken;

/// Time allowed for the handshake and `hello`.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A session with no request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Makes a backend for a new session (runs on the session's thread).
pub type BackendFactory =
    Arc<dyn Fn() -> Result<Box<dyn ReaderBackend>, TransportError> + Send + Sync>;

/// Server settings.
#[derive(Clone)]
pub struct Config {
    /// Origins allowed to connect, exactly as browsers send them
    /// (`scheme://host[:port]`, no trailing slash).
    pub allowed_origins: Vec<String>,
    /// The token `hello` must carry.
    pub token: SessionToken,
    /// Concurrent sessions.
    pub max_sessions: usize,
    /// Readers for each session.
    pub backend: BackendFactory,
}

impl core::fmt::Debug for Config {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Config")
            .field("allowed_origins", &self.allowed_origins)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

/// Refuses any address that is not loopback: the bridge must not be reachable from the
/// network.
pub fn check_listen_addr(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr}: the card bridge binds to loopback only (127.0.0.1 or ::1)"
        ))
    }
}

/// Accepts connections forever, one thread per session.
pub fn serve(listener: TcpListener, config: Config) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    check_listen_addr(&local).map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?;
    let config = Arc::new(config);
    let sessions = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("card-bridge: accept failed: {e}");
                continue;
            }
        };
        if sessions.fetch_add(1, Ordering::SeqCst) >= config.max_sessions {
            sessions.fetch_sub(1, Ordering::SeqCst);
            eprintln!("card-bridge: too many sessions; closing a new connection");
            drop(stream);
            continue;
        }
        let config = config.clone();
        let sessions = sessions.clone();
        let spawned = std::thread::Builder::new()
            .name("card-bridge-session".into())
            .spawn(move || {
                if let Err(e) = session(stream, local.port(), &config) {
                    eprintln!("card-bridge: session ended: {e}");
                }
                sessions.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            eprintln!("card-bridge: cannot start a session thread: {e}");
        }
    }
    Ok(())
}

fn reject(status: StatusCode, why: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(why.to_owned()));
    *r.status_mut() = status;
    r
}

/// The handshake check: allowed Origin, loopback Host on our port.
pub fn check_handshake(
    request: &Request,
    allowed_origins: &[String],
    port: u16,
) -> Result<(), &'static str> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let origin = header("origin").ok_or("missing Origin")?;
    if !allowed_origins.contains(&origin) {
        return Err("Origin not allowed");
    }
    let host = header("host").ok_or("missing Host")?;
    let allowed_hosts = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    if !allowed_hosts.contains(&host) {
        return Err("Host is not this loopback bridge");
    }
    Ok(())
}

fn session(stream: TcpStream, port: u16, config: &Config) -> Result<(), String> {
    stream
        .set_read_timeout(Some(HELLO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    // A page that stops reading must not pin a session thread forever.
    stream
        .set_write_timeout(Some(HELLO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    // The callback's error type is tungstenite's (an HTTP response): not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback =
        |req: &Request, resp: Response| match check_handshake(req, &config.allowed_origins, port) {
            Ok(()) => Ok(resp),
            Err(why) => Err(reject(StatusCode::FORBIDDEN, why)),
        };
    let mut ws = tungstenite::accept_hdr_with_config(stream, callback, Some(ws_config))
        .map_err(|e| format!("handshake refused: {e}"))?;
    let result = run(&mut ws, config);
    let _ = ws.close(None);
    let _ = ws.flush();
    result
}

fn send(ws: &mut WebSocket<TcpStream>, response: &BridgeResponse) -> Result<(), String> {
    let text = serde_json::to_string(response).map_err(|e| e.to_string())?;
    ws.send(Message::text(text)).map_err(|e| e.to_string())
}

fn error_code(e: &TransportError) -> &'static str {
    match e {
        TransportError::NoCard => codes::NO_CARD,
        TransportError::NoSuchReader(_) => codes::NO_SUCH_READER,
        TransportError::NoSuchHandle => codes::NO_SUCH_HANDLE,
        _ => codes::READER_ERROR,
    }
}

fn run(ws: &mut WebSocket<TcpStream>, config: &Config) -> Result<(), String> {
    let mut backend: Option<Box<dyn ReaderBackend>> = None;
    loop {
        let message = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        };
        let text = match message {
            Message::Text(t) => t,
            Message::Close(_) => return Ok(()),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            Message::Binary(_) => {
                send(
                    ws,
                    &BridgeResponse::error(0, codes::BAD_REQUEST, "text frames only"),
                )?;
                continue;
            }
        };
        let request: BridgeRequest = match serde_json::from_str(text.as_str()) {
            Ok(r) => r,
            Err(e) => {
                let fatal = backend.is_none();
                send(
                    ws,
                    &BridgeResponse::error(0, codes::BAD_REQUEST, e.to_string()),
                )?;
                if fatal {
                    return Err("bad first message".into());
                }
                continue;
            }
        };
        let id = request.id();
        let Some(b) = backend.as_mut() else {
            // Not authenticated yet: only hello, with the right token.
            match request {
                BridgeRequest::Hello { token, .. } if config.token.matches(&token) => {
                    let made = (config.backend)();
                    match made {
                        Ok(b) => backend = Some(b),
                        Err(e) => {
                            send(
                                ws,
                                &BridgeResponse::error(id, error_code(&e), e.to_string()),
                            )?;
                            return Err(format!("no readers: {e}"));
                        }
                    }
                    ws.get_ref()
                        .set_read_timeout(Some(IDLE_TIMEOUT))
                        .map_err(|e| e.to_string())?;
                    send(
                        ws,
                        &BridgeResponse {
                            version: Some(VERSION),
                            ..BridgeResponse::ok(id)
                        },
                    )?;
                    continue;
                }
                _ => {
                    send(
                        ws,
                        &BridgeResponse::error(
                            id,
                            codes::UNAUTHORIZED,
                            "send hello with the session token card-bridge printed",
                        ),
                    )?;
                    return Err("unauthenticated request".into());
                }
            }
        };
        let response = match request {
            BridgeRequest::Hello { .. } => BridgeResponse {
                version: Some(VERSION),
                ..BridgeResponse::ok(id)
            },
            BridgeRequest::List { .. } => match b.list() {
                Ok(readers) => BridgeResponse {
                    readers: Some(readers),
                    ..BridgeResponse::ok(id)
                },
                Err(e) => BridgeResponse::error(id, error_code(&e), e.to_string()),
            },
            BridgeRequest::Connect { reader, .. } if b.handles() >= MAX_HANDLES => {
                BridgeResponse::error(
                    id,
                    codes::TOO_MANY_HANDLES,
                    format!("{MAX_HANDLES} cards per session; not connecting {reader}"),
                )
            }
            BridgeRequest::Connect { reader, .. } => match b.connect(&reader) {
                Ok((handle, atr)) => BridgeResponse {
                    handle: Some(handle),
                    atr: Some(HexBytes(atr)),
                    ..BridgeResponse::ok(id)
                },
                Err(e) => BridgeResponse::error(id, error_code(&e), e.to_string()),
            },
            BridgeRequest::Transmit { handle, apdu, .. } => {
                if apdu.0.len() < 4 {
                    BridgeResponse::error(id, codes::BAD_REQUEST, "an APDU has at least 4 bytes")
                } else {
                    match b.transmit(handle, &apdu.0) {
                        Ok(r) => BridgeResponse {
                            response: Some(HexBytes(r)),
                            ..BridgeResponse::ok(id)
                        },
                        Err(e) => BridgeResponse::error(id, error_code(&e), e.to_string()),
                    }
                }
            }
            BridgeRequest::Disconnect { handle, .. } => match b.disconnect(handle) {
                Ok(()) => BridgeResponse::ok(id),
                Err(e) => BridgeResponse::error(id, error_code(&e), e.to_string()),
            },
        };
        send(ws, &response)?;
    }
}
