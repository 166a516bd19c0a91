#!/usr/bin/env python3
"""The interop checks (README.md beside this file) in Python, on the muxwire package.

Usage: python_client.py URL   (one PASS or FAIL line per check; exit 0 if all pass)
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Callable

import muxwire

PATIENCE = 30.0


def count(client: muxwire.Client, method: str) -> int:
    return int(client.call(method, b"", timeout=PATIENCE).decode().strip())


def until(client: muxwire.Client, method: str, target: int) -> None:
    end = time.monotonic() + PATIENCE
    while count(client, method) < target:
        if time.monotonic() > end:
            raise AssertionError(f"{method} did not reach {target} within {PATIENCE} s")
        time.sleep(0.005)


def check_unary(client: muxwire.Client, url: str) -> None:
    body = bytes(((i * 2654435761) >> 24) & 0xFF for i in range(1000))
    assert client.call("echo", body, timeout=PATIENCE) == body, "the echo differs"


def check_notify(client: muxwire.Client, url: str) -> None:
    before = count(client, "count")
    for _ in range(3):
        client.notify("sink", b"n")
    until(client, "count", before + 3)


def check_stream(client: muxwire.Client, url: str) -> None:
    with client.stream("echo.stream", timeout=PATIENCE) as s:
        for m in (b"a", b"bb", b"ccc"):
            s.send(m)
        s.done_writing()
        got = list(s)
    assert got == [b"a", b"bb", b"ccc"], f"got {got!r}"


def check_callback(client: muxwire.Client, url: str) -> None:
    got = client.call("callback", b"ping", timeout=PATIENCE)
    assert got == b"ping", f"got {got!r}"


def check_cancel(client: muxwire.Client, url: str) -> None:
    before, begun = count(client, "cancelled"), count(client, "started")

    async def cancel_one() -> None:
        async with muxwire.AsyncClient(url) as aclient:
            call = asyncio.ensure_future(aclient.call("delay", b"30000"))
            # Cancel only once the handler runs (README: a call cancelled while it waits
            # for a handler thread may never run one).
            await asyncio.to_thread(until, client, "started", begun + 1)
            call.cancel()
            try:
                await call
            except asyncio.CancelledError:
                pass

    asyncio.run(cancel_one())
    until(client, "cancelled", before + 1)


def check_deadline(client: muxwire.Client, url: str) -> None:
    try:
        client.call("delay", b"30000", timeout=0.2)
    except muxwire.DeadlineExceeded:
        return
    raise AssertionError("a 30 s call ended OK within a 200 ms timeout")


def check_error(client: muxwire.Client, url: str) -> None:
    try:
        client.call("fail", b"why", timeout=PATIENCE)
    except muxwire.RpcError as e:
        ok = (e.status, e.message, e.details) == (muxwire.StatusCode.INVALID_ARGUMENT, "interop failure", b"why")
        assert ok, f"{e.status.name} {e.message!r} details {e.details!r}"
        return
    raise AssertionError("fail succeeded")


CHECKS: list[tuple[str, Callable[[muxwire.Client, str], None]]] = [
    ("unary", check_unary),
    ("notify", check_notify),
    ("stream", check_stream),
    ("callback", check_callback),
    ("cancel", check_cancel),
    ("deadline", check_deadline),
    ("error", check_error),
]


def main() -> int:
    url = sys.argv[1]
    try:
        client = muxwire.Client(url, handlers={"client.echo": lambda ctx, data: data})
    except muxwire.MuxwireError as e:
        print(f"FAIL connect: {e}")
        return 1
    failed = 0
    with client:
        for name, check in CHECKS:
            try:
                check(client, url)
                print(f"PASS {name}", flush=True)
            except Exception as e:  # a check's own failure, whatever it is
                failed += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
