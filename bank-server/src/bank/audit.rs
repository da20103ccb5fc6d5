//! The audit: proves from one consistent snapshot that no money was created or
//! lost. Per currency,
//!
//! ```text
//! wired in − wired out + receivables = account balances
//!                        + value of coins signed − value of coins spent
//!                        + refunds granted − refunds claimed
//!                        + card loads − card unloads + card shortfalls
//! ```
//!
//! (value on electronic purse cards as the bank's card ledger holds it: loaded from
//! accounts, not yet unloaded, plus what cards caught over-spending gave out beyond
//! their bank-side balance — taken from their owners' balances or owed by them, the
//! receivables)
//! (a refund debits the merchant at once; the payer claims it later as fresh
//! coins, which then count as coins signed) and also: every account's balance
//! is the sum of its ledger entries, every swap spent exactly the value it
//! signed, every paid order was paid by coins worth its amount, each signed
//! for its contract hash (recomputed from the order's fields), merchant
//! credits and refund debits in the ledger match the orders, no order has
//! more refunded than paid or more claimed than refunded, and every spent
//! coin carries a valid bank signature (RFC 9474 verify with its keyset) and
//! a valid coin signature over the message it was spent for. For cards: the
//! `card_load` debits and `card_unload` credits in the ledger equal the stored
//! loads and unloads, every stored authorization and proof parses, names its
//! card and amount, every proof verifies under its card's certified key, and
//! no more was unloaded than loaded. Recovery loads (value lost in flight,
//! re-credited to the payer card) are not in the equation — that value was
//! counted on cards when it was loaded — but each must be proven: a stored
//! unacked debit of its card and a stored abandoned credit with identical terms,
//! both verifying under their cards' certified keys, for its amount, one per
//! `(payer, payer_seq)`. The card ledger: every card's stored bank-side balance
//! equals its bank loads − unloads − settled transfers out (less shortfalls) +
//! settled transfers in, and is never negative (no card paid out more than went
//! onto it); every settled transfer carries the payer card's VALUE and the payee
//! card's ACK, both verifying under their certified keys; every over-spend's
//! evidence is the card's own signature (and a conflicting VALUE under the same
//! number, for a clone); shortfalls equal what the owners paid plus owe, the
//! `card_shortfall` debits equal the part paid, and the debts outstanding equal
//! those booked less the `debt_repayment` debits.
//! `bank-server audit` runs this and exits non-zero on any problem; tests
//! call [`audit`] directly.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ecash_shared::api::{Contract, LedgerKind};
use ecash_shared::blind_rsa::PublicKey;
use ecash_shared::encoding::{Bytes, b64_encode};
use ecash_shared::{Amount, Coin, CoinPub, Currency, Keyset, KeysetId, SpendMessage};

use std::collections::HashSet;

use ecash_card::CardCert;
use ecash_card::exception::{ExceptionKind, ExceptionRecord};
use ecash_card::load::{LoadAuth, LoadKind};
use ecash_card::settle::Credit;
use ecash_card::transfer::{Ack, Terms, Value};
use ecash_card::unload::UnloadProof;

use crate::storage::{
    AccountId, AccountRecord, AuditCardException, AuditCardMove, AuditCardOverspend,
    AuditCardRecovery, AuditCardTransfer, AuditLedgerRow, AuditVisitor, CardRecord, KeysetRecord,
    OpId, OrderRecord, SpentCoin, Storage, StorageError,
};

