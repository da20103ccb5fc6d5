#!/usr/bin/env bash
# Browser tests (wasm-bindgen-test in headless Chromium). The wallet's resume
# test talks to a real bank-server: start one on a free loopback port with a
# temporary database, hand its URL and operator token to the test build, and
# stop it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"

$CARGO build -q -p bank-server
dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
token="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
BANK_ADMIN_TOKEN="$token" target/debug/bank-server --db "$dir/bank.sqlite" --max-denomination 64 \
  serve --listen "127.0.0.1:$port" --static-dir "$dir/none" >"$dir/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/server.log"; exit 1; }
  sleep 0.2
done

$CARGO test -p ecash-shared --target wasm32-unknown-unknown --test vectors
$CARGO test -p ecash-card --target wasm32-unknown-unknown --test wasm_virtual
ECASH_TEST_BANK_URL="http://127.0.0.1:$port" ECASH_TEST_ADMIN_TOKEN="$token" \
  $CARGO test -p wallet-web --target wasm32-unknown-unknown --test web --test idb --test ui --test resume --test card
