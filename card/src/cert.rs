//! Card certificates: the issuer's signature over a card's id, public key and risk
//! profile. A purse deals only with purses whose certificate verifies under the issuer
//! key it was initialized with, so a forged purse (an uncertified key) is refused.
//!
//! Layout (133 bytes): `version (1) = 1 || card_id (8) || card_pub (32) || mode (1) ||
//! currency (3, ASCII) || balance_cap (8) || per_transfer_limit (8) || daily_limit (8) ||
//! issuer signature (64)`; the signature covers the first 69 bytes under tag `cert`.

use ecash_shared::{Amount, Currency};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::keys::{CardId, CardPublicKey, IssuerKey, IssuerPublicKey, Signature};
use crate::wire::{Reader, Writer};

/// What the purse is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A customer's purse: value out (pay, unload) needs the holder's PIN once per
    /// session; the log is private (PIN).
    Personal,
    /// A merchant's Value Transfer Terminal purse: receives all day without a PIN; every
    /// value out (refund, transfer out, unload) needs the terminal PIN entered for that
    /// very operation; the log is readable for reconciliation.
    Terminal,
}

impl Mode {
    fn to_byte(self) -> u8 {
        match self {
            Mode::Personal => 1,
            Mode::Terminal => 2,
        }
    }

    fn from_byte(b: u8) -> Result<Self, Error> {
        match b {
            1 => Ok(Mode::Personal),
            2 => Ok(Mode::Terminal),
            _ => Err(Error::Malformed("unknown purse mode")),
        }
    }
}

/// The risk profile the issuer certifies for a card; the card enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardProfile {
    /// Personal purse or merchant terminal.
    pub mode: Mode,
    /// The only currency the purse holds.
    pub currency: Currency,
    /// The balance never exceeds this; credits that would are refused.
    pub balance_cap: Amount,
    /// Largest single transfer out; a larger one locks the purse.
    pub per_transfer_limit: Amount,
    /// Largest total of transfers out per day; going over locks the purse.
    pub daily_limit: Amount,
}

/// Reads a 3-letter currency code.
pub(crate) fn read_currency(r: &mut Reader<'_>) -> Result<Currency, Error> {
    let code = r.array::<3>()?;
    core::str::from_utf8(&code)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Error::Malformed("bad currency code"))
}

/// Writes a 3-letter currency code.
pub(crate) fn write_currency(w: &mut Writer, c: Currency) {
    w.bytes(c.as_str().as_bytes());
}

impl CardProfile {
    fn write(&self, w: &mut Writer) {
        w.u8(self.mode.to_byte());
        write_currency(w, self.currency);
        w.u64(self.balance_cap.minor())
            .u64(self.per_transfer_limit.minor())
            .u64(self.daily_limit.minor());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(CardProfile {
            mode: Mode::from_byte(r.u8()?)?,
            currency: read_currency(r)?,
            balance_cap: Amount::from_minor(r.u64()?),
            per_transfer_limit: Amount::from_minor(r.u64()?),
            daily_limit: Amount::from_minor(r.u64()?),
        })
    }
}

/// A card certificate (see the module docs for the layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardCert {
    /// The card's id, unique per issuer.
    pub card_id: CardId,
    /// The card's public key.
    pub card_pub: CardPublicKey,
    /// What the card may do.
    pub profile: CardProfile,
    /// The issuer's signature.
    pub sig: Signature,
}

/// Certificate format version.
const CERT_VERSION: u8 = 1;

impl CardCert {
    /// Encoded length.
    pub const LEN: usize = 133;

    /// The issuer certifies a card (done by the bank; see [`crate::issuer`]).
    pub fn issue(
        issuer: &IssuerKey,
        card_id: CardId,
        card_pub: CardPublicKey,
        profile: CardProfile,
    ) -> Self {
        let body = Self::body_of(card_id, &card_pub, &profile);
        CardCert {
            card_id,
            card_pub,
            profile,
            sig: issuer.sign("cert", &body),
        }
    }

    fn body_of(card_id: CardId, card_pub: &CardPublicKey, profile: &CardProfile) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.u8(CERT_VERSION)
            .bytes(&card_id.0)
            .bytes(&card_pub.to_bytes());
        profile.write(&mut w);
        w.finish()
    }

    /// Whether the issuer signed this certificate.
    pub fn verify(&self, issuer: &IssuerPublicKey) -> Result<(), Error> {
        let body = Self::body_of(self.card_id, &self.card_pub, &self.profile);
        if issuer.verify("cert", &body, &self.sig) {
            Ok(())
        } else {
            Err(Error::BadCertificate)
        }
    }

    /// The 133-byte encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Self::body_of(self.card_id, &self.card_pub, &self.profile);
        body.extend_from_slice(&self.sig.0);
        body
    }

    /// Reads a certificate (not yet verified) from a reader.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        if r.u8()? != CERT_VERSION {
            return Err(Error::Malformed("unknown certificate version"));
        }
        let card_id = CardId(r.array()?);
        let card_pub = CardPublicKey::from_bytes(&r.array()?)?;
        let profile = CardProfile::read(r)?;
        let sig = Signature(r.array()?);
        Ok(CardCert {
            card_id,
            card_pub,
            profile,
            sig,
        })
    }

    /// Parses exactly one certificate (not yet verified).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let cert = Self::read(&mut r)?;
        r.finish()?;
        Ok(cert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::CardKey;

    fn profile() -> CardProfile {
        CardProfile {
            mode: Mode::Terminal,
            currency: Currency::EUR,
            balance_cap: Amount::from_minor(100_000),
            per_transfer_limit: Amount::from_minor(5_000),
            daily_limit: Amount::from_minor(20_000),
        }
    }

    #[test]
    fn certificate_round_trip_and_forgery() {
        let issuer = IssuerKey::from_seed(&[1; 32]);
        let card = CardKey::from_seed(&[2; 32]);
        let cert = CardCert::issue(&issuer, CardId([9; 8]), card.public(), profile());
        let bytes = cert.to_bytes();
        assert_eq!(bytes.len(), CardCert::LEN);
        let parsed = CardCert::parse(&bytes).unwrap();
        assert_eq!(parsed, cert);
        parsed.verify(&issuer.public()).unwrap();

        let rogue = IssuerKey::from_seed(&[3; 32]);
        assert_eq!(cert.verify(&rogue.public()), Err(Error::BadCertificate));
        // Any flipped bit in the signed part breaks the signature or the parse.
        for i in 0..69 {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let ok = CardCert::parse(&b).and_then(|c| c.verify(&issuer.public()));
            assert!(ok.is_err(), "bit flip at {i} accepted");
        }
        assert!(CardCert::parse(&bytes[..132]).is_err());
    }
}
