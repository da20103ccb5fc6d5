#!/usr/bin/env bash
# Installs what the project needs, idempotently: a second run installs nothing.
#   scripts/setup.sh run    libssl-dev, wasm32 target, wasm-bindgen CLI (= Cargo.lock), Trunk,
#                           wasm-opt (binaryen from npm, in tools/binaryen; Trunk's -Oz pass)
#   scripts/setup.sh test   the above, plus Debian chromium + chromium-driver, PC/SC (pcscd,
#                           vsmartcard-vpcd, libpcsclite-dev) and the E2E test's npm packages
#   scripts/setup.sh bench  the run set plus openssl (for `openssl speed`)
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
TRUNK_VERSION=0.21.14   # trunk 0.22 needs rustc >= 1.96.1 (TOOLCHAIN.md)

log() { printf '[setup] %s\n' "$*" >&2; }

# The wasm-bindgen version the lock file pins; the CLI must be exactly this.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_wasm_bindgen() {
  local want have
  want="$(wasm_bindgen_version)"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  if [ "$have" != "$want" ] || ! command -v wasm-bindgen-test-runner >/dev/null; then
    log "installing wasm-bindgen-cli $want (had: ${have:-none})"
    # Without --locked: the CLI's own lock pins a crate version the registry lacks.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

ensure_trunk() {
  if [ "$(trunk --version 2>/dev/null | awk '{print $2}' || true)" != "$TRUNK_VERSION" ]; then
    log "installing trunk $TRUNK_VERSION"
    cargo install trunk --version "$TRUNK_VERSION" --locked --force
  fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_node() {
  # playwright-core needs Node >= 20 (this machine kind ships Node 20; Debian 12's
  # own nodejs package is 18, too old).
  local major
  major="$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/' || true)"
  if [ -z "$major" ] || [ "$major" -lt 20 ]; then
    echo "[setup] Node.js >= 20 is required (wasm-opt for the release wallet, the browser E2E test; found: ${major:-none})" >&2
    exit 1
  fi
}

# npm packages of a folder of ours, from its committed lock; again only when the
# lock is newer than what is installed.
ensure_npm_packages() {
  local dir="$1"
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    log "npm ci in $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    touch "$dir/node_modules"
  fi
}

ensure_e2e_packages() {
  ensure_npm_packages tests/e2e
}

# wasm-opt for Trunk's release build (Trunk.toml [tools] wasm_opt must name this
# version; Trunk finds it on PATH: the Makefile and test-e2e.sh put
# tools/binaryen/node_modules/.bin there). binaryen's npm package is the same
# optimizer compiled to wasm, run by Node.
ensure_wasm_opt() {
  ensure_npm_packages tools/binaryen
}

ensure_lockfile() {
  # The lock is committed; this only matters if someone deleted it.
  [ -f Cargo.lock ] || cargo generate-lockfile
}

ensure_lockfile
case "$mode" in
  run)
    apt_install pkg-config libssl-dev
    ensure_wasm_target
    ensure_wasm_bindgen
    ensure_trunk
    ensure_node
    ensure_wasm_opt
    ;;
  test)
    apt_install pkg-config libssl-dev chromium chromium-driver pcscd vsmartcard-vpcd libpcsclite-dev
    ensure_wasm_target
    ensure_wasm_bindgen
    ensure_trunk
    ensure_node
    ensure_e2e_packages
    ensure_wasm_opt
    ;;
  bench)
    ensure_wasm_target
    apt_install pkg-config libssl-dev openssl
    ;;
  *)
    echo "usage: $0 run|test|bench" >&2
    exit 2
    ;;
esac
