"""An async-I/O service (`blocking_calls: false`) whose replicas round robin deals requests
to, against the simulator (`models.analysis.smooth_arrivals.reacquired_in_turn`).

2 replicas of 2 workers, 400 requests/s: each request holds a worker for 6 ms
(exponential), gives it back while a store of unlimited workers reads for 1 ms, and queues
for one again to work 1 ms (exponential) more. Each replica acquires its workers 400 times
a second (70% busy), half of them fresh requests dealt in turn (every 2nd of a Poisson
stream: Erlang-2), half returning after a reply. Allen-Cunneen at the dealt stream's SCV
1/2 (what the analysis said before) misses the evenness of the fresh arrivals, as it misses
E_2/M/c; the Poisson prediction scaled by E_2/M/2's wait over M/M/2's keeps it.

Measured: 3.35 ms predicted, 3.17 ms (3.09-3.25) simulated in 5 x 120 s, where
Allen-Cunneen at SCV 1/2 said 4.24 ms (+34%); at three seed shifts: see `SLACK`.

Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20 replications of 60 s
(after 2 s: the pools relax in milliseconds; false-alarm rate 1e-4 per check), each check's
expected half-width under 6% of theory (power), plus `SLACK` for the approximation.
"""

from __future__ import annotations

from typing import Any

import pytest

import models.theory as theory
from models import analyze, load_scenario

pytestmark = pytest.mark.theory

USERS = 400.0
SLACK = 0.10
"""Measured: the prediction +5.6% over the simulation in 5 x 120 s; +6.3%, +5.9% and +7.9%
in 20 x 60 s at seed shifts 0, 1000 and 2000."""


def _async_replicas(duration: float) -> dict[str, Any]:
    return {
        "name": "async-round-robin",
        "simulation": {"duration": duration, "warmup": 2, "replications": 20},
        "services": {
            "api": {
                "workers": 2,
                "replicas": 2,
                "balancing": "round_robin",
                "blocking_calls": False,
                "operations": {
                    "get": [
                        {"work": {"exponential": 0.006}},
                        {"call": "store"},
                        {"work": {"exponential": 0.001}},
                    ]
                },
            },
            "store": {
                "workers": "unlimited",
                "operations": {"read": [{"work": {"exponential": 0.001}}]},
            },
        },
        "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": USERS}}},
    }


def _allen_cunneen_dealt() -> float:
    """Allen-Cunneen at a replica with arrivals of SCV 1/2, (ca² + cs²)/2 of M/M/2's wait:
    its 400 acquisitions a second hold 6 or 1 ms (exponential), half and half: mean 3.5
    ms, SCV (37 - 3.5²) / 3.5²."""
    mean, second = 0.0035, (2 * 0.006**2 + 2 * 0.001**2) / 2
    service_scv = second / mean**2 - 1.0
    mmc = theory.mmc(USERS, 1.0 / mean, 2).mean_waiting_time
    return mmc * (0.5 + service_scv) / 2


def test_async_replicas_dealt_in_turn_wait_as_smooth_arrivals(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    """The api's wait is within `SLACK` of the
    simulation beyond its interval, and Allen-Cunneen at the dealt SCV is told apart."""
    document = _async_replicas(60)
    api = analyze(load_scenario(document), capacity=False).services["api"]
    assert "dealt in turn" in api.method
    wait = api.waiting_time.mean
    assert wait is not None
    before = _allen_cunneen_dealt()
    assert before == pytest.approx(0.004238, rel=1e-3)  # (the analysis before, 4.24 ms)
    runs = replications_of(document)
    waits = stat(runs, "services", "api", "waiting_time", "mean")
    agreement = agrees(waits, wait, "api W (async, round robin)", slack=SLACK)
    assert abs(before - agreement.mean) > agreement.tolerance
