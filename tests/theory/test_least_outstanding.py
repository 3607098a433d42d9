"""Replicas under `balancing: least_outstanding` (join the shortest queue), against the
simulator (`models.analysis.least_outstanding`, `models.theory.shortest_queue`).

1. Three replicas of one exponential worker (10 ms) at 60%, Poisson arrivals: the
   join-the-shortest-queue chain, solved as a quasi-birth-death process (Latouche &
   Ramaswami 1999): W = 4.177 ms, where the one pool of 3 servers (Erlang C), what the
   analysis used before, says 2.956 ms (-29%). Exact but for the spread it follows (8 above
   the shortest replica: 6e-6 of the wait), so no slack.
2. Three replicas of one worker held 4 ms and through a call to a database of 2 workers
   (3 ms), at 72%: the flow-equivalent server of the one pool, its wait scaled by the
   chain's ratio at the same load. An approximation (the holding time is not exponential,
   the database's waits are the other replicas'): `SLACK` beyond the simulation's interval.

Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20 replications (false-alarm
rate 1e-4 per check), each check's expected half-width under 6% of theory (power).
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario

pytestmark = pytest.mark.theory

SLACK = 0.06
"""The band beyond the simulation's interval for the replicas over a database: measured
+1.5% (4.425 ms predicted, 4.360 ms simulated, 4.269-4.450, 6 replications of 300 s)."""


def _scenario(operation: list[dict[str, Any]], rate: float, database: bool) -> dict[str, Any]:
    services: dict[str, Any] = {
        "api": {
            "workers": 1,
            "replicas": 3,
            "balancing": "least_outstanding",
            "operations": {"op": operation},
        }
    }
    if database:
        services["db"] = {"workers": 2, "operations": {"q": [{"work": {"exponential": 0.003}}]}}
    return {
        "name": "least-outstanding",
        "simulation": {"duration": 60, "warmup": 5, "replications": 20},
        "services": services,
        "workload": {"users": {"entry": "api.op", "arrivals": {"poisson": rate}}},
    }


def test_one_worker_replicas_join_the_shortest_queue(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    """The chain's wait and probability of waiting (the one pool's are 29% and 7% lower)."""
    document = _scenario([{"work": {"exponential": 0.01}}], 180.0, database=False)
    api = analyze(load_scenario(document), capacity=False).services["api"]
    assert api.method.startswith("join the shortest queue")
    assert api.waiting_time is not None and api.waiting_time.mean is not None
    assert api.p_wait is not None
    runs = replications_of(document)
    waits = stat(runs, "services", "api", "waiting_time", "mean")
    agrees(waits, api.waiting_time.mean, "api W (join the shortest queue, 3 x M/M/1)")
    agrees(stat(runs, "services", "api", "p_wait"), api.p_wait, "api P(wait)")


def test_replicas_over_a_database_scaled_by_the_chain(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    """The flow-equivalent server's wait times the chain's ratio, within `SLACK` (the one
    pool said 3.47 ms, 20% under)."""
    operation = [{"work": {"exponential": 0.004}}, {"call": "db.q"}]
    document = _scenario(operation, 300.0, database=True)
    api = analyze(load_scenario(document), capacity=False).services["api"]
    assert "join the shortest queue" in api.method
    assert api.waiting_time is not None and api.waiting_time.mean is not None
    runs = replications_of(document)
    waits = stat(runs, "services", "api", "waiting_time", "mean")
    agrees(waits, api.waiting_time.mean, "api W (replicas over a database)", slack=SLACK)
