"""Running a scenario: independent replications, in process or on any executor.

Replication i of a scenario with seed s always draws the same random numbers (see
`sim.engine.streams`), so results are identical whatever executor runs them and in whatever order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.schema import Scenario
from sim.engine import run_replication
from sim.experiments.executors import run_tasks
from sim.experiments.results import Results


def replication_count(scenario: Scenario, replications: int | None) -> int:
    """The number of replications to run (the scenario's unless overridden), checked."""
    count = replications if replications is not None else scenario.simulation.replications
    if count < 1:
        raise ValueError(f"replications must be >= 1 (got {count})")
    return count


def results_of(scenario: Scenario, seed: int, runs: list[dict[str, Any]]) -> Results:
    """Wrap the raw replications of `scenario` into `Results`."""
    settings = scenario.simulation
    return Results(
        scenario=scenario.name,
        variant=scenario.variant_name,
        settings={
            "duration": settings.duration,
            "warmup": settings.warmup,
            "replications": len(runs),
            "seed": seed,
        },
        replications=runs,
    )


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
    arguments = [(scenario, index, base_seed) for index in range(count)]
    runs = run_tasks(run_replication, arguments, executor, progress)
    return results_of(scenario, base_seed, runs)
