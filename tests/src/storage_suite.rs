//! One test suite for the `Storage` trait, run against every backend with
//! [`storage_test_suite!`](crate::storage_test_suite): give it a module name
//! and a constructor returning a [`Fixture`]. A PostgreSQL backend runs the
//! same cases unchanged.
//!
//! The coins used are real (a real RSA keyset, real coin signatures), so the
//! audit over the backend must come out clean.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::any::Any;
use std::sync::{Arc, OnceLock};

use bank_server::keys::{KeyPair, generate_keysets};
use bank_server::storage::{
    AccountId, DepositInto, KeysetRecord, NewAccount, NewOrder, NewRefund, NewRefundClaim,
    NewWithdrawal, OrderPayment, RefundClaimOutcome, RefundOutcome, SpendRequest, SpentCoin,
    Storage, StorageError, StoredPayment, SwapOutcome, SwapOutputs, WithdrawOutcome,
};
use ecash_shared::api::LedgerKind;
use ecash_shared::encoding::Timestamp;
use ecash_shared::{Amount, Currency, Keyset, KeysetId, SpendMessage};

use crate::client::OwnedCoin;
use crate::server::mint_with;

/// A backend under test and whatever must live as long as it (a temp dir).
pub struct Fixture {
    pub storage: Arc<dyn Storage>,
    pub keep: Vec<Box<dyn Any + Send>>,
}

/// Runs the suite's cases as `#[test]`s against a backend constructor.
#[macro_export]
macro_rules! storage_test_suite {
    ($name:ident, $make:expr) => {
        mod $name {
            use $crate::storage_suite as suite;
            fn make() -> suite::Fixture {
                ($make)()
            }
            #[test]
            fn cards_load_and_unload_within_the_bank_side_balance() {
                $crate::storage_suite_cards::cards_load_and_unload_within_the_bank_side_balance(
                    &*make().storage,
                );
            }
            #[test]
            fn cards_settle_once_and_book_over_spenders() {
                $crate::storage_suite_cards::cards_settle_once_and_book_over_spenders(
                    &*make().storage,
                );
            }
            #[test]
            fn cards_recovery_is_bounded_by_the_bank_side_balance() {
                $crate::storage_suite_cards::cards_recovery_is_bounded_by_the_bank_side_balance(
                    &*make().storage,
                );
            }
            #[test]
            fn cards_concurrent_settlements_count_once() {
                $crate::storage_suite_cards::cards_concurrent_settlements_count_once(
                    make().storage,
                );
            }
            #[test]
            fn keysets() {
                suite::keysets(&*make().storage);
            }
            #[test]
            fn accounts() {
                suite::accounts(&*make().storage);
            }
            #[test]
            fn sessions() {
                suite::sessions(&*make().storage);
            }
            #[test]
            fn credit_payout_history() {
                suite::credit_payout_history(&*make().storage);
            }
            #[test]
            fn withdraw_idempotency() {
                suite::withdraw_idempotency(&*make().storage);
            }
            #[test]
            fn deposit_spends_all_or_nothing() {
                suite::deposit_spends_all_or_nothing(&*make().storage);
            }
            #[test]
            fn swap_replay_and_reuse() {
                suite::swap_replay_and_reuse(&*make().storage);
            }
            #[test]
            fn concurrent_spends_one_wins() {
                suite::concurrent_spends_one_wins(make().storage);
            }
            #[test]
            fn audit_of_a_busy_day_is_clean() {
                suite::audit_of_a_busy_day_is_clean(&*make().storage);
            }
            #[test]
            fn merchant_accounts_and_orders() {
                suite::merchant_accounts_and_orders(&*make().storage);
            }
            #[test]
            fn order_payment_refund_and_claim() {
                suite::order_payment_refund_and_claim(&*make().storage);
            }
            #[test]
            fn concurrent_payments_of_one_order_one_wins() {
                suite::concurrent_payments_of_one_order_one_wins(make().storage);
            }
            #[test]
            fn audit_catches_bad_order_payments() {
                suite::audit_catches_bad_order_payments(&*make().storage);
            }
        }
    };
}

const EUR: Currency = Currency::EUR;

