//! Purse-to-purse value transfer, offline, in Mondex's five steps.
//!
//! ```text
//!  host                      payer purse                       payee purse
//!   | START FROM(payee cert, amount, purpose, day) ->|                 |
//!   |<- payer_seq ----------------------------------|  (state: expecting request)
//!   | START TO(payer cert, amount, purpose, payer_seq, day) ------------>|
//!   |<------------------------------------------ REQUEST (signed by payee)  (expecting value)
//!   | REQ(REQUEST) --------------------------------->|  debit, log      |
//!   |<- VALUE (signed by payer) ---------------------|  (expecting ack) |
//!   | VAL(VALUE) --------------------------------------------------------->| credit, log
//!   |<------------------------------------------------ ACK (signed by payee)  (idle)
//!   | ACK(ACK) ------------------------------------->|  complete (idle)|
//! ```
//!
//! REQUEST, VALUE and ACK carry the same [`Terms`] — payer id, payee id, currency,
//! amount, the payer's and the payee's sequence numbers, purpose — under three different
//! signature tags. Both sequence numbers are fresh per transfer (each purse allocates its
//! own from a counter that never goes back), so every message names exactly one
//! transfer: a replayed REQUEST, VALUE or ACK of an older transfer matches no purse's
//! state and is refused (`6A88`), and a tampered one fails its signature (`6984`).
//! Each purse checks the other's certificate first (`6984` for a forged purse).
//!
//! Interruptions: a purse holds at most one transfer in progress; ABORT, or starting a
//! new transfer, moves an unfinished one to the exception log: a payer that debited but
//! saw no ACK logs *unacked debit*, a payee that sent a REQUEST but never got the VALUE
//! logs *abandoned credit* (and from then on refuses that VALUE). A payer that only
//! answered START FROM moved no value and logs nothing. Value is lost in flight exactly
//! when both records exist for the same terms; see [`crate::exception`] for how the
//! issuer proves that and re-credits the payer once.

use ecash_shared::{Amount, Currency};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::cert::{CardCert, read_currency, write_currency};
use crate::keys::CardId;
use crate::message::{Body, Signed};
use crate::wire::{Reader, Writer};

/// Why value moves (informational, kept in the logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A payment to a shop or a person.
    Payment,
    /// A shop refunding a customer (out of a terminal: needs the terminal PIN).
    Refund,
}

impl Purpose {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Purpose::Payment => 0,
            Purpose::Refund => 1,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Result<Self, Error> {
        match b {
            0 => Ok(Purpose::Payment),
            1 => Ok(Purpose::Refund),
            _ => Err(Error::Malformed("unknown purpose")),
        }
    }
}

/// What a transfer is: the body of REQUEST, VALUE and ACK (36 bytes:
/// `payer (8) || payee (8) || currency (3) || amount (8) || payer_seq (4) ||
/// payee_seq (4) || purpose (1)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// The paying purse.
    pub payer: CardId,
    /// The receiving purse.
    pub payee: CardId,
    /// Currency of both purses.
    pub currency: Currency,
    /// The value moved (> 0).
    pub amount: Amount,
    /// The payer's transaction sequence number for this transfer.
    pub payer_seq: u32,
    /// The payee's transaction sequence number for this transfer.
    pub payee_seq: u32,
    /// Why.
    pub purpose: Purpose,
}

impl Terms {
    /// Encoded length.
    pub const LEN: usize = 36;

    pub(crate) fn write(&self, w: &mut Writer) {
        w.bytes(&self.payer.0).bytes(&self.payee.0);
        write_currency(w, self.currency);
        w.u64(self.amount.minor())
            .u32(self.payer_seq)
            .u32(self.payee_seq)
            .u8(self.purpose.to_byte());
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Terms {
            payer: CardId(r.array()?),
            payee: CardId(r.array()?),
            currency: read_currency(r)?,
            amount: Amount::from_minor(r.u64()?),
            payer_seq: r.u32()?,
            payee_seq: r.u32()?,
            purpose: Purpose::from_byte(r.u8()?)?,
        })
    }
}

