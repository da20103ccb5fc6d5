//! What the wallet stores. Every record is JSON in a [`crate::storage::Store`].

use ecash_shared::api::{Contract, Receipt, SpendCoin};
use ecash_shared::blind_rsa::BlindingInverse;
use ecash_shared::coin::{BlindedCoin, Coin, CoinSecret, PlanchetSecrets};
use ecash_shared::encoding::{Bytes, Timestamp, b64_array};
use ecash_shared::keyset::Keyset;
use ecash_shared::{Amount, COIN_VARIANT};
use serde::{Deserialize, Serialize};

use crate::WalletError;

/// A coin the wallet holds, with its secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredCoin {
    /// The coin.
    pub coin: Coin,
    /// The coin's ed25519 secret seed.
    #[serde(with = "b64_array")]
    pub secret: [u8; 32],
    /// Its value (from the keyset).
    pub value: Amount,
    /// The pending operation that reserved it, if any.
    pub reserved_by: Option<String>,
    /// When it entered the wallet.
    pub added_at: Timestamp,
}

impl core::fmt::Debug for StoredCoin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoredCoin")
            .field("coin_pub", &self.coin.coin_pub)
            .field("value", &self.value)
            .field("reserved_by", &self.reserved_by)
            .finish_non_exhaustive()
    }
}

impl Drop for StoredCoin {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl StoredCoin {
    /// The coin's secret key.
    pub fn coin_secret(&self) -> CoinSecret {
        CoinSecret::from_bytes(&self.secret)
    }

    /// The storage key (the coin public key).
    pub fn key(&self) -> String {
        self.coin.coin_pub.to_string()
    }
}

/// A coin being created, as written to the intent log before the request:
/// everything needed to turn the bank's blind signature into a coin.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredPlanchet {
    /// Coin secret seed.
    #[serde(with = "b64_array")]
    pub secret: [u8; 32],
    /// RFC 9474 message prefix.
    #[serde(with = "b64_array")]
    pub msg_prefix: [u8; 32],
    /// Blinding inverse.
    pub inv: Bytes,
    /// What the bank signs.
    pub blinded: BlindedCoin,
    /// Value.
    pub value: Amount,
}

impl Drop for StoredPlanchet {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
        zeroize::Zeroize::zeroize(&mut self.inv.0);
    }
}

impl core::fmt::Debug for StoredPlanchet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StoredPlanchet")
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

impl StoredPlanchet {
    /// Creates `count` fresh planchets for `keyset` (one shared inversion).
    pub fn create_many(keyset: &Keyset, count: usize) -> Result<Vec<Self>, WalletError> {
        PlanchetSecrets::create_many(keyset, count)
            .map_err(|e| WalletError::Crypto(e.to_string()))?
            .into_iter()
            .map(|p| {
                let msg_prefix = p
                    .prepared
                    .msg_prefix
                    .ok_or_else(|| WalletError::Crypto("missing message prefix".into()))?;
                Ok(StoredPlanchet {
                    secret: *p.secret.to_bytes(),
                    msg_prefix,
                    inv: Bytes(p.inv.as_bytes().to_vec()),
                    blinded: p.blinded.clone(),
                    value: keyset.value,
                })
            })
            .collect()
    }

    /// Unblinds and verifies the bank's blind signature into a stored coin.
    pub fn finish(
        &self,
        keyset: &Keyset,
        blind_sig: &[u8],
        now: Timestamp,
    ) -> Result<StoredCoin, WalletError> {
        let secret = CoinSecret::from_bytes(&self.secret);
        let coin_pub = secret.coin_pub();
        let p = PlanchetSecrets {
            prepared: ecash_shared::blind_rsa::prepare_with_prefix(
                COIN_VARIANT,
                coin_pub.as_bytes(),
                Some(self.msg_prefix),
            ),
            secret,
            inv: BlindingInverse::from_bytes(&self.inv.0),
            blinded: self.blinded.clone(),
        };
        let coin = p
            .finish(keyset, blind_sig)
            .map_err(|e| WalletError::Protocol(format!("blind signature does not verify: {e}")))?;
        Ok(StoredCoin {
            coin,
            secret: self.secret,
            value: self.value,
            reserved_by: None,
            added_at: now,
        })
    }
}

/// Why a swap is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwapPurpose {
    /// Make change from the wallet's own coins.
    Change,
    /// Take coins received in a token.
    Receive,
}

/// A pending operation: the intent log entry written before the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingOp {
    /// Operation id (also the storage key).
    pub id: String,
    /// When it was started.
    pub created_at: Timestamp,
    /// What it does.
    pub kind: OpKind,
}

/// The operations that move value, with everything needed to replay them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpKind {
    /// Withdraw from the bank account (idempotent on `request_id`).
    Withdraw {
        /// Account withdrawn from.
        username: String,
        /// Idempotency key.
        request_id: String,
        /// Total value.
        amount: Amount,
        /// Coins being created.
        planchets: Vec<StoredPlanchet>,
    },
    /// Swap coins for fresh ones (replaying the identical swap is idempotent).
    Swap {
        /// Why.
        purpose: SwapPurpose,
        /// Signed inputs.
        inputs: Vec<SpendCoin>,
        /// Coins being created.
        outputs: Vec<StoredPlanchet>,
        /// Total value.
        amount: Amount,
    },
    /// Pay a merchant order (idempotent: same coins, same order, same receipt).
    Pay {
        /// The contract paid (its hash was checked).
        contract: Contract,
        /// Signed coins.
        coins: Vec<SpendCoin>,
    },
    /// Claim a merchant's refund with the paying coins' keys (an identical
    /// replay returns the bank's stored signatures).
    RefundClaim {
        /// The refunded order.
        order_id: String,
        /// The signed claim, exactly as sent.
        request: ecash_shared::api::RefundClaimRequest,
        /// Coins being created.
        outputs: Vec<StoredPlanchet>,
        /// Value claimed.
        amount: Amount,
    },
    /// Deposit into the bank account.
    Deposit {
        /// Account credited.
        username: String,
        /// Signed coins.
        coins: Vec<SpendCoin>,
        /// Total value.
        amount: Amount,
    },
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// Coins withdrawn from the bank account.
    Withdraw,
    /// A merchant paid.
    Payment,
    /// Coins sent to a person as a token.
    Send,
    /// Coins received from a token.
    Receive,
    /// Coins deposited to the bank account.
    Deposit,
    /// A refund claimed.
    Refund,
    /// A sent token taken back.
    Reclaim,
}

/// One line of the wallet's history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Sequence number (storage key, zero-padded).
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: HistoryKind,
    /// Value moved.
    pub amount: Amount,
    /// `true` when the wallet gained value.
    pub incoming: bool,
    /// Wallet balance after the entry.
    pub balance_after: Amount,
    /// Human description.
    pub memo: String,
    /// The receipt of a payment.
    pub receipt: Option<Receipt>,
    /// The contract of a payment.
    pub contract: Option<Contract>,
}

/// A token sent to someone, kept so the sender can take it back if it is never received.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentToken {
    /// Operation id.
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// Value.
    pub amount: Amount,
    /// The token string.
    pub token: String,
}
