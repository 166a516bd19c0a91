# muxwire: one entry point for everything.
#   make test   - every check CI runs (format, lint, Rust tests, spec checks, fuzzing, C,
#                 Python)
#   make demo   - a server and a client: every kind of call, the bytes, a short benchmark;
#                 then Python and Rust calling each other
#   make bench  - criterion benchmarks of the codec
#   make c-test - the C API's tests (ASan+UBSan, static and dynamic), the spec's vectors
#                 through the C API among them (make c-conformance runs just those); make
#                 header rewrites include/muxwire.h from rpc-ffi
#   make install PREFIX=/usr/local - libmuxwire, muxwire.h, pkg-config and CMake files
#   make bench-c - the C client beside the Rust client, W1 and W2
#   make python - the Python package: build it into target/pyvenv, lint, test, type-check
#   make bench-python - Python clients beside grpcio and pyzmq (W1, W2), in one run
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV   ?= $(CURDIR)/target/venv
PY     := $(VENV)/bin/python

.PHONY: interop-run bench-python python python-venv python-build python-lint python-test python-typecheck demo bench-rpc test fmt-check clippy rust-test nozstd nostd spec-check vectors ksy-check venv bench fmt \
	interop fuzz fuzz-tools fuzz-lint c-test c-conformance header install bench-c

test: fmt-check clippy rust-test nozstd nostd spec-check interop fuzz c-test python
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
# Rust, C (over libmuxwire) and Python (over the package) each serve the interop service
# and run its checks.
interop: python-build interop-run

# The matrix alone (the Python package already built).
interop-run:
	cargo build -q -p muxwire-cli
	cargo build -q -p muxwire-ffi --features test-hooks
	mkdir -p target/interop
	for prog in c_server c_client; do
	  $${CC:-cc} -std=c11 -Wall -Wextra -Wpedantic -Werror -O1 -Iinclude tests/interop/$$prog.c \
	    -o target/interop/$$prog target/debug/libmuxwire.a -lpthread -ldl -lm
	done
	$(PYTHON) tests/interop/matrix.py --muxwire target/debug/muxwire \
	  --with c "target/interop/c_server {url}" "target/interop/c_client {url}" \
	  --with python "$(PYPY) tests/interop/python_server.py {url}" \
	    "$(PYPY) tests/interop/python_client.py {url}"
	$(PYTHON) tests/conformance/live_bindings.py --muxwire target/debug/muxwire \
	  --c target/interop/c_server --python "$(PYPY)"

# The C API: C programs under tests/c and examples/c built with -Werror, linked statically
# and dynamically, run under AddressSanitizer and UndefinedBehaviorSanitizer (leaks, any
# byte on stderr and any sanitizer report fail), against each other and against the Rust
# peers; a C++17 file includes the header. The header itself is checked by rust-test.
c-test:
	cargo build -p muxwire-ffi --features test-hooks
	cargo build -p muxwire-cli
	bash tests/c/run.sh

# The spec's vectors through the C API alone (also part of c-test): the C conformance
# testee (tests/c/conformance/, over muxwire_frame_* and muxwire_conn_*), built with -Werror
# under ASan+UBSan, run by `muxwire conformance adapter`; every vector must pass.
c-conformance:
	cargo build -p muxwire-ffi --features test-hooks
	cargo build -p muxwire-cli
	bash tests/c/conformance/run.sh target/c-tests target/debug/muxwire

# Installs libmuxwire (.so with soname links, .a), include/muxwire.h, a pkg-config file and
# a CMake package config (find_package(muxwire), target muxwire::muxwire) under PREFIX.
PREFIX  ?= /usr/local
install:
	MUXWIRE_SONAME=1 cargo build --release -p muxwire-ffi
	bash rpc-ffi/pkg/install.sh "$(PREFIX)" target/release

# The C client beside the Rust client on W1 and W2 (release builds; QUICK=1 for short runs).
bench-c:
	cargo build --release -p muxwire-ffi -p muxwire-cli
	bash tests/c/bench.sh

# Rewrites include/muxwire.h from rpc-ffi's sources (cbindgen, pinned in rpc-ffi/Cargo.toml).
header:
	UPDATE=1 cargo test -p muxwire-ffi --test header

