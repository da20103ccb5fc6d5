//! A virtual ICC for vsmartcard's `vpcd` PC/SC driver: our purse (or any [`Card`])
//! appears as a card in a PC/SC reader, so the real stack — pcscd, libpcsclite, the
//! bridge — can be tested end to end (Debian: `vsmartcard-vpcd`).
//!
//! Protocol (vsmartcard "virtualsmartcard/api"): the ICC connects to vpcd's TCP port
//! (35963 by default, one port per reader slot). Every message either way is a 2-byte
//! big-endian length and a payload. From vpcd, a 1-byte payload is a control code —
//! `00` power off, `01` power on, `02` reset, `04` get ATR (answered with the ATR) —
//! and any longer payload is a command APDU, answered with the response APDU.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ecash_card::Card;

/// The default vpcd port.
pub const DEFAULT_PORT: u16 = 35963;

/// A control code or a malformed message from vpcd.
#[derive(Debug, thiserror::Error)]
pub enum ViccError {
    /// The socket failed.
    #[error("vpcd socket: {0}")]
    Io(#[from] std::io::Error),
    /// An unknown 1-byte control code.
    #[error("unknown vpcd control code {0:#04x}")]
    UnknownControl(u8),
    /// An empty message.
    #[error("empty message from vpcd")]
    Empty,
    /// A response longer than 65535 bytes.
    #[error("response too long for vpcd framing")]
    TooLong,
}

/// Connects to vpcd at `addr`, retrying until `deadline` (pcscd may still be starting).
pub fn connect(addr: SocketAddr, patience: Duration) -> Result<TcpStream, ViccError> {
    let deadline = Instant::now() + patience;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) if Instant::now() >= deadline => return Err(e.into()),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn read_message(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut msg)?;
    Ok(msg)
}

fn write_message(stream: &mut TcpStream, payload: &[u8]) -> Result<(), ViccError> {
    let len = u16::try_from(payload.len()).map_err(|_| ViccError::TooLong)?;
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    stream.write_all(&out)?;
    Ok(())
}

/// Handles one vpcd message; returns the answer to send, if any.
pub fn handle<C: Card + ?Sized>(
    card: &mut C,
    message: &[u8],
) -> Result<Option<Vec<u8>>, ViccError> {
    match message {
        [] => Err(ViccError::Empty),
        [0x00] => {
            card.power_off();
            Ok(None)
        }
        [0x01] | [0x02] => {
            card.reset();
            Ok(None)
        }
        [0x04] => Ok(Some(card.atr().to_vec())),
        [code] => Err(ViccError::UnknownControl(*code)),
        apdu => Ok(Some(card.transmit(apdu))),
    }
}

/// Serves `card` on a connected vpcd socket until vpcd closes it or `stop` is set
/// (checked every 200 ms).
pub fn run<C: Card + ?Sized>(
    mut stream: TcpStream,
    card: &mut C,
    stop: &AtomicBool,
) -> Result<(), ViccError> {
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Peek for the length so a timeout never splits a message.
        let mut probe = [0u8; 1];
        match stream.peek(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e.into()),
        }
        stream.set_read_timeout(None)?;
        let message = match read_message(&mut stream) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        stream.set_read_timeout(Some(Duration::from_millis(200)))?;
        if let Some(answer) = handle(card, &message)? {
            write_message(&mut stream, &answer)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    struct Echo(u32);
    impl Card for Echo {
        fn atr(&self) -> &[u8] {
            &[0x3B, 0x00]
        }
        fn reset(&mut self) {
            self.0 += 1;
        }
        fn power_off(&mut self) {}
        fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
            [command, &[0x90, 0x00]].concat()
        }
    }

    /// Plays vpcd's side of the socket protocol against `run`.
    #[test]
    fn speaks_the_vpcd_socket_protocol() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let icc = s.spawn(|| {
                let stream = connect(addr, Duration::from_secs(5)).unwrap();
                let mut card = Echo(0);
                run(stream, &mut card, &stop).unwrap();
                card.0
            });
            let (mut vpcd, _) = listener.accept().unwrap();
            write_message(&mut vpcd, &[0x01]).unwrap();
            write_message(&mut vpcd, &[0x04]).unwrap();
            assert_eq!(read_message(&mut vpcd).unwrap(), [0x3B, 0x00]);
            write_message(&mut vpcd, &[0x00, 0xA4, 0x04, 0x00]).unwrap();
            assert_eq!(
                read_message(&mut vpcd).unwrap(),
                [0x00, 0xA4, 0x04, 0x00, 0x90, 0x00]
            );
            write_message(&mut vpcd, &[0x02]).unwrap();
            drop(vpcd);
            assert_eq!(icc.join().unwrap(), 2, "power on + reset");
        });
        let mut card = Echo(0);
        assert!(matches!(
            handle(&mut card, &[0x07]),
            Err(ViccError::UnknownControl(7))
        ));
        assert!(matches!(handle(&mut card, &[]), Err(ViccError::Empty)));
    }
}
