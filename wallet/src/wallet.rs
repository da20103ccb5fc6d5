//! The [`Wallet`]: coins, keys, history, coin selection and resuming pending work.

use std::cell::RefCell;
use std::collections::BTreeMap;

use ecash_shared::api::KeysResponse;
use ecash_shared::denom;
use ecash_shared::encoding::{Timestamp, b64_encode};
use ecash_shared::keyset::{Keyset, KeysetId};
use ecash_shared::{Amount, Currency};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::WalletError;
use crate::client::BankClient;
use crate::model::{HistoryEntry, HistoryKind, OpKind, PendingOp, SentToken, StoredCoin};
use crate::storage::{Storage, Store, Write};
use crate::transport::Transport;

/// A logged-in bank session.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// Username.
    pub username: String,
    /// Bearer token.
    pub token: String,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The bank's verified keys.
#[derive(Debug, Clone)]
pub struct BankKeys {
    /// Currency.
    pub currency: Currency,
    /// Receipt-signing key.
    pub receipt_key: [u8; 32],
    /// Keysets, verified.
    pub keysets: Vec<Keyset>,
}

impl BankKeys {
    /// Verifies every published keyset.
    pub fn from_response(resp: &KeysResponse) -> Result<Self, WalletError> {
        let keysets = resp
            .keysets
            .iter()
            .map(|k| Keyset::from_info(k, resp.currency))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WalletError::Protocol(format!("bank keyset: {e}")))?;
        Ok(BankKeys {
            currency: resp.currency,
            receipt_key: resp.receipt_key,
            keysets,
        })
    }

    /// The keyset with this id.
    pub fn keyset(&self, id: &KeysetId) -> Option<&Keyset> {
        self.keysets.iter().find(|k| &k.id == id)
    }

    /// For each value, the keyset that can sign it now and lasts longest.
    pub fn withdrawable(&self, now: Timestamp) -> BTreeMap<Amount, &Keyset> {
        let mut out: BTreeMap<Amount, &Keyset> = BTreeMap::new();
        for k in self.keysets.iter().filter(|k| k.can_withdraw(now)) {
            match out.get(&k.value) {
                Some(best) if best.withdraw_until >= k.withdraw_until => {}
                _ => {
                    out.insert(k.value, k);
                }
            }
        }
        out
    }
}

/// Progress of a long operation, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Creating and blinding coins: done of total.
    Blinding(usize, usize),
    /// Waiting for the bank.
    Waiting,
    /// Unblinding and verifying signatures: done of total.
    Unblinding(usize, usize),
}

/// A wallet on a storage and a bank transport.
pub struct Wallet<S, T> {
    pub(crate) storage: S,
    pub(crate) client: BankClient<T>,
    keys: RefCell<Option<BankKeys>>,
    session: RefCell<Option<Session>>,
}

/// What [`Wallet::resume`] did with one pending operation.
#[derive(Debug)]
pub struct Resumed {
    /// Operation id.
    pub id: String,
    /// `Ok` when finished (or cleanly abandoned), the error when still pending.
    pub result: Result<(), WalletError>,
}

/// How often long loops yield to the browser.
pub(crate) const YIELD_EVERY: usize = 8;

/// Coins of one denomination blinded together (one modular inversion).
const BATCH: usize = 16;

impl<S: Storage, T: Transport> Wallet<S, T> {
    /// A wallet on `storage`, talking to the bank through `transport`.
    pub fn new(storage: S, transport: T) -> Self {
        Wallet {
            storage,
            client: BankClient::new(transport),
            keys: RefCell::new(None),
            session: RefCell::new(None),
        }
    }

    /// The bank client.
    pub fn client(&self) -> &BankClient<T> {
        &self.client
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Sets (or clears) the bank session.
    pub fn set_session(&self, session: Option<Session>) {
        *self.session.borrow_mut() = session;
    }

    /// The current session.
    pub fn session(&self) -> Option<Session> {
        self.session.borrow().clone()
    }

    pub(crate) fn require_session(&self) -> Result<Session, WalletError> {
        self.session().ok_or(WalletError::NotLoggedIn)
    }

    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_unix(self.client.transport().now_unix())
    }

    /// The bank's keys, fetched once and then cached (also in storage, so
    /// pending work can finish while the bank's `/v1/keys` is unreachable).
    pub async fn keys(&self) -> Result<BankKeys, WalletError> {
        if let Some(k) = self.keys.borrow().as_ref() {
            return Ok(k.clone());
        }
        self.refresh_keys().await
    }

