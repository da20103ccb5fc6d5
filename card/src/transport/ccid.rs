//! USB CCID (Integrated Circuit(s) Cards Interface Devices, rev 1.1) framing: the
//! bulk-pipe messages between a host and a smart-card reader, as pure codecs; the host
//! logic ([`CcidReader`], a [`CardTransport`] over any [`BulkPipe`]); and a reader
//! emulator ([`CcidReaderEmulator`]) that runs a [`Card`] behind the same framing.
//!
//! Every message starts with a 10-byte header: `bMessageType`, `dwLength` (little
//! endian, bytes after the header), `bSlot`, `bSeq`, three message-specific bytes.
//!
//! | message | type | specific bytes |
//! |---|---|---|
//! | `PC_to_RDR_IccPowerOn` | `62` | bPowerSelect, RFU, RFU |
//! | `PC_to_RDR_IccPowerOff` | `63` | RFU ×3 |
//! | `PC_to_RDR_GetSlotStatus` | `65` | RFU ×3 |
//! | `PC_to_RDR_XfrBlock` | `6F` | bBWI, wLevelParameter (LE) |
//! | `RDR_to_PC_DataBlock` | `80` | bStatus, bError, bChainParameter |
//! | `RDR_to_PC_SlotStatus` | `81` | bStatus, bError, bClockStatus |
//!
//! `bStatus` = `bmICCStatus` (bits 0–1: 0 active, 1 inactive, 2 absent) |
//! `bmCommandStatus` (bits 6–7: 0 processed, 1 failed — see `bError`, 2 time extension
//! requested — the reader is still working: read again, same `bSeq`).
//!
//! Long APDUs on extended-APDU-level readers are chained: `wLevelParameter` /
//! `bChainParameter` 0 = whole, 1 = begins, 2 = ends, 3 = continues, 0x10 = "send me
//! the next part" (an empty XfrBlock).
//!
//! In the browser, the pipe is WebUSB's `transferOut`/`transferIn` on the reader's bulk
//! endpoints — which Chrome allows only for readers that do not declare the smart-card
//! interface class (0x0B); see the crate's report and `transport::web`.

use std::collections::VecDeque;

use super::{CardHandle, CardTransport, Connected, ReaderInfo, TransportError};
use crate::card::Card;

/// Header length of every CCID message.
pub const HEADER_LEN: usize = 10;
/// Default `dwMaxCCIDMessageLength` (header + 261-byte short APDU exchange, rounded).
pub const DEFAULT_MAX_MESSAGE: usize = 271;
/// Largest message the codecs accept at all (extended APDU + header).
pub const MAX_MESSAGE_LIMIT: usize = HEADER_LEN + 65_538;
/// Time extensions tolerated for one command before giving up.
pub const MAX_TIME_EXTENSIONS: u32 = 1_000;

/// Message types.
pub mod msg {
    /// PC_to_RDR_IccPowerOn.
    pub const ICC_POWER_ON: u8 = 0x62;
    /// PC_to_RDR_IccPowerOff.
    pub const ICC_POWER_OFF: u8 = 0x63;
    /// PC_to_RDR_GetSlotStatus.
    pub const GET_SLOT_STATUS: u8 = 0x65;
    /// PC_to_RDR_XfrBlock.
    pub const XFR_BLOCK: u8 = 0x6F;
    /// RDR_to_PC_DataBlock.
    pub const DATA_BLOCK: u8 = 0x80;
    /// RDR_to_PC_SlotStatus.
    pub const SLOT_STATUS: u8 = 0x81;
}

/// `bError` values the emulator uses (CCID §6.2.6).
pub mod err {
    /// Command not supported (the offset of the bad field is 0: bMessageType).
    pub const CMD_NOT_SUPPORTED: u8 = 0x00;
    /// bSlot does not exist (offset 5).
    pub const BAD_SLOT: u8 = 0x05;
    /// The card does not answer (no card).
    pub const ICC_MUTE: u8 = 0xFE;
    /// A wLevelParameter out of sequence (offset 8).
    pub const BAD_LEVEL_PARAMETER: u8 = 0x08;
}

