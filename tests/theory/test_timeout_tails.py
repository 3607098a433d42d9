"""Timeouts behind heavy-tailed work (`models.analysis.response_tail`), against the
simulation.

One worker, lognormal work (mean 10 ms, cv 2) at 60% busy, a caller that gives up after
60 ms (six means of the work). The queue is M/G/1 whatever the timeouts do (the callee does
the work of an abandoned request anyway), and FCFS: a request's wait is independent of its
own work. So R = W + S with W the M/G/1 wait, by Pollaczek-Khinchine a geometric sum
(P(N = n) = (1 - rho) rho^n) of independent times of the work's equilibrium law
(Asmussen, *Applied Probability and Queues*, 2003, VIII.5): P(R > T) is exact up to the
grids (about 1e-3 relative: `tests/unit/test_response_tail.py`). The gamma fit of R's mean
and variance that the analysis used before, its wait 0 or exponential (`waiting_moments`),
says 26.96% against 22.52% from the laws, and is told apart.

Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20 replications (false-alarm
rate 1e-4 per check) plus 1% for the grids. A timeout is counted per replication as the
`calls` table's timeouts over its calls.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.moments import Moments, truncated, waiting_moments

pytestmark = pytest.mark.theory

RATE = 60.0
"""Calls per second: 60% of one worker's 100/s."""
TIMEOUT = 0.06
GRID_SLACK = 0.01


def _timed_call(duration: float) -> dict[str, Any]:
    return {
        "name": "timeout-tail",
        "simulation": {"duration": duration, "warmup": 5, "replications": 20},
        "services": {
            "api": {
                "workers": "unlimited",
                "operations": {"get": [{"call": {"service": "backend", "timeout": TIMEOUT}}]},
            },
            "backend": {
                "workers": 1,
                "operations": {"work": [{"work": {"lognormal": {"mean": 0.01, "cv": 2.0}}}]},
            },
        },
        "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": RATE}}},
    }


def _gamma_fitted_response() -> Moments:
    """R = W + S as the gamma fit saw it: E[W] = lambda E[S^2] / (2 (1 - rho))
    (Pollaczek-Khinchine), its variance that of a wait 0 with probability 1 - rho and
    exponential otherwise (`waiting_moments`)."""
    mean, scv = 0.01, 4.0
    rho = RATE * mean
    wait = RATE * mean**2 * (1 + scv) / (2 * (1 - rho))
    return Moments(wait + mean, waiting_moments(wait, rho).variance + scv * mean**2)


def test_calls_time_out_behind_heavy_tailed_work_as_the_mg1_wait_says(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    prediction = analyze(load_scenario(_timed_call(200.0)))
    throughput = prediction.flows["users"].throughput
    assert throughput is not None
    late = 1.0 - throughput / RATE
    gamma_late, _ = truncated(_gamma_fitted_response(), TIMEOUT)
    assert abs(gamma_late - late) > 0.1 * late  # (the gamma fit: told apart)

    runs = replications_of(_timed_call(200.0))
    edge = "api->backend.work"
    timeouts = stat(runs, "calls", edge, "failures", "timeout")
    calls = stat(runs, "calls", edge, "calls")
    fractions = [timed / made for timed, made in zip(timeouts, calls, strict=True)]
    agrees(fractions, late, "P(response > 60 ms), M/G/1 lognormal cv 2", slack=GRID_SLACK)
