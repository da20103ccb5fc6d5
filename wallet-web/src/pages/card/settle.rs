//! Settling with the bank: the purses' credits taken offline, their exception logs,
//! unlocks and loads the bank holds ("Sync with bank"), and unloading the purses to
//! the account, with the unload proof kept until the bank credited it.

use ecash_card::CardId;
use ecash_card::Pin;
use ecash_card::api::{RefusedCredit, UnloadRequest};
use ecash_card::client::UnlockOutcome;
use ecash_card::unload::{UnloadOrder, UnloadProof, destination_for_account};
use ecash_shared::{Amount, Currency};
use ecash_wallet::client::{CardSession, card_error_text};
use ecash_wallet::storage::{Storage, Store, Write};

use super::env::{Env, PERSONAL, Purse, TERMINAL, card_err, connect, proof_key, slot_name, today};
use super::purse::card_info;
use super::state::spendable;
use crate::services::http::HttpTransport;

/// What settling the purses' credits did (see [`settle_credits`]).
#[derive(Default)]
pub(super) struct Settled {
    /// Credits the bank settled: now spendable.
    count: usize,
    /// Their total.
    amount: Amount,
    /// Credits the bank refused for good (the card dropped them with their value).
    refused: Vec<RefusedCredit>,
    /// The purses' currency.
    currency: Option<Currency>,
}

impl Settled {
    /// The sentences to show; empty when there was nothing to settle.
    fn describe(&self) -> String {
        let currency = self
            .currency
            .as_ref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        let payments = |n: usize| if n == 1 { "payment" } else { "payments" };
        let mut out = String::new();
        if self.count > 0 {
            out += &format!(
                " Settled {} {} received offline ({}{currency}); now spendable.",
                self.count,
                payments(self.count),
                self.amount
            );
        }
        for r in &self.refused {
            out += &format!(
                " The bank refused 1 payment of {}{currency}: {}; the card dropped it.",
                r.amount,
                r.reason.trim_end_matches('.')
            );
        }
        out
    }
}

/// Presents the purse's credits taken offline to the bank and applies its clearance
/// ([`PurseClient::settle_credits`]): settled ones become spendable, refused ones
/// leave the card. Adds what happened to `into`.
pub(super) async fn settle_credits(
    purse: &mut Purse,
    bank: &CardSession<'_, HttpTransport>,
    into: &mut Settled,
) -> Result<(), String> {
    let Some(cert) = purse.cert().cloned() else {
        return Ok(());
    };
    // The credits as sent, for their amounts (the bank answers sequence numbers).
    let credits = purse
        .credits()
        .await
        .map_err(card_err("payments received"))?;
    if credits.is_empty() {
        return Ok(());
    }
    let Some(answer) = purse
        .settle_credits(bank)
        .await
        .map_err(card_err("settling payments received"))?
    else {
        return Ok(());
    };
    into.currency = Some(cert.profile.currency);
    for c in &credits {
        let t = c.terms();
        if answer.settled.contains(&t.payee_seq) {
            into.count += 1;
            into.amount = into
                .amount
                .checked_add(t.amount)
                .map_err(|e| e.to_string())?;
        }
    }
    into.refused.extend(answer.refused);
    Ok(())
}

/// Settles both purses with the bank (see the module docs); the message to show. A
/// purse the bank blocked (a copy of it caught over-spending, perhaps by this very
/// sync) takes no further part: the bank refuses its settling and loads, and the
/// message says so.
pub(super) async fn sync(env: &Env, token: &str) -> Result<String, String> {
    let bank = env.bank.card_session(token);
    let mut cleared = 0;
    let mut settled = Settled::default();
    let mut unlocked = String::new();
    let mut blocked = String::new();
    let mut open = Vec::new();
    for slot in [PERSONAL, TERMINAL] {
        let mut purse = connect(env, slot).await?;
        if let Some(card_id) = purse.cert().map(|c| c.card_id) {
            let steps = async {
                let outcome = purse
                    .apply_unlock(&bank)
                    .await
                    .map_err(card_err("unlock"))?;
                settle_credits(&mut purse, &bank, &mut settled).await?;
                cleared += purse
                    .settle_exceptions(&bank)
                    .await
                    .map_err(card_err("exception log"))?;
                Ok::<_, String>(outcome)
            };
            match steps.await {
                Ok(UnlockOutcome::NotLocked) => open.push(slot),
                Ok(UnlockOutcome::Unlocked { .. }) => {
                    unlocked += &format!("{} is unlocked. ", slot_name(slot));
                    open.push(slot);
                }
                Ok(_) => {}
                Err(msg) => match blocked_by_bank(env, token, card_id).await {
                    Some(reason) => blocked += &not_synced(slot, &reason),
                    None => return Err(msg),
                },
            }
        }
        let _ = purse.disconnect().await;
    }
    let mut loaded = Amount::ZERO;
    // A locked purse takes no load: what the bank holds for it waits for the unlock.
    for slot in open {
        let mut purse = connect(env, slot).await?;
        if let Some(card_id) = purse.cert().map(|c| c.card_id) {
            match purse.fetch_loads(&bank).await {
                Ok(receipts) => {
                    for r in receipts {
                        loaded = loaded
                            .checked_add(r.body.amount)
                            .map_err(|e| e.to_string())?;
                    }
                }
                // Blocked by the settling of the other purse's credits above.
                Err(e) => match blocked_by_bank(env, token, card_id).await {
                    Some(reason) => blocked += &not_synced(slot, &reason),
                    None => return Err(card_err("loads")(e)),
                },
            }
        }
        let _ = purse.disconnect().await;
    }
    Ok(format!(
        "{unlocked}Synced with the bank: {cleared} exception record(s) cleared, {loaded} loaded onto the purses.{}{blocked}",
        settled.describe()
    ))
}

