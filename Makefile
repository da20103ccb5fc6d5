# The two commands of the README:
#   make run    build the wallet and serve the demo bank on http://127.0.0.1:8080/
#   make test   everything CI checks
# Both install what they need first (scripts/setup.sh), idempotently.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
LISTEN ?= 127.0.0.1:8080
# Trunk finds wasm-opt (binaryen from npm, installed by scripts/setup.sh) on PATH.
export PATH := $(CURDIR)/tools/binaryen/node_modules/.bin:$(PATH)
# A one-off build (CI, a fresh clone) gains nothing from incremental caches, which
# were a third of the target directory; `CARGO_INCREMENTAL=1 make test` keeps them.
export CARGO_INCREMENTAL ?= 0

.PHONY: run test wallet lint test-native test-wasm test-e2e bench bench-crypto bench-wallet

run: wallet
	$(CARGO) run --release -p bank-server -- serve --listen $(LISTEN) --static-dir dist

wallet:
	bash scripts/setup.sh run
	$(CARGO) fetch
	trunk build --release

test:
	bash scripts/setup.sh test
	$(MAKE) --no-print-directory lint test-native test-wasm test-e2e

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p wallet-web -p ecash-wallet -p ecash-shared -p ecash-card --target wasm32-unknown-unknown --lib --bins --tests -- -D warnings

test-native:
	$(CARGO) test --workspace
	# The criterion suites in quick mode (each benchmark runs once, no thresholds).
	$(CARGO) test --workspace --benches

test-wasm:
	CARGO=$(CARGO) bash scripts/test-wasm.sh

# The real page in headless Chromium: register, withdraw, buy in the demo shop
# through the checkout popup, send a token to a second browser profile.
test-e2e:
	CARGO=$(CARGO) bash scripts/test-e2e.sh

# The bank's throughput and memory next to `openssl speed` (issue "performance").
bench:
	bash scripts/bench-load.sh

bench-crypto:
	bash scripts/bench-crypto.sh

# Client cost per coin in headless Chromium (release wasm) and the wallet bundle size.
bench-wallet: wallet
	bash scripts/setup.sh test
	$(CARGO) test -p ecash-shared --release --target wasm32-unknown-unknown --test client_cost -- --nocapture | grep BENCH
	@for f in dist/*.wasm; do echo "BENCH bundle $$f raw_bytes=$$(stat -c %s $$f) gzip9_bytes=$$(gzip -9c $$f | wc -c)"; done
