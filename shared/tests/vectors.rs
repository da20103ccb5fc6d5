//! RFC 9474 Appendix A test vectors, run natively and (as wasm) in headless Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crypto_bigint::BoxedUint;
use ecash_shared::blind_rsa::{self, BlindingInverse, SecretKey, Variant};

const VECTORS: &str = include_str!("vectors/rfc9474.json");

struct Vector {
    name: String,
    p: Vec<u8>,
    q: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
    inv: Vec<u8>,
    msg: Vec<u8>,
    msg_prefix: Vec<u8>,
    input_msg: Vec<u8>,
    salt: Vec<u8>,
    s_len: usize,
    is_randomized: bool,
    blinded_msg: Vec<u8>,
    blind_sig: Vec<u8>,
    sig: Vec<u8>,
}

fn hex_field(v: &serde_json::Value, key: &str) -> Vec<u8> {
    let s = v[key].as_str().unwrap_or_else(|| panic!("missing {key}"));
    let s = s.strip_prefix("0x").unwrap_or(s);
    let s = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_owned()
    };
    hex::decode(s).unwrap()
}

fn vectors() -> Vec<Vector> {
    let all: Vec<serde_json::Value> = serde_json::from_str(VECTORS).unwrap();
    assert_eq!(all.len(), 4, "RFC 9474 Appendix A has four vectors");
    all.iter()
        .map(|v| Vector {
            name: v["name"].as_str().unwrap().to_owned(),
            p: hex_field(v, "p"),
            q: hex_field(v, "q"),
            n: hex_field(v, "n"),
            e: hex_field(v, "e"),
            inv: hex_field(v, "inv"),
            msg: hex_field(v, "msg"),
            msg_prefix: hex_field(v, "msg_prefix"),
            input_msg: hex_field(v, "input_msg"),
            salt: hex_field(v, "salt"),
            s_len: hex_field(v, "sLen")
                .iter()
                .fold(0usize, |a, &b| a * 256 + b as usize),
            is_randomized: hex_field(v, "is_randomized") == [1],
            blinded_msg: hex_field(v, "blinded_msg"),
            blind_sig: hex_field(v, "blind_sig"),
            sig: hex_field(v, "sig"),
        })
        .collect()
}

fn key_of(v: &Vector) -> SecretKey {
    SecretKey::from_primes(&v.p, &v.q, &v.e).unwrap()
}

/// r = inv⁻¹ mod n, at the key's precision (4096 bits).
fn r_of(v: &Vector) -> BoxedUint {
    let n = BoxedUint::from_be_slice(&v.n, 4096)
        .unwrap()
        .to_nz()
        .unwrap();
    let inv = BoxedUint::from_be_slice(&v.inv, 4096).unwrap();
    Option::from(inv.invert_mod(&n)).unwrap()
}

#[test]
fn every_vector_end_to_end() {
    for v in vectors() {
        let variant = Variant::from_name(&v.name).unwrap();
        assert_eq!(variant.salt_len(), v.s_len, "{}", v.name);
        assert_eq!(variant.is_randomized(), v.is_randomized, "{}", v.name);
        assert_eq!(v.salt.len(), v.s_len, "{}", v.name);

        let sk = key_of(&v);
        let pk = sk.public_key();
        assert_eq!(pk.bits(), 4096);
        // The public key from (n, e) is the same key.
        let pk_n = blind_rsa::PublicKey::from_components(&v.n, &v.e).unwrap();
        assert_eq!(&pk_n, pk);

        // Prepare (§4.1) with the vector's prefix.
        let prefix =
            (!v.msg_prefix.is_empty()).then(|| <[u8; 32]>::try_from(&v.msg_prefix[..]).unwrap());
        let prepared = blind_rsa::prepare_with_prefix(variant, &v.msg, prefix);
        assert_eq!(prepared.input_msg, v.input_msg, "{}: input_msg", v.name);

        // Blind (§4.2) with the vector's salt and r.
        let blinded = blind_rsa::blind_with(pk, &prepared.input_msg, &v.salt, &r_of(&v)).unwrap();
        assert_eq!(
            blinded.blinded_msg, v.blinded_msg,
            "{}: blinded_msg",
            v.name
        );
        assert_eq!(blinded.inv.as_bytes(), &v.inv[..], "{}: inv", v.name);

        // BlindSign (§4.3).
        let blind_sig = blind_rsa::blind_sign(&sk, &blinded.blinded_msg).unwrap();
        assert_eq!(blind_sig, v.blind_sig, "{}: blind_sig", v.name);

        // Finalize (§4.4), which verifies.
        let sig = blind_rsa::finalize(pk, variant, &v.input_msg, &blind_sig, &blinded.inv).unwrap();
        assert_eq!(sig, v.sig, "{}: sig", v.name);

        // Verify (§4.5).
        blind_rsa::verify(pk, variant, &v.input_msg, &v.sig).unwrap();
    }
}

