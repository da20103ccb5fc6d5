//! ISO/IEC 7816-4 APDUs: command parsing and building (through the `iso7816` crate, short
//! and extended lengths), response APDUs and the status words the purse answers with.

use core::fmt;

use iso7816::command::{CommandBuilder, CommandView, FromSliceError, class::Class};

use crate::Error;

/// A status word `SW1 SW2` (ISO/IEC 7816-4 §5.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Sw(pub u16);

impl Sw {
    /// `9000`: normal processing.
    pub const OK: Sw = Sw(0x9000);
    /// `6300`: verification failed (no retry count given).
    pub const VERIFY_FAILED: Sw = Sw(0x6300);
    /// `6581`: memory failure — the card could not commit its state; nothing changed.
    pub const MEMORY_FAILURE: Sw = Sw(0x6581);
    /// `6700`: wrong length (Lc/Le or the data field's size).
    pub const WRONG_LENGTH: Sw = Sw(0x6700);
    /// `6881`: logical channel not supported.
    pub const CHANNEL_NOT_SUPPORTED: Sw = Sw(0x6881);
    /// `6882`: secure messaging not supported.
    pub const SM_NOT_SUPPORTED: Sw = Sw(0x6882);
    /// `6884`: command chaining not supported.
    pub const CHAINING_NOT_SUPPORTED: Sw = Sw(0x6884);
    /// `6982`: security status not satisfied (the PIN has not been verified).
    pub const SECURITY_NOT_SATISFIED: Sw = Sw(0x6982);
    /// `6983`: authentication method blocked (PIN or PUK tries exhausted).
    pub const AUTH_BLOCKED: Sw = Sw(0x6983);
    /// `6984`: reference data not usable — a signature or certificate does not verify.
    pub const BAD_SIGNATURE: Sw = Sw(0x6984);
    /// `6985`: conditions of use not satisfied (wrong protocol state).
    pub const CONDITIONS_NOT_SATISFIED: Sw = Sw(0x6985);
    /// `6A80`: incorrect parameters in the data field (malformed or inconsistent message).
    pub const WRONG_DATA: Sw = Sw(0x6A80);
    /// `6A82`: file or application not found.
    pub const NOT_FOUND: Sw = Sw(0x6A82);
    /// `6A83`: record not found (log index past the end).
    pub const RECORD_NOT_FOUND: Sw = Sw(0x6A83);
    /// `6A84`: not enough memory — the exception log is full; go online to clear it.
    pub const LOG_FULL: Sw = Sw(0x6A84);
    /// `6A86`: incorrect P1–P2.
    pub const WRONG_P1P2: Sw = Sw(0x6A86);
    /// `6A88`: referenced data not found (no matching transfer in progress).
    pub const REFERENCE_NOT_FOUND: Sw = Sw(0x6A88);
    /// `6D00`: instruction not supported.
    pub const INS_NOT_SUPPORTED: Sw = Sw(0x6D00);
    /// `6E00`: class not supported.
    pub const CLA_NOT_SUPPORTED: Sw = Sw(0x6E00);
    /// `6F00`: no precise diagnosis (internal error).
    pub const UNKNOWN: Sw = Sw(0x6F00);
    /// `9401` (application-specific, as EMV/CEPS purses do): balance too low.
    pub const INSUFFICIENT_FUNDS: Sw = Sw(0x9401);
    /// `9402`: the credit would take the balance above the certified cap; refused.
    pub const BALANCE_CAP: Sw = Sw(0x9402);
    /// `9403`: this debit broke a risk rule (per-transfer or per-day limit); the purse
    /// refused it and is now locked until the issuer unlocks it.
    pub const RISK_LOCKED: Sw = Sw(0x9403);
    /// `9404`: the purse is locked; only the issuer's UNLOCK reopens it.
    pub const PURSE_LOCKED: Sw = Sw(0x9404);

    /// `63Cx`: verification failed, `x` tries left (x ≤ 15).
    pub const fn retries_left(x: u8) -> Sw {
        Sw(0x63C0 | (x as u16 & 0x0F))
    }