fn t(s: i64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + s)
}

fn a(v: u64) -> Amount {
    Amount::from_minor(v)
}

/// One real keyset of value 8, generated once per test binary.
fn test_keyset() -> &'static KeyPair {
    static K: OnceLock<KeyPair> = OnceLock::new();
    K.get_or_init(|| {
        generate_keysets(EUR, &[a(8)], t(1_000_000), t(2_000_000))
            .unwrap()
            .remove(0)
    })
}

fn keyset() -> Keyset {
    let r = &test_keyset().record;
    Keyset {
        id: r.id,
        value: r.value,
        currency: r.currency,
        public_key: ecash_shared::blind_rsa::PublicKey::from_der(&r.public_key).unwrap(),
        withdraw_until: r.withdraw_until,
        deposit_until: r.deposit_until,
    }
}

fn coin() -> OwnedCoin {
    mint_with(&keyset(), &test_keyset().secret)
}

fn spent(c: &OwnedCoin, msg: &SpendMessage) -> SpentCoin {
    SpentCoin {
        coin_pub: c.coin.coin_pub.to_bytes(),
        keyset_id: c.coin.keyset_id,
        currency: EUR,
        value: c.value,
        msg_prefix: c.coin.msg_prefix,
        denom_sig: c.coin.sig.0.clone(),
        coin_sig: c.secret.sign(msg).0,
        spend_msg: msg.to_bytes(),
    }
}

fn with_keyset(s: &dyn Storage) {
    s.insert_keyset(&test_keyset().record).unwrap();
}

fn account(s: &dyn Storage, name: &str) -> AccountId {
    s.create_account(&NewAccount {
        username: name.to_owned(),
        password_hash: "$argon2id$fake".to_owned(),
        merchant: false,
        currency: EUR,
        created_at: t(0),
    })
    .unwrap()
}

fn balance(s: &dyn Storage, id: AccountId) -> u64 {
    s.account_by_id(id).unwrap().unwrap().balance.minor()
}

fn deposit(
    s: &dyn Storage,
    account_id: AccountId,
    name: &str,
    coins: &[&OwnedCoin],
) -> Result<Amount, StorageError> {
    let msg = SpendMessage::Deposit {
        account: name.to_owned(),
    };
    let op_id = {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&account_id.to_be_bytes());
        id[8..].copy_from_slice(&coins[0].coin.coin_pub.as_bytes()[..24]);
        id
    };
    s.spend_deposit(&SpendRequest {
        op_id,
        coins: coins.iter().map(|c| spent(c, &msg)).collect(),
        value: Amount::checked_sum(coins.iter().map(|c| c.value)).unwrap(),
        currency: EUR,
        effect: DepositInto { account_id },
        now: t(10),
    })
}

fn swap(
    s: &dyn Storage,
    op: u8,
    coins: &[&OwnedCoin],
    sigs: Vec<Vec<u8>>,
) -> Result<SwapOutcome, StorageError> {
    let value = Amount::checked_sum(coins.iter().map(|c| c.value)).unwrap();
    swap_valued(s, op, coins, sigs, value)
}

fn swap_valued(
    s: &dyn Storage,
    op: u8,
    coins: &[&OwnedCoin],
    sigs: Vec<Vec<u8>>,
    signed: Amount,
) -> Result<SwapOutcome, StorageError> {
    let msg = SpendMessage::Swap {
        outputs_hash: [op; 32],
    };
    s.spend_swap(&SpendRequest {
        op_id: [op; 32],
        coins: coins.iter().map(|c| spent(c, &msg)).collect(),
        value: Amount::checked_sum(coins.iter().map(|c| c.value)).unwrap(),
        currency: EUR,
        effect: SwapOutputs {
            value: signed,
            blind_sigs: sigs,
        },
        now: t(10),
    })
}

fn withdrawal(account_id: AccountId, request_id: &str, hash: u8, value: u64) -> NewWithdrawal {
    NewWithdrawal {
        account_id,
        request_id: request_id.to_owned(),
        request_hash: [hash; 32],
        currency: EUR,
        value: a(value),
        blind_sigs: vec![vec![hash; 256]],
        created_at: t(5),
    }
}

