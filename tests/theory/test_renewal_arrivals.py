"""Renewal arrivals at exponential servers, against GI/M/c (`models.theory.gi_m_c`,
`d_m_c`) and `archsim analyze`.

A load generator that sends requests a constant time apart straight to a pool: `api` (2
workers, 1 ms exponential, 1,500/s: rho = 0.75) and `batch` (4 workers, 2 ms, 1,600/s:
rho = 0.8); and one whose gaps are gamma with cv 0.5: `jobs` (2 workers, 1 ms, 1,500/s).
GI/M/c is exact (the chain embedded at arrivals, geometric above c - 1: Gross & Harris
sec. 6.3); Allen-Cunneen with the arrivals' SCV, what the analysis said before, is far
above.

Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20 replications (false-alarm
rate 1e-4 per check), each check's expected half-width under 6% of theory (power).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import models.theory as theory
from models import analyze, load_scenario
from models.distributions import Constant, Distribution, Gamma

pytestmark = pytest.mark.theory

POOLS = {
    "api": (2, 0.001, 1500.0, 0.0),
    "batch": (4, 0.002, 1600.0, 0.0),
    "jobs": (2, 0.001, 1500.0, 0.5),
}
"""service: (workers, mean work, requests per second, cv of the gaps: 0 constant, else
gamma)."""


def _arrivals(rate: float, cv: float) -> dict[str, Any]:
    if cv == 0.0:
        return {"constant": rate}
    return {"interarrival": {"gamma": {"mean": 1.0 / rate, "cv": cv}}}


def _law(rate: float, cv: float) -> Distribution:
    return Constant(1.0 / rate) if cv == 0.0 else Gamma(1.0 / rate, cv)


def _scenario(duration: float) -> dict[str, Any]:
    return {
        "name": "constant-arrivals",
        "simulation": {"duration": duration, "warmup": 2, "replications": 20},
        "services": {
            name: {"workers": workers, "operations": {"go": [{"work": {"exponential": work}}]}}
            for name, (workers, work, _, _) in POOLS.items()
        },
        "workload": {
            f"to-{name}": {"entry": f"{name}.go", "arrivals": _arrivals(rate, cv)}
            for name, (_, _, rate, cv) in POOLS.items()
        },
    }


def test_renewal_arrivals_wait_as_gi_m_c(agrees: Any, replications_of: Any, stat: Any) -> None:
    """Each pool's mean wait and P(wait): GI/M/c; the analysis gives the same to 1e-9."""
    predicted = analyze(load_scenario(_scenario(duration=60)))
    expected = {}
    for name, (workers, work, rate, cv) in POOLS.items():
        law = _law(rate, cv)
        exact = theory.gi_m_c(lambda s, law=law: law.laplace(s) or 0.0, rate, 1.0 / work, workers)
        allen_cunneen = theory.gg_c_allen_cunneen(rate, work, workers, cv**2, 1.0)
        assert allen_cunneen.mean_waiting_time > 1.15 * exact.mean_waiting_time  # (told apart)
        service = predicted.services[name]
        kind = "D" if cv == 0.0 else "GI"
        assert (service.method, service.exact) == (f"{kind}/M/{workers}", True)
        assert service.waiting_time.mean is not None
        assert math.isclose(service.waiting_time.mean, exact.mean_waiting_time, rel_tol=1e-9)
        expected[name] = exact

    runs = replications_of(_scenario(duration=60))
    for name, exact in expected.items():
        waits = stat(runs, "services", name, "waiting_time", "mean")
        agrees(waits, exact.mean_waiting_time, f"{name} W (GI/M/c)")
        agrees(stat(runs, "services", name, "p_wait"), exact.p_wait, f"{name} P(wait)")
