# kinesis-batch. `make demo` and `make test` set up a fresh machine by themselves:
# each setup step is skipped when what it installs is already there.
SHELL := /bin/bash
.DEFAULT_GOAL := help

WASM_BINDGEN_VERSION := 0.2.129
WASM_TARGET := wasm32-unknown-unknown
CORE_WASM := target/$(WASM_TARGET)/release/kinesis_batch.wasm
GLUE_DIR := pkg/wasm
NODE_MODULES := tests/node_modules/.package-lock.json
VENV := tests/.venv/bin/moto_server
WASM_OPT := tests/node_modules/.bin/wasm-opt
ESBUILD := tests/node_modules/.bin/esbuild
RUST_SOURCES := Cargo.toml $(wildcard Cargo.lock) $(shell find src -name '*.rs')

.PHONY: help setup build test test-rust test-node test-runtimes test-component test-www demo clean

help:
	@echo "make demo   - deliver 100,000 sample events to a local kinesalite and read them back"
	@echo "make test   - every test: cargo test, then the package against real local servers"
	@echo "make build  - build the wasm and the npm package in pkg/"

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

$(VENV): tests/requirements.txt
	python3 -m venv tests/.venv
	tests/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

# ---- build -------------------------------------------------------------------------------

build: $(GLUE_DIR)/kinesis_batch_bg.wasm pkg/node.cjs pkg/index.d.cts

$(CORE_WASM): $(RUST_SOURCES) | rust-setup
	cargo build --release --target $(WASM_TARGET) --lib

# Debian's binaryen breaks the module; wasm-opt comes from the pinned npm package.
$(GLUE_DIR)/kinesis_batch_bg.wasm: $(CORE_WASM) $(NODE_MODULES) | rust-setup
	rm -rf $(GLUE_DIR)
	wasm-bindgen --target web --remove-name-section --out-dir $(GLUE_DIR) --out-name kinesis_batch $(CORE_WASM)
	$(WASM_OPT) -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
		--enable-reference-types --enable-multivalue --enable-mutable-globals \
		$(GLUE_DIR)/kinesis_batch_bg.wasm -o $(GLUE_DIR)/kinesis_batch_bg.wasm
	@echo "wasm: $$(wc -c < $@) bytes, $$(gzip -9 -c $@ | wc -c) gzipped"

# The CommonJS entry (require): core.js + env.js + the glue bundled into one CJS file (issue 4).
pkg/node.cjs: pkg/build/node-cjs.js pkg/core.js pkg/env.js $(GLUE_DIR)/kinesis_batch_bg.wasm $(NODE_MODULES)
	$(ESBUILD) pkg/build/node-cjs.js --bundle --format=cjs --platform=node --target=node18 \
		--log-override:empty-import-meta=silent --log-level=warning --outfile=$@

pkg/index.d.cts: pkg/index.d.ts
	cp pkg/index.d.ts $@

# ---- test --------------------------------------------------------------------------------

test: test-rust test-node test-runtimes test-component test-www

test-rust:
	cargo test --quiet

test-node: build setup
	node --test --test-concurrency=1 tests/node/

# ---- runtimes and packaging (issue 4) ------------------------------------------------------

test-runtimes: build setup
	@echo "test-runtimes: not yet written" && false

# ---- component (issue 7) -----------------------------------------------------------------

test-component:
	@echo "test-component: not yet written" && false

# ---- preview page (issue 6) --------------------------------------------------------------

test-www: build setup
	@echo "test-www: not yet written" && false

# ---- demo --------------------------------------------------------------------------------

demo: build $(NODE_MODULES)
	node tests/demo.mjs $(DEMO_ARGS)

clean:
	cargo clean
	rm -rf $(GLUE_DIR)
