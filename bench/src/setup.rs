//! Setup (not timed): accounts, credits, coins, and every request body of the
//! timed phase, pre-serialized, so the generator spends almost nothing per
//! request and the figures are the bank's.

use anyhow::{Context, bail};
use ecash_shared::api::{
    AdminCreditRequest, BlindSignaturesResponse, CreateOrderRequest, CreateOrderResponse,
    Credentials, DepositRequest, KeysResponse, LoginResponse, PayRequest, SpendCoin, SwapRequest,
    WithdrawRequest,
};
use ecash_shared::coin::{BlindedCoin, PlanchetSecrets, hash_outputs};
use ecash_shared::encoding::b64_encode;
use ecash_shared::{Amount, Coin, CoinSecret, Keyset, SpendMessage};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Cli, Workload};

/// Kinds of timed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `POST /v1/withdraw`.
    Withdraw,
    /// `POST /v1/deposit`.
    Deposit,
    /// `POST /v1/swap`.
    Swap,
    /// `POST /v1/orders/{id}/pay`.
    Pay,
}

/// One request of the timed phase, ready to send.
pub struct Prepared {
    /// What it is.
    pub kind: Kind,
    /// Path under the base URL.
    pub path: String,
    /// Bearer token.
    pub bearer: Option<String>,
    /// JSON body.
    pub body: Vec<u8>,
    /// Coins it moves.
    pub coins: usize,
}

struct Account {
    name: String,
    token: String,
}

