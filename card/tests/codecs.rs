//! CCID and HID frame codecs: round trips, fragmentation and reassembly, chaining, time
//! extensions, bad frames → errors, and no panics on any input — tested against the
//! device-side emulators.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(not(target_arch = "wasm32"))] // Native: proptest, tempfile, threads.

mod common;

use common::block_on;
use ecash_card::Card;
use ecash_card::transport::ccid::{
    self, CcidCommand, CcidError, CcidHost, CcidReader, CcidReaderEmulator, CcidResponse,
    CommandFrame, CommandStatus, IccStatus, Reassembler, ResponseFrame, Step,
};
use ecash_card::transport::hid::{self, HidError, HidToken, HidTokenEmulator, REPORT_LEN};
use ecash_card::transport::{CardTransport, TransportError};
use proptest::prelude::*;

/// A card that answers `command || 90 00` (any length: exercises chaining).
struct EchoCard {
    resets: u32,
}

impl Card for EchoCard {
    fn atr(&self) -> &[u8] {
        &[0x3B, 0x00]
    }
    fn reset(&mut self) {
        self.resets += 1;
    }
    fn power_off(&mut self) {}
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        let mut r = command.to_vec();
        r.extend_from_slice(&[0x90, 0x00]);
        r
    }
}

fn echo() -> EchoCard {
    EchoCard { resets: 0 }
}

fn ccid_command() -> impl Strategy<Value = CcidCommand> {
    prop_oneof![
        any::<u8>().prop_map(|power_select| CcidCommand::IccPowerOn { power_select }),
        Just(CcidCommand::IccPowerOff),
        Just(CcidCommand::GetSlotStatus),
        (
            any::<u8>(),
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..600)
        )
            .prop_map(|(bwi, level, data)| CcidCommand::XfrBlock { bwi, level, data }),
    ]
}

