//! The byte layouts of `docs/protocol.md`, checked against stored vectors.
//!
//! The JSON files in `tests/vectors/protocol/` were written once by
//! `make_vectors.py` there, a second implementation of the layouts (Python, following
//! `docs/protocol.md`, sharing no code with this crate); these tests compare the Rust code's bytes, hashes and
//! signatures with the stored values, so a change in a layout fails here.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crypto_bigint::BoxedUint;
use ecash_shared::api::{
    Contract, DepositRequest, PayRequest, Receipt, RefundClaimRequest, SwapRequest,
};
use ecash_shared::blind_rsa::{self, BlindingInverse, SecretKey};
use ecash_shared::coin::{BlindedCoin, hash_outputs};
use ecash_shared::encoding::b64_decode;
use ecash_shared::{Coin, CoinSecret, CoinSig, Currency, Keyset, KeysetInfo};
use ecash_shared::{KeysetId, SpendMessage};
use serde_json::Value;

fn load(name: &str) -> Value {
    let text = match name {
        "coin" => include_str!("vectors/protocol/coin.json"),
        "contract" => include_str!("vectors/protocol/contract.json"),
        "outputs_hash" => include_str!("vectors/protocol/outputs_hash.json"),
        "spend_messages" => include_str!("vectors/protocol/spend_messages.json"),
        "requests" => include_str!("vectors/protocol/requests.json"),
        "receipt" => include_str!("vectors/protocol/receipt.json"),
        "token" => include_str!("vectors/protocol/token.json"),
        other => panic!("no vector file {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn hex_of(v: &Value) -> Vec<u8> {
    let s = v.as_str().expect("a hex string");
    let s = s.strip_prefix("0x").unwrap_or(s);
    let s = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_owned()
    };
    hex::decode(s).unwrap()
}

fn arr32(v: &Value) -> [u8; 32] {
    hex_of(v).try_into().unwrap()
}

fn coin_secret() -> CoinSecret {
    CoinSecret::from_bytes(&arr32(&load("spend_messages")["coin_seed"]))
}

#[test]
fn keyset_id_is_sha256_of_the_der_key() {
    let v = load("coin");
    let info: KeysetInfo = serde_json::from_value(v["keyset"].clone()).unwrap();
    assert_eq!(info.id, KeysetId(arr32(&v["keyset_id_hex"])));
    assert_eq!(KeysetId::of_der(info.public_key.as_slice()), info.id);
    let keyset = Keyset::from_info(&info, Currency::EUR).unwrap();
    assert_eq!(keyset.public_key.to_der().unwrap(), info.public_key.0);
}

#[test]
fn withdrawal_blinds_signs_and_finalizes_to_the_stored_coin() {
    let v = load("coin");
    let info: KeysetInfo = serde_json::from_value(v["keyset"].clone()).unwrap();
    let keyset = Keyset::from_info(&info, Currency::EUR).unwrap();
    let pk = &keyset.public_key;

    // The coin key and the message the bank blind-signs: msg_prefix || coin_pub.
    let secret = CoinSecret::from_bytes(&arr32(&v["coin_seed"]));
    assert_eq!(secret.coin_pub().to_bytes(), arr32(&v["coin_pub"]));
    let prefix = arr32(&v["msg_prefix"]);
    let prepared = blind_rsa::prepare_with_prefix(
        ecash_shared::COIN_VARIANT,
        secret.coin_pub().as_bytes(),
        Some(prefix),
    );
    assert_eq!(prepared.input_msg, hex_of(&v["input_msg"]));

    // Blind with the stored salt and r.
    let r = BoxedUint::from_be_slice(&hex_of(&v["r"]), pk.bits() as u32).unwrap();
    let blinded = blind_rsa::blind_with(pk, &prepared.input_msg, &hex_of(&v["salt"]), &r).unwrap();
    assert_eq!(blinded.blinded_msg, hex_of(&v["blinded_msg"]));
    assert_eq!(blinded.inv.as_bytes(), hex_of(&v["inv"]));

    // The bank's blind signature (raw RSA: deterministic) and the unblinded one.
    let k = &v["rsa_key"];
    let sk = SecretKey::from_primes(&hex_of(&k["p"]), &hex_of(&k["q"]), &hex_of(&k["e"])).unwrap();
    assert_eq!(sk.public_key().to_der().unwrap(), info.public_key.0);
    let blind_sig = blind_rsa::blind_sign(&sk, &blinded.blinded_msg).unwrap();
    assert_eq!(blind_sig, hex_of(&v["blind_sig"]));
    let inv = BlindingInverse::from_bytes(&hex_of(&v["inv"]));
    let sig = blind_rsa::finalize(
        pk,
        ecash_shared::COIN_VARIANT,
        &prepared.input_msg,
        &blind_sig,
        &inv,
    )
    .unwrap();
    assert_eq!(sig, hex_of(&v["sig"]));

    // The coin as it goes on the wire.
    let coin: Coin = serde_json::from_value(v["coin"].clone()).unwrap();
    assert_eq!(coin.keyset_id, info.id);
    assert_eq!(coin.coin_pub, secret.coin_pub());
    assert_eq!(coin.msg_prefix, prefix);
    assert_eq!(coin.sig.0, sig);
    assert_eq!(coin.input_msg(), prepared.input_msg);
    assert!(coin.verify_denomination(&keyset));
    assert_eq!(serde_json::to_value(&coin).unwrap(), v["coin"]);
}

#[test]
fn contract_hash_covers_the_canonical_encoding() {
    let v = load("contract");
    let contract: Contract = serde_json::from_value(v["contract"].clone()).unwrap();
    let hash = arr32(&v["contract_hash"]);
    assert_eq!(contract.contract_hash, hash);
    assert_eq!(contract.compute_hash(), hash);
    assert!(contract.hash_is_valid());
    // The stored pre-image is what the hash covers.
    use sha2::{Digest, Sha256};
    assert_eq!(
        <[u8; 32]>::from(Sha256::digest(hex_of(&v["preimage"]))),
        hash
    );
    // Any field changed changes the hash.
    let mut other = contract.clone();
    other.summary.push('.');
    assert!(!other.hash_is_valid());
    assert_eq!(serde_json::to_value(&contract).unwrap(), v["contract"]);
}

#[test]
fn outputs_hash_covers_keysets_and_blinded_messages_in_order() {
    let v = load("outputs_hash");
    let outputs: Vec<BlindedCoin> = serde_json::from_value(v["outputs"].clone()).unwrap();
    assert_eq!(hash_outputs(&outputs), arr32(&v["outputs_hash"]));
    let reversed: Vec<BlindedCoin> = outputs.iter().rev().cloned().collect();
    assert_ne!(hash_outputs(&reversed), arr32(&v["outputs_hash"]));
}

fn spend_message(case: &Value) -> SpendMessage {
    match case["purpose"].as_str().unwrap() {
        "pay" => SpendMessage::Pay {
            contract_hash: arr32(&case["contract_hash"]),
        },
        "deposit" => SpendMessage::Deposit {
            account: case["account"].as_str().unwrap().to_owned(),
        },
        "swap" => SpendMessage::Swap {
            outputs_hash: arr32(&case["outputs_hash"]),
        },
        "refund" => SpendMessage::Refund {
            order_id: case["order_id"].as_str().unwrap().to_owned(),
            outputs_hash: arr32(&case["outputs_hash"]),
        },
        other => panic!("unknown purpose {other}"),
    }
}

#[test]
fn spend_messages_and_coin_signatures_match_the_vectors() {
    let v = load("spend_messages");
    let secret = coin_secret();
    assert_eq!(secret.coin_pub().to_bytes(), arr32(&v["coin_pub"]));
    let cases = v["cases"].as_array().unwrap();
    let purposes: Vec<&str> = cases
        .iter()
        .map(|c| c["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(purposes, ["pay", "deposit", "swap", "refund"]);
    for case in cases {
        let msg = spend_message(case);
        assert_eq!(msg.to_bytes(), hex_of(&case["message"]), "{case}");
        let sig = CoinSig(hex_of(&case["coin_sig"]).try_into().unwrap());
        assert_eq!(secret.sign(&msg), sig, "{case}");
        assert!(secret.coin_pub().verify(&msg, &sig));
    }
    // The pay and swap vectors are built on the contract and outputs vectors.
    assert_eq!(cases[0]["contract_hash"], load("contract")["contract_hash"]);
    assert_eq!(
        cases[2]["outputs_hash"],
        load("outputs_hash")["outputs_hash"]
    );
}

#[test]
fn request_bodies_carry_signatures_the_bank_accepts() {
    let v = load("requests");
    let contract_hash = arr32(&load("contract")["contract_hash"]);
    let account = v["account"].as_str().unwrap().to_owned();
    let order_id = v["order_id"].as_str().unwrap().to_owned();

    let pay: PayRequest = serde_json::from_value(v["pay"].clone()).unwrap();
    let msg = SpendMessage::Pay { contract_hash };
    for c in &pay.coins {
        assert!(c.coin.coin_pub.verify(&msg, &c.coin_sig));
    }

    let deposit: DepositRequest = serde_json::from_value(v["deposit"].clone()).unwrap();
    let msg = SpendMessage::Deposit { account };
    for c in &deposit.coins {
        assert!(c.coin.coin_pub.verify(&msg, &c.coin_sig));
    }

    let swap: SwapRequest = serde_json::from_value(v["swap"].clone()).unwrap();
    let outputs_hash = hash_outputs(&swap.outputs);
    let msg = SpendMessage::Swap { outputs_hash };
    for c in &swap.inputs {
        assert!(c.coin.coin_pub.verify(&msg, &c.coin_sig));
    }

    let claim: RefundClaimRequest = serde_json::from_value(v["refund_claim"].clone()).unwrap();
    let msg = SpendMessage::Refund {
        order_id,
        outputs_hash: hash_outputs(&claim.outputs),
    };
    for (coin_pub, sig) in claim.coin_pubs.iter().zip(&claim.sigs) {
        assert!(coin_pub.verify(&msg, sig));
    }
    // A signature for one purpose is refused for another.
    let wrong = SpendMessage::Swap { outputs_hash };
    assert!(
        !pay.coins[0]
            .coin
            .coin_pub
            .verify(&wrong, &pay.coins[0].coin_sig)
    );
}

#[test]
fn receipt_bytes_and_bank_signature_match_the_vectors() {
    let v = load("receipt");
    let receipt: Receipt = serde_json::from_value(v["receipt"].clone()).unwrap();
    let bytes = Receipt::signed_bytes(
        &receipt.order_id,
        &receipt.contract_hash,
        receipt.amount,
        receipt.paid_at,
    );
    assert_eq!(bytes, hex_of(&v["signed_bytes"]));
    let receipt_key = arr32(&v["receipt_key"]);
    assert!(receipt.verify(&receipt_key));
    use ed25519_dalek::Signer;
    let key = ed25519_dalek::SigningKey::from_bytes(&arr32(&v["receipt_key_seed"]));
    assert_eq!(key.verifying_key().to_bytes(), receipt_key);
    assert_eq!(key.sign(&bytes).to_bytes(), receipt.bank_sig);
    let mut forged = receipt.clone();
    forged.amount = ecash_shared::Amount::from_minor(251);
    assert!(!forged.verify(&receipt_key));
}

/// The send token's layout (the wallet's `token.rs`) carries the coin of `coin.json`
/// and its secret (the wallet's decoder itself is not run here: `ecash-shared` cannot
/// depend on the wallet).
#[test]
fn token_vector_carries_the_coin_and_its_secret() {
    let v = load("token");
    let coin: Coin = serde_json::from_value(load("coin")["coin"].clone()).unwrap();
    let token = v["token"].as_str().unwrap();
    let bytes = b64_decode(token.strip_prefix("ecash:").unwrap()).unwrap();
    assert_eq!(bytes, hex_of(&v["bytes"]));
    let url = v["bank_url"].as_str().unwrap().as_bytes();
    let mut expected = vec![1u8];
    expected.extend_from_slice(&(url.len() as u16).to_be_bytes());
    expected.extend_from_slice(url);
    expected.extend_from_slice(&1u16.to_be_bytes());
    expected.extend_from_slice(&coin.keyset_id.0);
    expected.extend_from_slice(coin_secret().to_bytes().as_ref());
    expected.extend_from_slice(&coin.msg_prefix);
    expected.extend_from_slice(&(coin.sig.0.len() as u16).to_be_bytes());
    expected.extend_from_slice(&coin.sig.0);
    assert_eq!(bytes, expected);
    assert_eq!(coin_secret().coin_pub(), coin.coin_pub);
}