/// Sums of one currency, in minor units (wide, so no sum can overflow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrencyTotals {
    /// Money wired in (operator credits).
    pub wired_in: i128,
    /// Money wired out (payouts).
    pub wired_out: i128,
    /// Sum of account balances.
    pub balances: i128,
    /// Value of all coins ever signed (withdrawals and swap outputs).
    pub coins_signed: i128,
    /// Value of all coins in the spent set.
    pub coins_spent: i128,
    /// Refunds merchants granted (ledger debits of kind `refund`).
    pub refunds_granted: i128,
    /// Refunds payers claimed as fresh coins (also part of `coins_signed`).
    pub refunds_claimed: i128,
    /// Merchant credits for paid orders (ledger credits of kind `order_payment`).
    pub order_payments: i128,
    /// Value loaded onto cards (stored bank load authorizations).
    pub card_loads: i128,
    /// Value re-credited to cards after proven losses (recovery loads; not part of
    /// the equation: it was counted in `card_loads` when first loaded).
    pub card_recoveries: i128,
    /// Value unloaded from cards (stored unload proofs).
    pub card_unloads: i128,
    /// Ledger debits of kind `card_load`.
    pub card_load_debits: i128,
    /// Ledger credits of kind `card_unload`.
    pub card_unload_credits: i128,
    /// Shortfalls of over-spending cards: settled transfers their bank-side balance
    /// did not cover, which the bank credited to the payee all the same (value on
    /// cards the owners' balances and debts stand for).
    pub card_shortfalls: i128,
    /// The part of the shortfalls taken from the owners' balances (evidence rows).
    pub shortfall_from_balance: i128,
    /// The part booked as the owners' debt (evidence rows).
    pub debt_booked: i128,
    /// Ledger debits of kind `card_shortfall`.
    pub shortfall_debits: i128,
    /// Ledger debits of kind `debt_repayment`.
    pub debt_repayments: i128,
    /// What accounts owe the bank now (the receivable).
    pub receivables: i128,
}

impl CurrencyTotals {
    /// Whether the conservation equation holds.
    pub fn balanced(&self) -> bool {
        self.wired_in - self.wired_out + self.receivables
            == self.balances
                + self.coins_outstanding()
                + self.refunds_unclaimed()
                + self.card_value_outstanding()
    }

    /// Value on cards as the bank's card ledger holds it: loaded, not yet unloaded,
    /// plus the shortfalls of over-spending cards (booked against their owners).
    pub fn card_value_outstanding(&self) -> i128 {
        self.card_loads - self.card_unloads + self.card_shortfalls
    }

    /// Value of coins outstanding (signed, not yet spent).
    pub fn coins_outstanding(&self) -> i128 {
        self.coins_signed - self.coins_spent
    }

    /// Refunds granted but not yet claimed: owed to payers.
    pub fn refunds_unclaimed(&self) -> i128 {
        self.refunds_granted - self.refunds_claimed
    }
}

/// The audit's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Totals per currency.
    pub currencies: BTreeMap<Currency, CurrencyTotals>,
    /// Balance of every account, by username.
    pub balances: BTreeMap<String, Amount>,
    /// Number of ledger entries.
    pub ledger_entries: usize,
    /// Number of coins in the spent set.
    pub spent_coins: usize,
    /// Number of merchant orders.
    pub orders: usize,
    /// Number of stored card exception records.
    pub card_exceptions: usize,
    /// Everything that does not add up; empty when the books are clean.
    pub problems: Vec<String>,
}

impl AuditReport {
    /// No problem found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (c, t) in &self.currencies {
            writeln!(
                f,
                "{c}: wired in {} - wired out {} + receivables {} = balances {} + coins signed {} \
                 - coins spent {} + refunds granted {} - refunds claimed {} + card loads {} \
                 - card unloads {} + card shortfalls {} ({})",
                t.wired_in,
                t.wired_out,
                t.receivables,
                t.balances,
                t.coins_signed,
                t.coins_spent,
                t.refunds_granted,
                t.refunds_claimed,
                t.card_loads,
                t.card_unloads,
                t.card_shortfalls,
                if t.balanced() { "balanced" } else { "MISMATCH" }
            )?;
            if t.card_recoveries != 0 {
                writeln!(
                    f,
                    "{c}: card recoveries {} (lost transfers re-credited, each proven by two \
                     exception records; already counted in card loads)",
                    t.card_recoveries
                )?;
            }
        }
        writeln!(
            f,
            "{} accounts, {} ledger entries, {} spent coins, {} orders, {} card exception records",
            self.balances.len(),
            self.ledger_entries,
            self.spent_coins,
            self.orders,
            self.card_exceptions
        )?;
        if self.problems.is_empty() {
            writeln!(f, "audit: clean")
        } else {
            for p in &self.problems {
                writeln!(f, "problem: {p}")?;
            }
            writeln!(f, "audit: {} problem(s)", self.problems.len())
        }
    }
}

