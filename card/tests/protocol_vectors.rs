//! The card messages of `docs/protocol.md`, checked against stored vectors.
//!
//! `vectors/card.json` was written once by `shared/tests/vectors/protocol/make_vectors.py`,
//! a second implementation of the layouts (Python, following `docs/protocol.md`). Each
//! message is rebuilt here from its fields; its body, signing input, signature (fixed
//! seed keys, ed25519 is deterministic) and signed bytes must equal the stored ones.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_card::cert::{CardCert, CardProfile, Mode};
use ecash_card::exception::{ClearAuth, ClearAuthBody, ExceptionRecord, ExceptionRecordBody};
use ecash_card::keys::{CardId, CardKey, IssuerKey, Signature, signing_input};
use ecash_card::load::{LoadAuth, LoadAuthBody, LoadKind, LoadReceipt, LoadReceiptBody};
use ecash_card::message::{Body, Signed};
use ecash_card::risk::{LockReason, LockReport, LockReportBody, UnlockAuth, UnlockAuthBody};
use ecash_card::settle::{Credit, SettleAuth, SettleAuthBody};
use ecash_card::transfer::{Ack, AckBody, Request, RequestBody, Terms, Value, ValueBody};
use ecash_card::unload::{UnloadProof, UnloadProofBody, destination_for_account};
use ecash_card::{CardPublicKey, PurseStatus};
use ecash_shared::{Amount, Currency};
use serde_json::Value as Json;

const VECTORS: &str = include_str!("vectors/card.json");

fn vectors() -> Json {
    serde_json::from_str(VECTORS).unwrap()
}

fn hex_of(v: &Json) -> Vec<u8> {
    hex::decode(v.as_str().expect("a hex string")).unwrap()
}

fn arr<const N: usize>(v: &Json) -> [u8; N] {
    hex_of(v).try_into().unwrap()
}

fn num(v: &Json) -> u64 {
    v.as_u64().expect("a number")
}

fn card_id(v: &Json) -> CardId {
    CardId(arr(v))
}

fn amount(v: &Json) -> Amount {
    Amount::from_minor(num(v))
}

fn u32_of(v: &Json) -> u32 {
    u32::try_from(num(v)).unwrap()
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array().unwrap().iter().map(u32_of).collect()
}

fn message<'a>(all: &'a Json, name: &str) -> &'a Json {
    all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// Checks one message: body, signing input, signature and `body || signature`.
fn check<T: Body>(all: &Json, name: &str, body: T, signed_by_issuer: bool) -> Signed<T> {
    let m = message(all, name);
    assert_eq!(m["tag"], T::TAG, "{name}");
    let bytes = body.to_bytes();
    assert_eq!(bytes.len(), T::LEN, "{name}");
    assert_eq!(bytes, hex_of(&m["body"]), "{name}: body");
    assert_eq!(
        signing_input(T::TAG, &bytes),
        hex_of(&m["signing_input"]),
        "{name}: signing input"
    );
    let seed: [u8; 32] = arr(&m["signer_seed"]);
    let signed = if signed_by_issuer {
        let key = IssuerKey::from_seed(&seed);
        let s = Signed::by_issuer(body, &key);
        s.verify_issuer(&key.public()).unwrap();
        s
    } else {
        let key = CardKey::from_seed(&seed);
        let s = Signed::by_card(body, &key);
        s.verify_card(&key.public()).unwrap();
        s
    };
    assert_eq!(
        signed.sig,
        Signature(arr(&m["signature"])),
        "{name}: signature"
    );
    assert_eq!(
        signed.to_bytes(),
        hex_of(&m["signed"]),
        "{name}: signed bytes"
    );
    let parsed = Signed::<T>::parse(&hex_of(&m["signed"])).unwrap();
    assert!(parsed == signed, "{name}: parse");
    signed
}

fn terms(f: &Json) -> Terms {
    serde_json::from_value(f.clone()).unwrap()
}

#[test]
fn certificate() {
    let all = vectors();
    let m = message(&all, "cert");
    let f = &m["fields"];
    let issuer = IssuerKey::from_seed(&arr(&all["issuer_seed"]));
    assert_eq!(issuer.public().to_bytes(), arr::<32>(&all["issuer_pub"]));
    let card_pub = CardPublicKey::from_bytes(&arr(&f["card_pub"])).unwrap();
    assert_eq!(
        CardKey::from_seed(&arr(&all["payer_seed"])).public(),
        card_pub
    );
    let profile = CardProfile {
        mode: Mode::Personal,
        currency: Currency::EUR,
        balance_cap: amount(&f["balance_cap"]),
        per_transfer_limit: amount(&f["per_transfer_limit"]),
        daily_limit: amount(&f["daily_limit"]),
    };
    let cert = CardCert::issue(&issuer, card_id(&f["card_id"]), card_pub, profile);
    let bytes = cert.to_bytes();
    assert_eq!(bytes.len(), CardCert::LEN);
    assert_eq!(bytes, hex_of(&all["cert_bytes"]));
    assert_eq!(bytes, hex_of(&m["signed"]));
    let body = hex_of(&m["body"]);
    assert_eq!(&bytes[..body.len()], body.as_slice());
    assert_eq!(signing_input("cert", &body), hex_of(&m["signing_input"]));
    assert_eq!(cert.sig, Signature(arr(&m["signature"])));
    cert.verify(&issuer.public()).unwrap();
    // In JSON (POST /v1/cards) the certificate is an object with hex byte strings.
    let json = serde_json::to_value(&cert).unwrap();
    assert_eq!(json["card_id"], f["card_id"]);
    assert_eq!(json["card_pub"], f["card_pub"]);
    assert_eq!(json["sig"], m["signature"]);
    assert_eq!(json["profile"]["mode"], "personal");
    assert_eq!(json["profile"]["currency"], "EUR");
    assert_eq!(json["profile"]["balance_cap"], f["balance_cap"]);
    assert_eq!(
        json["profile"]["per_transfer_limit"],
        f["per_transfer_limit"]
    );
    assert_eq!(json["profile"]["daily_limit"], f["daily_limit"]);
}

