//! Orders: a merchant's terms checked ([`check_terms`]), orders created with
//! their contract hash, a merchant's list, one order by id. The HTTP side,
//! with the long-polled status, is [`crate::api::orders`].

use ecash_shared::Amount;
use ecash_shared::api::{
    CreateOrderRequest, DEFAULT_ORDER_TTL_SECS, HISTORY_MAX_LIMIT, MAX_ORDER_TTL_SECS,
    MAX_SUMMARY_LEN, MAX_URL_LEN,
};
use ecash_shared::encoding::Timestamp;

use super::Bank;
use super::merchant::{self, valid_order_id};
use super::pool::BlockingFailed;
use crate::storage::{
    AccountId, AccountRecord, MAX_STORED_AMOUNT, NewOrder, OrderRecord, StorageError,
};

/// Longest `allowed_origin`, in bytes.
const MAX_ORIGIN_LEN: usize = 256;

/// Errors of the order endpoints.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The account is not a merchant.
    #[error("only merchant accounts can do this")]
    NotAMerchant,
    /// Zero or out-of-range amount.
    #[error("the amount must be between 1 and {} minor units", MAX_STORED_AMOUNT.minor())]
    InvalidAmount,
    /// A field fails its rules.
    #[error("{0}")]
    Invalid(String),
    /// No such order.
    #[error("no such order")]
    NotFound,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// The payment URI does not fit in a QR code (cannot happen with our ids).
    #[error("the payment URI does not fit in a QR code")]
    Qr,
    /// Storage.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

/// The checked terms of a new order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerms {
    /// Price.
    pub amount: Amount,
    /// What is sold.
    pub summary: String,
    /// Where the shop sends the buyer after payment.
    pub fulfillment_url: Option<String>,
    /// Normalised origin (lower case).
    pub allowed_origin: Option<String>,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// Checks a `CreateOrderRequest`: amount in range, a summary of 1 to 500
/// bytes without control characters, an `http(s)://` fulfillment URL, an
/// origin of the form `http(s)://host[:port]`, and a lifetime of 1 s to 30 days.
pub fn check_terms(req: CreateOrderRequest) -> Result<OrderTerms, OrderError> {
    if req.amount.is_zero() || req.amount > MAX_STORED_AMOUNT {
        return Err(OrderError::InvalidAmount);
    }
    let summary = req.summary.trim();
    if summary.is_empty()
        || summary.len() > MAX_SUMMARY_LEN
        || summary.chars().any(char::is_control)
    {
        return Err(OrderError::Invalid(format!(
            "the summary must be 1 to {MAX_SUMMARY_LEN} bytes of text without control characters"
        )));
    }
    let fulfillment_url = match req.fulfillment_url {
        Some(u) if !valid_url(&u) => {
            return Err(OrderError::Invalid(format!(
                "fulfillment_url must be an http:// or https:// URL of at most {MAX_URL_LEN} bytes"
            )));
        }
        other => other,
    };
    let allowed_origin = match req.allowed_origin {
        Some(o) => Some(parse_origin(&o).ok_or_else(|| {
            OrderError::Invalid(
                "allowed_origin must be an origin: http(s)://host[:port], without a path".into(),
            )
        })?),
        None => None,
    };
    let expires_in = req.expires_in.unwrap_or(DEFAULT_ORDER_TTL_SECS);
    if !(1..=MAX_ORDER_TTL_SECS).contains(&expires_in) {
        return Err(OrderError::Invalid(format!(
            "expires_in must be 1 to {MAX_ORDER_TTL_SECS} seconds"
        )));
    }
    Ok(OrderTerms {
        amount: req.amount,
        summary: summary.to_owned(),
        fulfillment_url,
        allowed_origin,
        expires_in,
    })
}

