//! The wallet's pages and their hash URLs (`/#/withdraw`, `/#/pay/{order_id}`).
//!
//! Hash routing keeps every page under the one `index.html` the bank serves,
//! so a shop's popup can open `/#/pay/{order_id}` without server support.

use crate::input::valid_order_id;

/// A page of the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Balance, coins, pending operations.
    Home,
    /// Bank URL, register, log in.
    Login,
    /// Coins from the bank account.
    Withdraw,
    /// Pay an order; `None` shows the field to paste a payment request.
    Pay(Option<String>),
    /// Send coins as a token.
    Send,
    /// Receive a token.
    Receive,
    /// Deposit coins back to the bank account, and pay out to an IBAN.
    Bank,
    /// The wallet's history.
    History,
    /// Virtual electronic purses: load, pay offline, unload.
    Card,
    /// Anything else.
    NotFound,
}

impl Route {
    /// Parses `location.hash` (`""`, `"#/"`, `"#/pay/abc"`).
    pub fn from_hash(hash: &str) -> Route {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
        let mut parts = path.splitn(2, '/');
        match (parts.next().unwrap_or(""), parts.next()) {
            ("", None) => Route::Home,
            ("login", None) => Route::Login,
            ("withdraw", None) => Route::Withdraw,
            ("pay", None) => Route::Pay(None),
            ("pay", Some(id)) if valid_order_id(id) => Route::Pay(Some(id.to_owned())),
            ("send", None) => Route::Send,
            ("receive", None) => Route::Receive,
            ("bank", None) => Route::Bank,
            ("history", None) => Route::History,
            ("card", None) => Route::Card,
            _ => Route::NotFound,
        }
    }

    /// The hash for this page (`"#/withdraw"`).
    pub fn to_hash(&self) -> String {
        match self {
            Route::Home | Route::NotFound => "#/".into(),
            Route::Login => "#/login".into(),
            Route::Withdraw => "#/withdraw".into(),
            Route::Pay(None) => "#/pay".into(),
            Route::Pay(Some(id)) => format!("#/pay/{id}"),
            Route::Send => "#/send".into(),
            Route::Receive => "#/receive".into(),
            Route::Bank => "#/bank".into(),
            Route::History => "#/history".into(),
            Route::Card => "#/card".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for r in [
            Route::Home,
            Route::Login,
            Route::Withdraw,
            Route::Pay(None),
            Route::Pay(Some("ord_1-x".into())),
            Route::Send,
            Route::Receive,
            Route::Bank,
            Route::History,
            Route::Card,
        ] {
            assert_eq!(Route::from_hash(&r.to_hash()), r);
        }
    }

    #[test]
    fn parsing() {
        assert_eq!(Route::from_hash(""), Route::Home);
        assert_eq!(Route::from_hash("#"), Route::Home);
        assert_eq!(Route::from_hash("#/withdraw/"), Route::Withdraw);
        assert_eq!(Route::from_hash("#/pay/a b"), Route::NotFound);
        assert_eq!(Route::from_hash("#/pay/a/b"), Route::NotFound);
        assert_eq!(Route::from_hash("#/nope"), Route::NotFound);
    }
}
