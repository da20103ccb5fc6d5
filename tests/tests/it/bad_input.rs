//! Bad input: every malformed, invalid or hostile request gets the documented
//! 4xx code as `{code, detail}` JSON, and the database is unchanged (the
//! audit report — totals, every balance, ledger and spent-set sizes — is
//! identical before and after the whole table).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use ecash_shared::api::{CoinState, MAX_COINS_PER_REQUEST};
use ecash_shared::encoding::b64_encode;
use ecash_shared::{ErrorCode, KeysetId, SpendMessage};
use ecash_tests::client::{OwnedCoin, expect_code};
use ecash_tests::server::{Options, TestBank};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Auth {
    None,
    Alice,
    Admin,
}

struct Case {
    name: String,
    method: &'static str,
    path: String,
    auth: Auth,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    code: ErrorCode,
}

fn case(
    name: &str,
    method: &'static str,
    path: &str,
    auth: Auth,
    body: Value,
    code: ErrorCode,
) -> Case {
    Case {
        name: name.to_owned(),
        method,
        path: path.to_owned(),
        auth,
        content_type: Some("application/json"),
        body: Some(serde_json::to_vec(&body).unwrap()),
        code,
    }
}

fn raw_case(
    name: &str,
    path: &str,
    auth: Auth,
    ct: Option<&'static str>,
    body: &[u8],
    code: ErrorCode,
) -> Case {
    Case {
        name: name.to_owned(),
        method: "POST",
        path: path.to_owned(),
        auth,
        content_type: ct,
        body: Some(body.to_vec()),
        code,
    }
}

fn get(name: &str, path: &str, auth: Auth, code: ErrorCode) -> Case {
    Case {
        name: name.to_owned(),
        method: "GET",
        path: path.to_owned(),
        auth,
        content_type: None,
        body: None,
        code,
    }
}

/// `v` with the JSON pointer `ptr` replaced by `new`.
fn set(v: &Value, ptr: &str, new: Value) -> Value {
    let mut v = v.clone();
    *v.pointer_mut(ptr).unwrap_or_else(|| panic!("no {ptr}")) = new;
    v
}

/// `v` with an extra field at the object `ptr`.
fn add_field(v: &Value, ptr: &str) -> Value {
    let mut v = v.clone();
    v.pointer_mut(ptr)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert("extra".into(), json!(1));
    v
}

fn to_json<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap()
}

fn flip(b64: &Value, byte: usize) -> Value {
    let mut bytes = ecash_shared::encoding::b64_decode(b64.as_str().unwrap()).unwrap();
    bytes[byte] ^= 1;
    json!(b64_encode(&bytes))
}