#[derive(Default)]
struct AccountSums {
    ledger_net: i128,
    last_balance_after: Option<Amount>,
}

#[derive(Default)]
struct Collector {
    report: AuditReport,
    keysets: HashMap<KeysetId, Option<Keyset>>,
    accounts: HashMap<AccountId, AccountRecord>,
    account_sums: HashMap<AccountId, AccountSums>,
    swaps: HashMap<OpId, (Currency, Amount)>,
    spent_by_op: HashMap<OpId, i128>,
    /// Paid orders by payment operation: (order id, amount, contract hash).
    payments: HashMap<OpId, (String, Amount, [u8; 32])>,
    /// Orders by id: (currency, refunded, refund_claimed).
    orders: HashMap<String, (Currency, Amount, Amount)>,
    /// Paid order amounts per currency.
    paid_totals: BTreeMap<Currency, i128>,
    /// Refunds table rows summed per order.
    refunds_by_order: HashMap<String, i128>,
    /// Refund claims summed per order.
    claims_by_order: HashMap<String, i128>,
    /// Refunds table rows summed per currency.
    refund_rows: BTreeMap<Currency, i128>,
    /// Cards by id: parsed certificate (or why it does not parse).
    cards: HashMap<[u8; 8], Result<CardCert, String>>,
    /// Verified unacked debits by (payer, payer_seq): their terms.
    unacked: HashMap<([u8; 8], u32), Vec<Terms>>,
    /// Verified abandoned credits' terms, encoded.
    abandoned: HashSet<Vec<u8>>,
    /// Recoveries seen, by (payer, payer_seq).
    recovered: HashSet<([u8; 8], u32)>,
    /// Each card's stored bank-side balance.
    card_balances: HashMap<[u8; 8], Amount>,
    /// Each card's owner.
    card_owners: HashMap<[u8; 8], AccountId>,
    /// Per account: debt booked by its evidence rows − `debt_repayment` debits.
    debt_flows: HashMap<AccountId, i128>,
    /// Per account: shortfall taken from its balance by its evidence rows −
    /// `card_shortfall` debits.
    shortfall_flows: HashMap<AccountId, i128>,
    /// Each card's bank-side balance recomputed from its loads, unloads and settled
    /// transfers.
    card_flows: HashMap<[u8; 8], i128>,
}

impl Collector {
    fn totals(&mut self, c: Currency) -> &mut CurrencyTotals {
        self.report.currencies.entry(c).or_default()
    }

    fn check_coin(&mut self, coin: &SpentCoin) -> Result<(), String> {
        let name = b64_encode(&coin.coin_pub);
        let keyset = match self.keysets.get(&coin.keyset_id) {
            Some(Some(k)) => k,
            Some(None) => return Err(format!("coin {name}: its keyset's key does not parse")),
            None => return Err(format!("coin {name}: unknown keyset {}", coin.keyset_id)),
        };
        if keyset.value != coin.value || keyset.currency != coin.currency {
            return Err(format!(
                "coin {name}: recorded value differs from its keyset"
            ));
        }
        let coin_pub = CoinPub::from_bytes(&coin.coin_pub)
            .map_err(|_| format!("coin {name}: invalid coin public key"))?;
        let c = Coin {
            keyset_id: coin.keyset_id,
            coin_pub,
            msg_prefix: coin.msg_prefix,
            sig: Bytes(coin.denom_sig.clone()),
        };
        if !c.verify_denomination(keyset) {
            return Err(format!("coin {name}: invalid bank signature"));
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&coin.coin_pub)
            .map_err(|_| format!("coin {name}: invalid coin public key"))?;
        let sig = ed25519_dalek::Signature::from_bytes(&coin.coin_sig);
        if key.verify_strict(&coin.spend_msg, &sig).is_err() {
            return Err(format!("coin {name}: invalid coin signature"));
        }
        Ok(())
    }
}

