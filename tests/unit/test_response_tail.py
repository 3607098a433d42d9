"""A callee's response time against a timeout from the laws of its wait and work
(`models.analysis.response_tail`), against closed forms.

- M/M/1: the sojourn time is exponential with rate mu - lambda (Kleinrock, *Queueing
  Systems* vol. 1, 1975, eq. 3.21): P(R > T) = e^{-(mu - lambda) T} and
  E[R | R <= T] = (1/r - e^{-rT} (T + 1/r)) / (1 - e^{-rT}), r = mu - lambda.
- M/M/c: the wait is 0 with probability 1 - C (Erlang C) and else exponential with rate
  c mu - lambda (Kleinrock §3.5), so R is that plus the work, Exp(mu): a hypoexponential
  tail, P(E_a + E_b > T) = (b e^{-aT} - a e^{-bT}) / (b - a).
- A delay station (`workers: unlimited`): R is the work's own law.

The grids make these exact to about 1e-3 (relative, in tails of 1e-3 and more); the
tolerances below are that, not statistical.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from models import analyze, load_scenario
from models.analysis.calls import timed_out
from models.analysis.moments import Moments, truncated
from models.analysis.response_tail import ResponseLaw, work_cdf
from models.distributions import (
    Constant,
    Distribution,
    Erlang,
    Exponential,
    Gamma,
    Hyperexponential,
    Lognormal,
    Pareto,
    Uniform,
    Weibull,
)
from models.empirical import Empirical

GRID_TOLERANCE = 2e-3
"""Relative error the grids allow (module docstring)."""


def _erlang_c(servers: int, offered: float) -> float:
    """P(wait) of M/M/c with offered load a = lambda / mu (Erlang C)."""
    rho = offered / servers
    top = offered**servers / math.factorial(servers) / (1 - rho)
    return top / (sum(offered**k / math.factorial(k) for k in range(servers)) + top)


@pytest.mark.parametrize("limit", [0.01, 0.05, 0.1, 0.2])
def test_an_mm1_callee_answers_within_the_timeout_as_its_exponential_sojourn(
    limit: float,
) -> None:
    mu, lam = 100.0, 80.0
    work = Exponential(1 / mu)
    law = ResponseLaw(work, lam / mu, 1 / (mu - lam), 1, lam / mu, ((lam, work),))
    found = law.truncated(limit)
    assert found is not None
    late, below = found
    rate = mu - lam
    tail = math.exp(-rate * limit)
    mean_below = (1 / rate - tail * (limit + 1 / rate)) / (1 - tail)
    assert late == pytest.approx(tail, rel=GRID_TOLERANCE)
    assert below == pytest.approx(mean_below, rel=GRID_TOLERANCE)


@pytest.mark.parametrize("limit", [0.01, 0.03, 0.05])
def test_an_mmc_callee_waits_as_erlang_c_says(limit: float) -> None:
    servers, mu, lam = 3, 100.0, 240.0
    waits = _erlang_c(servers, lam / mu)
    rate = servers * mu - lam
    work = Exponential(1 / mu)
    law = ResponseLaw(work, waits, 1 / rate, servers, lam / (servers * mu), ((lam, work),))
    found = law.truncated(limit)
    assert found is not None
    hypoexponential = (mu * math.exp(-rate * limit) - rate * math.exp(-mu * limit)) / (mu - rate)
    tail = (1 - waits) * math.exp(-mu * limit) + waits * hypoexponential
    assert found[0] == pytest.approx(tail, rel=GRID_TOLERANCE)


LAWS: list[tuple[Distribution, Any]] = [
    (Exponential(0.01), stats.expon(scale=0.01)),
    (Erlang(3, 0.01), stats.gamma(3, scale=0.01 / 3)),
    (Gamma(0.01, 0.5), stats.gamma(4.0, scale=0.01 / 4)),
    (Lognormal.from_mean_cv(0.01, 2.0), None),
    (Weibull(0.01, 1.5), None),
    (Pareto(0.01, 2.5), stats.pareto(2.5, scale=0.01 * 1.5 / 2.5)),
    (Uniform(0.002, 0.02), stats.uniform(0.002, 0.018)),
    (Hyperexponential(0.01, 3.0), None),
]


@pytest.mark.parametrize("law", [law for law, _ in LAWS], ids=lambda law: law.family)
def test_each_work_law_has_its_distribution_function(law: Distribution) -> None:
    """Against scipy.stats where the parameters map directly, else against the law's own
    parameters' textbook forms; and for every law the sample's empirical distribution."""
    times = np.array([0.0, 0.001, 0.005, 0.01, 0.03, 0.1])
    cdf = work_cdf(law, times)
    assert cdf is not None
    reference = dict(LAWS)[law]
    if isinstance(law, Lognormal):
        reference = stats.lognorm(law.sigma, scale=math.exp(law.mu))
    if isinstance(law, Weibull):
        reference = stats.weibull_min(law.shape, scale=law.scale)
    if reference is not None:
        np.testing.assert_allclose(cdf, reference.cdf(times), rtol=1e-9, atol=1e-12)
    sample = law.sample(np.random.default_rng(5), 200_000)
    empirical = np.searchsorted(np.sort(sample), times, side="right") / sample.size
    np.testing.assert_allclose(cdf, empirical, atol=0.005)  # (DKW: 5e-3 at 1 - 1e-4)


def test_an_empirical_work_has_the_steps_of_its_values() -> None:
    law = Empirical((0.004, 0.001, 0.002, 0.002))
    cdf = work_cdf(law, np.array([0.0, 0.001, 0.0015, 0.002, 0.0039, 0.004, 0.01]))
    assert cdf is not None
    assert cdf.tolist() == [0.0, 0.25, 0.25, 0.75, 0.75, 1.0, 1.0]


def test_a_constant_work_has_a_step() -> None:
    cdf = work_cdf(Constant(0.01), np.array([0.0, 0.0099, 0.01, 0.02]))
    assert cdf is not None
    assert cdf.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_a_timeout_too_far_out_for_the_waits_grid_keeps_the_gamma_fit() -> None:
    work = Lognormal.from_mean_cv(0.01, 2.0)
    law = ResponseLaw(work, 0.46, 0.027, 2, 0.6, ((1.0, work),))
    assert law.truncated(10.0) is None  # (10 s: 18,500 steps of the wait's grid, 8,192 at most)
    response = Moments(0.0225, 0.0009)
    assert timed_out(response, 10.0, law) == truncated(response, 10.0)
    assert law.truncated(0.15) is not None


def test_extreme_inputs_keep_the_gamma_fit_or_a_sound_answer() -> None:
    """What a fuzzed scenario can ask: a timeout a million responses out, a pool whose
    wait's scale is absurd, work of infinite variance (Pareto, alpha <= 2)."""
    work = Lognormal.from_mean_cv(0.01, 2.0)
    assert ResponseLaw(work).truncated(1e300) is None
    assert ResponseLaw(work, 0.5, 1e-300, 10**6, 0.5, ((1.0, work),)).truncated(1.0) is None
    heavy = Pareto(0.01, 1.5)
    assert ResponseLaw(heavy, 0.5, 0.01, 1, 0.5, ((1.0, heavy),)).truncated(1.0) is None
    late, below = ResponseLaw(work).truncated(1000.0) or (math.nan, math.nan)
    assert late == 0.0 and below == pytest.approx(0.01, rel=GRID_TOLERANCE)