pub fn keysets(s: &dyn Storage) {
    assert!(s.keysets().unwrap().is_empty());
    let r1 = KeysetRecord {
        id: KeysetId([1; 32]),
        currency: EUR,
        value: a(4),
        public_key: vec![1, 2, 3],
        withdraw_until: t(100),
        deposit_until: t(200),
    };
    s.insert_keyset(&r1).unwrap();
    // Inserting again keeps the stored record.
    s.insert_keyset(&KeysetRecord {
        value: a(99),
        ..r1.clone()
    })
    .unwrap();
    assert_eq!(s.keysets().unwrap(), vec![r1.clone()]);
    s.set_withdraw_until(&r1.id, t(50)).unwrap();
    let got = s.keysets().unwrap();
    assert_eq!(got[0].withdraw_until, t(50));
    assert_eq!(got[0].deposit_until, t(200));
}

pub fn accounts(s: &dyn Storage) {
    let id = account(s, "alice");
    let again = s.create_account(&NewAccount {
        username: "alice".into(),
        password_hash: "x".into(),
        merchant: true,
        currency: EUR,
        created_at: t(1),
    });
    assert!(
        matches!(again, Err(StorageError::UsernameTaken)),
        "{again:?}"
    );
    let by_name = s.account_by_username("alice").unwrap().unwrap();
    assert_eq!(by_name.id, id);
    assert_eq!(by_name.balance, Amount::ZERO);
    assert!(!by_name.merchant);
    assert_eq!(s.account_by_id(id).unwrap().unwrap(), by_name);
    assert!(s.account_by_username("bob").unwrap().is_none());
    assert!(s.account_by_id(id + 1000).unwrap().is_none());
    let bob = account(s, "bob");
    assert_ne!(bob, id);
}

pub fn sessions(s: &dyn Storage) {
    let alice = account(s, "alice");
    let bob = account(s, "bob");
    s.create_session(&[1; 32], alice, t(100), t(0)).unwrap();
    s.create_session(&[2; 32], bob, t(100), t(0)).unwrap();
    assert_eq!(
        s.session_account(&[1; 32], t(50)).unwrap().unwrap().id,
        alice
    );
    assert_eq!(s.session_account(&[2; 32], t(50)).unwrap().unwrap().id, bob);
    assert!(s.session_account(&[3; 32], t(50)).unwrap().is_none());
    assert!(
        s.session_account(&[1; 32], t(100)).unwrap().is_none(),
        "expired at expires_at"
    );
    // A later login sweeps expired tokens; live ones stay.
    s.create_session(&[4; 32], alice, t(500), t(100)).unwrap();
    assert!(
        s.session_account(&[1; 32], t(0)).unwrap().is_none(),
        "swept"
    );
    assert!(s.session_account(&[4; 32], t(200)).unwrap().is_some());
}

pub fn credit_payout_history(s: &dyn Storage) {
    let id = account(s, "alice");
    assert_eq!(
        s.credit("alice", a(1000), "wire in", t(1)).unwrap(),
        a(1000)
    );
    assert!(matches!(
        s.credit("nobody", a(1), "x", t(1)),
        Err(StorageError::UnknownAccount)
    ));
    assert_eq!(s.payout(id, a(300), "payout", t(2)).unwrap(), a(700));
    assert!(matches!(
        s.payout(id, a(701), "payout", t(3)),
        Err(StorageError::InsufficientFunds)
    ));
    assert_eq!(balance(s, id), 700);
    // Overflow of the stored range changes nothing.
    let big = bank_server::storage::MAX_STORED_AMOUNT;
    assert!(matches!(
        s.credit("alice", big, "x", t(3)),
        Err(StorageError::AmountOverflow)
    ));
    assert_eq!(balance(s, id), 700);
    for i in 0..5 {
        s.credit(
            "alice",
            a(10 + i),
            "wire in",
            t(10 + i64::try_from(i).unwrap()),
        )
        .unwrap();
    }
    let all = s.history(id, 100, None).unwrap();
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].amount, a(14));
    assert_eq!(all[0].balance_after, a(700 + 10 + 11 + 12 + 13 + 14));
    let last = all.last().unwrap();
    assert_eq!(
        (last.kind, last.credit, last.amount),
        (LedgerKind::Credit, true, a(1000))
    );
    assert_eq!(all[5].kind, LedgerKind::Payout);
    assert!(!all[5].credit);
    let page1 = s.history(id, 3, None).unwrap();
    let page2 = s.history(id, 3, Some(page1[2].id)).unwrap();
    let page3 = s.history(id, 3, Some(page2[2].id)).unwrap();
    let joined: Vec<_> = page1.into_iter().chain(page2).chain(page3).collect();
    assert_eq!(joined, all);
    let other = account(s, "bob");
    assert!(s.history(other, 10, None).unwrap().is_empty());
}

