"""The engine's fast paths must give the results of its general path.

`Replication(scenario, replication, seed, fast_paths=False)` turns every fast path off:

1. **Leaf visits** (`sim.engine.jobs`, `LeafCallStep`): a blocking caller's plain call to an
   operation of one `work` or `delay` step is served without a job; the caller's frame (or
   the request) queues at the station itself.
2. **Flow-entry shortcuts** (`sim.engine.flows`): a flow's body that is one plain call
   submits straight to the service (`FlowRuntime.entry`), one plain call to a leaf operation
   sends the request itself (`entry_visit`), and a body that only publishes (or does
   nothing) publishes and responds at once (`entry_publishes`); otherwise the body runs as
   the client's job.
3. **The handler fast path** (`sim.engine.groups`, `ConsumerGroup.fast_hold`): a handler
   that is one hold followed only by publishes, at a service without faults or admission
   control, runs without a job (the consumer thread is its own wake-up).

Every comparison first asserts that each fast path the scenario is built for is really
taken, and really avoided with `fast_paths=False`, then runs both and compares every
statistic and time series, to 1e-9 relative (`both_ways`, tests/unit/fast_path_checks.py).
This file covers queue disciplines, waiting-room drops, balancing, call probabilities,
parallel branches, closed clients, warm-up, async callers, and for topics: log and queue
topics, one and several partitions, round-robin and key partitioning, delivery latency,
fan-out, handlers that publish (with a probability, a count, a key; back to their own
topic); simultaneous events (constant times); and the invariants of the fast path alone.
Topic outages, slowdowns and autoscaled consumer groups are in test_fast_paths_faults.py;
the scenarios of tests/theory, random fault schedules and every example scenario in
test_fast_paths_scenarios.py.

The default tests of the three files take about 8 s of CPU; the `slow` ones, all in
test_fast_paths_scenarios.py, about 70 s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import pytest

from models import load_scenario
from sim.engine import Replication
from tests.unit.fast_path_checks import (
    Document,
    both_ways,
    exponential,
    fast_path_use,
    groups,
    leaf,
    plain,
)

# --------------------------------------------------------------------------- leaf visits

MIXED: Document = {
    "name": "mixed",
    "simulation": {"duration": 300.0, "warmup": 20.0, "seed": 5},
    "services": {
        "front": {
            "workers": 12,
            "operations": {
                "page": [
                    exponential(0.01),
                    {"call": "db.get"},
                    {"call": {"service": "cache", "probability": 0.5}},
                    {"parallel": [[{"call": "db.get"}], [{"call": "search"}]]},
                ]
            },
        },
        # a priority queue with visitors (leaf `get`) and jobs (two-step `scan`) mixed
        "db": {
            "workers": 2,
            "discipline": "priority",
            "queue_capacity": 6,
            "operations": {
                "get": leaf(0.02),
                "scan": [exponential(0.02), {"delay": {"constant": 0.01}}],
            },
        },
        "cache": {
            "replicas": 3,
            "balancing": "least_outstanding",
            "operations": {"hit": leaf(0.01)},
        },
        "search": {
            "replicas": 2,
            "workers": 1,
            "balancing": "round_robin",
            "queue_capacity": 3,
            "operations": {"find": leaf(0.08)},
        },
        "spread": {"replicas": 3, "balancing": "random", "operations": {"one": leaf(0.2)}},
        # an async caller: its calls to a leaf operation stay jobs
        "gateway": {
            "workers": 2,
            "blocking_calls": False,
            "operations": {"route": [exponential(0.005), {"call": "spread"}]},
        },
    },
    "workload": {
        "pages": {"arrivals": {"poisson": 20.0}, "priority": 2, "entry": "front.page"},
        "urgent": {
            "arrivals": {"poisson": 10.0},
            "priority": 1,
            "steps": [{"call": {"service": "db", "operation": "scan"}}, {"call": "cache"}],
        },
        "direct": {"clients": 5, "think_time": {"exponential": 0.5}, "entry": "db.get"},
        "routed": {"arrivals": {"poisson": 8.0}, "entry": "gateway.route"},
    },
}
MIXED_USE = {
    # front.page: db.get, cache, and db.get in a parallel branch (not top level); urgent:
    # cache; direct: db.get (its body)
    "leaf_calls": 4,
    "entry": {"pages", "routed"},
    "entry_visit": {"direct"},
    "entry_publishes": set(),
    "fast_groups": set(),
}

HANDLERS: Document = {
    "name": "handlers",
    "simulation": {"duration": 200.0, "seed": 3},
    "services": {
        "api": {"operations": {"post": [exponential(0.01), {"publish": "events"}]}},
        "worker": {"operations": {"handle": [exponential(0.01), {"call": "store"}]}},
        "store": {"workers": 1, "operations": {"put": leaf(0.02)}},
    },
    "topics": {
        "events": {"partitions": 2, "subscribers": {"worker": {"operation": "handle"}}},
    },
    "workload": {"posts": {"arrivals": {"poisson": 20.0}, "entry": "api.post"}},
}
HANDLERS_USE = {  # a handler that works and calls: a job (its call to `store` visits)
    "leaf_calls": 1,
    "entry": {"posts"},
    "entry_visit": set(),
    "entry_publishes": set(),
    "fast_groups": set(),
}


@pytest.mark.parametrize(
    ("document", "expected"),
    [(MIXED, MIXED_USE), (HANDLERS, HANDLERS_USE)],
    ids=["mixed", "handlers"],
)
def test_visits_give_the_results_of_jobs(document: Document, expected: dict[str, Any]) -> None:
    _, run = both_ways(load_scenario(document), 11, expected)
    services = run.measurements.services
    db_or_store = services.get("db") or services["store"]
    assert db_or_store.throughput > 0


def test_the_mixed_scenario_exercises_drops_and_priorities() -> None:
    result = Replication(load_scenario(MIXED), 0, 11).run().measurements
    services = result.services
    assert services["db"].dropped > 0  # the waiting room of 6 overflows at times
    assert services["search"].dropped > 0
    assert services["db"].p_wait > 0.1
    assert result.flows["routed"].completed > 0


# --------------------------------------------------------------------------- topics


def topics_document(warmup: float) -> Document:
    """Every flow-body shortcut and handler shape beside each other: log topics with one
    and several partitions (round robin, keys), a queue topic, delivery latency, fan-out to
    three groups, handlers that publish (with a probability, a count and a key; back to
    their own topic), a handler that works and calls (a job), open and closed flows."""
    return {
        "name": "topics",
        "simulation": {"duration": 200.0, "warmup": warmup, "sample_interval": 10.0},
        "services": {
            "api": {
                "workers": 4,
                "operations": {
                    "place": [exponential(0.01), {"publish": "orders"}],
                    "ping": leaf(0.005),
                },
            },
            "billing": {
                "replicas": 2,
                "operations": {
                    "charge": [
                        exponential(0.1),
                        {
                            "publish": {
                                "topic": "payments",
                                "probability": 0.6,
                                "count": 2,
                                "key": "customer-7",
                            }
                        },
                    ]
                },
            },
            "shipping": {"operations": {"ship": [{"delay": {"constant": 0.05}}]}},
            "enricher": {"operations": {"enrich": [exponential(0.02), {"call": "store"}]}},
            "store": {"workers": 2, "operations": {"put": leaf(0.02)}},
            "ledger": {
                "replicas": 3,
                "operations": {
                    "book": [
                        exponential(0.03),
                        {"publish": {"topic": "retries", "probability": 0.5}},
                    ]
                },
            },
            "fixer": {  # publishes back to its own topic: a cycle
                "replicas": 2,
                "operations": {
                    "fix": [
                        exponential(0.2),
                        {"publish": {"topic": "retries", "probability": 0.3}},
                    ]
                },
            },
            "analytics": {"operations": {"count": [{"delay": {"exponential": 0.05}}]}},
            "auditor": {
                "operations": {
                    "record": [
                        {"work": {"constant": 0.01}},
                        {"publish": "archive"},
                        {"publish": {"topic": "archive", "probability": 0.5}},
                    ]
                }
            },
        },
        "topics": {
            "orders": {
                "partitions": 4,
                "partitioning": "round_robin",
                "delivery_latency": {"exponential": 0.05},
                "subscribers": {
                    "billing": {"operation": "charge", "concurrency": 2},
                    "shipping": "ship",
                    "enricher": "enrich",
                },
            },
            "payments": {"partitions": 3, "subscribers": {"ledger": "book"}},
            "retries": {
                "type": "queue",
                "delivery_latency": {"uniform": [0.0, 0.1]},
                "subscribers": {"fixer": {"operation": "fix", "concurrency": 2}},
            },
            "clicks": {
                "partitions": 3,
                "partitioning": "key",
                "keys": {"count": 10, "skew": 1.0},
                "subscribers": {"analytics": "count"},
            },
            "audit": {"subscribers": {"auditor": "record"}},
            "archive": {},
        },
        "workload": {
            "checkout": {"entry": "api.place", "arrivals": {"poisson": 6.0}},
            "events": {
                "steps": [{"publish": "orders"}, {"publish": {"topic": "clicks", "count": 2}}],
                "arrivals": {"poisson": 3.0},
            },
            "ping": {"steps": [{"call": "api.ping"}], "arrivals": {"poisson": 20.0}},
            "maybe": {
                "steps": [{"call": {"service": "api", "operation": "place", "probability": 0.5}}],
                "arrivals": {"poisson": 4.0},
            },
            "maybe_ping": {
                "steps": [{"call": {"service": "api", "operation": "ping", "probability": 0.5}}],
                "arrivals": {"poisson": 4.0},
            },
            "idle": {"steps": [], "arrivals": {"poisson": 1.0}},
            "auditors": {
                "clients": 3,
                "think_time": {"exponential": 0.5},
                "steps": [{"publish": "audit"}],
            },
            "pingers": {"clients": 2, "think_time": {"exponential": 0.2}, "entry": "api.ping"},
        },
    }


TOPICS_USE = {
    # enricher -> store.put, and the bodies of ping, maybe_ping (a leaf call with probability
    # 1/2: no shortcut) and pingers
    "leaf_calls": 4,
    "entry": {"checkout"},  # (maybe: a call with probability 1/2, no shortcut)
    "entry_visit": {"ping", "pingers"},
    "entry_publishes": {"events", "idle", "auditors"},
    "fast_groups": {
        "orders/billing",
        "orders/shipping",
        "payments/ledger",
        "retries/fixer",
        "clicks/analytics",
        "audit/auditor",
    },  # (not orders/enricher: it works and calls)
}


@pytest.mark.parametrize("warmup", [0.0, 20.0], ids=["no-warmup", "warmup"])
def test_topics_give_the_same_results_on_both_paths(warmup: float) -> None:
    _, run = both_ways(load_scenario(topics_document(warmup)), 7, TOPICS_USE)
    result = run.measurements
    for name, group in groups(result).items():
        assert group.consumed > 50, name
    assert groups(result)["retries/fixer"].received > result.topics["payments"].published * 0.5
    assert result.topics["archive"].published > 0
    assert result.flows["auditors"].completed > 100  # closed clients that only publish
    for flow in result.flows.values():
        assert flow.completed > 0 or flow.arrived == 0


def constant(seconds: float) -> dict[str, Any]:
    return {"work": {"constant": seconds}}


TIES: Document = {
    "name": "ties",
    "simulation": {"duration": 100.0, "warmup": 10.0, "sample_interval": 0.5},
    "services": {
        "api": {
            "workers": 3,
            "queue_capacity": 3,
            "operations": {
                "post": [constant(0.25), {"publish": "jobs"}, {"publish": "log"}],
                "get": [constant(0.5)],
            },
        },
        "front": {
            "workers": 3,
            "operations": {"page": [constant(0.25), {"call": "api.get"}, {"call": "api.get"}]},
        },
        "worker": {
            "replicas": 2,
            "operations": {
                "handle": [constant(1.0), {"publish": {"topic": "jobs", "probability": 0.3}}]
            },
        },
        "relay": {"operations": {"handle": [{"delay": {"constant": 0.5}}, {"publish": "log"}]}},
        "reader": {"replicas": 3, "operations": {"handle": [constant(0.5)]}},
    },
    "topics": {
        "jobs": {
            "type": "queue",
            "delivery_latency": {"constant": 0.25},
            "subscribers": {"worker": {"operation": "handle", "concurrency": 2}},
        },
        "log": {
            "partitions": 3,
            "partitioning": "round_robin",
            "delivery_latency": {"constant": 0.5},
            "subscribers": {"reader": "handle"},
        },
        "relayed": {"partitions": 2, "subscribers": {"relay": "handle"}},
    },
    "workload": {
        "posts": {"entry": "api.post", "arrivals": {"constant": 1.0}},
        "gets": {"entry": "api.get", "arrivals": {"constant": 1.0}},
        "pages": {"entry": "front.page", "arrivals": {"constant": 0.5}},
        "events": {
            "steps": [{"publish": "relayed"}, {"publish": "jobs"}],
            "arrivals": {"constant": 1.0},
        },
        "pollers": {"clients": 3, "think_time": {"constant": 0.5}, "entry": "api.get"},
        "loggers": {"clients": 2, "think_time": {"constant": 1.0}, "steps": [{"publish": "log"}]},
        # the client's next request comes as the relay's hold of its message ends
        "ticks": {"clients": 1, "think_time": {"constant": 0.5}, "steps": [{"publish": "relayed"}]},
    },
}
TIES_USE = {
    "leaf_calls": 4,  # front.page's two calls, the bodies of gets and pollers
    "entry": {"posts", "pages"},
    "entry_visit": {"gets", "pollers"},
    "entry_publishes": {"events", "loggers", "ticks"},
    "fast_groups": {"jobs/worker", "log/reader", "relayed/relay"},
}


def test_simultaneous_events_keep_their_order_on_both_paths() -> None:
    """Constant times (binary fractions of a second) make many events fall at the same
    instant: arrivals, holds ending, deliveries, samples. simpy orders them by when they
    were scheduled, so the fast paths must schedule every event when the general path does,
    not merely at the same time."""
    _, run = both_ways(load_scenario(TIES), 1, TIES_USE)
    result = run.measurements
    assert 0 < result.services["api"].p_wait < 0.5  # some requests found every worker busy
    assert 0 < groups(result)["jobs/worker"].p_wait < 0.5


# --------------------------------------------------------------------------- invariants


def test_the_same_seed_gives_identical_results() -> None:
    """The fast path run twice with one seed gives identical results and time series
    (compared exactly, as JSON); another seed gives others."""
    scenario = load_scenario(topics_document(warmup=20.0))

    def run(seed: int) -> str:
        return json.dumps(plain(Replication(scenario, 0, seed).run()))

    first = run(5)
    assert run(5) == first
    assert run(6) != first


def test_fast_groups_conserve_messages() -> None:
    """Conservation for groups on the fast path (docs/results.md): received = consumed +
    dead_lettered + lost + the growth of the lag over the measured period, exactly; without
    warm-up the lag starts at 0, so received = consumed + lag.final (as
    tests/theory/test_topic_properties.py states it). Every group receives every message of
    its topic, and (without warm-up) the trace of message starts counts what was consumed
    plus what is in process at the end."""
    for warmup in (0.0, 30.0):
        trace: list[tuple[str, str, int, int, float]] = []
        replication = Replication(load_scenario(topics_document(warmup)), 0, 3, trace=trace)
        lag_at_warmup: dict[str, int] = {}
        for runtime in replication.topics.values():
            for consumers in runtime.groups:
                lag_at_warmup[f"{runtime.name}/{consumers.name}"] = 0
                consumers.reset = _recording_reset(  # type: ignore[method-assign,assignment]
                    consumers, lag_at_warmup
                )
        result = replication.run().measurements
        fast = fast_path_use(replication)["fast_groups"]
        assert len(fast) == 6
        found = groups(result)
        for name in fast:
            group = found[name]
            topic_name, service = name.split("/")
            assert group.received == result.topics[topic_name].published > 0, name
            assert group.dead_lettered in (None, 0) and group.lost in (None, 0), name
            assert group.lag.final is not None
            growth = group.lag.final - lag_at_warmup[name]
            assert group.received == group.consumed + growth, name
            if warmup == 0:
                assert group.received == group.consumed + group.lag.final, name
                (runtime_group,) = [
                    consumers
                    for consumers in replication.topics[topic_name].groups
                    if consumers.name == service
                ]
                started = sum(entry[:2] == (topic_name, service) for entry in trace)
                assert started == group.consumed + runtime_group.busy, name
        if warmup > 0:  # (the identity with the lag at warm-up is not vacuous)
            assert any(lag_at_warmup[name] > 0 for name in fast)


def _recording_reset(group: Any, lags: dict[str, int]) -> Callable[[float], None]:
    """`group.reset` that first records the group's lag at the end of warm-up."""
    original = group.reset

    def reset(now: float) -> None:
        lags[f"{group.topic_name}/{group.name}"] = group.lag
        original(now)

    return cast(Callable[[float], None], reset)
