//! Merchant orders, their payments, refunds and anonymous refund claims.

use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency};

use super::*;

/// A merchant order to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Random, URL-safe id.
    pub id: String,
    /// The merchant's account.
    pub merchant_id: AccountId,
    /// The merchant's name as shown in the contract.
    pub merchant_name: String,
    /// Currency.
    pub currency: Currency,
    /// Price.
    pub amount: Amount,
    /// What is sold.
    pub summary: String,
    /// Where the shop sends the buyer after payment.
    pub fulfillment_url: Option<String>,
    /// Origin allowed to receive the receipt by `postMessage`.
    pub allowed_origin: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Payment deadline.
    pub expires_at: Timestamp,
    /// `Contract::compute_hash` of the above.
    pub contract_hash: [u8; 32],
}

/// How an order was paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPayment {
    /// The payment's operation id (the spent set's `op_id` of its coins).
    pub op_id: OpId,
    /// Receipt time.
    pub paid_at: Timestamp,
    /// The bank's receipt signature.
    pub bank_sig: [u8; 64],
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// Insertion sequence (pagination cursor).
    pub seq: i64,
    /// The order as created.
    pub order: NewOrder,
    /// The payment, once paid.
    pub payment: Option<StoredPayment>,
    /// Total refunded by the merchant.
    pub refunded: Amount,
    /// Part of `refunded` claimed by the payer as fresh coins.
    pub refund_claimed: Amount,
}

/// A refund to grant: debit the merchant, raise the order's refunded total.
#[derive(Debug, Clone)]
pub struct NewRefund {
    /// The order.
    pub order_id: String,
    /// The merchant asking (must own the order).
    pub merchant_id: AccountId,
    /// Amount.
    pub amount: Amount,
    /// When.
    pub now: Timestamp,
}

/// What `refund` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOutcome {
    /// The order's refunded total after this refund.
    pub refunded: Amount,
    /// The merchant's balance after the debit.
    pub balance: Amount,
}

/// A refund claim to record: blinded coins of `value` signed against the
/// order's unclaimed refund.
#[derive(Debug, Clone)]
pub struct NewRefundClaim {
    /// Content-derived id of the claim (order, outputs).
    pub op_id: OpId,
    /// The order.
    pub order_id: String,
    /// Currency.
    pub currency: Currency,
    /// Total value of the outputs; must equal the unclaimed refund.
    pub value: Amount,
    /// Blind signatures of the outputs, in request order.
    pub blind_sigs: Vec<Vec<u8>>,
    /// When.
    pub now: Timestamp,
}

/// What `claim_refund` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundClaimOutcome {
    /// Recorded now.
    Claimed,
    /// The identical claim was recorded before: its stored signatures.
    Replayed(Vec<Vec<u8>>),
}

/// Merchants, orders, payments, refunds and their claims. One transaction per method (see the module docs of [`crate::storage`]).
pub trait OrderStore {
    /// Gives an existing account the merchant role and, if given, the name
    /// its contracts show (otherwise they show the username).
    fn make_merchant(
        &self,
        username: &str,
        display_name: Option<&str>,
    ) -> Result<AccountRecord, StorageError>;
    /// The name a merchant's contracts show: its display name, else its username.
    fn merchant_name(&self, account_id: AccountId) -> Result<Option<String>, StorageError>;
    /// Records a new order.
    fn create_order(&self, order: &NewOrder) -> Result<OrderRecord, StorageError>;
    /// An order by id.
    fn order(&self, id: &str) -> Result<Option<OrderRecord>, StorageError>;
    /// A merchant's orders, newest first, with `seq` below `before`.
    fn merchant_orders(
        &self,
        merchant_id: AccountId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<OrderRecord>, StorageError>;
    /// The coins that paid an order (empty if unpaid).
    fn order_coins(&self, order_id: &str) -> Result<Vec<[u8; 32]>, StorageError>;
    /// In one transaction: the order is the merchant's and paid, the amount
    /// fits (`amount <= paid - refunded`), the merchant's balance covers it;
    /// then debit (ledger kind `refund`) and raise the order's refunded total.
    fn refund(&self, refund: &NewRefund) -> Result<RefundOutcome, StorageError>;
    /// The stored signatures of a refund claim.
    fn find_refund_claim(&self, op_id: &OpId) -> Result<Option<Vec<Vec<u8>>>, StorageError>;
    /// In one transaction: an identical claim replays; otherwise the order
    /// must have an unclaimed refund equal to the claim's value, which is
    /// then recorded as claimed with the signatures.
    fn claim_refund(&self, claim: &NewRefundClaim) -> Result<RefundClaimOutcome, StorageError>;
}
