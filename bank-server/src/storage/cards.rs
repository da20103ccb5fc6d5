//! Electronic purse cards: certificates, loads, unloads, settled transfers and the
//! bank's ledger per card, exception logs and recoveries, unlock requests.

use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency};

use super::*;

/// A card to register: the issuer certified `card_pub` under `id` for an account.
#[derive(Debug, Clone)]
pub struct NewCard {
    /// 8 random bytes.
    pub id: [u8; 8],
    /// The card's ed25519 public key.
    pub card_pub: [u8; 32],
    /// The account that asked (owner: loads debit it).
    pub account_id: AccountId,
    /// `personal` or `terminal`.
    pub mode: String,
    /// The card's currency.
    pub currency: Currency,
    /// The certificate's encoding.
    pub cert: Vec<u8>,
    /// When.
    pub now: Timestamp,
}

/// A registered card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    /// Id.
    pub id: [u8; 8],
    /// Owner.
    pub account_id: AccountId,
    /// `personal` or `terminal`.
    pub mode: String,
    /// Currency.
    pub currency: Currency,
    /// The certificate's encoding.
    pub cert: Vec<u8>,
    /// Why the bank blocked the card, if it did (see [`CardStore::card_unlock`](crate::storage::CardStore::card_unlock)).
    pub blocked: Option<String>,
    /// What the bank holds for the card: bank loads − unloads − settled transfers
    /// out + settled transfers in (see [`CardStore::card_settle`](crate::storage::CardStore::card_settle)).
    pub bank_balance: Amount,
}

/// Most cards one account may hold.
pub const MAX_CARDS_PER_ACCOUNT: usize = 8;

/// Most exception records the bank stores for one card (a genuine card logs one
/// only when a transfer is interrupted; a log this long is abuse).
pub const MAX_EXCEPTIONS_PER_CARD: usize = 256;

/// A credit a payee card presents, verified by the caller: the payer card's VALUE and
/// the payee card's ACK for these terms, both signatures checked against the cards'
/// certificates.
#[derive(Debug, Clone)]
pub struct NewCardTransfer {
    /// The paying card.
    pub payer: [u8; 8],
    /// Its sequence number for the transfer.
    pub payer_seq: u32,
    /// The payee card's sequence number for it.
    pub payee_seq: u32,
    /// The terms' encoding (36 bytes): the transfer's identity.
    pub terms: Vec<u8>,
    /// Currency.
    pub currency: Currency,
    /// Amount.
    pub amount: Amount,
    /// The payer-signed VALUE's encoding.
    pub value: Vec<u8>,
    /// The payee-signed ACK's encoding.
    pub ack: Vec<u8>,
}

/// A payee card's credits to settle, in one transaction.
#[derive(Debug, Clone)]
pub struct CardSettlement {
    /// The payee card (open, owned by `account_id`).
    pub card_id: [u8; 8],
    /// Who presents them: the payee card's owner.
    pub account_id: AccountId,
    /// The credits, distinct terms, all naming `card_id` as payee.
    pub credits: Vec<NewCardTransfer>,
    /// The payee card's balance cap: its bank-side balance stays under it.
    pub cap: Amount,
    /// When.
    pub now: Timestamp,
}

/// What became of one credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditOutcome {
    /// Counted (now or before): moved from the payer card's bank-side balance to
    /// the payee's.
    Settled,
    /// Never to be counted; the card drops it with its value.
    Refused(String),
    /// Not now: counting it would take the payee card's bank-side balance over its
    /// cap (its own payments out are not settled yet); the card keeps it.
    Deferred(String),
}

/// What `card_settle` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSettleOutcome {
    /// Per credit, in the order given.
    pub outcomes: Vec<CreditOutcome>,
    /// The payee card's bank-side balance after.
    pub bank_balance: Amount,
    /// Payer cards caught over-spending (or signing two VALUEs under one number) by
    /// this settlement, now blocked.
    pub caught: Vec<[u8; 8]>,
}