impl AuditVisitor for Collector {
    fn keyset(&mut self, k: KeysetRecord) {
        let parsed = PublicKey::from_der(&k.public_key)
            .ok()
            .map(|public_key| Keyset {
                id: k.id,
                value: k.value,
                currency: k.currency,
                public_key,
                withdraw_until: k.withdraw_until,
                deposit_until: k.deposit_until,
            });
        self.keysets.insert(k.id, parsed);
    }

    fn account(&mut self, a: AccountRecord) {
        self.totals(a.currency).balances += i128::from(a.balance.minor());
        self.totals(a.currency).receivables += i128::from(a.debt.minor());
        self.report.balances.insert(a.username.clone(), a.balance);
        self.accounts.insert(a.id, a);
    }

    fn ledger(&mut self, row: AuditLedgerRow) {
        self.report.ledger_entries += 1;
        let amount = i128::from(row.amount.minor());
        match (row.kind, row.credit) {
            (LedgerKind::Credit, true) => self.totals(row.currency).wired_in += amount,
            (LedgerKind::Payout, false) => self.totals(row.currency).wired_out += amount,
            (LedgerKind::Withdraw, false) | (LedgerKind::Deposit, true) => {}
            (LedgerKind::OrderPayment, true) => self.totals(row.currency).order_payments += amount,
            (LedgerKind::Refund, false) => self.totals(row.currency).refunds_granted += amount,
            (LedgerKind::CardLoad, false) => self.totals(row.currency).card_load_debits += amount,
            (LedgerKind::CardUnload, true) => {
                self.totals(row.currency).card_unload_credits += amount;
            }
            (LedgerKind::CardShortfall, false) => {
                self.totals(row.currency).shortfall_debits += amount;
                *self.shortfall_flows.entry(row.account_id).or_default() -= amount;
            }
            (LedgerKind::DebtRepayment, false) => {
                self.totals(row.currency).debt_repayments += amount;
                *self.debt_flows.entry(row.account_id).or_default() -= amount;
            }
            (kind, credit) => self.report.problems.push(format!(
                "ledger entry of kind {kind:?} with credit={credit} is not expected"
            )),
        }
        let sums = self.account_sums.entry(row.account_id).or_default();
        sums.ledger_net += if row.credit { amount } else { -amount };
        sums.last_balance_after = Some(row.balance_after);
    }

    fn withdrawal(&mut self, currency: Currency, value: Amount) {
        self.totals(currency).coins_signed += i128::from(value.minor());
    }

    fn swap(&mut self, op_id: OpId, currency: Currency, value: Amount) {
        self.totals(currency).coins_signed += i128::from(value.minor());
        self.swaps.insert(op_id, (currency, value));
    }

    fn order(&mut self, o: OrderRecord) {
        self.report.orders += 1;
        let n = &o.order;
        let contract = Contract {
            order_id: n.id.clone(),
            merchant: n.merchant_name.clone(),
            amount: n.amount,
            currency: n.currency,
            summary: n.summary.clone(),
            fulfillment_url: n.fulfillment_url.clone(),
            allowed_origin: n.allowed_origin.clone(),
            created_at: n.created_at,
            expires_at: n.expires_at,
            contract_hash: n.contract_hash,
        };
        if !contract.hash_is_valid() {
            self.report.problems.push(format!(
                "order {}: contract hash does not match its fields",
                n.id
            ));
        }
        if o.refunded > n.amount || o.refund_claimed > o.refunded {
            self.report.problems.push(format!(
                "order {}: amount {}, refunded {}, claimed {}",
                n.id,
                n.amount.minor(),
                o.refunded.minor(),
                o.refund_claimed.minor()
            ));
        }
        if let Some(p) = &o.payment {
            *self.paid_totals.entry(n.currency).or_default() += i128::from(n.amount.minor());
            self.payments
                .insert(p.op_id, (n.id.clone(), n.amount, n.contract_hash));
        } else if !o.refunded.is_zero() {
            self.report
                .problems
                .push(format!("order {}: refunded but never paid", n.id));
        }
        self.orders
            .insert(n.id.clone(), (n.currency, o.refunded, o.refund_claimed));
    }

