"""GI/M/c from the interarrival transform (`models.theory.gi_m_c`, `d_m_c`)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.distributions import (
    Constant,
    Distribution,
    Erlang,
    Exponential,
    Gamma,
    Hyperexponential,
    Lognormal,
    Uniform,
)
from models.theory import d_m_c, gi_m1_erlang_arrivals, gi_m_c, mmc
from models.theory.renewal_arrivals import LARGEST_POOL


@pytest.mark.parametrize(("load", "servers"), [(0.3, 1), (1.0, 2), (3.5, 4), (7.9, 8), (15, 16)])
def test_poisson_arrivals_are_erlang_c(load: float, servers: int) -> None:
    """With A*(s) = lambda / (lambda + s) the embedded chain is M/M/c's at arrivals."""
    station = gi_m_c(lambda s: load / (load + s), load, 1.0, servers)
    expected = mmc(load, 1.0, servers)
    assert math.isclose(station.mean_waiting_time, expected.mean_waiting_time, rel_tol=1e-8)
    assert math.isclose(station.p_wait, expected.p_wait, rel_tol=1e-8)


def test_one_server_is_gi_m_1() -> None:
    """c = 1: Wq = sigma / (mu (1 - sigma)), sigma = A*(mu (1 - sigma)): Erlang-2 arrivals
    against the E_k/M/1 formula, constant ones against the fixed point."""
    erlang = gi_m_c(lambda s: (2 * 0.7 / (2 * 0.7 + s)) ** 2, 0.7, 1.0, 1)
    expected = gi_m1_erlang_arrivals(0.7, 1.0, 2)
    assert math.isclose(erlang.mean_waiting_time, expected.mean_waiting_time, rel_tol=1e-9)
    sigma = 0.5
    for _ in range(500):
        sigma = math.exp(-(1.0 - sigma) / 0.7)
    constant = d_m_c(0.7, 1.0, 1)
    assert math.isclose(constant.p_wait, sigma, rel_tol=1e-9)
    assert math.isclose(constant.mean_waiting_time, sigma / (1.0 - sigma), rel_tol=1e-9)


def test_constant_arrivals_wait_less_than_poisson_ones() -> None:
    """At every load and pool size D/M/c waits less than M/M/c (a regular stream), and
    P(wait) stays within [0, 1]; next to saturation the wait grows without bound."""
    for servers in (1, 2, 4, 16):
        for rho in (0.1, 0.5, 0.9, 0.99):
            rate = rho * servers
            regular, poisson = d_m_c(rate, 1.0, servers), mmc(rate, 1.0, servers)
            assert 0.0 <= regular.p_wait <= 1.0
            assert regular.mean_waiting_time < poisson.mean_waiting_time
    near, half = d_m_c(0.999 * 4, 1.0, 4), d_m_c(0.5 * 4, 1.0, 4)
    assert near.mean_waiting_time > 100 * half.mean_waiting_time


def test_unstable_and_bad_arguments() -> None:
    assert not d_m_c(2.0, 1.0, 2).stable
    assert gi_m_c(lambda s: 1.0, 0.0, 1.0, 2).mean_waiting_time == 0.0
    with pytest.raises(ValueError, match="'servers' must be at most"):
        d_m_c(1.0, 1.0, LARGEST_POOL + 1)
    with pytest.raises(ValueError, match="'arrival_rate'"):
        d_m_c(0.0, 1.0, 2)


def _renewal_scenario(arrivals: dict[str, Any], other_flow: bool = False) -> dict[str, Any]:
    workload: dict[str, Any] = {"load": {"entry": "api.get", "arrivals": arrivals}}
    if other_flow:
        workload["more"] = {"entry": "api.get", "arrivals": {"poisson": 10}}
    return {
        "name": "renewal",
        "simulation": {"duration": 10},
        "services": {
            "api": {"workers": 2, "operations": {"get": [{"work": {"exponential": "1ms"}}]}}
        },
        "workload": workload,
    }


@pytest.mark.parametrize(
    ("arrivals", "method"),
    [
        ({"constant": 1500}, "D/M/2"),
        ({"interarrival": {"erlang": {"k": 3, "mean": "0.6667ms"}}}, "E_3/M/2"),
        ({"interarrival": {"gamma": {"mean": "0.6667ms", "cv": 0.5}}}, "GI/M/2"),
        ({"interarrival": {"hyperexponential": {"mean": "0.6667ms", "cv": 2}}}, "GI/M/2"),
        ({"interarrival": {"uniform": ["0.2ms", "1.1333ms"]}}, "GI/M/2"),
    ],
)
def test_the_analysis_solves_a_flows_renewal_arrivals_as_gi_m_c(
    arrivals: dict[str, Any], method: str
) -> None:
    """A flow's renewal arrivals, sent straight to its entry pool of exponential servers:
    GI/M/c with the law's transform, exact (gamma cv 0.5 simulated: 0.672 ms, 95% interval
    0.656-0.688, predicted 0.671; tests/theory/test_renewal_arrivals.py checks D/M/c and
    GI/M/c against the simulation)."""
    scenario = load_scenario(_renewal_scenario(arrivals))
    service = analyze(scenario).services["api"]
    assert (service.method, service.exact) == (method, True)
    flow = scenario.workload["load"].arrivals
    law = Constant(1 / 1500) if "constant" in arrivals else flow.interarrival  # type: ignore[union-attr]
    expected = gi_m_c(law.laplace, 1.0 / law.mean, 1000.0, 2)  # type: ignore[arg-type]
    assert service.waiting_time.mean is not None
    assert math.isclose(service.waiting_time.mean, expected.mean_waiting_time, rel_tol=1e-9)


def test_other_arrivals_keep_the_two_moment_formula() -> None:
    """No transform (lognormal gaps), or a second flow into the pool: Allen-Cunneen."""
    lognormal = {"interarrival": {"lognormal": {"mean": "0.6667ms", "cv": 0.5}}}
    alone = analyze(load_scenario(_renewal_scenario(lognormal))).services["api"]
    assert alone.method == "Allen-Cunneen G/G/c"
    shared = analyze(load_scenario(_renewal_scenario({"constant": 1500}, True))).services["api"]
    assert shared.method == "Allen-Cunneen G/G/c"


@pytest.mark.parametrize(
    "law",
    [
        Constant(0.5),
        Exponential(0.5),
        Uniform(0.1, 0.9),
        Erlang(3, 0.5),
        Gamma(0.5, 0.7),
        Gamma(0.5, 1.8),
        Hyperexponential(0.5, 2.0),
    ],
)
def test_laplace_transforms_give_the_laws_moments(law: Distribution) -> None:
    """L(0) = 1, -L'(0) = E[X], L''(0) = E[X²] (one-sided differences of second order on
    s >= 0, step 1e-4 of 1/mean), and L decreases."""
    step = 1e-4 / law.mean

    def at(s: float) -> float:
        value = law.laplace(s)
        assert value is not None
        return value

    assert at(0.0) == pytest.approx(1.0, abs=1e-12)
    values = [at(k * step) for k in range(4)]
    slope = (-3 * values[0] + 4 * values[1] - values[2]) / (2 * step)
    curvature = (2 * values[0] - 5 * values[1] + 4 * values[2] - values[3]) / step**2
    assert -slope == pytest.approx(law.mean, rel=1e-5)
    assert curvature == pytest.approx(law.variance + law.mean**2, rel=1e-4)
    assert at(1.0 / law.mean) < at(0.5 / law.mean) < 1.0


def test_a_law_without_a_closed_transform_says_so() -> None:
    assert Lognormal.from_mean_cv(0.5, 1.0).laplace(1.0) is None