/// A card load to record: debit the owner, keep the authorization.
#[derive(Debug, Clone)]
pub struct NewCardLoad {
    /// The card.
    pub card_id: [u8; 8],
    /// Account debited (the card's owner).
    pub account_id: AccountId,
    /// Currency.
    pub currency: Currency,
    /// Amount.
    pub amount: Amount,
    /// Must be the card's next number (stored loads + 1), or a stored one (replay).
    pub load_seq: u32,
    /// The certificate's balance cap: the card's bank-side balance may not exceed it.
    pub cap: Amount,
    /// The signed authorization's encoding.
    pub auth: Vec<u8>,
    /// When.
    pub now: Timestamp,
}

/// What `card_load` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardLoadOutcome {
    /// Debited and stored now.
    Done {
        /// Balance after the debit.
        balance: Amount,
    },
    /// The same load was stored before: its authorization; nothing debited now.
    Replayed(Vec<u8>),
}

/// A card unload to record: credit the destination account once.
#[derive(Debug, Clone)]
pub struct NewCardUnload {
    /// The card.
    pub card_id: [u8; 8],
    /// Account credited (the proof's destination).
    pub account_id: AccountId,
    /// Currency.
    pub currency: Currency,
    /// Amount.
    pub amount: Amount,
    /// The card's unload number.
    pub unload_seq: u32,
    /// The card-signed proof's encoding.
    pub proof: Vec<u8>,
    /// When.
    pub now: Timestamp,
}

/// What `card_unload` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardUnloadOutcome {
    /// Credited now.
    Done {
        /// Balance after the credit.
        balance: Amount,
    },
    /// The identical proof was credited before; nothing credited now.
    Replayed,
    /// A *different* proof under a credited number: only a copy of the card can
    /// sign that. Nothing was credited, but the card is now blocked — the one
    /// change this failed unload makes, on purpose (it is returned as an
    /// outcome so the block commits; the caller answers it as an error).
    Cloned,
    /// The proof is for more than the bank holds for the card: not a genuine card.
    /// Nothing was credited; the card is now blocked and the proof kept as evidence
    /// (returned as an outcome so that commits; the caller answers it as an error).
    Overspent {
        /// The card's bank-side balance.
        bank_balance: Amount,
    },
}

/// A verified, card-signed exception record to store.
#[derive(Debug, Clone)]
pub struct NewCardException {
    /// Its number in the card's log (≥ 1).
    pub exception_id: u32,
    /// `true`: unacked debit (the card is the payer); `false`: abandoned credit.
    pub unacked_debit: bool,
    /// The transfer's payer card.
    pub payer: [u8; 8],
    /// The transfer's payer sequence number.
    pub payer_seq: u32,
    /// The transfer's currency.
    pub currency: Currency,
    /// The transfer's amount (> 0).
    pub amount: Amount,
    /// The transfer's terms, encoded: two records match when these bytes are equal.
    pub terms: Vec<u8>,
    /// The signed record's encoding.
    pub record: Vec<u8>,
}

/// A card's exception log, verified, to store and settle.
#[derive(Debug, Clone)]
pub struct CardExceptionUpload {
    /// The card whose log it is.
    pub card_id: [u8; 8],
    /// Who uploads it (the card's owner).
    pub account_id: AccountId,
    /// The records, with distinct ids.
    pub records: Vec<NewCardException>,
    /// When.
    pub now: Timestamp,
}

/// A recovery load to sign: the storage chose its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryLoad {
    /// The payer card re-credited.
    pub card_id: [u8; 8],
    /// Currency.
    pub currency: Currency,
    /// The lost transfer's amount.
    pub amount: Amount,
    /// The payer card's next load number.
    pub load_seq: u32,
}

/// What `card_exceptions` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardExceptionOutcome {
    /// The signed recovery loads of the transfers the uploaded records name, created
    /// now or before, ordered by card and load number.
    pub recovered: Vec<Vec<u8>>,
    /// How many of them this upload created.
    pub created: usize,
    /// The first uploaded id whose stored record names another transfer: the card
    /// was blocked and nothing else was stored (`recovered` is empty).
    pub cloned: Option<u32>,
}

