"""Running a scenario: independent replications, in process or on any executor.

Replication i of a scenario with seed s always draws the same random numbers (see
`sim.streams`), so results are identical whatever executor runs them and in whatever order.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from models.schema import Scenario
from sim.engine import run_replication
from sim.results import Results


def simulate(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    executor: Executor | None = None,
) -> Results:
    """Run `replications` independent replications of `scenario` and aggregate them.

    `replications` and `seed` default to the scenario's `simulation` settings. With an
    `executor` (e.g. a `concurrent.futures.ProcessPoolExecutor`) replications run in parallel;
    the results do not depend on it.
    """
    settings = scenario.simulation
    count = replications if replications is not None else settings.replications
    if count < 1:
        raise ValueError(f"replications must be >= 1 (got {count})")
    base_seed = seed if seed is not None else settings.seed
    indices = range(count)
    runs: list[dict[str, Any]]
    if executor is None or count == 1:
        runs = [run_replication(scenario, index, base_seed) for index in indices]
    else:
        runs = list(executor.map(run_replication, [scenario] * count, indices, [base_seed] * count))
    return Results(
        scenario=scenario.name,
        variant=scenario.variant_name,
        settings={
            "duration": settings.duration,
            "warmup": settings.warmup,
            "replications": count,
            "seed": base_seed,
        },
        replications=runs,
    )
