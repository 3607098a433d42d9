"""End-to-end tests of the `archsim` command, run in-process through `sim.presentation.cli.main`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim.presentation.cli import main

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

SMALL = """
name: small
simulation: {duration: 200s, warmup: 10s, replications: 3, seed: 5}
services:
  api:
    workers: 2
    queue_capacity: 3
    operations:
      get: [{work: {exponential: 50ms}}, {call: db}]
  db:
    workers: 4
    operations:
      read: [{work: {exponential: 20ms}}]
workload:
  users: {entry: api.get, arrivals: {poisson: 30/s}}
variants:
  roomy: {services.api.queue_capacity: 50}
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_run_prints_tables(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(small)]) == 0
    shown = capsys.readouterr().out
    assert "Flows" in shown and "Services" in shown
    assert "users" in shown and "api" in shown and "db" in shown


def test_run_json_follows_the_contract(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(small), "--json", "--replications", "4", "--seed", "9"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["scenario"] == "small"
    assert document["variant"] is None
    assert document["settings"] == {"duration": 200.0, "warmup": 10.0, "replications": 4, "seed": 9}
    flow = document["flows"]["users"]
    for key in ("arrived", "completed", "dropped", "failed", "throughput"):
        assert key in flow and key in flow["ci95"]
    for key in ("mean", "p50", "p90", "p95", "p99", "p999", "max"):
        assert key in flow["response_time"]
        assert key in flow["completion_time"]
    assert (
        flow["response_time"]["p50"] <= flow["response_time"]["p99"] <= flow["response_time"]["max"]
    )
    api = document["services"]["api"]
    assert set(api) >= {
        "arrival_rate",
        "throughput",
        "utilization",
        "dropped",
        "loss_probability",
        "p_wait",
        "queue_length",
        "in_system",
        "waiting_time",
        "response_time",
    }
    assert api["dropped"] > 0  # two workers, room for three: a busy little service
    assert 0 < api["loss_probability"] < 1
    assert api["arrival_rate"] == pytest.approx(30, rel=0.05)


def test_run_variant_and_out_folder(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(small), "--variant", "roomy", "--out", str(out)]) == 0
    document = json.loads((out / "results.json").read_text())
    assert document["variant"] == "roomy"
    resolved = yaml.safe_load((out / "scenario.yaml").read_text())
    assert resolved["services"]["api"]["queue_capacity"] == 50
    assert resolved["simulation"]["duration"] == 200.0
    written = {p.name for p in out.iterdir()}
    expected = {"results.json", "scenario.yaml", "timeseries.csv"}
    assert written == expected | {"topology.png", "backlog.png", "throughput.png"}
    assert all((out / name).stat().st_size > 1000 for name in written if name.endswith(".png"))


def test_same_seed_same_json_whatever_the_jobs(
    small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(small), "--json"]) == 0
    serial = capsys.readouterr().out
    assert main(["run", str(small), "--json", "--jobs", "2"]) == 0
    parallel = capsys.readouterr().out
    assert serial == parallel
    assert main(["run", str(small), "--json", "--seed", "6"]) == 0
    assert capsys.readouterr().out != serial


def test_validate_ok_and_bad(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(small)]) == 0
    assert "ok" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("workers: 2", "workers: 0").replace("call: db", "call: dbx"))
    assert main(["validate", str(bad)]) == 2
    error = capsys.readouterr().err
    assert str(bad) in error
    assert "services.api.workers: must be >= 1 or 'unlimited' (got 0)" in error
    assert "Traceback" not in error


def test_run_on_a_bad_file_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("call: db", "call: dbx"))
    out = tmp_path / "out"
    assert main(["run", str(bad), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"{bad}: services.api.operations.get[1].call: unknown service 'dbx'" in error
    assert not out.exists()
    assert main(["run", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_unknown_variant_and_bad_option_exit_2(
    small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(small), "--variant", "nope"]) == 2
    assert "no variant named 'nope'" in capsys.readouterr().err
    assert main(["run", str(small), "--replications", "0"]) == 2


def test_analyze_and_graph_commands(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(small), "--json"]) == 0
    prediction = json.loads(capsys.readouterr().out)
    assert set(prediction["services"]) == {"api", "db"}
    assert prediction["flows"]["users"]["arrival_rate"] == pytest.approx(30.0)
    assert main(["analyze", str(small)]) == 0
    assert "Flows" in capsys.readouterr().out
    picture = tmp_path / "pictures" / "small.png"
    assert main(["graph", str(small), "--out", str(picture)]) == 0
    assert picture.read_bytes()[:4] == b"\x89PNG"


def test_analyze_shows_the_rate_that_succeeds_where_calls_time_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A flow whose calls time out: the flows table gets a `succeeded/s` column, the
    predicted throughput (120/s less the 1.35% that time out); none where nothing fails."""
    assert main(["analyze", str(SCENARIOS / "timeout_tail.yaml")]) == 0
    table = capsys.readouterr().out
    assert "succeeded/s" in table and "118.37" in table
    assert main(["analyze", str(SCENARIOS / "mm1.yaml")]) == 0
    assert "succeeded/s" not in capsys.readouterr().out


def test_analyze_predicts_the_calls_table_of_calls_with_a_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Timeouts alone: `analyze` has the `calls` row the simulation's results have, with the
    share of attempts that time out (1.35%: the flow's 118.37 of 120/s succeed), and the
    flow's success rate; the table shows it."""
    assert main(["analyze", str(SCENARIOS / "timeout_tail.yaml")]) == 0
    table = capsys.readouterr().out
    assert "Calls with timeouts" in table and "api->backend.work" in table and "98.65%" in table
    assert main(["analyze", str(SCENARIOS / "timeout_tail.yaml"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    row = document["calls"]["api->backend.work"]
    flow = document["flows"]["users"]
    assert row["calls"] == pytest.approx(120.0) and row["retries"] == 0.0
    assert flow["success_rate"] == pytest.approx(1.0 - row["attempt_failure"])
    assert row["failures"]["timeout"] == pytest.approx(120.0 * row["attempt_failure"])
    assert "1.63" in table  # (timed-out attempts per second: 120 x 1.35%; cells may wrap)
    assert flow["throughput"] == pytest.approx(120.0 * flow["success_rate"])
    assert "of the wait and the work's law" in row["method"] and not row["exact"]


def test_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Scenario"
    assert "workload" in schema["required"]


def test_console_script_is_installed(small: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "sim.presentation.cli", "validate", str(small)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_scenarios_run(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every example scenario runs end to end (shortened) and serves its traffic."""
    raw = yaml.safe_load(path.read_text())
    raw["simulation"].update({"duration": "20s", "warmup": "2s", "replications": 2})
    short = tmp_path / path.name
    short.write_text(yaml.safe_dump(raw))
    for data in SCENARIOS.glob("*.csv"):  # (files a scenario names, e.g. a replayed trace)
        (tmp_path / data.name).write_text(data.read_text())
    assert main(["run", str(short), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    for flow in document["flows"].values():
        assert flow["completed"] > 0
