//! JSON bodies of the bank's card endpoints (`bank-server`'s `cards` module), shared by
//! the bank, the wallet page and the tests. Keys, ids and signed messages travel as
//! lower-case hex (their fixed-layout encodings); amounts as minor units.
//!
//! | endpoint | request | answer |
//! |---|---|---|
//! | `GET /v1/cards/issuer` | – | [`IssuerInfo`] |
//! | `POST /v1/cards` (bearer) | [`CertifyRequest`] | [`CertifyResponse`] |
//! | `POST /v1/cards/{id}/loads` (bearer, the card's owner) | [`LoadRequest`] | [`LoadResponse`] |
//! | `POST /v1/cards/{id}/unloads` (bearer, the proof's destination) | [`UnloadRequest`] | [`UnloadResponse`] |

use ecash_shared::{Amount, Currency};
use serde::{Deserialize, Serialize};

use crate::cert::{CardCert, Mode};
use crate::keys::{CardId, CardPublicKey, IssuerPublicKey};
use crate::load::LoadAuth;
use crate::unload::UnloadProof;

/// `GET /v1/cards/issuer`: the key written into every card at INITIALIZE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerInfo {
    /// The issuer's ed25519 public key.
    pub issuer_key: IssuerPublicKey,
    /// The only currency the bank's cards hold.
    pub currency: Currency,
}

/// `POST /v1/cards`: certify the key a blank card revealed at INITIALIZE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifyRequest {
    /// The card's public key.
    pub card_pub: CardPublicKey,
    /// Personal purse or merchant terminal.
    pub mode: Mode,
}

/// The certificate to PERSONALIZE the card with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifyResponse {
    /// The card's id (also inside the certificate).
    pub card_id: CardId,
    /// The issuer's certificate.
    pub cert: CardCert,
}

/// `POST /v1/cards/{id}/loads`: debit the account, authorize the card's next load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    /// Amount (> 0, at most the card's balance cap).
    pub amount: Amount,
    /// The card's next load sequence number (GET STATUS `next_load_seq`).
    pub load_seq: u32,
}

/// The issuer-signed authorization to LOAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadResponse {
    /// The authorization (the stored one on a retry).
    pub auth: LoadAuth,
}

/// `POST /v1/cards/{id}/unloads`: credit a card-signed unload proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnloadRequest {
    /// The card's proof (its destination must be the caller's account).
    pub proof: UnloadProof,
}

/// What the unload credited (the same answer for a repeat of the same proof, which
/// credits nothing more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnloadResponse {
    /// The card.
    pub card_id: CardId,
    /// The proof's sequence number.
    pub unload_seq: u32,
    /// Amount credited (once).
    pub amount: Amount,
}
