"""A Python server the Rust client can call: `muxwire call URL greet Ada`.

Usage: python server.py [URL]   (Ctrl-C stops it)
"""

from __future__ import annotations

import sys

import muxwire

server = muxwire.Server(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:7001")


@server.method("greet")
def greet(ctx: muxwire.CallContext, data: bytes) -> bytes:
    if not data:
        raise muxwire.RpcError(muxwire.StatusCode.INVALID_ARGUMENT, "greet whom?")
    return b"hello, " + data


@server.method("echo")
def echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
    return data


if __name__ == "__main__":
    server.start()
    print("serving on", server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