fn ccid_response() -> impl Strategy<Value = ResponseFrame> {
    let icc = prop_oneof![
        Just(IccStatus::Active),
        Just(IccStatus::Inactive),
        Just(IccStatus::Absent)
    ];
    let status = prop_oneof![
        Just(CommandStatus::Processed),
        Just(CommandStatus::Failed),
        Just(CommandStatus::TimeExtension)
    ];
    let response = prop_oneof![
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..600))
            .prop_map(|(chain, data)| CcidResponse::DataBlock { chain, data }),
        any::<u8>().prop_map(|clock| CcidResponse::SlotStatus { clock }),
    ];
    (any::<u8>(), any::<u8>(), icc, status, any::<u8>(), response).prop_map(
        |(slot, seq, icc, status, error, response)| ResponseFrame {
            slot,
            seq,
            icc,
            status,
            error,
            response,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ccid_commands_round_trip(slot: u8, seq: u8, command in ccid_command()) {
        let frame = CommandFrame { slot, seq, command };
        let bytes = frame.encode();
        prop_assert_eq!(CommandFrame::decode(&bytes, ccid::MAX_MESSAGE_LIMIT).unwrap(), frame);
        // Truncated or extended by a byte: an error, not a different frame.
        prop_assert!(CommandFrame::decode(&bytes[..bytes.len() - 1], ccid::MAX_MESSAGE_LIMIT).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(CommandFrame::decode(&longer, ccid::MAX_MESSAGE_LIMIT).is_err());
    }

    #[test]
    fn ccid_responses_round_trip_and_reassemble(frame in ccid_response(), cuts in prop::collection::vec(1usize..80, 0..20)) {
        let bytes = frame.encode();
        prop_assert_eq!(ResponseFrame::decode(&bytes, ccid::MAX_MESSAGE_LIMIT).unwrap(), frame);
        // Cut into arbitrary packets: the frame comes out whole, exactly once, at the end.
        let mut r = Reassembler::new(ccid::MAX_MESSAGE_LIMIT);
        let mut rest: &[u8] = &bytes;
        let mut out = None;
        for cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
            if rest.is_empty() { break; }
            let (packet, tail) = rest.split_at((*cut).min(rest.len()));
            rest = tail;
            let got = r.push(packet).unwrap();
            prop_assert!(out.is_none());
            if got.is_some() { prop_assert!(rest.is_empty()); }
            out = got.or(out);
        }
        prop_assert_eq!(out, Some(bytes));
    }

    #[test]
    fn ccid_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), max in 0usize..400) {
        let _ = CommandFrame::decode(&bytes, max);
        let _ = ResponseFrame::decode(&bytes, max);
        let mut r = Reassembler::new(max);
        for chunk in bytes.chunks(7) {
            let _ = r.push(chunk);
        }
        let host = CcidHost::new(0, max);
        let _ = host.check(0, &bytes);
        // The emulated reader answers garbage with an error frame or nothing.
        let mut emu = CcidReaderEmulator::new(Some(echo()), max.max(11), 64);
        emu.handle(&bytes);
    }

    #[test]
    fn ccid_reader_exchanges_any_apdu_through_the_emulator(
        apdus in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1_500), 1..4),
        max_message in 16usize..300,
        packet_size in 1usize..65,
        time_extensions in 0u8..3,
    ) {
        let mut emu = CcidReaderEmulator::new(Some(echo()), max_message, packet_size);
        emu.time_extensions = time_extensions;
        let mut reader = CcidReader::new(emu, "emu", max_message, packet_size);
        let readers = block_on(reader.list_readers()).unwrap();
        prop_assert!(readers[0].card_present);
        let c = block_on(reader.connect("emu")).unwrap();
        prop_assert_eq!(c.atr, vec![0x3B, 0x00]);
        for apdu in &apdus {
            let mut want = apdu.clone();
            want.extend_from_slice(&[0x90, 0x00]);
            prop_assert_eq!(block_on(reader.transmit(c.handle, apdu)).unwrap(), want);
        }
        block_on(reader.disconnect(c.handle)).unwrap();
        prop_assert_eq!(block_on(reader.transmit(c.handle, &[0])), Err(TransportError::NoSuchHandle));
    }

    #[test]
    fn hid_round_trips_any_message(channel: u16, message in prop::collection::vec(any::<u8>(), 0..3_000)) {
        let reports = hid::encode(channel, &message).unwrap();
        prop_assert_eq!(reports.len(), if message.len() <= 57 { 1 } else { 1 + (message.len() - 57).div_ceil(59) });
        let mut r = hid::Reassembler::new(channel);
        let last = reports.len() - 1;
        for (i, report) in reports.iter().enumerate() {
            let got = r.push(report).unwrap();
            prop_assert_eq!(got.is_some(), i == last);
            if let Some(m) = got { prop_assert_eq!(&m, &message); }
        }
    }

    #[test]
    fn hid_lost_duplicated_or_reordered_reports_never_yield_a_wrong_message(
        message in prop::collection::vec(any::<u8>(), 60..1_000),
        fault in 0u8..3,
        at in any::<prop::sample::Index>(),
    ) {
        let mut reports = hid::encode(0x0101, &message).unwrap();
        let i = at.index(reports.len());
        match fault {
            0 => { reports.remove(i); }
            1 => { let d = reports[i]; reports.insert(i, d); }
            _ => { let j = (i + 1) % reports.len(); reports.swap(i, j); }
        }
        let mut r = hid::Reassembler::new(0x0101);
        let mut outputs = Vec::new();
        let mut errors = 0;
        for report in &reports {
            match r.push(report) {
                Ok(Some(m)) => outputs.push(m),
                Ok(None) => {}
                Err(_) => errors += 1,
            }
        }
        // Whatever comes out is the original message, and a fault always shows.
        for m in &outputs { prop_assert_eq!(m, &message); }
        prop_assert!(errors > 0 || outputs.is_empty(), "fault went unnoticed");
    }

    #[test]
    fn hid_reassembler_never_panics(reports in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..70), 0..20)) {
        let mut r = hid::Reassembler::new(0x0101);
        let mut emu = HidTokenEmulator::new(echo(), 0x0101);
        for report in &reports {
            let _ = r.push(report);
            emu.handle(report);
        }
    }

    #[test]
    fn hid_token_exchanges_any_apdu_through_the_emulator(
        apdus in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..2_000), 1..4),
    ) {
        let mut token = HidToken::new(HidTokenEmulator::new(echo(), 0x0101), "token", 0x0101);
        let c = block_on(token.connect("token")).unwrap();
        for apdu in &apdus {
            let mut want = apdu.clone();
            want.extend_from_slice(&[0x90, 0x00]);
            prop_assert_eq!(block_on(token.transmit(c.handle, apdu)).unwrap(), want);
        }
    }
}