macro_rules! terms_message {
    ($(#[$doc:meta])* $name:ident, $tag:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub Terms);

        impl Body for $name {
            const TAG: &'static str = $tag;
            const LEN: usize = Terms::LEN;
            fn write(&self, w: &mut Writer) {
                self.0.write(w)
            }
            fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
                Terms::read(r).map($name)
            }
        }
    };
}

terms_message!(
    /// Step 3, payee → payer: "pay me these terms" (signed by the payee).
    RequestBody,
    "request"
);
terms_message!(
    /// Step 4, payer → payee: "I debited these terms" — the value itself (signed by the payer).
    ValueBody,
    "value"
);
terms_message!(
    /// Step 5, payee → payer: "I credited these terms" (signed by the payee).
    AckBody,
    "ack"
);

/// A signed REQUEST.
pub type Request = Signed<RequestBody>;
/// A signed VALUE.
pub type Value = Signed<ValueBody>;
/// A signed ACK.
pub type Ack = Signed<AckBody>;

/// Data of START FROM (to the payer): `payee cert (133) || amount (8) || purpose (1) ||
/// day (4)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFrom {
    /// The payee's certificate.
    pub payee: CardCert,
    /// Amount to pay.
    pub amount: Amount,
    /// Why.
    pub purpose: Purpose,
    /// The host's date (days since 1970-01-01), for the per-day limit.
    pub day: u32,
}

impl StartFrom {
    /// Encoded length.
    pub const LEN: usize = CardCert::LEN + 13;

    /// Encodes the command data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.bytes(&self.payee.to_bytes())
            .u64(self.amount.minor())
            .u8(self.purpose.to_byte())
            .u32(self.day);
        w.finish()
    }

    /// Decodes the command data.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let out = StartFrom {
            payee: CardCert::read(&mut r)?,
            amount: Amount::from_minor(r.u64()?),
            purpose: Purpose::from_byte(r.u8()?)?,
            day: r.u32()?,
        };
        r.finish()?;
        Ok(out)
    }
}

/// Data of START TO (to the payee): `payer cert (133) || amount (8) || purpose (1) ||
/// payer_seq (4) || day (4)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartTo {
    /// The payer's certificate.
    pub payer: CardCert,
    /// Amount to receive.
    pub amount: Amount,
    /// Why.
    pub purpose: Purpose,
    /// The payer's sequence number from START FROM.
    pub payer_seq: u32,
    /// The host's date (days since 1970-01-01).
    pub day: u32,
}

impl StartTo {
    /// Encoded length.
    pub const LEN: usize = CardCert::LEN + 17;

    /// Encodes the command data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::LEN);
        w.bytes(&self.payer.to_bytes())
            .u64(self.amount.minor())
            .u8(self.purpose.to_byte())
            .u32(self.payer_seq)
            .u32(self.day);
        w.finish()
    }

    /// Decodes the command data.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let out = StartTo {
            payer: CardCert::read(&mut r)?,
            amount: Amount::from_minor(r.u64()?),
            purpose: Purpose::from_byte(r.u8()?)?,
            payer_seq: r.u32()?,
            day: r.u32()?,
        };
        r.finish()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::CardKey;

    fn terms() -> Terms {
        Terms {
            payer: CardId([1; 8]),
            payee: CardId([2; 8]),
            currency: Currency::EUR,
            amount: Amount::from_minor(1234),
            payer_seq: 7,
            payee_seq: 9,
            purpose: Purpose::Refund,
        }
    }

    #[test]
    fn messages_round_trip_and_tags_differ() {
        let k = CardKey::from_seed(&[5; 32]);
        let v = Value::by_card(ValueBody(terms()), &k);
        let bytes = v.to_bytes();
        assert_eq!(bytes.len(), 100);
        let back = Value::parse(&bytes).unwrap();
        assert_eq!(back, v);
        back.verify_card(&k.public()).unwrap();
        // The same bytes read as an ACK do not verify: tags separate the steps.
        let as_ack = Ack::parse(&bytes).unwrap();
        assert_eq!(as_ack.verify_card(&k.public()), Err(Error::BadSignature));
        assert!(Value::parse(&bytes[..99]).is_err());
        let mut bad = bytes.clone();
        bad[35] = 9; // purpose byte
        assert!(Value::parse(&bad).is_err());
    }
}