    /// Whether this is `9000`.
    pub const fn is_ok(self) -> bool {
        self.0 == 0x9000
    }

    /// The tries left if this is `63Cx`.
    pub const fn retries(self) -> Option<u8> {
        if self.0 & 0xFFF0 == 0x63C0 {
            Some((self.0 & 0x0F) as u8)
        } else {
            None
        }
    }

    /// The two bytes.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// A short English description.
    pub fn describe(self) -> &'static str {
        match self {
            Sw::OK => "ok",
            Sw::MEMORY_FAILURE => "memory failure: nothing changed",
            Sw::WRONG_LENGTH => "wrong length",
            Sw::SECURITY_NOT_SATISFIED => "PIN required",
            Sw::AUTH_BLOCKED => "PIN blocked",
            Sw::BAD_SIGNATURE => "signature or certificate invalid",
            Sw::CONDITIONS_NOT_SATISFIED => "not allowed in this state",
            Sw::WRONG_DATA => "malformed or inconsistent data",
            Sw::NOT_FOUND => "application not found",
            Sw::RECORD_NOT_FOUND => "no such record",
            Sw::LOG_FULL => "exception log full: go online",
            Sw::WRONG_P1P2 => "wrong P1/P2",
            Sw::REFERENCE_NOT_FOUND => "no matching transfer",
            Sw::INS_NOT_SUPPORTED => "instruction not supported",
            Sw::CLA_NOT_SUPPORTED => "class not supported",
            Sw::INSUFFICIENT_FUNDS => "insufficient funds",
            Sw::BALANCE_CAP => "balance cap reached",
            Sw::RISK_LOCKED => "risk limit broken: purse locked",
            Sw::PURSE_LOCKED => "purse locked",
            sw if sw.retries().is_some() => "wrong PIN",
            sw => iso_name(sw),
        }
    }
}

/// Names from the `iso7816` crate for words the purse itself never sends.
fn iso_name(sw: Sw) -> &'static str {
    use iso7816::Status;
    match Status::from_u16(sw.0) {
        Status::ClaNotSupported | Status::ClassNotSupported => "class not supported",
        Status::SecureMessagingNotSupported => "secure messaging not supported",
        Status::LogicalChannelNotSupported => "logical channel not supported",
        Status::CommandChainingNotSupported => "command chaining not supported",
        Status::IncorrectP1OrP2Parameter | Status::WrongParameters => "wrong parameters",
        _ => "error",
    }
}

impl fmt::Display for Sw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.describe())
    }
}

impl fmt::Debug for Sw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sw({:04X})", self.0)
    }
}

/// Longest data field of an extended APDU.
pub const MAX_DATA: usize = 65_535;

/// A parsed command APDU (owned).
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// The data field (`Nc` bytes).
    pub data: Vec<u8>,
    /// `Ne`, the maximum response length expected (0 when absent).
    pub le: usize,
}

impl fmt::Debug for Command {
    // The data field may hold a PIN: only its length is printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Command({:02X} {:02X} {:02X} {:02X}, {} data bytes, le {})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

impl Command {
    /// A command with data; `le` = 256 (short) so the card may answer with data.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8, data: impl Into<Vec<u8>>) -> Self {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: data.into(),
            le: 256,
        }
    }

    /// Parses a command APDU (ISO 7816-3 §12.1.3 cases 1–4, short and extended).
    /// Errors are the status word the card answers with.
    pub fn parse(apdu: &[u8]) -> Result<Self, Sw> {
        let view = CommandView::try_from(apdu).map_err(|e| match e {
            FromSliceError::InvalidClass => Sw::CLA_NOT_SUPPORTED,
            FromSliceError::TooShort
            | FromSliceError::TooLong
            | FromSliceError::InvalidFirstBodyByteForExtended
            | FromSliceError::InvalidSliceLength => Sw::WRONG_LENGTH,
        })?;
        Ok(Command {
            cla: view.class().into_inner(),
            ins: view.instruction().into(),
            p1: view.p1,
            p2: view.p2,
            data: view.data().to_vec(),
            le: view.expected(),
        })
    }

    /// Encodes the command: short form when it fits, extended otherwise.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        if self.data.len() > MAX_DATA {
            return Err(Error::Malformed("APDU data longer than 65535 bytes"));
        }
        let class =
            Class::try_from(self.cla).map_err(|_| Error::Malformed("invalid class byte"))?;
        let le = u16::try_from(self.le.min(256)).unwrap_or(256);
        // `CommandBuilder::new` asserts data.len() <= u16::MAX, checked above; with
        // Ne <= 256 every (Lc, Le) combination has an encoding (no `unreachable!`).
        let builder = CommandBuilder::new(
            class,
            self.ins.into(),
            self.p1,
            self.p2,
            self.data.as_slice(),
            le,
        );
        Ok(builder.serialize_to_vec())
    }
}