fn response(seq: u8, icc: IccStatus, status: CommandStatus, error: u8) -> Vec<u8> {
    ResponseFrame {
        slot: 0,
        seq,
        icc,
        status,
        error,
        response: CcidResponse::DataBlock {
            chain: 0,
            data: vec![0x90, 0x00],
        },
    }
    .encode()
}

#[test]
fn ccid_host_checks_sequence_status_and_fields() {
    let mut host = CcidHost::new(0, ccid::DEFAULT_MAX_MESSAGE);
    let (seq, bytes) = host.frame(CcidCommand::GetSlotStatus);
    assert_eq!(bytes, [0x65, 0, 0, 0, 0, 0, seq, 0, 0, 0]);
    let (seq2, _) = host.frame(CcidCommand::GetSlotStatus);
    assert_eq!(seq2, seq.wrapping_add(1));
    let ok = response(seq, IccStatus::Active, CommandStatus::Processed, 0);
    assert!(matches!(host.check(seq, &ok), Ok(Step::Done(_))));
    assert!(matches!(
        host.check(seq2, &ok),
        Err(CcidError::Mismatch { .. })
    ));
    let wait = response(seq, IccStatus::Active, CommandStatus::TimeExtension, 1);
    assert_eq!(host.check(seq, &wait), Ok(Step::Wait));
    let failed = response(seq, IccStatus::Active, CommandStatus::Failed, 0xF6);
    assert_eq!(
        host.check(seq, &failed),
        Err(CcidError::Failed {
            error: 0xF6,
            icc: 0
        })
    );
    let absent = response(seq, IccStatus::Absent, CommandStatus::Failed, 0xFE);
    assert_eq!(host.check(seq, &absent), Err(CcidError::NoCard));
    let mut rfu = ok.clone();
    rfu[7] |= 0x04;
    assert!(matches!(host.check(seq, &rfu), Err(CcidError::BadField(_))));
    let mut wrong_dir = ok.clone();
    wrong_dir[0] = 0x6F;
    assert_eq!(
        host.check(seq, &wrong_dir),
        Err(CcidError::UnexpectedType(0x6F))
    );
    let mut unknown = ok.clone();
    unknown[0] = 0x99;
    assert_eq!(host.check(seq, &unknown), Err(CcidError::UnknownType(0x99)));
    // A frame announcing more than the maximum message length.
    let mut huge = ok;
    huge[1..5].copy_from_slice(&100_000u32.to_le_bytes());
    assert!(matches!(host.check(seq, &huge), Err(CcidError::TooLong(_))));
    let mut r = Reassembler::new(ccid::DEFAULT_MAX_MESSAGE);
    assert!(matches!(r.push(&huge), Err(CcidError::TooLong(_))));
}

#[test]
fn ccid_emulator_reports_no_card_and_bad_slots() {
    let mut reader = CcidReader::new(
        CcidReaderEmulator::<EchoCard>::new(None, 271, 64),
        "empty",
        271,
        64,
    );
    assert!(!block_on(reader.list_readers()).unwrap()[0].card_present);
    assert_eq!(
        block_on(reader.connect("empty")),
        Err(TransportError::NoCard)
    );
    assert!(matches!(
        block_on(reader.connect("other")),
        Err(TransportError::NoSuchReader(_))
    ));

    let mut emu = CcidReaderEmulator::new(Some(echo()), 271, 64);
    // Slot 1 does not exist.
    emu.handle(
        &CommandFrame {
            slot: 1,
            seq: 9,
            command: CcidCommand::GetSlotStatus,
        }
        .encode(),
    );
    let mut packets = Vec::new();
    while let Ok(p) = block_on(ccid::BulkPipe::read(&mut emu, 64)) {
        packets.extend(p);
    }
    let frame = ResponseFrame::decode(&packets, 271).unwrap();
    assert_eq!(
        (frame.slot, frame.seq, frame.status, frame.error),
        (1, 9, CommandStatus::Failed, ccid::err::BAD_SLOT)
    );
    // XfrBlock before power-on: the card is mute.
    emu.handle(
        &CommandFrame {
            slot: 0,
            seq: 10,
            command: CcidCommand::XfrBlock {
                bwi: 0,
                level: 0,
                data: vec![0; 4],
            },
        }
        .encode(),
    );
    let p = block_on(ccid::BulkPipe::read(&mut emu, 64)).unwrap();
    let frame = ResponseFrame::decode(&p, 271).unwrap();
    assert_eq!(
        (frame.status, frame.error),
        (CommandStatus::Failed, ccid::err::ICC_MUTE)
    );
}

