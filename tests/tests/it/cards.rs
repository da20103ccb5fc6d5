//! Electronic purse cards against the bank: two virtual purses (a customer's and a
//! shop terminal) are certified, loaded from an account (a retried load gets the
//! same authorization and debits once), pay each other offline, and unload back to
//! the bank (credited once; a different proof under a used number — a cloned card —
//! is refused). Every refusal has its documented code and changes nothing; the audit
//! balances with the value on cards throughout.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_card::apdu::Sw;
use ecash_card::api::{
    CardInfo, CertifyRequest, CertifyResponse, ExceptionsRequest, ExceptionsResponse, IssuerInfo,
    LoadRequest, LoadResponse, TransfersRequest, TransfersResponse, UnloadRequest, UnloadResponse,
};
use ecash_card::client::PurseClient;
use ecash_card::exception::{ExceptionKind, ExceptionRecord, ExceptionRecordBody};
use ecash_card::settle::Credit;
use ecash_card::transfer::{Ack, AckBody, Value, ValueBody};
use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_card::unload::{UnloadOrder, UnloadProof, UnloadProofBody, destination_for_account};
use ecash_card::{CardCert, CardId, CardKey, Mode, Purpose, Terms, VirtualCard};
use ecash_shared::api::LedgerKind;
use ecash_shared::{Amount, Currency, ErrorCode};
use ecash_tests::cards::{
    assert_refused, balance, card_endpoints, card_path, cloned_terminal, issue, load, load_request,
    pay, pin, post_json, today, two_purses, unload_proof,
};
use ecash_tests::client::{Client, Raw, expect_code};
use ecash_tests::server::TestBank;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certify_load_transfer_unload() {
    let (bank, alice, shop, mut personal, mut terminal) = two_purses(1000).await;
    assert_ne!(
        personal.cert().unwrap().card_id,
        terminal.cert().unwrap().card_id
    );
    bank.assert_audit_clean();

    // Load 300: the account is debited once, a retry answers the same authorization.
    let seq = personal.status().await.unwrap().next_load_seq;
    let req = load_request(300, seq);
    let first: LoadResponse = alice
        .client
        .post(&card_path(&personal, "loads"), &req)
        .await
        .unwrap();
    let retry: LoadResponse = alice
        .client
        .post(&card_path(&personal, "loads"), &req)
        .await
        .unwrap();
    assert_eq!(first, retry);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 700);
    personal.load(&first.auth).await.unwrap();
    assert_eq!(balance(&mut personal).await, 300);
    // After the card took it, the same number again is still the stored answer
    // (and the card refuses to load it twice).
    let late: LoadResponse = alice
        .client
        .post(&card_path(&personal, "loads"), &req)
        .await
        .unwrap();
    assert_eq!(late, first);
    assert!(personal.load(&late.auth).await.is_err());
    assert_eq!(balance(&mut personal).await, 300);
    let h = alice.client.history(None, None).await.unwrap();
    assert_eq!(
        (
            h.entries[0].kind,
            h.entries[0].credit,
            h.entries[0].amount.minor()
        ),
        (LedgerKind::CardLoad, false, 300)
    );
    let r = bank.assert_audit_clean();
    let eur = &r.currencies[&Currency::EUR];
    assert_eq!((eur.card_loads, eur.card_unloads), (300, 0));
    assert_eq!(eur.card_value_outstanding(), 300);

    // A second load takes the next number.
    load(&mut personal, &alice.client, 50).await;
    assert_eq!(balance(&mut personal).await, 350);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 650);

    // Offline: personal pays the terminal 120; the bank sees nothing.
    pay(&mut personal, &mut terminal, 120).await.unwrap();
    assert_eq!(balance(&mut personal).await, 230);
    assert_eq!(balance(&mut terminal).await, 120);
    bank.assert_audit_clean();
    // The terminal cannot give out what the bank has not counted yet...
    let st = terminal.status().await.unwrap();
    assert_eq!((st.credits, st.unsettled.minor()), (1, 120));
    terminal.verify_pin(&pin()).await.unwrap();
    let early = terminal
        .unload(&UnloadOrder {
            amount: Amount::from_minor(100),
            destination: destination_for_account("shop"),
            day: today(),
        })
        .await;
    assert_eq!(
        early.unwrap_err(),
        ecash_card::Error::Status(Sw::INSUFFICIENT_FUNDS)
    );
    // ...until the shop presents the personal purse's VALUE (and its own ACK).
    let settled = terminal
        .settle_credits(&card_endpoints(&shop.client).session())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (settled.refused.len(), settled.bank_balance.minor()),
        (0, 120)
    );
    assert_eq!(terminal.status().await.unwrap().unsettled.minor(), 0);
    let info: CardInfo = alice
        .client
        .get(&format!("/v1/cards/{}", personal.cert().unwrap().card_id))
        .await
        .unwrap();
    assert_eq!(info.bank_balance.minor(), 230);
    bank.assert_audit_clean();

    // The terminal unloads 100 to the shop's account: credited once.
    let proof = unload_proof(&mut terminal, "shop", 100).await;
    let body = UnloadRequest {
        proof: proof.clone(),
    };
    // Not to alice, who is not the proof's destination.
    expect_code(
        alice
            .client
            .post::<_, UnloadResponse>(&card_path(&terminal, "unloads"), &body)
            .await,
        ErrorCode::Forbidden,
    );
    let r: UnloadResponse = shop
        .client
        .post(&card_path(&terminal, "unloads"), &body)
        .await
        .unwrap();
    assert_eq!(
        (r.amount.minor(), r.unload_seq, r.card_id),
        (100, proof.body.unload_seq, proof.body.card_id)
    );
    assert_eq!(shop.client.balance().await.unwrap().minor(), 100);
    // The same proof again: the same answer, nothing more credited.
    let again: UnloadResponse = shop
        .client
        .post(&card_path(&terminal, "unloads"), &body)
        .await
        .unwrap();
    assert_eq!(again, r);
    assert_eq!(shop.client.balance().await.unwrap().minor(), 100);
    let h = shop.client.history(None, None).await.unwrap();
    assert_eq!(h.entries.len(), 1);
    assert_eq!(
        (h.entries[0].kind, h.entries[0].credit),
        (LedgerKind::CardUnload, true)
    );

    // The customer unloads the rest of her purse to her own account.
    let proof = unload_proof(&mut personal, "alice", 230).await;
    let r: UnloadResponse = alice
        .client
        .post(&card_path(&personal, "unloads"), &UnloadRequest { proof })
        .await
        .unwrap();
    assert_eq!(r.amount.minor(), 230);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 880);
    assert_eq!(balance(&mut personal).await, 0);

    let r = bank.assert_audit_clean();
    let eur = &r.currencies[&Currency::EUR];
    assert_eq!((eur.card_loads, eur.card_unloads), (350, 330));
    assert_eq!(eur.card_value_outstanding(), 20, "still on the terminal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloned_card_is_refused() {
    // A terminal loaded with 200, and a copy of its key and state in another slot.
    let (bank, shop, mut terminal, mut clone) = cloned_terminal(200).await;

    let proof = unload_proof(&mut terminal, "shop", 150).await;
    let copy = unload_proof(&mut clone, "shop", 120).await;
    assert_eq!(proof.body.unload_seq, copy.body.unload_seq);
    let path = card_path(&terminal, "unloads");
    let _: UnloadResponse = shop
        .client
        .post(&path, &UnloadRequest { proof })
        .await
        .unwrap();
    expect_code(
        shop.client
            .post::<_, UnloadResponse>(&path, &UnloadRequest { proof: copy })
            .await,
        ErrorCode::IdempotencyConflict,
    );
    assert_eq!(shop.client.balance().await.unwrap().minor(), 800 + 150);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_changes_nothing() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 100).await;
    let bob = bank.user("bob", 100).await;
    let reader = VirtualReader::new();
    let mut purse = issue(&reader, "personal", &alice.client, Mode::Personal).await;
    let loads = card_path(&purse, "loads");
    let unloads = card_path(&purse, "unloads");
    let post_load = |c: &Client, path: &str, r: LoadRequest| {
        let c = c.clone();
        let path = path.to_owned();
        async move { c.post::<_, LoadResponse>(&path, &r).await }
    };

    // No token; another account's card; unknown or malformed card ids.
    expect_code(
        post_load(&bank.client(), &loads, load_request(10, 1)).await,
        ErrorCode::Unauthorized,
    );
    expect_code(
        post_load(&bob.client, &loads, load_request(10, 1)).await,
        ErrorCode::Forbidden,
    );
    expect_code(
        post_load(
            &alice.client,
            "/v1/cards/0000000000000000/loads",
            load_request(10, 1),
        )
        .await,
        ErrorCode::NotFound,
    );
    expect_code(
        post_load(&alice.client, "/v1/cards/xyz/loads", load_request(10, 1)).await,
        ErrorCode::NotFound,
    );
    // Zero, above the virtual card's cap, more than the balance.
    expect_code(
        post_load(&alice.client, &loads, load_request(0, 1)).await,
        ErrorCode::InvalidAmount,
    );
    expect_code(
        post_load(&alice.client, &loads, load_request(1_000_000, 1)).await,
        ErrorCode::InvalidAmount,
    );
    expect_code(
        post_load(&alice.client, &loads, load_request(101, 1)).await,
        ErrorCode::InsufficientFunds,
    );
    // Not the card's next number.
    expect_code(
        post_load(&alice.client, &loads, load_request(10, 2)).await,
        ErrorCode::BadRequest,
    );
    expect_code(
        post_load(&alice.client, &loads, load_request(10, 0)).await,
        ErrorCode::BadRequest,
    );
    // Bad bodies.
    let raw = alice
        .client
        .raw(
            "POST",
            &loads,
            &[("content-type", "application/json")],
            Some(br#"{"amount":10,"load_seq":1,"extra":true}"#.to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 400);
    let raw = alice
        .client
        .raw(
            "POST",
            "/v1/cards",
            &[("content-type", "application/json")],
            Some(br#"{"card_pub":"00","mode":"personal"}"#.to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 400);
    assert_eq!(alice.client.balance().await.unwrap().minor(), 100);
    assert_eq!(
        bank.assert_audit_clean().currencies[&Currency::EUR].card_loads,
        0
    );

    // A stored number with another amount.
    load(&mut purse, &alice.client, 40).await;
    expect_code(
        post_load(&alice.client, &loads, load_request(41, 1)).await,
        ErrorCode::IdempotencyConflict,
    );
    assert_eq!(alice.client.balance().await.unwrap().minor(), 60);

    // Unloads: the proof of this card to another card's path, a forged signature.
    let mut proof = unload_proof(&mut purse, "alice", 10).await;
    let other = issue(&reader, "other", &alice.client, Mode::Personal).await;
    expect_code(
        alice
            .client
            .post::<_, UnloadResponse>(
                &card_path(&other, "unloads"),
                &UnloadRequest {
                    proof: proof.clone(),
                },
            )
            .await,
        ErrorCode::BadRequest,
    );
    let good = proof.clone();
    proof.body.amount = Amount::from_minor(11);
    expect_code(
        alice
            .client
            .post::<_, UnloadResponse>(&unloads, &UnloadRequest { proof })
            .await,
        ErrorCode::BadRequest,
    );
    assert_eq!(alice.client.balance().await.unwrap().minor(), 60);
    bank.assert_audit_clean();
    let _: UnloadResponse = alice
        .client
        .post(&unloads, &UnloadRequest { proof: good })
        .await
        .unwrap();
    assert_eq!(alice.client.balance().await.unwrap().minor(), 70);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_key_added_to_an_old_key_file_and_kept() {
    // This option writes a key file as before cards (no card issuer key).
    let bank = TestBank::start_with(ecash_tests::server::Options {
        expired_keysets: true,
        ..Default::default()
    })
    .await;
    let before: IssuerInfo = bank.client().get("/v1/cards/issuer").await.unwrap();
    let bank = bank.restart().await;
    let after: IssuerInfo = bank.client().get("/v1/cards/issuer").await.unwrap();
    assert_eq!(before, after);
    // The older keys are still there.
    assert!(bank.expired.is_some());
    let keys = bank.client().keys().await.unwrap();
    assert!(!keys.keysets.is_empty());
}

// ---- The bank's own card ledger (a purse key the user holds never creates money) ----

/// A "card" that is only a key the attacker made, certified by the bank for `owner`.
async fn self_made_card(owner: &Client, seed: u8) -> (CardKey, CardCert) {
    let key = CardKey::from_seed(&[seed; 32]);
    let r: CertifyResponse = owner
        .post(
            "/v1/cards",
            &CertifyRequest {
                card_pub: key.public(),
                mode: Mode::Personal,
            },
        )
        .await
        .unwrap();
    (key, r.cert)
}

fn terms(payer: &CardCert, payee: &CardCert, minor: u64, seq: u32) -> Terms {
    Terms {
        payer: payer.card_id,
        payee: payee.card_id,
        currency: Currency::EUR,
        amount: Amount::from_minor(minor),
        payer_seq: seq,
        payee_seq: seq,
        purpose: Purpose::Payment,
    }
}

/// The payer's VALUE and the payee's ACK, both signed by keys the attacker holds.
fn forged_credit(payer: &CardKey, payee: &CardKey, t: Terms) -> Credit {
    Credit {
        value: Value::by_card(ValueBody(t), payer),
        ack: Ack::by_card(AckBody(t), payee),
    }
}

/// An unload proof signed by `key` for `card`, to `account`'s destination.
fn unload_signed_by(
    key: &CardKey,
    card: CardId,
    minor: u64,
    unload_seq: u32,
    account: &str,
) -> UnloadProof {
    UnloadProof::by_card(
        UnloadProofBody {
            card_id: card,
            currency: Currency::EUR,
            amount: Amount::from_minor(minor),
            unload_seq,
            destination: destination_for_account(account),
        },
        key,
    )
}

async fn present(owner: &Client, card: &CardCert, credits: Vec<Credit>) -> Raw {
    post_json(
        owner,
        &format!("/v1/cards/{}/transfers", card.card_id),
        serde_json::to_value(TransfersRequest { credits }).unwrap(),
    )
    .await
}

async fn card_info(owner: &Client, card: &CardCert) -> CardInfo {
    owner
        .get(&format!("/v1/cards/{}", card.card_id))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_made_card_cannot_unload_what_was_never_loaded() {
    let bank = TestBank::start().await;
    let mallory = bank.user("mallory", 0).await;
    let (key, cert) = self_made_card(&mallory.client, 7).await;
    // The unload proof of the attack: signed by the certified key, for money that
    // never went onto the card.
    let proof = unload_signed_by(&key, cert.card_id, 1_000_000, 1, "mallory");
    let r = post_json(
        &mallory.client,
        &format!("/v1/cards/{}/unloads", cert.card_id),
        serde_json::to_value(UnloadRequest { proof }).unwrap(),
    )
    .await;
    assert_refused(&r, 409, "CARD_OVERSPENT", "unload of value never loaded");
    assert_eq!(mallory.client.balance().await.unwrap().minor(), 0);
    let info = card_info(&mallory.client, &cert).await;
    assert!(info.blocked.unwrap().contains("over-spent"));
    assert_eq!(info.bank_balance.minor(), 0);
    // The next number is refused too: the card is blocked.
    let proof = unload_signed_by(&key, cert.card_id, 1, 2, "mallory");
    let r = post_json(
        &mallory.client,
        &format!("/v1/cards/{}/unloads", cert.card_id),
        serde_json::to_value(UnloadRequest { proof }).unwrap(),
    )
    .await;
    assert_refused(&r, 403, "FORBIDDEN", "unload from a blocked card");
    let report = bank.assert_audit_clean();
    let eur = &report.currencies[&Currency::EUR];
    assert_eq!((eur.card_unloads, eur.card_shortfalls), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_transfers_create_no_money() {
    let bank = TestBank::start().await;
    let mallory = bank.user("mallory", 100).await;
    let (xk, x) = self_made_card(&mallory.client, 1).await;
    let (yk, y) = self_made_card(&mallory.client, 2).await;
    // X is loaded with 100 honestly (the card itself is only a key: nothing to apply).
    let _: LoadResponse = mallory
        .client
        .post(
            &format!("/v1/cards/{}/loads", x.card_id),
            &load_request(100, 1),
        )
        .await
        .unwrap();

    // Route 1, the exception log: a matching "unacked debit" and "abandoned credit"
    // for 5000 prove nothing the bank can pay: X's bank-side balance is 100.
    let lost = terms(&x, &y, 5_000, 1);
    let debit = ExceptionRecord::by_card(
        ExceptionRecordBody {
            card_id: x.card_id,
            exception_id: 1,
            kind: ExceptionKind::UnackedDebit,
            terms: lost,
        },
        &xk,
    );
    let abandoned = ExceptionRecord::by_card(
        ExceptionRecordBody {
            card_id: y.card_id,
            exception_id: 1,
            kind: ExceptionKind::AbandonedCredit,
            terms: lost,
        },
        &yk,
    );
    let a: ExceptionsResponse = mallory
        .client
        .post(
            &format!("/v1/cards/{}/exceptions", x.card_id),
            &ExceptionsRequest {
                records: vec![debit],
            },
        )
        .await
        .unwrap();
    let b: ExceptionsResponse = mallory
        .client
        .post(
            &format!("/v1/cards/{}/exceptions", y.card_id),
            &ExceptionsRequest {
                records: vec![abandoned],
            },
        )
        .await
        .unwrap();
    assert!(a.recovered.is_empty() && b.recovered.is_empty());
    assert_eq!(
        card_info(&mallory.client, &x).await.bank_balance.minor(),
        100
    );
    bank.assert_audit_clean();

    // Route 2, a VALUE over the payer's per-transfer limit (50.00): no genuine card
    // signs it, no genuine payee takes it.
    let r = present(
        &mallory.client,
        &y,
        vec![forged_credit(&xk, &yk, terms(&x, &y, 5_001, 2))],
    )
    .await;
    assert_refused(&r, 400, "BAD_REQUEST", "over the per-transfer limit");
    // An ACK by the wrong key, a VALUE by a key the bank never certified.
    let stranger = CardKey::from_seed(&[9; 32]);
    for bad in [
        forged_credit(&xk, &xk, terms(&x, &y, 10, 2)),
        forged_credit(&stranger, &yk, terms(&x, &y, 10, 2)),
    ] {
        let r = present(&mallory.client, &y, vec![bad]).await;
        assert_refused(&r, 400, "BAD_REQUEST", "forged credit");
    }
    assert_eq!(card_info(&mallory.client, &y).await.bank_balance.minor(), 0);

    // Route 3, a VALUE X cannot cover: Y is credited in full, X is caught: blocked,
    // its 4900 shortfall booked against its owner, who has nothing left: a debt.
    let settled: TransfersResponse = mallory
        .client
        .post(
            &format!("/v1/cards/{}/transfers", y.card_id),
            &TransfersRequest {
                credits: vec![forged_credit(&xk, &yk, terms(&x, &y, 5_000, 3))],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (settled.settled, settled.bank_balance.minor()),
        (vec![3], 5_000)
    );
    let xi = card_info(&mallory.client, &x).await;
    assert!(xi.blocked.unwrap().contains("over-spent"));
    assert_eq!(
        (xi.bank_balance.minor(), xi.account_debt.minor()),
        (0, 4_900)
    );
    assert_eq!(mallory.client.me().await.unwrap().debt.minor(), 4_900);
    let r = bank.assert_audit_clean();
    let eur = &r.currencies[&Currency::EUR];
    assert_eq!((eur.card_shortfalls, eur.receivables), (4_900, 4_900));

    // The same account unloads Y: the credit pays the debt first; nothing gained.
    let proof = unload_signed_by(&yk, y.card_id, 5_000, 1, "mallory");
    let _: UnloadResponse = mallory
        .client
        .post(
            &format!("/v1/cards/{}/unloads", y.card_id),
            &UnloadRequest { proof },
        )
        .await
        .unwrap();
    let me = mallory.client.me().await.unwrap();
    assert_eq!((me.balance.minor(), me.debt.minor()), (100, 0));

    // X, caught before, signs more: a payee of another account is refused for good
    // (its owner cannot cover it) and nothing moves.
    let eve = bank.user("eve", 0).await;
    let (zk, z) = self_made_card(&eve.client, 3).await;
    let r: TransfersResponse = eve
        .client
        .post(
            &format!("/v1/cards/{}/transfers", z.card_id),
            &TransfersRequest {
                credits: vec![forged_credit(&xk, &zk, terms(&x, &z, 5_000, 4))],
            },
        )
        .await
        .unwrap();
    assert!(r.settled.is_empty());
    assert_eq!(r.refused.len(), 1);
    assert_eq!(r.bank_balance.minor(), 0);
    assert_eq!(mallory.client.me().await.unwrap().debt.minor(), 0);
    let r = bank.assert_audit_clean();
    let eur = &r.currencies[&Currency::EUR];
    // Money out of cards never exceeds money loaded plus shortfalls booked.
    assert!(eur.card_unloads <= eur.card_loads + eur.card_shortfalls);
    assert_eq!(eur.receivables, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloned_purse_paying_twice_is_caught_and_both_payees_are_paid() {
    let bank = TestBank::start().await;
    let alice = bank.user("alice", 4_000).await;
    let bob = bank.user("bob", 0).await;
    let carol = bank.user("carol", 0).await;
    let reader = VirtualReader::new();
    let mut purse = issue(&reader, "alice", &alice.client, Mode::Personal).await;
    let mut to_bob = issue(&reader, "bob", &bob.client, Mode::Personal).await;
    let mut to_carol = issue(&reader, "carol", &carol.client, Mode::Personal).await;
    load(&mut purse, &alice.client, 4_000).await;
    // A copy of alice's purse, key and state (a cloned virtual card).
    let state = reader.state_json("alice").unwrap();
    reader.insert("clone", VirtualCard::from_json(&state).unwrap());
    let mut clone = PurseClient::connect(reader.clone(), "clone").await.unwrap();
    // Both copies pay 4000 offline, under the same payer number.
    let a = pay(&mut purse, &mut to_bob, 4_000).await.unwrap();
    let b = pay(&mut clone, &mut to_carol, 4_000).await.unwrap();
    assert_eq!(a.payer_seq, b.payer_seq);
    // Both payees sync: both are credited at the bank.
    let rb = to_bob
        .sync_with_bank(&card_endpoints(&bob.client).session())
        .await
        .unwrap();
    let rc = to_carol
        .sync_with_bank(&card_endpoints(&carol.client).session())
        .await
        .unwrap();
    for r in [rb, rc] {
        let s = r.settled.unwrap();
        assert!(s.refused.is_empty());
        assert_eq!(s.bank_balance.minor(), 4_000);
    }
    // The clone is caught: blocked, the 4000 it did not have is alice's debt.
    let info: CardInfo = alice
        .client
        .get(&format!("/v1/cards/{}", purse.cert().unwrap().card_id))
        .await
        .unwrap();
    assert!(info.blocked.unwrap().contains("cloned card"));
    assert_eq!(
        (info.bank_balance.minor(), info.account_debt.minor()),
        (0, 4_000)
    );
    bank.assert_audit_clean();
    // Both payees unload what they received.
    for (purse, who) in [(&mut to_bob, &bob), (&mut to_carol, &carol)] {
        let proof = unload_proof(purse, &who.username, 4_000).await;
        let _: UnloadResponse = who
            .client
            .post(&card_path(purse, "unloads"), &UnloadRequest { proof })
            .await
            .unwrap();
        assert_eq!(who.client.balance().await.unwrap().minor(), 4_000);
    }
    // The debtor cannot move money out; money coming in pays the debt first.
    let r = alice.client.payout(1, "DE89370400440532013000").await;
    expect_code(r, ErrorCode::AccountInDebt);
    alice
        .client
        .admin_credit(&bank.admin_token, "alice", 1_500)
        .await
        .unwrap();
    let me = alice.client.me().await.unwrap();
    assert_eq!((me.balance.minor(), me.debt.minor()), (0, 2_500));
    let h = alice.client.history(None, None).await.unwrap();
    assert_eq!(h.entries[0].kind, LedgerKind::DebtRepayment);
    let r = bank.assert_audit_clean();
    let eur = &r.currencies[&Currency::EUR];
    assert_eq!((eur.card_shortfalls, eur.receivables), (4_000, 2_500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_settlements_and_unloads_count_once() {
    let bank = TestBank::start().await;
    let mallory = bank.user("mallory", 1_000).await;
    let (xk, x) = self_made_card(&mallory.client, 1).await;
    let (yk, y) = self_made_card(&mallory.client, 2).await;
    let _: LoadResponse = mallory
        .client
        .post(
            &format!("/v1/cards/{}/loads", x.card_id),
            &load_request(1_000, 1),
        )
        .await
        .unwrap();
    // The same credit presented 16 times at once: settled once.
    let credit = forged_credit(&xk, &yk, terms(&x, &y, 700, 1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let c = mallory.client.clone();
        let credit = credit.clone();
        let path = format!("/v1/cards/{}/transfers", y.card_id);
        tasks.spawn(async move {
            c.post::<_, TransfersResponse>(
                &path,
                &TransfersRequest {
                    credits: vec![credit],
                },
            )
            .await
            .unwrap()
        });
    }
    let answers = tasks.join_all().await;
    for a in &answers {
        assert_eq!(
            (a.settled.as_slice(), a.bank_balance.minor()),
            (&[1][..], 700)
        );
    }
    assert_eq!(
        card_info(&mallory.client, &x).await.bank_balance.minor(),
        300
    );
    bank.assert_audit_clean();
    // Two different unload proofs of Y, each for all it holds, at once: one is
    // credited, the other finds nothing left and blocks the card.
    let proofs = (1..=2).map(|seq| unload_signed_by(&yk, y.card_id, 700, seq, "mallory"));
    let mut tasks = tokio::task::JoinSet::new();
    for proof in proofs {
        let c = mallory.client.clone();
        let path = format!("/v1/cards/{}/unloads", y.card_id);
        tasks.spawn(async move {
            post_json(
                &c,
                &path,
                serde_json::to_value(UnloadRequest { proof }).unwrap(),
            )
            .await
        });
    }
    let answers = tasks.join_all().await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(mallory.client.balance().await.unwrap().minor(), 700);
    let info = card_info(&mallory.client, &y).await;
    assert_eq!(info.bank_balance.minor(), 0);
    assert!(info.blocked.is_some());
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bank_lends_an_over_spender_once_and_never_for_an_unloaded_card() {
    let bank = TestBank::start().await;
    let mallory = bank.user("mallory", 0).await;
    let eve = bank.user("eve", 0).await;
    let (zk, z) = self_made_card(&eve.client, 9).await;
    // Three cards never loaded each "pay" 50.00: nothing is lent, nothing settled.
    let mut credits = Vec::new();
    for n in 1..=3 {
        let (k, c) = self_made_card(&mallory.client, n).await;
        let mut each = terms(&c, &z, 5_000, 1);
        each.payee_seq = u32::from(n);
        credits.push(forged_credit(&k, &zk, each));
    }
    let r: TransfersResponse = eve
        .client
        .post(
            &format!("/v1/cards/{}/transfers", z.card_id),
            &TransfersRequest { credits },
        )
        .await
        .unwrap();
    assert_eq!((r.settled.len(), r.refused.len()), (0, 3));
    assert_eq!(r.bank_balance.minor(), 0);
    assert_eq!(mallory.client.me().await.unwrap().debt.minor(), 0);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_ones_own_card_does_not_cheat_its_payee() {
    let bank = TestBank::start().await;
    let mallory = bank.user("mallory", 5_000).await;
    let shop = bank.user("shop", 0).await;
    let (pk, p) = self_made_card(&mallory.client, 1).await;
    let (tk, t) = self_made_card(&shop.client, 2).await;
    let _: LoadResponse = mallory
        .client
        .post(
            &format!("/v1/cards/{}/loads", p.card_id),
            &load_request(5_000, 1),
        )
        .await
        .unwrap();
    // P pays the shop 50.00 offline; then mallory unloads the same 50.00, has P
    // blocked with a tiny unload beyond what the bank holds, and pays her money out.
    let paid = forged_credit(&pk, &tk, terms(&p, &t, 5_000, 1));
    for (seq, minor, status) in [(1, 5_000, 200), (2, 1, 409)] {
        let proof = unload_signed_by(&pk, p.card_id, minor, seq, "mallory");
        let r = post_json(
            &mallory.client,
            &format!("/v1/cards/{}/unloads", p.card_id),
            serde_json::to_value(UnloadRequest { proof }).unwrap(),
        )
        .await;
        assert_eq!(r.status, status, "{:?}", r.body);
    }
    mallory
        .client
        .payout(5_000, "DE89370400440532013000")
        .await
        .unwrap();
    // The shop still gets its 50.00: the bank lends mallory the shortfall.
    let r: TransfersResponse = shop
        .client
        .post(
            &format!("/v1/cards/{}/transfers", t.card_id),
            &TransfersRequest {
                credits: vec![paid],
            },
        )
        .await
        .unwrap();
    assert_eq!((r.settled, r.bank_balance.minor()), (vec![1], 5_000));
    assert_eq!(mallory.client.me().await.unwrap().debt.minor(), 5_000);
    // Someone else's key alone unloads nothing: the shop's card is the shop's.
    let proof = unload_signed_by(&tk, t.card_id, 5_000, 1, "mallory");
    let r = post_json(
        &mallory.client,
        &format!("/v1/cards/{}/unloads", t.card_id),
        serde_json::to_value(UnloadRequest { proof }).unwrap(),
    )
    .await;
    assert_refused(&r, 403, "FORBIDDEN", "unload of another's card");
    bank.assert_audit_clean();
}
