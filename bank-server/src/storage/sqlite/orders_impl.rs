//! Merchant orders and refunds (the SQL is in `merchant`) of [`SqliteStorage`].

use super::*;

impl OrderStore for SqliteStorage {
    fn make_merchant(
        &self,
        username: &str,
        display_name: Option<&str>,
    ) -> Result<AccountRecord, StorageError> {
        self.write(|tx| merchant::make_merchant(tx, username, display_name))
    }

    fn merchant_name(&self, account_id: AccountId) -> Result<Option<String>, StorageError> {
        self.read(|tx| merchant::merchant_name(tx, account_id))
    }

    fn create_order(&self, order: &NewOrder) -> Result<OrderRecord, StorageError> {
        self.write(|tx| merchant::create_order(tx, order))
    }

    fn order(&self, id: &str) -> Result<Option<OrderRecord>, StorageError> {
        self.read(|tx| merchant::order(tx, id))
    }

    fn merchant_orders(
        &self,
        merchant_id: AccountId,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<OrderRecord>, StorageError> {
        self.read(|tx| merchant::merchant_orders(tx, merchant_id, limit, before))
    }

    fn order_coins(&self, order_id: &str) -> Result<Vec<[u8; 32]>, StorageError> {
        self.read(|tx| merchant::order_coins(tx, order_id))
    }

    fn refund(&self, refund: &NewRefund) -> Result<RefundOutcome, StorageError> {
        self.write(|tx| merchant::refund(tx, refund))
    }

    fn find_refund_claim(&self, op_id: &OpId) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
        self.read(|tx| merchant::find_refund_claim(tx, op_id))
    }

    fn claim_refund(&self, claim: &NewRefundClaim) -> Result<RefundClaimOutcome, StorageError> {
        self.write(|tx| merchant::claim_refund(tx, claim))
    }
}
