#!/usr/bin/env bash
# End-to-end browser test (tests/e2e/): builds the bank-server and the wallet
# (dist/), installs the test's npm dependencies if they are missing or stale,
# starts the bank-server on a free loopback port with a temporary database and
# a random operator token, runs `node --test` on tests/e2e/ (Playwright driving
# /usr/bin/chromium) and stops the server on exit. Screenshots of every step
# go to tests/e2e/artifacts/ (with the server log and the browsers' console).
#
# Quiet except for the test's TAP output; a failing build prints its log.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
E2E=tests/e2e
ARTIFACTS="$PWD/$E2E/artifacts"

# Runs a command with its output kept aside; shows it only if it fails.
quiet() {
  local out
  out="$(mktemp)"
  if ! "$@" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    echo "test-e2e: failed: $*" >&2
    return 1
  fi
  rm -f "$out"
}

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
[ "$node_major" -ge 20 ] || { echo "test-e2e: needs Node.js >= 20 (playwright-core), found: $(node --version 2>/dev/null || echo none)" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "test-e2e: /usr/bin/chromium is missing (scripts/setup.sh test)" >&2; exit 1; }

# The server and the wallet it serves.
quiet $CARGO build -q -p bank-server
quiet $CARGO fetch -q # Trunk.toml sets offline: the crates must be there
# Trunk's -Oz pass runs tools/binaryen's wasm-opt (scripts/setup.sh installs it).
PATH="$PWD/tools/binaryen/node_modules/.bin:$PATH" quiet trunk build --release

# npm dependencies: again only when node_modules is missing or older than the lock.
installed="$E2E/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ ! -d "$E2E/node_modules/playwright-core" ] ||
  [ "$E2E/package-lock.json" -nt "$installed" ] || [ "$E2E/package.json" -nt "$installed" ]; then
  quiet npm ci --prefix "$E2E" --no-audit --no-fund --loglevel=error
fi

dir="$(mktemp -d)"
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
token="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
server=""
cleanup() {
  local rc=$?
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -d "$ARTIFACTS" ] && [ -f "$dir/server.log" ]; then
    cp "$dir/server.log" "$ARTIFACTS/bank-server.log" 2>/dev/null || true
  fi
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Explicit database, key file and currency: nothing from the environment.
env -u BANK_DB -u BANK_KEY_FILE -u BANK_CURRENCY -u BANK_MAX_DENOMINATION -u BANK_LISTEN \
  BANK_ADMIN_TOKEN="$token" NO_COLOR=1 target/debug/bank-server \
  --db "$dir/bank.sqlite" --key-file "$dir/bank.keys.json" --currency EUR \
  serve --listen "127.0.0.1:$port" --static-dir dist >"$dir/server.log" 2>&1 &
server=$!
for i in $(seq 1 600); do
  curl -fs -o /dev/null "http://127.0.0.1:$port/v1/health" && break
  if ! kill -0 "$server" 2>/dev/null || [ "$i" -eq 600 ]; then
    echo "test-e2e: the bank-server did not start:" >&2
    cat "$dir/server.log" >&2
    exit 1
  fi
  sleep 0.2
done

echo "test-e2e: screenshots, server log and browser console go to $ARTIFACTS/"
# The shell expands the file list (Node 20's --test takes no glob patterns).
E2E_BANK_URL="http://127.0.0.1:$port" E2E_ADMIN_TOKEN="$token" E2E_ARTIFACTS="$ARTIFACTS" \
  timeout --kill-after=10 420 node --test --test-reporter=tap "$E2E"/*.test.mjs
