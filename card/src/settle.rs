//! Settling offline transfers at the bank: value received offline counts for a card
//! only once the bank has seen the payer card's own VALUE for it.
//!
//! A virtual card is a key its holder controls, so a card's word about its balance
//! proves nothing; the bank keeps its own ledger per card (loads − unloads − settled
//! transfers out + settled transfers in) and pays out of a card no more than that
//! ledger holds. For the ledger to follow value across cards offline, every credit a
//! purse takes is kept **on the payee card** as a [`Credit`] — the payer card's signed
//! VALUE and the payee card's own ACK for the same [`Terms`] — until the bank has
//! settled it:
//!
//! - at VAL the payee purse credits its balance, signs the ACK and appends both
//!   messages to its credit log ([`CREDIT_LOG_CAPACITY`] entries; a full log makes
//!   START TO answer `6A84` until the card is synced, so no credit is ever dropped);
//! - GET CREDIT (`80 B8 P1 00`, P1 = index, oldest first) reads one entry:
//!   `VALUE (100) || ACK (100)`;
//! - the host presents the entries (`POST /v1/cards/{id}/transfers`); the bank checks
//!   the VALUE against the payer card's certificate and the ACK against the payee's,
//!   moves the amount from the payer card's bank-side balance to the payee's once per
//!   `(payer, payer_seq)`, and answers an issuer-signed [`SettleAuth`] naming the
//!   payee sequence numbers it settled (and any it refused for good);
//! - CLEAR CREDITS (`80 BA 00 00`, data: the [`SettleAuth`]) drops exactly those
//!   entries (a refused one with its value).
//!
//! **Unsettled value is not spendable.** A purse pays out (START FROM, REQ) and
//! unloads only `balance − unsettled credits`: value it took offline becomes
//! spendable when the bank has counted it. So a genuine card never gives out more
//! than the bank has seen go onto it, and a card the bank finds giving out more —
//! a payer whose bank-side balance cannot cover a VALUE it signed — is not a genuine
//! card (a copy of one, or a modified virtual card): the bank blocks it and books the
//! shortfall against its owner (see the bank's card endpoints).
//!
//! Why the ACK too: the host relays the VALUE before the payee card credits it, so a
//! host can hold a VALUE whose credit failed (the payee then logs an *abandoned
//! credit* and the payer's value is recovered, see [`crate::exception`]). Only the
//! payee card's ACK says it credited, and a genuine card never signs both an ACK and
//! an abandoned credit for the same terms — a card that did is blocked.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::cert::CardCert;
use crate::keys::CardId;
use crate::message::{Body, Signed};
use crate::transfer::{Ack, Terms, Value};
use crate::wire::{Reader, Writer, read_id_list, write_id_list};

/// Unsettled credits a purse holds at most.
pub const CREDIT_LOG_CAPACITY: usize = 16;

/// A credit taken offline, as the payee card keeps it until the bank settles it: the
/// payer card's VALUE and the payee card's ACK (GET CREDIT response, 200 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// "I debited these terms", signed by the payer card.
    pub value: Value,
    /// "I credited these terms", signed by the payee card.
    pub ack: Ack,
}

impl Credit {
    /// Encoded length.
    pub const LEN: usize = Value::LEN + Ack::LEN;

    /// The transfer.
    pub fn terms(&self) -> &Terms {
        &self.value.body.0
    }

    /// `VALUE || ACK`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.value.to_bytes();
        out.extend_from_slice(&self.ack.to_bytes());
        out
    }

    /// Parses exactly `VALUE || ACK` (signatures not checked here).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != Self::LEN {
            return Err(Error::Malformed("wrong credit length"));
        }
        let (value, ack) = bytes.split_at(Value::LEN);
        Ok(Credit {
            value: Value::parse(value)?,
            ack: Ack::parse(ack)?,
        })
    }

    /// Checks the credit against both cards' certificates (already checked to be the
    /// issuer's): identical terms in both messages, naming these two cards in their
    /// roles, in the payee's currency, for a non-zero amount; the VALUE signed by the
    /// payer card, the ACK by the payee card.
    pub fn check(&self, payer: &CardCert, payee: &CardCert) -> Result<(), Error> {
        let t = self.terms();
        if self.ack.body.0 != *t {
            return Err(Error::Mismatch(
                "the VALUE and the ACK name different transfers",
            ));
        }
        if t.payer != payer.card_id || t.payee != payee.card_id {
            return Err(Error::Mismatch("the transfer names other cards"));
        }
        if t.payer == t.payee {
            return Err(Error::Mismatch("a card cannot pay itself"));
        }
        if t.currency != payee.profile.currency || t.currency != payer.profile.currency {
            return Err(Error::Mismatch("the transfer is in another currency"));
        }
        if t.amount.is_zero() {
            return Err(Error::Mismatch("the transfer carries no value"));
        }
        self.value.verify_card(&payer.card_pub)?;
        self.ack.verify_card(&payee.card_pub)?;
        Ok(())
    }
}

