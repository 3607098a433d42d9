"""A thread pool that one request reaches twice, behind a caller of one worker, against
the simulator (`models.analysis.few_present`).

`front` (one worker, 5 ms) calls `pool` (one worker: 2 ms and a read of a two-worker
database) directly and, in a `parallel` branch, through `relay` (3 ms): at most 2 of its
requests are ever at `pool`, so at most one waits. The flow-equivalent server's Poisson
arrivals let a queue build there that the caller cannot form: at 40 requests a second
(6 replications of 400 s) `pool` waited 4.31 ms predicted, 1.88 ms simulated, and
`front`'s one worker, holding through it, 41.4 ms for 25.4 ms, the flow 63.2 ms for
43.1 ms. With the open model's finite source (M/M/1//2) `pool` waits 1.19 ms (the pair
of one request collides more often than two independent sources would), `front` 26.4
ms and the flow 43.4 ms. At 30 a second: the flow +7.8% before, -8% now; fuzz seed 2715
at 80%: +83%, now +6%.

About 10 s of CPU. Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20
replications (a false-alarm rate of 1e-4 per check), plus `SLACK`, each check's expected
half-width under `POWER` of the prediction.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from tests.theory.pool_scenarios import pool_reached_twice

pytestmark = pytest.mark.theory

SLACK = 0.10
"""The model's bias beyond the simulation's interval, as measured above: the flow +0.7%,
`front`'s wait +4%. The flow-equivalent server's +46% and +63% are beyond it: they fail."""
POWER = 0.06
"""Largest expected half-width allowed, relative to the prediction."""


def test_a_pool_reached_twice_by_one_request_waits_as_a_finite_source(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    """The flow's response and `front`'s wait (its one worker held through `pool`)."""
    document = pool_reached_twice({"duration": 300, "warmup": 20, "replications": 20})
    predicted = analyze(load_scenario(document), capacity=False)
    pool = predicted.services["pool"]
    assert "waiting of the finite source (at most 2 present)" in pool.method, pool.method
    response = predicted.flows["users"].response_time.mean
    wait = predicted.services["front"].waiting_time.mean
    assert response is not None and wait is not None
    runs = replications_of(document)
    responses = stat(runs, "flows", "users", "response_time", "mean")
    agrees(responses, response, "users R", slack=SLACK, max_relative_half_width=POWER)
    waits = stat(runs, "services", "front", "waiting_time", "mean")
    agrees(waits, wait, "front W", slack=SLACK, max_relative_half_width=POWER)
