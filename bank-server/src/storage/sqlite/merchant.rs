//! The merchant tables of [`SqliteStorage`](super::SqliteStorage): orders,
//! payments (through the shared spent set), refunds and refund claims.
//! Each function runs inside a transaction its caller opened.

use ecash_shared::api::LedgerKind;
use ecash_shared::encoding::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Cached, account_where, amount_from_sql, amount_to_sql, array32, corrupt, currency_from_sql,
    insert_spent, post, refuse_spent,
};
use crate::storage::{
    AccountId, AccountRecord, AuditVisitor, NewOrder, NewRefund, NewRefundClaim, OpId,
    OrderPayment, OrderRecord, RefundClaimOutcome, RefundOutcome, SpendRequest, StorageError,
    StoredPayment, decode_blobs, encode_blobs,
};

const ORDER_COLUMNS: &str = "seq, id, merchant_id, merchant_name, currency, amount, summary, \
     fulfillment_url, allowed_origin, created_at, expires_at, contract_hash, pay_op_id, paid_at, \
     bank_sig, refunded, refund_claimed";

/// An order row as SQLite returns it.
struct OrderRow {
    seq: i64,
    id: String,
    merchant_id: i64,
    merchant_name: String,
    currency: String,
    amount: i64,
    summary: String,
    fulfillment_url: Option<String>,
    allowed_origin: Option<String>,
    created_at: i64,
    expires_at: i64,
    contract_hash: Vec<u8>,
    pay_op_id: Option<Vec<u8>>,
    paid_at: Option<i64>,
    bank_sig: Option<Vec<u8>>,
    refunded: i64,
    refund_claimed: i64,
}

fn order_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OrderRow> {
    Ok(OrderRow {
        seq: r.get(0)?,
        id: r.get(1)?,
        merchant_id: r.get(2)?,
        merchant_name: r.get(3)?,
        currency: r.get(4)?,
        amount: r.get(5)?,
        summary: r.get(6)?,
        fulfillment_url: r.get(7)?,
        allowed_origin: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        contract_hash: r.get(11)?,
        pay_op_id: r.get(12)?,
        paid_at: r.get(13)?,
        bank_sig: r.get(14)?,
        refunded: r.get(15)?,
        refund_claimed: r.get(16)?,
    })
}

fn order_from(r: OrderRow) -> Result<OrderRecord, StorageError> {
    let payment = match (r.pay_op_id, r.paid_at, r.bank_sig) {
        (Some(op), Some(at), Some(sig)) => Some(StoredPayment {
            op_id: array32(op, "order payment id")?,
            paid_at: Timestamp::from_unix(at),
            bank_sig: <[u8; 64]>::try_from(sig).map_err(|_| corrupt("receipt signature"))?,
        }),
        (None, None, None) => None,
        _ => return Err(corrupt("partial order payment")),
    };
    Ok(OrderRecord {
        seq: r.seq,
        order: NewOrder {
            id: r.id,
            merchant_id: r.merchant_id,
            merchant_name: r.merchant_name,
            currency: currency_from_sql(&r.currency)?,
            amount: amount_from_sql(r.amount)?,
            summary: r.summary,
            fulfillment_url: r.fulfillment_url,
            allowed_origin: r.allowed_origin,
            created_at: Timestamp::from_unix(r.created_at),
            expires_at: Timestamp::from_unix(r.expires_at),
            contract_hash: array32(r.contract_hash, "contract hash")?,
        },
        payment,
        refunded: amount_from_sql(r.refunded)?,
        refund_claimed: amount_from_sql(r.refund_claimed)?,
    })
}

fn order_by_id(tx: &Connection, id: &str) -> Result<Option<OrderRecord>, StorageError> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1");
    tx.row(&sql, [id], order_row)
        .optional()?
        .map(order_from)
        .transpose()
}

/// A short ledger memo naming the order.
fn memo(prefix: &str, order: &NewOrder) -> String {
    let summary: String = order.summary.chars().take(60).collect();
    format!("{prefix} {}: {summary}", order.id)
}

pub(super) fn make_merchant(
    tx: &Connection,
    username: &str,
    display_name: Option<&str>,
) -> Result<AccountRecord, StorageError> {
    let n = tx.exec(
        "UPDATE accounts SET merchant = 1, display_name = COALESCE(?2, display_name)
         WHERE username = ?1",
        params![username, display_name],
    )?;
    if n == 0 {
        return Err(StorageError::UnknownAccount);
    }
    account_where(tx, "username = ?1", &username)?.ok_or(StorageError::UnknownAccount)
}

