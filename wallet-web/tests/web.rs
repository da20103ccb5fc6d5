//! Browser tests of the wallet's crypto path in headless Chromium.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::blind_rsa::SecretKey;
use ecash_shared::coin::{PlanchetSecrets, SpendMessage};
use ecash_shared::encoding::{Bytes, Timestamp};
use ecash_shared::keyset::{Keyset, KeysetId};
use ecash_shared::{Amount, Currency};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn keyset(sk: &SecretKey) -> Keyset {
    let der = sk.public_key().to_der().unwrap();
    Keyset {
        id: KeysetId::of_der(&der),
        value: Amount::from_minor(4),
        currency: Currency::EUR,
        public_key: sk.public_key().clone(),
        withdraw_until: Timestamp::from_unix(i64::MAX / 2),
        deposit_until: Timestamp::from_unix(i64::MAX / 2),
    }
}

#[wasm_bindgen_test]
fn coin_is_created_blinded_signed_and_unblinded_in_the_browser() {
    let sk = SecretKey::generate(2048).unwrap();
    let ks = keyset(&sk);
    let planchet = PlanchetSecrets::create(&ks).unwrap();
    let blind_sig =
        ecash_shared::blind_rsa::blind_sign(&sk, planchet.blinded.blinded_msg.as_slice()).unwrap();
    let coin = planchet.finish(&ks, &blind_sig).unwrap();
    assert!(coin.verify_denomination(&ks));
    let msg = SpendMessage::Deposit {
        account: "alice".into(),
    };
    assert!(coin.coin_pub.verify(&msg, &planchet.secret.sign(&msg)));
    // A tampered signature is refused by finish.
    let mut bad = blind_sig.clone();
    bad[10] ^= 1;
    assert!(planchet.finish(&ks, &bad).is_err());
    let _ = Bytes::default();
}
