"""A thread pool whose threads queue at a one-server callee of their own
(`models.analysis.layers.own_server_pacing`), against the simulator.

The flow-equivalent server lets the pool's requests go, with every thread busy, as a
Poisson stream of rate X(c). Where the threads queue at one server that only they call,
they leave at its pace, one request's calls after another: as regular as the sum of its
calls' service times. Its wait is scaled by (1 + cs²) / 2 with that SCV for as often as the
threads queue there (P(n >= 2) = U(c) U(c - 1) of the closed subnetwork), and the open
model's population below, which counts the calls as Poisson at the server, gives way to it
as often.

- Three threads, 3.95 ms of exponential work and two calls to an exponential server of
  7.62 ms, at 52.4/s (80% of X(3) = 65.5/s): the threads queue there with probability
  0.97, one request's service there has SCV 1/2. The wait: 30.9 ms predicted; 40.5 ms
  before (the population below), 31.6 ms simulated (6 replications of 400 s: +- 2.2 ms).
- Two threads, 2 ms of exponential work and one call to an exponential server of 10 ms, at
  68.9/s (70% of X(2) = 98.4/s): probability 0.82, SCV 1. The wait: 16.5 ms predicted;
  12.5 ms before (the held time's SCV, 0.43), 17.1 ms simulated (+- 1.6 ms).

`bench/pool_contention.py` measures ten such shapes. About 14 s of CPU. Tolerance (`agrees`,
tests/theory/conftest.py): 4.90 SE over 20 replications (a false-alarm rate of 1e-4 per
check), plus `SLACK`, each check's expected half-width under `POWER` of the prediction.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario

pytestmark = pytest.mark.theory

SLACK = 0.06
"""The decomposition's bias beyond the simulation's interval: the simulated mean was -1.4%,
-1.0% and +0.6% of the prediction with three threads, +3.4%, -0.4% and +2.8% with two (seed
shifts 0, 1000 and 2000; half-widths 8-9%). The old model is 25% and 37% off the
simulation at shift 0, beyond tolerances of 17% and 14%: it fails both."""
POWER = 0.08
"""Largest expected half-width allowed, relative to the prediction: a pool's wait near its
capacity varies much from run to run."""


def _scenario(
    threads: int, own_work: float, service: float, calls: int, rate: float, duration: float
) -> dict[str, Any]:
    steps = [{"work": {"exponential": own_work}}] + [{"call": "db.read"}] * calls
    return {
        "name": "threads-queued-at-their-own-server",
        "simulation": {"duration": duration, "warmup": 20, "replications": 20},
        "services": {
            "app": {"workers": threads, "operations": {"get": steps}},
            "db": {"operations": {"read": [{"work": {"exponential": service}}]}},
        },
        "workload": {"users": {"entry": "app.get", "arrivals": {"poisson": rate}}},
    }


@pytest.mark.parametrize(
    ("threads", "own_work", "service", "calls", "rate", "duration"),
    [(3, 0.00395, 0.00762, 2, 52.4, 500.0), (2, 0.002, 0.010, 1, 68.9, 350.0)],
    ids=["three-threads-two-calls", "two-threads-one-call"],
)
def test_threads_queued_at_their_own_server_leave_at_its_pace(
    agrees: Any,
    replications_of: Any,
    stat: Any,
    threads: int,
    own_work: float,
    service: float,
    calls: int,
    rate: float,
    duration: float,
) -> None:
    document = _scenario(threads, own_work, service, calls, rate, duration)
    predicted = analyze(load_scenario(document), capacity=False).services["app"]
    assert predicted.method.startswith("flow-equivalent server")
    wait = predicted.waiting_time.mean
    assert wait is not None
    waits = stat(replications_of(document), "services", "app", "waiting_time", "mean")
    agrees(waits, wait, "app W", slack=SLACK, max_relative_half_width=POWER)
