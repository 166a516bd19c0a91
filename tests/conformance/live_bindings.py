#!/usr/bin/env python3
"""`muxwire conformance live` against the C and Python servers, over TCP and Unix sockets:
each serves the live scenarios' test methods (spec/CONFORMANCE.md, section 4) and must
pass all of them. Part of `make interop`.

Usage: live_bindings.py --muxwire PATH --c C_SERVER --python PYTHON
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def serve(cmd: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    """Starts a server (stdin piped: closing it stops the server) and reads its URL."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdout is not None
    line = p.stdout.readline().decode()
    m = re.search(r"(tcp|unix)://\S+", line)
    if not m:
        p.kill()
        raise SystemExit(f"{cmd[0]}: no URL in its first line {line!r}")
    return p, m.group(0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--muxwire", required=True)
    ap.add_argument("--c", required=True, help="the C interop server")
    ap.add_argument("--python", required=True, help="the Python with the package")
    args = ap.parse_args()
    servers = {
        "c": lambda url: [args.c, url],
        "python": lambda url: [args.python, os.path.join(HERE, "python_live_server.py"), url],
    }
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, cmd in servers.items():
            for transport in ("tcp", "unix"):
                url = (
                    "tcp://127.0.0.1:0"
                    if transport == "tcp"
                    else f"unix://{tmp}/live-{name}.sock"
                )
                server, url = serve(cmd(url))
                try:
                    r = subprocess.run(
                        [args.muxwire, "conformance", "live", url],
                        capture_output=True,
                        text=True,
                        timeout=600,
                    )
                finally:
                    assert server.stdin is not None
                    server.stdin.close()
                    try:
                        server.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        server.kill()
                summary = (r.stdout.strip().splitlines() or ["(no output)"])[-1]
                print(f"live {name:6} {transport:4}  {summary}")
                if r.returncode != 0:
                    print(r.stdout + r.stderr, file=sys.stderr)
                    failed.append(f"{name}/{transport}")
    if failed:
        print(f"live: failed against {', '.join(failed)}", file=sys.stderr)
        return 1
    print("live: the C and Python servers pass every scenario")
    return 0


if __name__ == "__main__":
    sys.exit(main())
