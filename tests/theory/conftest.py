"""Shared fixtures of the statistical tests: seed a scenario, run it, compare with theory.

The tolerance rule (`check_agreement`, used through the `agrees` fixture):

The n replications are independent and identically distributed, so the mean of a
per-replication statistic has standard error SE = s / sqrt(n), s being the sample standard
deviation across replications. A check passes when

    |mean - theory| <= t_{1 - alpha/2, n-1} x SE   (+ 0.5% of theory for a percentile),

t_{q, n-1} being the q-quantile of Student's t with n - 1 degrees of freedom
(`scipy.stats.t.ppf`) and alpha = `ALPHA` = 1e-4. If the simulation is right (and the
per-replication values are close to normal, as means over thousands of customers are), a
check fails by chance with probability alpha = 1e-4, two-sided. For n = 20 replications the
half-width is 4.90 SE (n = 30: 4.51 SE; n = 100: 4.05 SE); it was 4 SE (alpha ~ 1e-3) before.

Why so small an alpha: a change that only reorders random draws (a new stream, another
order of events at equal times) gives every test new random numbers; it must not turn the
suite red by chance, and a red test must mean a bias worth looking into. The statistical
suite makes about N = 220 checks per run (~210 `agrees` checks, printed one per line with
`-s`, plus ~10 checks of other kinds), so the chance that at least one of them fails by
chance in a run is about N x alpha = 2%. Checks that do not compare a replication mean with
theory (Poisson counts, chi-square variance bands, Gamma and binomial bands, contrasts
between two estimates) use the same alpha with a quantile of their own distribution
(`Quantiles`: `normal`, `chi2_band`, `binomial_limit`); where the per-replication values are
far from normal (an exponential idle time, ...) the test uses their exact distribution instead
of the t rule.

Percentile slack: percentiles are read from a log histogram whose buckets are 0.27% wide
(`sim.engine.metrics`; the reported value is a bucket's geometric midpoint, at most 0.14%
from any value in the bucket), so a percentile check adds `PERCENTILE_SLACK` = 0.5% of theory
to the half-width. Callers may add a documented `slack` for a known, bounded bias (edge
effects of Little's law, ...).

Power: a check must be able to fail, so its expected half-width must be below
`MAX_RELATIVE_HALF_WIDTH` = 6% of theory (it was 4 SE < 5%; 6% is that bound scaled by the t
quantile, 4.90 / 4, for the same run lengths). The observed half-width is itself random (it
scales with s), so it is tested at the same false-alarm rate: the check fails when the
observed half-width exceeds 6% x sqrt(chi2_{1-alpha, n-1} / (n - 1)) (9.8% of theory for
n = 20, `power_limit`), which shows at confidence 1 - alpha that the run is too short. (A bare
"observed half-width < 6%" would fail by chance in most runs: about 20 checks have expected
half-widths of 4.5-6%.)

Seeds (`seed` fixture): each test's seed is a fixed function of its name (a CRC-32 of the
file and test name, so no seed is chosen to pass) plus `ARCHSIM_TEST_SEED_SHIFT` (default 0)
from the environment, so that the whole statistical suite can be re-run with other random
numbers: ``ARCHSIM_TEST_SEED_SHIFT=1000 python3 -m pytest tests/theory -n auto``. A failure
under one shift only is most likely chance (about 2% of runs); a failure under several shifts
is a real bias (docs/testing.md).
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from scipy import stats

from models import load_scenario
from sim import simulate

ALPHA = 1e-4
"""False-alarm probability of every statistical check (two-sided)."""
PERCENTILE_SLACK = 0.005
"""Extra relative tolerance for percentiles: the histogram buckets are 0.27% wide."""
MAX_RELATIVE_HALF_WIDTH = 0.06
"""A check must be able to fail: its expected half-width must be below this fraction of
theory (tested at `ALPHA`, see `power_limit`)."""
SEED_SHIFT_VARIABLE = "ARCHSIM_TEST_SEED_SHIFT"
"""Environment variable added to the seed of every test under tests/theory."""


def t_quantile(replications: int, alpha: float = ALPHA) -> float:
    """t_{1 - alpha/2, n-1}: the half-width of the acceptance band in standard errors."""
    return float(stats.t.ppf(1.0 - alpha / 2.0, replications - 1))


def power_factor(replications: int, alpha: float = ALPHA) -> float:
    """sqrt(chi2_{1 - alpha, n-1} / (n - 1)): how far above its expectation an observed
    half-width t SE can be, with probability alpha (s^2 / sigma^2 ~ chi2(n-1) / (n-1));
    1.64 for n = 20, 1.51 for n = 30."""
    k = replications - 1
    return math.sqrt(float(stats.chi2.ppf(1.0 - alpha, k)) / k)


def power_limit(
    replications: int, max_relative_half_width: float = MAX_RELATIVE_HALF_WIDTH
) -> float:
    """The largest observed half-width (relative to theory) that the power check accepts:
    `max_relative_half_width` x `power_factor` (9.8% for 6% and n = 20). A larger one shows,
    at confidence 1 - alpha, that the run's expected half-width is above the bound."""
    return max_relative_half_width * power_factor(replications)


