# muxwire: one entry point for everything.
#   make test   - every check CI runs (format, lint, Rust tests, spec checks)
#   make demo   - a server and a client: every kind of call, the bytes, a short benchmark
#   make bench  - criterion benchmarks of the codec
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV   ?= $(CURDIR)/target/venv
PY     := $(VENV)/bin/python

.PHONY: demo bench-rpc test fmt-check clippy rust-test nozstd nostd spec-check vectors ksy-check venv bench fmt interop

test: fmt-check clippy rust-test nozstd nostd spec-check interop
	@echo "make test: all checks passed"

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

rust-test:
	timeout 1200 cargo test --workspace
	cargo test -p muxwire-core --features std --test vectors

# The runtime builds and works without zstd (a C library) for hosts without a C compiler;
# and every crate packages for publishing (path dependencies carry versions).
nozstd:
	cargo test -q -p muxwire --no-default-features --lib
	cargo package --workspace --allow-dirty --no-verify --quiet

# The core must build for a target without std or alloc at all.
# Falls back to a source check when the target cannot be installed on this machine.
nostd:
	if rustup target list --installed | grep -q thumbv7em-none-eabihf \
	   || rustup target add thumbv7em-none-eabihf; then
	  cargo build -p muxwire-core --target thumbv7em-none-eabihf
	else
	  echo "nostd: thumbv7em target unavailable; checking sources instead"
	  grep -q '^#!\[no_std\]' rpc-core/src/lib.rs
	  ! grep -rn 'extern crate alloc\|extern crate std' rpc-core/src
	fi

venv: $(VENV)/.ok
$(VENV)/.ok: spec/tools/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r spec/tools/requirements.txt
	touch $@

# Vectors are generated from hand-written cases; CI fails if the committed file drifts.
vectors: venv
	$(PY) spec/tools/gen_frames.py spec/vectors/frames.json
	$(PY) spec/tools/gen_sessions.py spec/vectors/sessions.json

spec-check: venv
	$(PY) spec/tools/gen_frames.py --check spec/vectors/frames.json
	$(PY) spec/tools/gen_sessions.py --check spec/vectors/sessions.json
	$(PY) spec/tools/check_vectors_schema.py
	$(PY) spec/tools/check_states.py spec/states.csv
	VENV=$(VENV) bash spec/tools/check_ksy.sh

# Every client implementation against every server, over TCP and Unix sockets
# (tests/interop/README.md).
interop:
	cargo build -q -p muxwire-cli
	$(PYTHON) tests/interop/matrix.py --muxwire target/debug/muxwire

demo:
	cargo run -q --release -p muxwire-cli -- demo

bench-rpc:
	cargo run -q --release -p muxwire-cli -- bench

bench:
	cargo bench -p muxwire-core --features std
