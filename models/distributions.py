"""Random times (docs/scenario-language.md, "Distributions"): their mean and SCV, and samples.

A scenario writes a distribution as a mapping with one key, the family; every time parameter
may carry a unit. Each family is a frozen dataclass in seconds that knows its `mean`,
`variance` and `scv` (squared coefficient of variation, variance / mean², used by the analytic
models), draws vectorised samples from a numpy `Generator`, and writes itself back with
`to_spec()`.

>>> work = Gamma(mean_time=0.004, cv=0.5)
>>> work.mean, work.scv
(0.004, 0.25)
>>> Erlang(k=4, mean_time=2.0).to_spec()
{'erlang': {'k': 4, 'mean': 2.0}}
>>> Gamma(mean_time=0.004, cv=-1)
Traceback (most recent call last):
...
ValueError: gamma: 'cv' must be > 0 (got -1)

Resampled observations (`empirical`) are in `models.empirical`; the scenario form
(`DistributionField`, `parse_distribution`) is in `models.distribution_spec`; the engine draws
them in blocks (`sim.engine.streams`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

from models.distribution_checks import (
    at_least,
    check_parameters,
    positive,
    show_number,
    weibull_shape,
)

# numpy and scipy are imported inside the few functions that use them, so that a scenario
# loads without them (start-up time, see tests/unit/test_startup.py).
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "Constant",
    "Distribution",
    "Erlang",
    "Exponential",
    "Gamma",
    "Hyperexponential",
    "Lognormal",
    "Pareto",
    "Uniform",
    "Weibull",
]

Samples: TypeAlias = "npt.NDArray[np.float64]"
Z_99 = 2.3263478740408408
"""z_0.99, the 99th percentile of the standard normal distribution."""


class Distribution(ABC):
    """A random time in seconds (>= 0): its moments, a sampler and its scenario form."""

    family: ClassVar[str]
    """The key that names the family in a scenario, e.g. ``"gamma"``."""

    @property
    @abstractmethod
    def mean(self) -> float:
        """The mean, in seconds."""

    @property
    @abstractmethod
    def variance(self) -> float:
        """The variance, in seconds² (``inf`` when it does not exist)."""

    @property
    def scv(self) -> float:
        """The squared coefficient of variation, variance / mean² (0 for a mean of 0)."""
        mean = self.mean
        return self.variance / mean**2 if mean > 0 else 0.0

    @property
    def third_moment(self) -> float | None:
        """E[X³] in seconds³, where this family has it in closed form (None otherwise): the
        analysis fits a hyperexponential law to three moments with it."""
        return None

    def laplace(self, s: float) -> float | None:
        """E[exp(-s X)] for s >= 0, where this family has it in closed form (None
        otherwise): the analysis solves renewal arrivals at exponential servers with it
        (GI/M/c)."""
        return None

    @abstractmethod
    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        """`size` independent draws, in seconds, as a float64 array."""

    @abstractmethod
    def to_spec(self) -> dict[str, Any]:
        """The scenario form (one-key mapping) with times in seconds."""


@dataclass(frozen=True)
class Constant(Distribution):
    """Always `value` seconds: mean = value, variance 0. ``constant: T``; T may be 0."""

    family: ClassVar[str] = "constant"
    value: float

    def __post_init__(self) -> None:
        check_parameters(self.family, at_least("the time", self.value, 0.0, strict=False))

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    @property
    def third_moment(self) -> float | None:
        return self.value**3

    def laplace(self, s: float) -> float | None:
        """exp(-s T)."""
        return math.exp(-s * self.value)

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        import numpy as np  # imported here: start-up time, see tests/unit/test_startup.py

        return np.full(size, self.value, dtype=np.float64)

    def to_spec(self) -> dict[str, Any]:
        return {self.family: self.value}


@dataclass(frozen=True)
class Exponential(Distribution):
    """Exponential with the given `mean` (rate 1/mean): variance = mean², SCV = 1."""

    family: ClassVar[str] = "exponential"
    mean_time: float

    def __post_init__(self) -> None:
        check_parameters(self.family, positive("the mean", self.mean_time))

    @property
    def mean(self) -> float:
        return self.mean_time

    @property
    def variance(self) -> float:
        return self.mean_time**2

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        return rng.exponential(self.mean_time, size)

    @property
    def third_moment(self) -> float | None:
        """E[X³] = 6 mean³."""
        return 6.0 * self.mean_time**3

    def laplace(self, s: float) -> float | None:
        """1 / (1 + s mean)."""
        return 1.0 / (1.0 + s * self.mean_time)

    def to_spec(self) -> dict[str, Any]:
        return {self.family: self.mean_time}


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on [low, high]: mean = (low + high) / 2, variance = (high - low)² / 12."""

    family: ClassVar[str] = "uniform"
    low: float
    high: float

    def __post_init__(self) -> None:
        given = f"(got [{show_number(self.low)}, {show_number(self.high)}])"
        problems = [] if math.isfinite(self.high) else [f"high must be finite {given}"]
        if not (math.isfinite(self.low) and self.low >= 0):
            problems.append(f"low must be >= 0 {given}")
        if self.low > self.high:
            problems.append(f"low must be <= high {given}")
        elif self.high <= 0:
            problems.append(f"high must be > 0 {given}")
        check_parameters(self.family, problems)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    @property
    def third_moment(self) -> float | None:
        """E[X³] = (high⁴ - low⁴) / (4 (high - low)), low³ when they are equal."""
        if self.high == self.low:
            return self.low**3
        return (self.high**4 - self.low**4) / (4.0 * (self.high - self.low))

    def laplace(self, s: float) -> float | None:
        """(exp(-s low) - exp(-s high)) / (s (high - low)); exp(-s low) at s (high - low)
        = 0."""
        width = self.high - self.low
        if abs(s * width) < 1e-9:
            return math.exp(-s * self.low) * (1.0 - s * width / 2.0)
        return math.exp(-s * self.low) * -math.expm1(-s * width) / (s * width)

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        return rng.uniform(self.low, self.high, size)

    def to_spec(self) -> dict[str, Any]:
        return {self.family: [self.low, self.high]}


