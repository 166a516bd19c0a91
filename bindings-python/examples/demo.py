"""Python and Rust over one protocol: a Python client calls the Rust server, and the Rust
client (`muxwire call`) calls a Python server, over TCP and a Unix socket.

Usage: python demo.py MUXWIRE_BIN   (`make demo-python` builds everything and runs it)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile

import muxwire


def python_calls_rust(muxwire_bin: str, url: str) -> None:
    server = subprocess.Popen([muxwire_bin, "serve", url], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        bound = server.stdout.readline().split()[3]
        with muxwire.Client(bound, timeout=5.0) as client:
            reply = client.call("echo", b"hello from Python")
            print(f"  Python Client -> Rust server {bound}: echo -> {reply.decode()!r}")
            try:
                client.call("delay", b"2000", timeout=0.05)
            except muxwire.DeadlineExceeded as e:
                print(f"  Python Client -> Rust server: delay with a 50 ms timeout -> {e}")

        async def many() -> int:
            async with muxwire.AsyncClient(bound) as aclient:
                replies = await asyncio.gather(*(aclient.call("echo", b"%d" % i) for i in range(1000)))
                return len(replies)

        print(f"  Python AsyncClient -> Rust server: {asyncio.run(many())} concurrent calls answered")
    finally:
        server.terminate()
        server.communicate()


def rust_calls_python(muxwire_bin: str, url: str) -> None:
    server = muxwire.Server(url)

    @server.method("greet")
    def greet(ctx: muxwire.CallContext, data: bytes) -> bytes:
        user = ctx.get("user")
        return b"hello, " + data + (b" (user " + user + b")" if user else b"")

    with server:
        done = subprocess.run(
            [muxwire_bin, "call", server.url, "greet", "Rust", "-m", "user=ada"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        print(f"  Rust `muxwire call` -> Python Server {server.url}: greet -> {done.stdout.strip()!r}")
        done = subprocess.run([muxwire_bin, "call", server.url, "nope"], capture_output=True, text=True, timeout=60)
        print(f"  Rust `muxwire call` -> Python Server: unknown method -> exit {done.returncode}, {done.stderr.strip()}")


def main() -> None:
    muxwire_bin = sys.argv[1] if len(sys.argv) > 1 else "muxwire"
    with tempfile.TemporaryDirectory(prefix="muxwire-demo-") as d:
        for url in ("tcp://127.0.0.1:0", f"unix://{d}/rust.sock"):
            print(f"over {url.split(':')[0].upper()}:")
            python_calls_rust(muxwire_bin, url)
        for url in ("tcp://127.0.0.1:0", f"unix://{d}/python.sock"):
            print(f"over {url.split(':')[0].upper()}:")
            rust_calls_python(muxwire_bin, url)


if __name__ == "__main__":
    main()
