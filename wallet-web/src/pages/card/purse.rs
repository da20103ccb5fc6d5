//! The purse operations the page's buttons start: reading the purses, certifying,
//! loading, paying the terminal offline, asking for an unlock. Each answers the
//! message to show (or the error, in words); the bank is reached through
//! `ecash_wallet`'s card endpoints ([`Env::bank`]).

use std::rc::Rc;

use ecash_card::api::{CardInfo, CertifyRequest, LoadRequest};
use ecash_card::client::transfer;
use ecash_card::host::cmd;
use ecash_card::settle::CREDIT_LOG_CAPACITY;
use ecash_card::{CardId, CardPublicKey, Mode, Pin, Purpose, VirtualCard};
use ecash_shared::Amount;
use ecash_wallet::client::card_error_text;

use super::env::{
    Env, PERSONAL, TERMINAL, card_err, connect, describe, describe_unlock, lock_reason, slot_name,
    today,
};
use super::state::{Locked, PurseView, View, spendable};
use crate::state::WebWallet;

/// Balances of both purses, their locks (with the bank's answer when logged in), and
/// the personal purse's log when the PIN is given.
pub(super) async fn read_view(
    env: &Env,
    pin: Option<&Pin>,
    token: Option<&str>,
) -> Result<View, String> {
    let mut view = View {
        connected: env.personal.is_some(),
        ..View::default()
    };
    for slot in [PERSONAL, TERMINAL] {
        if slot == PERSONAL && env.personal.is_none() {
            continue;
        }
        let mut purse = connect(env, slot).await?;
        let shown = if let Some(card_id) = purse.cert().map(|c| c.card_id) {
            let status = purse.status().await.map_err(card_err("status"))?;
            if let Some(reason) = status.lock {
                let unlock = match token {
                    Some(token) => match purse.check_unlock(&env.bank.card_session(token)).await {
                        Ok(o) => describe_unlock(&o),
                        Err(e) => format!("The bank's answer is unknown: {e}"),
                    },
                    None => "Log in to ask the bank to unlock it.".to_owned(),
                };
                view.locked.push(Locked {
                    slot,
                    card_id,
                    reason,
                    unlock,
                });
            }
            // The bank's view is extra: the purse is shown without it when it fails.
            let bank = match token {
                Some(token) => Some(card_info(env, token, card_id).await),
                None => None,
            };
            Some(PurseView {
                balance: status.balance,
                unsettled: status.unsettled,
                bank,
            })
        } else {
            None
        };
        if slot == PERSONAL {
            let certified = shown.is_some();
            view.personal = shown;
            if let (Some(pin), true) = (pin, certified) {
                purse.verify_pin(pin).await.map_err(card_err("PIN"))?;
                view.log = purse
                    .log()
                    .await
                    .map_err(card_err("log"))?
                    .iter()
                    .map(describe)
                    .collect();
            }
        } else {
            view.terminal = shown;
        }
        let _ = purse.disconnect().await;
    }
    Ok(view)
}

/// `GET /v1/cards/{id}`: the card as the bank's ledger sees it.
pub(super) async fn card_info(env: &Env, token: &str, card_id: CardId) -> Result<CardInfo, String> {
    env.bank
        .card_info(token, card_id)
        .await
        .map_err(|e| card_error_text(&e))
}

/// INITIALIZE blank purses with the bank's issuer key, certify them, PERSONALIZE.
/// Returns the PUK chosen for new purses.
pub(super) async fn certify(env: &Env, token: &str, pin: &Pin) -> Result<Option<String>, String> {
    let info = env
        .bank
        .card_issuer()
        .await
        .map_err(|e| card_error_text(&e))?;
    let mut puk_text = None;
    for (slot, mode) in [(PERSONAL, Mode::Personal), (TERMINAL, Mode::Terminal)] {
        let mut purse = connect(env, slot).await?;
        if purse.cert().is_some() {
            continue;
        }
        if purse.status().await.map_err(card_err("status"))?.lifecycle != 0 {
            // Initialized but never personalized (an interrupted attempt): it holds
            // nothing; start again from a blank card — which only the page can do
            // for its own virtual cards.
            if slot == PERSONAL && !env.personal_is_virtual() {
                return Err("The card in the reader was initialized but never \
                            personalized (an interrupted certification); this page \
                            cannot reset it."
                    .to_owned());
            }
            drop(purse);
            env.reader
                .insert(slot, VirtualCard::blank().map_err(|e| e.to_string())?);
            purse = connect(env, slot).await?;
        }
        let key = purse
            .exchange(&cmd::initialize(&info.issuer_key))
            .await
            .map_err(card_err("initialize"))?;
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| "the card answered a malformed key".to_owned())?;
        let card_pub = CardPublicKey::from_bytes(&key).map_err(card_err("card key"))?;
        let r = env
            .bank
            .certify_card(token, &CertifyRequest { card_pub, mode })
            .await
            .map_err(|e| card_error_text(&e))?;
        r.cert
            .verify(&info.issuer_key)
            .map_err(card_err("certificate"))?;
        let puk = puk_text.get_or_insert_with(random_puk).clone();
        let puk = Pin::new_puk(&puk).map_err(card_err("PUK"))?;
        purse
            .exchange(&cmd::personalize(&r.cert, pin, &puk))
            .await
            .map_err(card_err("personalize"))?;
        let _ = purse.disconnect().await;
    }
    Ok(puk_text)
}