    /// Fetches the bank's keys again (after a key rotation).
    pub async fn refresh_keys(&self) -> Result<BankKeys, WalletError> {
        let resp = match self.client.keys().await {
            Ok(r) => {
                self.storage
                    .commit(vec![Write::Put(Store::Meta, "keys".into(), to_json(&r)?)])
                    .await?;
                r
            }
            Err(e @ WalletError::Network(_)) => {
                match self.storage.get(Store::Meta, "keys").await? {
                    Some(cached) => from_json(&cached)?,
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let keys = BankKeys::from_response(&resp)?;
        *self.keys.borrow_mut() = Some(keys.clone());
        Ok(keys)
    }

    /// A keyset by id, refreshing the keys once if it is unknown.
    pub(crate) async fn keyset(&self, id: &KeysetId) -> Result<Keyset, WalletError> {
        if let Some(k) = self.keys().await?.keyset(id) {
            return Ok(k.clone());
        }
        self.refresh_keys()
            .await?
            .keyset(id)
            .cloned()
            .ok_or_else(|| WalletError::Protocol(format!("unknown keyset {id}")))
    }

    /// Every coin in the wallet, reserved or not.
    pub async fn coins(&self) -> Result<Vec<StoredCoin>, WalletError> {
        self.storage
            .list(Store::Coins)
            .await?
            .iter()
            .map(|(_, v)| from_json(v))
            .collect()
    }

    /// Value of the coins not reserved by a pending operation.
    pub async fn balance(&self) -> Result<Amount, WalletError> {
        let coins = self.coins().await?;
        sum(coins
            .iter()
            .filter(|c| c.reserved_by.is_none())
            .map(|c| c.value))
    }

    /// Value of every coin, reserved or not.
    pub async fn total_value(&self) -> Result<Amount, WalletError> {
        sum(self.coins().await?.iter().map(|c| c.value))
    }

    /// The history, oldest first.
    pub async fn history(&self) -> Result<Vec<HistoryEntry>, WalletError> {
        self.storage
            .list(Store::History)
            .await?
            .iter()
            .map(|(_, v)| from_json(v))
            .collect()
    }

    /// Pending operations (the intent log).
    pub async fn pending(&self) -> Result<Vec<PendingOp>, WalletError> {
        self.storage
            .list(Store::Ops)
            .await?
            .iter()
            .map(|(_, v)| from_json(v))
            .collect()
    }

    /// Tokens sent and not taken back.
    pub async fn sent_tokens(&self) -> Result<Vec<SentToken>, WalletError> {
        self.storage
            .list(Store::Sent)
            .await?
            .iter()
            .map(|(_, v)| from_json(v))
            .collect()
    }

    /// Finishes every pending operation it can: replays its request (the bank
    /// is idempotent) or abandons it when the bank says it never happened.
    /// Run at start and after logging in.
    pub async fn resume(&self) -> Result<Vec<Resumed>, WalletError> {
        let mut out = Vec::new();
        for op in self.pending().await? {
            let id = op.id.clone();
            let result = match &op.kind {
                OpKind::Withdraw { username, .. } => match self.session() {
                    Some(s) if &s.username == username => {
                        self.run_withdraw(&op, &|_| {}).await.map(|_| ())
                    }
                    _ => Err(WalletError::NotLoggedIn),
                },
                OpKind::Swap { .. } => self.run_swap(&op).await.map(|_| ()),
                OpKind::Pay { .. } => self.run_pay(&op).await.map(|_| ()),
                OpKind::Deposit { .. } => self.run_deposit(&op).await.map(|_| ()),
                OpKind::RefundClaim { .. } => self.run_refund_claim(&op).await.map(|_| ()),
            };
            out.push(Resumed { id, result });
        }
        // Refunds of paid orders are claimed whenever the wallet checks in;
        // reported only when something was claimed or went wrong.
        match self.check_refunds().await {
            Ok(claimed) if claimed.is_zero() => {}
            result => out.push(Resumed {
                id: "refund claims".to_owned(),
                result: result.map(|_| ()),
            }),
        }
        Ok(out)
    }

    /// Coins that are not reserved, largest first.
    pub(crate) async fn available_coins(&self) -> Result<Vec<StoredCoin>, WalletError> {
        let mut coins: Vec<StoredCoin> = self
            .coins()
            .await?
            .into_iter()
            .filter(|c| c.reserved_by.is_none())
            .collect();
        coins.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.key().cmp(&b.key())));
        Ok(coins)
    }

    /// Coins worth exactly `amount`, making change with a swap first if needed.
    pub async fn exact_coins(&self, amount: Amount) -> Result<Vec<StoredCoin>, WalletError> {
        if amount.is_zero() {
            return Err(WalletError::InvalidAmount(
                "the amount must be more than zero".into(),
            ));
        }
        let coins = self.available_coins().await?;
        let total = sum(coins.iter().map(|c| c.value))?;
        if total < amount {
            return Err(WalletError::InsufficientCoins(format!(
                "the wallet holds {total}, {amount} is needed"
            )));
        }
        let (exact, rest) = select(&coins, amount);
        if rest.is_zero() {
            return Ok(exact);
        }
        // Make change: swap a few more coins into `rest` plus the change.
        let used: Vec<String> = exact.iter().map(StoredCoin::key).collect();
        let mut extra = Vec::new();
        let mut extra_sum = Amount::ZERO;
        // The smallest single coin that covers the rest, else the largest ones.
        let unused: Vec<&StoredCoin> = coins.iter().filter(|c| !used.contains(&c.key())).collect();
        if let Some(c) = unused.iter().rev().find(|c| c.value >= rest) {
            extra_sum = c.value;
            extra.push((*c).clone());
        } else {
            for c in unused {
                if extra_sum >= rest {
                    break;
                }
                extra_sum = extra_sum.checked_add(c.value).map_err(amount_err)?;
                extra.push(c.clone());
            }
        }
        let change = extra_sum.checked_sub(rest).map_err(amount_err)?;
        let keys = self.keys().await?;
        let values: Vec<Amount> = keys.withdrawable(self.now()).keys().copied().collect();
        let mut outputs = flatten(&denom::split(rest, &values).map_err(split_err)?);
        outputs.extend(flatten(&denom::split(change, &values).map_err(split_err)?));
        self.swap_for_change(extra, outputs).await?;
        let coins = self.available_coins().await?;
        let (exact, rest) = select(&coins, amount);
        if rest.is_zero() {
            Ok(exact)
        } else {
            Err(WalletError::Protocol(
                "change did not produce exact coins".into(),
            ))
        }
    }

    /// Creates planchets for `values` (in that order), batching the coins of
    /// each denomination, reporting progress and yielding to the browser.
    pub(crate) async fn make_planchets(
        &self,
        values: &[Amount],
        progress: &dyn Fn(Progress),
    ) -> Result<Vec<crate::model::StoredPlanchet>, WalletError> {
        let keys = self.keys().await?;
        let keysets = keys.withdrawable(self.now());
        let total = values.len();
        let mut by_value: BTreeMap<Amount, Vec<crate::model::StoredPlanchet>> = BTreeMap::new();
        let mut done = 0;
        for (value, count) in values
            .iter()
            .fold(BTreeMap::<Amount, usize>::new(), |mut m, v| {
                *m.entry(*v).or_default() += 1;
                m
            })
        {
            let keyset = keysets
                .get(&value)
                .ok_or_else(|| WalletError::Protocol(format!("no keyset for {value}")))?;
            let mut left = count;
            while left > 0 {
                let n = left.min(BATCH);
                by_value
                    .entry(value)
                    .or_default()
                    .extend(crate::model::StoredPlanchet::create_many(keyset, n)?);
                left -= n;
                done += n;
                progress(Progress::Blinding(done, total));
                self.client.transport().yield_now().await;
            }
        }
        // Back into the requested order.
        values
            .iter()
            .map(|v| {
                by_value
                    .get_mut(v)
                    .and_then(Vec::pop)
                    .ok_or_else(|| WalletError::Protocol("planchet bookkeeping".into()))
            })
            .collect()
    }

    /// A history entry write, numbered after the last one.
    pub(crate) async fn history_write(
        &self,
        kind: HistoryKind,
        amount: Amount,
        incoming: bool,
        balance_after: Amount,
        memo: String,
        payment: Option<(ecash_shared::api::Contract, ecash_shared::api::Receipt)>,
    ) -> Result<Write, WalletError> {
        let last = self.storage.list(Store::History).await?;
        let seq = last
            .last()
            .and_then(|(k, _)| k.parse::<u64>().ok())
            .map_or(1, |s| s + 1);
        let (contract, receipt) = match payment {
            Some((c, r)) => (Some(c), Some(r)),
            None => (None, None),
        };
        let entry = HistoryEntry {
            seq,
            at: self.now(),
            kind,
            amount,
            incoming,
            balance_after,
            memo,
            receipt,
            contract,
        };
        Ok(Write::Put(
            Store::History,
            format!("{seq:020}"),
            to_json(&entry)?,
        ))
    }

    /// The available balance after `new` arrives (reserved coins are already
    /// out of the available balance), for history entries.
    pub(crate) async fn balance_plus(&self, new: Amount) -> Result<Amount, WalletError> {
        self.balance().await?.checked_add(new).map_err(amount_err)
    }

    /// Signs `coins` over `msg`, and logs the operation `kind` builds from the
    /// signed coins together with the coins' reservation, in one commit: the
    /// intent-log step of every spend (pay, deposit).
    pub(crate) async fn log_spend(
        &self,
        coins: &[StoredCoin],
        msg: &ecash_shared::SpendMessage,
        kind: impl FnOnce(Vec<ecash_shared::api::SpendCoin>) -> OpKind,
    ) -> Result<PendingOp, WalletError> {
        let signed = coins
            .iter()
            .map(|c| ecash_shared::api::SpendCoin {
                coin: c.coin.clone(),
                coin_sig: c.coin_secret().sign(msg),
            })
            .collect();
        let op = PendingOp {
            id: random_id()?,
            created_at: self.now(),
            kind: kind(signed),
        };
        let mut writes = Self::reserve_writes(coins, &op.id)?;
        writes.push(Write::Put(Store::Ops, op.id.clone(), to_json(&op)?));
        self.storage.commit(writes).await?;
        Ok(op)
    }

    /// Writes that reserve `coins` for operation `op_id`.
    pub(crate) fn reserve_writes(
        coins: &[StoredCoin],
        op_id: &str,
    ) -> Result<Vec<Write>, WalletError> {
        coins
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.reserved_by = Some(op_id.to_owned());
                Ok(Write::Put(Store::Coins, c.key(), to_json(&c)?))
            })
            .collect()
    }

    /// Releases coins an abandoned operation reserved; drops the ones the bank
    /// reports spent (they cannot come back).
    pub(crate) async fn release_or_drop(
        &self,
        op_id: &str,
        coin_keys: &[String],
    ) -> Result<(), WalletError> {
        let coins: Vec<StoredCoin> = self
            .coins()
            .await?
            .into_iter()
            .filter(|c| coin_keys.contains(&c.key()))
            .collect();
        let states = self
            .client
            .coin_states(&ecash_shared::api::CoinStateRequest {
                coin_pubs: coins.iter().map(|c| c.coin.coin_pub).collect(),
            })
            .await?;
        let mut writes = vec![Write::Delete(Store::Ops, op_id.to_owned())];
        for c in coins {
            let spent = states.states.iter().any(|s| {
                s.coin_pub == c.coin.coin_pub && s.state == ecash_shared::api::CoinState::Spent
            });
            if spent {
                writes.push(Write::Delete(Store::Coins, c.key()));
            } else {
                let mut c = c.clone();
                c.reserved_by = None;
                writes.push(Write::Put(Store::Coins, c.key(), to_json(&c)?));
            }
        }
        self.storage.commit(writes).await?;
        Ok(())
    }
}

