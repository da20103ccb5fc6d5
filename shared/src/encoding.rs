//! Wire encodings: byte strings as unpadded base64url, times as RFC 3339 UTC.

use core::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Encodes bytes as unpadded base64url (RFC 4648 §5).
pub fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url; padding, `+`/`/` and stray characters are errors.
pub fn b64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

/// A variable-length byte string on the wire (unpadded base64url).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({})", b64_encode(&self.0))
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64_encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        b64_decode(&s)
            .map(Bytes)
            .map_err(|_| serde::de::Error::custom("invalid unpadded base64url"))
    }
}

/// Serde helpers for fixed-size arrays as unpadded base64url, for
/// `#[serde(with = "crate::encoding::b64_array")]`.
pub mod b64_array {
    use super::*;

    /// Serializes a fixed-size array.
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64_encode(v))
    }

    /// Deserializes a fixed-size array, rejecting any other length.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let v =
            b64_decode(&s).map_err(|_| serde::de::Error::custom("invalid unpadded base64url"))?;
        <[u8; N]>::try_from(v.as_slice())
            .map_err(|_| serde::de::Error::custom(format!("expected {N} bytes")))
    }
}

/// A point in time, whole seconds since the Unix epoch, on the wire as
/// RFC 3339 UTC (`2026-11-25T12:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From seconds since the Unix epoch.
    pub const fn from_unix(secs: i64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// `self + secs`, saturating.
    pub const fn plus_secs(self, secs: i64) -> Self {
        Timestamp(self.0.saturating_add(secs))
    }

    /// RFC 3339 text.
    pub fn to_rfc3339(self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "invalid-time".to_owned())
    }

    /// Parses RFC 3339 text (any offset; stored as UTC seconds).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| Timestamp(t.unix_timestamp()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict() {
        assert_eq!(b64_encode(b"\xfb\xff"), "-_8");
        assert!(b64_decode("-_8=").is_err(), "padding rejected");
        assert!(b64_decode("+/8").is_err(), "standard alphabet rejected");
        assert!(serde_json::from_str::<Bytes>("\"a b\"").is_err());
    }

    #[test]
    fn timestamps() {
        let t = Timestamp::from_unix(1_795_000_000);
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, "\"2026-11-18T11:06:40Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&s).unwrap(), t);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }
}