/// Why the bank blocked the card, if it says it did (no answer: not known to be).
pub(super) async fn blocked_by_bank(env: &Env, token: &str, card_id: CardId) -> Option<String> {
    card_info(env, token, card_id).await.ok()?.blocked
}

/// The sync message's sentence for a purse the bank blocked.
pub(super) fn not_synced(slot: &str, reason: &str) -> String {
    format!(
        " {} was not synced: the bank blocked it ({reason}).",
        slot_name(slot)
    )
}

/// Sends a stored unload proof; forgets it once the bank credited it (now or before).
pub(super) async fn send_proof(
    env: &Env,
    token: &str,
    slot: &str,
) -> Result<Option<Amount>, String> {
    let Some(json) = env
        .store
        .get(Store::Meta, &proof_key(slot))
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let proof: UnloadProof = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let amount = proof.body.amount;
    let card_id = proof.body.card_id;
    // On any failure the proof stays stored and is sent again by the next unload
    // (the bank credits a proof once, so sending it twice is safe).
    env.bank
        .unload_card(token, card_id, &UnloadRequest { proof })
        .await
        .map_err(|e| {
            format!(
                "{} (the unload proof is kept and sent again next time)",
                card_error_text(&e)
            )
        })?;
    env.store
        .commit(vec![Write::Delete(Store::Meta, proof_key(slot))])
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(amount))
}

/// UNLOADs the whole balance of both purses to the logged-in account, after settling
/// their credits taken offline (a purse unloads only what the bank has settled); the
/// message to show. An error after one purse was unloaded says how much was.
pub(super) async fn unload(
    env: &Env,
    token: &str,
    username: &str,
    pin: &Pin,
) -> Result<String, String> {
    let bank = env.bank.card_session(token);
    let mut settled = Settled::default();
    let mut skipped = String::new();
    let mut total = Amount::ZERO;
    for slot in [PERSONAL, TERMINAL] {
        let unloaded = unload_purse(env, &bank, username, pin, slot, &mut settled, &mut skipped)
            .await
            .map_err(|msg| {
                let done = if total.is_zero() {
                    String::new()
                } else {
                    format!(" {total} was unloaded before that.")
                };
                format!("{msg}{done}{}{skipped}", settled.describe())
            })?;
        total = total.checked_add(unloaded).map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "Unloaded {total} back to your bank account.{}{skipped}",
        settled.describe()
    ))
}

/// UNLOADs the whole balance of the purse in `slot` (its credits settled first);
/// answers what the bank credited, a proof left from an earlier unload included. A
/// purse the bank blocked is left as it is (the bank would credit nothing), said in
/// `skipped`.
pub(super) async fn unload_purse(
    env: &Env,
    bank: &CardSession<'_, HttpTransport>,
    username: &str,
    pin: &Pin,
    slot: &str,
    settled: &mut Settled,
    skipped: &mut String,
) -> Result<Amount, String> {
    let mut total = Amount::ZERO;
    // A proof from an earlier, interrupted unload goes first.
    if let Some(a) = send_proof(env, bank.token(), slot).await? {
        total = a;
    }
    let mut purse = connect(env, slot).await?;
    let Some(card_id) = purse.cert().map(|c| c.card_id) else {
        return Ok(total);
    };
    let before = purse.status().await.map_err(card_err("status"))?;
    if before.balance.is_zero() {
        return Ok(total);
    }
    if let Some(reason) = blocked_by_bank(env, bank.token(), card_id).await {
        *skipped += &format!(
            " {} was not unloaded: the bank blocked it ({reason}).",
            slot_name(slot)
        );
        return Ok(total);
    }
    settle_credits(&mut purse, bank, settled).await?;
    let status = purse.status().await.map_err(card_err("status"))?;
    let balance = status.balance;
    if balance.is_zero() {
        return Ok(total);
    }
    // The card would refuse to unload value it has not had settled: said plainly,
    // and the card is not asked.
    if balance > spendable(balance, status.unsettled) {
        return Err(format!(
            "{} holds {balance}, but {} of it was received offline and the bank has not \
             settled it yet, so it cannot be unloaded: nothing was taken from it. Press \
             'Sync with bank', then unload again.",
            slot_name(slot),
            status.unsettled,
        ));
    }
    purse.verify_pin(pin).await.map_err(card_err("PIN"))?;
    let proof = purse
        .unload(&UnloadOrder {
            amount: balance,
            destination: destination_for_account(username),
            day: today(),
        })
        .await
        .map_err(card_err("unload"))?;
    let _ = purse.disconnect().await;
    let json = serde_json::to_string(&proof).map_err(|e| e.to_string())?;
    env.store
        .commit(vec![Write::Put(Store::Meta, proof_key(slot), json)])
        .await
        .map_err(|e| e.to_string())?;
    if let Some(a) = send_proof(env, bank.token(), slot).await? {
        total = total.checked_add(a).map_err(|e| e.to_string())?;
    }
    Ok(total)
}
