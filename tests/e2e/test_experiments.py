"""End-to-end tests of experiments: executors, sweeps and comparisons (API and CLI)."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from models import load_scenario
from sim import simulate
from sim.experiments.comparison import compare
from sim.experiments.statistics import t_interval
from sim.experiments.sweep import parse_values, sweep
from sim.presentation.cli import main

pytestmark = pytest.mark.e2e

PIPELINE: dict[str, Any] = {
    "name": "pipeline",
    "simulation": {"duration": 300, "warmup": 20, "replications": 4, "seed": 3},
    "services": {
        "front": {"workers": 2, "operations": {"get": [{"work": {"exponential": 0.1}}]}},
        "worker": {"operations": {"handle": [{"work": {"exponential": 0.2}}]}},
    },
    "topics": {"jobs": {"partitions": 2, "subscribers": {"worker": "handle"}}},
    "workload": {
        "users": {
            "steps": [{"call": "front"}, {"publish": "jobs"}],
            "arrivals": {"poisson": 6.0},
        }
    },
    "variants": {
        "same": {"services.front.workers": 2},
        "faster-worker": {"services.worker.operations.handle": [{"work": {"exponential": 0.1}}]},
    },
}


@pytest.mark.slow  # starts a process pool and a local Dask cluster
def test_results_are_identical_on_every_executor() -> None:
    """Same scenario and seed: the same JSON in process, in local processes and on Dask."""
    from distributed import Client, LocalCluster

    scenario = load_scenario(PIPELINE)
    serial = simulate(scenario).to_json()
    with ProcessPoolExecutor(max_workers=2) as pool:
        assert simulate(scenario, executor=pool).to_json() == serial
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        assert simulate(scenario, executor=client).to_json() == serial


def test_progress_is_reported_once_per_replication() -> None:
    ticks: list[int] = []
    simulate(load_scenario(PIPELINE), replications=3, progress=ticks.append)
    assert ticks == [1, 1, 1]


def test_parse_values() -> None:
    assert parse_values("1..2:3") == [1.0, 1.5, 2.0]
    assert parse_values("5") == [5.0]
    with pytest.raises(ValueError, match="at least 2 steps"):
        parse_values("1..2:1")


def test_sweep_of_an_mm1_finds_the_knee_and_saturation() -> None:
    """M/M/1 with mu = 10/s swept over lambda: the mean response 1/(mu - lambda) doubles from
    its value at lambda = 1 (1/9 s) once lambda >= 5.5, and lambda = 12 overloads it."""
    scenario = load_scenario(
        {
            "name": "mm1",
            "simulation": {"duration": 2000, "warmup": 50, "replications": 3, "seed": 1},
            "services": {"server": {"operations": {"serve": [{"work": {"exponential": 0.1}}]}}},
            "workload": {"customers": {"entry": "server", "arrivals": {"poisson": 1.0}}},
        }
    )
    values = [1.0, 3.0, 5.0, 7.0, 8.0, 12.0]
    results = sweep(scenario, "workload.customers.arrivals.poisson", values)
    document = results.to_dict()
    assert [point["value"] for point in document["points"]] == values
    assert document["parameter"] == "workload.customers.arrivals.poisson"
    throughput = [
        point["results"]["flows"]["customers"]["throughput"] for point in document["points"]
    ]
    assert throughput[:5] == pytest.approx(values[:5], rel=0.05)
    assert document["landmarks"]["customers"] == {"knee": 7.0, "saturation": 12.0}
    table = results.to_dataframe()
    assert set(table["value"]) == set(values)


def test_comparison_uses_common_random_numbers() -> None:
    """A variant that changes nothing gives exactly zero differences (same random numbers);
    a faster consumer changes only what it touches, and the paired interval is narrower
    than the interval of the difference of independent runs."""
    scenario = load_scenario(PIPELINE)
    named = {
        "base": scenario,
        "same": load_scenario(PIPELINE, variant="same"),
        "faster-worker": load_scenario(PIPELINE, variant="faster-worker"),
    }
    comparison = compare(named)
    assert comparison.baseline == "base"
    assert set(comparison.candidates) == {"base", "same", "faster-worker"}
    same = comparison.differences["same"].flows["users"]["p99"]
    assert same.mean == 0.0 and same.significant is False
    faster = comparison.differences["faster-worker"]
    assert faster.flows["users"]["mean"].mean == 0.0  # the response does not wait for it
    assert faster.backlog.mean is not None and faster.backlog.mean < 0
    assert faster.backlog.significant
    assert comparison.winners["backlog"] == "faster-worker"
    document = comparison.to_dict()  # the JSON document holds the same
    assert document["differences"]["faster-worker"]["backlog"]["mean"] == faster.backlog.mean
    paired = faster.backlog.ci95
    assert paired is not None
    base_runs = comparison.candidates["base"].replications
    independent = simulate(named["faster-worker"], seed=99).replications
    lags = [run.topics["jobs"].groups["worker"].lag.mean for run in independent]
    base_lags = [run.topics["jobs"].groups["worker"].lag.mean for run in base_runs]
    unpaired = t_interval([a - b for a, b in zip(lags, base_lags, strict=True)])
    assert unpaired is not None
    assert paired[1] - paired[0] < unpaired[1] - unpaired[0]


def test_compare_and_sweep_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(PIPELINE))
    assert main(["compare", str(path), "--json", "-r", "2", "--jobs", "1"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) >= {"baseline", "candidates", "differences"}
    out = tmp_path / "sweep"
    vary = "--vary=workload.users.arrivals.poisson=2..6:3"
    assert main(["sweep", str(path), vary, "-r", "2", "--out", str(out), "--quiet"]) == 0
    assert "knee" in capsys.readouterr().out
    sweep_document = json.loads((out / "sweep.json").read_text())
    assert [point["value"] for point in sweep_document["points"]] == [2.0, 4.0, 6.0]
    assert (out / "sweep.csv").read_text().startswith("value,")
    assert main(["sweep", str(path), "--vary", "nonsense"]) == 2
    assert main(["sweep", str(path), "--vary", "services.nope.workers=1,2"]) == 2
    assert "no such path" in capsys.readouterr().err
    alone = tmp_path / "alone.yaml"
    alone.write_text(yaml.safe_dump({k: v for k, v in PIPELINE.items() if k != "variants"}))
    assert main(["compare", str(alone)]) == 2
