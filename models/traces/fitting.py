"""Fitting a distribution of the scenario language to measured times (self times of
operations, network delays of calls, delivery times of messages).

The candidates are the exponential (1 parameter), the gamma and the lognormal (2), each
fitted by maximum likelihood with its location at 0 (`scipy.stats`: the gamma numerically,
the others in closed form), and ranked by the log-likelihood less a penalty of `PENALTY` per
parameter: for the exponential against the gamma, which contains it, that is the
likelihood-ratio test at level 0.0001 (2 x 7.57 = 15.14, the 0.9999 quantile of chi-square
with 1 degree of freedom), so exponential data are called exponential but in about 1 case of
10,000; between the gamma and the lognormal (same number of parameters) the likelier ranks
first. The family written is the first in that order that the Kolmogorov-Smirnov
goodness-of-fit test (`scipy.stats.kstest`) does not reject at `FIT_LEVEL`; if it rejects
them all, the first, marked `rejected` (the import warns: `--empirical` writes the samples
instead). With parameters estimated from the same data the test is conservative
(Lilliefors, 1967): it passes over only a family that clearly does not fit, and for large
samples of real data it may reject every family.

What is written: the **mean is the sample mean** (the load the operation puts on its service
is the measured one), the **cv that of the fitted family** (its shape). Samples with a cv
below `CONSTANT_CV`, a single sample, or a mean below `TINY` are written `constant` (their
mean). With ``empirical`` the samples themselves are written (at most `EMPIRICAL_POINTS`:
the quantiles at (i + 0.5) / n of more).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from models.traces.spelling import significant, spell_count, spell_ms, spell_time, unit_of

PENALTY = 7.57
"""Log-likelihood a family must gain per extra parameter (half the chi-square(1) 0.9999
quantile, 15.14)."""
CONSTANT_CV = 0.01
TINY = 1e-4
"""Seconds: a network delay of smaller mean is written as a constant (a fit of it would
describe the tracer's rounding, not the network)."""
RESOLUTION = 1e-6
"""Seconds: times below are fitted as this (the microsecond of Jaeger and Zipkin); a zero
has no logarithm."""
EMPIRICAL_POINTS = 1000
FIT_LEVEL = 0.01
"""The Kolmogorov-Smirnov test's level: a family it rejects at this level is passed over."""


@dataclass(frozen=True)
class Fit:
    """A distribution fitted to `count` samples, and what it is in the scenario language."""

    count: int
    mean: float
    cv: float
    family: str
    """``exponential``, ``gamma``, ``lognormal``, ``constant`` or ``empirical``."""
    spec: dict[str, Any]
    """The distribution as written in a scenario, e.g. ``{"gamma": {"mean": "3ms", "cv": 0.8}}``."""
    p_value: float | None = None
    """Kolmogorov-Smirnov p-value of the written distribution (None: constant, empirical)."""
    rejected: bool = False
    """The goodness-of-fit test rejects every family at `FIT_LEVEL` (this is the likeliest)."""

    def warning(self, what: str, where: str) -> str | None:
        """The import's warning when no family fits (`rejected`), else None."""
        if not self.rejected:
            return None
        return (
            f"{what} of {where}: no family passes the Kolmogorov-Smirnov test at level"
            f" {FIT_LEVEL:g} (the likeliest, {self.family}, has p = {self.p_value:.2g}); it is"
            " written anyway: --empirical writes the measured times instead"
        )

    def describe(self, what: str = "spans") -> str:
        """Where the numbers came from, for a comment in the scenario file."""
        cv = f"{self.cv:.2g}" if self.cv >= 0.001 else "0"
        base = f"from {spell_count(self.count)} {what}: mean {spell_ms(self.mean)}, cv {cv}"
        if self.family == "empirical":
            points = min(self.count, EMPIRICAL_POINTS)
            how = "the samples" if points == self.count else f"{points} quantiles"
            return f"{base}, empirical ({how})"
        if self.p_value is None:
            return f"{base}, constant"
        fits = f"; no family fits (KS p < {FIT_LEVEL:g}): try --empirical" if self.rejected else ""
        return f"{base}, {self.family} (KS p = {self.p_value:.2g}{fits})"


def fit_times(samples: Sequence[float], *, empirical: bool = False, tiny: float = 0.0) -> Fit:
    """The distribution written for `samples` (seconds, >= 0; at least one).

    `tiny`: a mean below it is written as a constant (for network delays, `TINY`).
    """
    import numpy as np

    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("fit_times needs at least one sample")
    values = np.maximum(values, 0.0)
    mean = float(values.mean())
    cv = float(values.std() / mean) if mean > 0 else 0.0
    if empirical and mean > 0:
        return Fit(values.size, mean, cv, "empirical", {"empirical": _points(values)})
    if values.size < 2 or cv < CONSTANT_CV or mean < max(tiny, RESOLUTION):
        return Fit(values.size, mean, cv, "constant", {"constant": spell_time(mean)})
    ranked = _ranked(np.maximum(values, RESOLUTION))
    tested = []
    for family, shape_cv in ranked:
        written_cv = 1.0 if family == "exponential" else significant(shape_cv, 3)
        p_value = _ks_p_value(values, family, mean, written_cv)
        tested.append((family, written_cv, p_value))
        if p_value >= FIT_LEVEL:
            break
    rejected = tested[-1][2] < FIT_LEVEL
    family, written_cv, p_value = tested[0] if rejected else tested[-1]
    if family == "exponential":
        spec: dict[str, Any] = {"exponential": spell_time(mean)}
    else:
        spec = {family: {"mean": spell_time(mean), "cv": written_cv}}
    return Fit(values.size, mean, cv, family, spec, p_value, rejected)


def _ranked(values: Any) -> list[tuple[str, float]]:
    """The families by penalised likelihood, best first, each with the cv of its fit."""
    import numpy as np
    from scipy import stats

    count = values.size
    mean = float(values.mean())
    scores: dict[str, tuple[float, float]] = {}
    scores["exponential"] = (-count * (math.log(mean) + 1.0), 1.0)
    logs = np.log(values)
    mu, sigma = float(logs.mean()), float(logs.std())
    if sigma > 0:
        log_likelihood = float(np.sum(stats.norm.logpdf(logs, mu, sigma)) - np.sum(logs))
        scores["lognormal"] = (log_likelihood - PENALTY, math.sqrt(math.expm1(sigma**2)))
    shape, _, scale = stats.gamma.fit(values, floc=0)
    if math.isfinite(shape) and shape > 0:
        log_likelihood = float(np.sum(stats.gamma.logpdf(values, shape, scale=scale)))
        scores["gamma"] = (log_likelihood - PENALTY, 1.0 / math.sqrt(shape))
    order = sorted(scores, key=lambda name: (scores[name][0], name == "exponential"), reverse=True)
    return [(family, scores[family][1]) for family in order]


def frozen(family: str, mean: float, cv: float) -> Any:
    """The scipy distribution of `family` with this mean and cv (location 0)."""
    from scipy import stats

    if family == "exponential":
        return stats.expon(scale=mean)
    if family == "gamma":
        shape = 1.0 / cv**2
        return stats.gamma(shape, scale=mean / shape)
    sigma = math.sqrt(math.log1p(cv**2))
    return stats.lognorm(sigma, scale=mean * math.exp(-(sigma**2) / 2))


def _ks_p_value(values: Any, family: str, mean: float, cv: float) -> float:
    from scipy import stats

    return float(stats.kstest(values, frozen(family, mean, cv).cdf).pvalue)


def _points(values: Any) -> list[str]:
    """The samples (sorted), or `EMPIRICAL_POINTS` quantiles of them, as times in one unit."""
    import numpy as np

    ordered = np.sort(values)
    if ordered.size > EMPIRICAL_POINTS:
        levels = (np.arange(EMPIRICAL_POINTS) + 0.5) / EMPIRICAL_POINTS
        ordered = np.quantile(ordered, levels)
    unit = unit_of(float(np.median(ordered)) or RESOLUTION)
    return [spell_time(float(value), unit) if value > 0 else "0s" for value in ordered]
