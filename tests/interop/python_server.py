#!/usr/bin/env python3
"""The interop service (README.md beside this file) in Python, on the muxwire package.

Usage: python_server.py URL   (prints the URL it listens on; stops on SIGTERM or when
stdin closes)
"""

from __future__ import annotations

import signal
import sys
import threading
import time

import muxwire

lock = threading.Lock()
counts = {"sunk": 0, "started": 0, "cancelled": 0}


def bump(name: str) -> None:
    with lock:
        counts[name] += 1


def read(name: str) -> bytes:
    with lock:
        return str(counts[name]).encode()


server = muxwire.Server(sys.argv[1])


@server.method("echo")
def echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
    return data


@server.stream("echo.stream")
def echo_stream(ctx: muxwire.CallContext, requests):  # type: ignore[no-untyped-def]
    for message in requests:
        yield message


@server.method("sink")
def sink(ctx: muxwire.CallContext, data: bytes) -> bytes:
    bump("sunk")
    return b""


@server.method("count")
def count(ctx: muxwire.CallContext, data: bytes) -> bytes:
    return read("sunk")


@server.method("delay")
def delay(ctx: muxwire.CallContext, data: bytes) -> bytes:
    bump("started")
    try:
        ms = int(data.decode().strip())
    except ValueError:
        raise muxwire.RpcError(muxwire.StatusCode.INVALID_ARGUMENT, "delay takes milliseconds")
    end = time.monotonic() + ms / 1000
    # A sync handler learns of its cancellation by looking: in slices of 5 ms.
    while time.monotonic() < end:
        if ctx.cancelled:
            bump("cancelled")
            raise muxwire.RpcError(muxwire.StatusCode.CANCELLED, "cancelled")
        time.sleep(0.005)
    return data


@server.method("started")
def started(ctx: muxwire.CallContext, data: bytes) -> bytes:
    return read("started")


@server.method("cancelled")
def cancelled(ctx: muxwire.CallContext, data: bytes) -> bytes:
    return read("cancelled")


@server.method("fail")
def fail(ctx: muxwire.CallContext, data: bytes) -> bytes:
    raise muxwire.RpcError(muxwire.StatusCode.INVALID_ARGUMENT, "interop failure", details=data)


@server.method("callback")
def callback(ctx: muxwire.CallContext, data: bytes) -> bytes:
    return ctx.peer.call("client.echo", data, timeout=30)


def main() -> None:
    server.start()
    print(f"interop server (python) on {server.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch_stdin() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        while not stop.wait(0.1):
            pass
    except KeyboardInterrupt:
        pass
    server.shutdown(1.0)


if __name__ == "__main__":
    main()
