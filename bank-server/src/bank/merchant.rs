//! What the merchant endpoints share: merchant accounts (the role, the name
//! contracts show, the demo shop's account), order ids, contracts and
//! receipts built from stored orders, the merchant clock, and the per-order
//! notifications long-polled status requests wait on.
//!
//! The endpoints themselves: [`orders`](crate::api::orders) (create, list,
//! contract, status, QR), [`pay`](crate::api::pay), [`refund`](crate::api::refund),
//! [`embed`](crate::api::embed) and [`shop`](crate::api::shop).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use ecash_shared::api::{Contract, OrderState, OrderStatusResponse, Receipt};
use ecash_shared::encoding::{Timestamp, b64_encode};
use ed25519_dalek::Signer;
use tokio::sync::Notify;
use zeroize::Zeroizing;

use crate::Bank;
use crate::bank::keys::Keys;
use crate::storage::{AccountRecord, NewAccount, NewOrder, OrderRecord, Storage, StoredPayment};

/// Username of the demo bank's merchant.
pub const DEMO_SHOP_USERNAME: &str = "demo-shop";
/// The name its contracts show.
pub const DEMO_SHOP_NAME: &str = "Demo Shop";

/// Longest order id accepted in a path (ours are 22 characters).
const MAX_ORDER_ID_LEN: usize = 64;

/// Most orders watched by long polls at once; beyond it, status answers at once.
const MAX_WATCHED_ORDERS: usize = 10_000;

/// The merchant endpoints' clock: the system clock plus the configured
/// [`ClockOffset`](crate::config::ClockOffset) (zero outside tests).
pub fn now(bank: &Bank) -> Timestamp {
    crate::now().plus_secs(bank.config.clock_offset.get())
}

/// A fresh order id: 16 random bytes, unpadded base64url (22 characters).
pub fn new_order_id() -> anyhow::Result<String> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("random number generator: {e}"))?;
    Ok(b64_encode(&raw))
}