/// A malformed or unexpected CCID frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CcidError {
    /// Fewer than 10 bytes, or fewer than the header announces.
    #[error("frame too short")]
    TooShort,
    /// `dwLength` beyond the maximum message length.
    #[error("frame of {0} bytes exceeds the maximum message length")]
    TooLong(usize),
    /// More bytes than the header announces.
    #[error("trailing bytes after the frame")]
    Trailing,
    /// Unknown `bMessageType`.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// A message type valid only in the other direction, or not the one expected.
    #[error("unexpected message type {0:#04x}")]
    UnexpectedType(u8),
    /// Answer for another slot or sequence number.
    #[error("answer for slot {slot} seq {seq}, expected slot {want_slot} seq {want_seq}")]
    Mismatch {
        /// Slot in the answer.
        slot: u8,
        /// Sequence number in the answer.
        seq: u8,
        /// Slot asked.
        want_slot: u8,
        /// Sequence number asked.
        want_seq: u8,
    },
    /// The reader reports the command failed.
    #[error("reader reports failure: bError {error:#04x}, ICC status {icc}")]
    Failed {
        /// `bError`.
        error: u8,
        /// `bmICCStatus`.
        icc: u8,
    },
    /// No card in the slot.
    #[error("no card in the slot")]
    NoCard,
    /// A reserved status or chain value.
    #[error("invalid field: {0}")]
    BadField(&'static str),
    /// The reader kept asking for more time.
    #[error("too many time extensions")]
    TooManyTimeExtensions,
}

impl From<CcidError> for TransportError {
    fn from(e: CcidError) -> Self {
        match e {
            CcidError::NoCard => TransportError::NoCard,
            e => TransportError::Protocol(format!("CCID: {e}")),
        }
    }
}

/// A host → reader message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcidCommand {
    /// Power the card, answer its ATR (`bPowerSelect`: 0 automatic, 1 = 5 V, 2 = 3 V, 3 = 1.8 V).
    IccPowerOn {
        /// bPowerSelect.
        power_select: u8,
    },
    /// Power the card off.
    IccPowerOff,
    /// Ask for the slot status.
    GetSlotStatus,
    /// Send (part of) an APDU.
    XfrBlock {
        /// Block waiting time integer (0 = default).
        bwi: u8,
        /// wLevelParameter: chaining of extended APDUs.
        level: u16,
        /// The bytes.
        data: Vec<u8>,
    },
}

/// A framed host → reader message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFrame {
    /// bSlot.
    pub slot: u8,
    /// bSeq.
    pub seq: u8,
    /// The message.
    pub command: CcidCommand,
}

fn header(kind: u8, len: usize, slot: u8, seq: u8, specific: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.push(kind);
    // Lengths are bounded by MAX_MESSAGE_LIMIT (checked by the callers' builders).
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    out.push(slot);
    out.push(seq);
    out.extend_from_slice(&specific);
    out
}

/// One frame cut into its fields: type, slot, seq, the three specific bytes, payload.
type Fields<'a> = (u8, u8, u8, [u8; 3], &'a [u8]);

/// Splits one whole frame into its fields.
fn split(bytes: &[u8], max: usize) -> Result<Fields<'_>, CcidError> {
    let (h, rest) = bytes
        .split_at_checked(HEADER_LEN)
        .ok_or(CcidError::TooShort)?;
    let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > max.saturating_sub(HEADER_LEN) {
        return Err(CcidError::TooLong(len));
    }
    match rest.len().cmp(&len) {
        core::cmp::Ordering::Less => Err(CcidError::TooShort),
        core::cmp::Ordering::Greater => Err(CcidError::Trailing),
        core::cmp::Ordering::Equal => Ok((h[0], h[5], h[6], [h[7], h[8], h[9]], rest)),
    }
}

