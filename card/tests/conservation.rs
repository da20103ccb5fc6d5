//! Value conservation (Mondex's guarantee) as a property test.
//!
//! Three purses (two personal, one merchant terminal) and the issuer's ledger live through
//! random operations: loads (some authorizations lost on the way), transfers started
//! between random purses, and a hostile network between them — every REQUEST, VALUE and
//! ACK goes into a pool from which messages are delivered in any order, delivered twice,
//! dropped, or delivered with a flipped bit — plus power cuts (the card is rebuilt from
//! its committed JSON), failed commits (`6581`, rolled back), ABORTs, ACKs re-sent by
//! payees, unloads, new days, and purses going online to settle their exception logs.
//!
//! After every operation: no balance exceeds its cap, tampered messages are refused, and
//! the value on cards plus what was unloaded never exceeds what the bank loaded. At the
//! end every purse aborts and settles, the issuer re-credits what its archive proves
//! lost, and then the value on cards plus unloads equals the loads exactly: nothing was
//! created, and everything that vanished in flight came back from the logs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(not(target_arch = "wasm32"))] // Native: proptest, tempfile, threads.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::*;
use ecash_card::apdu::Sw;
use ecash_card::cert::{CardProfile, Mode};
use ecash_card::host::{self, cmd, exchange};
use ecash_card::issuer::Ledger;
use ecash_card::load::LoadKind;
use ecash_card::transfer::{Ack, Purpose, Request, StartFrom, StartTo, Value};
use ecash_card::unload::{UnloadOrder, UnloadProof};
use ecash_card::virtual_card::PurseStore;
use ecash_card::{Card, CardCert, Command, Error, VirtualCard};
use ecash_shared::Amount;
use proptest::prelude::*;

const CARDS: usize = 3;

/// A store that fails its next save when told to (a power cut during the write).
struct FlakyStore(Rc<Cell<bool>>);