pub fn withdraw_idempotency(s: &dyn Storage) {
    let id = account(s, "alice");
    s.credit("alice", a(100), "wire in", t(1)).unwrap();
    let w = withdrawal(id, "req-1", 1, 40);
    assert_eq!(
        s.withdraw(&w).unwrap(),
        WithdrawOutcome::Done { balance: a(60) }
    );
    // Same key, same body: the stored signatures, no second debit.
    let replay = NewWithdrawal {
        blind_sigs: vec![vec![9; 256]],
        ..w.clone()
    };
    assert_eq!(
        s.withdraw(&replay).unwrap(),
        WithdrawOutcome::Replayed(w.blind_sigs.clone())
    );
    assert_eq!(balance(s, id), 60);
    // Same key, other body.
    assert!(matches!(
        s.withdraw(&withdrawal(id, "req-1", 2, 40)),
        Err(StorageError::IdempotencyConflict)
    ));
    // Not enough money: nothing recorded, the key stays free.
    assert!(matches!(
        s.withdraw(&withdrawal(id, "req-2", 3, 61)),
        Err(StorageError::InsufficientFunds)
    ));
    assert!(s.find_withdrawal(id, "req-2").unwrap().is_none());
    assert_eq!(balance(s, id), 60);
    let stored = s.find_withdrawal(id, "req-1").unwrap().unwrap();
    assert_eq!(stored.request_hash, [1; 32]);
    assert_eq!(stored.blind_sigs, w.blind_sigs);
    // Keys are per account.
    let bob = account(s, "bob");
    s.credit("bob", a(50), "wire in", t(1)).unwrap();
    assert!(s.find_withdrawal(bob, "req-1").unwrap().is_none());
    assert_eq!(
        s.withdraw(&withdrawal(bob, "req-1", 7, 50)).unwrap(),
        WithdrawOutcome::Done { balance: a(0) }
    );
    assert_eq!(balance(s, id), 60);
}

pub fn deposit_spends_all_or_nothing(s: &dyn Storage) {
    with_keyset(s);
    let id = account(s, "alice");
    let (c1, c2, c3) = (coin(), coin(), coin());
    let pubs = [
        c1.coin.coin_pub.to_bytes(),
        c2.coin.coin_pub.to_bytes(),
        c3.coin.coin_pub.to_bytes(),
    ];
    assert_eq!(s.spent_by(&pubs).unwrap(), vec![None, None, None]);
    assert_eq!(deposit(s, id, "alice", &[&c1, &c2]).unwrap(), a(16));
    let states = s.spent_by(&pubs).unwrap();
    assert!(states[0].is_some() && states[1].is_some() && states[2].is_none());
    // c3 is new but c2 is spent: nothing happens, and the error names c2.
    match deposit(s, id, "alice", &[&c3, &c2]) {
        Err(StorageError::CoinAlreadySpent(p)) => assert_eq!(p, pubs[1]),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.spent_by(&pubs).unwrap()[2], None);
    assert_eq!(balance(s, id), 16);
    let h = s.history(id, 10, None).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].kind, h[0].amount), (LedgerKind::Deposit, a(16)));
}