impl CommandFrame {
    /// Encodes the frame.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, specific, data): (u8, [u8; 3], &[u8]) = match &self.command {
            CcidCommand::IccPowerOn { power_select } => {
                (msg::ICC_POWER_ON, [*power_select, 0, 0], &[])
            }
            CcidCommand::IccPowerOff => (msg::ICC_POWER_OFF, [0; 3], &[]),
            CcidCommand::GetSlotStatus => (msg::GET_SLOT_STATUS, [0; 3], &[]),
            CcidCommand::XfrBlock { bwi, level, data } => {
                let l = level.to_le_bytes();
                (msg::XFR_BLOCK, [*bwi, l[0], l[1]], data)
            }
        };
        let mut out = header(kind, data.len(), self.slot, self.seq, specific);
        out.extend_from_slice(data);
        out
    }

    /// Decodes one whole frame (the reader side).
    pub fn decode(bytes: &[u8], max_message: usize) -> Result<Self, CcidError> {
        let (kind, slot, seq, s, payload) = split(bytes, max_message)?;
        let command = match kind {
            msg::ICC_POWER_ON => CcidCommand::IccPowerOn { power_select: s[0] },
            msg::ICC_POWER_OFF => CcidCommand::IccPowerOff,
            msg::GET_SLOT_STATUS => CcidCommand::GetSlotStatus,
            msg::XFR_BLOCK => CcidCommand::XfrBlock {
                bwi: s[0],
                level: u16::from_le_bytes([s[1], s[2]]),
                data: payload.to_vec(),
            },
            msg::DATA_BLOCK | msg::SLOT_STATUS => return Err(CcidError::UnexpectedType(kind)),
            other => return Err(CcidError::UnknownType(other)),
        };
        if !matches!(command, CcidCommand::XfrBlock { .. }) && !payload.is_empty() {
            return Err(CcidError::BadField("payload on a message without one"));
        }
        Ok(CommandFrame { slot, seq, command })
    }
}

/// `bmICCStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IccStatus {
    /// Present and powered.
    Active,
    /// Present, not powered.
    Inactive,
    /// No card.
    Absent,
}

/// `bmCommandStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStatus {
    /// Processed without error.
    Processed,
    /// Failed; see bError.
    Failed,
    /// Time extension requested: the final answer follows.
    TimeExtension,
}

/// A reader → host message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcidResponse {
    /// RDR_to_PC_DataBlock: the ATR or (part of) a response APDU.
    DataBlock {
        /// bChainParameter.
        chain: u8,
        /// The bytes.
        data: Vec<u8>,
    },
    /// RDR_to_PC_SlotStatus.
    SlotStatus {
        /// bClockStatus.
        clock: u8,
    },
}

/// A framed reader → host message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseFrame {
    /// bSlot.
    pub slot: u8,
    /// bSeq (echoes the command's).
    pub seq: u8,
    /// The card's status.
    pub icc: IccStatus,
    /// How the command went.
    pub status: CommandStatus,
    /// bError (meaningful when failed; the BWI multiplier on a time extension).
    pub error: u8,
    /// The message.
    pub response: CcidResponse,
}

impl ResponseFrame {
    fn status_byte(&self) -> u8 {
        let icc = match self.icc {
            IccStatus::Active => 0,
            IccStatus::Inactive => 1,
            IccStatus::Absent => 2,
        };
        let cmd = match self.status {
            CommandStatus::Processed => 0,
            CommandStatus::Failed => 1,
            CommandStatus::TimeExtension => 2,
        };
        icc | (cmd << 6)
    }

    /// Encodes the frame (the reader side).
    pub fn encode(&self) -> Vec<u8> {
        let status = self.status_byte();
        let (kind, third, data): (u8, u8, &[u8]) = match &self.response {
            CcidResponse::DataBlock { chain, data } => (msg::DATA_BLOCK, *chain, data),
            CcidResponse::SlotStatus { clock } => (msg::SLOT_STATUS, *clock, &[]),
        };
        let mut out = header(
            kind,
            data.len(),
            self.slot,
            self.seq,
            [status, self.error, third],
        );
        out.extend_from_slice(data);
        out
    }

