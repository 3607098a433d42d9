"""The fast path of calls (a caller's frame visits a leaf operation, no job; `sim.engine.jobs`)
must give the same results as the general path (every call a job), for every feature that
touches it: queue disciplines, waiting-room drops, balancing over replicas, call
probabilities, parallel branches, closed clients, warm-up, async callers and topic handlers.

Both paths draw the same random numbers and schedule the same events in the same order, so
the results agree exactly except for float rounding in the level areas (a freed worker goes
straight to the next in line in both, but sums are formed in a different order): the
tolerance is 1e-9 relative, far below any statistical difference.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from models import load_scenario
from models.loading import variant_names
from models.schema import Scenario
from sim.engine import Replication, ReplicationRun
from sim.engine.steps import LeafCallStep

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def leaf(seconds: float) -> list[dict[str, Any]]:
    return [{"work": {"exponential": seconds}}]


MIXED = {
    "name": "mixed",
    "simulation": {"duration": 300.0, "warmup": 20.0, "seed": 5},
    "services": {
        "front": {
            "workers": 12,
            "operations": {
                "page": [
                    {"work": {"exponential": 0.01}},
                    {"call": "db.get"},
                    {"call": {"service": "cache", "probability": 0.5}},
                    {"parallel": [[{"call": "db.get"}], [{"call": "search"}]]},
                ]
            },
        },
        # a priority queue with visitors (leaf `get`) and jobs (two-step `scan`) mixed
        "db": {
            "workers": 2,
            "discipline": "priority",
            "queue_capacity": 6,
            "operations": {
                "get": leaf(0.02),
                "scan": [{"work": {"exponential": 0.02}}, {"delay": {"constant": 0.01}}],
            },
        },
        "cache": {
            "replicas": 3,
            "balancing": "least_outstanding",
            "operations": {"hit": leaf(0.01)},
        },
        "search": {
            "replicas": 2,
            "workers": 1,
            "balancing": "round_robin",
            "queue_capacity": 3,
            "operations": {"find": leaf(0.08)},
        },
        "spread": {"replicas": 3, "balancing": "random", "operations": {"one": leaf(0.2)}},
        # an async caller: its calls to a leaf operation stay jobs
        "gateway": {
            "workers": 2,
            "blocking_calls": False,
            "operations": {"route": [{"work": {"exponential": 0.005}}, {"call": "spread"}]},
        },
    },
    "workload": {
        "pages": {"arrivals": {"poisson": 20.0}, "priority": 2, "entry": "front.page"},
        "urgent": {
            "arrivals": {"poisson": 10.0},
            "priority": 1,
            "steps": [{"call": {"service": "db", "operation": "scan"}}, {"call": "cache"}],
        },
        "direct": {"clients": 5, "think_time": {"exponential": 0.5}, "entry": "db.get"},
        "routed": {"arrivals": {"poisson": 8.0}, "entry": "gateway.route"},
    },
}

HANDLERS = {
    "name": "handlers",
    "simulation": {"duration": 200.0, "seed": 3},
    "services": {
        "api": {"operations": {"post": [{"work": {"exponential": 0.01}}, {"publish": "events"}]}},
        "worker": {"operations": {"handle": [{"work": {"exponential": 0.01}}, {"call": "store"}]}},
        "store": {"workers": 1, "operations": {"put": leaf(0.02)}},
    },
    "topics": {
        "events": {"partitions": 2, "subscribers": {"worker": {"operation": "handle"}}},
    },
    "workload": {"posts": {"arrivals": {"poisson": 20.0}, "entry": "api.post"}},
}


def shortened(scenario: Scenario, duration: float) -> Scenario:
    settings = scenario.simulation
    shorter = settings.model_copy(update={"duration": min(settings.duration, duration)})
    return scenario.model_copy(update={"simulation": shorter})


def example_scenarios() -> list[tuple[str, Scenario]]:
    cases = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        base = load_scenario(path)
        for variant in variant_names(base) or [None]:  # (the names include "base")
            scenario = shortened(load_scenario(path, variant), 120.0)
            cases.append((f"{path.stem}:{variant or 'base'}", scenario))
    return cases


def plain(run: ReplicationRun) -> dict[str, Any]:
    """A replication's statistics and time series as plain data (NaN as None)."""
    return {"measurements": run.measurements.to_dict(), "timeseries": run.timeseries}


def assert_same(fast: Any, general: Any, path: str = "") -> None:
    """Equal structure and values; floats to 1e-9 relative (module docstring)."""
    if isinstance(fast, dict):
        assert fast.keys() == general.keys(), path
        for key in fast:
            assert_same(fast[key], general[key], f"{path}.{key}")
    elif isinstance(fast, list):
        assert len(fast) == len(general), path
        for index, (a, b) in enumerate(zip(fast, general, strict=True)):
            assert_same(a, b, f"{path}[{index}]")
    elif isinstance(fast, float) and isinstance(general, float):
        if not (math.isnan(fast) and math.isnan(general)):
            assert fast == pytest.approx(general, rel=1e-9, abs=1e-12), path
    else:
        assert fast == general, path


def leaf_calls(replication: Replication) -> int:
    """How many compiled steps of operations and flow bodies are leaf visits (top level)."""
    operations = replication.compiler.operations.values()
    lists = [*operations, *(flow.body for flow in replication.flows.values())]
    return sum(isinstance(step, LeafCallStep) for steps in lists for step in steps)


@pytest.mark.parametrize("document", [MIXED, HANDLERS], ids=["mixed", "handlers"])
def test_visits_give_the_results_of_jobs(document: dict[str, Any]) -> None:
    scenario = load_scenario(document)
    fast = Replication(scenario, 0, 11)
    general = Replication(scenario, 0, 11, leaf_visits=False)
    assert leaf_calls(fast) >= 1  # the fast path is really taken ...
    assert leaf_calls(general) == 0  # ... and really avoided
    fast_result, general_result = fast.run(), general.run()
    assert_same(plain(fast_result), plain(general_result))
    services = fast_result.measurements.services
    db_or_store = services.get("db") or services["store"]
    assert db_or_store.throughput > 0


def test_the_mixed_scenario_exercises_drops_and_priorities() -> None:
    result = Replication(load_scenario(MIXED), 0, 11).run().measurements
    services = result.services
    assert services["db"].dropped > 0  # the waiting room of 6 overflows at times
    assert services["search"].dropped > 0
    assert services["db"].p_wait > 0.1
    assert result.flows["routed"].completed > 0


@pytest.mark.slow  # every example scenario and variant on both paths: ~40 s of CPU
@pytest.mark.parametrize(
    ("label", "scenario"), example_scenarios(), ids=[label for label, _ in example_scenarios()]
)
def test_example_scenarios_give_the_same_results_on_both_paths(
    label: str, scenario: Scenario
) -> None:
    fast = Replication(scenario, 0, 2).run()
    general = Replication(scenario, 0, 2, leaf_visits=False).run()
    assert_same(plain(fast), plain(general))
