# kinesis-batch. `make demo` and `make test` set up a fresh machine by themselves:
# each setup step is skipped when what it installs is already there.
SHELL := /bin/bash
.DEFAULT_GOAL := help

WASM_BINDGEN_VERSION := 0.2.129
WASM_TARGET := wasm32-unknown-unknown
CORE_WASM := target/$(WASM_TARGET)/release/kinesis_batch.wasm
GLUE_DIR := pkg/wasm
NODE_MODULES := tests/node_modules/.package-lock.json
# The package's own optional dependency (the AWS credentials chain), for the tests that run the
# library from pkg/ with it; the tarball does not carry it.
PKG_NODE_MODULES := pkg/node_modules/.package-lock.json
VENV := tests/.venv/bin/moto_server
WASM_OPT := tests/node_modules/.bin/wasm-opt
ESBUILD := tests/node_modules/.bin/esbuild
BIOME := tests/node_modules/.bin/biome
RUST_SOURCES := Cargo.toml $(wildcard Cargo.lock) $(shell find src -name '*.rs')

.PHONY: help setup build test test-rust test-node test-runtimes test-component test-www demo clean lint

help:
	@echo "make demo   - deliver 100,000 sample events to a local kinesalite and read them back"
	@echo "make test   - every test: cargo test, then the package against real local servers"
	@echo "make build  - build the wasm and the npm package in pkg/"
	@echo "make bench  - benchmarks against the AWS SDK and a hand-written batcher (BENCHMARKS.md)"
	@echo "make preview - serve the batch preview page (www/) on 127.0.0.1 and print its URL"

# ---- setup -------------------------------------------------------------------------------

setup: rust-setup $(NODE_MODULES) $(VENV)

.PHONY: rust-setup
rust-setup:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)
	@wasm-bindgen --version 2>/dev/null | grep -qx 'wasm-bindgen $(WASM_BINDGEN_VERSION)' || \
		cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --locked

$(NODE_MODULES): tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund
	@touch $@

$(PKG_NODE_MODULES): pkg/package.json pkg/package-lock.json
	cd pkg && npm ci --no-audit --no-fund
	@touch $@

$(VENV): tests/requirements.txt
	python3 -m venv tests/.venv
	tests/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

# ---- build -------------------------------------------------------------------------------

build: $(GLUE_DIR)/kinesis_batch_bg.wasm pkg/node.cjs pkg/index.d.cts pkg/www/index.html pkg/LICENSE

$(CORE_WASM): $(RUST_SOURCES) | rust-setup
	cargo build --release --target $(WASM_TARGET) --lib

# Debian's binaryen breaks the module; wasm-opt comes from the pinned npm package. Two -Oz
# passes take 0.5 KB more off the gzipped wasm than one. The generated glue is build output that
# nobody reads: minified, every entry loads 1.8 KB (gzipped) less.
$(GLUE_DIR)/kinesis_batch_bg.wasm: $(CORE_WASM) $(NODE_MODULES) | rust-setup
	rm -rf $(GLUE_DIR)
	wasm-bindgen --target web --remove-name-section --out-dir $(GLUE_DIR) --out-name kinesis_batch $(CORE_WASM)
	$(WASM_OPT) -Oz -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
		--enable-reference-types --enable-multivalue --enable-mutable-globals \
		$(GLUE_DIR)/kinesis_batch_bg.wasm -o $(GLUE_DIR)/kinesis_batch_bg.wasm
	$(ESBUILD) $(GLUE_DIR)/kinesis_batch.js --minify --format=esm --log-level=warning \
		--log-override:empty-import-meta=silent --allow-overwrite --outfile=$(GLUE_DIR)/kinesis_batch.js
	@echo "wasm: $$(wc -c < $@) bytes, $$(gzip -9 -c $@ | wc -c) gzipped"