    /// Decodes one whole frame.
    pub fn decode(bytes: &[u8], max_message: usize) -> Result<Self, CcidError> {
        let (kind, slot, seq, s, payload) = split(bytes, max_message)?;
        let icc = match s[0] & 0x03 {
            0 => IccStatus::Active,
            1 => IccStatus::Inactive,
            2 => IccStatus::Absent,
            _ => return Err(CcidError::BadField("bmICCStatus 3")),
        };
        if s[0] & 0x3C != 0 {
            return Err(CcidError::BadField("bStatus RFU bits set"));
        }
        let status = match s[0] >> 6 {
            0 => CommandStatus::Processed,
            1 => CommandStatus::Failed,
            2 => CommandStatus::TimeExtension,
            _ => return Err(CcidError::BadField("bmCommandStatus 3")),
        };
        let response = match kind {
            msg::DATA_BLOCK => CcidResponse::DataBlock {
                chain: s[2],
                data: payload.to_vec(),
            },
            msg::SLOT_STATUS if payload.is_empty() => CcidResponse::SlotStatus { clock: s[2] },
            msg::SLOT_STATUS => return Err(CcidError::BadField("payload on SlotStatus")),
            msg::ICC_POWER_ON | msg::ICC_POWER_OFF | msg::GET_SLOT_STATUS | msg::XFR_BLOCK => {
                return Err(CcidError::UnexpectedType(kind));
            }
            other => return Err(CcidError::UnknownType(other)),
        };
        Ok(ResponseFrame {
            slot,
            seq,
            icc,
            status,
            error: s[1],
            response,
        })
    }
}

/// Collects bulk-in packets into whole frames (a frame longer than the endpoint's
/// packet size arrives in several transfers).
#[derive(Debug, Clone)]
pub struct Reassembler {
    buf: Vec<u8>,
    max_message: usize,
}

impl Reassembler {
    /// A reassembler refusing frames over `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Reassembler {
            buf: Vec::new(),
            max_message: max_message.clamp(HEADER_LEN, MAX_MESSAGE_LIMIT),
        }
    }

    /// Adds a packet; returns a whole frame's bytes once complete. A frame announcing
    /// more than the maximum is an error (and the buffer is dropped).
    pub fn push(&mut self, packet: &[u8]) -> Result<Option<Vec<u8>>, CcidError> {
        self.buf.extend_from_slice(packet);
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        let total = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(HEADER_LEN))
            .filter(|&t| t <= self.max_message);
        let Some(total) = total else {
            self.buf.clear();
            return Err(CcidError::TooLong(
                usize::try_from(len).unwrap_or(usize::MAX),
            ));
        };
        if self.buf.len() < total {
            return Ok(None);
        }
        if self.buf.len() > total {
            // One bulk transfer never carries two messages: the device is confused.
            self.buf.clear();
            return Err(CcidError::Trailing);
        }
        Ok(Some(core::mem::take(&mut self.buf)))
    }
}

/// Host-side protocol state: slot, sequence numbers, and response checks.
#[derive(Debug, Clone)]
pub struct CcidHost {
    slot: u8,
    seq: u8,
    max_message: usize,
}

/// What to do with a response frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The final answer.
    Done(ResponseFrame),
    /// The reader asked for more time: read again.
    Wait,
}

impl CcidHost {
    /// Host state for `slot` with the reader's `dwMaxCCIDMessageLength`.
    pub fn new(slot: u8, max_message: usize) -> Self {
        CcidHost {
            slot,
            seq: 0,
            max_message: max_message.clamp(HEADER_LEN + 1, MAX_MESSAGE_LIMIT),
        }
    }

    /// The maximum message length in use.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Frames a command with the next sequence number.
    pub fn frame(&mut self, command: CcidCommand) -> (u8, Vec<u8>) {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let frame = CommandFrame {
            slot: self.slot,
            seq,
            command,
        };
        (seq, frame.encode())
    }

