"""Shared fixtures of the statistical tests: run a scenario, and compare a statistic with theory.

The tolerance rule (used by every test that takes the `agrees` fixture):

The n replications are independent and identically distributed, so the mean of a
per-replication statistic has standard error SE = s / sqrt(n), s being the sample standard
deviation across replications. A check passes when

    |mean - theory| <= 4 SE   (+ 0.5% of theory for a percentile),

4 SE being a ~99.9% two-sided band for a Student t with 19-29 degrees of freedom (so a suite
of ~100 checks fails spuriously about once in ten runs of different seeds; the seeds are
fixed, so it is reproducible). Percentiles are read from a log histogram whose buckets are
0.27% wide (`sim.engine.metrics`, the reported value is a bucket's geometric midpoint), hence the
extra 0.5% of theory. Every check also asserts that 4 SE < 5% of theory (the test's *power*):
a run so short that its noise would hide a 5% error is a failing test, not a passing one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from models import load_scenario
from sim import simulate

STANDARD_ERRORS = 4.0
"""Half-width of the acceptance band, in standard errors of the replication mean."""
PERCENTILE_SLACK = 0.005
"""Extra relative tolerance for percentiles: the histogram buckets are 0.27% wide."""
MAX_RELATIVE_HALF_WIDTH = 0.05
"""A check must be able to fail: 4 SE must be below this fraction of the theoretical value."""


@dataclass(frozen=True)
class Agreement:
    """The outcome of one comparison of a simulated statistic with its theoretical value."""

    label: str
    theory: float
    mean: float
    standard_error: float
    tolerance: float

    @property
    def relative_error(self) -> float:
        """(mean - theory) / theory."""
        return (self.mean - self.theory) / self.theory

    @property
    def relative_tolerance(self) -> float:
        """The tolerance as a fraction of theory."""
        return self.tolerance / abs(self.theory)

    def __str__(self) -> str:
        return (
            f"{self.label}: theory {self.theory:.6g}, simulated {self.mean:.6g} "
            f"(rel. error {self.relative_error:+.2%}, tolerance {self.relative_tolerance:.2%})"
        )


def check_agreement(
    values: Iterable[float],
    theory: float,
    label: str,
    *,
    percentile: bool = False,
    slack: float = 0.0,
    max_relative_half_width: float = MAX_RELATIVE_HALF_WIDTH,
) -> Agreement:
    """Assert that the replication mean of `values` agrees with `theory` (module docstring).

    `slack` adds a relative tolerance for a known, bounded bias that the caller documents
    (`percentile=True` adds the 0.5% histogram slack).
    """
    sample = np.asarray(list(values), dtype=float)
    assert sample.size >= 2, f"{label}: need >= 2 replications (got {sample.size})"
    assert np.all(np.isfinite(sample)), f"{label}: non-finite values {sample}"
    assert theory != 0.0 and math.isfinite(theory), f"{label}: theory must be finite, non-zero"
    mean = float(sample.mean())
    standard_error = float(sample.std(ddof=1)) / math.sqrt(sample.size)
    half_width = STANDARD_ERRORS * standard_error
    relative_slack = slack + (PERCENTILE_SLACK if percentile else 0.0)
    tolerance = half_width + relative_slack * abs(theory)
    agreement = Agreement(label, theory, mean, standard_error, tolerance)
    print(agreement)
    assert half_width < max_relative_half_width * abs(theory), (
        f"{label}: 4 SE = {half_width:.4g} is not below {max_relative_half_width:.0%} of "
        f"theory {theory:.4g}; the run is too short for the test to be able to fail"
    )
    slack_text = f" + {relative_slack:.2%}" if relative_slack else ""
    assert abs(mean - theory) <= tolerance, (
        f"{label}: simulated {mean:.6g} vs theory {theory:.6g} (difference "
        f"{mean - theory:+.4g}, tolerance {tolerance:.4g} = 4 SE{slack_text}; "
        f"SE = {standard_error:.4g}, n = {sample.size})"
    )
    return agreement


def statistic(replications: Sequence[dict[str, Any]], *path: str) -> list[float]:
    """One statistic of every replication, e.g. ``statistic(runs, "flows", "f", "throughput")``
    or ``statistic(runs, "services", "s", "response_time", "p99")``."""
    values = []
    for replication in replications:
        value: Any = replication
        for key in path:
            value = value[key]
        values.append(float(value))
    return values


@pytest.fixture
def agrees() -> Callable[..., Agreement]:
    """`agrees(values, theory, label, percentile=False, slack=0.0)`: the shared statistical
    assertion (`check_agreement`)."""
    return check_agreement


@pytest.fixture
def replications_of() -> Callable[..., list[dict[str, Any]]]:
    """`replications_of(document)`: simulate a scenario dict with the replications and seed
    of its `simulation` section; the raw per-replication dictionaries (docs/results.md shape)."""

    def run(document: dict[str, Any]) -> list[dict[str, Any]]:
        return simulate(load_scenario(document)).replications

    return run


@pytest.fixture
def stat() -> Callable[..., list[float]]:
    """`stat(replications, *path)`: one statistic of every replication (see `statistic`)."""
    return statistic