# The CommonJS entry (require): core.js + env.js + the glue bundled into one CJS file (issue 4).
pkg/node.cjs: pkg/build/node-cjs.js $(wildcard pkg/*.js) $(GLUE_DIR)/kinesis_batch_bg.wasm $(NODE_MODULES)
	$(ESBUILD) pkg/build/node-cjs.js --bundle --format=cjs --platform=node --target=node18 \
		--log-override:empty-import-meta=silent --log-level=warning --outfile=$@

pkg/index.d.cts: pkg/index.d.ts
	cp pkg/index.d.ts $@

# The tarball carries the project's license (npm includes LICENSE from the package folder).
pkg/LICENSE: LICENSE
	cp LICENSE $@

# The preview page shipped in the package (build output, git-ignored): www/'s own files, without
# www/vendor/. `kinesis-batch preview` serves pkg/www/ and answers the page's three
# ./vendor/kinesis-batch/ URLs with the package's core.js and wasm/ files, so the page is
# byte-identical to www/ and the wasm is in the tarball once. Depending on the www folder itself
# redoes the copy when a file is added or removed.
WWW_FILES := $(shell find www -path www/vendor -prune -o -type f ! -name '.*' ! -name '*~' -print)

pkg/www/index.html: $(WWW_FILES) www/.
	rm -rf pkg/www
	cd www && for f in $(WWW_FILES:www/%=%); do mkdir -p ../pkg/www/$$(dirname $$f) && cp $$f ../pkg/www/$$f; done

# ---- test --------------------------------------------------------------------------------

# Each suite has a time budget (SUITE_BUDGET seconds; the whole run takes about 10 minutes on 2
# cores once the toolchain is installed): a hang fails the suite instead of the CI run.
SUITE_BUDGET := timeout --kill-after=30

test: lint test-rust test-node test-runtimes test-component test-www

test-rust:
	$(SUITE_BUDGET) 900 cargo test --quiet

test-node: build setup $(PKG_NODE_MODULES)
	$(SUITE_BUDGET) 900 node --test --test-concurrency=1 tests/node/

# ---- lint --------------------------------------------------------------------------------

# One style: rustfmt (rustfmt.toml) and clippy -D warnings for the host, the wasm library and the
# component; then Biome (biome.json: formatter + recommended lint rules) over the JS and JSON in
# pkg/, www/ and tests/. Read-only: any finding fails. To apply the formatters and safe fixes:
# cargo fmt && $(BIOME) check --write .
lint: $(NODE_MODULES) | rust-setup
	@rustup target list --installed | grep -qx '$(COMPONENT_TARGET)' || rustup target add $(COMPONENT_TARGET)
	cargo fmt --check
	$(SUITE_BUDGET) 900 cargo clippy --quiet --all-targets -- -D warnings
	$(SUITE_BUDGET) 900 cargo clippy --quiet --target $(WASM_TARGET) --lib -- -D warnings
	$(SUITE_BUDGET) 900 cargo clippy --quiet --target $(COMPONENT_TARGET) --lib --features component -- -D warnings
	$(BIOME) check --diagnostic-level=warn .

# ---- runtimes and packaging (issue 4) ------------------------------------------------------

# The packed tarball installed in fresh /tmp projects: Node ESM + CJS + slim, Deno, the Worker
# example in workerd (wrangler + miniflare), headless Chromium, and tsc on the TypeScript example.
test-runtimes: build setup
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(SUITE_BUDGET) 900 node --test --test-concurrency=1 tests/runtimes/
	@node tests/runtimes/sizes.mjs

# ---- component (issue 7) -----------------------------------------------------------------

# The same core as a WebAssembly component (wit/kinesis-batch.wit), built with wit-bindgen behind
# the cargo feature `component` for wasm32-wasip2, then transpiled by jco 1.35 for the Node host
# in tests/component/ (jco and preview2-shim pinned in tests/component/package-lock.json).
WASM_TOOLS_VERSION := 1.263.0
COMPONENT_TARGET := wasm32-wasip2
COMPONENT_WASM := target/$(COMPONENT_TARGET)/release/kinesis_batch.wasm
COMPONENT_JS := target/component-js/kinesis_batch.js
COMPONENT_NODE_MODULES := tests/component/node_modules/.package-lock.json
JCO := tests/component/node_modules/.bin/jco

.PHONY: component component-setup
component: $(COMPONENT_JS)

# wasm-tools (for `wasm-tools component wit`) compiles for about 5 minutes, once.
component-setup:
	@rustup target list --installed | grep -qx '$(COMPONENT_TARGET)' || rustup target add $(COMPONENT_TARGET)
	@wasm-tools --version 2>/dev/null | grep -q '^wasm-tools $(WASM_TOOLS_VERSION)\b' || \
		cargo install wasm-tools --version $(WASM_TOOLS_VERSION) --locked

$(COMPONENT_NODE_MODULES): tests/component/package.json tests/component/package-lock.json
	cd tests/component && npm ci --no-audit --no-fund
	@touch $@

$(COMPONENT_WASM): $(RUST_SOURCES) $(shell find wit -name '*.wit') | component-setup
	cargo build --release --target $(COMPONENT_TARGET) --lib --features component
	@echo "component: $$(wc -c < $@) bytes, $$(gzip -9 -c $@ | wc -c) gzipped"

$(COMPONENT_JS): $(COMPONENT_WASM) $(COMPONENT_NODE_MODULES)
	rm -rf $(@D)
	$(JCO) transpile $(COMPONENT_WASM) --instantiation sync --quiet --out-dir $(@D)

# The WIT check against wit/, the exports through the jco host, 5,000 records through the
# fault proxy into kinesis-local, read back, and shard-aware producing (aggregates decoded by
# aws-kinesis-agg, put-record) against kinesis-local.
test-component: component component-setup $(NODE_MODULES)
	$(SUITE_BUDGET) 600 node --test --test-concurrency=1 tests/component/

# ---- preview page (issue 6) --------------------------------------------------------------

# www/ is static. The package's wasm core and wrapper are copied into www/vendor/ (build output,
# git-ignored), so the page runs exactly the code the library ships.
WWW_VENDOR := www/vendor/kinesis-batch
WWW_ASSETS := $(WWW_VENDOR)/core.js $(WWW_VENDOR)/timers.js $(WWW_VENDOR)/wasm/kinesis_batch.js $(WWW_VENDOR)/wasm/kinesis_batch_bg.wasm
PREVIEW_PORT ?= 8080

.PHONY: www preview
www: $(WWW_ASSETS)

$(WWW_VENDOR)/core.js: pkg/core.js
	@mkdir -p $(@D) && cp $< $@
$(WWW_VENDOR)/timers.js: pkg/timers.js
	@mkdir -p $(@D) && cp $< $@
# The glue JS is written by the same wasm-bindgen run as the .wasm, so both hang off it.
$(WWW_VENDOR)/wasm/%: $(GLUE_DIR)/kinesis_batch_bg.wasm
	@mkdir -p $(@D) && cp $(GLUE_DIR)/$* $@

# Headless Debian Chromium driven by playwright-core: the page's counts against planBatches,
# shardIndexFor and hashKeyOf in Node, no request off the page's origin, a 100 MB file with a
# main-thread heartbeat. Screenshots and the downloaded plan go to tests/artifacts/www/.
test-www: build setup www
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(SUITE_BUDGET) 900 node --test --test-concurrency=1 tests/www/

# Serves the page as the package ships it (pkg/www/ and the package's wasm, through
# `kinesis-batch preview`) on 127.0.0.1 (PREVIEW_PORT=0 picks a free port) and prints the URL.
preview: build
	node pkg/bin/kinesis-batch.js preview --port $(PREVIEW_PORT)

# ---- demo --------------------------------------------------------------------------------

demo: build $(NODE_MODULES)
	node tests/demo.mjs $(DEMO_ARGS)

clean:
	cargo clean
	rm -rf $(GLUE_DIR)

# ---- chaos ---------------------------------------------------------------------------------
# 100,000 records through the seeded fault proxy into kinesis-local, read back and checked
# (issue 3). `make test` runs a 3,000-record version (tests/node/chaos.test.mjs).
# Override: make chaos CHAOS_ARGS='--records 20000 --shards 8 --seed 3 --json'
.PHONY: chaos
chaos: build $(NODE_MODULES)
	node tests/chaos.mjs $(CHAOS_ARGS)

# ---- fuzz ---------------------------------------------------------------------------------
# cargo-fuzz on the response parser and the dispatcher state machine, FUZZ_SECONDS each
# (issue 3). CI runs the proptest version (tests/dispatcher.rs) instead. cargo-fuzz passes
# nightly-only flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := response_parser dispatcher
FUZZ := RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --sanitizer none --debug-assertions

.PHONY: fuzz
fuzz:
	@cargo fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' || \
		cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked
	@for target in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$target fuzz/seeds/$$target; \
		extra=; [ -f fuzz/$$target.dict ] && extra=-dict=fuzz/$$target.dict; \
		echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
		$(FUZZ) $$target fuzz/corpus/$$target fuzz/seeds/$$target -- -max_total_time=$(FUZZ_SECONDS) $$extra 2>&1 | \
			grep -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)|NEW_FUNC|^"|^######' ; \
		status=$${PIPESTATUS[0]}; [ $$status -eq 0 ] || { echo "fuzz: $$target failed; see fuzz/artifacts/$$target/"; exit $$status; }; \
	done

# ---- bench ---------------------------------------------------------------------------------
# Issue 5: kinesis-batch against @aws-sdk/client-kinesis and a hand-written batcher, one process
# per workload, then bundle sizes, wasm instantiation and streaming memory. Writes
# tests/bench/results/latest.{md,json}; BENCHMARKS.md records a run. The bench's own pinned
# dependencies live in tests/bench/. Smoke run: make bench BENCH_ARGS=--quick
BENCH_MODULES := tests/bench/node_modules/.package-lock.json

$(BENCH_MODULES): tests/bench/package.json tests/bench/package-lock.json
	cd tests/bench && npm ci --no-audit --no-fund
	@touch $@

.PHONY: bench
bench: build $(BENCH_MODULES)
	cd tests/bench && node run.mjs $(BENCH_ARGS)