/// An operator's unlock decision to record.
#[derive(Debug, Clone)]
pub struct NewCardUnlock {
    /// The card.
    pub card_id: [u8; 8],
    /// The unlock number signed (≥ 1).
    pub unlock_seq: u32,
    /// Who decided.
    pub decided_by: String,
    /// The signed authorization's encoding.
    pub auth: Vec<u8>,
    /// Only as the answer to the card's pending request for `unlock_seq`: if that
    /// request is no longer pending (refused or superseded meanwhile), nothing is
    /// recorded ([`StorageError::NoPendingUnlockRequest`]).
    pub pending_only: bool,
    /// When.
    pub now: Timestamp,
}

/// An owner's request to reopen a locked card.
#[derive(Debug, Clone)]
pub struct NewCardUnlockRequest {
    /// The card.
    pub card_id: [u8; 8],
    /// The card's next unlock number, from its lock report (≥ 1).
    pub unlock_seq: u32,
    /// Why the card locked, from its lock report: `per_transfer_limit` or
    /// `daily_limit` ([`ecash_card::risk::LockReason::as_str`]).
    pub lock_reason: String,
    /// The card-signed lock report, verified by the caller.
    pub lock_report: Vec<u8>,
    /// The owner asking.
    pub account_id: AccountId,
    /// The owner's words, checked by the caller.
    pub reason: Option<String>,
    /// When.
    pub now: Timestamp,
}

/// An operator's refusal of a card's pending unlock request.
#[derive(Debug, Clone)]
pub struct CardUnlockRefusal {
    /// The card.
    pub card_id: [u8; 8],
    /// Who decided.
    pub decided_by: String,
    /// Why, for the owner (checked by the caller).
    pub note: Option<String>,
    /// When.
    pub now: Timestamp,
}

/// Where an unlock request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardUnlockState {
    /// Waiting for the operator.
    Pending,
    /// Signed: the authorization is in the record.
    Approved,
    /// Refused by the operator.
    Refused,
}

/// An unlock request as stored (superseded requests are never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardUnlockRequestRecord {
    /// The card.
    pub card_id: [u8; 8],
    /// The unlock number asked for (or signed).
    pub unlock_seq: u32,
    /// The card owner's username.
    pub owner: String,
    /// Whether the owner asked (`false`: the operator unlocked unasked).
    pub asked_by_owner: bool,
    /// Why the card locked, as its signed lock report said (`None`: an operator's
    /// unasked unlock, or a request from before lock reports).
    pub lock_reason: Option<String>,
    /// The owner's words.
    pub reason: Option<String>,
    /// Where it stands.
    pub state: CardUnlockState,
    /// When it was asked for (or, unasked, decided).
    pub requested_at: Timestamp,
    /// When it was decided.
    pub decided_at: Option<Timestamp>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// The operator's note on a refusal.
    pub note: Option<String>,
    /// Approved: the signed authorization's encoding.
    pub auth: Option<Vec<u8>>,
    /// The card's bank-side block, if any (see [`CardRecord::blocked`]).
    pub blocked: Option<String>,
}