    /// Checks a response frame against the command it answers.
    pub fn check(&self, seq: u8, bytes: &[u8]) -> Result<Step, CcidError> {
        let frame = ResponseFrame::decode(bytes, self.max_message)?;
        if frame.slot != self.slot || frame.seq != seq {
            return Err(CcidError::Mismatch {
                slot: frame.slot,
                seq: frame.seq,
                want_slot: self.slot,
                want_seq: seq,
            });
        }
        match frame.status {
            CommandStatus::TimeExtension => Ok(Step::Wait),
            CommandStatus::Failed if frame.icc == IccStatus::Absent => Err(CcidError::NoCard),
            CommandStatus::Failed => Err(CcidError::Failed {
                error: frame.error,
                icc: match frame.icc {
                    IccStatus::Active => 0,
                    IccStatus::Inactive => 1,
                    IccStatus::Absent => 2,
                },
            }),
            CommandStatus::Processed => Ok(Step::Done(frame)),
        }
    }

    /// Splits an APDU into XfrBlock payloads and their wLevelParameter: one block if it
    /// fits, else begins / continues / ends.
    pub fn chunks<'a>(&self, apdu: &'a [u8]) -> Vec<(u16, &'a [u8])> {
        let room = self.max_message - HEADER_LEN;
        if apdu.len() <= room {
            return vec![(0, apdu)];
        }
        let parts: Vec<&[u8]> = apdu.chunks(room).collect();
        let last = parts.len() - 1;
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let level = match i {
                    0 => 1,
                    i if i == last => 2,
                    _ => 3,
                };
                (level, p)
            })
            .collect()
    }
}

/// `dwMaxCCIDMessageLength` from a configuration descriptor (as read with
/// GET_DESCRIPTOR): the smart-card class descriptor is type `0x21`, 54 bytes long, with
/// the field at offset 44 (CCID rev 1.1 §5.1). `None` if absent or malformed.
pub fn max_message_from_config_descriptor(config: &[u8]) -> Option<usize> {
    let mut rest = config;
    while let [len, kind, ..] = *rest {
        let len = usize::from(len);
        if len < 2 || len > rest.len() {
            return None;
        }
        let (descriptor, tail) = rest.split_at(len);
        if kind == 0x21 && len == 54 {
            let field = descriptor.get(44..48)?;
            let max = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
            let max = usize::try_from(max).ok()?;
            return (HEADER_LEN + 1..=MAX_MESSAGE_LIMIT)
                .contains(&max)
                .then_some(max);
        }
        rest = tail;
    }
    None
}

/// A bulk IN/OUT endpoint pair (WebUSB `transferOut`/`transferIn`, or an emulator).
#[allow(async_fn_in_trait)] // Not Send in the browser.
pub trait BulkPipe {
    /// Writes one bulk-out transfer.
    async fn write(&mut self, data: &[u8]) -> Result<(), TransportError>;
    /// Reads one bulk-in transfer of at most `max_len` bytes.
    async fn read(&mut self, max_len: usize) -> Result<Vec<u8>, TransportError>;
}

/// A CCID reader (one slot) as a [`CardTransport`].
#[derive(Debug)]
pub struct CcidReader<P: BulkPipe> {
    pipe: P,
    host: CcidHost,
    name: String,
    packet_size: usize,
    connected: Option<CardHandle>,
    next_handle: u32,
}

impl<P: BulkPipe> CcidReader<P> {
    /// A reader named `name` on `pipe`, slot 0, with the reader's maximum message length
    /// and bulk-in packet size (64 for full-speed USB).
    pub fn new(pipe: P, name: &str, max_message: usize, packet_size: usize) -> Self {
        CcidReader {
            pipe,
            host: CcidHost::new(0, max_message),
            name: name.to_owned(),
            packet_size: packet_size.max(1),
            connected: None,
            next_handle: 0,
        }
    }

    /// The pipe (e.g. to inspect an emulator).
    pub fn pipe_mut(&mut self) -> &mut P {
        &mut self.pipe
    }

    async fn read_frame(&mut self) -> Result<Vec<u8>, TransportError> {
        let mut r = Reassembler::new(self.host.max_message());
        loop {
            let packet = self.pipe.read(self.packet_size).await?;
            if packet.is_empty() {
                return Err(TransportError::Protocol("CCID: empty bulk-in".into()));
            }
            if let Some(frame) = r.push(&packet)? {
                return Ok(frame);
            }
        }
    }

