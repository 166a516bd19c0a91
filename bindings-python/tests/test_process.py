"""What the process sees: Ctrl-C in a blocking call, fork(), logging, the GIL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import muxwire
from conftest import DEADLINE, run_python, wait_until

CTRL_C = textwrap.dedent(
    """
    import sys, muxwire
    client = muxwire.Client(sys.argv[1])
    try:
        print("calling", flush=True)
        client.call("hold", b"")
        print("returned")
    except KeyboardInterrupt:
        print("interrupted", client.call("echo", b"still fine").decode(), flush=True)
    """
)


def test_ctrl_c_interrupts_a_blocking_call_and_cancels_it(local_url: str) -> None:
    arrived, cancelled = threading.Event(), threading.Event()
    server = muxwire.Server(local_url)

    @server.method("hold")
    def hold(ctx: muxwire.CallContext, data: bytes) -> bytes:
        arrived.set()
        wait_until(lambda: ctx.cancelled, "the interrupted call to be cancelled")
        cancelled.set()
        return b""

    @server.method("echo")
    def echo(ctx: muxwire.CallContext, data: bytes) -> bytes:
        return data

    with server:
        proc = subprocess.Popen(
            [sys.executable, "-c", CTRL_C, server.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == "calling\n"
        # The call is waiting in the child: only the periodic signal check can end it.
        assert arrived.wait(DEADLINE)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE)
        assert out == "interrupted still fine\n", err
        assert proc.returncode == 0
        assert cancelled.wait(DEADLINE)


FORK = textwrap.dedent(
    """
    import os, sys, muxwire
    url = sys.argv[1]
    client = muxwire.Client(url)
    assert client.call("echo", b"parent") == b"parent"
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            client.call("echo", b"child")
            code = 10
        except muxwire.MuxwireError as e:
            if "before fork()" not in str(e):
                code = 11
        try:
            with muxwire.Client(url) as fresh:
                if fresh.call("echo", b"fresh") != b"fresh":
                    code = 12
        except Exception:
            code = 13
        del client
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
    print("parent", client.call("echo", b"after").decode())
    """
)


def test_fork_child_refuses_inherited_objects_and_makes_new_ones(rust_server: str) -> None:
    done = run_python(FORK, rust_server)
    assert done.stdout == "child 0\nparent after\n", done.stderr
    assert done.returncode == 0


QUIET = textwrap.dedent(
    """
    import logging, sys, muxwire
    seen = []
    class Seen(logging.Filter):
        def filter(self, record):
            seen.append(record.getMessage())
            return True
    logging.getLogger("muxwire").addFilter(Seen())
    logging.getLogger("muxwire").setLevel(logging.INFO)
    muxwire.refresh_log_level()
    server = muxwire.Server("tcp://127.0.0.1:0")
    server.start()
    import time
    end = time.monotonic() + 60
    while not any("listening" in m for m in seen) and time.monotonic() < end:
        time.sleep(0.005)
    server.shutdown()
    print(any("listening" in m for m in seen))
    """
)


def test_logs_reach_the_logger_and_nothing_reaches_stderr() -> None:
    done = run_python(QUIET)
    assert done.stdout == "True\n"
    assert done.stderr == ""


def test_logs_carry_level_and_target(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="muxwire")
    muxwire.refresh_log_level()
    try:
        with muxwire.Server("tcp://127.0.0.1:0"):

            def logged() -> bool:
                return any("listening" in r.getMessage() for r in caplog.records)

            wait_until(logged, "the server's 'listening' record")
        record = next(r for r in caplog.records if "listening" in r.getMessage())
        assert record.name == "muxwire" and record.levelname == "INFO"
        assert getattr(record, "muxwire_target").startswith("muxwire")
    finally:
        caplog.set_level("WARNING", logger="muxwire")
        muxwire.refresh_log_level()


def test_a_wait_releases_the_gil() -> None:
    # The handler runs on a worker thread and needs the GIL: if the caller's wait held
    # it, this call could never finish.
    release = threading.Event()
    server = muxwire.Server("tcp://127.0.0.1:0")

    @server.method("wait")
    def wait(ctx: muxwire.CallContext, data: bytes) -> bytes:
        release.wait(DEADLINE)
        return b"released" if release.is_set() else b"not released"

    with server, muxwire.Client(server.url) as client:
        outcome: list[bytes] = []
        caller = threading.Thread(target=lambda: outcome.append(client.call("wait", b"")))
        caller.start()
        wait_until(lambda: server.stats().in_flight == 1 or server.stats().calls_started == 1, "the call to start")
        release.set()
        caller.join()
    assert outcome == [b"released"]


def test_runtime_threads_are_fixed_once_running() -> None:
    with pytest.raises(muxwire.MuxwireError, match="already running"):
        muxwire.set_runtime_threads(4)


def test_runtime_threads_are_checked() -> None:
    done = run_python(
        "import muxwire\n"
        "try:\n    muxwire.set_runtime_threads(0)\nexcept ValueError as e:\n    print(e)\n"
        "muxwire.set_runtime_threads(3)\n"
        "import threading\n"
        "server = muxwire.Server('tcp://127.0.0.1:0'); server.start(); server.shutdown()\n"
        "print('ok')\n"
    )
    assert done.stdout == "threads must be between 1 and 256\nok\n", done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_module_imports_cleanly_in_a_child() -> None:
    done = run_python("import os, muxwire\npid = os.fork()\nos._exit(0) if pid == 0 else print(os.waitpid(pid, 0)[1])")
    assert done.stdout == "0\n"


def test_the_benchmark_runs() -> None:
    # A smoke test of bindings-python/bench (muxwire only, short runs): it must not rot.
    import pathlib
    import tempfile

    from conftest import REPO, muxwire_bin

    bench = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench.py"
    with tempfile.TemporaryDirectory() as d:
        out = pathlib.Path(d) / "r.json"
        done = subprocess.run(
            [sys.executable, str(bench), "--quick", "--only", "muxwire", "--json", str(out)],
            capture_output=True,
            text=True,
            timeout=10 * DEADLINE,
            env={**os.environ, "MUXWIRE_BIN": muxwire_bin()},
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr
        assert "muxwire asyncio (128 tasks)" in done.stdout
        import json

        results = json.loads(out.read_text())
    assert results["muxwire"]["sync"]["w2_calls_per_s"] > 0
    assert results["muxwire"]["asyncio"]["p50_us"] > 0
