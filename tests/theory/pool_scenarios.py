"""Scenarios of thread pools against their callers' bounds and over replicated callees,
each written once: the theory tests run them against the simulator, the unit tests
check which model the analysis picks for them. Each builder returns a fresh document;
`check_database_and_reads` is the theory tests' check of a shared database."""

from __future__ import annotations

from typing import Any

from models import analyze, load_scenario

Document = dict[str, Any]

DATABASE_WRITE = 0.007
"""The replicated database's mean write (exponential)."""


def pool_reached_twice(
    simulation: Document, *, front_workers: int = 1, pool_workers: int = 1, rate: float = 40.0
) -> Document:
    """`front` (5 ms) calls `pool` (2 ms and a read of a two-worker database) directly and,
    in a `parallel` branch, through `relay` (3 ms): with one worker of each, at most 2 of
    `front`'s requests are at `pool` at once (`tests/theory/test_few_present_pool.py`)."""
    return {
        "name": "one-request-reaches-a-pool-twice",
        "simulation": simulation,
        "services": {
            "front": {
                "workers": front_workers,
                "operations": {
                    "get": [
                        {"work": {"exponential": 0.005}},
                        {"parallel": [[{"call": "pool.run"}], [{"call": "relay.run"}]]},
                    ]
                },
            },
            "relay": {
                "workers": "unlimited",
                "operations": {"run": [{"work": {"exponential": 0.003}}, {"call": "pool.run"}]},
            },
            "pool": {
                "workers": pool_workers,
                "operations": {"run": [{"work": {"exponential": 0.002}}, {"call": "db.read"}]},
            },
            "db": {"workers": 2, "operations": {"read": [{"work": {"exponential": 0.004}}]}},
        },
        "workload": {"users": {"entry": "front.get", "arrivals": {"poisson": rate}}},
    }


def random_replica_database(
    api: Document, caller_share: float, simulation: Document, balancing: str = "random"
) -> Document:
    """Service `api` (its `place` operation) bringing `caller_share` of the writes to a
    database of two replicas of one server (`balancing`), open reads the rest, each
    replica 80% busy (`tests/theory/test_replica_bounded_caller.py`)."""
    writes = 2 * 0.8 / DATABASE_WRITE
    return {
        "name": "bounded-caller-at-random-replicas",
        "simulation": simulation,
        "services": {
            "api": api,
            "db": {
                "workers": 1,
                "replicas": 2,
                "balancing": balancing,
                "operations": {"write": [{"work": {"exponential": DATABASE_WRITE}}]},
            },
        },
        "workload": {
            "orders": {"entry": "api.place", "arrivals": {"poisson": caller_share * writes}},
            "reads": {"entry": "db.write", "arrivals": {"poisson": (1 - caller_share) * writes}},
        },
    }


def writing_pool(workers: int, replicas: int = 1) -> Document:
    """A pool of `workers` threads (per replica) whose `place` works 4 ms, then writes."""
    place = [{"work": {"exponential": 0.004}}, {"call": "db.write"}]
    return {"workers": workers, "replicas": replicas, "operations": {"place": place}}


def log_consumers(document: Document, consumers: int) -> Document:
    """`document` with `api` publishing each order to a log topic of 4 partitions whose
    `consumers` consumers (1 ms of work) each write one at a time."""
    document["services"]["api"] = {
        "workers": "unlimited",
        "operations": {"place": [{"publish": "orders"}]},
    }
    document["services"]["indexer"] = {
        "workers": 1,
        "operations": {"handle": [{"work": {"exponential": 0.001}}, {"call": "db.write"}]},
    }
    document["topics"] = {
        "orders": {
            "type": "log",
            "partitions": 4,
            "subscribers": {"indexer": {"operation": "handle", "concurrency": consumers}},
        }
    }
    return document


def check_database_and_reads(
    document: Document,
    method: str,
    slack: float,
    checks: tuple[Any, Any, Any],
    power: float = 0.06,
) -> None:
    """The database's mean wait (both classes) and the open reads' response there, as the
    model whose method starts with `method` predicts them, against the simulator: `checks`
    are the theory fixtures `agrees`, `replications_of` and `stat` (tests/theory/conftest.py),
    `slack` the model's bias allowed beyond the simulation's interval, `power` the largest
    expected half-width relative to the prediction."""
    agrees, replications_of, stat = checks
    predicted = analyze(load_scenario(document), capacity=False)
    db = predicted.services["db"]
    assert db.method.startswith(method), db.method
    wait, response = db.waiting_time.mean, predicted.flows["reads"].response_time.mean
    assert wait is not None and response is not None
    runs = replications_of(document)
    waits = stat(runs, "services", "db", "waiting_time", "mean")
    agrees(waits, wait, "db W", slack=slack, max_relative_half_width=power)
    responses = stat(runs, "flows", "reads", "response_time", "mean")
    agrees(responses, response, "reads R", slack=slack, max_relative_half_width=power)
