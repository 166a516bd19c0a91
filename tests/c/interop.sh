#!/usr/bin/env bash
# C and Rust peers on one wire: the C examples (built with ASan+UBSan, statically and
# dynamically) against the Rust server (`muxwire serve`), and the Rust client
# (`muxwire call`) against the C echo server. Usage: interop.sh OUT_DIR MUXWIRE_CLI
set -euo pipefail
OUT=$1
CLI=$2
CC=${CC:-cc}
LIB_DIR=${LIB_DIR:-$PWD/target/debug}
CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -O1 -Iinclude
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
SOCK_DIR=$(mktemp -d /tmp/muxwire-interop.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$SOCK_DIR"
}
trap cleanup EXIT

fail() { echo "c-test interop: $*"; exit 1; }

for ex in echo_server blocking_client async_client sansio_client; do
    $CC "${CFLAGS[@]}" "examples/c/$ex.c" -o "$OUT/$ex-static" "$LIB_DIR/libmuxwire.a" -lpthread -ldl -lm
    $CC "${CFLAGS[@]}" "examples/c/$ex.c" -o "$OUT/$ex-dynamic" -L"$LIB_DIR" -lmuxwire \
        -Wl,-rpath,"$LIB_DIR" -lpthread
done

# expect_output WANT CMD...: CMD succeeds, prints WANT, and nothing on stderr.
expect_output() {
    local want=$1
    shift
    local got
    got=$("$@" 2>"$OUT/interop.stderr") || fail "$* failed: $(cat "$OUT/interop.stderr")"
    [ "$got" = "$want" ] || fail "$* printed '$got', expected '$want'"
    [ ! -s "$OUT/interop.stderr" ] || fail "$* wrote to stderr: $(cat "$OUT/interop.stderr")"
}

# expect_exit CODE CMD...: CMD exits with CODE.
expect_exit() {
    local want=$1
    shift
    local rc=0
    "$@" >/dev/null 2>"$OUT/interop.stderr" || rc=$?
    [ "$rc" = "$want" ] || fail "$* exited $rc, expected $want: $(cat "$OUT/interop.stderr")"
}

