"""Which formula a station gets when bounded callers reach it (`models.analysis.stations`,
`models.analysis.bounds`): the finite-source M/M/c//M up to `FINITE_SOURCE_REACH` x c
callers, the two-class station where one small caller shares the pool with other requests
(and each side then sees its own wait), the open formulas otherwise."""

from __future__ import annotations

import math
from typing import Any

from models import analyze, load_scenario


def _scenario(front_workers: int, open_rate: float) -> dict[str, Any]:
    """`front` (blocking, `front_workers` workers) scans `db` (2 workers) for every export;
    shoppers read `db` directly when `open_rate` > 0."""
    workload: dict[str, Any] = {"exports": {"entry": "front.export", "arrivals": {"poisson": 100}}}
    if open_rate:
        workload["shoppers"] = {"entry": "db.read", "arrivals": {"poisson": open_rate}}
    return {
        "name": "bounded",
        "simulation": {"duration": 100},
        "services": {
            "front": {
                "workers": front_workers,
                "operations": {"export": [{"work": {"exponential": "0.5ms"}}, {"call": "db.scan"}]},
            },
            "db": {
                "workers": 2,
                "operations": {
                    "read": [{"work": {"exponential": "2ms"}}],
                    "scan": [{"work": {"exponential": "7ms"}}],
                },
            },
        },
        "workload": workload,
    }


def test_only_bounded_callers_up_to_twice_the_servers_make_a_finite_source() -> None:
    assert (
        analyze(load_scenario(_scenario(4, 0)))
        .services["db"]
        .method.startswith("finite-source M/M/c//M (at most 4 present)")
    )
    beyond = analyze(load_scenario(_scenario(5, 0))).services["db"].method
    assert not beyond.startswith("finite-source"), beyond


def test_a_small_caller_among_open_requests_makes_the_pool_two_class() -> None:
    prediction = analyze(load_scenario(_scenario(2, 180)))
    db = prediction.services["db"]
    assert db.method.startswith("open and finite-source classes (CTMC)")
    assert "service front: at most 2 present" in db.method
    # each side sees its own wait: the scans less than the pool's mean, the reads more
    scan_wait = prediction.flows["exports"].response_time.mean - 0.0005 - 0.007
    scan_wait -= prediction.services["front"].waiting_time.mean
    read_wait = prediction.flows["shoppers"].response_time.mean - 0.002
    assert scan_wait < db.waiting_time.mean < read_wait
    mean = (100 * scan_wait + 180 * read_wait) / 280
    assert math.isclose(mean, db.waiting_time.mean, rel_tol=1e-6)


def test_a_caller_with_many_workers_leaves_the_pool_to_the_open_formulas() -> None:
    method = analyze(load_scenario(_scenario(64, 180))).services["db"].method
    assert method.startswith(("Allen-Cunneen", "M/H2/c", "M/M/c")), method


def test_an_operation_passes_on_the_bound_of_its_own_callers() -> None:
    """`relay` (async: its calls do not hold a worker) runs `narrow` for the 2 threads of
    `front` and `wide` for the 50 of `hub`; only `narrow` calls `store`. So at most 2
    requests can be at `store` at once (j5's svc-21, behind an async service that a pool of
    52 threads reaches in all), not 52."""
    rest = [{"work": {"exponential": "1ms"}}]
    scenario = {
        "name": "per-operation bound",
        "simulation": {"duration": 100},
        "services": {
            "front": {"workers": 2, "operations": {"go": [*rest, {"call": "relay.narrow"}]}},
            "hub": {"workers": 50, "operations": {"go": [*rest, {"call": "relay.wide"}]}},
            "relay": {
                "workers": 4,
                "blocking_calls": False,
                "operations": {"narrow": [*rest, {"call": "store"}], "wide": rest},
            },
            "store": {"operations": {"get": [{"work": {"exponential": "2ms"}}]}},
        },
        "workload": {
            "few": {"entry": "front.go", "arrivals": {"poisson": 100}},
            "many": {"entry": "hub.go", "arrivals": {"poisson": 100}},
        },
    }
    method = analyze(load_scenario(scenario)).services["store"].method
    assert method.startswith("finite-source M/M/c//M (at most 2 present)"), method


