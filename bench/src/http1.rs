//! A minimal HTTP/1.1 keep-alive client for the timed phase.
//!
//! Like `wrk`, the generator should spend as little CPU as possible: on a
//! 2-core machine every microsecond it uses is taken from the server it
//! measures. With `reqwest` (hyper, header maps, pools, timers) the generator
//! cost ~250 µs per one-coin payment, about as much as the bank itself. Here
//! each simulated wallet owns one TCP connection and sends requests rendered
//! to bytes before the clock starts; a response is read up to its
//! `Content-Length` (what actix sends for JSON bodies) — chunked or
//! length-less answers are reported as errors, not guessed at.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response header block accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A request rendered to the bytes sent on the wire.
pub fn render(host: &str, path: &str, bearer: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    if let Some(t) = bearer {
        out.extend_from_slice(format!("Authorization: Bearer {t}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A response: status and body.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// One keep-alive connection.
pub struct Conn {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    /// A connection to `addr` (`host:port`), opened on first use.
    pub fn new(addr: &str, timeout: Duration) -> Self {
        Conn {
            addr: addr.to_owned(),
            stream: None,
            buf: Vec::with_capacity(8192),
            timeout,
        }
    }

    /// Sends one rendered request and reads its response. On any error the
    /// connection is dropped (the next call opens a new one).
    pub async fn send(&mut self, request: &[u8]) -> std::io::Result<Response> {
        let result = tokio::time::timeout(self.timeout, self.exchange(request))
            .await
            .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "timeout")));
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<Response> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(bad("no connection"));
        };
        stream.write_all(request).await?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("response head too long"));
            }
            read_more(stream, &mut self.buf).await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("head not UTF-8"))?;
        let (status, len, close) = parse_head(head)?;
        if len > MAX_BODY {
            return Err(bad("response body too long"));
        }
        while self.buf.len() < head_end + len {
            read_more(stream, &mut self.buf).await?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        if close {
            self.stream = None;
        }
        Ok(Response { status, body })
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn bad(what: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Status, `Content-Length` and whether the server closes the connection.
fn parse_head(head: &str) -> std::io::Result<(u16, usize, bool)> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(bad("not an HTTP/1.x response"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status code"))?;
    let mut len = None;
    let mut close = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| bad("bad header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            len = Some(value.parse().map_err(|_| bad("bad content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("chunked responses are not supported"));
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok((status, len.ok_or_else(|| bad("no content-length"))?, close))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let (s, l, c) =
            parse_head("HTTP/1.1 200 OK\r\ncontent-length: 12\r\ncontent-type: x\r\n\r\n").unwrap();
        assert_eq!((s, l, c), (200, 12, false));
        let (s, l, c) =
            parse_head("HTTP/1.1 409 Conflict\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
        assert_eq!((s, l, c), (409, 0, true));
        assert!(parse_head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head("HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_head("SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn renders_requests() {
        let r = render("127.0.0.1:1", "/v1/x", Some("t"), b"{}");
        let s = String::from_utf8(r).unwrap();
        assert!(s.starts_with("POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"));
        assert!(s.contains("Content-Length: 2\r\n"));
        assert!(s.ends_with("Authorization: Bearer t\r\n\r\n{}"));
    }

    #[tokio::test]
    async fn round_trip_against_a_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for body in ["{\"a\":1}", "{}"] {
                let _ = s.read(&mut buf).await.unwrap();
                // Head and body in separate writes: the reader must reassemble.
                s.write_all(
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).as_bytes(),
                )
                .await
                .unwrap();
                s.write_all(body.as_bytes()).await.unwrap();
            }
        });
        let mut c = Conn::new(&addr, Duration::from_secs(5));
        let req = render(&addr, "/", None, b"");
        let r = c.send(&req).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{\"a\":1}"[..]));
        let r = c.send(&req).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
    }
}