def normal_quantile(alpha: float = ALPHA) -> float:
    """z_{1 - alpha/2} (3.89 for alpha = 1e-4): a two-sided band for a known variance."""
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


def chi2_band(degrees_of_freedom: int, alpha: float = ALPHA) -> tuple[float, float]:
    """The two-sided 1 - alpha band of chi2(k) / k: where s^2 / sigma^2 of a normal sample of
    k + 1 values falls with probability 1 - alpha."""
    k = degrees_of_freedom
    return (
        float(stats.chi2.ppf(alpha / 2.0, k)) / k,
        float(stats.chi2.ppf(1.0 - alpha / 2.0, k)) / k,
    )


def seed_shift() -> int:
    """`ARCHSIM_TEST_SEED_SHIFT` from the environment (default 0)."""
    text = os.environ.get(SEED_SHIFT_VARIABLE, "0").strip() or "0"
    try:
        shift = int(text)
    except ValueError:
        raise pytest.UsageError(f"{SEED_SHIFT_VARIABLE} must be an integer, not {text!r}") from None
    if shift < 0:
        raise pytest.UsageError(f"{SEED_SHIFT_VARIABLE} must be >= 0, not {shift}")
    return shift


def base_seed(file_name: str, test_name: str) -> int:
    """A test's seed before the shift: a CRC-32 of ``file::test[params]`` (not chosen)."""
    return zlib.crc32(f"{file_name}::{test_name}".encode())


