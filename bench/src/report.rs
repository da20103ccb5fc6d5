//! The result table (and a JSON line for scripts).

use crate::Cli;
use crate::server::Audit;
use crate::workload::RunResult;

/// Prints the figures of a run.
pub fn print(
    cli: &Cli,
    r: &RunResult,
    rss_kib: Option<u64>,
    server_cpu_s: Option<f64>,
    audit: Option<&Audit>,
) {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    println!(
        "workload={:?} concurrency={} coins/request={} elapsed={:.2}s",
        cli.workload, cli.concurrency, cli.coins_per_request, secs
    );
    println!("| kind | requests | ok | coins/s | requests/s | p50 ms | p95 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut json_kinds = serde_json::Map::new();
    for (kind, k) in &r.kinds {
        let q = |p: f64| k.latency_us.value_at_quantile(p) as f64 / 1000.0;
        let errors = if k.errors.is_empty() {
            "-".to_owned()
        } else {
            k.errors
                .iter()
                .map(|(c, n)| format!("{c}×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "| {kind:?} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {errors} |",
            k.requests,
            k.ok,
            k.coins as f64 / secs,
            k.requests as f64 / secs,
            q(0.50),
            q(0.95),
            q(0.99)
        );
        json_kinds.insert(
            format!("{kind:?}").to_lowercase(),
            serde_json::json!({
                "requests": k.requests, "ok": k.ok,
                "coins_per_s": k.coins as f64 / secs, "requests_per_s": k.requests as f64 / secs,
                "p50_ms": q(0.50), "p95_ms": q(0.95), "p99_ms": q(0.99),
                "errors": k.errors,
            }),
        );
    }
    let total_coins: u64 = r.kinds.values().map(|k| k.coins).sum();
    println!("total coins/s: {:.0}", total_coins as f64 / secs);
    if let Some(cpu) = server_cpu_s {
        println!(
            "server CPU: {cpu:.2} s in {secs:.2} s ({:.0}% of one core; {:.0} µs per coin)",
            cpu / secs * 100.0,
            cpu * 1e6 / (total_coins.max(1) as f64)
        );
    }
    if let Some(cpu) = r.generator_cpu {
        println!(
            "generator CPU: {cpu:.2} s ({:.0}% of one core; {:.0} µs per request)",
            cpu / secs * 100.0,
            cpu * 1e6 / (r.kinds.values().map(|k| k.requests).sum::<u64>().max(1) as f64)
        );
    }
    match rss_kib {
        Some(kib) => println!("server peak RSS: {:.1} MB", kib as f64 / 1024.0),
        None => println!("server peak RSS: unknown (start the server with --server-bin)"),
    }
    match audit {
        Some(a) if a.clean => println!("audit: clean"),
        Some(a) => println!("audit: FAILED\n{}", a.output),
        None => println!("audit: not run (start the server with --server-bin)"),
    }
    if cli.json {
        let line = serde_json::json!({
            "workload": format!("{:?}", cli.workload).to_lowercase(),
            "concurrency": cli.concurrency,
            "coins_per_request": cli.coins_per_request,
            "elapsed_s": secs,
            "total_coins_per_s": total_coins as f64 / secs,
            "peak_rss_mb": rss_kib.map(|k| k as f64 / 1024.0),
            "server_cpu_s": server_cpu_s,
            "generator_cpu_s": r.generator_cpu,
            "audit_clean": audit.map(|a| a.clean),
            "kinds": json_kinds,
        });
        println!("JSON {line}");
    }
}