pub(super) fn merchant_name(
    tx: &Connection,
    account_id: AccountId,
) -> Result<Option<String>, StorageError> {
    Ok(tx
        .row(
            "SELECT COALESCE(display_name, username) FROM accounts WHERE id = ?1",
            [account_id],
            |r| r.get(0),
        )
        .optional()?)
}

pub(super) fn create_order(tx: &Connection, o: &NewOrder) -> Result<OrderRecord, StorageError> {
    tx.exec(
        "INSERT INTO orders (id, merchant_id, merchant_name, currency, amount, summary,
                             fulfillment_url, allowed_origin, created_at, expires_at, contract_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            o.id,
            o.merchant_id,
            o.merchant_name,
            o.currency.as_str(),
            amount_to_sql(o.amount)?,
            o.summary,
            o.fulfillment_url,
            o.allowed_origin,
            o.created_at.unix(),
            o.expires_at.unix(),
            &o.contract_hash[..]
        ],
    )?;
    order_by_id(tx, &o.id)?.ok_or_else(|| corrupt("order vanished after insert"))
}

pub(super) fn order(tx: &Connection, id: &str) -> Result<Option<OrderRecord>, StorageError> {
    order_by_id(tx, id)
}

pub(super) fn merchant_orders(
    tx: &Connection,
    merchant_id: AccountId,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<OrderRecord>, StorageError> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE merchant_id = ?1 AND seq < ?2
         ORDER BY seq DESC LIMIT ?3"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![merchant_id, before.unwrap_or(i64::MAX), i64::from(limit)],
        order_row,
    )?;
    rows.map(|r| order_from(r?)).collect()
}

pub(super) fn order_coins(tx: &Connection, order_id: &str) -> Result<Vec<[u8; 32]>, StorageError> {
    let mut stmt = tx.prepare_cached(
        "SELECT coin_pub FROM spent_coins
         WHERE op_id = (SELECT pay_op_id FROM orders WHERE id = ?1)",
    )?;
    let rows = stmt.query_map([order_id], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|r| array32(r?, "coin_pub")).collect()
}

/// `spend_payment`: the order's state is checked
/// before the spent set, so an identical request replays its receipt and a
/// second payment of a paid order is refused without touching any coin.
pub(super) fn pay(
    tx: &Connection,
    req: &SpendRequest<OrderPayment>,
) -> Result<StoredPayment, StorageError> {
    let OrderPayment {
        order_id,
        paid_at,
        bank_sig,
    } = &req.effect;
    let order = order_by_id(tx, order_id)?.ok_or(StorageError::OrderNotFound)?;
    if let Some(p) = order.payment {
        return if p.op_id == req.op_id {
            Ok(p)
        } else {
            Err(StorageError::OrderAlreadyPaid)
        };
    }
    let o = &order.order;
    if req.now >= o.expires_at {
        return Err(StorageError::OrderExpired);
    }
    if req.currency != o.currency || req.value != o.amount {
        return Err(StorageError::WrongAmount {
            value: req.value.minor(),
            amount: o.amount.minor(),
        });
    }
    refuse_spent(tx, req)?;
    let merchant =
        account_where(tx, "id = ?1", &o.merchant_id)?.ok_or(StorageError::UnknownAccount)?;
    post(
        tx,
        &merchant,
        LedgerKind::OrderPayment,
        true,
        req.value,
        &memo("order", o),
        req.now,
    )?;
    let n = tx.exec(
        "UPDATE orders SET pay_op_id = ?1, paid_at = ?2, bank_sig = ?3
         WHERE id = ?4 AND pay_op_id IS NULL",
        params![&req.op_id[..], paid_at.unix(), &bank_sig[..], o.id],
    )?;
    if n != 1 {
        return Err(corrupt("order changed under the write lock"));
    }
    insert_spent(tx, req, "pay")?;
    Ok(StoredPayment {
        op_id: req.op_id,
        paid_at: *paid_at,
        bank_sig: *bank_sig,
    })
}

