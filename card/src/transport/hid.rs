//! APDUs over USB HID reports, in the framing Ledger tokens use: every report is 64
//! bytes, `channel (2, BE) || command tag (1) = 0x05 || packet sequence (2, BE) ||
//! payload`, zero-padded; the first packet's payload starts with the APDU length
//! (2, BE). So packet 0 carries 57 APDU bytes and each further packet 59. Responses come
//! back the same way on the same channel.
//!
//! Pure codecs ([`encode`], [`Reassembler`]), the host side ([`HidToken`], a
//! [`CardTransport`] over any [`ReportPipe`]) and a token emulator ([`HidTokenEmulator`])
//! that runs a [`Card`]. In the browser the pipe is WebHID (`sendReport(0, report)` and
//! the `inputreport` event); see `transport::web`.

use std::collections::VecDeque;

use super::{CardHandle, CardTransport, Connected, ReaderInfo, TransportError};
use crate::card::Card;

/// Report size.
pub const REPORT_LEN: usize = 64;
/// The command tag of an APDU packet.
pub const TAG_APDU: u8 = 0x05;
/// Default channel.
pub const DEFAULT_CHANNEL: u16 = 0x0101;
/// Largest message (the length field is 16 bits).
pub const MAX_MESSAGE: usize = 65_535;
const HEAD: usize = 5;

/// A report that breaks the framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HidError {
    /// Not 64 bytes.
    #[error("report of {0} bytes, expected 64")]
    BadLength(usize),
    /// Another channel.
    #[error("report on channel {got:#06x}, expected {want:#06x}")]
    WrongChannel {
        /// Channel received.
        got: u16,
        /// Channel expected.
        want: u16,
    },
    /// Not the APDU tag.
    #[error("unknown command tag {0:#04x}")]
    BadTag(u8),
    /// Packets out of order (lost, duplicated or reordered).
    #[error("packet sequence {got}, expected {want}")]
    BadSequence {
        /// Sequence received.
        got: u16,
        /// Sequence expected.
        want: u16,
    },
    /// More than 65535 bytes to send.
    #[error("message too long for HID framing")]
    TooLong,
    /// Padding after the message is not zero.
    #[error("non-zero padding")]
    BadPadding,
}

impl From<HidError> for TransportError {
    fn from(e: HidError) -> Self {
        TransportError::Protocol(format!("HID: {e}"))
    }
}

