#!/usr/bin/env bash
# The spec's vectors through libmuxwire from C: builds the C conformance testee (this
# folder) with -Werror under ASan+UBSan, statically and dynamically linked, and runs
# `muxwire conformance adapter` against it. Every vector must pass (no failure list, none
# unsupported) and nothing may reach stderr (the runner prints failures there, and passes
# the testee's stderr through, so a sanitizer report or leak fails too).
# Usage: tests/c/conformance/run.sh OUT_DIR MUXWIRE_CLI (from the repository root, after
# `cargo build -p muxwire-ffi -p muxwire-cli`; `make c-conformance` does all that).
set -euo pipefail
OUT=$1
CLI=$2
CC=${CC:-cc}
LIB_DIR=${LIB_DIR:-$PWD/target/debug}
CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -O1 -Iinclude
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
SRCS=(tests/c/conformance/testee.c tests/c/conformance/frames.c
      tests/c/conformance/session.c tests/c/conformance/json.c)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p "$OUT"

$CC "${CFLAGS[@]}" "${SRCS[@]}" -o "$OUT/conformance_testee-static" "$LIB_DIR/libmuxwire.a" \
    -lpthread -ldl -lm
$CC "${CFLAGS[@]}" "${SRCS[@]}" -o "$OUT/conformance_testee-dynamic" -L"$LIB_DIR" -lmuxwire \
    -Wl,-rpath,"$LIB_DIR" -lpthread

for link in static dynamic; do
    testee="$OUT/conformance_testee-$link"
    log="$OUT/conformance-$link"
    if ! "$CLI" conformance adapter --junit "$log.xml" --json "$log.json" -- "$testee" \
        >"$log.out" 2>"$log.err"; then
        echo "c-test conformance: the runner failed against the C testee ($link):"
        cat "$log.err" "$log.out"
        exit 1
    fi
    if [ -s "$log.err" ]; then
        echo "c-test conformance: the C testee ($link) wrote to stderr or failed vectors:"
        cat "$log.err"
        exit 1
    fi
    # "NAME: N tests: N passed, 0 failed, 0 unsupported, ...": every vector passed.
    summary=$(tail -n 1 "$log.out")
    if ! grep -qE ': ([0-9]+) tests: \1 passed, 0 failed, 0 unsupported' <<<"$summary"; then
        echo "c-test conformance: not every vector passed ($link): $summary"
        exit 1
    fi
    echo "c-test: the spec's vectors through libmuxwire's C API ($link, ASan+UBSan): ${summary##*: }"
done
