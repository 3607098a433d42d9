"""`models.analysis.layers.own_server_pacing`: how often a pool's threads queue at a
one-server callee of their own, and how regularly they leave it.

The chance is that of the closed subnetwork's product form, checked here against its
stationary distribution summed state by state: a delay of mean Z (an infinite server) and
one server of demand D per request hold N requests with weights Z^(N - j) / (N - j)! D^j
for j at the server (Buzen; Lazowska et al. 1984, sec. 8.4).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.analysis.graph import StationId
from models.analysis.layers import Callee, flow_equivalent, mixed_log_weights

DB = StationId("service", "db")


def _queued_by_states(threads: int, delay: float, demand: float) -> float:
    """P(two or more requests at the server) with `threads` in the subnetwork, summed."""
    weights = [
        delay ** (threads - j) / math.factorial(threads - j) * demand**j for j in range(threads + 1)
    ]
    return sum(weights[2:]) / sum(weights)


@pytest.mark.parametrize(
    ("threads", "delay", "holding", "visits"),
    [(2, 0.005, 0.010, 1), (3, 0.00395, 0.00762, 2), (4, 0.020, 0.010, 1), (8, 0.020, 0.003, 1)],
)
def test_the_threads_queue_at_the_server_as_the_product_form_says(
    threads: int, delay: float, holding: float, visits: int
) -> None:
    callee = Callee(DB, float(visits), holding, 1, 0.0, scv=1.0)
    layer = flow_equivalent(1.0, threads, delay, [callee])
    assert layer is not None and layer.paced is not None
    expected = _queued_by_states(threads, delay, visits * holding)
    assert layer.paced.queued == pytest.approx(expected, rel=1e-9)
    assert layer.paced.scv == pytest.approx(1.0 / visits)


def test_a_request_s_calls_there_add_their_service_times() -> None:
    """Two calls of SCV 0.25 each: one request's service there has SCV 0.125."""
    callee = Callee(DB, 2.0, 0.00762, 1, 0.0, scv=0.25)
    layer = flow_equivalent(40.0, 3, 0.00395, [callee])
    assert layer is not None and layer.paced is not None
    assert layer.paced.scv == pytest.approx(0.125)


def test_one_worker_never_queues_behind_its_own() -> None:
    """One thread is an M/G/1 queue of its holding time: no pacing to take."""
    layer = flow_equivalent(40.0, 1, 0.005, [Callee(DB, 1.0, 0.010, 1, 0.0)])
    assert layer is not None and layer.paced is None


@pytest.mark.parametrize(("threads", "background"), [(3, 0.3), (4, 0.05), (2, 0.6)])
def test_others_at_the_server_slow_it_and_the_threads_queue_as_the_mixed_form_says(
    threads: int, background: float
) -> None:
    """With the others' Erlangs a there (an open class), the server's weights are those of
    the mixed product form (`layers.mixed_log_weights`), summed state by state: the
    threads still queue at it and leave at its pace (a pool of 4 threads bringing 95% of
    a database at 80%: its wait 14.0 ms without the pacing, 18.7 ms with it, 19.4 ms
    simulated; `tests/theory/test_pool_fed.py`)."""
    delay, demand = 0.005, 0.010
    station = np.exp(mixed_log_weights(demand, 1, background, threads))
    away = np.array(
        [delay ** (threads - j) / math.factorial(threads - j) for j in range(threads + 1)]
    )
    weights = station * away
    expected = float(weights[2:].sum() / weights.sum())
    layer = flow_equivalent(1.0, threads, delay, [Callee(DB, 1.0, demand, 1, background)])
    assert layer is not None and layer.paced is not None
    assert layer.paced.queued == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "callee",
    [
        Callee(DB, 1.0, 0.010, 2, 0.0),  # two servers
        Callee(DB, 0.5, 0.010, 1, 0.0),  # called one time in two
        Callee(DB, 1.5, 0.010, 1, 0.0),  # a number of calls that varies
        Callee(DB, 1.0, 0.010, 1, 0.0, completion_rates=(50.0, 80.0)),  # a pool below
    ],
)
def test_only_a_one_server_callee_called_a_whole_number_of_times_paces(
    callee: Callee,
) -> None:
    layer = flow_equivalent(40.0, 3, 0.005, [callee])
    assert layer is not None and layer.paced is None


def test_the_pace_is_the_callee_that_limits_the_pool() -> None:
    """A one-server cache of 1 ms beside a database of two servers of 15 ms: the database
    limits the pool (7.5 ms a server against 1 ms), and it has two servers: no pacing."""
    cache = Callee(StationId("service", "cache"), 1.0, 0.001, 1, 0.0)
    database = Callee(DB, 1.0, 0.015, 2, 0.0)
    layer = flow_equivalent(40.0, 4, 0.005, [cache, database])
    assert layer is not None and layer.paced is None
