"""A thread pool over a callee of replicas picked at random (`layers.Callee.copies`,
`pools._layered`): each replica a station of the flow-equivalent server's subnetwork,
`visits` / `copies` calls a request to each (probabilistic routing: product form)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.graph import StationId
from models.analysis.layers import METHOD, Callee, flow_equivalent
from tests.theory.pool_scenarios import random_replica_database, writing_pool

DB = StationId("service", "db")


@pytest.mark.parametrize(("threads", "background"), [(1, 0.0), (4, 0.0), (4, 0.3), (8, 0.6)])
def test_copies_are_the_same_subnetwork_as_stations_listed_one_by_one(
    threads: int, background: float
) -> None:
    """Three copies of a two-server callee, 1.5 calls a request in all, are three stations
    of 0.5 calls each: the same X(k) and pool, and each copy's wait is each station's."""
    copies = Callee(DB, 1.5, 0.004, 2, background, copies=3)
    apart = [Callee(StationId("service", f"db{i}"), 0.5, 0.004, 2, background) for i in range(3)]
    together = flow_equivalent(150.0, threads, 0.003, [copies])
    listed = flow_equivalent(150.0, threads, 0.003, apart)
    assert together is not None and listed is not None
    assert together.completion_rates == pytest.approx(listed.completion_rates, rel=1e-12)
    assert together.waiting == pytest.approx(listed.waiting, rel=1e-12, abs=1e-15)
    first = listed.callee_waiting[StationId("service", "db0")]
    assert together.callee_waiting[DB] == pytest.approx(first, rel=1e-12, abs=1e-15)


def test_one_thread_completes_one_request_per_holding_time_whatever_the_copies() -> None:
    """X(1) = 1 / (delay + visits x holding): a lone request never waits at any replica."""
    for copies in (1, 2, 5):
        layer = flow_equivalent(50.0, 1, 0.003, [Callee(DB, 2.0, 0.004, 1, 0.0, copies=copies)])
        assert layer is not None
        assert math.isclose(layer.completion_rates[0], 1.0 / (0.003 + 2.0 * 0.004))


def _pool_over_replicas(workers: int, replicas: int) -> dict[str, Any]:
    """A pool (4 ms of work, one write) over two random replicas of a one-server database
    that open reads share, each replica 80% busy."""
    return random_replica_database(writing_pool(workers, replicas), 0.5, {"duration": 100})


def test_a_pool_of_one_replica_is_layered_over_random_replicas_not_replicas_of_its_own() -> None:
    """One pool of 4 threads: the flow-equivalent server over the two replicas. Two pools
    of 2 (the caller's replicas, each taking the other's calls for an open class at every
    replica, waited longer than the open model says: fuzz seed 1476): the open model."""
    one = analyze(load_scenario(_pool_over_replicas(4, 1)), capacity=False)
    assert one.services["api"].method == METHOD
    two = analyze(load_scenario(_pool_over_replicas(2, 2)), capacity=False)
    assert not two.services["api"].method.startswith(METHOD), two.services["api"].method
