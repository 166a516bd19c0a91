#!/usr/bin/env python3
"""The interop matrix: every client implementation against every server implementation,
over TCP and over Unix sockets, seven checks per pair (see README.md beside this file).

Usage: matrix.py --muxwire PATH [--impl NAME ...] [--with NAME SERVER_CMD CLIENT_CMD]

Implementations are listed in IMPLEMENTATIONS below: how to start each one's server and
client. Prints the matrix and every failing check; exits 1 if any check failed or any
program misbehaved, 0 otherwise. Every wait is bounded.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

CHECKS = ["unary", "notify", "stream", "callback", "cancel", "deadline", "error"]
SERVER_START_TIMEOUT = 30
CLIENT_TIMEOUT = 300


def implementations(muxwire):
    """Each implementation's server and client commands; {url} becomes the URL."""
    return {
        "rust": {
            "server": [muxwire, "interop-server", "{url}"],
            "client": [muxwire, "interop-client", "{url}"],
        },
    }


def start_server(cmd, url):
    proc = subprocess.Popen(
        [a.replace("{url}", url) for a in cmd],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    # The first line names the URL it listens on (with the real port for :0).
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout=SERVER_START_TIMEOUT):
        proc.kill()
        raise RuntimeError(f"server {cmd[0]} printed nothing in {SERVER_START_TIMEOUT} s")
    line = proc.stdout.readline()
    found = re.search(r"(tcp://\S+|unix://\S+)", line)
    if not found:
        proc.kill()
        raise RuntimeError(f"server {cmd[0]} did not print its URL: {line!r}")
    return proc, found.group(1)


def stop_server(proc):
    try:
        proc.stdin.close()
    except OSError:
        pass
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_client(cmd, url):
    """The checks that passed, and the failure lines (or why the client itself failed)."""
    try:
        out = subprocess.run(
            [a.replace("{url}", url) for a in cmd],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return set(), [f"client did not finish in {CLIENT_TIMEOUT} s"]
    passed = {l.split()[1] for l in out.stdout.splitlines() if l.startswith("PASS ")}
    failed = [l for l in out.stdout.splitlines() if l.startswith("FAIL ")]
    missing = [c for c in CHECKS if c not in passed and not any(f.startswith(f"FAIL {c}") for f in failed)]
    if missing:
        failed.append(f"FAIL {' '.join(missing)}: not reported")
    if (out.returncode == 0) != (len(passed) == len(CHECKS)):
        failed.append(f"exit status {out.returncode} does not match the checks")
    if out.stderr.strip() and failed:
        failed.append("stderr: " + out.stderr.strip().splitlines()[-1])
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--muxwire", required=True)
    ap.add_argument("--impl", action="append", help="only these implementations")
    ap.add_argument(
        "--with",
        dest="extra",
        nargs=3,
        action="append",
        metavar=("NAME", "SERVER_CMD", "CLIENT_CMD"),
        help="one more implementation (commands split like a shell; {url} is the URL)",
    )
    args = ap.parse_args()
    impls = implementations(os.path.abspath(args.muxwire))
    import shlex

    for name, server_cmd, client_cmd in args.extra or []:
        impls[name] = {"server": shlex.split(server_cmd), "client": shlex.split(client_cmd)}
    if args.impl:
        impls = {k: v for k, v in impls.items() if k in args.impl or k in {e[0] for e in args.extra or []}}
    tmp = tempfile.mkdtemp(prefix="muxwire-interop-")
    results = {}
    problems = []
    for transport in ["tcp", "unix"]:
        for server_name, server in impls.items():
            url = "tcp://127.0.0.1:0" if transport == "tcp" else f"unix://{tmp}/{server_name}.sock"
            try:
                proc, real = start_server(server["server"], url)
            except RuntimeError as e:
                problems.append(f"{server_name} server over {transport}: {e}")
                continue
            try:
                for client_name, client in impls.items():
                    passed, failed = run_client(client["client"], real)
                    results[(server_name, transport, client_name)] = len(passed)
                    for f in failed:
                        problems.append(f"{client_name} client -> {server_name} server over {transport}: {f}")
            finally:
                stop_server(proc)
    names = list(impls)
    print(f"{'server / transport':<20}" + "".join(f"{'client ' + n:<16}" for n in names))
    for server_name in names:
        for transport in ["tcp", "unix"]:
            row = f"{server_name + ' ' + transport:<20}"
            for client_name in names:
                n = results.get((server_name, transport, client_name))
                cell = "-" if n is None else f"{n}/{len(CHECKS)}"
                row += f"{cell:<16}"
            print(row)
    for p in problems:
        print(p)
    ok = not problems and all(n == len(CHECKS) for n in results.values())
    print("interop: all pairs pass every check" if ok else "interop: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