    /// Sends one command and waits out time extensions.
    async fn command(&mut self, command: CcidCommand) -> Result<ResponseFrame, TransportError> {
        let (seq, bytes) = self.host.frame(command);
        self.pipe.write(&bytes).await?;
        for _ in 0..MAX_TIME_EXTENSIONS {
            let frame = self.read_frame().await?;
            match self.host.check(seq, &frame)? {
                Step::Done(resp) => return Ok(resp),
                Step::Wait => continue,
            }
        }
        Err(CcidError::TooManyTimeExtensions.into())
    }

    fn data_block(frame: ResponseFrame) -> Result<(u8, Vec<u8>), TransportError> {
        match frame.response {
            CcidResponse::DataBlock { chain, data } => Ok((chain, data)),
            CcidResponse::SlotStatus { .. } => {
                Err(CcidError::UnexpectedType(msg::SLOT_STATUS).into())
            }
        }
    }

    fn check_handle(&self, handle: CardHandle) -> Result<(), TransportError> {
        if self.connected == Some(handle) {
            Ok(())
        } else {
            Err(TransportError::NoSuchHandle)
        }
    }
}

impl<P: BulkPipe> CardTransport for CcidReader<P> {
    async fn list_readers(&mut self) -> Result<Vec<ReaderInfo>, TransportError> {
        let frame = self.command(CcidCommand::GetSlotStatus).await?;
        Ok(vec![ReaderInfo {
            name: self.name.clone(),
            card_present: frame.icc != IccStatus::Absent,
        }])
    }

    async fn connect(&mut self, reader: &str) -> Result<Connected, TransportError> {
        if reader != self.name {
            return Err(TransportError::NoSuchReader(reader.to_owned()));
        }
        let frame = self
            .command(CcidCommand::IccPowerOn { power_select: 0 })
            .await?;
        let (_, atr) = Self::data_block(frame)?;
        self.next_handle = self.next_handle.wrapping_add(1);
        let handle = CardHandle(self.next_handle);
        self.connected = Some(handle);
        Ok(Connected { handle, atr })
    }

    async fn transmit(
        &mut self,
        handle: CardHandle,
        apdu: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        self.check_handle(handle)?;
        let chunks: Vec<(u16, Vec<u8>)> = self
            .host
            .chunks(apdu)
            .into_iter()
            .map(|(l, d)| (l, d.to_vec()))
            .collect();
        let count = chunks.len();
        let mut last = None;
        for (i, (level, data)) in chunks.into_iter().enumerate() {
            let frame = self
                .command(CcidCommand::XfrBlock {
                    bwi: 0,
                    level,
                    data,
                })
                .await?;
            let (chain, data) = Self::data_block(frame)?;
            if i + 1 < count {
                // Mid-chain the reader answers an empty block with chain 0x10.
                if chain != 0x10 || !data.is_empty() {
                    return Err(CcidError::BadField("reader broke command chaining").into());
                }
            } else {
                last = Some((chain, data));
            }
        }
        let Some((mut chain, mut response)) = last else {
            return Err(CcidError::BadField("empty command").into());
        };
        // Response chaining: 1 begins, 3 continues, 2 ends.
        if chain == 0x01 {
            loop {
                let frame = self
                    .command(CcidCommand::XfrBlock {
                        bwi: 0,
                        level: 0x10,
                        data: Vec::new(),
                    })
                    .await?;
                let (c, data) = Self::data_block(frame)?;
                if c == 0x03 && data.is_empty() {
                    // An empty "continues" block would make this loop endless.
                    return Err(CcidError::BadField("empty chained block").into());
                }
                if response.len() + data.len() > MAX_MESSAGE_LIMIT {
                    return Err(CcidError::TooLong(response.len() + data.len()).into());
                }
                response.extend_from_slice(&data);
                match c {
                    0x03 => continue,
                    0x02 => {
                        chain = 0;
                        break;
                    }
                    _ => return Err(CcidError::BadField("bChainParameter out of sequence").into()),
                }
            }
        }
        if chain != 0 {
            return Err(CcidError::BadField("bChainParameter out of sequence").into());
        }
        Ok(response)
    }