/// Whether `id` could be an order id: 1 to 64 characters of the base64url
/// alphabet. Anything else is answered `ORDER_NOT_FOUND` without a lookup.
pub fn valid_order_id(id: &str) -> bool {
    (1..=MAX_ORDER_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `ecash://pay/{host}/{order_id}`.
pub fn pay_uri(host: &str, order_id: &str) -> String {
    format!("ecash://pay/{host}/{order_id}")
}

/// The contract of an order (the fields its hash covers, and the hash).
pub fn contract(o: &NewOrder) -> Contract {
    Contract {
        order_id: o.id.clone(),
        merchant: o.merchant_name.clone(),
        amount: o.amount,
        currency: o.currency,
        summary: o.summary.clone(),
        fulfillment_url: o.fulfillment_url.clone(),
        allowed_origin: o.allowed_origin.clone(),
        created_at: o.created_at,
        expires_at: o.expires_at,
        contract_hash: o.contract_hash,
    }
}

/// The bank's receipt signature for paying `order` at `paid_at`.
pub fn sign_receipt(keys: &Keys, order: &NewOrder, paid_at: Timestamp) -> [u8; 64] {
    let msg = Receipt::signed_bytes(&order.id, &order.contract_hash, order.amount, paid_at);
    keys.receipt_key().sign(&msg).to_bytes()
}

/// The receipt of a paid order.
pub fn receipt(order: &NewOrder, payment: &StoredPayment) -> Receipt {
    Receipt {
        order_id: order.id.clone(),
        contract_hash: order.contract_hash,
        amount: order.amount,
        paid_at: payment.paid_at,
        bank_sig: payment.bank_sig,
    }
}

/// An order's state at `now`.
pub fn state(o: &OrderRecord, now: Timestamp) -> OrderState {
    match &o.payment {
        Some(_) if !o.refunded.is_zero() => OrderState::Refunded,
        Some(_) => OrderState::Paid,
        None if now >= o.order.expires_at => OrderState::Expired,
        None => OrderState::Unpaid,
    }
}

/// `GET /v1/orders/{id}/status` of an order at `now`.
pub fn status(o: &OrderRecord, now: Timestamp) -> OrderStatusResponse {
    OrderStatusResponse {
        state: state(o, now),
        receipt: o.payment.as_ref().map(|p| receipt(&o.order, p)),
        refunded: (!o.refunded.is_zero()).then_some(o.refunded),
    }
}

/// `bank-server admin make-merchant <user> [--name NAME]`: gives an account
/// the merchant role (and the name its contracts show).
pub fn make_merchant(
    storage: &dyn Storage,
    username: &str,
    display_name: Option<&str>,
) -> anyhow::Result<AccountRecord> {
    if let Some(name) = display_name {
        anyhow::ensure!(
            valid_display_name(name),
            "merchant names are 1 to 64 characters without control characters"
        );
    }
    storage
        .make_merchant(username, display_name)
        .with_context(|| format!("making {username:?} a merchant"))
}

/// A merchant's display name: 1 to 64 characters, no control characters.
pub fn valid_display_name(name: &str) -> bool {
    let n = name.trim();
    !n.is_empty() && n == name && name.chars().count() <= 64 && !name.chars().any(char::is_control)
}

/// Makes sure the demo shop's merchant account exists (created with a random
/// password nobody knows: the demo shop creates its orders server side).
/// Blocking (Argon2).
pub fn ensure_demo_shop(storage: &dyn Storage, config: &crate::Config) -> anyhow::Result<()> {
    if storage.account_by_username(DEMO_SHOP_USERNAME)?.is_none() {
        let mut raw = Zeroizing::new([0u8; 32]);
        getrandom::fill(raw.as_mut())
            .map_err(|e| anyhow::anyhow!("random number generator: {e}"))?;
        let password = Zeroizing::new(b64_encode(raw.as_ref()));
        let password_hash = crate::bank::accounts::hash_password(password.as_bytes())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        storage
            .create_account(&NewAccount {
                username: DEMO_SHOP_USERNAME.to_owned(),
                password_hash,
                merchant: true,
                currency: config.currency,
                created_at: crate::now(),
            })
            .context("creating the demo shop's account")?;
        tracing::info!(
            account = DEMO_SHOP_USERNAME,
            "created the demo shop's merchant account"
        );
    }
    storage
        .make_merchant(DEMO_SHOP_USERNAME, Some(DEMO_SHOP_NAME))
        .context("making the demo shop a merchant")?;
    Ok(())
}

/// Wakes long-polled status requests when their order changes (paid,
/// refunded). Only orders someone waits on have an entry; the last waiter
/// to leave removes it.
#[derive(Debug, Default)]
pub struct OrderEvents {
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
}

/// A long poll's registration for one order; dropping it unregisters.
#[derive(Debug)]
pub struct Subscription {
    events: Arc<OrderEvents>,
    order_id: String,
    notify: Arc<Notify>,
}

impl Subscription {
    /// The notification to wait on. Create (and `enable`) the future
    /// *before* reading the order, so a change in between is not missed.
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut map = self.events.lock();
        // The map holds one reference and this subscription another; both
        // change only under the lock, so the count is exact here.
        if Arc::strong_count(&self.notify) <= 2 {
            map.remove(&self.order_id);
        }
    }
}

impl OrderEvents {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        // A panic while holding this lock leaves a consistent map.
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers interest in `order_id`; `None` when too many orders are
    /// watched already (the caller answers at once instead of waiting).
    pub fn subscribe(self: &Arc<Self>, order_id: &str) -> Option<Subscription> {
        let mut map = self.lock();
        if !map.contains_key(order_id) && map.len() >= MAX_WATCHED_ORDERS {
            return None;
        }
        let notify = Arc::clone(
            map.entry(order_id.to_owned())
                .or_insert_with(|| Arc::new(Notify::new())),
        );
        Some(Subscription {
            events: Arc::clone(self),
            order_id: order_id.to_owned(),
            notify,
        })
    }

    /// Wakes everyone waiting on `order_id`.
    pub fn notify(&self, order_id: &str) {
        if let Some(n) = self.lock().get(order_id) {
            n.notify_waiters();
        }
    }

    /// Number of orders being waited on (for tests).
    pub fn watched(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids() {
        let id = new_order_id().unwrap();
        assert_eq!(id.len(), 22);
        assert!(valid_order_id(&id));
        assert_ne!(id, new_order_id().unwrap());
        for bad in ["", "a b", "a/b", "ab=", &"x".repeat(65), "ä"] {
            assert!(!valid_order_id(bad), "{bad}");
        }
    }

    #[test]
    fn display_names() {
        assert!(valid_display_name("Demo Shop"));
        for bad in ["", " x", "x ", "a\nb", &"x".repeat(65)] {
            assert!(!valid_display_name(bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn subscriptions_wake_and_clean_up() {
        let events = Arc::new(OrderEvents::default());
        let a = events.subscribe("o1").unwrap();
        let b = events.subscribe("o1").unwrap();
        assert_eq!(events.watched(), 1);
        {
            let wait = a.notify().notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            events.notify("o2");
            events.notify("o1");
            tokio::time::timeout(std::time::Duration::from_secs(5), wait)
                .await
                .unwrap();
        }
        drop(a);
        assert_eq!(events.watched(), 1, "b still waits");
        drop(b);
        assert_eq!(events.watched(), 0);
    }
}
