//! The audit: proves from one consistent snapshot that no money was created or
//! lost. Per currency,
//!
//! ```text
//! wired in − wired out = account balances + value of coins signed − value of coins spent
//! ```
//!
//! and also: every account's balance is the sum of its ledger entries, every
//! swap spent exactly the value it signed, and every spent coin carries a
//! valid bank signature (RFC 9474 verify with its keyset) and a valid coin
//! signature over the message it was spent for. `bank-server audit` runs this
//! and exits non-zero on any problem; tests call [`audit`] directly.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ecash_shared::api::LedgerKind;
use ecash_shared::blind_rsa::PublicKey;
use ecash_shared::encoding::{Bytes, b64_encode};
use ecash_shared::{Amount, Coin, CoinPub, Currency, Keyset, KeysetId};

use crate::storage::{
    AccountId, AccountRecord, AuditLedgerRow, AuditVisitor, KeysetRecord, OpId, SpentCoin, Storage,
    StorageError,
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
}

impl CurrencyTotals {
    /// Whether the conservation equation holds.
    pub fn balanced(&self) -> bool {
        self.wired_in - self.wired_out == self.balances + self.coins_signed - self.coins_spent
    }

    /// Value of coins outstanding (signed, not yet spent).
    pub fn coins_outstanding(&self) -> i128 {
        self.coins_signed - self.coins_spent
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
                "{c}: wired in {} - wired out {} = balances {} + coins signed {} - coins spent {} ({})",
                t.wired_in,
                t.wired_out,
                t.balances,
                t.coins_signed,
                t.coins_spent,
                if t.balanced() { "balanced" } else { "MISMATCH" }
            )?;
        }
        writeln!(
            f,
            "{} accounts, {} ledger entries, {} spent coins",
            self.balances.len(),
            self.ledger_entries,
            self.spent_coins
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

    fn spent(&mut self, coin: SpentCoin, op_id: OpId) {
        self.report.spent_coins += 1;
        let value = i128::from(coin.value.minor());
        self.totals(coin.currency).coins_spent += value;
        *self.spent_by_op.entry(op_id).or_default() += value;
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
                "{cur}: wired in - wired out = {} but balances + outstanding coins = {}",
                t.wired_in - t.wired_out,
                t.balances + t.coins_outstanding()
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
    c.report.problems.extend(problems);
    Ok(c.report)
}
