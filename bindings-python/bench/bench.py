"""The Python benchmark: muxwire's Python clients (blocking with threads, and asyncio) on
W1 and W2 against the Rust server, beside grpcio and pyzmq doing the same work in the same
run, and the Rust client as the reference (DESIGN.md, "Measuring").

W1: one call in flight, 64 B echo, 2,000 warm-up then 20,000 timed calls (p50, p99).
W2: 128 calls in flight (128 threads, or 128 asyncio tasks), 64 B echo, 1 s warm-up then
5 s counted (calls/s), and the client's CPU time per call over those 5 s (every thread of
the client process: Python's and the library's own; less sensitive than calls/s to a
server slowed by other work on a shared machine). Payloads are pseudo-random and every
echo is checked. Servers run pinned to CPU 0, clients to CPU 1.

Usage: python bench.py [--quick] [--only muxwire] [--json FILE]
(`make bench-python` installs the peers and runs it.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import muxwire

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
SERVER_CPU, CLIENT_CPU = 0, 1
IN_FLIGHT = 128
BODY = 64


class Plan:
    """How long each workload runs."""

    def __init__(self, quick: bool) -> None:
        self.w1_warmup, self.w1_calls = (200, 2_000) if quick else (2_000, 20_000)
        self.w2_warmup, self.w2_seconds = (0.2, 1.0) if quick else (1.0, 5.0)


def pin(cpu: int) -> None:
    """Pins this process (and the threads it starts later) to `cpu`, if there are two."""
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu % (os.cpu_count() or 1)})


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def checked(reply: bytes, body: bytes) -> None:
    if reply != body:
        raise AssertionError(f"echo mismatch: sent {len(body)} bytes, got {len(reply)}")


def w1_sync(call: Callable[[bytes], bytes], plan: Plan) -> dict[str, float]:
    body = os.urandom(BODY)
    for _ in range(plan.w1_warmup):
        checked(call(body), body)
    lat = []
    for _ in range(plan.w1_calls):
        t = time.perf_counter_ns()
        reply = call(body)
        lat.append((time.perf_counter_ns() - t) / 1e3)
        checked(reply, body)
    lat.sort()
    return {"p50_us": percentile(lat, 0.5), "p99_us": percentile(lat, 0.99)}


def w2_threads(make_call: Callable[[], Callable[[bytes], bytes]], plan: Plan) -> dict[str, float]:
    """Calls/s with IN_FLIGHT threads, each with one call in flight, and CPU per call."""
    counts = [0] * IN_FLIGHT
    stop = threading.Event()
    calls = [make_call() for _ in range(IN_FLIGHT)]

    def run(i: int) -> None:
        body = os.urandom(BODY)
        call = calls[i]
        while not stop.is_set():
            checked(call(body), body)
            counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(IN_FLIGHT)]
    for t in threads:
        t.start()
    time.sleep(plan.w2_warmup)
    start, t0, c0 = sum(counts), time.perf_counter(), time.process_time()
    time.sleep(plan.w2_seconds)
    end, t1, c1 = sum(counts), time.perf_counter(), time.process_time()
    stop.set()
    for t in threads:
        t.join()
    return w2_result(end - start, t1 - t0, c1 - c0)


def w2_result(calls: int, seconds: float, cpu_seconds: float) -> dict[str, float]:
    return {"w2_calls_per_s": calls / seconds, "w2_cpu_us_per_call": cpu_seconds / max(calls, 1) * 1e6}


async def w1_async(call: Callable[[bytes], Awaitable[bytes]], plan: Plan) -> dict[str, float]:
    body = os.urandom(BODY)
    for _ in range(plan.w1_warmup):
        checked(await call(body), body)
    lat = []
    for _ in range(plan.w1_calls):
        t = time.perf_counter_ns()
        reply = await call(body)
        lat.append((time.perf_counter_ns() - t) / 1e3)
        checked(reply, body)
    lat.sort()
    return {"p50_us": percentile(lat, 0.5), "p99_us": percentile(lat, 0.99)}


async def w2_async(call: Callable[[bytes], Awaitable[bytes]], plan: Plan) -> dict[str, float]:
    """Calls/s with IN_FLIGHT tasks, each with one call in flight, and CPU per call."""
    counts = [0] * IN_FLIGHT
    stop = False

    async def run(i: int) -> None:
        body = os.urandom(BODY)
        while not stop:
            checked(await call(body), body)
            counts[i] += 1

    tasks = [asyncio.ensure_future(run(i)) for i in range(IN_FLIGHT)]
    await asyncio.sleep(plan.w2_warmup)
    start, t0, c0 = sum(counts), time.perf_counter(), time.process_time()
    await asyncio.sleep(plan.w2_seconds)
    end, t1, c1 = sum(counts), time.perf_counter(), time.process_time()
    stop = True
    await asyncio.gather(*tasks)
    return w2_result(end - start, t1 - t0, c1 - c0)


# --- muxwire -------------------------------------------------------------------------


def bench_muxwire(url: str, plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with muxwire.Client(url) as client:
        out["sync"] = w1_sync(lambda b: client.call("echo", b), plan)
        out["sync"] |= w2_threads(
            lambda: (lambda b: client.call("echo", b)), plan
        )

    async def run() -> dict[str, Any]:
        async with muxwire.AsyncClient(url) as aclient:
            r = await w1_async(lambda b: aclient.call("echo", b), plan)
            r |= await w2_async(lambda b: aclient.call("echo", b), plan)
            return r

    out["asyncio"] = asyncio.run(run())
    return out


# --- grpcio --------------------------------------------------------------------------


def bench_grpc(addr: str, plan: Plan) -> dict[str, Any]:
    import grpc

    out: dict[str, Any] = {}
    with grpc.insecure_channel(addr) as channel:
        echo = channel.unary_unary("/bench.Echo/Echo")
        out["sync"] = w1_sync(lambda b: echo(b), plan)
        out["sync"] |= w2_threads(lambda: (lambda b: echo(b)), plan)

    async def run() -> dict[str, Any]:
        async with grpc.aio.insecure_channel(addr) as achannel:
            aecho = achannel.unary_unary("/bench.Echo/Echo")

            async def call(b: bytes) -> bytes:
                reply: bytes = await aecho(b)
                return reply

            r = await w1_async(call, plan)
            r |= await w2_async(call, plan)
            return r

    out["asyncio"] = asyncio.run(run())
    return out


# --- pyzmq ---------------------------------------------------------------------------


def bench_zmq(url: str, plan: Plan) -> dict[str, Any]:
    import zmq
    import zmq.asyncio

    out: dict[str, Any] = {}
    ctx = zmq.Context()
    sockets: list[Any] = []

    def req_call() -> Callable[[bytes], bytes]:
        sock = ctx.socket(zmq.REQ)
        sock.connect(url)
        sockets.append(sock)

        def call(b: bytes) -> bytes:
            sock.send(b)
            reply: bytes = sock.recv()
            return reply

        return call

    out["sync"] = w1_sync(req_call(), plan)
    # One REQ socket per thread: a zmq socket must not be shared between threads.
    out["sync"] |= w2_threads(req_call, plan)
    for s in sockets:
        s.close(0)
    ctx.term()

    async def run() -> dict[str, Any]:
        actx = zmq.asyncio.Context()
        sock = actx.socket(zmq.DEALER)
        sock.connect(url)
        waiting: dict[bytes, asyncio.Future[bytes]] = {}
        loop = asyncio.get_running_loop()
        next_id = 0

        async def reader() -> None:
            while True:
                rid, payload = await sock.recv_multipart()
                waiting.pop(rid).set_result(payload)

        reading = asyncio.ensure_future(reader())

        async def call(b: bytes) -> bytes:
            nonlocal next_id
            next_id += 1
            rid = next_id.to_bytes(8, "little")
            fut: asyncio.Future[bytes] = loop.create_future()
            waiting[rid] = fut
            await sock.send_multipart([rid, b])
            return await fut

        r = await w1_async(call, plan)
        r |= await w2_async(call, plan)
        reading.cancel()
        sock.close(0)
        actx.term()
        return r

    out["asyncio"] = asyncio.run(run())
    return out


# --- processes -----------------------------------------------------------------------


def muxwire_bin() -> str:
    return os.environ.get("MUXWIRE_BIN") or str(REPO / "target" / "release" / "muxwire")


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise RuntimeError(f"{cmd[0]} did not start")
    return proc, line


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    proc.terminate()
    proc.wait(timeout=60)
    if proc.stdout is not None:
        proc.stdout.close()


def rust_client(url: str, workload: str, quick: bool) -> dict[str, Any]:
    cmd = [muxwire_bin(), "bench-client", "--mode", "mux", "--workload", workload]
    cmd += ["--cpu", str(CLIENT_CPU), url] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--only", choices=["muxwire"], help="skip the peers")
    parser.add_argument("--json", type=pathlib.Path, default=REPO / "target/bench/python.json")
    args = parser.parse_args()
    plan = Plan(args.quick)
    pin(CLIENT_CPU)
    results: dict[str, Any] = {}
    server, url = start([muxwire_bin(), "bench-server", "--mode", "mux", "--cpu", str(SERVER_CPU), "tcp://127.0.0.1:0"])
    try:
        results["rust"] = {"W1": rust_client(url, "W1", args.quick), "W2": rust_client(url, "W2", args.quick)}
        results["muxwire"] = bench_muxwire(url, plan)
    finally:
        stop(server)
    if args.only is None:
        for name, bench in (("grpcio", bench_grpc), ("pyzmq", bench_zmq)):
            peer, where = start([sys.executable, str(HERE / "peers.py"), name.removeprefix("py").removesuffix("io"), str(SERVER_CPU)])
            try:
                results[name] = bench(where, plan)
            finally:
                stop(peer)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(table(results))
    return 0


def table(r: dict[str, Any]) -> str:
    rows = [
        "| client | W1 p50 (µs) | W1 p99 (µs) | W2 (calls/s) | W2 client CPU (µs/call) |",
        "|---|---|---|---|---|",
    ]
    rust = r["rust"]
    rows.append(
        f"| Rust client (reference) | {rust['W1']['p50_us']:.1f} | {rust['W1']['p99_us']:.1f} "
        f"| {rust['W2'].get('calls_per_s', 0):,.0f} | |"
    )
    for lib in ("muxwire", "grpcio", "pyzmq"):
        for mode in ("sync", "asyncio"):
            if lib in r:
                m = r[lib][mode]
                label = f"{lib} {mode}" + (" (128 threads)" if mode == "sync" else " (128 tasks)")
                rows.append(
                    f"| {label} | {m['p50_us']:.1f} | {m['p99_us']:.1f} | {m['w2_calls_per_s']:,.0f} "
                    f"| {m['w2_cpu_us_per_call']:.1f} |"
                )
    mux = r["muxwire"]
    rows.append("")
    rows.append(f"muxwire sync W1 p50 / Rust client W1 p50: {mux['sync']['p50_us'] / rust['W1']['p50_us']:.2f}x (aim: at most 1.3x)")
    for peer in ("grpcio", "pyzmq"):
        if peer in r:
            for mode in ("asyncio", "sync"):
                ratio = mux[mode]["w2_calls_per_s"] / r[peer][mode]["w2_calls_per_s"]
                cpu = r[peer][mode]["w2_cpu_us_per_call"] / mux[mode]["w2_cpu_us_per_call"]
                rows.append(
                    f"muxwire {mode} W2 / {peer} {mode} W2: {ratio:.1f}x "
                    f"(client CPU per call: {cpu:.1f}x less)"
                )
    return "\n".join(rows)



if __name__ == "__main__":
    sys.exit(main())