pub(super) fn refund(tx: &Connection, r: &NewRefund) -> Result<RefundOutcome, StorageError> {
    let order = order_by_id(tx, &r.order_id)?.ok_or(StorageError::OrderNotFound)?;
    let o = &order.order;
    if o.merchant_id != r.merchant_id {
        return Err(StorageError::NotYourOrder);
    }
    let left = if order.payment.is_some() {
        o.amount
            .checked_sub(order.refunded)
            .map_err(|_| corrupt("refunded more than paid"))?
    } else {
        ecash_shared::Amount::ZERO
    };
    if r.amount > left {
        return Err(StorageError::RefundTooLarge { left: left.minor() });
    }
    let merchant =
        account_where(tx, "id = ?1", &r.merchant_id)?.ok_or(StorageError::UnknownAccount)?;
    let (balance, ledger_id) = post(
        tx,
        &merchant,
        LedgerKind::Refund,
        false,
        r.amount,
        &memo("refund of order", o),
        r.now,
    )?;
    tx.exec(
        "INSERT INTO refunds (order_id, currency, amount, ledger_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            o.id,
            o.currency.as_str(),
            amount_to_sql(r.amount)?,
            ledger_id,
            r.now.unix()
        ],
    )?;
    let refunded = order
        .refunded
        .checked_add(r.amount)
        .map_err(|_| StorageError::AmountOverflow)?;
    tx.exec(
        "UPDATE orders SET refunded = ?1 WHERE id = ?2",
        params![amount_to_sql(refunded)?, o.id],
    )?;
    Ok(RefundOutcome { refunded, balance })
}

pub(super) fn find_refund_claim(
    tx: &Connection,
    op_id: &OpId,
) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
    let sigs: Option<Vec<u8>> = tx
        .row(
            "SELECT blind_sigs FROM refund_claims WHERE op_id = ?1",
            [&op_id[..]],
            |r| r.get(0),
        )
        .optional()?;
    sigs.map(|s| decode_blobs(&s).ok_or_else(|| corrupt("refund claim signatures")))
        .transpose()
}

pub(super) fn claim_refund(
    tx: &Connection,
    c: &NewRefundClaim,
) -> Result<RefundClaimOutcome, StorageError> {
    if let Some(sigs) = find_refund_claim(tx, &c.op_id)? {
        return Ok(RefundClaimOutcome::Replayed(sigs));
    }
    let order = order_by_id(tx, &c.order_id)?.ok_or(StorageError::OrderNotFound)?;
    if order.refunded.is_zero() {
        return Err(StorageError::NoRefund);
    }
    let unclaimed = order
        .refunded
        .checked_sub(order.refund_claimed)
        .map_err(|_| corrupt("claimed more than refunded"))?;
    if unclaimed.is_zero() {
        return Err(StorageError::RefundAlreadyClaimed);
    }
    if c.value != unclaimed || c.currency != order.order.currency {
        return Err(StorageError::RefundValueMismatch {
            outputs: c.value.minor(),
            refund: unclaimed.minor(),
        });
    }
    tx.exec(
        "INSERT INTO refund_claims (op_id, order_id, currency, value, blind_sigs, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            &c.op_id[..],
            c.order_id,
            c.currency.as_str(),
            amount_to_sql(c.value)?,
            encode_blobs(&c.blind_sigs),
            c.now.unix()
        ],
    )?;
    tx.exec(
        "UPDATE orders SET refund_claimed = refund_claimed + ?1 WHERE id = ?2",
        params![amount_to_sql(c.value)?, c.order_id],
    )?;
    Ok(RefundClaimOutcome::Claimed)
}

/// The merchant part of the audit scan: orders, refunds, claims.
pub(super) fn audit_scan(tx: &Connection, v: &mut dyn AuditVisitor) -> Result<(), StorageError> {
    let mut stmt =
        tx.prepare_cached(&format!("SELECT {ORDER_COLUMNS} FROM orders ORDER BY seq"))?;
    for r in stmt.query_map([], order_row)? {
        v.order(order_from(r?)?);
    }
    let mut stmt =
        tx.prepare_cached("SELECT order_id, currency, amount FROM refunds ORDER BY id")?;
    let rows = stmt.query_map([], |r| <(String, String, i64)>::try_from(r))?;
    for r in rows {
        let (order_id, currency, amount) = r?;
        v.refund(
            order_id,
            currency_from_sql(&currency)?,
            amount_from_sql(amount)?,
        );
    }
    let mut stmt = tx.prepare_cached(
        "SELECT order_id, currency, value FROM refund_claims ORDER BY created_at",
    )?;
    let rows = stmt.query_map([], |r| <(String, String, i64)>::try_from(r))?;
    for r in rows {
        let (order_id, currency, value) = r?;
        v.refund_claim(
            order_id,
            currency_from_sql(&currency)?,
            amount_from_sql(value)?,
        );
    }
    Ok(())
}