pub fn swap_replay_and_reuse(s: &dyn Storage) {
    with_keyset(s);
    let (c1, c2) = (coin(), coin());
    let sigs = vec![vec![5u8; 256], vec![6u8; 256]];
    assert_eq!(
        swap(s, 1, &[&c1, &c2], sigs.clone()).unwrap(),
        SwapOutcome::Swapped
    );
    assert_eq!(s.find_swap(&[1; 32]).unwrap(), Some(sigs.clone()));
    assert_eq!(s.find_swap(&[2; 32]).unwrap(), None);
    // The identical operation: the stored signatures, not the new ones.
    assert_eq!(
        swap(s, 1, &[&c1, &c2], vec![vec![0; 256]]).unwrap(),
        SwapOutcome::Replayed(sigs)
    );
    // Another operation with one of the coins.
    assert!(matches!(
        swap(s, 2, &[&c1], vec![vec![0; 256]]),
        Err(StorageError::CoinAlreadySpent(_))
    ));
    let id = account(s, "alice");
    assert!(matches!(
        deposit(s, id, "alice", &[&c2]),
        Err(StorageError::CoinAlreadySpent(_))
    ));
    assert_eq!(s.find_swap(&[2; 32]).unwrap(), None);
    assert_eq!(
        s.spent_by(&[c1.coin.coin_pub.to_bytes()]).unwrap(),
        vec![Some([1; 32])]
    );
}

pub fn concurrent_spends_one_wins(s: Arc<dyn Storage>) {
    with_keyset(&*s);
    let id = account(&*s, "alice");
    let c = coin();
    let results: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let s = Arc::clone(&s);
                let c = c.clone();
                scope.spawn(move || {
                    if i % 2 == 0 {
                        deposit(&*s, id, "alice", &[&c]).is_ok()
                    } else {
                        swap(&*s, 100 + i, &[&c], vec![vec![i; 256]]).is_ok()
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|&&ok| ok).count(), 1, "{results:?}");
    let report = bank_server::audit::audit(&*s).unwrap();
    assert_eq!(report.spent_coins, 1);
}

pub fn audit_of_a_busy_day_is_clean(s: &dyn Storage) {
    with_keyset(s);
    let alice = account(s, "alice");
    let bob = account(s, "bob");
    s.credit("alice", a(100), "wire in", t(1)).unwrap();
    s.credit("bob", a(50), "wire in", t(1)).unwrap();
    // Alice withdraws 3 coins of 8, swaps one, deposits one; Bob gets one and deposits it.
    s.withdraw(&withdrawal(alice, "w1", 1, 24)).unwrap();
    let (c1, c2, c3) = (coin(), coin(), coin());
    swap(s, 9, &[&c1], vec![vec![1; 256]]).unwrap();
    deposit(s, alice, "alice", &[&c2]).unwrap();
    deposit(s, bob, "bob", &[&c3]).unwrap();
    s.payout(bob, a(30), "payout", t(20)).unwrap();
    let r = bank_server::audit::audit(s).unwrap();
    assert!(r.is_clean(), "{r}");
    let eur = &r.currencies[&EUR];
    assert_eq!(eur.wired_in, 150);
    assert_eq!(eur.wired_out, 30);
    assert_eq!(
        eur.balances,
        i128::from(balance(s, alice) + balance(s, bob))
    );
    assert_eq!(eur.coins_signed, 24 + 8);
    assert_eq!(eur.coins_spent, 24);
    assert_eq!(r.spent_coins, 3);
    assert_eq!(r.balances.len(), 2);

    // A spent coin whose bank signature is wrong is reported.
    let mut bad = spent(
        &coin(),
        &SpendMessage::Deposit {
            account: "bob".into(),
        },
    );
    bad.denom_sig[10] ^= 1;
    s.spend_deposit(&SpendRequest {
        op_id: [77; 32],
        coins: vec![bad],
        value: a(8),
        currency: EUR,
        effect: DepositInto { account_id: bob },
        now: t(30),
    })
    .unwrap();
    let r = bank_server::audit::audit(s).unwrap();
    assert_eq!(r.problems.len(), 1, "{r}");
    assert!(r.problems[0].contains("invalid bank signature"), "{r}");

    // A swap that signed more than it spent is reported, and unbalances the books.
    swap_valued(s, 42, &[&coin()], vec![vec![1; 256]], a(16)).unwrap();
    let r = bank_server::audit::audit(s).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("signed 16 but spent 8")),
        "{r}"
    );
    assert!(!r.currencies[&EUR].balanced(), "{r}");
}

