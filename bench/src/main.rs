//! `ecash-load`: drives a running `bank-server` over loopback HTTP with many
//! concurrent simulated wallets and reports throughput, latency percentiles,
//! errors by code and the server's peak memory, then runs `bank-server audit`.
//!
//! - [`setup`] (module) — accounts, credits, pre-made coins and signatures, so
//!   the timed phase measures the bank, not the load generator's crypto.
//! - [`workload`] (module) — the request loops: withdraw, deposit, swap, pay, mixed.
//! - [`server`] (module) — starting the server binary on a temporary database,
//!   reading its peak RSS, running the audit.
//! - [`report`] (module) — histograms and the result table.
//!
//! Every run is bounded: by `--seconds` and by the coins prepared in setup.

mod http1;
mod report;
mod server;
mod setup;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// What the simulated wallets do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Withdraw blinded coins (account debit + blind signatures).
    Withdraw,
    /// Deposit coins into the account.
    Deposit,
    /// Swap coins for fresh blinded coins.
    Swap,
    /// Pay merchant orders with coins.
    Pay,
    /// A mix: 1 withdraw, 2 pay, 1 deposit, 1 swap in every 5 requests.
    Mixed,
}

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "ecash-load", version, about = "Load generator for bank-server")]
pub struct Cli {
    /// Workload.
    #[arg(long, value_enum, default_value = "mixed")]
    pub workload: Workload,
    /// Concurrent simulated wallets (each one request in flight).
    #[arg(long, default_value_t = 100)]
    pub concurrency: usize,
    /// Coins per request.
    #[arg(long, default_value_t = 1)]
    pub coins_per_request: usize,
    /// Stop after this many seconds of load.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Stop after this many requests (across all wallets); also sizes the coins
    /// prepared for deposit/swap/pay, which bounds those runs.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Start this `bank-server` binary on a temporary database (recommended:
    /// peak RSS and the final audit need it).
    #[arg(long, conflicts_with = "url")]
    pub server_bin: Option<PathBuf>,
    /// Extra arguments for the started server (e.g. `--workers 2`).
    #[arg(long, allow_hyphen_values = true)]
    pub server_arg: Vec<String>,
    /// Or use a running server at this URL.
    #[arg(long)]
    pub url: Option<String>,
    /// Operator token of a running server (`BANK_ADMIN_TOKEN`).
    #[arg(long, env = "BANK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Print the result as one JSON line too (for scripts).
    #[arg(long)]
    pub json: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the generator should leave the cores to the server.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    anyhow::ensure!(
        cli.concurrency > 0 && cli.coins_per_request > 0,
        "concurrency and coins per request must be positive"
    );
    anyhow::ensure!(
        cli.coins_per_request <= ecash_shared::api::MAX_COINS_PER_REQUEST,
        "too many coins per request"
    );
    let started = match &cli.server_bin {
        Some(bin) => Some(server::Started::start(bin, &cli.server_arg).await?),
        None => None,
    };
    let (url, admin) = match (&started, &cli.url) {
        (Some(s), _) => (s.url.clone(), s.admin_token.clone()),
        (None, Some(u)) => (
            u.trim_end_matches('/').to_owned(),
            cli.admin_token.clone().ok_or_else(|| {
                anyhow::anyhow!("--admin-token (or BANK_ADMIN_TOKEN) is needed with --url")
            })?,
        ),
        (None, None) => anyhow::bail!("give --server-bin or --url"),
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    eprintln!(
        "ecash-load: preparing {:?} ({} wallets, {} coins/request) against {url}",
        cli.workload, cli.concurrency, cli.coins_per_request
    );
    let prepared = setup::prepare(&http, &url, &admin, &cli).await?;
    let setup_rss_kib = started.as_ref().and_then(server::Started::peak_rss_kib);
    if started.as_ref().is_some_and(|s| !s.reset_peak_rss()) {
        eprintln!("ecash-load: could not reset the peak RSS counter; the peak includes setup");
    }
    eprintln!(
        "ecash-load: running for at most {} s / {} requests",
        cli.seconds, cli.requests
    );
    let cpu_before = started.as_ref().and_then(server::Started::cpu_seconds);
    let result = workload::run(&url, &cli, prepared).await?;
    let server_cpu = started
        .as_ref()
        .and_then(server::Started::cpu_seconds)
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let (rss_kib, audit) = match &started {
        Some(s) => (s.peak_rss_kib(), Some(s.audit()?)),
        None => (None, None),
    };
    if let Some(kib) = setup_rss_kib {
        eprintln!(
            "ecash-load: server peak RSS during setup: {:.1} MB",
            kib as f64 / 1024.0
        );
    }
    report::print(&cli, &result, rss_kib, server_cpu, audit.as_ref());
    if let Some(s) = started {
        s.stop();
    }
    match audit {
        Some(a) if !a.clean => anyhow::bail!("audit failed:\n{}", a.output),
        _ => Ok(()),
    }
}
