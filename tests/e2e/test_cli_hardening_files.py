"""The `archsim` command against user mistakes with files (issue #14): `--out` checked
before the run, readable result files, and a written scenario that reproduces its run.

Exit codes (docs/cli.md): 0 ok, 2 bad input with a message naming the file and the problem,
1 internal error, 130 interrupted; never a traceback for a user's mistake.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

import sim.presentation.files
from sim.presentation.cli import main
from tests.e2e.cli_hardening_fixtures import refuse_simulation, write_tiny

pytestmark = pytest.mark.e2e

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
"""Root may write anywhere: permission checks cannot be tested."""

tiny = pytest.fixture(write_tiny, name="tiny")
no_simulation = pytest.fixture(refuse_simulation, name="no_simulation")


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