    fn refund(&mut self, order_id: String, currency: Currency, amount: Amount) {
        let amount = i128::from(amount.minor());
        *self.refund_rows.entry(currency).or_default() += amount;
        *self.refunds_by_order.entry(order_id).or_default() += amount;
    }

    fn refund_claim(&mut self, order_id: String, currency: Currency, value: Amount) {
        let value = i128::from(value.minor());
        let t = self.totals(currency);
        t.coins_signed += value;
        t.refunds_claimed += value;
        *self.claims_by_order.entry(order_id).or_default() += value;
    }

    fn card(&mut self, card: CardRecord) {
        let cert = CardCert::parse(&card.cert)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                if c.card_id.0 == card.id && c.profile.currency == card.currency {
                    Ok(c)
                } else {
                    Err("certificate names another card or currency".to_owned())
                }
            });
        if let Err(e) = &cert {
            self.report
                .problems
                .push(format!("card {}: {e}", hex8(&card.id)));
        }
        self.cards.insert(card.id, cert);
        self.card_balances.insert(card.id, card.bank_balance);
        self.card_owners.insert(card.id, card.account_id);
    }

    fn card_exception(&mut self, e: AuditCardException) {
        self.report.card_exceptions += 1;
        let problem = match (
            self.cards.get(&e.card_id),
            ExceptionRecord::parse(&e.record),
        ) {
            (None, _) => Some("exception record of an unknown card".to_owned()),
            (Some(Err(_)), _) => None, // reported with the card
            (_, Err(_)) => Some("a stored exception record does not parse".to_owned()),
            (Some(Ok(cert)), Ok(r)) => {
                let side = match r.body.kind {
                    ExceptionKind::UnackedDebit => r.body.terms.payer,
                    ExceptionKind::AbandonedCredit => r.body.terms.payee,
                };
                if r.verify_card(&cert.card_pub).is_err() {
                    Some("a stored exception record is not signed by the card".to_owned())
                } else if r.body.card_id.0 != e.card_id
                    || r.body.exception_id != e.exception_id
                    || side.0 != e.card_id
                {
                    Some("a stored exception record does not match its row".to_owned())
                } else {
                    let t = r.body.terms;
                    match r.body.kind {
                        ExceptionKind::UnackedDebit => self
                            .unacked
                            .entry((t.payer.0, t.payer_seq))
                            .or_default()
                            .push(t),
                        ExceptionKind::AbandonedCredit => {
                            self.abandoned.insert(terms_bytes(&t));
                        }
                    }
                    None
                }
            }
        };
        if let Some(p) = problem {
            self.report
                .problems
                .push(format!("card {}: {p}", hex8(&e.card_id)));
        }
    }

    fn card_recovery(&mut self, m: AuditCardRecovery) {
        self.totals(m.currency).card_recoveries += i128::from(m.amount.minor());
        let name = format!(
            "card {} recovery of payer_seq {}",
            hex8(&m.card_id),
            m.payer_seq
        );
        if !self.recovered.insert((m.card_id, m.payer_seq)) {
            self.report
                .problems
                .push(format!("{name}: recovered twice"));
        }
        let ok = LoadAuth::parse(&m.message).is_ok_and(|a| {
            a.body.card_id.0 == m.card_id
                && a.body.amount == m.amount
                && a.body.currency == m.currency
                && a.body.kind == LoadKind::Recovery
        });
        if !ok {
            self.report.problems.push(format!(
                "{name}: the stored authorization does not match its record"
            ));
        }
        let proven = self
            .unacked
            .get(&(m.card_id, m.payer_seq))
            .into_iter()
            .flatten()
            .any(|t| {
                t.amount == m.amount
                    && t.currency == m.currency
                    && self.abandoned.contains(&terms_bytes(t))
            });
        if !proven {
            self.report.problems.push(format!(
                "{name}: no stored unacked debit and abandoned credit prove the loss"
            ));
        }
    }

    fn card_load(&mut self, m: AuditCardMove) {
        self.totals(m.currency).card_loads += i128::from(m.amount.minor());
        *self.card_flows.entry(m.card_id).or_default() += i128::from(m.amount.minor());
        let ok = LoadAuth::parse(&m.message).is_ok_and(|a| {
            a.body.card_id.0 == m.card_id
                && a.body.amount == m.amount
                && a.body.currency == m.currency
                && a.body.kind == LoadKind::Bank
        });
        if !self.cards.contains_key(&m.card_id) {
            self.report
                .problems
                .push(format!("load for unknown card {}", hex8(&m.card_id)));
        } else if !ok {
            self.report.problems.push(format!(
                "card {}: a stored load authorization does not match its record",
                hex8(&m.card_id)
            ));
        }
    }

    fn card_unload(&mut self, m: AuditCardMove) {
        self.totals(m.currency).card_unloads += i128::from(m.amount.minor());
        *self.card_flows.entry(m.card_id).or_default() -= i128::from(m.amount.minor());
        let problem = match self.cards.get(&m.card_id) {
            None => Some("unload for an unknown card"),
            Some(Err(_)) => None, // reported with the card
            Some(Ok(cert)) => match UnloadProof::parse(&m.message) {
                Err(_) => Some("a stored unload proof does not parse"),
                Ok(p) if p.verify_card(&cert.card_pub).is_err() => {
                    Some("a stored unload proof is not signed by the card")
                }
                Ok(p)
                    if p.body.card_id.0 != m.card_id
                        || p.body.amount != m.amount
                        || p.body.currency != m.currency =>
                {
                    Some("a stored unload proof does not match its record")
                }
                Ok(_) => None,
            },
        };
        if let Some(p) = problem {
            self.report
                .problems
                .push(format!("card {}: {p}", hex8(&m.card_id)));
        }
    }

    fn card_transfer(&mut self, t: AuditCardTransfer) {
        let amount = i128::from(t.amount.minor());
        let shortfall = i128::from(t.shortfall.minor());
        self.totals(t.currency).card_shortfalls += shortfall;
        *self.card_flows.entry(t.payer).or_default() -= amount - shortfall;
        *self.card_flows.entry(t.payee).or_default() += amount;
        let certs = (self.cards.get(&t.payer), self.cards.get(&t.payee));
        let problem = match (certs, Value::parse(&t.value), Ack::parse(&t.ack)) {
            ((Some(Ok(payer)), Some(Ok(payee))), Ok(value), Ok(ack)) => {
                let credit = Credit { value, ack };
                let terms = credit.terms();
                if credit.check(payer, payee).is_err() {
                    Some("its VALUE and ACK do not verify under the two cards' keys")
                } else if terms.amount != t.amount
                    || terms.currency != t.currency
                    || t.shortfall > t.amount
                {
                    Some("its messages do not match its record")
                } else {
                    None
                }
            }
            ((None, _) | (_, None), _, _) => Some("a transfer of an unknown card"),
            ((Some(Err(_)), _) | (_, Some(Err(_))), _, _) => None, // reported with the card
            _ => Some("its VALUE or ACK does not parse"),
        };
        if let Some(p) = problem {
            self.report.problems.push(format!(
                "settled transfer {} -> {}: {p}",
                hex8(&t.payer),
                hex8(&t.payee)
            ));
        }
    }

    fn card_overspend(&mut self, o: AuditCardOverspend) {
        let totals = self.totals(o.currency);
        totals.shortfall_from_balance += i128::from(o.from_balance.minor());
        totals.debt_booked += i128::from(o.debt.minor());
        *self.debt_flows.entry(o.account_id).or_default() += i128::from(o.debt.minor());
        *self.shortfall_flows.entry(o.account_id).or_default() +=
            i128::from(o.from_balance.minor());
        if self.card_owners.get(&o.card_id) != Some(&o.account_id) {
            self.report.problems.push(format!(
                "card {} over-spend evidence: charged to an account that does not own the card",
                hex8(&o.card_id)
            ));
        }
        let problem = match self.cards.get(&o.card_id) {
            None => Some("evidence of an unknown card"),
            Some(Err(_)) => None,
            Some(Ok(cert)) => {
                let own_value = |bytes: &[u8]| {
                    Value::parse(bytes)
                        .ok()
                        .filter(|v| v.verify_card(&cert.card_pub).is_ok())
                        .filter(|v| v.body.0.payer.0 == o.card_id)
                };
                let record_ok = if o.transfer {
                    own_value(&o.record).is_some()
                } else {
                    UnloadProof::parse(&o.record).is_ok_and(|p| {
                        p.verify_card(&cert.card_pub).is_ok() && p.body.card_id.0 == o.card_id
                    })
                };
                let conflict_ok = match (&o.conflicting, own_value(&o.record)) {
                    (None, _) => true,
                    (Some(c), Some(v)) => own_value(c)
                        .is_some_and(|c| c.body.0.payer_seq == v.body.0.payer_seq && c != v),
                    (Some(_), None) => false,
                };
                if !record_ok || !conflict_ok {
                    Some("its evidence is not the card's own signature")
                } else if o.shortfall.checked_sub(o.from_balance) != Ok(o.debt) {
                    Some("its shortfall is not what the owner paid plus owes")
                } else {
                    None
                }
            }
        };
        if let Some(p) = problem {
            self.report.problems.push(format!(
                "card {} over-spend evidence: {p}",
                hex8(&o.card_id)
            ));
        }
    }

    fn spent(&mut self, coin: SpentCoin, op_id: OpId) {
        self.report.spent_coins += 1;
        let value = i128::from(coin.value.minor());
        self.totals(coin.currency).coins_spent += value;
        *self.spent_by_op.entry(op_id).or_default() += value;
        if let Some((_, _, contract_hash)) = self.payments.get(&op_id) {
            let expected = SpendMessage::Pay {
                contract_hash: *contract_hash,
            }
            .to_bytes();
            if coin.spend_msg != expected {
                self.report.problems.push(format!(
                    "coin {}: paid an order but was signed for something else",
                    b64_encode(&coin.coin_pub)
                ));
            }
        }
        if let Err(problem) = self.check_coin(&coin) {
            self.report.problems.push(problem);
        }
    }
}