#[test]
fn hid_rejects_bad_reports() {
    let reports = hid::encode(0x0101, &[1, 2, 3]).unwrap();
    let mut r = hid::Reassembler::new(0x0202);
    assert_eq!(
        r.push(&reports[0]),
        Err(HidError::WrongChannel {
            got: 0x0101,
            want: 0x0202
        })
    );
    let mut r = hid::Reassembler::new(0x0101);
    assert_eq!(r.push(&reports[0][..63]), Err(HidError::BadLength(63)));
    let mut bad_tag = reports[0];
    bad_tag[2] = 0x02;
    assert_eq!(r.push(&bad_tag), Err(HidError::BadTag(0x02)));
    let mut dirty = reports[0];
    dirty[REPORT_LEN - 1] = 1;
    assert_eq!(r.push(&dirty), Err(HidError::BadPadding));
    let mut seq1 = reports[0];
    seq1[4] = 1;
    assert_eq!(
        r.push(&seq1),
        Err(HidError::BadSequence { got: 1, want: 0 })
    );
    assert_eq!(r.push(&reports[0]), Ok(Some(vec![1, 2, 3])));
    assert_eq!(hid::encode(1, &vec![0; 65_536]), Err(HidError::TooLong));
    assert_eq!(
        hid::encode(1, &vec![0; 65_535]).unwrap().len(),
        1 + (65_535 - 57usize).div_ceil(59)
    );
}

#[test]
fn ccid_descriptor_gives_the_maximum_message_length() {
    // Configuration (9) + interface (9) + CCID class descriptor (54) + one endpoint (7).
    let mut config = vec![9, 2, 79, 0, 1, 1, 0, 0x80, 50];
    config.extend_from_slice(&[9, 4, 0, 0, 3, 0x0B, 0, 0, 0]);
    let mut class = vec![0u8; 54];
    class[0] = 54;
    class[1] = 0x21;
    class[44..48].copy_from_slice(&271u32.to_le_bytes());
    config.extend_from_slice(&class);
    config.extend_from_slice(&[7, 5, 0x81, 2, 64, 0, 0]);
    assert_eq!(ccid::max_message_from_config_descriptor(&config), Some(271));
    // A HID descriptor (also type 0x21, 9 bytes) is not it; truncated input is None.
    assert_eq!(
        ccid::max_message_from_config_descriptor(&[9, 0x21, 0, 0, 0, 0, 0, 0, 0]),
        None
    );
    assert_eq!(
        ccid::max_message_from_config_descriptor(&config[..40]),
        None
    );
    assert_eq!(ccid::max_message_from_config_descriptor(&[0, 0, 0]), None);
    class[44..48].copy_from_slice(&5u32.to_le_bytes());
    assert_eq!(ccid::max_message_from_config_descriptor(&class), None);
}

/// A reader that answers every "next part" request with an empty "continues" block.
struct EndlessChain {
    out: std::collections::VecDeque<Vec<u8>>,
}

impl ccid::BulkPipe for EndlessChain {
    async fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        let cmd = CommandFrame::decode(data, ccid::MAX_MESSAGE_LIMIT).unwrap();
        let (chain, data) = match cmd.command {
            CcidCommand::IccPowerOn { .. } => (0, vec![0x3B, 0]),
            CcidCommand::XfrBlock { level: 0, .. } => (1, vec![0x61]),
            _ => (3, vec![]),
        };
        let frame = ResponseFrame {
            slot: 0,
            seq: cmd.seq,
            icc: IccStatus::Active,
            status: CommandStatus::Processed,
            error: 0,
            response: CcidResponse::DataBlock { chain, data },
        };
        self.out.push_back(frame.encode());
        Ok(())
    }
    async fn read(&mut self, _max: usize) -> Result<Vec<u8>, TransportError> {
        self.out
            .pop_front()
            .ok_or(TransportError::Io("empty".into()))
    }
}

#[test]
fn ccid_reader_refuses_an_endless_response_chain() {
    let pipe = EndlessChain {
        out: Default::default(),
    };
    let mut reader = CcidReader::new(pipe, "r", 271, 512);
    let c = block_on(reader.connect("r")).unwrap();
    let e = block_on(reader.transmit(c.handle, &[0, 0xA4, 4, 0])).unwrap_err();
    assert!(matches!(e, TransportError::Protocol(_)), "{e}");
}