def _two_topics(open_rate: float) -> dict[str, Any]:
    """One consumer of each of two log topics, each writing to `db` (7 ms, one server),
    which reads at `open_rate` per second share."""
    handle = {"handle": [{"work": {"exponential": "4ms"}}, {"call": "db.write"}]}
    workload: dict[str, Any] = {
        "orders": {"entry": "api.place", "arrivals": {"poisson": 30}},
        "payments": {"entry": "api.pay", "arrivals": {"poisson": 30}},
    }
    if open_rate:
        workload["reads"] = {"entry": "db.write", "arrivals": {"poisson": open_rate}}
    return {
        "name": "two-topics",
        "simulation": {"duration": 100},
        "services": {
            "api": {
                "workers": "unlimited",
                "operations": {"place": [{"publish": "orders"}], "pay": [{"publish": "payments"}]},
            },
            "indexer": {"workers": 1, "operations": handle},
            "audit": {"workers": 1, "operations": handle},
            "db": {"workers": 1, "operations": {"write": [{"work": {"exponential": "7ms"}}]}},
        },
        "topics": {
            "orders": {
                "type": "log",
                "partitions": 2,
                "subscribers": {"indexer": {"operation": "handle"}},
            },
            "payments": {
                "type": "log",
                "partitions": 2,
                "subscribers": {"audit": {"operation": "handle"}},
            },
        },
        "workload": workload,
    }


def test_small_bounded_callers_share_the_two_class_station_s_bounded_class() -> None:
    """Two log consumers (one call in flight each) beside open reads: one bounded class of
    both, so both see its wait, the same, and the reads theirs."""
    prediction = analyze(load_scenario(_two_topics(45)), capacity=False)
    db = prediction.services["db"]
    label = "consumers of orders and consumers of payments: at most 2 present"
    assert db.method == f"open and finite-source classes (CTMC) ({label})", db.method
    groups = [
        prediction.topics[t].groups[g] for t, g in (("orders", "indexer"), ("payments", "audit"))
    ]
    sojourns = [group.sojourn_time.mean for group in groups]
    waits = [group.waiting_time.mean for group in groups]
    assert sojourns[0] == sojourns[1] and waits[0] == waits[1]
    read_wait = prediction.flows["reads"].response_time.mean - 0.007
    assert db.waiting_time.mean < read_wait


def test_bounded_callers_leave_the_chain_an_open_class() -> None:
    """With a few reads only (under `bounds.OPEN_SHARE` of the writes and reads), the
    second consumer stays open: the chain needs an open class."""
    db = analyze(load_scenario(_two_topics(5)), capacity=False).services["db"]
    assert db.method.count("consumers of") == 1, db.method


def _consumers_only(kind: str, threads: int) -> dict[str, Any]:
    """`threads` consumers of a `kind` topic (8 partitions for a log) write to a one-server
    `db` that nothing else calls, 77% busy."""
    topic: dict[str, Any] = {
        "type": kind,
        "subscribers": {"indexer": {"operation": "handle", "concurrency": threads}},
    }
    if kind == "log":
        topic["partitions"] = 8
    handle = [{"work": {"exponential": "4ms"}}, {"call": "db.write"}]
    return {
        "name": "consumers-only",
        "simulation": {"duration": 100},
        "services": {
            "api": {"workers": "unlimited", "operations": {"place": [{"publish": "orders"}]}},
            "indexer": {"workers": 1, "operations": {"handle": handle}},
            "db": {"workers": 1, "operations": {"write": [{"work": {"exponential": "7ms"}}]}},
        },
        "topics": {"orders": topic},
        "workload": {"orders": {"entry": "api.place", "arrivals": {"poisson": 110}}},
    }


def test_log_consumers_alone_make_a_finite_source_at_any_number() -> None:
    """A log topic's consumers queue nowhere together: 4 at one server (beyond
    `FINITE_SOURCE_REACH` x c, which bounds pools' threads) make it M/M/1//4."""
    db = analyze(load_scenario(_consumers_only("log", 4)), capacity=False).services["db"]
    assert db.method == "finite-source M/M/c//M (at most 4 present)", db.method


def test_a_queue_topic_s_threads_alone_are_a_pool_not_independent_sources() -> None:
    """A queue topic's 4 threads share its queue (a pool): beyond 2 a server, not the
    finite source."""
    db = analyze(load_scenario(_consumers_only("queue", 4)), capacity=False).services["db"]
    assert not db.method.startswith("finite-source"), db.method