/// Cuts a message into 64-byte reports on `channel`.
pub fn encode(channel: u16, message: &[u8]) -> Result<Vec<[u8; REPORT_LEN]>, HidError> {
    let len = u16::try_from(message.len()).map_err(|_| HidError::TooLong)?;
    let mut reports = Vec::new();
    let mut rest = message;
    let mut seq: u16 = 0;
    loop {
        let mut r = [0u8; REPORT_LEN];
        r[..2].copy_from_slice(&channel.to_be_bytes());
        r[2] = TAG_APDU;
        r[3..5].copy_from_slice(&seq.to_be_bytes());
        let mut at = HEAD;
        if seq == 0 {
            r[HEAD..HEAD + 2].copy_from_slice(&len.to_be_bytes());
            at += 2;
        }
        let n = rest.len().min(REPORT_LEN - at);
        r[at..at + n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        reports.push(r);
        if rest.is_empty() {
            return Ok(reports);
        }
        // 65535 bytes need 1 + ceil((65535 - 57) / 59) = 1111 packets: no overflow.
        seq = seq.wrapping_add(1);
    }
}

/// Collects reports into a message, checking channel, tag, order and padding.
#[derive(Debug, Clone)]
pub struct Reassembler {
    channel: u16,
    expected: Option<usize>,
    seq: u16,
    buf: Vec<u8>,
}

impl Reassembler {
    /// A reassembler for `channel`.
    pub fn new(channel: u16) -> Self {
        Reassembler {
            channel,
            expected: None,
            seq: 0,
            buf: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.expected = None;
        self.seq = 0;
        self.buf.clear();
    }

    /// Adds a report; returns the message once complete. On error the partial message
    /// is dropped (the next report must start a new one).
    pub fn push(&mut self, report: &[u8]) -> Result<Option<Vec<u8>>, HidError> {
        let result = self.push_inner(report);
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn push_inner(&mut self, report: &[u8]) -> Result<Option<Vec<u8>>, HidError> {
        let report: &[u8; REPORT_LEN] = report
            .try_into()
            .map_err(|_| HidError::BadLength(report.len()))?;
        let channel = u16::from_be_bytes([report[0], report[1]]);
        if channel != self.channel {
            return Err(HidError::WrongChannel {
                got: channel,
                want: self.channel,
            });
        }
        if report[2] != TAG_APDU {
            return Err(HidError::BadTag(report[2]));
        }
        let seq = u16::from_be_bytes([report[3], report[4]]);
        if seq != self.seq {
            return Err(HidError::BadSequence {
                got: seq,
                want: self.seq,
            });
        }
        let mut payload = &report[HEAD..];
        let expected = match self.expected {
            Some(n) => n,
            None => {
                let n = usize::from(u16::from_be_bytes([payload[0], payload[1]]));
                payload = &payload[2..];
                self.expected = Some(n);
                n
            }
        };
        let take = (expected - self.buf.len()).min(payload.len());
        self.buf.extend_from_slice(&payload[..take]);
        if self.buf.len() < expected {
            self.seq = self.seq.wrapping_add(1);
            return Ok(None);
        }
        if payload[take..].iter().any(|&b| b != 0) {
            return Err(HidError::BadPadding);
        }
        let out = core::mem::take(&mut self.buf);
        self.reset();
        Ok(Some(out))
    }
}

/// Sends and receives whole 64-byte reports (WebHID, or an emulator).
#[allow(async_fn_in_trait)] // Not Send in the browser.
pub trait ReportPipe {
    /// Sends one output report.
    async fn send(&mut self, report: &[u8; REPORT_LEN]) -> Result<(), TransportError>;
    /// Waits for the next input report.
    async fn receive(&mut self) -> Result<Vec<u8>, TransportError>;
}

/// A HID token as a [`CardTransport`] with one "reader" (the token itself; no ATR).
#[derive(Debug)]
pub struct HidToken<R: ReportPipe> {
    pipe: R,
    channel: u16,
    name: String,
    connected: Option<CardHandle>,
    next_handle: u32,
}

impl<R: ReportPipe> HidToken<R> {
    /// A token named `name` on `pipe`.
    pub fn new(pipe: R, name: &str, channel: u16) -> Self {
        HidToken {
            pipe,
            channel,
            name: name.to_owned(),
            connected: None,
            next_handle: 0,
        }
    }

    /// The pipe.
    pub fn pipe_mut(&mut self) -> &mut R {
        &mut self.pipe
    }
}

impl<R: ReportPipe> CardTransport for HidToken<R> {
    async fn list_readers(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        Ok(vec![ReaderInfo {
            name: self.name.clone(),
            card_present: true,
        }])
    }

    async fn connect(&mut self, reader: &str) -> Result<Connected, TransportError> {
        if reader != self.name {
            return Err(TransportError::NoSuchReader(reader.to_owned()));
        }
        self.next_handle = self.next_handle.wrapping_add(1);
        let handle = CardHandle(self.next_handle);
        self.connected = Some(handle);
        Ok(Connected {
            handle,
            atr: Vec::new(),
        })
    }

    async fn transmit(
        &mut self,
        handle: CardHandle,
        apdu: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        if self.connected != Some(handle) {
            return Err(TransportError::NoSuchHandle);
        }
        for report in encode(self.channel, apdu)? {
            self.pipe.send(&report).await?;
        }
        let mut r = Reassembler::new(self.channel);
        // A response is at most 1111 reports; anything longer is a broken device.
        for _ in 0..1_200 {
            let report = self.pipe.receive().await?;
            if let Some(message) = r.push(&report)? {
                return Ok(message);
            }
        }
        Err(TransportError::Protocol("HID: response never ends".into()))
    }

    async fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        if self.connected != Some(handle) {
            return Err(TransportError::NoSuchHandle);
        }
        self.connected = None;
        Ok(())
    }
}

/// The token side, emulated: reassembles command reports, runs the [`Card`], answers in
/// reports on the same channel. A framing error drops the partial command and answers
/// nothing (the host times out or sees its next command answered). Implements
/// [`ReportPipe`] for a [`HidToken`].
#[derive(Debug)]
pub struct HidTokenEmulator<C: Card> {
    card: C,
    rx: Reassembler,
    out: VecDeque<[u8; REPORT_LEN]>,
    /// Framing errors seen (for tests).
    pub errors: u32,
}

impl<C: Card> HidTokenEmulator<C> {
    /// A token on `channel` running `card` (powered).
    pub fn new(mut card: C, channel: u16) -> Self {
        card.reset();
        HidTokenEmulator {
            card,
            rx: Reassembler::new(channel),
            out: VecDeque::new(),
            errors: 0,
        }
    }

    /// The card.
    pub fn card_mut(&mut self) -> &mut C {
        &mut self.card
    }

    /// Handles one output report from the host.
    pub fn handle(&mut self, report: &[u8]) {
        match self.rx.push(report) {
            Ok(None) => {}
            Ok(Some(apdu)) => {
                let response = self.card.transmit(&apdu);
                // A card response is at most 65538 bytes; the framing takes 65535: a
                // longer one is answered as 6F00 rather than cut.
                let reports = encode(self.rx.channel, &response)
                    .or_else(|_| encode(self.rx.channel, &[0x6F, 0x00]))
                    .unwrap_or_default();
                self.out.extend(reports);
            }
            Err(_) => self.errors += 1,
        }
    }
}

impl<C: Card> ReportPipe for HidTokenEmulator<C> {
    async fn send(&mut self, report: &[u8; REPORT_LEN]) -> Result<(), TransportError> {
        self.handle(report);
        Ok(())
    }

    async fn receive(&mut self) -> Result<Vec<u8>, TransportError> {
        self.out
            .pop_front()
            .map(|r| r.to_vec())
            .ok_or_else(|| TransportError::Io("HID emulator: no report".into()))
    }
}