#[test]
fn transfer_request_value_ack() {
    let all = vectors();
    let t = terms(&message(&all, "value")["fields"]);
    let _: Request = check(&all, "request", RequestBody(t), false);
    let value: Value = check(&all, "value", ValueBody(t), false);
    let ack: Ack = check(&all, "ack", AckBody(t), false);
    // A credit as the payee card keeps it: VALUE || ACK.
    let credit = Credit { value, ack };
    assert_eq!(credit.to_bytes(), hex_of(&all["credit"]["bytes"]));
    assert_eq!(Credit::parse(&credit.to_bytes()).unwrap(), credit);
}

#[test]
fn load_authorization_and_receipt() {
    let all = vectors();
    let f = &message(&all, "load")["fields"];
    assert_eq!(f["kind"], "bank");
    let _: LoadAuth = check(
        &all,
        "load",
        LoadAuthBody {
            card_id: card_id(&f["card_id"]),
            currency: Currency::EUR,
            amount: amount(&f["amount"]),
            load_seq: u32_of(&f["load_seq"]),
            kind: LoadKind::Bank,
            day: u32_of(&f["day"]),
        },
        true,
    );
    let f = &message(&all, "load-receipt")["fields"];
    let _: LoadReceipt = check(
        &all,
        "load-receipt",
        LoadReceiptBody {
            card_id: card_id(&f["card_id"]),
            currency: Currency::EUR,
            amount: amount(&f["amount"]),
            load_seq: u32_of(&f["load_seq"]),
            balance_after: amount(&f["balance_after"]),
        },
        false,
    );
}

#[test]
fn unload_proof_and_destination() {
    let all = vectors();
    let f = &message(&all, "unload")["fields"];
    let destination = destination_for_account(f["account"].as_str().unwrap());
    assert_eq!(destination, arr::<32>(&f["destination"]));
    let _: UnloadProof = check(
        &all,
        "unload",
        UnloadProofBody {
            card_id: card_id(&f["card_id"]),
            currency: Currency::EUR,
            amount: amount(&f["amount"]),
            unload_seq: u32_of(&f["unload_seq"]),
            destination,
        },
        false,
    );
}

#[test]
fn exception_record_and_clearance() {
    let all = vectors();
    let f = &message(&all, "exception")["fields"];
    let body: ExceptionRecordBody = serde_json::from_value(f.clone()).unwrap();
    let _: ExceptionRecord = check(&all, "exception", body, false);
    let f = &message(&all, "clear")["fields"];
    let _: ClearAuth = check(
        &all,
        "clear",
        ClearAuthBody {
            card_id: card_id(&f["card_id"]),
            ids: ids(&f["ids"]),
        },
        true,
    );
}

#[test]
fn settlement_clearance() {
    let all = vectors();
    let f = &message(&all, "settle")["fields"];
    let _: SettleAuth = check(
        &all,
        "settle",
        SettleAuthBody {
            card_id: card_id(&f["card_id"]),
            settled: ids(&f["settled"]),
            refused: ids(&f["refused"]),
        },
        true,
    );
}

#[test]
fn unlock_and_lock_report() {
    let all = vectors();
    let f = &message(&all, "unlock")["fields"];
    let _: UnlockAuth = check(
        &all,
        "unlock",
        UnlockAuthBody {
            card_id: card_id(&f["card_id"]),
            unlock_seq: u32_of(&f["unlock_seq"]),
            day: u32_of(&f["day"]),
        },
        true,
    );
    let f = &message(&all, "lock-report")["fields"];
    assert_eq!(f["reason"], "per_transfer_limit");
    let _: LockReport = check(
        &all,
        "lock-report",
        LockReportBody {
            card_id: card_id(&f["card_id"]),
            unlock_seq: u32_of(&f["unlock_seq"]),
            reason: LockReason::PerTransferLimit,
            day: u32_of(&f["day"]),
            balance: amount(&f["balance"]),
            spent_today: amount(&f["spent_today"]),
        },
        false,
    );
}

#[test]
fn purse_status() {
    let all = vectors();
    let v = &all["purse_status"];
    let status: PurseStatus = serde_json::from_value(v["fields"].clone()).unwrap();
    assert_eq!(status.to_bytes(), hex_of(&v["bytes"]));
    assert_eq!(status.to_bytes().len(), PurseStatus::LEN);
    assert_eq!(PurseStatus::parse(&hex_of(&v["bytes"])).unwrap(), status);
}
