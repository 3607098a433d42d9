"""End-to-end tests of the limits of a run (issue #14): `--max-events` on run, sweep and
compare, runaway scenarios refused by `validate` and `run` with exit 2, and a run stopped at
its budget exiting 2 with its partial results written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.presentation.cli import main

pytestmark = pytest.mark.e2e

TINY = """
name: tiny
simulation: {duration: 20s, replications: 2, seed: 1}
services:
  api:
    workers: 2
    operations:
      get: [{work: {exponential: 10ms}}]
workload:
  users: {entry: api, arrivals: {poisson: 50/s}}
variants:
  busier: {workload.users.arrivals: {poisson: 80/s}}
"""
# 20 s x 50/s = 1,000 requests x 2 events + 200 samples: about 2,200 events a replication

RETRIES = """
name: retries
simulation: {duration: 100s, warmup: 1s, replications: 2}
services:
  api: {workers: unlimited, operations: {get: [{call: {service: db, retries: 50}}]}}
  db: {workers: unlimited, operations: {q: [{work: {constant: 1ms}}, {fail: 1}]}}
workload:
  users: {entry: api, arrivals: {poisson: 100/s}}
"""
# estimated 2 events a request (retries are not in the estimate), 51 attempts each in fact

EXPLOSION = """
name: explosion
simulation: {duration: 10s}
services:
  front: {workers: unlimited, operations: {op: [{publish: orders}]}}
  worker: {operations: {handle: [{work: {exponential: 1ms}}, {publish: orders}]}}
topics:
  orders: {subscribers: {worker: handle}}
workload:
  f: {entry: front, arrivals: {poisson: 10/s}}
"""

HEAVY = """
name: heavy
simulation: {duration: 1h}
services:
  api: {workers: unlimited, operations: {get: [{work: {exponential: 1ms}}]}}
workload:
  users: {entry: api, arrivals: {poisson: 100000/s}}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_max_events_refuses_a_run_above_it_and_accepts_one_below(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = write(tmp_path, "tiny", TINY)
    assert main(["run", str(tiny), "--max-events", "1000", "--jobs", "1", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "tiny.yaml: workload.users: the run would take about 2,200 simulation events" in (
        captured.err
    )
    assert "more than the event budget of 1,000" in captured.err
    assert "--max-events 3300 (0: no limit)" in captured.err
    assert main(["run", str(tiny), "--max-events", "5000", "--jobs", "1", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert "partial" not in document["settings"]
    assert main(["run", str(tiny), "--max-events", "0", "--jobs", "1", "--json"]) == 0


def test_sweep_and_compare_take_max_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = write(tmp_path, "tiny", TINY)
    sweep = ["sweep", str(tiny), "--vary", "workload.users.arrivals.poisson=20,60", "--jobs", "1"]
    assert main([*sweep, "--max-events", "1000", "--json"]) == 2
    assert "more than the event budget of 1,000" in capsys.readouterr().err
    assert main([*sweep, "--max-events", "100000", "--json"]) == 0
    capsys.readouterr()
    compare = ["compare", str(tiny), "--jobs", "1", "--json"]
    assert main([*compare, "--max-events", "2500"]) == 2
    assert "variants.busier.workload.users: the run would take" in capsys.readouterr().err
    assert main([*compare, "--max-events", "100000"]) == 0


def test_a_run_stopped_at_its_budget_exits_2_with_partial_results_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    retries = write(tmp_path, "retries", RETRIES)
    out = tmp_path / "out"
    code = main(
        ["run", str(retries), "--max-events", "60000", "--jobs", "1", "--json", "--out", str(out)]
    )
    assert code == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["settings"]["partial"] is True
    assert (
        "the event budget of 60,000 events per replication was exceeded"
        in (document["settings"]["stopped"])
    )
    assert json.loads((out / "results.json").read_text())["settings"]["partial"] is True
    assert captured.err.startswith(
        f"{retries}: the run stopped before its end, so its results are partial "
        "(settings.partial): replication 0: the event budget of 60,000 events"
    )


def test_validate_refuses_runaway_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    explosion = write(tmp_path, "explosion", EXPLOSION)
    assert main(["validate", str(explosion)]) == 2
    err = capsys.readouterr().err
    assert "explosion.yaml: services.worker.operations.handle[1].publish: messages multiply" in err
    heavy = write(tmp_path, "heavy", HEAVY)
    assert main(["validate", str(heavy)]) == 2  # the default budget of 200,000,000 events
    err = capsys.readouterr().err
    assert "heavy.yaml: workload.users: the run would take about 720,000,000 simulation" in err
    assert "raise the budget at run time with --max-events" in err
    assert main(["run", str(explosion), "--max-events", "0"]) == 2
    assert "messages multiply" in capsys.readouterr().err