for link in static dynamic; do
    # C clients against the Rust server, over a Unix socket.
    coproc RUST_SERVER { exec "$CLI" serve "unix://$SOCK_DIR/rust-$link.sock" 2>/dev/null; }
    SERVER_PID=$RUST_SERVER_PID
    read -r line <&"${RUST_SERVER[0]}" || fail "muxwire serve did not start"
    url=$(sed -E 's/^muxwire serving on ([^ ]+).*/\1/' <<<"$line")
    expect_output "hello from C" "$OUT/blocking_client-$link" "$url" echo "hello from C"
    expect_output "1000 calls, 0 failed" "$OUT/async_client-$link" "$url" 1000
    # The Rust server's "delay" outlasts the C client's timeout: DEADLINE_EXCEEDED (4).
    expect_exit 4 "$OUT/blocking_client-$link" "$url" delay 5000 100
    # A method the Rust server does not have: UNIMPLEMENTED (12).
    expect_exit 12 "$OUT/blocking_client-$link" "$url" no.such.method x
    # A C streaming client against the Rust server's echo.stream (test_streaming, built by
    # run.sh, given the URL).
    expect_output "test_streaming (against $url): ok" "$OUT/test_streaming-$link" "$url"
    # Per-call metadata (the Rust server's echo.metadata) and compression from C.
    expect_output "test_metadata (against $url): ok" "$OUT/test_metadata-$link" --against "$url"
    # The sans-IO client on its own socket and poll(2) loop.
    expect_output "sans-IO from C" "$OUT/sansio_client-$link" "$url" echo "sans-IO from C"
    expect_exit 12 "$OUT/sansio_client-$link" "$url" no.such.method x
    # ... with request metadata, and with an LZ4 request whose reply comes back in LZ4
    # (the Rust server answers in the request's codec) and is decompressed.
    expect_output "$(printf 'trace-id=abc\nuser=me')" "$OUT/sansio_client-$link" \
        -m trace-id=abc -m user=me "$url" echo.metadata
    big=$(head -c 3000 /dev/zero | tr '\0' 'b')
    expect_output "$big" "$OUT/sansio_client-$link" --lz4 "$url" echo "$big"
    kill -INT "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
    echo "c-test: C clients against the Rust server ($link, ASan+UBSan) passed"

    # The Rust client against the C server, over TCP.
    coproc C_SERVER { exec "$OUT/echo_server-$link" tcp://127.0.0.1:0 2>"$OUT/echo_server.stderr"; }
    SERVER_PID=$C_SERVER_PID
    read -r line <&"${C_SERVER[0]}" || fail "echo_server did not start"
    url=${line#listening on }
    expect_output "hello from Rust" "$CLI" call "$url" echo "hello from Rust"
    expect_output "tsuR morf olleh" "$CLI" call "$url" reverse "hello from Rust"
    expect_exit 76 "$CLI" call "$url" no.such.method x # 64 + 12, the CLI's code for UNIMPLEMENTED
    # And the sans-IO C client against the C server, over TCP.
    expect_output "olleh" "$OUT/sansio_client-$link" "$url" reverse hello
    expect_output "$big" "$OUT/sansio_client-$link" --lz4 "$url" echo "$big"
    # Closing its stdin shuts it down; it must exit cleanly with nothing on stderr.
    exec {C_SERVER[1]}>&-
    wait "$SERVER_PID" || fail "echo_server exited with $?: $(cat "$OUT/echo_server.stderr")"
    SERVER_PID=
    [ ! -s "$OUT/echo_server.stderr" ] || fail "echo_server wrote to stderr: $(cat "$OUT/echo_server.stderr")"
    echo "c-test: the Rust client against the C server ($link, ASan+UBSan) passed"
done

# The Rust client reads a C handler's whole failure: code, message and DETAILS (the CLI
# prints no trailers; test_status checks those C to C).
for link in static dynamic; do
    coproc C_STATUS { exec "$OUT/test_status-$link" tcp://127.0.0.1:0 2>"$OUT/status_server.stderr"; }
    SERVER_PID=$C_STATUS_PID
    read -r line <&"${C_STATUS[0]}" || fail "test_status did not start as a server"
    url=${line#listening on }
    got=$("$CLI" call "$url" fail.rich x --format json 2>/dev/null) && fail "fail.rich succeeded"
    grep -q '"code":5,"details_hex":"776879006e6f74",.*"message":"no such thing"' <<<"$got" ||
        fail "the Rust client saw $got"
    exec {C_STATUS[1]}>&-
    wait "$SERVER_PID" || fail "test_status (server) exited with $?: $(cat "$OUT/status_server.stderr")"
    SERVER_PID=
    [ ! -s "$OUT/status_server.stderr" ] || fail "test_status (server) wrote to stderr"
    echo "c-test: the Rust client reads a C handler's status details ($link, ASan+UBSan) passed"
done

# The Rust client's metadata and compressed requests reach a C handler.
head -c 100000 /dev/zero | tr '\0' 'a' >"$OUT/big.txt"
for link in static dynamic; do
    coproc C_META { exec "$OUT/test_metadata-$link" --serve tcp://127.0.0.1:0 2>"$OUT/meta_server.stderr"; }
    SERVER_PID=$C_META_PID
    read -r line <&"${C_META[0]}" || fail "test_metadata did not start as a server"
    url=${line#listening on }
    expect_output "$(printf 'trace-id=abc\nuser=me')" "$CLI" call "$url" echo.metadata \
        -m trace-id=abc -m user=me
    for codec in lz4 zstd; do
        "$CLI" call "$url" echo -d @"$OUT/big.txt" --compression "$codec" -v \
            >"$OUT/meta_reply.txt" 2>"$OUT/meta_frames.txt" || fail "echo with $codec failed"
        cmp -s "$OUT/meta_reply.txt" "$OUT/big.txt" || fail "echo with $codec: the reply differs"
        grep -q '> CALL .*CODEC=' "$OUT/meta_frames.txt" || fail "the $codec request went uncompressed"
    done
    exec {C_META[1]}>&-
    wait "$SERVER_PID" || fail "test_metadata (server) exited with $?: $(cat "$OUT/meta_server.stderr")"
    SERVER_PID=
    [ ! -s "$OUT/meta_server.stderr" ] || fail "test_metadata (server) wrote to stderr"
    echo "c-test: the Rust client's metadata and compressed calls reach a C handler ($link, ASan+UBSan) passed"
done

# The interop matrix (tests/interop/README.md) with the C server and client beside the
# Rust ones: every client against every server over TCP and Unix sockets, seven checks each.
for prog in c_server c_client; do
    $CC "${CFLAGS[@]}" "tests/interop/$prog.c" -o "$OUT/interop_$prog" "$LIB_DIR/libmuxwire.a" \
        -lpthread -ldl -lm
done
python3 tests/interop/matrix.py --muxwire "$CLI" \
    --with c "$OUT/interop_c_server {url}" "$OUT/interop_c_client {url}" >"$OUT/matrix.log" 2>&1 ||
    fail "interop matrix with C: $(cat "$OUT/matrix.log")"
grep -q "client c" "$OUT/matrix.log" || fail "the matrix did not run the C implementation"
# A client whose checks pass exits 0, and the matrix checks that; the C server is checked
# here for a clean exit (no leak, no sanitizer report) when its stdin closes.
coproc C_INTEROP { exec "$OUT/interop_c_server" "unix://$SOCK_DIR/interop.sock" 2>"$OUT/interop_server.stderr"; }
SERVER_PID=$C_INTEROP_PID
read -r line <&"${C_INTEROP[0]}" || fail "the C interop server did not start"
url=$(grep -oE '(tcp|unix)://[^ ]+' <<<"$line")
"$CLI" interop-client "$url" >"$OUT/interop_client.out" 2>&1 || fail "interop-client: $(cat "$OUT/interop_client.out")"
exec {C_INTEROP[1]}>&-
wait "$SERVER_PID" || fail "the C interop server exited with $?: $(cat "$OUT/interop_server.stderr")"
SERVER_PID=
[ ! -s "$OUT/interop_server.stderr" ] || fail "the C interop server wrote to stderr: $(cat "$OUT/interop_server.stderr")"
sed -n '/^server/,/^interop:/p' "$OUT/matrix.log"
echo "c-test: the interop matrix with the C server and client (ASan+UBSan) passed"