impl PurseStore for FlakyStore {
    fn save(&mut self, _json: &str) -> Result<(), Error> {
        if self.0.replace(false) {
            Err(Error::Storage("injected write failure".into()))
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Req,
    Val,
    Ack,
}

#[derive(Debug, Clone)]
struct Msg {
    to: usize,
    kind: Kind,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
enum Op {
    Load {
        card: usize,
        amount: u64,
        lose: bool,
    },
    Start {
        payer: usize,
        payee: usize,
        amount: u64,
    },
    Deliver {
        msg: usize,
        keep: bool,
    },
    Drop {
        msg: usize,
    },
    Tamper {
        msg: usize,
        bit: usize,
    },
    PowerCycle {
        card: usize,
    },
    FailCommit {
        card: usize,
    },
    Abort {
        card: usize,
    },
    ResendAck {
        card: usize,
    },
    Settle {
        card: usize,
        partial: bool,
    },
    Unload {
        card: usize,
        amount: u64,
        lose: bool,
    },
    NextDay,
}

fn op() -> impl Strategy<Value = Op> {
    let card = 0..CARDS;
    prop_oneof![
        2 => (card.clone(), 1..5_000u64, any::<bool>())
            .prop_map(|(card, amount, lose)| Op::Load { card, amount, lose }),
        6 => (card.clone(), card.clone(), prop_oneof![9 => 1..3_000u64, 1 => 3_000..6_000u64])
            .prop_map(|(payer, payee, amount)| Op::Start { payer, payee, amount }),
        10 => (any::<usize>(), prop::bool::weighted(0.2))
            .prop_map(|(msg, keep)| Op::Deliver { msg, keep }),
        2 => any::<usize>().prop_map(|msg| Op::Drop { msg }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(msg, bit)| Op::Tamper { msg, bit }),
        2 => card.clone().prop_map(|card| Op::PowerCycle { card }),
        1 => card.clone().prop_map(|card| Op::FailCommit { card }),
        1 => card.clone().prop_map(|card| Op::Abort { card }),
        1 => card.clone().prop_map(|card| Op::ResendAck { card }),
        1 => (card.clone(), any::<bool>()).prop_map(|(card, partial)| Op::Settle { card, partial }),
        1 => (card, 1..3_000u64, any::<bool>())
            .prop_map(|(card, amount, lose)| Op::Unload { card, amount, lose }),
        1 => Just(Op::NextDay),
    ]
}

struct Slot {
    card: VirtualCard,
    cert: CardCert,
    fail: Rc<Cell<bool>>,
    selected: bool,
}

struct World {
    ledger: Ledger,
    slots: Vec<Slot>,
    pool: Vec<Msg>,
    day: u32,
}

fn profile_for(i: usize) -> CardProfile {
    CardProfile {
        per_transfer_limit: Amount::from_minor(5_000),
        daily_limit: Amount::from_minor(40_000),
        ..profile(if i == 2 {
            Mode::Terminal
        } else {
            Mode::Personal
        })
    }
}

impl World {
    fn new() -> Self {
        let mut ledger = ledger();
        let slots = (0..CARDS)
            .map(|i| {
                let (mut card, cert) = issue_with(&mut ledger, i as u8 + 1, profile_for(i));
                let fail = Rc::new(Cell::new(false));
                fund(&mut ledger, &mut card, &cert, 20_000);
                card.set_store(Box::new(FlakyStore(fail.clone()))).unwrap();
                Slot {
                    card,
                    cert,
                    fail,
                    selected: true,
                }
            })
            .collect();
        World {
            ledger,
            slots,
            pool: Vec::new(),
            day: 20_000,
        }
    }

    /// Sends a command, selecting (after a power cut) and verifying the PIN as needed.
    fn send(&mut self, i: usize, command: &Command, pin_first: bool) -> Result<Vec<u8>, Error> {
        let slot = &mut self.slots[i];
        if !slot.selected {
            exchange(&mut slot.card, &cmd::select())?;
            slot.selected = true;
        }
        if pin_first {
            exchange(&mut slot.card, &cmd::verify(&pin()))?;
        }
        let r = exchange(&mut slot.card, command);
        if r == Err(Error::Status(Sw::MEMORY_FAILURE)) {
            // Rolled back, session gone: as after a power cut.
            slot.selected = false;
        }
        r
    }

    fn index_of(&self, id: ecash_card::CardId) -> usize {
        self.slots
            .iter()
            .position(|s| s.cert.card_id == id)
            .unwrap()
    }

    fn balance(&self, i: usize) -> Amount {
        self.slots[i].card.state().balance().unwrap()
    }

    /// Applies every stored authorization the card has not taken yet, in order.
    fn apply_pending_loads(&mut self, i: usize) {
        let Ok(status) = self.send(i, &cmd::get_status(), false) else {
            return;
        };
        let next = ecash_card::PurseStatus::parse(&status)
            .unwrap()
            .next_load_seq;
        let id = self.slots[i].cert.card_id;
        for auth in self.ledger.loads_from(id, next).unwrap() {
            if self.send(i, &cmd::load(&auth), false).is_err() {
                break;
            }
        }
    }

    /// Goes online: unlock if locked, upload exception records (a partial upload
    /// leaves the rest on the card), clear what was stored, take pending loads.
    fn settle(&mut self, i: usize, partial: bool) {
        let status = match self.send(i, &cmd::get_status(), false) {
            Ok(s) => ecash_card::PurseStatus::parse(&s).unwrap(),
            Err(_) => return,
        };
        let id = self.slots[i].cert.card_id;
        if status.lock.is_some() {
            let unlock = self
                .ledger
                .authorize_unlock(id, status.next_unlock_seq)
                .unwrap();
            if self.send(i, &cmd::unlock(&unlock), false).is_err() {
                return;
            }
        }
        let mut records = match host::exceptions(&mut self.slots[i].card) {
            Ok(r) => r,
            Err(_) => return,
        };
        if partial {
            records.truncate(records.len() / 2);
        }
        if let Some(clear) = self.ledger.accept_exceptions(id, &records).unwrap() {
            let _ = self.send(i, &cmd::clear_exceptions(&clear), false);
        }
        self.ledger.recover().unwrap();
        self.apply_pending_loads(i);
    }

    fn power_cycle(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        slot.card.power_off();
        slot.fail.set(false);
        let mut card = VirtualCard::from_json(&slot.card.state_json()).unwrap();
        card.set_store(Box::new(FlakyStore(slot.fail.clone())))
            .unwrap();
        slot.card = card;
        slot.selected = false;
    }

    fn deliver(&mut self, msg: &Msg) -> Result<(), Error> {
        match msg.kind {
            Kind::Req => {
                let req = Request::parse(&msg.bytes)?;
                let value = Value::parse(&self.send(msg.to, &cmd::req(&req), true)?)?;
                let to = self.index_of(value.body.0.payee);
                self.pool.push(Msg {
                    to,
                    kind: Kind::Val,
                    bytes: value.to_bytes(),
                });
            }
            Kind::Val => {
                let val = Value::parse(&msg.bytes)?;
                let ack = Ack::parse(&self.send(msg.to, &cmd::val(&val), false)?)?;
                let to = self.index_of(ack.body.0.payer);
                self.pool.push(Msg {
                    to,
                    kind: Kind::Ack,
                    bytes: ack.to_bytes(),
                });
            }
            Kind::Ack => {
                let ack = Ack::parse(&msg.bytes)?;
                self.send(msg.to, &cmd::ack(&ack), false)?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Load { card, amount, lose } => {
                self.apply_pending_loads(card);
                let id = self.slots[card].cert.card_id;
                let auth = self
                    .ledger
                    .authorize_load(id, Amount::from_minor(amount), LoadKind::Bank)
                    .unwrap();
                if !lose {
                    let _ = self.send(card, &cmd::load(&auth), false);
                }
            }
            Op::Start {
                payer,
                payee,
                amount,
            } => {
                if payer == payee {
                    return;
                }
                let (payer_cert, payee_cert) = (
                    self.slots[payer].cert.clone(),
                    self.slots[payee].cert.clone(),
                );
                let start = StartFrom {
                    payee: payee_cert,
                    amount: Amount::from_minor(amount),
                    purpose: Purpose::Payment,
                    day: self.day,
                };
                let Ok(seq) = self.send(payer, &cmd::start_from(&start), true) else {
                    return;
                };
                let to = StartTo {
                    payer: payer_cert,
                    amount: Amount::from_minor(amount),
                    purpose: Purpose::Payment,
                    payer_seq: u32::from_be_bytes(seq.try_into().unwrap()),
                    day: self.day,
                };
                if let Ok(req) = self.send(payee, &cmd::start_to(&to), false) {
                    self.pool.push(Msg {
                        to: payer,
                        kind: Kind::Req,
                        bytes: req,
                    });
                }
            }
            Op::Deliver { msg, keep } => {
                if self.pool.is_empty() {
                    return;
                }
                let i = msg % self.pool.len();
                let m = if keep {
                    self.pool[i].clone()
                } else {
                    self.pool.remove(i)
                };
                let _ = self.deliver(&m);
            }
            Op::Drop { msg } => {
                if !self.pool.is_empty() {
                    let i = msg % self.pool.len();
                    self.pool.remove(i);
                }
            }
            Op::Tamper { msg, bit } => {
                if self.pool.is_empty() {
                    return;
                }
                let mut m = self.pool[msg % self.pool.len()].clone();
                let bit = bit % (m.bytes.len() * 8);
                m.bytes[bit / 8] ^= 1 << (bit % 8);
                let before: Vec<Amount> = (0..CARDS).map(|c| self.balance(c)).collect();
                let result = self.deliver(&m);
                assert!(result.is_err(), "a tampered {:?} was accepted", m.kind);
                let after: Vec<Amount> = (0..CARDS).map(|c| self.balance(c)).collect();
                assert_eq!(before, after, "a tampered message moved value");
            }
            Op::PowerCycle { card } => self.power_cycle(card),
            Op::FailCommit { card } => self.slots[card].fail.set(true),
            Op::Abort { card } => {
                let _ = self.send(card, &cmd::abort(), false);
            }
            Op::ResendAck { card } => {
                if let Ok(bytes) = self.send(card, &cmd::resend(1), false) {
                    let ack = Ack::parse(&bytes).unwrap();
                    let to = self.index_of(ack.body.0.payer);
                    self.pool.push(Msg {
                        to,
                        kind: Kind::Ack,
                        bytes,
                    });
                }
            }
            Op::Settle { card, partial } => self.settle(card, partial),
            Op::Unload { card, amount, lose } => {
                let order = UnloadOrder {
                    amount: Amount::from_minor(amount),
                    destination: [card as u8; 32],
                    day: self.day,
                };
                let Ok(bytes) = self.send(card, &cmd::unload(&order), true) else {
                    return;
                };
                let proof = if lose {
                    // The proof got lost on the way to the bank: read it again.
                    match self.send(card, &cmd::resend(2), false) {
                        Ok(b) => UnloadProof::parse(&b).unwrap(),
                        Err(_) => UnloadProof::parse(&bytes).unwrap(),
                    }
                } else {
                    UnloadProof::parse(&bytes).unwrap()
                };
                self.ledger.accept_unload(&proof).unwrap();
            }
            Op::NextDay => self.day += 1,
        }
    }

    fn on_cards(&self) -> Amount {
        Amount::checked_sum((0..CARDS).map(|i| self.balance(i))).unwrap()
    }

    fn check_never_grows(&self) {
        for (i, s) in self.slots.iter().enumerate() {
            assert!(self.balance(i) <= s.cert.profile.balance_cap, "cap broken");
        }
        let out = self
            .on_cards()
            .checked_add(self.ledger.total_unloaded())
            .unwrap();
        assert!(
            out <= self.ledger.total_loaded(),
            "value created: cards {} + unloaded {} > loaded {}",
            self.on_cards(),
            self.ledger.total_unloaded(),
            self.ledger.total_loaded()
        );
    }

    fn finish(&mut self) {
        for i in 0..CARDS {
            self.power_cycle(i);
            self.send(i, &cmd::abort(), false).unwrap();
        }
        // Twice: recoveries need both sides' records, uploaded in any order.
        for _ in 0..2 {
            for i in 0..CARDS {
                self.settle(i, false);
            }
        }
        for i in 0..CARDS {
            let st = host::status(&mut self.slots[i].card).unwrap();
            assert_eq!((st.exceptions, st.pending, st.lock), (0, 0, None));
        }
        self.check_never_grows();
        let out = self
            .on_cards()
            .checked_add(self.ledger.total_unloaded())
            .unwrap();
        assert_eq!(
            out,
            self.ledger.total_loaded(),
            "value lost for good: cards {} + unloaded {} < loaded {} (recovered {})",
            self.on_cards(),
            self.ledger.total_unloaded(),
            self.ledger.total_loaded(),
            self.ledger.total_recovered()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn value_is_conserved_under_loss_duplication_reordering_and_power_cuts(
        ops in prop::collection::vec(op(), 1..70)
    ) {
        let mut w = World::new();
        for op in &ops {
            w.apply(op);
            w.check_never_grows();
        }
        w.finish();
    }
}

/// A fixed scenario that hits every recovery path, so a lucky proptest run cannot skip
/// them: VALUE lost, ACK lost then resent, ACK lost for good, duplicate VALUE,
/// reordered messages of two transfers, a power cut between debit and credit.
#[test]
fn scripted_chaos() {
    let mut w = World::new();
    let ops = [
        Op::Load {
            card: 0,
            amount: 4_000,
            lose: false,
        },
        Op::Load {
            card: 1,
            amount: 3_000,
            lose: true,
        },
        Op::Load {
            card: 1,
            amount: 2_000,
            lose: false,
        },
        // Transfer 1: REQUEST delivered, VALUE dropped.
        Op::Start {
            payer: 0,
            payee: 1,
            amount: 500,
        },
        Op::Deliver {
            msg: 0,
            keep: false,
        },
        Op::Drop { msg: 0 },
        // Transfer 2: everything delivered twice, power cut on the payer in between.
        Op::Start {
            payer: 1,
            payee: 2,
            amount: 700,
        },
        Op::Deliver { msg: 0, keep: true },
        Op::Deliver {
            msg: 0,
            keep: false,
        },
        Op::PowerCycle { card: 1 },
        Op::Deliver { msg: 0, keep: true },
        Op::Deliver {
            msg: 0,
            keep: false,
        },
        Op::Deliver {
            msg: 0,
            keep: false,
        },
        // Transfer 3 and 4 interleaved; ACK of 3 lost, resent.
        Op::Start {
            payer: 2,
            payee: 0,
            amount: 300,
        },
        Op::Start {
            payer: 0,
            payee: 1,
            amount: 200,
        },
        Op::Deliver {
            msg: 1,
            keep: false,
        },
        Op::Deliver {
            msg: 0,
            keep: false,
        },
        Op::FailCommit { card: 0 },
        Op::Deliver {
            msg: 0,
            keep: false,
        },
        Op::Deliver {
            msg: 0,
            keep: false,
        },
        Op::ResendAck { card: 0 },
        Op::Tamper { msg: 0, bit: 77 },
        Op::Deliver {
            msg: 0,
            keep: false,
        },
        Op::Unload {
            card: 1,
            amount: 100,
            lose: true,
        },
        Op::Settle {
            card: 0,
            partial: true,
        },
        Op::Settle {
            card: 1,
            partial: false,
        },
        Op::NextDay,
        Op::Start {
            payer: 1,
            payee: 0,
            amount: 5_500,
        },
    ];
    for op in &ops {
        w.apply(op);
        w.check_never_grows();
    }
    assert_eq!(
        w.slots[1].card.state().balance().map(|_| ()),
        Some(()),
        "still a purse"
    );
    w.finish();
    assert!(
        w.ledger.total_recovered() >= Amount::from_minor(500),
        "the lost VALUE came back"
    );
}
