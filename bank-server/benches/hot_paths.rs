//! Hot paths of the bank: blind signing on each backend, and the per-coin
//! checks of a spend (denomination signature + coin signature).
//! `cargo bench -p bank-server --bench hot_paths`; CI runs it in quick mode.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use bank_server::signer::{SignerBackend, make_signer};
use criterion::{Criterion, criterion_group, criterion_main};
use ecash_shared::blind_rsa::{self, SecretKey};
use ecash_shared::coin::PlanchetSecrets;
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency, Keyset, KeysetId, SpendMessage};

fn benches(c: &mut Criterion) {
    let sk = SecretKey::generate(2048).unwrap();
    let der = sk.to_pkcs8_der().unwrap();
    let pk = sk.public_key().clone();
    let keyset = Keyset {
        id: KeysetId::of_der(&pk.to_der().unwrap()),
        value: Amount::from_minor(1),
        currency: Currency::EUR,
        public_key: pk,
        withdraw_until: Timestamp::from_unix(i64::MAX / 2),
        deposit_until: Timestamp::from_unix(i64::MAX / 2),
    };
    let planchet = PlanchetSecrets::create(&keyset).unwrap();
    let blinded = planchet.blinded.blinded_msg.0.clone();
    let mut g = c.benchmark_group("bank");
    for backend in [SignerBackend::Openssl, SignerBackend::Rust] {
        let signer = make_signer(
            std::sync::Arc::new(SecretKey::from_pkcs8_der(&der).unwrap()),
            backend,
        )
        .unwrap();
        g.bench_function(format!("blind_sign_{backend:?}").to_lowercase(), |b| {
            b.iter(|| signer.blind_sign(black_box(&blinded)).unwrap())
        });
    }
    let sig = blind_rsa::blind_sign(&sk, &blinded).unwrap();
    let coin = planchet.finish(&keyset, &sig).unwrap();
    let msg = SpendMessage::Deposit {
        account: "alice".into(),
    };
    let coin_sig = planchet.secret.sign(&msg);
    g.bench_function("verify_coin", |b| {
        b.iter(|| {
            assert!(black_box(&coin).verify_denomination(&keyset));
            assert!(coin.coin_pub.verify(&msg, black_box(&coin_sig)));
        })
    });
    g.finish();
}

criterion_group! {
    name = hot_paths;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(hot_paths);
