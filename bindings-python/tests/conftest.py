"""Fixtures: the Rust server (`muxwire serve`) over TCP and a Unix socket, and helpers.

The Rust binary is found through MUXWIRE_BIN (set by `make python-test`), or in the
repository's target/ folder.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# Generous: only a hang hits it (the machine is shared and may be slow).
DEADLINE = 60.0


def muxwire_bin() -> str:
    """The `muxwire` command-line binary."""
    env = os.environ.get("MUXWIRE_BIN")
    if env:
        return env
    for profile in ("release", "debug"):
        path = REPO / "target" / profile / "muxwire"
        if path.exists():
            return str(path)
    pytest.fail("no muxwire binary: run `make python-test` or set MUXWIRE_BIN")


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Polls `condition` until it holds; fails naming `what` after DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def start_rust_server(url: str) -> tuple[subprocess.Popen[str], str]:
    """Starts `muxwire serve url`; returns the process and the URL it listens on."""
    proc = subprocess.Popen(
        [muxwire_bin(), "serve", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("muxwire serving on "):
        proc.kill()
        _, err = proc.communicate()
        proc.wait()
        pytest.fail(f"muxwire serve did not start: {line!r} {err!r}")
    bound = line.split()[3]
    return proc, bound


@pytest.fixture(params=["tcp", "unix"])
def transport(request: pytest.FixtureRequest) -> str:
    """Each test using it runs over TCP and over a Unix socket."""
    return str(request.param)


@pytest.fixture
def local_url(transport: str) -> Iterator[str]:
    """A URL to listen on: TCP on a free loopback port, or a fresh Unix socket path."""
    if transport == "tcp":
        yield "tcp://127.0.0.1:0"
        return
    with tempfile.TemporaryDirectory(prefix="muxwire-py-") as d:
        yield f"unix://{d}/s.sock"


@pytest.fixture
def rust_server(local_url: str) -> Iterator[str]:
    """The Rust server's URL (echo, sink, delay, count, echo.stream)."""
    proc, url = start_rust_server(local_url)
    try:
        yield url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    """Stops a server process and closes its pipes."""
    proc.terminate()
    try:
        proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter (the same one running the tests)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
