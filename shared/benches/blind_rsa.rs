//! RFC 9474 operations per key size: the client's blind and finalize, the
//! bank's blind_sign, and anyone's verify. `scripts/bench-crypto.sh` runs this
//! next to `openssl speed` and prints the ratios.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use ecash_shared::blind_rsa::{self, SecretKey, Variant};
use std::hint::black_box;

fn bench_size(c: &mut Criterion, bits: usize) {
    let variant = Variant::Sha384PssRandomized;
    let sk = SecretKey::generate(bits).unwrap();
    let pk = sk.public_key().clone();
    let prepared = blind_rsa::prepare(variant, &[7u8; 32]).unwrap();
    let blinded = blind_rsa::blind(&pk, variant, &prepared.input_msg).unwrap();
    let blind_sig = blind_rsa::blind_sign(&sk, &blinded.blinded_msg).unwrap();
    let sig =
        blind_rsa::finalize(&pk, variant, &prepared.input_msg, &blind_sig, &blinded.inv).unwrap();

    let mut g = c.benchmark_group(format!("rsa{bits}"));
    g.bench_function("blind", |b| {
        b.iter(|| blind_rsa::blind(&pk, variant, black_box(&prepared.input_msg)).unwrap())
    });
    g.bench_function("blind_sign", |b| {
        b.iter(|| blind_rsa::blind_sign(&sk, black_box(&blinded.blinded_msg)).unwrap())
    });
    g.bench_function("finalize", |b| {
        b.iter(|| {
            blind_rsa::finalize(
                &pk,
                variant,
                &prepared.input_msg,
                black_box(&blind_sig),
                &blinded.inv,
            )
            .unwrap()
        })
    });
    g.bench_function("verify", |b| {
        b.iter(|| blind_rsa::verify(&pk, variant, &prepared.input_msg, black_box(&sig)).unwrap())
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_size(c, 2048);
    bench_size(c, 3072);
}

criterion_group! {
    name = blind_rsa_benches;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(blind_rsa_benches);
