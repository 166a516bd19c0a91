#!/usr/bin/env bash
# The C client beside the Rust client, W1 and W2, against the same Rust bench server
# (multi-thread scheduler, one worker, pinned as `muxwire bench` pins), TCP and Unix
# sockets, one run each, alternating. `make bench-c` builds what it needs and runs this.
set -euo pipefail
CLI=target/release/muxwire
OUT=target/bench
mkdir -p "$OUT"
cc -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -Iinclude tests/c/bench/bench_client.c \
    -o "$OUT/bench_client" target/release/libmuxwire.a -lpthread -ldl -lm
QUICK=${QUICK:-}
PIN=()
if [ "$(nproc)" -ge 2 ]; then PIN=(taskset -c 1); fi
SOCK=$(mktemp -u /tmp/muxwire-bench.XXXXXX.sock)
printf '%-5s %-5s %-28s %-28s %s\n' workload net Rust C C/Rust
for net in tcp unix; do
    url=tcp://127.0.0.1:0
    [ "$net" = unix ] && url=unix://$SOCK
    coproc SRV { exec "$CLI" bench-server --mode mux --cpu 0 --runtime multi --workers 1 "$url"; }
    read -r url <&"${SRV[0]}"
    for w in W1 W2; do
        key=p50_us
        [ "$w" = W2 ] && key=calls_per_s
        rust=$("$CLI" bench-client --mode mux --workload "$w" --cpu 1 --runtime multi \
            --workers 1 ${QUICK:+--quick} "$url")
        c=$("${PIN[@]}" "$OUT/bench_client" "$url" "$w" ${QUICK:+quick})
        r=$(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['$key'], 1))" "$rust")
        cv=$(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['$key'], 1))" "$c")
        ratio=$(python3 -c "print(f'{float(\"$cv\")/float(\"$r\"):.2f}')")
        printf '%-5s %-5s %-28s %-28s %s\n' "$w" "$net" "$key=$r" "$key=$cv" "$ratio"
    done
    kill "$SRV_PID"
    wait "$SRV_PID" 2>/dev/null || true
done
rm -f "$SOCK"
echo "(W1: latency, lower is better, so C/Rust below 1.0 is faster; W2: throughput, higher is better)"
