//! Money: [`Amount`] in integer minor units with checked arithmetic, and [`Currency`].

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of money in minor units (cents for EUR). Never negative, never a
/// float; every operation that could overflow is checked.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Amount(u64);

/// Arithmetic on amounts that would leave `0..=u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The result would exceed `u64::MAX` minor units.
    #[error("amount overflow")]
    Overflow,
    /// The result would be negative.
    #[error("amount underflow")]
    Underflow,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// An amount of `minor` minor units.
    pub const fn from_minor(minor: u64) -> Self {
        Amount(minor)
    }

    /// The amount in minor units.
    pub const fn minor(self) -> u64 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + rhs`, or an error on overflow.
    pub fn checked_add(self, rhs: Amount) -> Result<Amount, AmountError> {
        self.0
            .checked_add(rhs.0)
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// `self - rhs`, or an error if `rhs > self`.
    pub fn checked_sub(self, rhs: Amount) -> Result<Amount, AmountError> {
        self.0
            .checked_sub(rhs.0)
            .map(Amount)
            .ok_or(AmountError::Underflow)
    }

    /// `self * n`, or an error on overflow.
    pub fn checked_mul(self, n: u64) -> Result<Amount, AmountError> {
        self.0
            .checked_mul(n)
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// The sum of many amounts, or an error on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Amount>>(items: I) -> Result<Amount, AmountError> {
        items
            .into_iter()
            .try_fold(Amount::ZERO, |acc, a| acc.checked_add(a))
    }
}

impl fmt::Display for Amount {
    /// Minor units with two decimals, e.g. `12.05` for 1205 (every supported
    /// currency has two minor digits).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// An ISO 4217 alphabetic currency code: exactly three ASCII upper-case letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

/// A string that is not a currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency must be three upper-case letters, e.g. EUR")]
pub struct InvalidCurrency;

impl Currency {
    /// The euro, the demo bank's currency.
    pub const EUR: Currency = Currency(*b"EUR");

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored (see `from_str`).
        core::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(InvalidCurrency)
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_ops() {
        let max = Amount::from_minor(u64::MAX);
        assert_eq!(
            max.checked_add(Amount::from_minor(1)),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            Amount::ZERO.checked_sub(Amount::from_minor(1)),
            Err(AmountError::Underflow)
        );
        assert_eq!(Amount::from_minor(1205).to_string(), "12.05");
    }

    #[test]
    fn currency_parsing() {
        assert_eq!("EUR".parse::<Currency>(), Ok(Currency::EUR));
        for bad in ["eur", "EU", "EURO", "E1R", ""] {
            assert!(bad.parse::<Currency>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Amount>("-1").is_err());
        assert!(serde_json::from_str::<Amount>("1.5").is_err());
        assert!(serde_json::from_str::<Amount>("18446744073709551616").is_err());
    }
}
