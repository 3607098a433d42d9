"""A simulation with traces: its results and the spans of its first replication.

Replication 0 is run a second time, traced (`sim.engine.spans`), beside the replications
that give the results: the traced run takes the general path (no fast paths), which gives
the same simulation but may differ from the fast one in the last bits of a time average,
so the results never come from it and are identical with and without tracing. The traced
run draws the random numbers of replication 0 and schedules the same events at the same
times, so its spans are those of the requests of replication 0. Only replication 0 is
traced: the others are independent samples of the same system.

From a notebook:

    >>> from models import load_scenario                          # doctest: +SKIP
    >>> document = trace(load_scenario("scenarios/mm1.yaml"), sample=0.1)   # doctest: +SKIP
    >>> document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.budget import refuse_runaway_run
from models.schema import Scenario
from sim.engine import run_replication
from sim.engine.budget import RunBudget
from sim.engine.spans import DEFAULT_MAX_SPANS, RecordedTrace, TraceOptions
from sim.experiments.executors import run_tasks
from sim.experiments.otlp_export import otlp_document
from sim.experiments.results import Results
from sim.experiments.simulation import DEFAULT_BUDGET, replication_count, results_of


def simulate_traced(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    executor: Any = None,
    progress: Callable[[int], None] | None = None,
    budget: RunBudget | None = DEFAULT_BUDGET,
    sample: float = 1.0,
    max_spans: int = DEFAULT_MAX_SPANS,
) -> tuple[Results, RecordedTrace]:
    """`simulate(scenario, replications, seed, executor, progress, budget)` and the spans of
    replication 0, with each request of its measured period traced with probability
    `sample` (at most about `max_spans` spans). The traced run is one more task for the
    executor (`progress(1)` after each of the replications + 1 tasks).

    Raises ValueError for a `sample` outside (0, 1] or a `max_spans` below 1.
    """
    options = TraceOptions(sample, max_spans)
    count = replication_count(scenario, replications)
    base_seed = seed if seed is not None else scenario.simulation.seed
    if budget is not None:
        refuse_runaway_run(scenario, count, budget.max_events)
    arguments: list[tuple[Any, ...]] = [
        (scenario, index, base_seed, budget) for index in range(count)
    ]
    arguments.append((scenario, 0, base_seed, budget, options))
    runs = run_tasks(run_replication, arguments, executor, progress)
    recorded = runs[count].trace
    assert recorded is not None  # (the traced run's)
    return results_of(scenario, base_seed, runs[:count]), recorded


def trace(
    scenario: Scenario,
    seed: int | None = None,
    sample: float = 1.0,
    max_spans: int = DEFAULT_MAX_SPANS,
    budget: RunBudget | None = DEFAULT_BUDGET,
) -> dict[str, Any]:
    """The OTLP JSON document (a dict, `sim.experiments.otlp_export`) of replication 0 of
    `scenario`, each request of its measured period traced with probability `sample`: one
    traced run, no results. `json.dumps` of it opens in any OTLP-capable viewer."""
    options = TraceOptions(sample, max_spans)
    base_seed = seed if seed is not None else scenario.simulation.seed
    if budget is not None:
        refuse_runaway_run(scenario, 1, budget.max_events)
    recorded = run_replication(scenario, 0, base_seed, budget, options).trace
    assert recorded is not None
    return otlp_document(recorded)


def limit_note(recorded: RecordedTrace) -> str | None:
    """What a reader of the trace must know when the span limit cut it short (None if it
    did not): when, and a `--trace-sample` that would spread the spans over the whole
    measured period."""
    reached = recorded.limit_reached_at
    if reached is None:
        return None
    start, end = recorded.window
    covered = (reached - start) / (end - start) if end > start else 1.0
    suggestion = _round_down(recorded.sample * max(covered, 1e-6) * 0.9)
    return (
        f"the trace reached its limit of {recorded.max_spans:,} spans at t = {reached:.6g} s "
        f"({covered:.0%} of the measured period): requests that arrived later are not in it; "
        f"--trace-sample {suggestion:g} would trace a sample of the whole period"
    )


def _round_down(value: float) -> float:
    """`value` rounded down to two significant digits (at least 1e-6).

    >>> _round_down(0.0876), _round_down(0.5)
    (0.087, 0.5)
    """
    if value <= 1e-6:
        return 1e-6
    digits = 1
    while value * 10**digits < 10:
        digits += 1
    scale = 10.0**digits
    return int(value * scale) / scale
