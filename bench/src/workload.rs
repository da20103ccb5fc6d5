//! The timed phase: `concurrency` wallets send the prepared requests, one in
//! flight each, until the requests run out or the time is up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::setup::{Kind, Prepared};
use crate::{Cli, http1};

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
    /// CPU seconds the generator itself used in the timed phase (Linux).
    pub generator_cpu: Option<f64>,
}

/// CPU seconds (user + system) of this process so far.
fn own_cpu_seconds() -> Option<f64> {
    crate::server::cpu_seconds_of("self")
}

/// Runs the timed phase.
pub async fn run(url: &str, cli: &Cli, prepared: Vec<Prepared>) -> anyhow::Result<RunResult> {
    let addr = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("the load phase speaks plain HTTP/1.1 only: {url}"))?
        .trim_end_matches('/')
        .to_owned();
    // Rendered before the clock starts: the timed phase only writes and reads.
    let requests: Vec<(Kind, usize, Vec<u8>)> = prepared
        .iter()
        .map(|p| {
            (
                p.kind,
                p.coins,
                http1::render(&addr, &p.path, p.bearer.as_deref(), &p.body),
            )
        })
        .collect();
    drop(prepared);
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let mut kinds = BTreeMap::new();
    for (kind, _, _) in requests.iter() {
        if let std::collections::btree_map::Entry::Vacant(e) = kinds.entry(*kind) {
            e.insert(KindStats::new()?);
        }
    }
    let stats = Arc::new(Mutex::new(kinds));
    let deadline = Instant::now() + Duration::from_secs_f64(cli.seconds.max(0.0));
    let cpu_before = own_cpu_seconds();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(cli.concurrency);
    for _ in 0..cli.concurrency {
        let (addr, requests, next, stats) =
            (addr.clone(), requests.clone(), next.clone(), stats.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = http1::Conn::new(&addr, Duration::from_secs(30));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests.len() || Instant::now() >= deadline {
                    break;
                }
                let (kind, coins, bytes) = &requests[i];
                let t0 = Instant::now();
                let outcome = match conn.send(bytes).await {
                    Ok(resp) if (200..300).contains(&resp.status) => Ok(()),
                    Ok(resp) => Err(serde_json::from_slice::<serde_json::Value>(&resp.body)
                        .ok()
                        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                        .unwrap_or_else(|| format!("HTTP_{}", resp.status))),
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err("TIMEOUT".to_owned()),
                    Err(_) => Err("TRANSPORT".to_owned()),
                };
                let us = u64::try_from(t0.elapsed().as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let Ok(mut s) = stats.lock() else { break };
                let Some(k) = s.get_mut(kind) else { break };
                k.requests += 1;
                let _ = k.latency_us.record(us);
                match outcome {
                    Ok(()) => {
                        k.ok += 1;
                        k.coins += *coins as u64;
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
    let generator_cpu = own_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let kinds = Arc::try_unwrap(stats)
        .map_err(|_| anyhow::anyhow!("workers still running"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a worker panicked"))?;
    Ok(RunResult {
        elapsed,
        kinds,
        generator_cpu,
    })
}