    async fn disconnect(&mut self, handle: CardHandle) -> Result<(), TransportError> {
        self.check_handle(handle)?;
        self.connected = None;
        self.command(CcidCommand::IccPowerOff).await?;
        Ok(())
    }
}

/// The reader side, emulated: parses host frames, runs a [`Card`], answers frames, cut
/// into bulk-in packets — with optional time extensions and a small maximum message
/// length to exercise chaining. Implements [`BulkPipe`], so a [`CcidReader`] can drive it.
#[derive(Debug)]
pub struct CcidReaderEmulator<C: Card> {
    card: Option<C>,
    powered: bool,
    /// Time-extension frames sent before each final answer.
    pub time_extensions: u8,
    max_message: usize,
    out: VecDeque<Vec<u8>>,
    packet_size: usize,
    /// Command chaining in progress.
    chained_in: Vec<u8>,
    /// Response bytes still to send by chaining.
    chained_out: VecDeque<u8>,
}

impl<C: Card> CcidReaderEmulator<C> {
    /// A reader holding `card` (or none), with the given maximum message length and
    /// bulk-in packet size.
    pub fn new(card: Option<C>, max_message: usize, packet_size: usize) -> Self {
        CcidReaderEmulator {
            card,
            powered: false,
            time_extensions: 0,
            max_message: max_message.clamp(HEADER_LEN + 1, MAX_MESSAGE_LIMIT),
            out: VecDeque::new(),
            packet_size: packet_size.max(1),
            chained_in: Vec::new(),
            chained_out: VecDeque::new(),
        }
    }

    /// The card, if any.
    pub fn card_mut(&mut self) -> Option<&mut C> {
        self.card.as_mut()
    }

    fn icc(&self) -> IccStatus {
        match (&self.card, self.powered) {
            (None, _) => IccStatus::Absent,
            (Some(_), true) => IccStatus::Active,
            (Some(_), false) => IccStatus::Inactive,
        }
    }

    fn answer(
        &mut self,
        slot: u8,
        seq: u8,
        status: CommandStatus,
        error: u8,
        response: CcidResponse,
    ) {
        for _ in 0..self.time_extensions {
            if status != CommandStatus::Processed {
                break;
            }
            let wait = ResponseFrame {
                slot,
                seq,
                icc: self.icc(),
                status: CommandStatus::TimeExtension,
                error: 1,
                response: CcidResponse::DataBlock {
                    chain: 0,
                    data: Vec::new(),
                },
            };
            self.queue(wait.encode());
        }
        let frame = ResponseFrame {
            slot,
            seq,
            icc: self.icc(),
            status,
            error,
            response,
        };
        self.queue(frame.encode());
    }

    fn queue(&mut self, frame: Vec<u8>) {
        for packet in frame.chunks(self.packet_size) {
            self.out.push_back(packet.to_vec());
        }
    }

    fn failed(&mut self, slot: u8, seq: u8, error: u8) {
        self.answer(
            slot,
            seq,
            CommandStatus::Failed,
            error,
            CcidResponse::SlotStatus { clock: 0 },
        );
    }

    fn data(&mut self, slot: u8, seq: u8, chain: u8, data: Vec<u8>) {
        self.answer(
            slot,
            seq,
            CommandStatus::Processed,
            0,
            CcidResponse::DataBlock { chain, data },
        );
    }

    /// Sends as much of `response` as fits, chaining the rest.
    fn send_response(&mut self, slot: u8, seq: u8, response: Vec<u8>, continuing: bool) {
        let room = self.max_message - HEADER_LEN;
        let mut rest: VecDeque<u8> = response.into();
        let part: Vec<u8> = rest.drain(..room.min(rest.len())).collect();
        let chain = match (continuing, rest.is_empty()) {
            (false, true) => 0x00,
            (false, false) => 0x01,
            (true, true) => 0x02,
            (true, false) => 0x03,
        };
        self.chained_out = rest;
        self.data(slot, seq, chain, part);
    }