async fn post<B: Serialize, R: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: &B,
) -> anyhow::Result<R> {
    let mut req = http.post(url).json(body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("POST {url}: {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("POST {url}: {text}"))
}

fn random_id() -> anyhow::Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(b64_encode(&b))
}

async fn open_account(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    name: &str,
    merchant: bool,
    credit: u64,
) -> anyhow::Result<Account> {
    let creds = Credentials {
        username: name.to_owned(),
        password: "load-test-password".to_owned(),
        merchant,
    };
    let _: serde_json::Value = post(http, &format!("{url}/v1/accounts"), None, &creds).await?;
    let login_creds = Credentials {
        merchant: false,
        ..creds
    };
    let login: LoginResponse = post(http, &format!("{url}/v1/login"), None, &login_creds).await?;
    if credit > 0 {
        let _: serde_json::Value = post(
            http,
            &format!("{url}/v1/admin/credit"),
            Some(admin),
            &AdminCreditRequest {
                username: name.to_owned(),
                amount: Amount::from_minor(credit),
            },
        )
        .await?;
    }
    Ok(Account {
        name: name.to_owned(),
        token: login.token,
    })
}

/// Coins made through the real withdraw endpoint (distinct, valid, unspent).
async fn mint(
    http: &reqwest::Client,
    url: &str,
    account: &Account,
    keyset: &Keyset,
    count: usize,
) -> anyhow::Result<Vec<(Coin, CoinSecret)>> {
    let mut out = Vec::with_capacity(count);
    let mut left = count;
    while left > 0 {
        let n = left.min(256);
        let planchets =
            PlanchetSecrets::create_many(keyset, n).map_err(|e| anyhow::anyhow!("{e}"))?;
        let req = WithdrawRequest {
            request_id: random_id()?,
            coins: planchets.iter().map(|p| p.blinded.clone()).collect(),
        };
        let resp: BlindSignaturesResponse = post(
            http,
            &format!("{url}/v1/withdraw"),
            Some(&account.token),
            &req,
        )
        .await?;
        for (p, sig) in planchets.into_iter().zip(resp.blind_sigs) {
            let coin = p
                .finish(keyset, sig.as_slice())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            out.push((coin, p.secret));
        }
        left -= n;
        if out.len() % 4096 < n {
            eprintln!("ecash-load: minted {} of {count} coins", out.len());
        }
    }
    Ok(out)
}

/// How many requests of each kind a workload needs.
fn plan(cli: &Cli) -> Vec<Kind> {
    let pattern: &[Kind] = match cli.workload {
        Workload::Withdraw => &[Kind::Withdraw],
        Workload::Deposit => &[Kind::Deposit],
        Workload::Swap => &[Kind::Swap],
        Workload::Pay => &[Kind::Pay],
        Workload::Mixed => &[
            Kind::Withdraw,
            Kind::Pay,
            Kind::Deposit,
            Kind::Pay,
            Kind::Swap,
        ],
    };
    (0..cli.requests)
        .map(|i| pattern[i % pattern.len()])
        .collect()
}

/// Prepares every request of the timed phase.
pub async fn prepare(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    cli: &Cli,
) -> anyhow::Result<Vec<Prepared>> {
    let keys: KeysResponse = http
        .get(format!("{url}/v1/keys"))
        .send()
        .await?
        .json()
        .await?;
    let keyset = keys
        .keysets
        .iter()
        .filter_map(|k| Keyset::from_info(k, keys.currency).ok())
        .filter(|k| k.value == Amount::from_minor(1))
        .max_by_key(|k| k.withdraw_until)
        .context("the bank has no keyset of value 1")?;
    let kinds = plan(cli);
    let k = cli.coins_per_request;
    let count = |kind| kinds.iter().filter(|&&x| x == kind).count();
    let spend_coins = (count(Kind::Deposit) + count(Kind::Swap) + count(Kind::Pay)) * k;
    let withdraw_coins = count(Kind::Withdraw) * k;

    // Accounts: a few, shared by the wallets (each request names its own).
    let run_tag = &random_id()?[..8];
    let n_accounts = cli.concurrency.clamp(1, 8);
    // Every account can fund its share of the withdrawals twice over; the first
    // also mints every coin the spending workloads use.
    let credit_each = u64::try_from(withdraw_coins)?.saturating_mul(2) / n_accounts as u64 + 1_000;
    let mut accounts = Vec::with_capacity(n_accounts);
    for i in 0..n_accounts {
        let name = format!(
            "load-{}-{i}",
            run_tag.to_ascii_lowercase().replace(['_', '-'], "x")
        );
        let extra = if i == 0 {
            u64::try_from(spend_coins)?
        } else {
            0
        };
        accounts.push(open_account(http, url, admin, &name, false, credit_each + extra).await?);
    }
    let merchant = if count(Kind::Pay) > 0 {
        let name = format!(
            "shop-{}",
            run_tag.to_ascii_lowercase().replace(['_', '-'], "x")
        );
        Some(open_account(http, url, admin, &name, true, 0).await?)
    } else {
        None
    };

    eprintln!("ecash-load: minting {spend_coins} coins for spending");
    let mut coins = mint(http, url, &accounts[0], &keyset, spend_coins).await?;
    // Blinded outputs for withdraw and swap: a pool reused round-robin (the
    // bank's work per coin is the same whether or not a message repeats).
    let pool: Vec<BlindedCoin> = PlanchetSecrets::create_many(&keyset, 64)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .map(|p| p.blinded)
        .collect();
    let outputs = |i: usize| -> Vec<BlindedCoin> {
        (0..k)
            .map(|j| pool[(i * k + j) % pool.len()].clone())
            .collect()
    };

    let mut out = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let account = &accounts[i % accounts.len()];
        let p = match kind {
            Kind::Withdraw => Prepared {
                kind: *kind,
                path: "/v1/withdraw".into(),
                bearer: Some(account.token.clone()),
                body: serde_json::to_vec(&WithdrawRequest {
                    request_id: random_id()?,
                    coins: outputs(i),
                })?,
                coins: k,
            },
            Kind::Deposit => {
                let msg = SpendMessage::Deposit {
                    account: account.name.clone(),
                };
                let spend = take(&mut coins, k, &msg)?;
                Prepared {
                    kind: *kind,
                    path: "/v1/deposit".into(),
                    bearer: Some(account.token.clone()),
                    body: serde_json::to_vec(&DepositRequest { coins: spend })?,
                    coins: k,
                }
            }
            Kind::Swap => {
                let outs = outputs(i);
                let msg = SpendMessage::Swap {
                    outputs_hash: hash_outputs(&outs),
                };
                let spend = take(&mut coins, k, &msg)?;
                Prepared {
                    kind: *kind,
                    path: "/v1/swap".into(),
                    bearer: None,
                    body: serde_json::to_vec(&SwapRequest {
                        inputs: spend,
                        outputs: outs,
                    })?,
                    coins: k,
                }
            }
            Kind::Pay => {
                let shop = merchant.as_ref().context("no merchant")?;
                let order: CreateOrderResponse = post(
                    http,
                    &format!("{url}/v1/merchant/orders"),
                    Some(&shop.token),
                    &CreateOrderRequest {
                        amount: Amount::from_minor(u64::try_from(k)?),
                        summary: format!("load order {i}"),
                        fulfillment_url: None,
                        expires_in: Some(3600),
                        allowed_origin: None,
                    },
                )
                .await?;
                let msg = SpendMessage::Pay {
                    contract_hash: order.contract.contract_hash,
                };
                let spend = take(&mut coins, k, &msg)?;
                Prepared {
                    kind: *kind,
                    path: format!("/v1/orders/{}/pay", order.order_id),
                    bearer: None,
                    body: serde_json::to_vec(&PayRequest { coins: spend })?,
                    coins: k,
                }
            }
        };
        out.push(p);
    }
    Ok(out)
}

fn take(
    coins: &mut Vec<(Coin, CoinSecret)>,
    k: usize,
    msg: &SpendMessage,
) -> anyhow::Result<Vec<SpendCoin>> {
    (0..k)
        .map(|_| {
            let (coin, secret) = coins.pop().context("ran out of prepared coins")?;
            Ok(SpendCoin {
                coin_sig: secret.sign(msg),
                coin,
            })
        })
        .collect()
}
