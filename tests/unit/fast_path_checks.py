"""How the engine's fast paths are compared with its general path (tests/unit/test_fast_paths*.py).

`Replication(scenario, replication, seed, fast_paths=False)` turns every fast path off.
Every comparison first asserts that each fast path the scenario is built for is really
taken, and really avoided with `fast_paths=False` (`fast_path_use`), then runs both and
compares every statistic and time series (`assert_same`), and checks at run time that the
groups on the handler fast path ran no handler job (`check_handler_runs`): `both_ways` does
all of it.

Both paths draw the same random numbers and schedule the same events in the same order, so
the results agree exactly except for float rounding in the level areas (a freed worker goes
straight to the next in line in both, but sums are formed in a different order): the
tolerance is 1e-9 relative, far below any statistical difference.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from models.results import GroupResults, Measurements
from models.schema import Scenario
from sim.engine import Replication, ReplicationRun
from sim.engine.steps import LeafCallStep

Document = dict[str, Any]


def plain(run: ReplicationRun) -> dict[str, Any]:
    """A replication's statistics and time series as plain data (NaN as None)."""
    columns = {name: column.tolist() for name, column in run.timeseries.items()}
    return {"measurements": run.measurements.to_dict(), "timeseries": columns}


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


def fast_path_use(replication: Replication) -> dict[str, Any]:
    """Where a replication takes each fast path: the number of leaf calls, the flows with
    each entry shortcut, and the consumer groups ("topic/service") with the handler fast
    path."""
    flows = replication.flows
    return {
        "leaf_calls": leaf_calls(replication),
        "entry": {name for name, flow in flows.items() if flow.entry is not None},
        "entry_visit": {name for name, flow in flows.items() if flow.entry_visit is not None},
        "entry_publishes": {
            name for name, flow in flows.items() if flow.entry_publishes is not None
        },
        "fast_groups": {
            f"{topic.name}/{group.name}"
            for topic in replication.topics.values()
            for group in topic.groups
            if group.fast_hold is not None
        },
    }


NO_FAST_PATH: dict[str, Any] = {
    "leaf_calls": 0,
    "entry": set(),
    "entry_visit": set(),
    "entry_publishes": set(),
    "fast_groups": set(),
}


def both_ways(
    scenario: Scenario, seed: int, expected: dict[str, Any] | None = None
) -> tuple[Replication, ReplicationRun]:
    """Run `scenario` on both paths and assert the same results; assert that the general
    path takes no fast path, and that the fast path takes `expected` (`fast_path_use`), if
    given. The fast path's replication (after its run) and results."""
    fast = Replication(scenario, 0, seed)
    general = Replication(scenario, 0, seed, fast_paths=False)
    if expected is not None:
        assert fast_path_use(fast) == expected  # the fast paths are really taken ...
    assert fast_path_use(general) == NO_FAST_PATH  # ... and really avoided
    fast_run, general_run = fast.run(), general.run()
    assert_same(plain(fast_run), plain(general_run))
    check_handler_runs(fast, general, fast_run.measurements)
    return fast, fast_run


def check_handler_runs(fast: Replication, general: Replication, result: Measurements) -> None:
    """At run time, a group on the handler fast path consumed messages without ever running
    a handler job (`attempts` counts the jobs), and on the general path ran jobs."""
    for topic_name, topic in fast.topics.items():
        for group, other in zip(topic.groups, general.topics[topic_name].groups, strict=True):
            if result.topics[topic_name].groups[group.name].consumed < 20:
                continue  # (too few to tell: perhaps all started before warm-up)
            if group.fast_hold is not None:
                assert group.stats.attempts == 0, (topic_name, group.name)
            else:
                assert group.stats.attempts > 0, (topic_name, group.name)
            assert other.stats.attempts > 0, (topic_name, group.name)


def groups(result: Measurements) -> dict[str, GroupResults]:
    """Every consumer group of a result as "topic/service"."""
    return {
        f"{topic_name}/{name}": group
        for topic_name, topic in result.topics.items()
        for name, group in topic.groups.items()
    }


def exponential(seconds: float) -> dict[str, Any]:
    return {"work": {"exponential": seconds}}


def leaf(seconds: float) -> list[dict[str, Any]]:
    return [exponential(seconds)]