pub(super) fn random_puk() -> String {
    let mut bytes = [0u8; 8];
    // Without randomness the card refuses a weak PUK anyway; zeros are only a fallback.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

/// Where a load's value comes from.
pub(super) enum LoadSource {
    /// The holder's bank account.
    Account,
    /// The wallet's coins, deposited into the account first.
    Coins(Rc<WebWallet>),
}

/// Loads `amount` onto the holder's purse; the message to show.
pub(super) async fn load(
    env: &Env,
    token: &str,
    amount: Amount,
    source: &LoadSource,
) -> Result<String, String> {
    let mut purse = connect(env, PERSONAL).await?;
    let cert = purse.cert().cloned().ok_or("certify the purses first")?;
    // Authorizations the bank already holds for the card come first: the card takes
    // its loads in order.
    purse
        .fetch_loads(&env.bank.card_session(token))
        .await
        .map_err(card_err("pending loads"))?;
    let status = purse.status().await.map_err(card_err("status"))?;
    if let Some(reason) = status.lock {
        return Err(format!(
            "Your purse is locked ({}): it takes no load until the bank unlocks it.",
            lock_reason(reason)
        ));
    }
    let cap = cert.profile.balance_cap;
    let room = cap.checked_sub(status.balance).unwrap_or(Amount::ZERO);
    if amount > room {
        return Err(format!(
            "Your purse holds {} and may hold at most {cap}: at most {room} more can be loaded.",
            status.balance
        ));
    }
    if let LoadSource::Coins(wallet) = source {
        wallet
            .deposit(amount)
            .await
            .map_err(|e| format!("The wallet's coins were not deposited: {e}"))?;
    }
    let loaded = env
        .bank
        .load_card(
            token,
            cert.card_id,
            &LoadRequest {
                amount,
                load_seq: status.next_load_seq,
            },
        )
        .await
        .map_err(|e| card_error_text(&e));
    let r = loaded.map_err(|e| match source {
        LoadSource::Account => e,
        LoadSource::Coins(_) => format!(
            "Your coins worth {amount} are now in your bank account, but the purse was not \
             loaded: {e}. Load it from the bank account."
        ),
    })?;
    // Should this fail, the bank keeps the authorization: the next load or sync
    // fetches it.
    purse.load(&r.auth).await.map_err(card_err("load"))?;
    let _ = purse.disconnect().await;
    Ok(match source {
        LoadSource::Account => format!("Loaded {amount} onto the purse."),
        LoadSource::Coins(_) => {
            format!("Loaded {amount} onto the purse from the wallet's coins.")
        }
    })
}

/// Asks the bank to unlock the purse in `slot`; the message to show.
pub(super) async fn request_unlock(
    env: &Env,
    token: &str,
    slot: &str,
    reason: Option<String>,
) -> Result<String, String> {
    let mut purse = connect(env, slot).await?;
    if purse.cert().is_none() {
        return Err("certify the purses first".to_owned());
    }
    let asked = purse
        .request_unlock(&env.bank.card_session(token), reason)
        .await
        .map_err(card_err("unlock request"))?;
    let _ = purse.disconnect().await;
    Ok(format!(
        "{} asked the bank to unlock it (unlock {}). Once the bank approves, press 'Sync with bank'.",
        slot_name(slot),
        asked.unlock_seq
    ))
}

pub(super) async fn pay(env: &Env, pin: &Pin, amount: Amount) -> Result<(), String> {
    let mut payer = connect(env, PERSONAL).await?;
    let mut payee = connect(env, TERMINAL).await?;
    // What the cards would refuse for want of a sync, said before they are asked.
    if payer.cert().is_some() && payee.cert().is_some() {
        let from = payer.status().await.map_err(card_err("status"))?;
        let available = spendable(from.balance, from.unsettled);
        if !from.unsettled.is_zero() && amount > available {
            return Err(format!(
                "Your purse can pay at most {available} now: {} of its {} was received \
                 offline and is not settled by the bank yet. Press 'Sync with bank' to make \
                 it spendable.",
                from.unsettled, from.balance
            ));
        }
        let to = payee.status().await.map_err(card_err("status"))?;
        if usize::from(to.credits) >= CREDIT_LOG_CAPACITY {
            return Err(format!(
                "The shop terminal holds {} payments not yet settled by the bank, as many as \
                 it can keep: press 'Sync with bank' before it takes another.",
                to.credits
            ));
        }
    }
    payer.verify_pin(pin).await.map_err(card_err("PIN"))?;
    transfer(&mut payer, &mut payee, amount, Purpose::Payment, today())
        .await
        .map_err(card_err("transfer"))?;
    let _ = payer.disconnect().await;
    let _ = payee.disconnect().await;
    Ok(())
}