demo: python-build
	cargo run -q --release -p muxwire-cli -- demo
	@echo
	@echo "== Python and Rust: a Python client calls the Rust server, the Rust client calls a Python server"
	$(PYPY) bindings-python/examples/demo.py $(CURDIR)/target/release/muxwire
	@echo
	@echo "== Rust, C and Python: every client calls every server (unary, notify, streams, a call back,"
	@echo "   cancellation, a deadline, an error with details), over TCP and Unix sockets"
	$(MAKE) -s --no-print-directory interop-run

bench-rpc:
	cargo run -q --release -p muxwire-cli -- bench

bench:
	cargo bench -p muxwire-core --features std

# Fuzzing (fuzz/: cargo-fuzz on nightly, outside the workspace). Each target runs for
# FUZZ_SECONDS from the seeds fuzz/seeds.py makes out of the spec's vectors, the kept
# crash inputs of fuzz/regressions/ and the corpus earlier runs grew in fuzz/corpus/.
# A crash fails the build; its input is in fuzz/artifacts/TARGET/.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TARGETS := frame_decode metadata connection
FUZZ_SECONDS ?= 50
FUZZ_LOGS := fuzz/target/logs

fuzz-tools:
	rustup run nightly rustc --version >/dev/null 2>&1 \
	  || rustup toolchain install nightly --profile minimal
	case "$$(cargo fuzz --version 2>/dev/null || true)" in
	  *" $(CARGO_FUZZ_VERSION)") ;;
	  *) cargo install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION) ;;
	esac

fuzz-lint:
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

fuzz: fuzz-tools fuzz-lint
	$(PYTHON) fuzz/seeds.py fuzz/target/seeds
	cargo +nightly fuzz build
	mkdir -p $(FUZZ_LOGS)
	for t in $(FUZZ_TARGETS); do
	  mkdir -p fuzz/corpus/$$t fuzz/regressions/$$t
	  if ! cargo +nightly fuzz run $$t fuzz/corpus/$$t fuzz/target/seeds/$$t fuzz/regressions/$$t \
	      -- -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=65536 -rss_limit_mb=2048 \
	      >$(FUZZ_LOGS)/$$t.log 2>&1; then
	    tail -n 60 $(FUZZ_LOGS)/$$t.log
	    echo "fuzz: $$t crashed; the input is in fuzz/artifacts/$$t/" >&2
	    exit 1
	  fi
	  echo "fuzz: $$t: $$(grep -E '^Done [0-9]+ runs' $(FUZZ_LOGS)/$$t.log)"
	done

# The Python package (bindings-python/). Its crate is outside the workspace (see Cargo.toml),
# so it has its own fmt and clippy runs; its target folder is target/python.
PYVENV   := $(CURDIR)/target/pyvenv
PYPY     := $(PYVENV)/bin/python
PYCARGO  := CARGO_TARGET_DIR=$(CURDIR)/target/python PYO3_PYTHON=$(PYPY)

python: python-lint python-test python-typecheck

python-venv: $(PYVENV)/.ok
$(PYVENV)/.ok: bindings-python/requirements-dev.txt
	$(PYTHON) -m venv $(PYVENV)
	$(PYPY) -m pip install --quiet --disable-pip-version-check -r bindings-python/requirements-dev.txt
	touch $@

# The tests use the debug muxwire binary the Rust tests already built.
python-build: python-venv
	cd $(CURDIR)/bindings-python && VIRTUAL_ENV=$(PYVENV) $(PYCARGO) $(PYVENV)/bin/maturin develop --release --quiet
	cd $(CURDIR) && cargo build -q -p muxwire-cli

python-lint: python-venv
	cd $(CURDIR)/bindings-python && cargo fmt -- --check
	cd $(CURDIR)/bindings-python && $(PYCARGO) cargo clippy --all-targets -- -D warnings

python-test: python-build
	cd $(CURDIR)/bindings-python && MUXWIRE_BIN=$(CURDIR)/target/debug/muxwire timeout 900 $(PYPY) -m pytest -q -p no:cacheprovider tests

python-typecheck: python-build
	cd $(CURDIR)/bindings-python && $(PYPY) -m mypy --strict examples tests python/muxwire
	cd $(CURDIR)/bindings-python && $(PYPY) -m mypy.stubtest muxwire --allowlist stubtest-allowlist.txt

# Not part of `make test`: a benchmark, run by hand (about two minutes).
bench-python: python-build
	cargo build --release -q -p muxwire-cli
	$(PYPY) -m pip install --quiet --disable-pip-version-check -r bindings-python/bench/requirements.txt
	MUXWIRE_BIN=$(CURDIR)/target/release/muxwire $(PYPY) bindings-python/bench/bench.py
