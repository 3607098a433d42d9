"""The `archsim` command against user mistakes and interruptions (issue #14): `--out` checked
before the run, readable result files, a bad `--scheduler`, Ctrl-C, units in `--vary`, help
without `<bool>`, tables that fit 120 columns without noise or negative intervals, and a
written scenario that reproduces its run.

Exit codes (docs/cli.md): 0 ok, 2 bad input with a message naming the file and the problem,
1 internal error, 130 interrupted; never a traceback for a user's mistake.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from rich.cells import cell_len

import sim.experiments.comparison
import sim.experiments.simulation
import sim.experiments.sweep
import sim.presentation.files
from sim.presentation.cli import main

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
"""Root may write anywhere: permission checks cannot be tested."""

TINY = """
name: tiny
simulation: {duration: 20s, warmup: 2s, replications: 2, seed: 5}
services:
  api:
    workers: 2
    operations:
      get: [{work: {lognormal: {mean: 20ms, cv: 1.2}}}, {call: db}]
  db:
    workers: 4
    operations:
      read: [{work: {exponential: 8ms}}]
workload:
  users: {entry: api.get, arrivals: {poisson: 30/s}}
variants:
  faster-db: {services.db.operations.read: [{work: {exponential: 4ms}}]}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if anything is simulated. `run_all` is refused where sweeps and
    comparisons hold it too: imported here first, they hold the real one, which a sweep
    test after this one needs (imported first under this fixture, they kept the refusal:
    `-k sweep` failed `test_sweep_values_take_units`)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the simulation ran")

    monkeypatch.setattr(sim.experiments.simulation, "simulate", refuse)
    for module in (sim.experiments.simulation, sim.experiments.sweep, sim.experiments.comparison):
        monkeypatch.setattr(module, "run_all", refuse)
    yield


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