/// Electronic purse cards: the bank as issuer, its ledger per card. One transaction per method (see the module docs of [`crate::storage`]).
pub trait CardStore {
    /// Registers a certified card. The same key again for the same account and
    /// mode answers the stored card (a retry); `CardIdTaken` if `id` is in use.
    fn create_card(&self, card: &NewCard) -> Result<CardRecord, StorageError>;
    /// A card by id.
    fn card(&self, id: &[u8; 8]) -> Result<Option<CardRecord>, StorageError>;
    /// In one transaction: a blocked card is refused (`CardBlocked`); a stored
    /// `(card, load_seq)` replays (a bank load of the same amount) or conflicts
    /// (another amount, or a recovery load under that number); otherwise
    /// `load_seq` must be the next number, then the account is debited (ledger
    /// kind `card_load`) and the authorization stored with kind `bank`.
    fn card_load(&self, load: &NewCardLoad) -> Result<CardLoadOutcome, StorageError>;
    /// In one transaction: a blocked card is refused (`CardBlocked`); a stored
    /// `(card, unload_seq)` replays (identical proof) or, for a different
    /// proof, blocks the card and answers [`CardUnloadOutcome::Cloned`] (the
    /// block is committed, nothing else changes); otherwise the account is
    /// credited (ledger kind `card_unload`) and the proof stored.
    fn card_unload(&self, unload: &NewCardUnload) -> Result<CardUnloadOutcome, StorageError>;
    /// Stored load authorizations (bank and recovery) of a card with
    /// `load_seq >= from`, in order, at most `limit`.
    fn card_loads_from(
        &self,
        card_id: &[u8; 8],
        from: u32,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError>;
    /// In one transaction: a blocked card is refused (`CardBlocked`); if a
    /// record's `(card, exception_id)` is stored with another kind or other terms,
    /// the card is blocked and nothing else is done (`cloned`, committed: only a
    /// copy of the card signs two records under one id); every record whose
    /// `(card, exception_id)` is not stored yet is stored; then every transfer these records
    /// name for which an unacked debit and an abandoned credit with identical
    /// terms are stored, and that has no recovery yet, gets one: the payer
    /// card's next load number, signed by `sign`, stored with kind `recovery`
    /// (no account debited). Uploading the same records again changes nothing.
    fn card_exceptions(
        &self,
        upload: &CardExceptionUpload,
        sign: &dyn Fn(&RecoveryLoad) -> Vec<u8>,
    ) -> Result<CardExceptionOutcome, StorageError>;
    /// In one transaction: records the operator's unlock decision (in `card_unlocks`),
    /// marks the card's request for that number approved (storing one, unasked, if
    /// there was none; another pending request of the card is superseded), and lifts
    /// the card's bank-side block, if any; returns the reason of the lifted block.
    /// With [`NewCardUnlock::pending_only`] the request must still be pending.
    fn card_unlock(&self, unlock: &NewCardUnlock) -> Result<Option<String>, StorageError>;

    /// Settles a payee card's credits in one transaction, each once per terms: the
    /// amount moves from the payer card's bank-side balance to the payee's. A payer
    /// that cannot cover it (or signed another VALUE under the same number) is not a
    /// genuine card: the first time, it is blocked, the evidence kept, the shortfall
    /// taken from its owner's balance and the rest booked as the owner's debt, and
    /// the payee is credited in full; a payer already blocked is settled only as far
    /// as its owner's balance covers it, else the credit is refused. A credit whose
    /// transfer the payee card itself reported abandoned (so the payer may have been
    /// re-credited) is refused and the payee card blocked.
    fn card_settle(&self, settlement: &CardSettlement) -> Result<CardSettleOutcome, StorageError>;
    /// In one transaction: the stored request for `(card, unlock_seq)` if there is one
    /// (pending, approved or refused: asking again changes nothing); otherwise a new
    /// pending request, and the card's other pending request, if any, is superseded.
    fn card_unlock_request(
        &self,
        request: &NewCardUnlockRequest,
    ) -> Result<CardUnlockRequestRecord, StorageError>;
    /// The card's current unlock request: the pending one, else the latest decided.
    fn card_unlock_status(
        &self,
        card_id: &[u8; 8],
    ) -> Result<Option<CardUnlockRequestRecord>, StorageError>;
    /// Every pending unlock request, oldest first.
    fn card_unlock_requests_pending(&self) -> Result<Vec<CardUnlockRequestRecord>, StorageError>;
    /// In one transaction: the card's pending request becomes refused, with the
    /// note; [`StorageError::NoPendingUnlockRequest`] if it has none.
    fn card_unlock_refuse(
        &self,
        refusal: &CardUnlockRefusal,
    ) -> Result<CardUnlockRequestRecord, StorageError>;
}