    /// Handles one host → reader transfer.
    pub fn handle(&mut self, bytes: &[u8]) {
        // A frame too short to have a header cannot be answered (no seq): drop it,
        // as a reader would.
        let Some(header) = bytes.get(..HEADER_LEN) else {
            return;
        };
        let (slot, seq) = (header[5], header[6]);
        let frame = match CommandFrame::decode(bytes, self.max_message) {
            Ok(f) => f,
            Err(_) => return self.failed(slot, seq, err::CMD_NOT_SUPPORTED),
        };
        if frame.slot != 0 {
            return self.failed(slot, seq, err::BAD_SLOT);
        }
        match frame.command {
            CcidCommand::GetSlotStatus => self.answer(
                slot,
                seq,
                CommandStatus::Processed,
                0,
                CcidResponse::SlotStatus { clock: 0 },
            ),
            CcidCommand::IccPowerOff => {
                if let Some(card) = self.card.as_mut() {
                    card.power_off();
                }
                self.powered = false;
                self.answer(
                    slot,
                    seq,
                    CommandStatus::Processed,
                    0,
                    CcidResponse::SlotStatus { clock: 0 },
                );
            }
            CcidCommand::IccPowerOn { .. } => match self.card.as_mut() {
                None => self.failed(slot, seq, err::ICC_MUTE),
                Some(card) => {
                    card.reset();
                    let atr = card.atr().to_vec();
                    self.powered = true;
                    self.chained_in.clear();
                    self.chained_out.clear();
                    self.data(slot, seq, 0, atr);
                }
            },
            CcidCommand::XfrBlock { level, data, .. } => {
                if !self.powered {
                    return self.failed(slot, seq, err::ICC_MUTE);
                }
                match level {
                    0x00 | 0x02 => {
                        let apdu = if level == 0 {
                            if !self.chained_in.is_empty() {
                                self.chained_in.clear();
                                return self.failed(slot, seq, err::BAD_LEVEL_PARAMETER);
                            }
                            data
                        } else {
                            if self.chained_in.is_empty() {
                                return self.failed(slot, seq, err::BAD_LEVEL_PARAMETER);
                            }
                            let mut all = core::mem::take(&mut self.chained_in);
                            all.extend_from_slice(&data);
                            all
                        };
                        let response = match self.card.as_mut() {
                            Some(card) => card.transmit(&apdu),
                            None => return self.failed(slot, seq, err::ICC_MUTE),
                        };
                        self.send_response(slot, seq, response, false);
                    }
                    0x01 | 0x03 => {
                        if (level == 0x01) != self.chained_in.is_empty()
                            || self.chained_in.len() + data.len() > MAX_MESSAGE_LIMIT
                        {
                            self.chained_in.clear();
                            return self.failed(slot, seq, err::BAD_LEVEL_PARAMETER);
                        }
                        self.chained_in.extend_from_slice(&data);
                        self.data(slot, seq, 0x10, Vec::new());
                    }
                    0x10 => {
                        if self.chained_out.is_empty() {
                            return self.failed(slot, seq, err::BAD_LEVEL_PARAMETER);
                        }
                        let rest: Vec<u8> = core::mem::take(&mut self.chained_out).into();
                        self.send_response(slot, seq, rest, true);
                    }
                    _ => self.failed(slot, seq, err::BAD_LEVEL_PARAMETER),
                }
            }
        }
    }
}

impl<C: Card> BulkPipe for CcidReaderEmulator<C> {
    async fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        self.handle(data);
        Ok(())
    }

    async fn read(&mut self, max_len: usize) -> Result<Vec<u8>, TransportError> {
        let Some(mut packet) = self.out.pop_front() else {
            return Err(TransportError::Io("CCID emulator: nothing to read".into()));
        };
        if packet.len() > max_len {
            let rest = packet.split_off(max_len);
            self.out.push_front(rest);
        }
        Ok(packet)
    }
}
