"""Comparing candidate topologies: variants and/or files, with common random numbers.

Every candidate runs with the same seed and replication indices. Random streams are keyed by
the component's YAML path (see `sim.engine.streams`), so components the candidates share draw the
same numbers, and the paired differences (candidate - baseline, replication by replication)
have much smaller confidence intervals than the difference of two independent runs
(Law, "Simulation Modeling and Analysis", §11.2, common random numbers and paired-t).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from models.results import FlowResults, Measurements, plain
from models.schema import Scenario
from sim.engine.budget import RunBudget
from sim.experiments.results import Results
from sim.experiments.simulation import DEFAULT_BUDGET, replication_count, run_all
from sim.experiments.statistics import t_interval

FlowMetric = Callable[[FlowResults], float | None]

# The statistics compared for each flow: (label, how to read it, better when)
FLOW_METRICS: tuple[tuple[str, FlowMetric, str], ...] = (
    ("p99", lambda flow: flow.response_time.p99, "lower"),
    ("mean", lambda flow: flow.response_time.mean, "lower"),
    ("completion_mean", lambda flow: flow.completion_time.mean, "lower"),
    ("throughput", lambda flow: flow.throughput, "higher"),
)
FAILURE_METRICS: tuple[tuple[str, FlowMetric, str], ...] = (
    ("success_rate", lambda flow: flow.success_rate, "higher"),
)
"""Compared too when a candidate reports failures (docs/results.md)."""


def backlog(measurements: Measurements) -> float:
    """Everything waiting: service queues plus consumer lag (time-averaged)."""
    total = sum(service.queue_length.mean or 0.0 for service in measurements.services.values())
    for topic in measurements.topics.values():
        total += sum(group.lag.mean or 0.0 for group in topic.groups.values())
    return float(total)


def _flow_value(measurements: Measurements, flow: str, metric: FlowMetric) -> float | None:
    """`metric` of `flow` in `measurements` (None if the flow or the value is missing)."""
    results = measurements.flows.get(flow)
    value = metric(results) if results is not None else None
    return float(value) if value is not None else None


class PairedDifference(BaseModel):
    """Candidate − baseline of one statistic, replication by replication: the mean of the
    differences, its 95% Student-t interval, and whether that interval excludes zero."""

    mean: float | None
    ci95: tuple[float, float] | None
    significant: bool


class CandidateDifferences(BaseModel):
    """A candidate against the baseline: per flow and statistic (`FLOW_METRICS`), and the
    total backlog (service queues plus consumer lag)."""

    flows: dict[str, dict[str, PairedDifference]]
    backlog: PairedDifference


def paired_difference(
    candidate: Sequence[float | None], baseline: Sequence[float | None]
) -> PairedDifference:
    """Mean of the paired differences and its 95% t-interval (None where undefined: pairs
    with a missing or non-finite value are left out)."""
    pairs = [
        c - b
        for c, b in zip(candidate, baseline, strict=True)
        if c is not None and b is not None and math.isfinite(c) and math.isfinite(b)
    ]
    if not pairs:
        return PairedDifference(mean=None, ci95=None, significant=False)
    interval = t_interval(pairs)
    significant = interval is not None and (interval[0] > 0 or interval[1] < 0)
    return PairedDifference(mean=sum(pairs) / len(pairs), ci95=interval, significant=significant)


@dataclass
class Comparison:
    """The candidates' results, their paired differences against the baseline, the winners
    (per flow and statistic, and ``backlog``: the candidate with the best aggregate)."""

    baseline: str
    candidates: dict[str, Results]
    differences: dict[str, CandidateDifferences] = field(default_factory=dict)
    winners: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = self.candidates[self.baseline].replications
        flows = list(self.candidates[self.baseline].flows)
        metrics = FLOW_METRICS
        if any(
            flow.success_rate is not None
            for results in self.candidates.values()
            for flow in results.flows.values()
        ):
            metrics = FLOW_METRICS + FAILURE_METRICS
        for name, results in self.candidates.items():
            if name == self.baseline:
                continue
            runs = results.replications
            per_flow: dict[str, dict[str, PairedDifference]] = {}
            for flow in flows:
                per_flow[flow] = {
                    label: paired_difference(
                        [_flow_value(run, flow, metric) for run in runs],
                        [_flow_value(run, flow, metric) for run in base],
                    )
                    for label, metric, _ in metrics
                }
            self.differences[name] = CandidateDifferences(
                flows=per_flow,
                backlog=paired_difference(
                    [backlog(run) for run in runs], [backlog(run) for run in base]
                ),
            )
        for flow in flows:
            self.winners[flow] = {
                label: self._best(functools.partial(_flow_value, flow=flow, metric=metric), better)
                for label, metric, better in metrics
            }
        self.winners["backlog"] = self._best(backlog, "lower")

    def _best(self, value_of: Callable[[Measurements], float | None], better: str) -> str | None:
        """The candidate whose aggregate `value_of` is lowest (or highest)."""
        scored = [
            (value, name)
            for name, results in self.candidates.items()
            if (value := value_of(results)) is not None
        ]
        if not scored:
            return None
        pick = min if better == "lower" else max
        return pick(scored)[1]

    def to_dict(self) -> dict[str, Any]:
        """``{"baseline", "candidates", "differences", "winners"}`` (docs/results.md)."""
        return {
            "baseline": self.baseline,
            "candidates": {name: results.to_dict() for name, results in self.candidates.items()},
            "differences": {name: plain(value) for name, value in self.differences.items()},
            "winners": self.winners,
        }


def candidates_of(scenarios: Sequence[Scenario]) -> dict[str, Scenario]:
    """Name every candidate: by variant for one file (`base` first), by scenario name across
    files (with `/variant` for their variants)."""
    from models import load_scenario

    named: dict[str, Scenario] = {}
    for scenario in scenarios:
        prefix = "" if len(scenarios) == 1 else f"{scenario.name}/"
        base_name = "base" if len(scenarios) == 1 else scenario.name
        named[base_name] = scenario
        for variant in scenario.variants:
            source = scenario.source
            loaded = load_scenario(source, variant=variant) if source != "<scenario>" else None
            if loaded is None:
                raise ValueError("variants of an in-memory scenario: load it from a file")
            named[f"{prefix}{variant}"] = loaded
    return named


def compare(
    scenarios: Sequence[Scenario] | dict[str, Scenario],
    replications: int | None = None,
    seed: int | None = None,
    executor: Any = None,
    progress: Callable[[int], None] | None = None,
    baseline: str | None = None,
    budget: RunBudget | None = DEFAULT_BUDGET,
) -> Comparison:
    """Run every candidate with common random numbers and compare them with the first,
    every candidate within `budget` (`sim.experiments.simulation.run_all`)."""
    named = dict(scenarios) if isinstance(scenarios, dict) else candidates_of(list(scenarios))
    first = next(iter(named.values()))
    count = replication_count(first, replications)
    base_seed = seed if seed is not None else first.simulation.seed
    results = run_all(list(named.values()), count, base_seed, executor, progress, budget)
    candidates = dict(zip(named, results, strict=True))
    return Comparison(baseline=baseline or next(iter(named)), candidates=candidates)
