"""Load that changes: time series averaged across replications with 95% intervals
(`Results.timeseries(aggregate=True)`), each flow's worst interval (the sample interval with
the highest p99) with time-varying load, and no change at all to the results of scenarios
whose load does not vary."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from models import load_scenario
from sim import simulate
from sim.engine import run_replication
from sim.engine.flows import varying_load
from sim.experiments.results import TIMESERIES_COLUMNS, Results
from sim.experiments.statistics import t_interval
from sim.experiments.timeseries import AGGREGATE_COLUMNS, aggregate_series
from sim.presentation.tables import render_results

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
BASELINE = Path("/work/baseline/before/run_mm1.json")  # where this checkout keeps one
FLOW_KEYS = [
    "arrived",
    "completed",
    "dropped",
    "failed",
    "in_flight",
    "throughput",
    "response_time",
    "completion_time",
]

# --------------------------------------------------------------------------- aggregate=True


def known_series() -> list[dict[str, list[object]]]:
    """Three replications sampled at t = 1 and 2 (columns as the engine gives them)."""
    p99 = {0: [1.0, 4.0], 1: [2.0, math.nan], 2: [3.0, 6.0]}
    lag = {0: [5.0, math.nan], 1: [7.0, math.nan], 2: [9.0, math.nan]}
    utilization = {0: [0.5, 0.5], 1: [math.nan, 0.5], 2: [math.nan, 0.5]}
    series = []
    for replication in range(3):
        columns: dict[str, list[object]] = {name: [] for name in TIMESERIES_COLUMNS[1:]}
        for index, time in enumerate((1.0, 2.0)):
            for kind, entity, metric, values in (
                ("flow", "f", "p99", p99),
                ("group", "t/g", "lag", lag),
                ("service", "s", "utilization", utilization),
            ):
                for name, value in zip(
                    TIMESERIES_COLUMNS[1:],
                    (time, kind, entity, metric, values[replication][index]),
                    strict=True,
                ):
                    columns[name].append(value)
        series.append(columns)
    return series


@pytest.fixture(scope="module")
def small_results() -> Results:
    """A real (tiny) Results whose time series are then replaced by `known_series`."""
    raw = {
        "name": "tiny",
        "simulation": {"duration": 1, "replications": 3},
        "services": {"s": {"operations": {"op": [{"work": {"constant": 0.01}}]}}},
        "workload": {"f": {"entry": "s", "arrivals": {"constant": 10}}},
    }
    results = simulate(load_scenario(raw))
    results._series = known_series()
    return results


def test_aggregate_gives_means_and_t_intervals(small_results: Results) -> None:
    frame = small_results.timeseries(aggregate=True)
    assert list(frame.columns) == AGGREGATE_COLUMNS
    rows = {(row.time, row.entity): row for row in frame.itertuples()}
    assert len(frame) == 6
    # the order of the samples: time first, then kinds and entities as the engine wrote them
    assert list(zip(frame["time"], frame["entity"], strict=True)) == [
        (1.0, "f"),
        (1.0, "t/g"),
        (1.0, "s"),
        (2.0, "f"),
        (2.0, "t/g"),
        (2.0, "s"),
    ]
    expected = {
        (1.0, "f"): [1.0, 2.0, 3.0],
        (2.0, "f"): [4.0, 6.0],  # the NaN of replication 1 is left out
        (1.0, "t/g"): [5.0, 7.0, 9.0],
        (2.0, "s"): [0.5, 0.5, 0.5],  # no spread: a zero-width interval
    }
    for key, values in expected.items():
        row = rows[key]
        interval = t_interval(values)
        assert interval is not None
        assert row.mean == pytest.approx(np.mean(values), rel=1e-12)
        assert (row.ci_low, row.ci_high) == pytest.approx(interval, rel=1e-12, abs=1e-15)
        assert row.replications == len(values)
    # by hand: mean 2, half-width t(0.975, 2) * 1 / sqrt(3)
    assert rows[(1.0, "f")].ci_high == pytest.approx(2.0 + 4.302652729749464 / math.sqrt(3))
    # mean 5, s = sqrt(2), n = 2: half-width t(0.975, 1) = 12.706...
    assert rows[(2.0, "f")].ci_low == pytest.approx(5.0 - 12.706204736174698)
    one = rows[(1.0, "s")]  # one replication with a value: its mean, no interval
    assert (one.mean, one.replications) == (0.5, 1)
    assert math.isnan(one.ci_low) and math.isnan(one.ci_high)
    none = rows[(2.0, "t/g")]  # no replication with a value
    assert none.replications == 0
    assert math.isnan(none.mean) and math.isnan(none.ci_low)


def test_timeseries_without_argument_is_unchanged(small_results: Results) -> None:
    frame = small_results.timeseries()
    assert list(frame.columns) == TIMESERIES_COLUMNS
    assert len(frame) == 3 * 2 * 3
    assert list(frame["replication"].unique()) == [0, 1, 2]
    assert frame["value"].isna().sum() == 6


def test_aggregate_of_nothing() -> None:
    assert list(aggregate_series(pd.DataFrame(columns=TIMESERIES_COLUMNS)).columns) == (
        AGGREGATE_COLUMNS
    )
    loaded = Results.from_json(json.dumps({**empty_document()}))
    assert loaded.timeseries(aggregate=True).empty


def empty_document() -> dict[str, Any]:
    return {
        "scenario": "x",
        "variant": None,
        "settings": {"duration": 1.0, "warmup": 0.0, "replications": 1, "seed": 0},
        "flows": {},
        "services": {},
        "topics": {},
        "warnings": [],
    }


# --------------------------------------------------------------------------- worst interval


def spike_scenario(replications: int = 2) -> dict[str, Any]:
    """A one-worker service (10 ms) at 50/s, with a spike to 300/s during warm-up (2-5 s,
    the highest backlog of the run, drained by 17 s) and one to 130/s after it (30-40 s:
    the queue grows by 30/s and drains by about 46 s)."""
    return {
        "name": "spike",
        "simulation": {
            "duration": 60,
            "warmup": 20,
            "replications": replications,
            "seed": 4,
            "sample_interval": 1,
        },
        "services": {"api": {"operations": {"get": [{"work": {"exponential": "10ms"}}]}}},
        "workload": {
            "users": {
                "entry": "api",
                "arrivals": {
                    "profile": [
                        {"at": 0, "rate": 50},
                        {"at": 2, "rate": 300},
                        {"at": 5, "rate": 50},
                        {"at": 30, "rate": 130},
                        {"at": 40, "rate": 50},
                    ]
                },
            }
        },
    }


def test_the_worst_interval_lies_in_the_spike() -> None:
    scenario = load_scenario(spike_scenario())
    assert varying_load(scenario)
    results = simulate(scenario)
    series = results.timeseries()
    p99 = series[(series["metric"] == "p99") & (series["entity"] == "users")]
    for index, replication in enumerate(results.replications):
        worst = replication.flows["users"].worst_interval
        assert worst is not None and worst.time is not None and worst.p99 is not None
        assert 31.0 <= worst.time <= 50.0
        assert worst.p99 > 0.5  # seconds: against about 0.1 s at 50/s
        # the highest p99 of the measured intervals (those starting at or after warm-up)
        own = p99[(p99["replication"] == index) & (p99["time"] - 1.0 >= 20.0 - 1e-9)]
        highest = own.loc[own["value"].idxmax()]
        assert (worst.time, worst.p99) == (highest["time"], highest["value"])
        # the warm-up spike was worse, and is not counted
        assert p99[p99["replication"] == index]["value"].max() > worst.p99
    worst = results.flows["users"].worst_interval
    assert worst is not None and worst.ci95 is not None
    assert set(worst.ci95) == {"time", "p99"}
    times = [r.flows["users"].worst_interval.time for r in results.replications]  # type: ignore[union-attr]
    assert worst.time == pytest.approx(np.mean(times))
    document = results.to_dict()["flows"]["users"]
    assert list(document)[-2:] == ["worst_interval", "ci95"]
    assert set(document["worst_interval"]) == {"time", "p99", "ci95"}
    # a saved document keeps it
    loaded = Results.from_json(results.to_json())
    assert loaded.to_json() == results.to_json()


def test_the_worst_interval_is_printed() -> None:
    results = simulate(load_scenario(spike_scenario(replications=1)))
    console = Console(record=True, width=200)
    render_results(results, console)
    text = console.export_text()
    assert "Worst interval per flow" in text
    worst = results.flows["users"].worst_interval
    assert worst is not None and worst.p99 is not None
    assert f"{worst.p99 * 1000:,.2f}" in text


def test_no_responses_after_warm_up_gives_an_empty_worst_interval() -> None:
    raw = spike_scenario(replications=1)
    raw["workload"]["users"]["arrivals"]["profile"] = [{"at": 0, "rate": 50}, {"at": 5, "rate": 0}]
    flow = run_replication(load_scenario(raw), 0, 1).measurements.flows["users"]
    assert flow.worst_interval is not None
    assert (flow.worst_interval.time, flow.worst_interval.p99) == (None, None)
    assert flow.to_dict()["worst_interval"] == {"time": None, "p99": None}


# --------------------------------------------------------------------------- no change


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda path: path.stem)
def test_only_varying_load_reports_a_worst_interval(path: Path) -> None:
    scenario = load_scenario(path)
    raw = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    varying = bool(scenario.faults) or any(
        set(flow.get("arrivals") or {}) & {"profile", "mmpp", "trace", "sinusoid"}
        for flow in raw["workload"].values()
    )
    assert varying_load(scenario) == varying
    if path.stem in {"mm1", "three_tier_shop", "order_pipeline", "hot_partition"}:
        assert not varying
    if path.stem in {"traffic_spike", "outage_sync_vs_events"}:
        assert varying


def test_json_without_varying_load_is_unchanged() -> None:
    """The document of a scenario with steady load has no `worst_interval`: its flows have
    the keys they had before, and `archsim run scenarios/mm1.yaml --json --jobs 1
    --replications 2 --seed 3` gives the very bytes it gave before (when this checkout keeps
    that baseline)."""
    scenario = load_scenario(SCENARIOS / "mm1.yaml")
    assert not varying_load(scenario)
    results = simulate(scenario, replications=2, seed=3)
    text = json.dumps(results.to_dict(), indent=2)
    assert "worst_interval" not in text
    for flow in results.to_dict()["flows"].values():
        assert list(flow) == [*FLOW_KEYS, "ci95"]
    if not BASELINE.exists():
        pytest.skip(f"no baseline at {BASELINE}")
    assert text + "\n" == BASELINE.read_text()