impl Serialize for Credit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.to_bytes()))
    }
}

impl<'de> Deserialize<'de> for Credit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes = hex::decode(text.as_bytes()).map_err(serde::de::Error::custom)?;
        Credit::parse(&bytes).map_err(serde::de::Error::custom)
    }
}

/// Body of the issuer's clearance of a card's credit log, naming credits by the
/// payee card's own sequence numbers (one per credit): those the bank `settled`
/// (now spendable on the card) and those it `refused` for good — a transfer the bank
/// will never count, from a card caught over-spending whose owner cannot cover it
/// (the payee's offline risk, bounded by the payer certificate's limits): the card
/// drops a refused credit *and its value*, so it never gives out value the bank
/// does not hold for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleAuthBody {
    /// The payee card.
    pub card_id: CardId,
    /// Sequence numbers of the settled credits (at most 16 distinct, each ≥ 1).
    pub settled: Vec<u32>,
    /// Sequence numbers of the credits refused for good (at most 16, each ≥ 1).
    pub refused: Vec<u32>,
}

impl Body for SettleAuthBody {
    const TAG: &'static str = "settle";
    const LEN: usize = 8 + 2 * (1 + 4 * CREDIT_LOG_CAPACITY);

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.card_id.0);
        write_id_list(w, &self.settled, CREDIT_LOG_CAPACITY);
        write_id_list(w, &self.refused, CREDIT_LOG_CAPACITY);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, Error> {
        let card_id = CardId(r.array()?);
        let settled = read_id_list(r, CREDIT_LOG_CAPACITY)?;
        let refused = read_id_list(r, CREDIT_LOG_CAPACITY)?;
        Ok(SettleAuthBody {
            card_id,
            settled,
            refused,
        })
    }
}

/// An issuer-signed clearance of settled credits (CLEAR CREDITS data, 202 bytes).
pub type SettleAuth = Signed<SettleAuthBody>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{CardProfile, Mode};
    use crate::keys::{CardKey, IssuerKey};
    use crate::transfer::{AckBody, Purpose, ValueBody};
    use ecash_shared::{Amount, Currency};

    fn profile() -> CardProfile {
        CardProfile {
            mode: Mode::Personal,
            currency: Currency::EUR,
            balance_cap: Amount::from_minor(20_000),
            per_transfer_limit: Amount::from_minor(5_000),
            daily_limit: Amount::from_minor(10_000),
        }
    }

    #[test]
    fn credit_round_trips_and_checks_both_signatures() {
        let issuer = IssuerKey::from_seed(&[1; 32]);
        let (pk, qk) = (CardKey::from_seed(&[2; 32]), CardKey::from_seed(&[3; 32]));
        let p = crate::issuer::Issuer::new(issuer.clone()).certify(
            CardId([2; 8]),
            pk.public(),
            profile(),
        );
        let q = crate::issuer::Issuer::new(issuer).certify(CardId([3; 8]), qk.public(), profile());
        let t = Terms {
            payer: p.card_id,
            payee: q.card_id,
            currency: Currency::EUR,
            amount: Amount::from_minor(700),
            payer_seq: 4,
            payee_seq: 9,
            purpose: Purpose::Payment,
        };
        let c = Credit {
            value: Value::by_card(ValueBody(t), &pk),
            ack: Ack::by_card(AckBody(t), &qk),
        };
        let bytes = c.to_bytes();
        assert_eq!(bytes.len(), Credit::LEN);
        assert_eq!(Credit::parse(&bytes).unwrap(), c);
        assert!(Credit::parse(&bytes[..199]).is_err());
        c.check(&p, &q).unwrap();
        // Roles swapped, an ACK by the payer, terms that differ: refused.
        assert!(c.check(&q, &p).is_err());
        let self_acked = Credit {
            ack: Ack::by_card(AckBody(t), &pk),
            ..c.clone()
        };
        assert_eq!(self_acked.check(&p, &q), Err(Error::BadSignature));
        let mut other = t;
        other.amount = Amount::from_minor(701);
        let mismatched = Credit {
            ack: Ack::by_card(AckBody(other), &qk),
            ..c.clone()
        };
        assert!(mismatched.check(&p, &q).is_err());
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Credit>(&json).unwrap(), c);
    }

    #[test]
    fn settle_clearance_layout_is_fixed_and_strict() {
        let body = SettleAuthBody {
            card_id: CardId([7; 8]),
            settled: vec![3, 1],
            refused: vec![5],
        };
        let bytes = body.to_bytes();
        assert_eq!(bytes.len(), SettleAuthBody::LEN);
        assert_eq!(
            SettleAuthBody::read(&mut Reader::new(&bytes)).unwrap(),
            body
        );
        let mut bad = bytes.clone();
        bad[8] = 17; // count over capacity
        assert!(SettleAuthBody::read(&mut Reader::new(&bad)).is_err());
        let mut bad = bytes;
        bad[20] = 1; // padding slot not zero
        assert!(SettleAuthBody::read(&mut Reader::new(&bad)).is_err());
    }
}
