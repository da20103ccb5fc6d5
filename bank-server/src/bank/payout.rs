//! Wire out: `POST /v1/accounts/me/payout {amount, iban}` debits the account
//! (a `payout` ledger entry) for a transfer to a real bank account.

use ecash_shared::Amount;
use ecash_shared::api::PayoutRequest;
use ecash_shared::encoding::Timestamp;

use super::Bank;
use super::pool::BlockingFailed;
use crate::storage::{AccountRecord, MAX_STORED_AMOUNT, StorageError};

/// Errors of `payout`.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    /// Zero or out-of-range amount.
    #[error("the amount must be positive")]
    InvalidAmount,
    /// Not an IBAN (ISO 13616 mod-97 check).
    #[error("not a valid IBAN")]
    InvalidIban,
    /// Storage (e.g. insufficient funds).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Blocking pool.
    #[error(transparent)]
    Blocking(#[from] BlockingFailed),
}

/// Normalises and checks an IBAN (ISO 13616): spaces removed, upper case,
/// 15–34 characters, country letters, check digits, and `mod 97 == 1` of the
/// rearranged number. Returns the normalised form.
pub fn parse_iban(input: &str) -> Option<String> {
    if input.len() > 64 {
        return None;
    }
    let iban: String = input
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let b = iban.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return None;
    }
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    (rem == 1).then_some(iban)
}

/// `DE89370400440532013000` → `DE89 …3000` (for the ledger memo).
pub fn mask_iban(iban: &str) -> String {
    let tail = &iban[iban.len().saturating_sub(4)..];
    format!("{} …{}", &iban[..4.min(iban.len())], tail)
}

impl Bank {
    /// Debits `account` for a transfer of `req.amount` to `req.iban`: the
    /// balance after.
    pub fn payout(
        &self,
        account: &AccountRecord,
        req: &PayoutRequest,
        now: Timestamp,
    ) -> Result<Amount, PayoutError> {
        if req.amount.is_zero() || req.amount > MAX_STORED_AMOUNT {
            return Err(PayoutError::InvalidAmount);
        }
        let iban = parse_iban(&req.iban).ok_or(PayoutError::InvalidIban)?;
        let memo = format!("payout to {}", mask_iban(&iban));
        let balance = self.storage.payout(account.id, req.amount, &memo, now)?;
        tracing::info!(account = %account.username, amount = req.amount.minor(), "payout");
        Ok(balance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_mod97() {
        for ok in [
            "DE89370400440532013000",
            "de89 3704 0044 0532 0130 00",
            "GB82WEST12345698765432",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
        ] {
            assert!(parse_iban(ok).is_some(), "{ok}");
        }
        for bad in [
            "DE89370400440532013001",
            "DE8937040044",
            "",
            "1289370400440532013000",
            "DE89-370400440532013000",
            "DEXX370400440532013000",
        ] {
            assert!(parse_iban(bad).is_none(), "{bad}");
        }
        assert_eq!(mask_iban("DE89370400440532013000"), "DE89 …3000");
    }
}