/// Greedy exact selection from coins sorted largest first: returns the coins
/// taken and what is still missing. With power-of-two denominations this finds
/// an exact subset whenever the coins allow one without change.
pub(crate) fn select(coins: &[StoredCoin], amount: Amount) -> (Vec<StoredCoin>, Amount) {
    let mut rest = amount;
    let mut taken = Vec::new();
    for c in coins {
        if c.value <= rest {
            rest = Amount::from_minor(rest.minor() - c.value.minor());
            taken.push(c.clone());
            if rest.is_zero() {
                break;
            }
        }
    }
    (taken, rest)
}

/// `(value, count)` pairs as a flat list of values.
pub(crate) fn flatten(split: &[(Amount, u64)]) -> Vec<Amount> {
    split
        .iter()
        .flat_map(|&(v, n)| std::iter::repeat_n(v, usize::try_from(n).unwrap_or(0)))
        .collect()
}

pub(crate) fn sum<I: IntoIterator<Item = Amount>>(items: I) -> Result<Amount, WalletError> {
    Amount::checked_sum(items).map_err(amount_err)
}

pub(crate) fn amount_err(e: ecash_shared::AmountError) -> WalletError {
    WalletError::InvalidAmount(e.to_string())
}

pub(crate) fn split_err(e: denom::SplitError) -> WalletError {
    WalletError::InvalidAmount(e.to_string())
}

pub(crate) fn to_json<V: Serialize>(v: &V) -> Result<String, WalletError> {
    serde_json::to_string(v)
        .map_err(|e| WalletError::Storage(crate::storage::StorageError(e.to_string())))
}

pub(crate) fn from_json<V: DeserializeOwned>(s: &str) -> Result<V, WalletError> {
    serde_json::from_str(s)
        .map_err(|e| WalletError::Storage(crate::storage::StorageError(e.to_string())))
}

/// A fresh random id (operation ids, withdraw request ids).
pub(crate) fn random_id() -> Result<String, WalletError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| WalletError::Crypto(e.to_string()))?;
    Ok(b64_encode(&b))
}
