"""Results of a simulation: replications aggregated into means with 95% t-intervals.

With two or more replications, every statistic is the mean across replications and a sibling
`ci95` maps each key to ``[low, high]``: mean ± t(0.975, n-1) · s / √n (Student t-interval
over independent replications; Law, "Simulation Modeling and Analysis", §9.4.1). A statistic
that could not be observed (a percentile with no observations) is null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.experiments.diagnostics import overload_warnings

CONFIDENCE = 0.95


def t_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The 95% Student-t confidence interval of the mean of `values` (None if n < 2).

    >>> low, high = t_interval([1.0, 2.0, 3.0])
    >>> round(low, 3), round(high, 3)
    (-0.484, 4.484)
    """
    sample = np.asarray([value for value in values if math.isfinite(value)], dtype=float)
    if sample.size < 2:
        return None
    mean = float(sample.mean())
    half_width = float(
        stats.t.ppf(0.5 + CONFIDENCE / 2, sample.size - 1)
        * sample.std(ddof=1)
        / math.sqrt(sample.size)
    )
    return mean - half_width, mean + half_width


def aggregate(replications: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every numeric leaf across replications, with `ci95` siblings when n >= 2."""
    first = replications[0]
    result: dict[str, Any] = {}
    intervals: dict[str, list[float]] = {}
    for key, value in first.items():
        column = [replication[key] for replication in replications]
        if isinstance(value, dict):
            result[key] = aggregate(column)
        elif value is None or isinstance(value, int | float):
            numbers = [float(item) for item in column if item is not None and math.isfinite(item)]
            result[key] = float(np.mean(numbers)) if numbers else None
            interval = t_interval(numbers) if len(replications) >= 2 else None
            if interval is not None:
                intervals[key] = [interval[0], interval[1]]
        else:
            result[key] = value
    if intervals:
        result["ci95"] = intervals
    return result


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


@dataclass
class Results:
    """What `sim.simulate` returns: the aggregate, the raw replications and warnings."""

    scenario: str
    variant: str | None
    settings: dict[str, Any]
    replications: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.series = [replication.pop("timeseries", None) for replication in self.replications]
        self.summary = aggregate(self.replications)
        self.warnings.extend(overload_warnings(self.summary, self.settings["duration"]))

    def timeseries(self) -> pd.DataFrame:
        """Long-format time series of every replication: replication, time, kind, entity,
        metric, value (see `sim.engine.timeseries`)."""
        frames = [
            pd.DataFrame(columns).assign(replication=index)
            for index, columns in enumerate(self.series)
            if columns is not None
        ]
        names = ["replication", "time", "kind", "entity", "metric", "value"]
        if not frames:
            return pd.DataFrame(columns=names)
        return pd.concat(frames, ignore_index=True)[names]

    def to_dict(self) -> dict[str, Any]:
        """The results in the JSON contract of docs/results.md (non-finite numbers as null)."""
        document = {
            "scenario": self.scenario,
            "variant": self.variant,
            "settings": self.settings,
            "flows": self.summary["flows"],
            "services": self.summary["services"],
            "topics": self.summary.get("topics", {}),
            "warnings": self.warnings,
        }
        return _json_safe(document)  # type: ignore[no-any-return]

    def to_json(self, indent: int | None = 2) -> str:
        """The results as a JSON document (docs/results.md)."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_dataframe(self) -> pd.DataFrame:
        """A tidy table: one row per (kind, entity, metric, statistic) with mean and ci95."""
        rows: list[dict[str, Any]] = []
        for kind in ("flows", "services", "topics"):
            for entity, values in self.to_dict()[kind].items():
                _flatten(rows, kind.rstrip("s"), entity, values, prefix="")
        return pd.DataFrame(
            rows, columns=["kind", "entity", "metric", "statistic", "mean", "ci_low", "ci_high"]
        )


def _flatten(
    rows: list[dict[str, Any]], kind: str, entity: str, values: dict[str, Any], prefix: str
) -> None:
    intervals = values.get("ci95", {})
    for key, value in values.items():
        if key == "ci95":
            continue
        if isinstance(value, dict):
            if kind == "topic" and key == "groups":
                for group, group_values in value.items():
                    _flatten(rows, "group", f"{entity}/{group}", group_values, prefix="")
                continue
            _flatten(rows, kind, entity, value, prefix=f"{prefix}{key}.")
            continue
        metric, _, statistic = f"{prefix}{key}".rpartition(".")
        low, high = intervals.get(key, (None, None))
        rows.append(
            {
                "kind": kind,
                "entity": entity,
                "metric": metric or statistic,
                "statistic": statistic if metric else "value",
                "mean": value,
                "ci_low": low,
                "ci_high": high,
            }
        )