fn deposit_of(coins: &[&OwnedCoin], account: &str) -> Value {
    let msg = SpendMessage::Deposit {
        account: account.to_owned(),
    };
    json!({ "coins": coins.iter().map(|c| to_json(&c.spend(&msg))).collect::<Vec<_>>() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_their_code_and_change_nothing() {
    let bank = TestBank::start_with(Options {
        expired_keysets: true,
        ..Options::default()
    })
    .await;
    let expired = bank.expired.unwrap();
    let alice = bank.user("alice", 200).await;
    let _bob = bank.user("bob", 0).await;
    let coins = alice.withdraw_values(&[16, 16, 16, 8, 8]).await.unwrap();
    let spent = coins[4].clone();
    alice.deposit(std::slice::from_ref(&spent)).await.unwrap();
    assert_eq!(alice.client.balance().await.unwrap().minor(), 144);
    let good = &coins[0];
    let good2 = &coins[1];
    let old_coin = bank.mint(&expired.expired);
    let closed_coin = bank.mint(&expired.withdraw_closed);

    // Templates.
    let creds = json!({"username": "zed", "password": "password123"});
    let credit = json!({"username": "alice", "amount": 10});
    let payout = json!({"amount": 10, "iban": "DE89370400440532013000"});
    let withdraw = to_json(&alice.prepare_withdraw(24).request);
    let deposit = deposit_of(&[good], "alice");
    let swap_of = |inputs: &[OwnedCoin], values: &[u64]| {
        to_json(&alice.prepare_swap(inputs, Some(values)).request)
    };
    let swap = swap_of(std::slice::from_ref(good), &[8, 8]);
    let blinded_for = |id: KeysetId| json!([{ "keyset_id": to_json(&id), "blinded_msg": b64_encode(&[1u8; 256]) }]);
    let big = vec![b' '; 3 * 1024 * 1024];
    let mut huge_json = b"{\"username\":\"".to_vec();
    huge_json.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
    huge_json.extend(b"\",\"password\":\"password123\"}");
    let too_many_blinded: Vec<Value> = (0..=MAX_COINS_PER_REQUEST)
        .map(|_| withdraw["coins"][0].clone())
        .collect();
    let too_many_pubs: Vec<Value> = (0..=MAX_COINS_PER_REQUEST)
        .map(|_| to_json(&good.coin.coin_pub))
        .collect();
    // The ed25519 identity point: small order, refused as a coin key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    // 32 bytes that are no curve point at all.
    let not_a_point = (2u8..=255)
        .map(|b| [b; 32])
        .find(|a| ecash_shared::CoinPub::from_bytes(a).is_err())
        .unwrap();
    // A swap whose (signed) outputs hold a blinded message >= n.
    let bad_output_swap = {
        let mut outputs = alice
            .prepare_swap(std::slice::from_ref(good), Some(&[8, 8]))
            .request
            .outputs;
        outputs[1].blinded_msg = ecash_shared::encoding::Bytes(vec![0xff; 256]);
        let msg = SpendMessage::Swap {
            outputs_hash: ecash_shared::coin::hash_outputs(&outputs),
        };
        to_json(&ecash_shared::api::SwapRequest {
            inputs: vec![good.spend(&msg)],
            outputs,
        })
    };

    use Auth::*;
    use ErrorCode as E;
    let cases = vec![
        // --- Malformed requests.
        raw_case(
            "malformed JSON",
            "/v1/accounts",
            None,
            Some("application/json"),
            b"{\"username\":",
            E::BadRequest,
        ),
        raw_case(
            "empty body",
            "/v1/accounts",
            None,
            Some("application/json"),
            b"",
            E::BadRequest,
        ),
        raw_case(
            "not JSON content type",
            "/v1/accounts",
            None,
            Some("text/plain"),
            &serde_json::to_vec(&creds).unwrap(),
            E::BadRequest,
        ),
        raw_case(
            "no content type",
            "/v1/accounts",
            None,
            Option::None,
            &serde_json::to_vec(&creds).unwrap(),
            E::BadRequest,
        ),
        raw_case(
            "array body",
            "/v1/accounts",
            None,
            Some("application/json"),
            b"[1,2]",
            E::BadRequest,
        ),
        raw_case(
            "huge body of spaces",
            "/v1/accounts",
            None,
            Some("application/json"),
            &big,
            E::PayloadTooLarge,
        ),
        raw_case(
            "huge JSON",
            "/v1/accounts",
            None,
            Some("application/json"),
            &huge_json,
            E::PayloadTooLarge,
        ),
        raw_case(
            "invalid UTF-8",
            "/v1/accounts",
            None,
            Some("application/json"),
            b"{\"username\":\"\xff\xfe\",\"password\":\"x\"}",
            E::BadRequest,
        ),
        case(
            "wrong type",
            "POST",
            "/v1/accounts",
            None,
            json!({"username": 1, "password": "password123"}),
            E::BadRequest,
        ),
        case(
            "missing field",
            "POST",
            "/v1/accounts",
            None,
            json!({"username": "zed"}),
            E::BadRequest,
        ),
        case(
            "unknown field",
            "POST",
            "/v1/accounts",
            None,
            add_field(&creds, ""),
            E::BadRequest,
        ),
        case(
            "null field",
            "POST",
            "/v1/accounts",
            None,
            set(&creds, "/password", Value::Null),
            E::BadRequest,
        ),
        // --- Accounts.
        case(
            "invalid username",
            "POST",
            "/v1/accounts",
            None,
            set(&creds, "/username", json!("Zed Zed")),
            E::InvalidUsername,
        ),
        case(
            "weak password",
            "POST",
            "/v1/accounts",
            None,
            set(&creds, "/password", json!("short")),
            E::WeakPassword,
        ),
        case(
            "long password",
            "POST",
            "/v1/accounts",
            None,
            set(&creds, "/password", json!("x".repeat(300))),
            E::WeakPassword,
        ),
        case(
            "username taken",
            "POST",
            "/v1/accounts",
            None,
            set(&creds, "/username", json!("alice")),
            E::UsernameTaken,
        ),
        case(
            "wrong password",
            "POST",
            "/v1/login",
            None,
            json!({"username": "alice", "password": "wrong-password"}),
            E::InvalidCredentials,
        ),
        case(
            "unknown user login",
            "POST",
            "/v1/login",
            None,
            json!({"username": "nobody", "password": "password123"}),
            E::InvalidCredentials,
        ),
        // --- Operator credit.
        case(
            "negative amount",
            "POST",
            "/v1/admin/credit",
            Admin,
            set(&credit, "/amount", json!(-5)),
            E::BadRequest,
        ),
        case(
            "float amount",
            "POST",
            "/v1/admin/credit",
            Admin,
            set(&credit, "/amount", json!(1.5)),
            E::BadRequest,
        ),
        case(
            "string amount",
            "POST",
            "/v1/admin/credit",
            Admin,
            set(&credit, "/amount", json!("10")),
            E::BadRequest,
        ),
        raw_case(
            "amount over u64",
            "/v1/admin/credit",
            Admin,
            Some("application/json"),
            br#"{"username":"alice","amount":18446744073709551616}"#,
            E::BadRequest,
        ),
        case(
            "zero credit",
            "POST",
            "/v1/admin/credit",
            Admin,
            set(&credit, "/amount", json!(0)),
            E::InvalidAmount,
        ),
        case(
            "credit over the stored range",
            "POST",
            "/v1/admin/credit",
            Admin,
            set(&credit, "/amount", json!(u64::MAX)),
            E::InvalidAmount,
        ),
        case(
            "credit unknown user",
            "POST",
            "/v1/admin/credit",
            Admin,
            set(&credit, "/username", json!("nobody")),
            E::NotFound,
        ),
        case(
            "credit unknown field",
            "POST",
            "/v1/admin/credit",
            Admin,
            add_field(&credit, ""),
            E::BadRequest,
        ),
        case(
            "credit with a user token",
            "POST",
            "/v1/admin/credit",
            Alice,
            credit.clone(),
            E::Forbidden,
        ),
        case(
            "credit without a token",
            "POST",
            "/v1/admin/credit",
            None,
            credit.clone(),
            E::Unauthorized,
        ),
        // --- Payout.
        case(
            "zero payout",
            "POST",
            "/v1/accounts/me/payout",
            Alice,
            set(&payout, "/amount", json!(0)),
            E::InvalidAmount,
        ),
        case(
            "negative payout",
            "POST",
            "/v1/accounts/me/payout",
            Alice,
            set(&payout, "/amount", json!(-1)),
            E::BadRequest,
        ),
        case(
            "bad IBAN checksum",
            "POST",
            "/v1/accounts/me/payout",
            Alice,
            set(&payout, "/iban", json!("DE89370400440532013001")),
            E::InvalidIban,
        ),
        case(
            "IBAN garbage",
            "POST",
            "/v1/accounts/me/payout",
            Alice,
            set(&payout, "/iban", json!("💸💸💸💸💸💸💸💸")),
            E::InvalidIban,
        ),
        case(
            "IBAN wrong type",
            "POST",
            "/v1/accounts/me/payout",
            Alice,
            set(&payout, "/iban", json!(12345)),
            E::BadRequest,
        ),
        case(
            "payout over balance",
            "POST",
            "/v1/accounts/me/payout",
            Alice,
            set(&payout, "/amount", json!(145)),
            E::InsufficientFunds,
        ),
        case(
            "payout over the stored range",
            "POST",
            "/v1/accounts/me/payout",
            Alice,
            set(&payout, "/amount", json!(u64::MAX)),
            E::InvalidAmount,
        ),
        // --- History query.
        get(
            "limit zero",
            "/v1/accounts/me/history?limit=0",
            Alice,
            E::BadRequest,
        ),
        get(
            "limit too big",
            "/v1/accounts/me/history?limit=100000",
            Alice,
            E::BadRequest,
        ),
        get(
            "limit not a number",
            "/v1/accounts/me/history?limit=abc",
            Alice,
            E::BadRequest,
        ),
        get(
            "negative limit",
            "/v1/accounts/me/history?limit=-1",
            Alice,
            E::BadRequest,
        ),
        get(
            "unknown query field",
            "/v1/accounts/me/history?foo=1",
            Alice,
            E::BadRequest,
        ),
        get(
            "before not a number",
            "/v1/accounts/me/history?before=x",
            Alice,
            E::BadRequest,
        ),
        // --- Withdraw.
        case(
            "bad base64",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/coins/0/blinded_msg", json!("!!!!")),
            E::BadRequest,
        ),
        case(
            "padded base64",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/coins/0/blinded_msg", json!("AAAA==")),
            E::BadRequest,
        ),
        case(
            "standard base64 alphabet",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/coins/0/blinded_msg", json!("ab+/")),
            E::BadRequest,
        ),
        case(
            "keyset id too short",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/coins/0/keyset_id", json!("AAAA")),
            E::BadRequest,
        ),
        case(
            "unknown keyset",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/coins", blinded_for(KeysetId([7; 32]))),
            E::UnknownKeyset,
        ),
        case(
            "blinded message too short",
            "POST",
            "/v1/withdraw",
            Alice,
            set(
                &withdraw,
                "/coins/0/blinded_msg",
                json!(b64_encode(&[1u8; 255])),
            ),
            E::BadBlindedMessage,
        ),
        case(
            "blinded message >= n",
            "POST",
            "/v1/withdraw",
            Alice,
            set(
                &withdraw,
                "/coins/0/blinded_msg",
                json!(b64_encode(&[0xffu8; 256])),
            ),
            E::BadBlindedMessage,
        ),
        case(
            "no coins",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/coins", json!([])),
            E::NoCoins,
        ),
        case(
            "too many coins",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/coins", json!(too_many_blinded)),
            E::TooManyCoins,
        ),
        case(
            "duplicate blinded coin",
            "POST",
            "/v1/withdraw",
            Alice,
            set(
                &withdraw,
                "/coins",
                json!([withdraw["coins"][0], withdraw["coins"][0]]),
            ),
            E::DuplicateCoin,
        ),
        case(
            "short request id",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/request_id", json!("abc")),
            E::BadRequest,
        ),
        case(
            "request id wrong type",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/request_id", json!(42)),
            E::BadRequest,
        ),
        case(
            "withdraw unknown field",
            "POST",
            "/v1/withdraw",
            Alice,
            add_field(&withdraw, "/coins/0"),
            E::BadRequest,
        ),
        case(
            "insufficient funds",
            "POST",
            "/v1/withdraw",
            Alice,
            to_json(&alice.prepare_withdraw(160).request),
            E::InsufficientFunds,
        ),
        case(
            "keyset no longer signs",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/coins", blinded_for(expired.withdraw_closed)),
            E::KeysetExpired,
        ),
        case(
            "keyset fully expired",
            "POST",
            "/v1/withdraw",
            Alice,
            set(&withdraw, "/coins", blinded_for(expired.expired)),
            E::KeysetExpired,
        ),
        // --- Deposit.
        case(
            "bad bank signature",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit,
                "/coins/0/coin/sig",
                flip(&deposit["coins"][0]["coin"]["sig"], 100),
            ),
            E::BadDenominationSignature,
        ),
        case(
            "short bank signature",
            "POST",
            "/v1/deposit",
            Alice,
            set(&deposit, "/coins/0/coin/sig", json!(b64_encode(&[1u8; 10]))),
            E::BadDenominationSignature,
        ),
        case(
            "other msg_prefix",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit,
                "/coins/0/coin/msg_prefix",
                flip(&deposit["coins"][0]["coin"]["msg_prefix"], 0),
            ),
            E::BadDenominationSignature,
        ),
        case(
            "coin moved to another keyset",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit,
                "/coins/0/coin/keyset_id",
                to_json(&coins[3].coin.keyset_id),
            ),
            E::BadDenominationSignature,
        ),
        case(
            "bad coin signature",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit,
                "/coins/0/coin_sig",
                flip(&deposit["coins"][0]["coin_sig"], 5),
            ),
            E::BadCoinSignature,
        ),
        case(
            "coin signed for bob",
            "POST",
            "/v1/deposit",
            Alice,
            deposit_of(&[good], "bob"),
            E::BadCoinSignature,
        ),
        case(
            "coin signed for a swap",
            "POST",
            "/v1/deposit",
            Alice,
            json!({"coins": [to_json(&good.spend(&SpendMessage::Swap { outputs_hash: [0; 32] }))]}),
            E::BadCoinSignature,
        ),
        case(
            "one good one bad coin",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit_of(&[good, good2], "alice"),
                "/coins/1/coin_sig",
                flip(&deposit_of(&[good2], "alice")["coins"][0]["coin_sig"], 0),
            ),
            E::BadCoinSignature,
        ),
        case(
            "expired coin",
            "POST",
            "/v1/deposit",
            Alice,
            deposit_of(&[&old_coin], "alice"),
            E::KeysetExpired,
        ),
        case(
            "duplicate coin",
            "POST",
            "/v1/deposit",
            Alice,
            deposit_of(&[good, good], "alice"),
            E::DuplicateCoin,
        ),
        case(
            "spent coin",
            "POST",
            "/v1/deposit",
            Alice,
            deposit_of(&[good, &spent], "alice"),
            E::CoinAlreadySpent,
        ),
        case(
            "coin of unknown keyset",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit,
                "/coins/0/coin/keyset_id",
                to_json(&KeysetId([9; 32])),
            ),
            E::UnknownKeyset,
        ),
        case(
            "small-order coin key",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit,
                "/coins/0/coin/coin_pub",
                json!(b64_encode(&identity)),
            ),
            E::BadRequest,
        ),
        case(
            "coin key not a point",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit,
                "/coins/0/coin/coin_pub",
                json!(b64_encode(&not_a_point)),
            ),
            E::BadRequest,
        ),
        case(
            "coin key too long",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit,
                "/coins/0/coin/coin_pub",
                json!(b64_encode(&[1; 33])),
            ),
            E::BadRequest,
        ),
        case(
            "msg_prefix too short",
            "POST",
            "/v1/deposit",
            Alice,
            set(
                &deposit,
                "/coins/0/coin/msg_prefix",
                json!(b64_encode(&[1; 31])),
            ),
            E::BadRequest,
        ),
        case(
            "deposit no coins",
            "POST",
            "/v1/deposit",
            Alice,
            json!({"coins": []}),
            E::NoCoins,
        ),
        case(
            "deposit unknown field",
            "POST",
            "/v1/deposit",
            Alice,
            add_field(&deposit, "/coins/0/coin"),
            E::BadRequest,
        ),
        // --- Swap.
        case(
            "swap value mismatch",
            "POST",
            "/v1/swap",
            None,
            swap_of(std::slice::from_ref(good), &[8, 4]),
            E::ValueMismatch,
        ),
        case(
            "swap value too high",
            "POST",
            "/v1/swap",
            None,
            swap_of(std::slice::from_ref(good), &[16, 1]),
            E::ValueMismatch,
        ),
        case(
            "swap sig over other outputs",
            "POST",
            "/v1/swap",
            None,
            set(
                &swap,
                "/outputs",
                swap_of(std::slice::from_ref(good), &[8, 8])["outputs"].clone(),
            ),
            E::BadCoinSignature,
        ),
        case(
            "swap no outputs",
            "POST",
            "/v1/swap",
            None,
            set(&swap, "/outputs", json!([])),
            E::NoCoins,
        ),
        case(
            "swap no inputs",
            "POST",
            "/v1/swap",
            None,
            set(&swap, "/inputs", json!([])),
            E::NoCoins,
        ),
        case(
            "swap spent input",
            "POST",
            "/v1/swap",
            None,
            swap_of(std::slice::from_ref(&spent), &[8]),
            E::CoinAlreadySpent,
        ),
        case(
            "swap duplicate input",
            "POST",
            "/v1/swap",
            None,
            swap_of(&[good.clone(), good.clone()], &[16, 16]),
            E::DuplicateCoin,
        ),
        case(
            "swap output unknown keyset",
            "POST",
            "/v1/swap",
            None,
            set(
                &swap,
                "/outputs",
                json!([{ "keyset_id": to_json(&KeysetId([3; 32])), "blinded_msg": b64_encode(&[1u8; 256]) }]),
            ),
            E::UnknownKeyset,
        ),
        case(
            "swap output keyset no longer signs",
            "POST",
            "/v1/swap",
            None,
            set(
                &swap_of(std::slice::from_ref(&closed_coin), &[1]),
                "/outputs",
                blinded_for(expired.withdraw_closed),
            ),
            E::KeysetExpired,
        ),
        case(
            "swap expired input",
            "POST",
            "/v1/swap",
            None,
            swap_of(std::slice::from_ref(&old_coin), &[1]),
            E::KeysetExpired,
        ),
        case(
            "swap bad blinded output",
            "POST",
            "/v1/swap",
            None,
            bad_output_swap,
            E::BadBlindedMessage,
        ),
        case(
            "swap bad bank signature",
            "POST",
            "/v1/swap",
            None,
            set(
                &swap,
                "/inputs/0/coin/sig",
                flip(&swap["inputs"][0]["coin"]["sig"], 7),
            ),
            E::BadDenominationSignature,
        ),
        case(
            "swap unknown field",
            "POST",
            "/v1/swap",
            None,
            add_field(&swap, ""),
            E::BadRequest,
        ),
        // --- Coin state.
        case(
            "state of an invalid key",
            "POST",
            "/v1/coins/state",
            None,
            json!({"coin_pubs": [b64_encode(&identity)]}),
            E::BadRequest,
        ),
        case(
            "state wrong type",
            "POST",
            "/v1/coins/state",
            None,
            json!({"coin_pubs": "x"}),
            E::BadRequest,
        ),
        case(
            "state of too many coins",
            "POST",
            "/v1/coins/state",
            None,
            json!({"coin_pubs": too_many_pubs}),
            E::TooManyCoins,
        ),
        // --- Routes.
        get("unknown route", "/v1/nope", None, E::NotFound),
        get("GET on a POST route", "/v1/withdraw", Alice, E::NotFound),
        case(
            "POST on a GET route",
            "POST",
            "/v1/keys",
            None,
            json!({}),
            E::NotFound,
        ),
        case(
            "unknown version",
            "POST",
            "/v1/accounts/me/nothing",
            Alice,
            json!({}),
            E::NotFound,
        ),
    ];

    let before = bank.audit();
    assert!(before.is_clean(), "{before}");
    let anon = bank.client();
    let alice_auth = format!("Bearer {}", alice.client.token.as_deref().unwrap());
    let admin_auth = format!("Bearer {}", bank.admin_token);
    let mut failures = Vec::new();
    for c in &cases {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(ct) = c.content_type {
            headers.push(("content-type", ct));
        }
        match c.auth {
            Auth::None => {}
            Auth::Alice => headers.push(("authorization", &alice_auth)),
            Auth::Admin => headers.push(("authorization", &admin_auth)),
        }
        let r = match anon.raw(c.method, &c.path, &headers, c.body.clone()).await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: no answer: {e}", c.name));
                continue;
            }
        };
        let ok = r.status == c.code.http_status()
            && r.code() == Some(c.code.as_str().as_str())
            && r.body.get("detail").is_some_and(Value::is_string)
            && r.body.as_object().is_some_and(|o| o.len() == 2);
        if !ok {
            failures.push(format!(
                "{}: expected {} {}, got {} {}",
                c.name,
                c.code.http_status(),
                c.code,
                r.status,
                r.body
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Nothing changed: the same books, the same coins unspent.
    let after = bank.audit();
    assert_eq!(before, after);
    let states = alice
        .client
        .coin_states(&[good.coin.coin_pub, good2.coin.coin_pub])
        .await
        .unwrap();
    assert_eq!(states, vec![CoinState::Unspent, CoinState::Unspent]);
    let health: Value = anon.get("/v1/health").await.unwrap();
    assert_eq!(health["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_overflow_is_refused_and_changes_nothing() {
    let bank = TestBank::start().await;
    let bob = bank.user("bob", 0).await;
    let max = i64::MAX as u64;
    bob.client
        .admin_credit(&bank.admin_token, "bob", max)
        .await
        .unwrap();
    let before = bank.audit();
    expect_code(
        bob.client.admin_credit(&bank.admin_token, "bob", 1).await,
        ErrorCode::AmountOverflow,
    );
    assert_eq!(bank.audit(), before);
    assert_eq!(bob.client.balance().await.unwrap().minor(), max);
    bank.assert_audit_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coins_of_a_keyset_that_stopped_signing_still_deposit() {
    let bank = TestBank::start_with(Options {
        expired_keysets: true,
        ..Options::default()
    })
    .await;
    let expired = bank.expired.unwrap();
    let alice = bank.user("alice", 0).await;
    // Not listed any more once fully expired; still listed while depositable.
    let listed: Vec<KeysetId> = alice.keysets.keys().copied().collect();
    assert!(listed.contains(&expired.withdraw_closed));
    assert!(!listed.contains(&expired.expired));
    // A coin of the closed keyset (withdrawn before it closed) deposits.
    let c = bank.mint(&expired.withdraw_closed);
    let r = alice.deposit(std::slice::from_ref(&c)).await.unwrap();
    assert_eq!(r.credited.minor(), 1);
    // And swaps into current keysets: here a second such coin.
    let c2 = bank.mint(&expired.withdraw_closed);
    let fresh = alice
        .swap(std::slice::from_ref(&c2), Some(&[1]))
        .await
        .unwrap();
    assert_ne!(fresh[0].coin.keyset_id, expired.withdraw_closed);
    // The audit counts minted-by-hand coins as spent but never signed, so it
    // is not balanced here; check the coins themselves verify.
    let report = bank.audit();
    assert!(
        report.problems.iter().all(|p| !p.starts_with("coin ")),
        "{report}"
    );
}