@dataclass(frozen=True)
class Erlang(Distribution):
    """Sum of `k` exponentials of mean `mean`/k: gamma with integer shape k; SCV = 1/k."""

    family: ClassVar[str] = "erlang"
    k: int
    mean_time: float

    def __post_init__(self) -> None:
        problems = positive("'mean'", self.mean_time)
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            problems.insert(0, f"'k' must be an integer >= 1 (got {self.k!r})")
        check_parameters(self.family, problems)

    @property
    def mean(self) -> float:
        return self.mean_time

    @property
    def variance(self) -> float:
        return self.mean_time**2 / self.k

    @property
    def third_moment(self) -> float | None:
        """E[X³] = θ³ k (k + 1)(k + 2) with scale θ = mean / k."""
        scale = self.mean_time / self.k
        return scale**3 * self.k * (self.k + 1) * (self.k + 2)

    def laplace(self, s: float) -> float | None:
        """(1 + s mean / k)^-k."""
        return math.exp(-self.k * math.log1p(s * self.mean_time / self.k))

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        return rng.gamma(self.k, self.mean_time / self.k, size)

    def to_spec(self) -> dict[str, Any]:
        return {self.family: {"k": self.k, "mean": self.mean_time}}


@dataclass(frozen=True)
class _ByMeanAndCv(Distribution):
    """A family given by its mean (seconds) and coefficient of variation: SCV = cv²."""

    mean_time: float
    cv: float

    def __post_init__(self) -> None:
        check_parameters(self.family, self._problems())

    def _problems(self) -> list[str]:
        return positive("'mean'", self.mean_time) + positive("'cv'", self.cv)

    @property
    def mean(self) -> float:
        return self.mean_time

    @property
    def variance(self) -> float:
        return (self.mean_time * self.cv) ** 2

    def to_spec(self) -> dict[str, Any]:
        return {self.family: {"mean": self.mean_time, "cv": self.cv}}