#[test]
fn vector_inverse_restored_from_bytes_finalizes() {
    let v = &vectors()[0];
    let variant = Variant::from_name(&v.name).unwrap();
    let inv = BlindingInverse::from_bytes(&v.inv);
    let sig = blind_rsa::finalize(
        key_of(v).public_key(),
        variant,
        &v.input_msg,
        &v.blind_sig,
        &inv,
    )
    .unwrap();
    assert_eq!(sig, v.sig);
}

#[test]
fn flipped_bits_fail() {
    for v in vectors() {
        let variant = Variant::from_name(&v.name).unwrap();
        let sk = key_of(&v);
        let pk = sk.public_key();
        for bit in [0usize, 7, 1000, v.sig.len() * 8 - 1] {
            let mut sig = v.sig.clone();
            sig[bit / 8] ^= 1 << (bit % 8);
            assert!(
                blind_rsa::verify(pk, variant, &v.input_msg, &sig).is_err(),
                "{} sig bit {bit}",
                v.name
            );
            let mut blind_sig = v.blind_sig.clone();
            blind_sig[bit / 8] ^= 1 << (bit % 8);
            let inv = BlindingInverse::from_bytes(&v.inv);
            assert!(
                blind_rsa::finalize(pk, variant, &v.input_msg, &blind_sig, &inv).is_err(),
                "{} blind_sig bit {bit}",
                v.name
            );
        }
    }
}

#[test]
fn wrong_message_fails() {
    for v in vectors() {
        let variant = Variant::from_name(&v.name).unwrap();
        let pk = key_of(&v).public_key().clone();
        let mut msg = v.input_msg.clone();
        msg[0] ^= 0x80;
        assert!(
            blind_rsa::verify(&pk, variant, &msg, &v.sig).is_err(),
            "{}",
            v.name
        );
        assert!(blind_rsa::verify(&pk, variant, &v.msg, &v.sig).is_err() || !v.is_randomized);
        assert!(
            blind_rsa::verify(&pk, variant, b"", &v.sig).is_err(),
            "{}",
            v.name
        );
    }
}

#[test]
fn wrong_variant_fails() {
    for v in vectors() {
        let variant = Variant::from_name(&v.name).unwrap();
        let pk = key_of(&v).public_key().clone();
        for other in Variant::ALL {
            // Variants that differ only in randomization share the encoding: the
            // prefix is part of input_msg, so they verify the same bytes alike.
            if other.salt_len() != variant.salt_len() {
                assert!(
                    blind_rsa::verify(&pk, other, &v.input_msg, &v.sig).is_err(),
                    "{} verified as {}",
                    v.name,
                    other
                );
            }
        }
    }
}

#[test]
fn wrong_key_fails() {
    let vs = vectors();
    let v = &vs[0];
    let variant = Variant::from_name(&v.name).unwrap();
    let other = SecretKey::generate(2048).unwrap();
    assert!(blind_rsa::verify(other.public_key(), variant, &v.input_msg, &v.sig).is_err());
    // A signature by another key over the same message does not verify either.
    let prepared = blind_rsa::prepare(variant, &v.msg).unwrap();
    let blinded = blind_rsa::blind(other.public_key(), variant, &prepared.input_msg).unwrap();
    let blind_sig = blind_rsa::blind_sign(&other, &blinded.blinded_msg).unwrap();
    let sig = blind_rsa::finalize(
        other.public_key(),
        variant,
        &prepared.input_msg,
        &blind_sig,
        &blinded.inv,
    )
    .unwrap();
    assert!(blind_rsa::verify(key_of(v).public_key(), variant, &prepared.input_msg, &sig).is_err());
    // A 4096-bit blinded message is refused by a 2048-bit key (wrong length).
    let blinded_v = blind_rsa::blind(key_of(v).public_key(), variant, &prepared.input_msg).unwrap();
    assert!(blind_rsa::blind_sign(&other, &blinded_v.blinded_msg).is_err());
    // A blind signature by another key of the same size does not finalize.
    let third = SecretKey::generate(2048).unwrap();
    // (Re-blind until the blinded message is also below the third key's modulus.)
    let (blinded_o, wrong) = (0..64)
        .find_map(|_| {
            let b = blind_rsa::blind(other.public_key(), variant, &prepared.input_msg).unwrap();
            blind_rsa::blind_sign(&third, &b.blinded_msg)
                .ok()
                .map(|s| (b, s))
        })
        .unwrap();
    assert!(
        blind_rsa::finalize(
            other.public_key(),
            variant,
            &prepared.input_msg,
            &wrong,
            &blinded_o.inv
        )
        .is_err()
    );
}