def _external_api(timeout: str, retries: int) -> dict[str, Any]:
    return {
        "name": "external-api",
        "simulation": {"duration": 60},
        "services": {
            "gateway": {
                "workers": "unlimited",
                "operations": {
                    "checkout": [
                        {"call": {"service": "payments", "timeout": timeout, "retries": retries}}
                    ]
                },
            },
            "payments": {
                "workers": "unlimited",
                "operations": {"charge": [{"delay": {"lognormal": {"mean": "400ms", "cv": 0.5}}}]},
            },
        },
        "workload": {"buyers": {"entry": "gateway.checkout", "arrivals": {"poisson": 20}}},
    }


@pytest.mark.parametrize(("timeout", "seconds"), [("150ms", 0.15), ("600ms", 0.6)])
def test_an_external_api_times_out_as_its_delay_law_says(timeout: str, seconds: float) -> None:
    """A call to a delay station with a timeout and a retry: each attempt times out with
    the delay's own P(D > T), the call fails with its square (two independent attempts),
    and the flow's throughput is the arrivals that succeed."""
    delay = Lognormal.from_mean_cv(0.4, 0.5)
    late = float(stats.lognorm(delay.sigma, scale=math.exp(delay.mu)).sf(seconds))
    prediction = analyze(load_scenario(_external_api(timeout, retries=1)))
    flow = prediction.flows["buyers"]
    assert flow.throughput == pytest.approx(20.0 * (1.0 - late**2), rel=1e-9)
