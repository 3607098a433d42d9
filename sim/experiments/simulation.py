"""Running a scenario: independent replications, in process or on any executor.

Replication i of a scenario with seed s always draws the same random numbers (see
`sim.engine.streams`), so results are identical whatever executor runs them and in whatever
order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from models.results import Settings
from models.schema import Scenario
from sim.engine import ReplicationRun, run_replication
from sim.experiments.executors import run_tasks
from sim.experiments.results import Results


def replication_count(scenario: Scenario, replications: int | None) -> int:
    """The number of replications to run (the scenario's unless overridden), checked."""
    count = replications if replications is not None else scenario.simulation.replications
    if count < 1:
        raise ValueError(f"replications must be >= 1 (got {count})")
    return count


def results_of(scenario: Scenario, seed: int, runs: Sequence[ReplicationRun]) -> Results:
    """The results of the replications `runs` of `scenario`."""
    settings = Settings(
        duration=scenario.simulation.duration,
        warmup=scenario.simulation.warmup,
        replications=len(runs),
        seed=seed,
    )
    return Results.of_runs(scenario.name, scenario.variant_name, settings, runs)


def run_all(
    scenarios: Sequence[Scenario],
    count: int,
    seed: int,
    executor: Any = None,
    progress: Callable[[int], None] | None = None,
) -> list[Results]:
    """`count` replications of each of `scenarios`, all given to the executor at once, with
    the same seed and replication indices (common random numbers across scenarios)."""
    arguments = [(scenario, index, seed) for scenario in scenarios for index in range(count)]
    runs = run_tasks(run_replication, arguments, executor, progress)
    return [
        results_of(scenario, seed, runs[position * count : (position + 1) * count])
        for position, scenario in enumerate(scenarios)
    ]


def simulate(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    executor: Any = None,
    progress: Callable[[int], None] | None = None,
) -> Results:
    """Run `replications` independent replications of `scenario` and aggregate them.

    `replications` and `seed` default to the scenario's `simulation` settings. `executor`
    may be a `concurrent.futures.Executor` (e.g. a `ProcessPoolExecutor`) or a Dask
    `distributed.Client`; the results do not depend on it. `progress(1)` is called after
    each replication.
    """
    count = replication_count(scenario, replications)
    base_seed = seed if seed is not None else scenario.simulation.seed
    return run_all([scenario], count, base_seed, executor, progress)[0]
