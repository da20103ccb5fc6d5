#!/usr/bin/env bash
# `make bench`: the bank's throughput next to `openssl speed` on the same machine,
# in the same run. Prints the issue's target table with measured values and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh bench >&2
cargo build --release -q -p bank-server -p ecash-bench >&2
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

speed() { # sign/s of `openssl speed rsa2048` with extra args
  openssl speed -seconds "${OPENSSL_SECONDS:-5}" "$@" rsa2048 2>/dev/null | awk '$1 == "rsa" && $2 == "2048" {print $(NF-1)}'
}
echo "[bench] openssl speed rsa2048 (1 core, then -multi 2)" >&2
ssl1="$(speed)"
ssl2="$(speed -multi 2)"

echo "[bench] criterion: bank hot paths" >&2
cargo bench -q -p bank-server --bench hot_paths -- --noplot >&2
sign1="$(python3 -c 'import json; e=json.load(open("target/criterion/bank/blind_sign_openssl/new/estimates.json")); print(round(1e9/e["mean"]["point_estimate"]))')"

load() { # name, then ecash-load arguments
  local name="$1"; shift
  echo "[bench] ecash-load $*" >&2
  target/release/ecash-load --server-bin target/release/bank-server --json "$@" | tee "$out/$name.txt" >&2
  grep '^JSON ' "$out/$name.txt" | sed 's/^JSON //' > "$out/$name.json"
}
load withdraw --workload withdraw --coins-per-request 64 --requests 300 --concurrency 16 --seconds 30
load deposit --workload deposit --coins-per-request 64 --requests 200 --concurrency 16 --seconds 30
load pay64 --workload pay --coins-per-request 64 --requests 200 --concurrency 16 --seconds 30
load pay1 --workload pay --coins-per-request 1 --requests 3000 --concurrency 100 --seconds 30
load mixed --workload mixed --coins-per-request 1 --requests 3000 --concurrency 100 --seconds 30

python3 - "$out" "$ssl1" "$ssl2" "$sign1" <<'PY'
import json, sys, os, datetime
out, ssl1, ssl2, sign1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
r = {n: json.load(open(os.path.join(out, n + ".json"))) for n in ["withdraw", "deposit", "pay64", "pay1", "mixed"]}
for n, v in r.items():
    assert v["audit_clean"], f"audit failed after {n}"
wd = r["withdraw"]["kinds"]["withdraw"]["coins_per_s"]
dep = r["deposit"]["kinds"]["deposit"]["coins_per_s"]
pay = r["pay64"]["kinds"]["pay"]["coins_per_s"]
p99 = r["pay1"]["kinds"]["pay"]["p99_ms"]
rss = max(v["peak_rss_mb"] or 0 for v in r.values())
rows = [
    ("blind-sign op/s on one core (OpenSSL backend, criterion)", f"{sign1:.0f}", f"{sign1/ssl1:.2f} × openssl sign/s ({ssl1:.0f})", "≥ 0.90 ×", sign1/ssl1 >= 0.9),
    ("withdraw coins/s end-to-end (64 coins/request, 16 wallets)", f"{wd:.0f}", f"{wd/ssl2:.2f} × openssl -multi 2 ({ssl2:.0f})", "≥ 0.70 ×", wd/ssl2 >= 0.7),
    ("deposit coins/s end-to-end (64 coins/request, 16 wallets)", f"{dep:.0f}", f"{dep/ssl1:.2f} × openssl sign/s", "≥ 10,000", dep >= 10000),
    ("pay coins/s end-to-end (64 coins/request, 16 wallets)", f"{pay:.0f}", f"{pay/ssl1:.2f} × openssl sign/s", "≥ 10,000", pay >= 10000),
    ("p99 pay latency, 100 wallets, 1 coin each", f"{p99:.1f} ms", "-", "≤ 20 ms", p99 <= 20),
    ("bank-server peak RSS under load (all runs)", f"{rss:.0f} MB", "-", "≤ 100 MB", rss <= 100),
]
print(f"Measured {datetime.date.today()} on {os.cpu_count()} cores; load generator and server share them.")
print()
print("| figure | measured | ratio to baseline | target | met |")
print("|---|---:|---|---|---|")
for name, m, ratio, target, ok in rows:
    print(f"| {name} | {m} | {ratio} | {target} | {'yes' if ok else 'NO'} |")
mx = r["mixed"]
print()
print(f"Mixed workload (100 wallets, 1 coin/request): {mx['total_coins_per_s']:.0f} coins/s, " +
      ", ".join(f"{k} p99 {v['p99_ms']:.1f} ms" for k, v in mx["kinds"].items()) +
      f"; server CPU {mx['server_cpu_s']:.2f} s in {mx['elapsed_s']:.2f} s.")
PY