fn new_order(merchant_id: AccountId, id: &str, amount: u64, expires_at: Timestamp) -> NewOrder {
    let mut o = NewOrder {
        id: id.to_owned(),
        merchant_id,
        merchant_name: "The Shop".to_owned(),
        currency: EUR,
        amount: a(amount),
        summary: format!("order {id}"),
        fulfillment_url: None,
        allowed_origin: Some("https://shop.example".to_owned()),
        created_at: t(0),
        expires_at,
        contract_hash: [0; 32],
    };
    o.contract_hash = bank_server::merchant::contract(&o).compute_hash();
    o
}

/// Pays `order` with `coins` as operation `op` at `now`.
fn pay(
    s: &dyn Storage,
    order: &NewOrder,
    op: u8,
    coins: &[&OwnedCoin],
    now: Timestamp,
) -> Result<StoredPayment, StorageError> {
    let msg = SpendMessage::Pay {
        contract_hash: order.contract_hash,
    };
    s.spend_payment(&SpendRequest {
        op_id: [op; 32],
        coins: coins.iter().map(|c| spent(c, &msg)).collect(),
        value: Amount::checked_sum(coins.iter().map(|c| c.value)).unwrap(),
        currency: EUR,
        effect: OrderPayment {
            order_id: order.id.clone(),
            paid_at: now,
            bank_sig: [op; 64],
        },
        now,
    })
}

pub fn merchant_accounts_and_orders(s: &dyn Storage) {
    let shop = account(s, "shop");
    let plain = account(s, "plain");
    assert!(!s.account_by_id(shop).unwrap().unwrap().merchant);
    let rec = s.make_merchant("shop", Some("The Shop")).unwrap();
    assert!(rec.merchant);
    assert_eq!(s.merchant_name(shop).unwrap().as_deref(), Some("The Shop"));
    // Without a name the username shows; a later call without one keeps it.
    s.make_merchant("plain", None).unwrap();
    assert_eq!(s.merchant_name(plain).unwrap().as_deref(), Some("plain"));
    s.make_merchant("shop", None).unwrap();
    assert_eq!(s.merchant_name(shop).unwrap().as_deref(), Some("The Shop"));
    assert!(matches!(
        s.make_merchant("nobody", None),
        Err(StorageError::UnknownAccount)
    ));
    assert_eq!(s.merchant_name(shop + 1000).unwrap(), None);

    let o1 = new_order(shop, "order-1", 16, t(100));
    let r1 = s.create_order(&o1).unwrap();
    assert_eq!(r1.order, o1);
    assert_eq!(
        (r1.payment.as_ref(), r1.refunded, r1.refund_claimed),
        (None, a(0), a(0))
    );
    assert_eq!(s.order("order-1").unwrap(), Some(r1.clone()));
    assert_eq!(s.order("order-2").unwrap(), None);
    assert!(s.create_order(&o1).is_err(), "order ids are unique");
    let r2 = s
        .create_order(&new_order(shop, "order-2", 8, t(100)))
        .unwrap();
    s.create_order(&new_order(plain, "order-3", 8, t(100)))
        .unwrap();
    assert!(r2.seq > r1.seq);
    let mine = s.merchant_orders(shop, 10, None).unwrap();
    assert_eq!(
        mine,
        vec![r2.clone(), r1.clone()],
        "newest first, only mine"
    );
    assert_eq!(s.merchant_orders(shop, 1, None).unwrap(), vec![r2.clone()]);
    assert_eq!(s.merchant_orders(shop, 10, Some(r2.seq)).unwrap(), vec![r1]);
    assert!(s.order_coins("order-1").unwrap().is_empty());
    assert!(s.order_coins("nope").unwrap().is_empty());
}

