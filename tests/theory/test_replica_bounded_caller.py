"""A database of two replicas picked at random, shared by a bounded caller and open reads,
against the simulator.

Each replica takes half of every caller's writes, but any one of them may hold all of a
bounded caller's requests in flight; so each is a two-class station whose bounded class
has the caller's whole population at half its rate (`LoadBuilder._replica_caller`). Open
formulas took the caller's writes as Poisson arrivals (fuzz seed 2814 at 95%: one log
consumer bringing 91% of two random replicas of one worker, 35% busy, waited 1.94 ms
there by P-K for 0.28 ms simulated, and the consumer 149 ms for 22.7 ms; now 0.23 ms and
15.2 ms).

- Two consumers of a log topic (1 ms of work, one write of 7 ms) bringing 35% of the
  writes, each replica 80% busy: the database's wait 16.5 ms predicted, 17.6 ms simulated
  (6 replications of 400 s: +- 0.35 ms), 28.0 ms by the open formula before; the reads'
  response 25.8 ms, 26.6 ms simulated (35.0 ms before).
- A pool of 4 threads (4 ms of work, one write) fed by open arrivals, bringing half the
  writes: the mixed product form over its queue, the holds at the other replica counted
  as time away (`Feeder.at_replica`): 19.6 ms predicted, 19.2 ms simulated (+- 0.36 ms),
  25.4 ms before (with the pool taken as saturated); the reads 28.3 ms, 28.0 ms
  simulated (32.4 ms before). The two-class chain there said 15.9 ms, and the product
  form with the other replica's responses (its waits too) as time away 17.6 ms.

About 40 s of CPU. Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20
replications (a false-alarm rate of 1e-4 per check), plus `SLACK`, each check's expected
half-width under `POWER` of the prediction.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.theory.pool_scenarios import (
    check_database_and_reads,
    log_consumers,
    random_replica_database,
    writing_pool,
)

pytestmark = pytest.mark.theory

SLACK = 0.12
"""The models' bias beyond the simulation's interval, as measured above: the database
-5.8% (the chain's sources think exponential times) and +2.3%, the reads -3.0% and +1.0%.
The open formula's +60% and +32% are beyond the tolerance: they fail."""
POWER = 0.06
"""Largest expected half-width allowed, relative to the prediction."""
SIMULATION = {"duration": 300, "warmup": 20, "replications": 20}


def _log_consumers() -> dict[str, Any]:
    """Two consumers of a log topic of 4 partitions, 35% of the writes."""
    return log_consumers(random_replica_database({}, 0.35, SIMULATION), 2)


def _pool() -> dict[str, Any]:
    """A pool of 4 threads fed by open arrivals, half the writes."""
    return random_replica_database(writing_pool(4), 0.5, SIMULATION)


@pytest.mark.parametrize(
    ("document", "model"),
    [
        (_log_consumers(), "open and finite-source classes (CTMC) (consumers of orders:"),
        (_pool(), "open class and a thread pool's own queue (mixed product form) (service api:"),
    ],
    ids=["log-consumers", "thread-pool"],
)
def test_a_bounded_caller_and_open_reads_share_random_replicas(
    agrees: Any, replications_of: Any, stat: Any, document: dict[str, Any], model: str
) -> None:
    """The database's mean wait (both classes) and the open reads' response there."""
    check_database_and_reads(document, model, SLACK, (agrees, replications_of, stat), POWER)
