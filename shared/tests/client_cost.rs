//! Client cost per coin (blind + finalize, which verifies) in headless Chromium.
//! A benchmark, not a test: it asserts nothing about time and prints its
//! measurements. Run with `make bench-wallet` (release build).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::blind_rsa::{self, SecretKey, Variant};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const N: usize = 128;

fn measure(label: &str, batch: usize) {
    let sk = SecretKey::generate(2048).unwrap();
    let pk = sk.public_key().clone();
    let variant = Variant::Sha384PssRandomized;
    let prepared: Vec<_> = (0..N)
        .map(|i| blind_rsa::prepare(variant, &[i as u8; 32]).unwrap())
        .collect();
    let t0 = js_sys::Date::now();
    let mut blinded = Vec::with_capacity(N);
    for chunk in prepared.chunks(batch) {
        let msgs: Vec<&[u8]> = chunk.iter().map(|p| p.input_msg.as_slice()).collect();
        blinded.extend(blind_rsa::blind_many(&pk, variant, &msgs).unwrap());
    }
    let t1 = js_sys::Date::now();
    let sigs: Vec<_> = blinded
        .iter()
        .map(|b| blind_rsa::blind_sign(&sk, &b.blinded_msg).unwrap())
        .collect();
    let t2 = js_sys::Date::now();
    for ((p, b), s) in prepared.iter().zip(&blinded).zip(&sigs) {
        blind_rsa::finalize(&pk, variant, &p.input_msg, s, &b.inv).unwrap();
    }
    let t3 = js_sys::Date::now();
    let per = |a: f64, b: f64| (b - a) * 1000.0 / N as f64;
    console_log!(
        "BENCH client_cost rsa2048 {label} batch={batch} coins={N} blind_us={:.0} finalize_us={:.0} client_total_us={:.0}",
        per(t0, t1),
        per(t2, t3),
        per(t0, t1) + per(t2, t3),
    );
}

#[wasm_bindgen_test]
fn client_cost_per_coin_rsa2048() {
    // One coin per key (a small withdrawal: every coin a different denomination).
    measure("single", 1);
    // Many coins of one denomination (a large withdrawal), 16 per inversion.
    measure("batched", 16);
}