/// A response APDU: data and status word.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// The response data.
    pub data: Vec<u8>,
    /// The status word.
    pub sw: Sw,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Response({} bytes, {})", self.data.len(), self.sw)
    }
}

impl Response {
    /// `9000` with data.
    pub fn ok(data: Vec<u8>) -> Self {
        Response { data, sw: Sw::OK }
    }

    /// A status word alone.
    pub fn status(sw: Sw) -> Self {
        Response {
            data: Vec::new(),
            sw,
        }
    }

    /// Splits `data || SW1 SW2`.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let Some(split) = bytes.len().checked_sub(2) else {
            return Err(Error::Malformed("response APDU shorter than 2 bytes"));
        };
        let (data, sw) = bytes.split_at(split);
        Ok(Response {
            data: data.to_vec(),
            sw: Sw(u16::from_be_bytes([sw[0], sw[1]])),
        })
    }

    /// `data || SW1 SW2`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }

    /// The data if the status is `9000`, else the status as an error.
    pub fn into_result(self) -> Result<Vec<u8>, Error> {
        if self.sw.is_ok() {
            Ok(self.data)
        } else {
            Err(Error::Status(self.sw))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_round_trips_short_and_extended() {
        for len in [0usize, 1, 255, 256, 300, 65_535] {
            let cmd = Command::new(0x80, 0x60, 1, 2, vec![0xAB; len]);
            let bytes = cmd.to_bytes().unwrap();
            assert_eq!(Command::parse(&bytes).unwrap(), cmd, "len {len}");
        }
        let mut no_le = Command::new(0x00, 0xA4, 4, 0, vec![1, 2, 3]);
        no_le.le = 0;
        assert_eq!(no_le.to_bytes().unwrap(), [0, 0xA4, 4, 0, 3, 1, 2, 3]);
        assert_eq!(Command::parse(&no_le.to_bytes().unwrap()).unwrap(), no_le);
        assert!(
            Command::new(0, 0, 0, 0, vec![0; 65_536])
                .to_bytes()
                .is_err()
        );
        assert!(Command::new(0xFF, 0, 0, 0, vec![]).to_bytes().is_err());
    }

    #[test]
    fn bad_commands_give_status_words() {
        assert_eq!(Command::parse(&[0, 0xA4, 4]), Err(Sw::WRONG_LENGTH));
        assert_eq!(
            Command::parse(&[0, 0xA4, 4, 0, 5, 1]),
            Err(Sw::WRONG_LENGTH)
        );
        assert_eq!(
            Command::parse(&[0xFF, 0xA4, 4, 0]),
            Err(Sw::CLA_NOT_SUPPORTED)
        );
    }

    #[test]
    fn responses_and_status_words() {
        assert!(Response::parse(&[0x90]).is_err());
        let r = Response::parse(&[1, 2, 0x63, 0xC2]).unwrap();
        assert_eq!(r.data, [1, 2]);
        assert_eq!(r.sw.retries(), Some(2));
        assert_eq!(Sw::retries_left(2), r.sw);
        assert_eq!(r.to_bytes(), [1, 2, 0x63, 0xC2]);
        assert_eq!(Sw::OK.to_string(), "9000 (ok)");
        assert_eq!(Sw(0x6881).describe(), "logical channel not supported");
    }
}
