"""Statistics across replications: means with 95% Student-t confidence intervals.

With two or more replications, every statistic is the mean across replications and the
record's `ci95` maps each key to ``(low, high)``: mean ± t(0.975, n-1) · s / √n (Student
t-interval over independent replications; Law, "Simulation Modeling and Analysis",
§9.4.1). A statistic that could not be observed in any replication is None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

CONFIDENCE = 0.95

Model = TypeVar("Model", bound=BaseModel)


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
        t_quantile(0.5 + CONFIDENCE / 2, sample.size - 1)
        * sample.std(ddof=1)
        / math.sqrt(sample.size)
    )
    return mean - half_width, mean + half_width


def aggregate(replications: Sequence[Model]) -> Model:
    """The mean of every number across `replications` (records of one type), with the 95%
    interval of each in the record's `ci95` when there are two or more. Records nested in
    attributes or in dictionaries by name (flows, services, ...) are aggregated alike, over
    the names of the first replication; records in lists alike, position by position."""
    first = replications[0]
    values: dict[str, Any] = {}
    intervals: dict[str, tuple[float, float]] = {}
    for name in type(first).model_fields:
        if name == "ci95":
            continue
        column = [getattr(replication, name) for replication in replications]
        value = column[0]
        if isinstance(value, BaseModel):
            values[name] = aggregate(column)
        elif isinstance(value, dict):
            values[name] = {key: aggregate([item[key] for item in column]) for key in value}
        elif isinstance(value, list):  # (records in the same order in every replication)
            values[name] = [
                aggregate([item[index] for item in column]) for index in range(len(value))
            ]
        elif value is None or isinstance(value, int | float):
            numbers = [float(item) for item in column if item is not None and math.isfinite(item)]
            values[name] = float(np.mean(numbers)) if numbers else None
            interval = t_interval(numbers) if len(replications) >= 2 else None
            if interval is not None:
                intervals[name] = interval
        else:
            values[name] = value
    if "ci95" in type(first).model_fields:
        values["ci95"] = intervals or None
    return type(first).model_construct(**values)


def t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """Student's t quantile (scipy imported here: start-up time, see tests/unit/
    test_startup.py; a run of one replication never needs it)."""
    from scipy import stats

    return float(stats.t.ppf(probability, degrees_of_freedom))
