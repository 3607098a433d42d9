"""The `archsim` command against a bad scheduler and interruptions (issue #14): a bad
`--scheduler` exits within seconds and the process ends, and Ctrl-C stops a run quickly,
with one line and no traceback.

Exit codes (docs/cli.md): 0 ok, 2 bad input with a message naming the file and the problem,
1 internal error, 130 interrupted; never a traceback for a user's mistake.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.cli_hardening_fixtures import ROOT, write_tiny

pytestmark = pytest.mark.e2e

tiny = pytest.fixture(write_tiny, name="tiny")


def archsim(*argv: str, **kwargs: object) -> subprocess.Popen[str]:
    """`archsim ARGV` in a new process (SIGINT as by default, whatever the test runner does)."""
    return subprocess.Popen(
        [sys.executable, "-m", "sim.presentation.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        **kwargs,  # type: ignore[call-overload]
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# --- --scheduler -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("foo", "'foo' is not a scheduler address: no port"),
        ("tcp://", "'tcp://' is not a scheduler address"),
        ("tcp://host:notaport", "the port 'notaport' is not a number"),
        ("tcp://127.0.0.1:1", "cannot reach the scheduler at tcp://127.0.0.1:1"),
    ],
)
def test_a_bad_scheduler_exits_2_quickly(address: str, message: str, tiny: Path) -> None:
    """A malformed or unreachable address: a message and exit 2 within seconds, and the
    process ends (a Dask client that failed to connect used to keep it alive)."""
    started = time.monotonic()
    process = archsim("run", str(tiny), "--scheduler", address)
    _, error = process.communicate(timeout=60)
    assert time.monotonic() - started < 10
    assert process.returncode == 2, error
    assert message in " ".join(error.replace("│", " ").split())
    assert "Traceback" not in error


@pytest.mark.slow
@pytest.mark.parametrize("answer", [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4])
def test_a_server_that_is_no_scheduler_exits_2(answer: bytes, tiny: Path) -> None:
    """Something listens at the address but says nothing (Dask alone would wait forever)
    or answers garbage: exit 2 within seconds, and the process ends."""
    pytest.importorskip("distributed")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = server.accept()
                accepted.append(connection)
                if answer:
                    connection.sendall(answer)
                    connection.close()

    threading.Thread(target=serve, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    started = time.monotonic()
    try:
        process = archsim("run", str(tiny), "--scheduler", address)
        _, error = process.communicate(timeout=60)
    finally:
        server.close()
        for connection in accepted:
            connection.close()
    assert time.monotonic() - started < 20
    assert process.returncode == 2, error
    assert "archsim: --scheduler: cannot" in error and address in error
    assert "Traceback" not in error


# --- Ctrl-C ------------------------------------------------------------------------------


@pytest.mark.parametrize("whole_group", [False, True], ids=["archsim", "terminal"])
def test_ctrl_c_stops_quickly_writes_nothing_and_exits_130(
    whole_group: bool, tmp_path: Path
) -> None:
    """SIGINT to archsim (or to its whole process group, as a terminal's Ctrl-C sends it)
    1.5 s into a multi-process run: exit code 130, one line, no traceback (nor from the
    workers), no `--out` folder, within 3 s."""
    out = tmp_path / "out"

    def start() -> None:
        _default_sigint()
        if whole_group:
            os.setpgid(0, 0)

    process = archsim(
        "run", "scenarios/order_pipeline.yaml", "--jobs", "2", "--out", str(out), preexec_fn=start
    )
    time.sleep(1.5)
    if whole_group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    try:
        _, error = process.communicate(timeout=30)
    finally:
        process.kill()
    assert time.monotonic() - signalled < 3
    assert process.returncode == 130, error
    assert "Traceback" not in error
    assert error.strip() == "archsim: interrupted"
    assert not out.exists()


INTERRUPTED_IN_A_DESTRUCTOR = """
import signal, sys, threading, time
from sim.presentation.cli import _interrupts_recorded

class Finalized:
    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C arriving while a destructor runs

signal.signal(signal.SIGINT, signal.default_int_handler)
with _interrupts_recorded() as interrupted:
    try:
        Finalized()
        if sys.argv[1] == "busy":
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                pass
        else:
            threading.Event().wait(20)
        print("ran on")
    except KeyboardInterrupt:
        print("stopped", interrupted())
"""


@pytest.mark.parametrize("then", ["busy", "waiting"])
def test_ctrl_c_inside_a_destructor_still_stops_the_command(then: str) -> None:
    """A KeyboardInterrupt raised where Python cannot let it out (a destructor, the garbage
    collector) reaches the unraisable hook; it is raised again once the main thread is
    back in ordinary code, busy or blocked in a wait. (It once ran a whole simulation to
    the end and exited 0, seen in CI as a Ctrl-C that took 15 s.)"""
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_IN_A_DESTRUCTOR, then],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        preexec_fn=_default_sigint,
    )
    assert finished.stdout.strip() == "stopped True", finished.stderr
    assert "Traceback" not in finished.stderr
    assert time.monotonic() - started < 15