@dataclass(frozen=True)
class Agreement:
    """The outcome of one comparison of a simulated statistic with its theoretical value."""

    label: str
    theory: float
    mean: float
    standard_error: float
    half_width: float
    tolerance: float
    replications: int

    @property
    def relative_error(self) -> float:
        """(mean - theory) / theory."""
        return (self.mean - self.theory) / self.theory

    @property
    def relative_tolerance(self) -> float:
        """The tolerance as a fraction of theory."""
        return self.tolerance / abs(self.theory)

    @property
    def relative_half_width(self) -> float:
        """The statistical half-width (without slack) as a fraction of theory: the power."""
        return self.half_width / abs(self.theory)

    def __str__(self) -> str:
        return (
            f"{self.label}: theory {self.theory:.6g}, simulated {self.mean:.6g} "
            f"(rel. error {self.relative_error:+.2%}, tolerance {self.relative_tolerance:.2%}, "
            f"half-width {self.relative_half_width:.2%}, n = {self.replications})"
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
    quantile = t_quantile(sample.size)
    half_width = quantile * standard_error
    relative_slack = slack + (PERCENTILE_SLACK if percentile else 0.0)
    tolerance = half_width + relative_slack * abs(theory)
    agreement = Agreement(
        label, theory, mean, standard_error, half_width, tolerance, int(sample.size)
    )
    print(agreement)
    rule = f"t(1 - {ALPHA:g}/2, {sample.size - 1}) SE = {quantile:.3g} SE"
    limit = power_limit(sample.size, max_relative_half_width)
    assert half_width < limit * abs(theory), (
        f"{label}: half-width {rule} = {half_width:.4g} ({half_width / abs(theory):.2%} of "
        f"theory {theory:.4g}) is above {limit:.2%} = {max_relative_half_width:.0%} x "
        f"{power_factor(sample.size):.3g}: the expected half-width is over "
        f"{max_relative_half_width:.0%} of theory (confidence 1 - {ALPHA:g}); the run is too "
        f"short for the test to be able to fail"
    )
    slack_text = f" + {relative_slack:.2%}" if relative_slack else ""
    assert abs(mean - theory) <= tolerance, (
        f"{label}: simulated {mean:.6g} vs theory {theory:.6g} (difference "
        f"{mean - theory:+.4g}, rel. {(mean - theory) / theory:+.2%}; tolerance "
        f"{tolerance:.4g} = {rule}{slack_text}; SE = {standard_error:.4g}, n = {sample.size})"
    )
    return agreement


def statistic(replications: Sequence[Any], *path: str) -> list[float]:
    """One statistic of every replication, e.g. ``statistic(runs, "flows", "f", "throughput")``
    or ``statistic(runs, "services", "s", "response_time", "p99")``.

    Works on plain dictionaries (docs/results.md shape) and on typed result objects alike:
    each path element indexes a Mapping (``node[key]``: names of flows, services, topics,
    groups) and is an attribute of anything else (``getattr(node, key)``).
    """
    values = []
    for replication in replications:
        value: Any = replication
        for key in path:
            value = value[key] if isinstance(value, Mapping) else getattr(value, key)
        values.append(float(value))
    return values


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """The seed of this test: `base_seed` of its name + `ARCHSIM_TEST_SEED_SHIFT`."""
    value = base_seed(request.path.name, request.node.name) + seed_shift()
    request.node.user_properties.append(("seed", value))
    return value


@pytest.fixture
def agrees(seed: int) -> Callable[..., Agreement]:
    """`agrees(values, theory, label, percentile=False, slack=0.0)`: the shared statistical
    assertion (`check_agreement`); a failure names the test's seed and shift."""

    def check(*args: Any, **kwargs: Any) -> Agreement:
        try:
            return check_agreement(*args, **kwargs)
        except AssertionError as error:
            raise AssertionError(
                f"{error} [seed {seed}, {SEED_SHIFT_VARIABLE}={seed_shift()}]"
            ) from None

    return check


@pytest.fixture
def replications_of(seed: int) -> Callable[..., list[Any]]:
    """`replications_of(document)`: simulate a scenario dict with the replications of its
    `simulation` section and the test's `seed`; the per-replication results
    (docs/results.md shape; read them with `stat`)."""

    def run(document: dict[str, Any]) -> list[Any]:
        return simulate(load_scenario(document), seed=seed).replications

    return run


@dataclass(frozen=True)
class Quantiles:
    """The quantiles of the rule at `alpha`, for checks that do not compare a replication mean
    with theory (`quantiles` fixture)."""

    alpha: float = ALPHA

    def t(self, replications: int) -> float:
        """t_{1 - alpha/2, n-1} (`t_quantile`)."""
        return t_quantile(replications, self.alpha)

    def normal(self) -> float:
        """z_{1 - alpha/2} (`normal_quantile`)."""
        return normal_quantile(self.alpha)

    def chi2_band(self, degrees_of_freedom: int) -> tuple[float, float]:
        """The 1 - alpha band of chi2(k) / k (`chi2_band`)."""
        return chi2_band(degrees_of_freedom, self.alpha)

    def binomial_limit(self, trials: int, probability: float) -> int:
        """The largest count of Binomial(trials, probability) that is exceeded with
        probability at most alpha: a one-sided limit on how often an event of known small
        probability may happen."""
        return int(stats.binom.isf(self.alpha, trials, probability))


@pytest.fixture
def quantiles() -> Quantiles:
    """The quantiles of the rule (`Quantiles`: `t`, `normal`, `chi2_band`,
    `binomial_limit`) at `ALPHA`."""
    return Quantiles()


@pytest.fixture
def stat() -> Callable[..., list[float]]:
    """`stat(replications, *path)`: one statistic of every replication (see `statistic`)."""
    return statistic
