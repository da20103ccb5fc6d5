//! The timed phase: `concurrency` wallets send the prepared requests, one in
//! flight each, until the requests run out or the time is up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::Cli;
use crate::setup::{Kind, Prepared};

/// Figures of one kind of request.
pub struct KindStats {
    /// Requests sent.
    pub requests: u64,
    /// Requests answered 2xx.
    pub ok: u64,
    /// Coins moved by successful requests.
    pub coins: u64,
    /// Latency of every request, microseconds.
    pub latency_us: Histogram<u64>,
    /// Error answers by code (or transport failure).
    pub errors: BTreeMap<String, u64>,
}

impl KindStats {
    fn new() -> anyhow::Result<Self> {
        Ok(KindStats {
            requests: 0,
            ok: 0,
            coins: 0,
            latency_us: Histogram::new_with_bounds(1, 120_000_000, 3)?,
            errors: BTreeMap::new(),
        })
    }
}

/// The result of a run.
pub struct RunResult {
    /// Wall time of the timed phase.
    pub elapsed: Duration,
    /// Per kind.
    pub kinds: BTreeMap<Kind, KindStats>,
}

/// Runs the timed phase.
pub async fn run(
    http: &reqwest::Client,
    url: &str,
    cli: &Cli,
    prepared: Vec<Prepared>,
) -> anyhow::Result<RunResult> {
    let prepared = Arc::new(prepared);
    let next = Arc::new(AtomicUsize::new(0));
    let mut kinds = BTreeMap::new();
    for p in prepared.iter() {
        if let std::collections::btree_map::Entry::Vacant(e) = kinds.entry(p.kind) {
            e.insert(KindStats::new()?);
        }
    }
    let stats = Arc::new(Mutex::new(kinds));
    let deadline = Instant::now() + Duration::from_secs_f64(cli.seconds.max(0.0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(cli.concurrency);
    for _ in 0..cli.concurrency {
        let (http, url, prepared, next, stats) = (
            http.clone(),
            url.to_owned(),
            prepared.clone(),
            next.clone(),
            stats.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= prepared.len() || Instant::now() >= deadline {
                    break;
                }
                let p = &prepared[i];
                let mut req = http
                    .post(format!("{url}{}", p.path))
                    .header("content-type", "application/json")
                    .body(p.body.clone());
                if let Some(t) = &p.bearer {
                    req = req.bearer_auth(t);
                }
                let t0 = Instant::now();
                let outcome = match req.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        let body = resp.bytes().await.unwrap_or_default();
                        if status.is_success() {
                            Ok(())
                        } else {
                            let code = serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|v| {
                                    v.get("code").and_then(|c| c.as_str()).map(str::to_owned)
                                })
                                .unwrap_or_else(|| format!("HTTP_{}", status.as_u16()));
                            Err(code)
                        }
                    }
                    Err(e) => Err(if e.is_timeout() {
                        "TIMEOUT".to_owned()
                    } else {
                        "TRANSPORT".to_owned()
                    }),
                };
                let us = u64::try_from(t0.elapsed().as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let Ok(mut s) = stats.lock() else { break };
                let Some(k) = s.get_mut(&p.kind) else { break };
                k.requests += 1;
                let _ = k.latency_us.record(us);
                match outcome {
                    Ok(()) => {
                        k.ok += 1;
                        k.coins += p.coins as u64;
                    }
                    Err(code) => *k.errors.entry(code).or_default() += 1,
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed();
    let kinds = Arc::try_unwrap(stats)
        .map_err(|_| anyhow::anyhow!("workers still running"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a worker panicked"))?;
    Ok(RunResult { elapsed, kinds })
}