# --- --out, checked before the run -------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "compare", "sweep"])
def test_an_out_that_is_a_file_is_refused_before_the_run(
    command: str,
    tiny: Path,
    tmp_path: Path,
    no_simulation: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    extra = ["--vary", "workload.users.arrivals.poisson=10,20"] if command == "sweep" else []
    assert main([command, str(tiny), *extra, "--out", str(a_file)]) == 2
    error = capsys.readouterr().err
    assert "--out" in error and "notes.txt" in error and "is a file, not a folder" in error
    assert "Traceback" not in error
    assert a_file.read_text() == "mine"


def test_an_out_under_a_file_is_refused_before_the_run(
    tiny: Path, tmp_path: Path, no_simulation: None, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert main(["run", str(tiny), "--out", str(a_file / "deeper" / "out")]) == 2
    error = capsys.readouterr().err
    assert "cannot create the folder" in error and "is a file, not a folder" in error
    assert a_file.read_text() == "mine"


@pytest.mark.skipif(AS_ROOT, reason="root may write into a read-only folder")
def test_an_out_in_a_read_only_folder_is_refused_before_the_run(
    tiny: Path, tmp_path: Path, no_simulation: None, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["run", str(tiny), "--out", str(locked / "out")]) == 2
        assert "Permission denied" in capsys.readouterr().err
        assert main(["run", str(tiny), "--out", str(locked)]) == 2
        assert "Permission denied" in capsys.readouterr().err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_an_out_where_nothing_can_be_created_is_refused(
    tiny: Path, no_simulation: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """/proc takes no new folder, not even from root."""
    if not Path("/proc/self").exists():
        pytest.skip("no /proc")
    assert main(["run", str(tiny), "--out", "/proc/archsim-results"]) == 2
    error = capsys.readouterr().err
    assert "/proc/archsim-results: cannot write in /proc" in error


def test_a_graph_out_that_is_a_folder_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["graph", str(tiny), "--out", str(tmp_path)]) == 2
    assert "is a folder, not a PNG file name" in capsys.readouterr().err


@pytest.mark.skipif(AS_ROOT, reason="root reads any file")
def test_an_unreadable_scenario_exits_2(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny.chmod(0o000)
    try:
        assert main(["run", str(tiny)]) == 2
        assert "Permission denied" in capsys.readouterr().err
    finally:
        tiny.chmod(0o644)


def test_a_missing_scenario_or_a_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["run", str(tmp_path / "absent.yaml")], ["analyze", str(tmp_path)]):
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert "cannot read the file" in error or "directory" in error
        assert "Traceback" not in error


def test_a_write_that_fails_leaves_nothing_and_exits_2(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    written: list[Path] = []
    original = sim.presentation.files._write_new_file

    def fill_the_disk(path: Path, content: str | bytes) -> Path:
        if len(written) == 2:
            raise OSError(28, "No space left on device", str(path))
        written.append(original(path, content))
        return written[-1]

    monkeypatch.setattr(sim.presentation.files, "_write_new_file", fill_the_disk)
    out = tmp_path / "results" / "run"
    assert main(["run", str(tiny), "-r", "1", "--out", str(out)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()  # the parent it created is gone too
    assert list(tmp_path.iterdir()) == [tiny]


# --- files readable by others ------------------------------------------------------------


@pytest.mark.parametrize(("umask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755)])
def test_result_files_follow_the_umask(
    umask: int, file_mode: int, folder_mode: int, tiny: Path, tmp_path: Path
) -> None:
    previous = os.umask(umask)
    try:
        out = tmp_path / "out"
        assert main(["run", str(tiny), "-r", "1", "--json", "--out", str(out)]) == 0
        assert (out.stat().st_mode & 0o777) == folder_mode
        names = {path.name for path in out.iterdir()}
        assert {"results.json", "scenario.yaml", "timeseries.csv", "topology.png"} <= names
        for path in out.iterdir():
            assert (path.stat().st_mode & 0o777) == file_mode, path.name
        picture = tmp_path / "pictures" / "topology.png"
        assert main(["graph", str(tiny), "--out", str(picture)]) == 0
        assert (picture.stat().st_mode & 0o777) == file_mode
        assert (picture.parent.stat().st_mode & 0o777) == folder_mode
    finally:
        os.umask(previous)


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


# --- sweep with units --------------------------------------------------------------------


def test_sweep_values_take_units(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", str(tiny), "-r", "1", "--json", "--jobs", "1", "--vary"]
    assert main([*argv, "workload.users.arrivals.poisson=10/s..30/s:3"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [point["value"] for point in document["points"]] == [10.0, 20.0, 30.0]
    rates = [point["results"]["flows"]["users"]["throughput"] for point in document["points"]]
    assert rates[0] < rates[1] < rates[2]
    assert main([*argv, "services.db.operations.read.0.work.exponential=4ms..12ms:3"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [point["value"] for point in document["points"]] == [0.004, 0.008, 0.012]
    assert main([*argv, "workload.users.arrivals.poisson=1200/min,30/s"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [point["value"] for point in document["points"]] == [20.0, 30.0]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("10/s..20ms:3", "START and STOP must both be times or both be rates"),
        ("fast..slow", "is not a number, a time"),
        ("10..20:one", "STEPS must be a whole number"),
    ],
)
def test_sweep_refuses_bad_values(
    values: str, message: str, tiny: Path, no_simulation: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", str(tiny), "--vary", f"workload.users.arrivals.poisson={values}"]) == 2
    assert message in " ".join(capsys.readouterr().err.replace("│", " ").split())


# --- help --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["compare"], ["sweep"], ["analyze"], ["graph"], ["validate"], ["schema"]],
)
def test_help_shows_flags_without_a_type(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    assert main([*command, "--help"]) == 0
    shown = capsys.readouterr().out
    assert "<bool>" not in shown
    assert re.search(r"--help\s+Show this message", shown)
    if command and command[0] in ("run", "compare", "sweep", "analyze"):
        assert re.search(r"--json\s+print the", shown)


# --- tables: 120 columns, no noise, no negative intervals ---------------------------------


def _lines(text: str) -> list[str]:
    return [re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", line) for line in text.splitlines()]


def _short_run(
    example: str, duration: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    """What `archsim run` prints for the example `example` shortened to `duration` after a
    short warm-up, 2 replications (set COLUMNS first)."""
    raw = yaml.safe_load((SCENARIOS / example).read_text())
    raw["simulation"].update({"duration": duration, "warmup": "2s", "replications": 2})
    short = tmp_path / example
    short.write_text(yaml.safe_dump(raw))
    assert main(["run", str(short), "--jobs", "1"]) == 0
    return capsys.readouterr().out


def test_run_tables_fit_120_columns_without_noise_or_negative_intervals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run of three_tier_shop (shortened, 2 replications: wide intervals, near-zero
    waiting at the web tier): every line fits 120 columns, nothing is cut, the theory
    table shows no 1e-38 and no interval below 0."""
    monkeypatch.setenv("COLUMNS", "120")
    lines = _lines(_short_run("three_tier_shop.yaml", "15s", tmp_path, capsys))
    assert max(cell_len(line) for line in lines) <= 120
    shown = "\n".join(lines)
    assert "…" not in shown  # no cut name, header or number
    assert not re.search(r"\de-\d", shown)  # no 1.172e-38
    theory = shown[shown.index("Theory beside the simulation") :]
    intervals = re.findall(r"(-?[\d,.]+) \.\. (-?[\d,.]+)", theory)
    assert intervals
    assert all(not low.startswith("-") for low, _ in intervals)
    for value, half_width in re.findall(r"(-?[\d,]+\.\d+) ±([\d,]+\.\d+)", shown):
        number, width = float(value.replace(",", "")), float(half_width.replace(",", ""))
        assert number - width >= -0.011, (value, half_width)  # rounding of each, at most
    for value, below in re.findall(r"([\d,]+\.\d+) \+[\d,]+\.\d+ -([\d,]+\.\d+)", shown):
        assert float(value.replace(",", "")) >= float(below.replace(",", "")) - 0.011
    assert "[1]" in theory  # methods listed once, numbered


def test_run_puts_the_predicted_calls_beside_the_simulated_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` on calls with a timeout (timeout_tail, shortened): the theory table has the
    call's attempts and timed-out attempts per second, simulated (its counts over the
    measured period) beside predicted."""
    monkeypatch.setenv("COLUMNS", "120")
    shown = _short_run("timeout_tail.yaml", "60s", tmp_path, capsys)
    theory = shown[shown.index("Theory beside the simulation") :]
    call = theory[theory.index("call api->backend.work") :]
    attempts, timeouts = call.splitlines()[:2]
    assert "attempts/s" in attempts and "120" in attempts  # (predicted: every call once)
    assert "timeout/s" in timeouts and "1.626" in timeouts  # (120/s x 1.355%)


def test_run_puts_the_predicted_replicas_beside_the_simulated_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` on autoscaled_api (shortened to 60 s after 2 s): the checkout API starts with
    2 replicas, its rule asks for 3 at the first decision (15 s): (2 x 13 + 3 x 47) / 60 =
    2.783 replicas over the measured period, predicted and simulated (no noise crosses a
    step: 6.0 busy workers, 2.4 per replica)."""
    monkeypatch.setenv("COLUMNS", "120")
    shown = _short_run("autoscaled_api.yaml", "60s", tmp_path, capsys)
    theory = shown[shown.index("Theory beside the simulation") :]
    (row,) = [line for line in theory.splitlines() if "replicas mean" in line]
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[3] == cells[5] == "2.783", row  # (simulated, predicted)


def test_run_puts_a_saturated_services_throughput_beside_the_simulated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` on launch_day (shortened to 30 s): the saturated API's throughput, its capacity
    X(4) = 4 / 20 ms = 200/s, beside the simulated one; the database behind it, not
    saturated, has no such row (its throughput is its arrival rate), and no exact
    prediction is flagged (the database is predicted at the API's 200/s)."""
    monkeypatch.setenv("COLUMNS", "120")
    shown = _short_run("launch_day.yaml", "30s", tmp_path, capsys)
    theory = shown[shown.index("Theory beside the simulation") :]
    rows = [line for line in theory.splitlines() if "throughput (/s)" in line]
    assert len(rows) == 1, rows
    cells = [cell.strip() for cell in rows[0].split("│")]
    assert cells[5] == "200", rows[0]
    assert abs(float(cells[3]) - 200) < 10, rows[0]  # (about 9 standard errors)
    assert "differs from the exact prediction" not in shown


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_analyze_fits_120_columns(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["analyze", str(path)]) == 0
    lines = _lines(capsys.readouterr().out)
    assert max(cell_len(line) for line in lines) <= 120
    shown = "\n".join(lines)
    assert "…" not in shown
    assert not re.search(r"\de-\d", shown)


# --- the written scenario reproduces the run ---------------------------------------------


def test_the_written_scenario_reproduces_the_run(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`scenario.yaml` records the replications and seed of the command line and, run
    again, gives the same results number for number (a lognormal included, whose mean and
    cv do not survive a round trip through its mu and sigma to the last digit)."""
    out = tmp_path / "out"
    argv = ["run", str(tiny), "--variant", "faster-db", "-r", "3", "--seed", "11", "--json"]
    assert main([*argv, "--jobs", "1", "--out", str(out)]) == 0
    first = json.loads(capsys.readouterr().out)
    written = yaml.safe_load((out / "scenario.yaml").read_text())
    assert written["simulation"]["replications"] == 3
    assert written["simulation"]["seed"] == 11
    assert written["services"]["db"]["operations"]["read"][0]["work"] == {"exponential": 0.004}
    assert main(["run", str(out / "scenario.yaml"), "--json", "--jobs", "1"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first.pop("variant") == "faster-db" and second.pop("variant") is None
    assert first == second


def test_the_written_scenario_keeps_the_files_settings(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(tiny), "--json", "--out", str(out)]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    written = yaml.safe_load((out / "scenario.yaml").read_text())["simulation"]
    assert (written["replications"], written["seed"]) == (2, 5)
    assert (settings["replications"], settings["seed"]) == (2, 5)


def test_run_warns_where_an_exact_prediction_is_beyond_chance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """M/M/1 at 80% (mm1.yaml, 8 x 60 s): with the server's utilization predicted at 0.84
    instead of 0.8, `run` warns and marks the row (the 99.9% interval of 8 replications is
    about ±0.015 around the simulated mean, 2.3 times the 95% one); with the true
    prediction it does neither (a false alarm there has probability about 1e-3 per exact
    mean)."""
    import models.analysis
    from models.analysis.prediction import Prediction
    from models.schema import Scenario

    true_analyze = models.analysis.analyze

    def wrong_by(shift: float) -> Callable[..., Prediction]:
        def analyze(scenario: Scenario, capacity: bool = True) -> Prediction:
            prediction = true_analyze(scenario, capacity=capacity)
            prediction.services["server"].utilization += shift
            return prediction

        return analyze

    raw = yaml.safe_load((SCENARIOS / "mm1.yaml").read_text())
    raw["simulation"].update({"duration": "60s", "warmup": "5s", "replications": 8})
    short = tmp_path / "mm1.yaml"
    short.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("COLUMNS", "160")
    shown = {}
    for shift in (0.0, 0.04):
        monkeypatch.setattr(models.analysis, "analyze", wrong_by(shift))
        assert main(["run", str(short), "--jobs", "1"]) == 0
        shown[shift] = capsys.readouterr().out
    assert "differs from the exact prediction" not in shown[0.0]
    warned = [line for line in shown[0.04].splitlines() if "differs from the exact" in line]
    assert len(warned) == 1 and "utilization" in warned[0], warned
    assert "chance" in warned[0]
    marked = [line for line in shown[0.04].splitlines() if "utilization" in line and " !" in line]
    assert len(marked) == 1, marked
