//! What people type, parsed once at the edge of the user interface: amounts in
//! major units with two decimals, payment requests, bank account numbers.
//!
//! Platform-independent (and tested natively); the Yew components call these
//! and show the error text as it is.

use ecash_shared::Amount;

/// Parses an amount typed in major units with at most two decimals into minor
/// units, without floating point: `"12.05"` → 1205, `"12"` → 1200,
/// `"0,5"` → 50 (a decimal comma is accepted). Rejects signs, exponents,
/// thousands separators, more than two decimals, zero and overflow, each with
/// a message that says what to type instead.
pub fn parse_amount(input: &str) -> Result<Amount, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("Enter an amount, e.g. 12.50.".into());
    }
    let (whole, frac) = match s.find(['.', ',']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(frac) || (whole.is_empty() && frac.is_empty()) {
        return Err(format!(
            "\"{s}\" is not an amount: use digits with at most two decimals, e.g. 12.50."
        ));
    }
    if frac.len() > 2 {
        return Err("Amounts have at most two decimals (whole cents).".into());
    }
    let too_large = || "That amount is too large.".to_owned();
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    // "5" → 50 cents, "05" → 5 cents.
    let cents: u64 = match frac.len() {
        0 => 0,
        1 => u64::from(frac.as_bytes()[0] - b'0') * 10,
        _ => frac.parse().map_err(|_| too_large())?,
    };
    let minor = whole
        .checked_mul(100)
        .and_then(|m| m.checked_add(cents))
        .ok_or_else(too_large)?;
    if minor == 0 {
        return Err("The amount must be more than zero.".into());
    }
    Ok(Amount::from_minor(minor))
}

/// A payment request as pasted by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequestRef {
    /// The bank host named in an `ecash://pay/{host}/{order_id}` URI.
    pub host: Option<String>,
    /// The order id.
    pub order_id: String,
}

/// Parses what someone pastes into the pay field: an
/// `ecash://pay/{host}/{order_id}` URI, a wallet link ending in
/// `#/pay/{order_id}`, or a bare order id. Order ids are URL-safe
/// (`A-Z a-z 0-9 - _`, 1 to 128 characters).
pub fn parse_pay_input(input: &str) -> Result<PayRequestRef, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("Paste a payment request (ecash://pay/…) or an order id.".into());
    }
    let (host, id) = if let Some(rest) = s.strip_prefix("ecash://pay/") {
        match rest.trim_end_matches('/').rsplit_once('/') {
            Some((host, id)) if !host.is_empty() && !host.contains('/') => {
                (Some(host.to_owned()), id)
            }
            _ => {
                return Err(
                    "A payment request looks like ecash://pay/{bank host}/{order id}.".into(),
                );
            }
        }
    } else if let Some(i) = s.find("#/pay/") {
        (None, s[i + "#/pay/".len()..].trim_end_matches('/'))
    } else {
        (None, s)
    };
    if valid_order_id(id) {
        Ok(PayRequestRef {
            host,
            order_id: id.to_owned(),
        })
    } else {
        Err(format!("\"{id}\" is not an order id."))
    }
}

/// Whether `id` can be an order id (it goes into a URL path).
pub fn valid_order_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `host[:port]` part of a URL such as `http://127.0.0.1:8080/`.
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// Normalises a bank account number for a payout: spaces removed, upper case.
/// Only the shape is checked here (2 letters, 2 digits, 11–30 letters or
/// digits); the bank checks the rest and answers `INVALID_IBAN`.
pub fn normalize_iban(input: &str) -> Result<String, String> {
    let iban: String = input
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let b = iban.as_bytes();
    let ok = (15..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(u8::is_ascii_alphanumeric);
    if ok {
        Ok(iban)
    } else {
        Err("Enter an IBAN, e.g. DE89 3704 0044 0532 0130 00.".into())
    }
}

/// Normalises a bank URL typed by the user: trimmed, no trailing slash, and
/// only `http://` or `https://`.
pub fn normalize_bank_url(input: &str) -> Result<String, String> {
    let url = input.trim().trim_end_matches('/');
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && !url_host(url).is_empty()
        && !url.contains(char::is_whitespace);
    if ok {
        Ok(url.to_owned())
    } else {
        Err("The bank URL starts with http:// or https://, e.g. http://127.0.0.1:8080.".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(s: &str) -> u64 {
        parse_amount(s).unwrap().minor()
    }

    #[test]
    fn amounts_parse_without_floats() {
        assert_eq!(minor("12.05"), 1205);
        assert_eq!(minor("12"), 1200);
        assert_eq!(minor("12.5"), 1250);
        assert_eq!(minor("0.01"), 1);
        assert_eq!(minor(".5"), 50);
        assert_eq!(minor("3."), 300);
        assert_eq!(minor(" 7,20 "), 720);
        assert_eq!(minor("0.29"), 29); // 0.29 * 100 is 28.999… in f64
        assert_eq!(minor("184467440737095516.15"), u64::MAX);
    }

    #[test]
    fn bad_amounts_are_refused() {
        for bad in [
            "", " ", ".", "-1", "+1", "1e3", "1.234", "1,000.00", "12.05.1", "abc", "€5", "0",
            "0.00", "1 000",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_amount("184467440737095516.16").is_err());
        assert!(parse_amount("99999999999999999999999").is_err());
        assert_eq!(
            parse_amount("0").unwrap_err(),
            "The amount must be more than zero."
        );
    }

    #[test]
    fn pay_inputs() {
        let r = parse_pay_input("ecash://pay/127.0.0.1:8080/ord_123").unwrap();
        assert_eq!(r.host.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(r.order_id, "ord_123");
        let r = parse_pay_input("http://127.0.0.1:8080/#/pay/abc-9").unwrap();
        assert_eq!((r.host, r.order_id.as_str()), (None, "abc-9"));
        assert_eq!(parse_pay_input("  xyz  ").unwrap().order_id, "xyz");
        assert!(parse_pay_input("").is_err());
        assert!(parse_pay_input("ecash://pay/ord").is_err());
        assert!(parse_pay_input("ecash://pay//ord").is_err());
        assert!(parse_pay_input("a/b").is_err());
        assert!(parse_pay_input("../keys").is_err());
        assert!(parse_pay_input(&"a".repeat(129)).is_err());
    }

    #[test]
    fn hosts_ibans_and_urls() {
        assert_eq!(url_host("http://127.0.0.1:8080/"), "127.0.0.1:8080");
        assert_eq!(url_host("https://bank.example/x?y"), "bank.example");
        assert_eq!(
            normalize_iban("de89 3704 0044 0532 0130 00").unwrap(),
            "DE89370400440532013000"
        );
        assert!(normalize_iban("DE89").is_err());
        assert!(normalize_iban("1289370400440532013000").is_err());
        assert_eq!(
            normalize_bank_url(" http://127.0.0.1:8080/ ").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalize_bank_url("ftp://x").is_err());
        assert!(normalize_bank_url("http://").is_err());
    }
}