fn valid_url(u: &str) -> bool {
    u.len() <= MAX_URL_LEN
        && (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() > "https://".len()
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Parses a web origin `scheme://host[:port]` (scheme `http` or `https`,
/// host a DNS name, IPv4 or bracketed IPv6 address, no path, no trailing
/// slash) into its lower-case form, the way browsers write `event.origin`.
pub fn parse_origin(s: &str) -> Option<String> {
    if s.len() > MAX_ORIGIN_LEN {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (inner, after) = v6.split_once(']')?;
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        (None, after)
    } else {
        let (host, after) = match rest.find(':') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        (Some(host), after)
    };
    if let Some(h) = host {
        let ok = !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !h.starts_with(['.', '-'])
            && !h.ends_with('-');
        if !ok {
            return None;
        }
    }
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = digits.parse().ok()?;
        if n == 0 || n > 65535 {
            return None;
        }
    }
    Some(lower)
}

impl Bank {
    /// Creates an order of `merchant_id` on `terms`.
    pub fn create_order(
        &self,
        merchant_id: AccountId,
        terms: OrderTerms,
        now: Timestamp,
    ) -> Result<OrderRecord, OrderError> {
        let id = merchant::new_order_id().map_err(|_| OrderError::Rng)?;
        let ttl = i64::try_from(terms.expires_in).unwrap_or(i64::MAX);
        let merchant_name = self
            .storage
            .merchant_name(merchant_id)?
            .ok_or(StorageError::UnknownAccount)?;
        let mut order = NewOrder {
            id,
            merchant_id,
            merchant_name,
            currency: self.keys.currency(),
            amount: terms.amount,
            summary: terms.summary,
            fulfillment_url: terms.fulfillment_url,
            allowed_origin: terms.allowed_origin,
            created_at: now,
            expires_at: now.plus_secs(ttl),
            contract_hash: [0; 32],
        };
        order.contract_hash = merchant::contract(&order).compute_hash();
        let order = self.storage.create_order(&order)?;
        tracing::info!(order = %order.order.id, amount = order.order.amount.minor(), "order created");
        Ok(order)
    }

    /// `merchant` creates an order from its request.
    pub fn merchant_order(
        &self,
        merchant: &AccountRecord,
        req: CreateOrderRequest,
        now: Timestamp,
    ) -> Result<OrderRecord, OrderError> {
        if !merchant.merchant {
            return Err(OrderError::NotAMerchant);
        }
        let terms = check_terms(req)?;
        self.create_order(merchant.id, terms, now)
    }

    /// The order for the demo shop's merchant account `username`.
    pub fn shop_order(
        &self,
        username: &str,
        terms: OrderTerms,
        now: Timestamp,
    ) -> Result<Option<OrderRecord>, OrderError> {
        match self.storage.account_by_username(username)? {
            Some(m) if m.merchant => self.create_order(m.id, terms, now).map(Some),
            _ => Ok(None),
        }
    }

    /// A page of `merchant`'s orders, newest first: at most `limit` with a
    /// sequence number below `before`, and the `before` of the next page if
    /// one follows.
    pub fn merchant_orders(
        &self,
        merchant: &AccountRecord,
        limit: u32,
        before: Option<i64>,
    ) -> Result<(Vec<OrderRecord>, Option<i64>), OrderError> {
        if !merchant.merchant {
            return Err(OrderError::NotAMerchant);
        }
        if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
            return Err(OrderError::Invalid(format!(
                "limit must be between 1 and {HISTORY_MAX_LIMIT}"
            )));
        }
        let mut orders =
            self.storage
                .merchant_orders(merchant.id, limit.saturating_add(1), before)?;
        let page = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_before = if orders.len() > page {
            orders.truncate(page);
            orders.last().map(|o| o.seq)
        } else {
            None
        };
        Ok((orders, next_before))
    }

    /// One order by id (`NotFound` for an id that cannot exist, too).
    pub fn order(&self, id: &str) -> Result<OrderRecord, OrderError> {
        if !valid_order_id(id) {
            return Err(OrderError::NotFound);
        }
        self.storage.order(id)?.ok_or(OrderError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for (input, out) in [
            ("https://shop.example", "https://shop.example"),
            ("HTTP://LocalHost:8080", "http://localhost:8080"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"),
        ] {
            assert_eq!(parse_origin(input).as_deref(), Some(out), "{input}");
        }
        for bad in [
            "",
            "shop.example",
            "ftp://shop.example",
            "https://shop.example/",
            "https://shop.example/path",
            "https://",
            "https://shop.example:",
            "https://shop.example:99999",
            "https://shop.example:0",
            "https://user@shop.example",
            "https://shop example",
            "javascript://x",
            "*",
            "null",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }

    fn req(amount: u64) -> CreateOrderRequest {
        CreateOrderRequest {
            amount: Amount::from_minor(amount),
            summary: "Coffee".into(),
            fulfillment_url: None,
            expires_in: None,
            allowed_origin: None,
        }
    }

    #[test]
    fn terms() {
        let t = check_terms(req(250)).unwrap();
        assert_eq!(t.expires_in, DEFAULT_ORDER_TTL_SECS);
        assert!(matches!(
            check_terms(req(0)),
            Err(OrderError::InvalidAmount)
        ));
        let bad = [
            CreateOrderRequest {
                summary: "  ".into(),
                ..req(1)
            },
            CreateOrderRequest {
                summary: "a\u{7}b".into(),
                ..req(1)
            },
            CreateOrderRequest {
                summary: "x".repeat(MAX_SUMMARY_LEN + 1),
                ..req(1)
            },
            CreateOrderRequest {
                expires_in: Some(0),
                ..req(1)
            },
            CreateOrderRequest {
                expires_in: Some(MAX_ORDER_TTL_SECS + 1),
                ..req(1)
            },
            CreateOrderRequest {
                fulfillment_url: Some("javascript:alert(1)".into()),
                ..req(1)
            },
            CreateOrderRequest {
                allowed_origin: Some("https://shop.example/x".into()),
                ..req(1)
            },
        ];
        for b in bad {
            assert!(
                matches!(check_terms(b.clone()), Err(OrderError::Invalid(_))),
                "{b:?}"
            );
        }
    }
}
