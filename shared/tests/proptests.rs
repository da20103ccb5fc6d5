//! Property tests: wire round trips, checked amount arithmetic, denomination splits.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::api::{BlindSignaturesResponse, SpendCoin, SwapRequest, WithdrawRequest};
use ecash_shared::coin::{BlindedCoin, Coin, CoinSecret, CoinSig, SpendMessage};
use ecash_shared::denom::{powers_of_two, split, split_total};
use ecash_shared::encoding::{Bytes, Timestamp, b64_decode, b64_encode};
use ecash_shared::keyset::KeysetId;
use ecash_shared::{Amount, AmountError};
use proptest::prelude::*;

fn coin_from(seed: [u8; 32], ks: [u8; 32], prefix: [u8; 32], sig: Vec<u8>) -> Coin {
    Coin {
        keyset_id: KeysetId(ks),
        coin_pub: CoinSecret::from_bytes(&seed).coin_pub(),
        msg_prefix: prefix,
        sig: Bytes(sig),
    }
}

proptest! {
    #[test]
    fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let s = b64_encode(&bytes);
        prop_assert!(!s.contains('='));
        prop_assert_eq!(b64_decode(&s).unwrap(), bytes);
    }

    #[test]
    fn amount_add_sub_are_checked(a in any::<u64>(), b in any::<u64>()) {
        let (x, y) = (Amount::from_minor(a), Amount::from_minor(b));
        match a.checked_add(b) {
            Some(s) => prop_assert_eq!(x.checked_add(y), Ok(Amount::from_minor(s))),
            None => prop_assert_eq!(x.checked_add(y), Err(AmountError::Overflow)),
        }
        match a.checked_sub(b) {
            Some(d) => prop_assert_eq!(x.checked_sub(y), Ok(Amount::from_minor(d))),
            None => prop_assert_eq!(x.checked_sub(y), Err(AmountError::Underflow)),
        }
    }

    #[test]
    fn amount_sum_never_wraps(items in proptest::collection::vec(any::<u64>(), 0..20)) {
        let exact: u128 = items.iter().map(|&v| u128::from(v)).sum();
        let got = Amount::checked_sum(items.iter().copied().map(Amount::from_minor));
        if exact <= u128::from(u64::MAX) {
            prop_assert_eq!(got.unwrap().minor() as u128, exact);
        } else {
            prop_assert_eq!(got, Err(AmountError::Overflow));
        }
    }

    #[test]
    fn amounts_json_round_trip(a in any::<u64>()) {
        let json = serde_json::to_string(&Amount::from_minor(a)).unwrap();
        prop_assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), Amount::from_minor(a));
    }

    #[test]
    fn split_sums_to_amount_power_of_two(amount in 0u64..10_000_000, max_exp in 0u32..20) {
        let denoms = powers_of_two(Amount::from_minor(1 << max_exp));
        let s = split(Amount::from_minor(amount), &denoms).unwrap();
        prop_assert_eq!(split_total(&s), Some(Amount::from_minor(amount)));
        // Minimal: below the top denomination each value appears at most once.
        for &(d, n) in &s {
            if d.minor() < (1 << max_exp) { prop_assert!(n <= 1); }
        }
    }

    #[test]
    fn split_of_irregular_sets_is_minimal(amount in 0u64..400, extra in proptest::collection::btree_set(2u64..20, 1..4)) {
        let mut denoms: Vec<Amount> = extra.iter().copied().map(Amount::from_minor).collect();
        denoms.push(Amount::from_minor(1));
        let s = split(Amount::from_minor(amount), &denoms).unwrap();
        prop_assert_eq!(split_total(&s), Some(Amount::from_minor(amount)));
        // Compare the coin count with a brute-force DP.
        let mut best = vec![u64::MAX; amount as usize + 1];
        best[0] = 0;
        for v in 1..=amount as usize {
            for d in &denoms {
                let d = d.minor() as usize;
                if d <= v && best[v - d] != u64::MAX { best[v] = best[v].min(best[v - d] + 1); }
            }
        }
        prop_assert_eq!(s.iter().map(|&(_, n)| n).sum::<u64>(), best[amount as usize]);
    }

    #[test]
    fn timestamps_round_trip(secs in -62_000_000_000i64..250_000_000_000i64) {
        let t = Timestamp::from_unix(secs);
        let json = serde_json::to_string(&t).unwrap();
        prop_assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn wire_messages_round_trip(
        seed in any::<[u8; 32]>(),
        ks in any::<[u8; 32]>(),
        prefix in any::<[u8; 32]>(),
        sig in proptest::collection::vec(any::<u8>(), 0..300),
        blinded in proptest::collection::vec(any::<u8>(), 0..300),
        coin_sig in proptest::collection::vec(any::<u8>(), 64),
        request_id in "[A-Za-z0-9_-]{0,40}",
    ) {
        let coin = coin_from(seed, ks, prefix, sig.clone());
        let spend = SpendCoin { coin: coin.clone(), coin_sig: CoinSig(coin_sig.try_into().unwrap()) };
        let out = BlindedCoin { keyset_id: KeysetId(ks), blinded_msg: Bytes(blinded.clone()) };
        let swap = SwapRequest { inputs: vec![spend.clone(), spend], outputs: vec![out.clone()] };
        let json = serde_json::to_string(&swap).unwrap();
        prop_assert_eq!(serde_json::from_str::<SwapRequest>(&json).unwrap(), swap);
        let w = WithdrawRequest { request_id, coins: vec![out] };
        let json = serde_json::to_string(&w).unwrap();
        prop_assert_eq!(serde_json::from_str::<WithdrawRequest>(&json).unwrap(), w);
        let r = BlindSignaturesResponse { blind_sigs: vec![Bytes(blinded), Bytes(sig)] };
        let json = serde_json::to_string(&r).unwrap();
        prop_assert_eq!(serde_json::from_str::<BlindSignaturesResponse>(&json).unwrap(), r);
    }

    #[test]
    fn coin_signatures_bind_the_message(seed in any::<[u8; 32]>(), h in any::<[u8; 32]>(), other in any::<[u8; 32]>()) {
        prop_assume!(h != other);
        let secret = CoinSecret::from_bytes(&seed);
        let pay = SpendMessage::Pay { contract_hash: h };
        let pay_other = SpendMessage::Pay { contract_hash: other };
        let swap = SpendMessage::Swap { outputs_hash: h };
        let sig = secret.sign(&pay);
        prop_assert!(secret.coin_pub().verify(&pay, &sig));
        prop_assert!(!secret.coin_pub().verify(&pay_other, &sig));
        prop_assert!(!secret.coin_pub().verify(&swap, &sig));
    }
}

#[test]
fn unknown_fields_are_rejected() {
    let ok = r#"{"request_id":"abc","coins":[]}"#;
    assert!(serde_json::from_str::<WithdrawRequest>(ok).is_ok());
    let extra = r#"{"request_id":"abc","coins":[],"admin":true}"#;
    assert!(serde_json::from_str::<WithdrawRequest>(extra).is_err());
    let nested = r#"{"request_id":"abc","coins":[{"keyset_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","blinded_msg":"","x":1}]}"#;
    assert!(serde_json::from_str::<WithdrawRequest>(nested).is_err());
}
