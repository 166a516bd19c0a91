#!/usr/bin/env bash
# The installed library as a C programmer meets it: installs into a scratch prefix, builds
# the blocking client with pkg-config and the examples with CMake (find_package(muxwire),
# target muxwire::muxwire), checks the soname, and runs both clients against the Rust
# server. Usage: install.sh OUT_DIR MUXWIRE_CLI
set -euo pipefail
OUT=$1
CLI=$2
CC=${CC:-cc}
LIB_DIR=${LIB_DIR:-$PWD/target/debug}
PREFIX=$(realpath -m "$OUT/prefix")
SOCK_DIR=$(mktemp -d /tmp/muxwire-install.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$SOCK_DIR"
}
trap cleanup EXIT
fail() { echo "c-test install: $*"; exit 1; }

rm -rf "$PREFIX" "$OUT/cmake-build"
bash rpc-ffi/pkg/install.sh "$PREFIX" "$LIB_DIR" >/dev/null
# `make install` builds with a soname (MUXWIRE_SONAME=1); whatever is installed must have
# none or the right one.
if readelf -d "$PREFIX/lib/libmuxwire.so" | grep -q SONAME; then
    readelf -d "$PREFIX/lib/libmuxwire.so" | grep -q 'SONAME.*\[libmuxwire.so.0\]' || fail "wrong soname"
fi

# Every function the header declares is exported, and nothing else is.
declared=$(grep -oE '^[a-z].*\bmuxwire_[a-z0-9_]+\(' include/muxwire.h | grep -oE 'muxwire_[a-z0-9_]+\($' |
    tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$PREFIX/lib/libmuxwire.so" | awk '{print $3}' | sort -u)
[ "$declared" = "$exported" ] || fail "header and library differ: $(diff <(echo "$declared") <(echo "$exported"))"

# pkg-config
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Wpedantic -Werror $(pkg-config --cflags muxwire) \
    examples/c/blocking_client.c -o "$OUT/blocking_client-pkgconfig" \
    $(pkg-config --libs muxwire) -Wl,-rpath,"$PREFIX/lib"

# CMake
cmake -S examples/c -B "$OUT/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Wpedantic -Werror" >"$OUT/cmake.log" 2>&1 ||
    fail "cmake configure failed: $(cat "$OUT/cmake.log")"
cmake --build "$OUT/cmake-build" >>"$OUT/cmake.log" 2>&1 || fail "cmake build failed: $(cat "$OUT/cmake.log")"

coproc RUST_SERVER { exec "$CLI" serve "unix://$SOCK_DIR/s.sock" 2>/dev/null; }
SERVER_PID=$RUST_SERVER_PID
read -r line <&"${RUST_SERVER[0]}" || fail "muxwire serve did not start"
url=$(sed -E 's/^muxwire serving on ([^ ]+).*/\1/' <<<"$line")
for bin in "$OUT/blocking_client-pkgconfig" "$OUT/cmake-build/blocking_client"; do
    got=$("$bin" "$url" echo installed) || fail "$bin failed"
    [ "$got" = installed ] || fail "$bin printed '$got'"
done
got=$("$OUT/cmake-build/sansio_client" "$url" echo "via cmake") || fail "sansio_client (cmake) failed"
[ "$got" = "via cmake" ] || fail "sansio_client (cmake) printed '$got'"
echo "c-test: installed library found by pkg-config and CMake (muxwire::muxwire), clients ran"
