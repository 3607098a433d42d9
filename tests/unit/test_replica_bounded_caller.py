"""A bounded caller at replicas picked at random (`LoadBuilder._replica_caller`): each
replica takes its share of the caller's calls, with the caller's whole population, apart
from the open arrivals (the two-class chain, or the mixed product form over a pool's own
queue seeing the other replicas as time away, `pool_fed.Feeder.at_replica`)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.pool_fed import METHOD, Feeder
from tests.theory.pool_scenarios import (
    DATABASE_WRITE,
    log_consumers,
    random_replica_database,
    writing_pool,
)


def _database(caller: dict[str, Any], balancing: str = "random") -> dict[str, Any]:
    """`caller`'s pool (4 ms of work, one write) and open reads sharing a database of two
    replicas of one server, each 80% busy, the caller bringing half of the writes."""
    api = {**caller, **{k: v for k, v in writing_pool(1).items() if k == "operations"}}
    return random_replica_database(api, 0.5, {"duration": 100}, balancing)


def test_a_replica_sees_a_share_of_the_calls_and_the_others_holds_as_time_away() -> None:
    """Two replicas: half the calls come to each, and the other half's holds (4 ms each, at
    the other replica) are time away from it; one replica is the whole station."""
    whole = Feeder(requests=50.0, visits=2.0, away=0.010)
    half = whole.at_replica(0.5, 0.004)
    assert (half.requests, half.visits) == (50.0, 1.0)
    assert math.isclose(half.away, 0.010 + 1.0 * 0.004)
    assert whole.at_replica(1.0, 0.004) == whole


def test_a_pool_at_random_replicas_is_the_product_form_over_its_queue() -> None:
    """A pool of 4 threads fed by open arrivals: each replica is the mixed product form,
    below the open formula's wait at the same load (its calls bounded by 4 there)."""
    predicted = analyze(load_scenario(_database({"workers": 4})), capacity=False)
    db = predicted.services["db"]
    assert db.method.startswith(f"{METHOD} (service api: at most 4 present)"), db.method
    assert db.waiting_time.mean is not None
    assert db.waiting_time.mean < 0.8 / 0.2 * DATABASE_WRITE  # M/M/1 at 80%: 28 ms


def test_log_consumers_at_random_replicas_are_the_chain_s_bounded_sources() -> None:
    """Two consumers of a log topic, one write in flight each, at most 2 at a replica."""
    document = log_consumers(_database({"workers": "unlimited"}), 2)
    predicted = analyze(load_scenario(document), capacity=False)
    db = predicted.services["db"]
    prefix = "open and finite-source classes (CTMC) (consumers of orders: at most 2 present)"
    assert db.method.startswith(prefix), db.method


@pytest.mark.parametrize("balancing", ["round_robin", "least_outstanding"])
def test_other_balancings_keep_their_models(balancing: str) -> None:
    """Round robin deals the calls in turn (its E_k stream, not split by caller), and
    least-outstanding replicas are one pool (the bounded caller of the pooled station)."""
    db = analyze(load_scenario(_database({"workers": 4}, balancing)), capacity=False)
    method = db.services["db"].method
    assert ("at most 4 present" in method) == (balancing == "least_outstanding"), method