@dataclass(frozen=True)
class Gamma(_ByMeanAndCv):
    """Gamma by mean and cv: shape = 1/cv², scale = mean·cv² (method of moments)."""

    family: ClassVar[str] = "gamma"

    @property
    def third_moment(self) -> float | None:
        """E[X³] = θ³ α (α + 1)(α + 2) = mean³ (1 + cv²)(1 + 2 cv²)."""
        scv = self.cv**2
        return self.mean_time**3 * (1.0 + scv) * (1.0 + 2.0 * scv)

    def laplace(self, s: float) -> float | None:
        """(1 + s scale)^-shape, shape 1/cv², scale mean cv²."""
        scv = self.cv**2
        return math.exp(-math.log1p(s * self.mean_time * scv) / scv)

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        return rng.gamma(1.0 / self.cv**2, self.mean_time * self.cv**2, size)


@dataclass(frozen=True)
class Lognormal(Distribution):
    """Lognormal: ln X ~ Normal(mu, sigma²).

    mean = exp(mu + sigma²/2), SCV = exp(sigma²) - 1, the p-quantile is exp(mu + sigma·z_p)
    (Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions* vol. 1, ch. 14).
    Build it with `from_mean_cv` or `from_percentiles` (median and p99, as read off a
    dashboard); `spec_form` remembers which, for `to_spec`.
    """

    family: ClassVar[str] = "lognormal"
    mu: float
    sigma: float
    spec_form: Literal["mean_cv", "median_p99"] = field(default="mean_cv", compare=False)

    def __post_init__(self) -> None:
        problems = [] if math.isfinite(self.mu) else [f"mu must be finite (got {self.mu!r})"]
        check_parameters(self.family, problems + positive("sigma", self.sigma))

    @classmethod
    def from_mean_cv(cls, mean: float, cv: float) -> Lognormal:
        """sigma² = ln(1 + cv²), mu = ln(mean) - sigma²/2."""
        check_parameters(cls.family, positive("'mean'", mean) + positive("'cv'", cv))
        sigma_squared = math.log1p(cv**2)
        return cls(math.log(mean) - sigma_squared / 2, math.sqrt(sigma_squared), "mean_cv")

    @classmethod
    def from_percentiles(cls, median: float, p99: float) -> Lognormal:
        """Fit two percentiles: mu = ln(median), sigma = ln(p99 / median) / z_0.99."""
        problems = positive("'median'", median) + positive("'p99'", p99)
        if not problems and p99 <= median:
            problems.append(f"'p99' must be > 'median' (got median {median!r}, p99 {p99!r})")
        check_parameters(cls.family, problems)
        return cls(math.log(median), math.log(p99 / median) / Z_99, "median_p99")

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    @property
    def variance(self) -> float:
        return self.scv * self.mean**2

    @property
    def scv(self) -> float:
        return math.expm1(self.sigma**2)

    @property
    def third_moment(self) -> float | None:
        """E[X³] = exp(3 mu + 9 sigma² / 2)."""
        return math.exp(3.0 * self.mu + 4.5 * self.sigma**2)

    def quantile(self, probability: float) -> float:
        """The `probability`-quantile, exp(mu + sigma·z_p)."""
        from scipy.special import ndtri  # imported here: start-up time, see test_startup.py

        return math.exp(self.mu + self.sigma * float(ndtri(probability)))

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        return rng.lognormal(self.mu, self.sigma, size)

    def to_spec(self) -> dict[str, Any]:
        if self.spec_form == "median_p99":
            params = {"median": math.exp(self.mu), "p99": math.exp(self.mu + self.sigma * Z_99)}
        else:
            params = {"mean": self.mean, "cv": math.sqrt(self.scv)}
        return {self.family: params}


@dataclass(frozen=True)
class Weibull(_ByMeanAndCv):
    """Weibull by mean and cv: P(X > x) = exp(-(x/λ)^k).

    mean = λ·Γ(1+1/k) and SCV = Γ(1+2/k) / Γ(1+1/k)² - 1 (Johnson, Kotz & Balakrishnan vol. 1,
    ch. 21); the shape k is solved from cv numerically, then λ = mean / Γ(1+1/k).
    """

    family: ClassVar[str] = "weibull"
    shape: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "shape", weibull_shape(self.cv))

    @property
    def scale(self) -> float:
        """λ = mean / Γ(1 + 1/k)."""
        from scipy.special import gammaln  # imported here: start-up time, see test_startup.py

        return self.mean_time / math.exp(float(gammaln(1 + 1 / self.shape)))

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        return self.scale * rng.weibull(self.shape, size)


