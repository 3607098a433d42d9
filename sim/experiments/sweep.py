"""Sweeps: the same scenario at a range of values of one parameter (latency-vs-load curves).

Each point is the scenario with one dotted-path override (as in variants), simulated with
the same seed, so neighbouring points share their random numbers (common random numbers)
and the curve is smooth. All (point, replication) tasks go to one executor at once.

Two landmarks are reported per flow:
- the knee: the first swept value at which the flow's mean response time has doubled from
  its value at the first point (for an M/M/1 queue swept from light load that is rho = 1/2);
- saturation: the first swept value at which a station cannot keep up (an overload warning)
  or the flow completes less than 98% of what arrives.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from models import Prediction, ScenarioError, analyze, load_scenario
from models.errors import Problem
from models.loading import apply_override
from models.schema import Scenario
from models.units import parse_duration, parse_rate
from sim.engine.budget import RunBudget
from sim.experiments.diagnostics import overload_warnings
from sim.experiments.results import Results
from sim.experiments.simulation import DEFAULT_BUDGET, replication_count, run_all

KNEE_FACTOR = 2.0
SATURATION_SHORTFALL = 0.02


def parse_values(text: str) -> list[float]:
    """Sweep values from ``START..STOP:STEPS`` (inclusive, evenly spaced) or ``v1,v2,...``.

    A value is a number in the base unit (seconds, per second) or, as in a scenario file
    (`models.units`), a time or a rate with its unit; the values are returned in seconds or
    per second.

    >>> parse_values("100..400:4")
    [100.0, 200.0, 300.0, 400.0]
    >>> parse_values("1, 2.5,4")
    [1.0, 2.5, 4.0]
    >>> parse_values("50/s..200/s:4"), parse_values("20ms..200ms:5")
    ([50.0, 100.0, 150.0, 200.0], [0.02, 0.065, 0.11, 0.155, 0.2])
    >>> parse_values("5ms, 1min")
    [0.005, 60.0]
    """
    text = text.strip()
    if ".." in text:
        start_text, _, rest = text.partition("..")
        stop_text, _, steps_text = rest.partition(":")
        (start, start_kind), (stop, stop_kind) = _value(start_text), _value(stop_text)
        if {start_kind, stop_kind} == {"time", "rate"}:
            raise ValueError(
                f"START and STOP must both be times or both be rates "
                f"(got {start_text.strip()!r} and {stop_text.strip()!r})"
            )
        try:
            steps = int(steps_text) if steps_text.strip() else 10
        except ValueError:
            raise ValueError(f"STEPS must be a whole number (got {steps_text!r})") from None
        if steps < 2:
            raise ValueError(f"a range needs at least 2 steps (got {steps})")
        first, last = Decimal(repr(start)), Decimal(repr(stop))
        return [float(first + (last - first) * index / (steps - 1)) for index in range(steps)]
    values = [_value(part)[0] for part in text.split(",") if part.strip()]
    if not values:
        raise ValueError("no values to sweep")
    return values


def _value(text: str) -> tuple[float, str]:
    """One sweep value and its kind (``number``, ``time`` or ``rate``), in base units."""
    token = text.strip()
    if not token:
        raise ValueError("a value is missing")
    kind = "rate" if "/" in token else "time"
    try:
        value, kind = float(token), "number"
    except ValueError:
        try:
            value = parse_rate(token) if kind == "rate" else parse_duration(token)
        except ValueError:
            raise ValueError(
                f"{token!r} is not a number, a time (e.g. 20ms, 1.5s) or a rate (e.g. 50/s, "
                f"1200/min)"
            ) from None
    if not math.isfinite(value):
        raise ValueError(f"{token!r} is not a finite number")
    return value, kind


def scenario_at(scenario: Scenario, parameter: str, value: Any) -> Scenario:
    """`scenario` with `parameter` (a dotted path) set to `value`, validated."""
    raw = scenario.model_dump(mode="json", exclude_none=True)
    raw.pop("variants", None)
    problem = apply_override(raw, parameter, value)
    if problem is not None:
        raise ScenarioError(scenario.source, [Problem(parameter, problem)])
    try:
        point = load_scenario(raw)
    except ScenarioError as error:
        raise ScenarioError(
            scenario.source,
            [
                Problem(p.path, f"{p.message} (sweeping {parameter} = {value})")
                for p in error.problems
            ],
        ) from None
    point.attach_origin(scenario.source, scenario.variant_name)
    return point


@dataclass
class SweepResults:
    """The results of every point of a sweep."""

    parameter: str
    values: list[Any]
    points: list[Results]
    scenarios: list[Scenario]

    @functools.cached_property
    def analyses(self) -> list[Prediction]:
        """The queueing-theory means of every point (each point analysed once, without the
        capacity search: the curves need only the means)."""
        return [analyze(scenario, capacity=False) for scenario in self.scenarios]

    def predictions(self, flow: str) -> list[tuple[float, float | None]]:
        """The analytic mean response time of `flow` at every point (None where unstable)."""
        return [
            (float(value), prediction.flows[flow].response_time.mean)
            for value, prediction in zip(self.values, self.analyses, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        """``{"parameter", "points": [{"value", "results"}], "landmarks"}`` (docs/results.md)."""
        return {
            "parameter": self.parameter,
            "points": [
                {"value": value, "results": results.to_dict()}
                for value, results in zip(self.values, self.points, strict=True)
            ],
            "predictions": {flow: self.predictions(flow) for flow in self.flows()},
            "landmarks": {flow: self.landmarks(flow) for flow in self.flows()},
        }

    def flows(self) -> list[str]:
        """The names of the scenario's flows."""
        return list(self.points[0].flows) if self.points else []

    def to_dataframe(self) -> pd.DataFrame:
        """Tidy table: one row per (value, kind, entity, metric, statistic)."""
        frames = [
            results.to_dataframe().assign(value=value)
            for value, results in zip(self.values, self.points, strict=True)
        ]
        table = pd.concat(frames, ignore_index=True)
        return table[["value", *[column for column in table.columns if column != "value"]]]

    def landmarks(self, flow: str) -> dict[str, Any]:
        """The knee and the saturation point of `flow` (None when not reached)."""
        means = [results.flows[flow].response_time.mean for results in self.points]
        knee = None
        first = means[0] if means else None
        if first is not None and first > 0:
            for value, mean in zip(self.values, means, strict=True):
                if mean is not None and mean >= KNEE_FACTOR * first:
                    knee = value
                    break
        saturation = None
        for value, results in zip(self.values, self.points, strict=True):
            flow_results = results.flows[flow]
            arrived, completed = flow_results.arrived, flow_results.completed
            short = arrived > 0 and completed < (1 - SATURATION_SHORTFALL) * arrived
            settings = results.settings
            overloaded = overload_warnings(results, settings.duration, bool(settings.partial))
            if overloaded or short:
                saturation = value
                break
        return {"knee": knee, "saturation": saturation}


def sweep(
    scenario: Scenario,
    parameter: str,
    values: Sequence[Any],
    replications: int | None = None,
    seed: int | None = None,
    executor: Any = None,
    progress: Callable[[int], None] | None = None,
    budget: RunBudget | None = DEFAULT_BUDGET,
) -> SweepResults:
    """Simulate `scenario` at every value of `parameter` (a dotted path, as in variants),
    every point within `budget` (`sim.experiments.simulation.run_all`)."""
    count = replication_count(scenario, replications)
    base_seed = seed if seed is not None else scenario.simulation.seed
    points = [scenario_at(scenario, parameter, value) for value in values]
    results = run_all(points, count, base_seed, executor, progress, budget)
    return SweepResults(parameter=parameter, values=list(values), points=results, scenarios=points)
