#!/usr/bin/env bash
# Browser tests (wasm-bindgen-test in headless Chromium). The wallet's resume
# test talks to a real bank-server: start one on a free loopback port with a
# temporary database, hand its URL and operator token to the test build, and
# stop it afterwards. The card stack's bridge test talks to a real card-bridge:
# pcscd with a private reader configuration (one vsmartcard vpcd reader), a
# blank virtual purse in it (`card-bridge virtual-card`) and `card-bridge serve`
# allowing the test page's origin, which WASM_BINDGEN_TEST_ADDRESS fixes; it is
# skipped, loudly, without pcscd and vpcd or when another pcscd runs (one per
# machine, like the native card-bridge end-to-end test, whose lock it takes). The
# wallet's Card page is tested against a second such stack (a fresh blank purse): the
# holder's purse behind the bridge.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"

$CARGO build -q -p bank-server -p card-bridge
dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
token="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
BANK_ADMIN_TOKEN="$token" target/debug/bank-server --db "$dir/bank.sqlite" --max-denomination 64 \
  serve --listen "127.0.0.1:$port" --static-dir "$dir/none" >"$dir/server.log" 2>&1 &
server=$!
pcscd_pid="" vicc_pid="" bridge_pid="" edir=""
stop_card_stack() {
  for p in $bridge_pid $vicc_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "$pcscd_pid" ]; then
    # SIGTERM lets pcscd remove its socket; SIGKILL only if it does not exit.
    kill -TERM "$pcscd_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pcscd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pcscd_pid" 2>/dev/null || true
    wait "$pcscd_pid" 2>/dev/null || true
  fi
  pcscd_pid="" vicc_pid="" bridge_pid=""
  if [ -n "$edir" ]; then rm -rf "$edir"; fi
}
cleanup() { stop_card_stack; kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/server.log"; exit 1; }
  sleep 0.2
done

# Starts the card stack; sets bridge_env on success, says why not otherwise.
bridge_env=()
start_card_stack() {
  local driver=/usr/lib/pcsc/drivers/serial/libifdvpcd.so pcscd vport page_port url btoken
  pcscd="$(command -v pcscd || echo /usr/sbin/pcscd)"
  if [ ! -x "$pcscd" ] || [ ! -e "$driver" ]; then
    echo "!!! SKIPPED the browser card-bridge test: install pcscd and vsmartcard-vpcd" >&2
    return
  fi
  exec 9>"${TMPDIR:-/tmp}/ecash-card-bridge-e2e.lock"
  flock -w 120 9
  if grep -qsx pcscd /proc/[0-9]*/comm; then
    echo "!!! SKIPPED the browser card-bridge test: another pcscd is running" >&2
    return
  fi
  # Two consecutive ports free on all interfaces (vpcd's two slots), one for the page.
  read -r vport page_port < <(python3 -c '
import socket
def free(host, p):
    s = socket.socket()
    try:
        s.bind((host, p)); return True
    except OSError:
        return False
    finally:
        s.close()
v = next(p for p in range(42000, 44000, 2) if free("0.0.0.0", p) and free("0.0.0.0", p + 1))
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(v, s.getsockname()[1])')
  # The name marks a pcscd left by a killed run for the native test to stop.
  edir="$(mktemp -d -t ecash-card-e2e-wasm.XXXXXX)"
  mkdir "$edir/reader.conf.d"
  printf 'FRIENDLYNAME "Ecash Wasm Test PCD"\nDEVICENAME /dev/null:0x%04X\nLIBPATH %s\nCHANNELID 0x%04X\n' \
    "$vport" "$driver" "$vport" >"$edir/reader.conf.d/vpcd"
  "$pcscd" --foreground --config "$edir/reader.conf.d" >"$edir/pcscd.log" 2>&1 &
  pcscd_pid=$!
  target/debug/card-bridge virtual-card --vpcd "127.0.0.1:$vport" --state "$edir/purse.json" \
    >"$edir/vicc.log" 2>&1 &
  vicc_pid=$!
  target/debug/card-bridge serve --listen 127.0.0.1:0 --allow-origin "http://127.0.0.1:$page_port" \
    >"$edir/bridge.log" 2>&1 &
  bridge_pid=$!
  for _ in $(seq 1 100); do
    url="$(sed -n 's|^card-bridge: listening on \(ws://[^ ]*\).*|\1|p' "$edir/bridge.log")"
    btoken="$(sed -n 's|^card-bridge: session token: \([^ ]*\).*|\1|p' "$edir/bridge.log")"
    [ -n "$url" ] && [ -n "$btoken" ] && break
    sleep 0.2
  done
  if [ -z "$url" ] || [ -z "$btoken" ] || ! kill -0 "$pcscd_pid" 2>/dev/null; then
    cat "$edir"/*.log >&2
    echo "the card stack did not start" >&2
    exit 1
  fi
  bridge_env=(ECASH_TEST_BRIDGE_URL="$url" ECASH_TEST_BRIDGE_TOKEN="$btoken"
    WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$page_port")
}

$CARGO test -p ecash-shared --target wasm32-unknown-unknown --test vectors
start_card_stack
env "${bridge_env[@]}" $CARGO test -p ecash-card --target wasm32-unknown-unknown --test wasm_virtual
stop_card_stack
ECASH_TEST_BANK_URL="http://127.0.0.1:$port" ECASH_TEST_ADMIN_TOKEN="$token" \
  $CARGO test -p wallet-web --target wasm32-unknown-unknown --test web --test idb --test ui --test resume --test card
# The Card page with the holder's purse behind the bridge: a fresh blank purse, and
# only that test (a browser profile of its own, so its purses meet no other test's).
start_card_stack
if [ ${#bridge_env[@]} -gt 0 ]; then
  env "${bridge_env[@]}" ECASH_TEST_BANK_URL="http://127.0.0.1:$port" ECASH_TEST_ADMIN_TOKEN="$token" \
    $CARGO test -p wallet-web --target wasm32-unknown-unknown --test card -- the_page_uses_a_purse_behind_the_card_bridge
fi
stop_card_stack
