"""Running a scenario: independent replications, in process or on any executor.

Replication i of a scenario with seed s always draws the same random numbers (see
`sim.engine.streams`), so results are identical whatever executor runs them and in whatever
order.

Every run is bounded (`RunBudget`, default: `DEFAULT_BUDGET`): before anything runs, each
scenario's estimated events per replication are checked against the event budget
(`models.budget.check_run`; a `ScenarioError` if over), and while it runs each replication
stops at its event or memory budget (`sim.engine.budget`), its results then marked partial
(`settings.partial` and `settings.stopped`, docs/results.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from models.budget import refuse_runaway_run
from models.results import Settings
from models.schema import Scenario
from sim.engine import ReplicationRun, run_replication
from sim.engine.budget import RunBudget
from sim.experiments.executors import run_tasks
from sim.experiments.results import Results


def replication_count(scenario: Scenario, replications: int | None) -> int:
    """The number of replications to run (the scenario's unless overridden), checked."""
    count = replications if replications is not None else scenario.simulation.replications
    if count < 1:
        raise ValueError(f"replications must be >= 1 (got {count})")
    return count


DEFAULT_BUDGET = RunBudget()
"""The default limits of a run: `models.budget.DEFAULT_MAX_EVENTS` events per replication,
75% of the available memory."""


def results_of(scenario: Scenario, seed: int, runs: Sequence[ReplicationRun]) -> Results:
    """The results of the replications `runs` of `scenario` (partial if one stopped early)."""
    stopped = [
        f"replication {index}: {run.stopped}" for index, run in enumerate(runs) if run.stopped
    ]
    settings = Settings(
        duration=scenario.simulation.duration,
        warmup=scenario.simulation.warmup,
        replications=len(runs),
        seed=seed,
        partial=True if stopped else None,
        stopped=_stopped_note(stopped, len(runs)),
    )
    return Results.of_runs(scenario.name, scenario.variant_name, settings, runs)


def _stopped_note(stopped: list[str], runs: int) -> str | None:
    """`settings.stopped`: each stopped replication and why (the first few of many)."""
    if not stopped:
        return None
    if len(stopped) <= 3:
        return "; ".join(stopped)
    return f"{len(stopped)} of {runs} replications stopped early: " + "; ".join(
        [*stopped[:3], "..."]
    )


def run_all(
    scenarios: Sequence[Scenario],
    count: int,
    seed: int,
    executor: Any = None,
    progress: Callable[[int], None] | None = None,
    budget: RunBudget | None = DEFAULT_BUDGET,
) -> list[Results]:
    """`count` replications of each of `scenarios`, all given to the executor at once, with
    the same seed and replication indices (common random numbers across scenarios).

    Within `budget` (None: no limit at all): a scenario whose estimated events exceed its
    `max_events` is refused with a `ScenarioError` before anything runs."""
    if budget is not None:
        for scenario in scenarios:
            refuse_runaway_run(scenario, count, budget.max_events)
    arguments = [
        (scenario, index, seed, budget) for scenario in scenarios for index in range(count)
    ]
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
    budget: RunBudget | None = DEFAULT_BUDGET,
) -> Results:
    """Run `replications` independent replications of `scenario` and aggregate them.

    `replications` and `seed` default to the scenario's `simulation` settings. `executor`
    may be a `concurrent.futures.Executor` (e.g. a `ProcessPoolExecutor`) or a Dask
    `distributed.Client`; the results do not depend on it. `progress(1)` is called after
    each replication. `budget` bounds the run (module docstring; None: no limit).
    """
    count = replication_count(scenario, replications)
    base_seed = seed if seed is not None else scenario.simulation.seed
    return run_all([scenario], count, base_seed, executor, progress, budget)[0]