pub fn order_payment_refund_and_claim(s: &dyn Storage) {
    with_keyset(s);
    let shop = account(s, "shop");
    let other = account(s, "other");
    s.make_merchant("shop", None).unwrap();
    s.make_merchant("other", None).unwrap();
    let order = new_order(shop, "o1", 16, t(100));
    s.create_order(&order).unwrap();
    let unpaid = new_order(shop, "o2", 8, t(100));
    s.create_order(&unpaid).unwrap();
    let (c1, c2, c3, c4) = (coin(), coin(), coin(), coin());

    assert!(matches!(
        pay(s, &order, 1, &[&c1, &c2], t(100)),
        Err(StorageError::OrderExpired)
    ));
    assert!(matches!(
        pay(s, &order, 1, &[&c1], t(10)),
        Err(StorageError::WrongAmount {
            value: 8,
            amount: 16
        })
    ));
    let mut ghost = order.clone();
    ghost.id = "ghost".into();
    assert!(matches!(
        pay(s, &ghost, 1, &[&c1, &c2], t(10)),
        Err(StorageError::OrderNotFound)
    ));
    let paid = StoredPayment {
        op_id: [1; 32],
        paid_at: t(10),
        bank_sig: [1; 64],
    };
    assert_eq!(pay(s, &order, 1, &[&c1, &c2], t(10)).unwrap(), paid.clone());
    // The same operation later (even after expiry): the stored payment.
    assert_eq!(
        pay(s, &order, 1, &[&c1, &c2], t(500)).unwrap(),
        paid.clone()
    );
    // Other coins: refused, and they stay unspent.
    assert!(matches!(
        pay(s, &order, 2, &[&c3, &c4], t(11)),
        Err(StorageError::OrderAlreadyPaid)
    ));
    let p34 = [c3.coin.coin_pub.to_bytes(), c4.coin.coin_pub.to_bytes()];
    assert_eq!(s.spent_by(&p34).unwrap(), vec![None, None]);
    // A paying coin cannot pay another order.
    assert!(matches!(
        pay(s, &unpaid, 3, &[&c1], t(12)),
        Err(StorageError::CoinAlreadySpent(_))
    ));
    let stored = s.order("o1").unwrap().unwrap();
    assert_eq!(stored.payment, Some(paid));
    let mut coins = s.order_coins("o1").unwrap();
    coins.sort();
    let mut expected = vec![c1.coin.coin_pub.to_bytes(), c2.coin.coin_pub.to_bytes()];
    expected.sort();
    assert_eq!(coins, expected);
    assert_eq!(balance(s, shop), 16);
    let h = s.history(shop, 10, None).unwrap();
    assert_eq!(
        (h[0].kind, h[0].credit, h[0].amount),
        (LedgerKind::OrderPayment, true, a(16))
    );

    // Refunds.
    let refund = |merchant_id, order_id: &str, amount| {
        s.refund(&NewRefund {
            order_id: order_id.to_owned(),
            merchant_id,
            amount: a(amount),
            now: t(20),
        })
    };
    assert!(matches!(
        refund(other, "o1", 1),
        Err(StorageError::NotYourOrder)
    ));
    assert!(matches!(
        refund(shop, "o1", 17),
        Err(StorageError::RefundTooLarge { left: 16 })
    ));
    assert!(matches!(
        refund(shop, "o2", 1),
        Err(StorageError::RefundTooLarge { left: 0 })
    ));
    assert!(matches!(
        refund(shop, "nope", 1),
        Err(StorageError::OrderNotFound)
    ));
    assert_eq!(
        refund(shop, "o1", 10).unwrap(),
        RefundOutcome {
            refunded: a(10),
            balance: a(6)
        }
    );
    s.payout(shop, a(6), "payout", t(21)).unwrap();
    assert!(matches!(
        refund(shop, "o1", 1),
        Err(StorageError::InsufficientFunds)
    ));
    let h = s.history(shop, 10, None).unwrap();
    assert_eq!(
        (h[1].kind, h[1].credit, h[1].amount),
        (LedgerKind::Refund, false, a(10))
    );

    // Claims.
    let claim = |op: u8, order_id: &str, value: u64| {
        s.claim_refund(&NewRefundClaim {
            op_id: [op; 32],
            order_id: order_id.to_owned(),
            currency: EUR,
            value: a(value),
            blind_sigs: vec![vec![op; 256]],
            now: t(30),
        })
    };
    assert!(matches!(claim(9, "o2", 8), Err(StorageError::NoRefund)));
    assert!(matches!(
        claim(9, "o1", 9),
        Err(StorageError::RefundValueMismatch {
            outputs: 9,
            refund: 10
        })
    ));
    assert_eq!(s.find_refund_claim(&[5; 32]).unwrap(), None);
    assert_eq!(claim(5, "o1", 10).unwrap(), RefundClaimOutcome::Claimed);
    assert_eq!(
        claim(5, "o1", 10).unwrap(),
        RefundClaimOutcome::Replayed(vec![vec![5; 256]])
    );
    assert_eq!(
        s.find_refund_claim(&[5; 32]).unwrap(),
        Some(vec![vec![5; 256]])
    );
    assert!(matches!(
        claim(6, "o1", 10),
        Err(StorageError::RefundAlreadyClaimed)
    ));
    let o = s.order("o1").unwrap().unwrap();
    assert_eq!((o.refunded, o.refund_claimed), (a(10), a(10)));

    let r = bank_server::audit::audit(s).unwrap();
    assert!(r.is_clean(), "{r}");
    let eur = &r.currencies[&EUR];
    assert_eq!(eur.order_payments, 16);
    assert_eq!((eur.refunds_granted, eur.refunds_claimed), (10, 10));
    assert_eq!(eur.coins_signed, 10, "only the claim signed coins here");
    assert_eq!(r.orders, 2);
}