/// Runs the audit over `storage`.
pub fn audit(storage: &dyn Storage) -> Result<AuditReport, StorageError> {
    let mut c = Collector::default();
    storage.audit_scan(&mut c)?;
    let mut problems = Vec::new();
    for (cur, t) in &c.report.currencies {
        if !t.balanced() {
            problems.push(format!(
                "{cur}: wired in - wired out = {} but balances + outstanding coins \
                 + unclaimed refunds + value on cards = {}",
                t.wired_in - t.wired_out,
                t.balances
                    + t.coins_outstanding()
                    + t.refunds_unclaimed()
                    + t.card_value_outstanding()
            ));
        }
        if t.card_load_debits != t.card_loads {
            problems.push(format!(
                "{cur}: accounts were debited {} for card loads but stored loads total {}",
                t.card_load_debits, t.card_loads
            ));
        }
        if t.card_unload_credits != t.card_unloads {
            problems.push(format!(
                "{cur}: accounts were credited {} for card unloads but stored unloads total {}",
                t.card_unload_credits, t.card_unloads
            ));
        }
        if t.card_value_outstanding() < 0 {
            problems.push(format!(
                "{cur}: {} unloaded from cards but only {} loaded",
                t.card_unloads, t.card_loads
            ));
        }
        if t.shortfall_from_balance + t.debt_booked != t.card_shortfalls {
            problems.push(format!(
                "{cur}: settled transfers carry shortfalls of {} but the evidence books {} + {}",
                t.card_shortfalls, t.shortfall_from_balance, t.debt_booked
            ));
        }
        if t.shortfall_debits != t.shortfall_from_balance {
            problems.push(format!(
                "{cur}: owners were debited {} for shortfalls but the evidence says {}",
                t.shortfall_debits, t.shortfall_from_balance
            ));
        }
        if t.receivables != t.debt_booked - t.debt_repayments {
            problems.push(format!(
                "{cur}: accounts owe {} but {} was booked and {} repaid",
                t.receivables, t.debt_booked, t.debt_repayments
            ));
        }
    }
    for (id, a) in &c.accounts {
        let owed = c.debt_flows.get(id).copied().unwrap_or(0);
        if owed != i128::from(a.debt.minor()) {
            problems.push(format!(
                "account {}: owes {} but its evidence and repayments say {owed}",
                a.username,
                a.debt.minor()
            ));
        }
        if c.shortfall_flows.get(id).copied().unwrap_or(0) != 0 {
            problems.push(format!(
                "account {}: its card_shortfall debits differ from its evidence",
                a.username
            ));
        }
    }
    for (id, stored) in &c.card_balances {
        let flow = c.card_flows.get(id).copied().unwrap_or(0);
        if flow < 0 {
            problems.push(format!(
                "card {}: paid out {} more than went onto it",
                hex8(id),
                -flow
            ));
        }
        if flow != i128::from(stored.minor()) {
            problems.push(format!(
                "card {}: the bank holds {} for it but its loads, unloads and settled transfers \
                 sum to {flow}",
                hex8(id),
                stored.minor()
            ));
        }
    }
    for (id, a) in &c.accounts {
        let sums = c.account_sums.get(id);
        let net = sums.map_or(0, |s| s.ledger_net);
        if net != i128::from(a.balance.minor()) {
            problems.push(format!(
                "account {}: balance {} but ledger sums to {net}",
                a.username,
                a.balance.minor()
            ));
        }
        if let Some(last) = sums.and_then(|s| s.last_balance_after)
            && last != a.balance
        {
            problems.push(format!(
                "account {}: balance {} but last ledger entry says {}",
                a.username,
                a.balance.minor(),
                last.minor()
            ));
        }
    }
    for id in c.account_sums.keys() {
        if !c.accounts.contains_key(id) {
            problems.push(format!("ledger entries for missing account {id}"));
        }
    }
    for (op, (_, value)) in &c.swaps {
        let spent = c.spent_by_op.get(op).copied().unwrap_or(0);
        if spent != i128::from(value.minor()) {
            problems.push(format!(
                "swap {}: signed {} but spent {spent}",
                b64_encode(op),
                value.minor()
            ));
        }
    }
    merchant_checks(&c, &mut problems);
    c.report.problems.extend(problems);
    Ok(c.report)
}