#[test]
fn out_of_range_inputs_are_rejected() {
    let v = &vectors()[0];
    let sk = key_of(v);
    // blinded_msg >= n, wrong lengths.
    assert!(blind_rsa::blind_sign(&sk, &[0xff; 512]).is_err());
    assert!(blind_rsa::blind_sign(&sk, &v.n).is_err());
    assert!(blind_rsa::blind_sign(&sk, &v.blinded_msg[1..]).is_err());
    assert!(blind_rsa::blind_sign(&sk, &[]).is_err());
    // Keys outside 2048..=4096 bits.
    assert!(SecretKey::generate(1024).is_err());
    assert!(blind_rsa::PublicKey::from_components(&v.n[..128], &v.e).is_err());
}

#[test]
fn fresh_round_trip_every_variant_2048() {
    let sk = SecretKey::generate(2048).unwrap();
    let pk = blind_rsa::PublicKey::from_der(&sk.public_key().to_der().unwrap()).unwrap();
    for variant in Variant::ALL {
        let prepared = blind_rsa::prepare(variant, b"coin public key").unwrap();
        assert_eq!(prepared.msg_prefix.is_some(), variant.is_randomized());
        let blinded = blind_rsa::blind(&pk, variant, &prepared.input_msg).unwrap();
        let blind_sig = blind_rsa::blind_sign(&sk, &blinded.blinded_msg).unwrap();
        let sig = blind_rsa::finalize(&pk, variant, &prepared.input_msg, &blind_sig, &blinded.inv)
            .unwrap();
        blind_rsa::verify(&pk, variant, &prepared.input_msg, &sig).unwrap();
        // Blinding is randomized: the same message blinds differently each time.
        let again = blind_rsa::blind(&pk, variant, &prepared.input_msg).unwrap();
        assert_ne!(again.blinded_msg, blinded.blinded_msg);
    }
    // PKCS#8 round trip of the secret key.
    let der = sk.to_pkcs8_der().unwrap();
    let sk2 = SecretKey::from_pkcs8_der(&der).unwrap();
    assert_eq!(sk2.public_key(), sk.public_key());
}

#[test]
fn own_verifier_agrees_with_rsa_crate() {
    let sk = SecretKey::generate(2048).unwrap();
    let pk = sk.public_key();
    for variant in Variant::ALL {
        let prepared = blind_rsa::prepare(variant, b"agreement").unwrap();
        let b = blind_rsa::blind(pk, variant, &prepared.input_msg).unwrap();
        let bs = blind_rsa::blind_sign(&sk, &b.blinded_msg).unwrap();
        let sig = blind_rsa::finalize(pk, variant, &prepared.input_msg, &bs, &b.inv).unwrap();
        let mut cases = vec![
            sig.clone(),
            bs.clone(),
            vec![0u8; sig.len()],
            vec![0xff; sig.len()],
        ];
        for bit in (0..sig.len() * 8).step_by(97) {
            let mut s = sig.clone();
            s[bit / 8] ^= 1 << (bit % 8);
            cases.push(s);
        }
        for other in Variant::ALL {
            for s in &cases {
                assert_eq!(
                    blind_rsa::verify(pk, other, &prepared.input_msg, s).is_ok(),
                    blind_rsa::verify_with_rsa_crate(pk, other, &prepared.input_msg, s).is_ok(),
                    "{variant} signature checked as {other}"
                );
            }
        }
    }
}

#[test]
fn blind_many_matches_blind() {
    let sk = SecretKey::generate(2048).unwrap();
    let pk = sk.public_key();
    for variant in Variant::ALL {
        let prepared: Vec<_> = (0..5u8)
            .map(|i| blind_rsa::prepare(variant, &[i; 32]).unwrap())
            .collect();
        let msgs: Vec<&[u8]> = prepared.iter().map(|p| p.input_msg.as_slice()).collect();
        let blinded = blind_rsa::blind_many(pk, variant, &msgs).unwrap();
        assert_eq!(blinded.len(), 5);
        for (p, b) in prepared.iter().zip(&blinded) {
            let bs = blind_rsa::blind_sign(&sk, &b.blinded_msg).unwrap();
            blind_rsa::finalize(pk, variant, &p.input_msg, &bs, &b.inv).unwrap();
        }
    }
    assert!(
        blind_rsa::blind_many(pk, Variant::ALL[0], &[])
            .unwrap()
            .is_empty()
    );
}
