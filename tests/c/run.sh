#!/usr/bin/env bash
# Builds the C tests against libmuxwire, statically and dynamically, under AddressSanitizer
# and UndefinedBehaviorSanitizer, and runs them: any failure, sanitizer report, leak or
# byte on stderr fails. Also compiles a C++17 translation unit that includes the header.
# Run from the repository root after `cargo build -p muxwire-ffi --features test-hooks`
# (and `cargo build -p muxwire-cli` for the interop tests); `make c-test` does all that.
set -euo pipefail

# The C toolchain this needs; installed with apt-get when missing (CI runs as root).
need=()
command -v "${CC:-cc}" >/dev/null || need+=(gcc)
command -v "${CXX:-c++}" >/dev/null || need+=(g++)
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v readelf >/dev/null || need+=(binutils)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    echo "c-test: installing ${need[*]}"
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

CC=${CC:-cc}
CXX=${CXX:-c++}
LIB_DIR=${LIB_DIR:-$PWD/target/debug}
OUT=${OUT:-$PWD/target/c-tests}
CLI=${CLI:-$LIB_DIR/muxwire}
mkdir -p "$OUT"

CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -O1 -Iinclude -DMUXWIRE_TEST_HOOKS
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
STATIC_LIBS=("$LIB_DIR/libmuxwire.a" -lpthread -ldl -lm)
DYNAMIC_LIBS=(-L"$LIB_DIR" -lmuxwire -Wl,-rpath,"$LIB_DIR" -lpthread)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# The header in C++17, all warnings as errors.
$CXX -std=c++17 -Wall -Wextra -Werror -Iinclude -c tests/c/header_cxx.cpp -o "$OUT/header_cxx.o"
echo "c-test: header compiles as C++17"

# run NAME ARGS...: runs $OUT/NAME; its stderr must stay empty.
run() {
    local bin=$1
    shift
    if ! "$OUT/$bin" "$@" 2>"$OUT/$bin.stderr"; then
        echo "c-test: $bin failed; its stderr:"
        cat "$OUT/$bin.stderr"
        return 1
    fi
    if [ -s "$OUT/$bin.stderr" ]; then
        echo "c-test: $bin wrote to stderr (sanitizer report or library output):"
        cat "$OUT/$bin.stderr"
        return 1
    fi
}

build() {
    local name=$1 src=$2
    $CC "${CFLAGS[@]}" "$src" -o "$OUT/$name-static" "${STATIC_LIBS[@]}"
    $CC "${CFLAGS[@]}" "$src" -o "$OUT/$name-dynamic" "${DYNAMIC_LIBS[@]}"
}

for t in test_conventions test_client_server test_status test_metadata test_sansio test_sansio_meta \
         test_frame test_streaming test_authorize test_describe test_stats test_balanced; do
    build "$t" "tests/c/$t.c"
    for link in static dynamic; do
        run "$t-$link"
        echo "c-test: $t ($link, ASan+UBSan) passed"
    done
done

# TLS, mutual: certificates made fresh for this run with openssl (never committed).
bash tests/c/tls_certs.sh "$OUT/tls"
build test_tls tests/c/test_tls.c
for link in static dynamic; do
    run "test_tls-$link" "$OUT/tls"
    echo "c-test: test_tls ($link, ASan+UBSan) passed"
done

# Every spec vector (frames and sessions) through the C API: the C conformance testee
# (tests/c/conformance/) under `muxwire conformance adapter`.
bash tests/c/conformance/run.sh "$OUT" "$CLI"

# The README's C example compiles and runs clean.
awk '/^### A client and a server/ {on=1} on && /^```c$/ {code=1; next} code && /^```$/ {exit}
     code {print}' README.md >"$OUT/readme_example.c"
grep -q muxwire_server_start "$OUT/readme_example.c"
build readme_example "$OUT/readme_example.c"
for link in static dynamic; do
    run "readme_example-$link"
    echo "c-test: the README's C example ($link, ASan+UBSan) passed"
done

bash tests/c/interop.sh "$OUT" "$CLI"
bash tests/c/install.sh "$OUT" "$CLI"