/// Orders against the spent set and the ledger.
fn merchant_checks(c: &Collector, problems: &mut Vec<String>) {
    for (op, (order_id, amount, _)) in &c.payments {
        let spent = c.spent_by_op.get(op).copied().unwrap_or(0);
        if spent != i128::from(amount.minor()) {
            problems.push(format!(
                "order {order_id}: costs {} but its payment spent {spent}",
                amount.minor()
            ));
        }
    }
    for (id, (_, refunded, claimed)) in &c.orders {
        let rows = c.refunds_by_order.get(id).copied().unwrap_or(0);
        if rows != i128::from(refunded.minor()) {
            problems.push(format!(
                "order {id}: refunded {} but its refunds sum to {rows}",
                refunded.minor()
            ));
        }
        let claims = c.claims_by_order.get(id).copied().unwrap_or(0);
        if claims != i128::from(claimed.minor()) {
            problems.push(format!(
                "order {id}: claimed {} but its claims sum to {claims}",
                claimed.minor()
            ));
        }
    }
    for id in c.refunds_by_order.keys().chain(c.claims_by_order.keys()) {
        if !c.orders.contains_key(id) {
            problems.push(format!("refund or claim for missing order {id}"));
        }
    }
    for (cur, t) in &c.report.currencies {
        let paid = c.paid_totals.get(cur).copied().unwrap_or(0);
        if t.order_payments != paid {
            problems.push(format!(
                "{cur}: merchants were credited {} for orders but paid orders total {paid}",
                t.order_payments
            ));
        }
        let rows = c.refund_rows.get(cur).copied().unwrap_or(0);
        if t.refunds_granted != rows {
            problems.push(format!(
                "{cur}: merchants were debited {} for refunds but refunds total {rows}",
                t.refunds_granted
            ));
        }
    }
}

/// A hashable key of a transfer's terms (their JSON; the field order is fixed).
fn terms_bytes(t: &Terms) -> Vec<u8> {
    serde_json::to_vec(t).unwrap_or_default()
}

fn hex8(id: &[u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}
