#!/usr/bin/env bash
# Blind-RSA benchmarks next to `openssl speed` on the same machine, in the same run.
# Prints a Markdown table: ops/s of each RFC 9474 operation and its ratio to
# OpenSSL's RSA sign/s (private operation) or verify/s (public operation).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh bench >&2

SECONDS_PER_RUN="${OPENSSL_SECONDS:-3}"
declare -A SSL_SIGN SSL_VERIFY
for bits in 2048 3072; do
  line="$(openssl speed -seconds "$SECONDS_PER_RUN" "rsa$bits" 2>/dev/null | awk -v b="$bits" '$1 == "rsa" && $2 == b {print}')"
  SSL_SIGN[$bits]="$(awk '{print $(NF-1)}' <<<"$line")"
  SSL_VERIFY[$bits]="$(awk '{print $NF}' <<<"$line")"
done

cargo bench -p ecash-shared --bench blind_rsa -- --noplot >&2

ops_per_sec() { # criterion's mean point estimate (ns) -> ops/s
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(round(1e9/e["mean"]["point_estimate"]))' \
    "target/criterion/$1/$2/new/estimates.json"
}

echo
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(openssl version | cut -d' ' -f1-2), one core per operation."
echo
echo "| key | operation | who | ecash-shared ops/s | OpenSSL ops/s | ratio |"
echo "|---|---|---|---:|---:|---:|"
for bits in 2048 3072; do
  for op in blind blind_sign finalize verify; do
    ours="$(ops_per_sec "rsa$bits" "$op")"
    case "$op" in
      blind_sign) who="bank"; base="${SSL_SIGN[$bits]}"; basename="sign" ;;
      verify) who="anyone"; base="${SSL_VERIFY[$bits]}"; basename="verify" ;;
      *) who="wallet"; base="${SSL_VERIFY[$bits]}"; basename="verify" ;;
    esac
    ratio="$(python3 -c "print(f'{$ours/$base:.2f}')")"
    echo "| RSA-$bits | $op | $who | $ours | $base ($basename) | $ratio |"
  done
done