pub fn concurrent_payments_of_one_order_one_wins(s: Arc<dyn Storage>) {
    with_keyset(&*s);
    let shop = account(&*s, "shop");
    let order = new_order(shop, "race", 8, t(100));
    s.create_order(&order).unwrap();
    let coins: Vec<OwnedCoin> = (0..8).map(|_| coin()).collect();
    let results: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = coins
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let s = Arc::clone(&s);
                let order = order.clone();
                scope.spawn(move || {
                    pay(&*s, &order, u8::try_from(i).unwrap() + 1, &[c], t(10)).is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|&&ok| ok).count(), 1, "{results:?}");
    let pubs: Vec<[u8; 32]> = coins.iter().map(|c| c.coin.coin_pub.to_bytes()).collect();
    let spent = s.spent_by(&pubs).unwrap();
    assert_eq!(spent.iter().filter(|x| x.is_some()).count(), 1);
    assert_eq!(balance(&*s, shop), 8);
    let report = bank_server::audit::audit(&*s).unwrap();
    assert!(report.is_clean(), "{report}");
}

pub fn audit_catches_bad_order_payments(s: &dyn Storage) {
    with_keyset(s);
    let shop = account(s, "shop");
    let o1 = new_order(shop, "o1", 8, t(100));
    let o2 = new_order(shop, "o2", 16, t(100));
    s.create_order(&o1).unwrap();
    s.create_order(&o2).unwrap();

    // Coins signed for something else than the order's contract.
    let c = coin();
    let wrong = SpendMessage::Deposit {
        account: "shop".into(),
    };
    s.spend_payment(&SpendRequest {
        op_id: [1; 32],
        coins: vec![spent(&c, &wrong)],
        value: a(8),
        currency: EUR,
        effect: OrderPayment {
            order_id: "o1".into(),
            paid_at: t(10),
            bank_sig: [0; 64],
        },
        now: t(10),
    })
    .unwrap();
    let r = bank_server::audit::audit(s).unwrap();
    assert_eq!(r.problems.len(), 1, "{r}");
    assert!(r.problems[0].contains("signed for something else"), "{r}");

    // An order credited at its price but paid with fewer coins.
    let msg = SpendMessage::Pay {
        contract_hash: o2.contract_hash,
    };
    s.spend_payment(&SpendRequest {
        op_id: [2; 32],
        coins: vec![spent(&coin(), &msg)],
        value: a(16),
        currency: EUR,
        effect: OrderPayment {
            order_id: "o2".into(),
            paid_at: t(10),
            bank_sig: [0; 64],
        },
        now: t(10),
    })
    .unwrap();
    let r = bank_server::audit::audit(s).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("order o2: costs 16 but its payment spent 8")),
        "{r}"
    );
    assert!(!r.currencies[&EUR].balanced(), "{r}");
}