@dataclass(frozen=True)
class Pareto(Distribution):
    """Classic (type I) Pareto by mean and tail index α > 1: P(X > x) = (x_m / x)^α, x >= x_m.

    x_m = mean·(α-1)/α; variance = x_m²·α / ((α-1)²(α-2)) and SCV = 1 / (α(α-2)) for α > 2,
    infinite otherwise (Johnson, Kotz & Balakrishnan vol. 1, ch. 20).
    """

    family: ClassVar[str] = "pareto"
    mean_time: float
    alpha: float

    def __post_init__(self) -> None:
        alpha = at_least("'alpha'", self.alpha, 1.0, strict=True)
        check_parameters(self.family, positive("'mean'", self.mean_time) + alpha)

    @property
    def scale(self) -> float:
        """x_m, the smallest value."""
        return self.mean_time * (self.alpha - 1) / self.alpha

    @property
    def mean(self) -> float:
        return self.mean_time

    @property
    def variance(self) -> float:
        return self.scv * self.mean_time**2

    @property
    def scv(self) -> float:
        return 1 / (self.alpha * (self.alpha - 2)) if self.alpha > 2 else math.inf

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        # numpy's pareto is the Lomax (Pareto II) law; 1 + Lomax is classic Pareto with x_m = 1.
        return self.scale * (1.0 + rng.pareto(self.alpha, size))

    def to_spec(self) -> dict[str, Any]:
        return {self.family: {"mean": self.mean_time, "alpha": self.alpha}}


@dataclass(frozen=True)
class Hyperexponential(_ByMeanAndCv):
    """Two-phase hyperexponential H2 with balanced means, fitted to mean and cv >= 1.

    Phase i is taken with probability p_i and is exponential with rate 2·p_i/mean, so that
    p_1/rate_1 = p_2/rate_2; p_1 = (1 + sqrt((cv²-1)/(cv²+1))) / 2 (the balanced-means
    two-moment fit, Whitt 1982, "Approximating a point process by a renewal process").
    cv = 1 gives the exponential law.
    """

    family: ClassVar[str] = "hyperexponential"

    def _problems(self) -> list[str]:
        cv = at_least("'cv'", self.cv, 1.0, strict=False)
        return positive("'mean'", self.mean_time) + cv

    @property
    def probabilities(self) -> tuple[float, float]:
        """(p_1, p_2); p_2 = (1 - r)/2 computed as 1 / ((cv²+1)(1+r)) to avoid cancellation."""
        ratio = math.sqrt((self.cv**2 - 1) / (self.cv**2 + 1))
        second = 1 / ((self.cv**2 + 1) * (1 + ratio))
        return 1 - second, second

    @property
    def phase_means(self) -> tuple[float, float]:
        """Mean of each phase, mean / (2·p_i)."""
        first, second = self.probabilities
        return self.mean_time / (2 * first), self.mean_time / (2 * second)

    @property
    def third_moment(self) -> float | None:
        """E[X³] = 6 (p_1 m_1³ + p_2 m_2³), m_i the phase means."""
        (first, second), (mean_1, mean_2) = self.probabilities, self.phase_means
        return 6.0 * (first * mean_1**3 + second * mean_2**3)

    def laplace(self, s: float) -> float | None:
        """sum of p_i / (1 + s m_i) over the two phases (means m_i)."""
        return math.fsum(
            p / (1.0 + s * m) for p, m in zip(self.probabilities, self.phase_means, strict=True)
        )

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        import numpy as np  # imported here: start-up time, see tests/unit/test_startup.py

        first_probability = self.probabilities[0]
        first_mean, second_mean = self.phase_means
        in_first = rng.random(size) < first_probability
        return rng.standard_exponential(size) * np.where(in_first, first_mean, second_mean)
