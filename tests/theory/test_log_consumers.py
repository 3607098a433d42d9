"""A database shared by a log topic's consumers and an open flow, against the simulator.

A log topic's consumer takes its partitions' messages one at a time: it never has more
than one write at the database, and while it writes it sends nothing else. So its writes
are not Poisson arrivals there (Allen-Cunneen took them as such, and the M/M/1 of both
classes said 28.0 ms of waiting where a consumer bringing half the load sees 8.7 ms
simulated); the consumers are the two-class chain's bounded sources
(`models.analysis.mixed_source`, `bounds.CallerBounds._group`), one call in flight each,
beside the open reads.

- One consumer (4 partitions), 4 ms of exponential work and one write of 7 ms, bringing
  half of the database's 114.3/s (80% busy): its wait 8.56 ms predicted, 8.68 ms
  simulated (6 replications of 400 s: +- 0.14 ms); the reads' response 19.4 ms, 19.6 ms
  simulated (35.0 ms before).
- Two consumers (4 partitions), 7.5 ms of work, the same database and share: 12.3 ms
  predicted, 13.0 ms simulated (+- 0.3 ms; 28.0 ms before); the reads 22.4 ms, 23.1 ms.

- One consumer of each of two log topics beside the reads: one bounded class of both
  (`bounds._merged`), the database's wait 9.95 ms predicted, 10.8 ms simulated (15.0 ms
  with the second consumer's writes open, before).

Here (20 replications of 300 s, seed shifts 0, 1000 and 2000): the database's wait within
1.3-1.9% (one consumer), 4.7-5.3% (two) and 7.6-8.1% (two topics), the reads' response
within 0.7-3.4%. About 25 s of CPU. Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20
replications (a false-alarm rate of 1e-4 per check), plus `SLACK`, each check's expected
half-width under `POWER` of the prediction.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from tests.theory.pool_scenarios import check_database_and_reads

pytestmark = pytest.mark.theory

SLACK = 0.10
"""The chain's bias beyond the simulation's interval: its sources think exponential times
between writes, where a consumer's next write follows its next message and its own work
(-1.4%, -5.7% and -8% on these shapes, 6 replications of 400 s; the reads -0.6%, -2.8%
and -3%).
The open formulas are +223% and +115% there: beyond the tolerance, they fail."""
POWER = 0.06
"""Largest expected half-width allowed, relative to the prediction."""


def _scenario(consumers: int, own_work: float) -> dict[str, Any]:
    """`consumers` of a log topic of 4 partitions (`own_work` of exponential work, one
    write of 7 ms) bringing half of a one-server database's load, open reads the rest,
    at 80%."""
    arrivals = 0.8 / 0.007
    handle = [{"work": {"exponential": own_work}}, {"call": "db.write"}]
    return {
        "name": "log-consumers-and-open-flow-at-one-server",
        "simulation": {"duration": 300, "warmup": 20, "replications": 20},
        "services": {
            "api": {"workers": "unlimited", "operations": {"place": [{"publish": "orders"}]}},
            "indexer": {"workers": 1, "operations": {"handle": handle}},
            "db": {"workers": 1, "operations": {"write": [{"work": {"exponential": 0.007}}]}},
        },
        "topics": {
            "orders": {
                "type": "log",
                "partitions": 4,
                "subscribers": {"indexer": {"operation": "handle", "concurrency": consumers}},
            }
        },
        "workload": {
            "orders": {"entry": "api.place", "arrivals": {"poisson": 0.5 * arrivals}},
            "reads": {"entry": "db.write", "arrivals": {"poisson": 0.5 * arrivals}},
        },
    }


def _database_and_reads(
    document: dict[str, Any], callers: str, agrees: Any, replications_of: Any, stat: Any
) -> None:
    """The database's mean wait (both classes) and the open reads' response there, as the
    two-class chain with `callers` its bounded class predicts them, against the simulator."""
    method = f"open and finite-source classes (CTMC) ({callers}:"
    check_database_and_reads(document, method, SLACK, (agrees, replications_of, stat), POWER)


@pytest.mark.parametrize(
    ("consumers", "own_work"), [(1, 0.004), (2, 0.0075)], ids=["one-consumer", "two-consumers"]
)
def test_a_log_topic_s_consumers_and_an_open_flow_share_one_server(
    agrees: Any, replications_of: Any, stat: Any, consumers: int, own_work: float
) -> None:
    """The database's mean wait (both classes), and the open reads' response there."""
    document = _scenario(consumers, own_work)
    _database_and_reads(document, "consumers of orders", agrees, replications_of, stat)


def test_two_log_topics_consumers_and_an_open_flow_share_one_server(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    """One consumer of each of two log topics (4 ms of work, one write of 7 ms), each
    bringing 30% of the database's 114.3/s, open reads the rest, at 80%: both consumers
    are the chain's bounded class together (`bounds._merged`), at most 2 writes there.
    The database's wait 9.95 ms predicted, 10.8 ms simulated (6 replications of 400 s);
    with the second consumer's writes open (before), 15.0 ms, and that consumer waited
    1.1 s predicted for 40 ms simulated: beyond the tolerance, it fails."""
    document = _scenario(1, 0.004)
    arrivals = 0.8 / 0.007
    document["services"]["api"]["operations"]["pay"] = [{"publish": "payments"}]
    document["services"]["audit"] = document["services"]["indexer"]
    document["topics"]["payments"] = {
        "type": "log",
        "partitions": 4,
        "subscribers": {"audit": {"operation": "handle"}},
    }
    document["workload"].update(
        orders={"entry": "api.place", "arrivals": {"poisson": 0.3 * arrivals}},
        payments={"entry": "api.pay", "arrivals": {"poisson": 0.3 * arrivals}},
        reads={"entry": "db.write", "arrivals": {"poisson": 0.4 * arrivals}},
    )
    callers = "consumers of orders and consumers of payments"
    _database_and_reads(document, callers, agrees, replications_of, stat)


ONLY_SLACK = 0.25
"""A database only log consumers write to, finite-source M/M/c//N of its N consumers: the
model's sources think independently, where a consumer's next write comes sooner after a
slow one (its backlog grew meanwhile): -13% to -24% for 3-6 consumers at 70-85% (6
replications of 400 s). Allen-Cunneen (before: beyond 2 consumers a server the station's
callers counted as open) said +168% to +214%: beyond the tolerance, it fails."""


def test_a_database_only_log_consumers_write_to_is_finite_source(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    """Three consumers of a log topic of 6 partitions (4 ms of work, one write of 7 ms)
    and no one else at a one-server database, 70% busy: its wait 4.57 ms predicted, 5.23
    ms simulated (6 replications of 400 s); 16.3 ms before."""
    document = _scenario(3, 0.004)
    document["topics"]["orders"]["partitions"] = 6
    del document["workload"]["reads"]
    document["workload"]["orders"]["arrivals"]["poisson"] = 0.7 / 0.007
    predicted = analyze(load_scenario(document), capacity=False)
    db = predicted.services["db"]
    assert db.method.startswith("finite-source M/M/c//M (at most 3 present)"), db.method
    wait = db.waiting_time.mean
    assert wait is not None
    waits = stat(replications_of(document), "services", "db", "waiting_time", "mean")
    agrees(waits, wait, "db W", slack=ONLY_SLACK, max_relative_half_width=POWER)
