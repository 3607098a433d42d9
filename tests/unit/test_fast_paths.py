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

Every comparison here first asserts that each fast path the scenario is built for is really
taken, and really avoided with `fast_paths=False` (`fast_path_use`), then runs both and
compares every statistic and time series (`assert_same`). It covers queue disciplines,
waiting-room drops, balancing, call probabilities, parallel branches, closed clients,
warm-up, async callers, and for topics: log and queue topics, one and several partitions,
round-robin and key partitioning, delivery latency, fan-out, handlers that publish (with a
probability, a count, a key; back to their own topic), topic outages, slowdowns,
autoscaled consumer groups; simultaneous events (constant times); plus the scenarios of
tests/theory, random fault schedules, and every example scenario.

Both paths draw the same random numbers and schedule the same events in the same order, so
the results agree exactly except for float rounding in the level areas (a freed worker goes
straight to the next in line in both, but sums are formed in a different order): the
tolerance is 1e-9 relative, far below any statistical difference.

The default tests take about 8 s of CPU; the `slow` ones about 70 s (every example scenario
and variant ~55 s, the other theory scenarios ~5 s, random fault schedules ~8 s).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from models import load_scenario
from models.loading import variant_names
from models.results import GroupResults, Measurements
from models.schema import Scenario
from sim.engine import Replication, ReplicationRun
from sim.engine.steps import LeafCallStep

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
THEORY = Path(__file__).resolve().parents[1] / "theory"
THEORY_DURATION = 1_500.0
"""The measured period of the theory scenarios here (theirs is longer: they estimate means)."""

Document = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def shortened(scenario: Scenario, duration: float) -> Scenario:
    settings = scenario.simulation
    shorter = settings.model_copy(update={"duration": min(settings.duration, duration)})
    return scenario.model_copy(update={"simulation": shorter})


def example_scenarios() -> list[tuple[str, Scenario]]:
    cases = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        base = load_scenario(path)
        variants: list[str | None] = [*variant_names(base)] or [None]  # (with "base")
        for variant in variants:
            scenario = shortened(load_scenario(path, variant), 120.0)
            cases.append((f"{path.stem}:{variant or 'base'}", scenario))
    return cases


def plain(run: ReplicationRun) -> dict[str, Any]:
    """A replication's statistics and time series as plain data (NaN as None)."""
    columns = {name: column.tolist() for name, column in run.timeseries.items()}
    return {"measurements": run.measurements.to_dict(), "timeseries": columns}


def assert_same(fast: Any, general: Any, path: str = "") -> None:
    """Equal structure and values; floats to 1e-9 relative (module docstring)."""
    if isinstance(fast, dict):
        assert fast.keys() == general.keys(), path
        for key in fast:
            assert_same(fast[key], general[key], f"{path}.{key}")
    elif isinstance(fast, list):
        assert len(fast) == len(general), path
        for index, (a, b) in enumerate(zip(fast, general, strict=True)):
            assert_same(a, b, f"{path}[{index}]")
    elif isinstance(fast, float) and isinstance(general, float):
        if not (math.isnan(fast) and math.isnan(general)):
            assert fast == pytest.approx(general, rel=1e-9, abs=1e-12), path
    else:
        assert fast == general, path


def leaf_calls(replication: Replication) -> int:
    """How many compiled steps of operations and flow bodies are leaf visits (top level)."""
    operations = replication.compiler.operations.values()
    lists = [*operations, *(flow.body for flow in replication.flows.values())]
    return sum(isinstance(step, LeafCallStep) for steps in lists for step in steps)


def fast_path_use(replication: Replication) -> dict[str, Any]:
    """Where a replication takes each fast path: the number of leaf calls, the flows with
    each entry shortcut, and the consumer groups ("topic/service") with the handler fast
    path."""
    flows = replication.flows
    return {
        "leaf_calls": leaf_calls(replication),
        "entry": {name for name, flow in flows.items() if flow.entry is not None},
        "entry_visit": {name for name, flow in flows.items() if flow.entry_visit is not None},
        "entry_publishes": {
            name for name, flow in flows.items() if flow.entry_publishes is not None
        },
        "fast_groups": {
            f"{topic.name}/{group.name}"
            for topic in replication.topics.values()
            for group in topic.groups
            if group.fast_hold is not None
        },
    }


NO_FAST_PATH: dict[str, Any] = {
    "leaf_calls": 0,
    "entry": set(),
    "entry_visit": set(),
    "entry_publishes": set(),
    "fast_groups": set(),
}


def both_ways(
    scenario: Scenario, seed: int, expected: dict[str, Any] | None = None
) -> tuple[Replication, ReplicationRun]:
    """Run `scenario` on both paths and assert the same results; assert that the general
    path takes no fast path, and that the fast path takes `expected` (`fast_path_use`), if
    given. The fast path's replication (after its run) and results."""
    fast = Replication(scenario, 0, seed)
    general = Replication(scenario, 0, seed, fast_paths=False)
    if expected is not None:
        assert fast_path_use(fast) == expected  # the fast paths are really taken ...
    assert fast_path_use(general) == NO_FAST_PATH  # ... and really avoided
    fast_run, general_run = fast.run(), general.run()
    assert_same(plain(fast_run), plain(general_run))
    check_handler_runs(fast, general, fast_run.measurements)
    return fast, fast_run


def check_handler_runs(fast: Replication, general: Replication, result: Measurements) -> None:
    """At run time, a group on the handler fast path consumed messages without ever running
    a handler job (`attempts` counts the jobs), and on the general path ran jobs."""
    for topic_name, topic in fast.topics.items():
        for group, other in zip(topic.groups, general.topics[topic_name].groups, strict=True):
            if result.topics[topic_name].groups[group.name].consumed < 20:
                continue  # (too few to tell: perhaps all started before warm-up)
            if group.fast_hold is not None:
                assert group.stats.attempts == 0, (topic_name, group.name)
            else:
                assert group.stats.attempts > 0, (topic_name, group.name)
            assert other.stats.attempts > 0, (topic_name, group.name)


def groups(result: Measurements) -> dict[str, GroupResults]:
    """Every consumer group of a result as "topic/service"."""
    return {
        f"{topic_name}/{name}": group
        for topic_name, topic in result.topics.items()
        for name, group in topic.groups.items()
    }


def exponential(seconds: float) -> dict[str, Any]:
    return {"work": {"exponential": seconds}}


def leaf(seconds: float) -> list[dict[str, Any]]:
    return [exponential(seconds)]


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


# --------------------------------------------------------------------------- faults

FAULTS: Document = {
    "name": "faults",
    "simulation": {"duration": 150.0, "warmup": 10.0, "sample_interval": 5.0},
    "services": {
        "api": {"workers": "unlimited", "operations": {"emit": [{"publish": "events"}]}},
        "worker": {
            "replicas": 2,
            "operations": {
                "handle": [exponential(0.1), {"publish": {"topic": "done", "probability": 0.5}}]
            },
        },
        "slowed": {"operations": {"handle": leaf(0.04)}},  # a slowdown keeps the fast path
        "pool": {"operations": {"handle": leaf(0.2)}},
        # faults or admission control at the service: its handlers run as jobs
        "flaky": {"operations": {"handle": [exponential(0.02), {"publish": "done"}]}},
        "limited": {"rate_limit": {"rate": 100.0}, "operations": {"handle": leaf(0.05)}},
    },
    "topics": {
        "events": {
            "partitions": 2,
            "subscribers": {
                "worker": "handle",
                "slowed": "handle",
                "flaky": {"operation": "handle", "max_attempts": 2},
            },
        },
        "jobs": {
            "type": "queue",
            "subscribers": {"pool": {"operation": "handle", "concurrency": 3}, "limited": "handle"},
        },
        "done": {},
    },
    "workload": {
        "load": {"entry": "api.emit", "arrivals": {"poisson": 8.0}},
        "direct": {"steps": [{"publish": "jobs"}], "arrivals": {"poisson": 6.0}},
    },
    "faults": [
        {"topic": "events", "kind": "outage", "at": 40.0, "for": 20.0},
        {"topic": "jobs", "kind": "outage", "at": 100.0, "for": 15.0},
        {"service": "slowed", "kind": "slowdown", "at": 50.0, "for": 30.0, "factor": 3.0},
        {"service": "flaky", "kind": "errors", "at": 60.0, "for": 20.0, "probability": 0.5},
    ],
}
FAULTS_USE = {
    "leaf_calls": 0,
    "entry": {"load"},
    "entry_visit": set(),
    "entry_publishes": {"direct"},
    "fast_groups": {"events/worker", "events/slowed", "jobs/pool"},
}


def test_topic_outages_and_slowdowns_keep_the_handler_fast_path() -> None:
    """A topic `outage` pauses the groups without guarding the subscribing service, and a
    `slowdown` stretches the hold: both keep the fast path (and give the results of the
    general one); an `errors` fault or a rate limit at the service turns it off."""
    _, run = both_ways(load_scenario(FAULTS), 4, FAULTS_USE)
    result = run.measurements
    found = groups(result)
    assert (found["events/worker"].lag.max or 0) > 100  # the 20 s outage held ~160 messages
    assert (found["jobs/pool"].lag.max or 0) > 60  # the 15 s outage held ~90 messages
    flaky = found["events/flaky"]  # (a job each time: an `errors` fault guards it)
    assert flaky.attempts is not None and flaky.attempts > flaky.consumed  # retried
    worker = found["events/worker"]  # (attempts: starts, on the fast path)
    assert worker.attempts is not None and worker.attempts >= worker.consumed > 0
    assert result.faults is not None and len(result.faults) == 4


AUTOSCALED: Document = {
    "name": "autoscaled-groups",
    "simulation": {"duration": 200.0, "warmup": 5.0, "sample_interval": 5.0},
    "services": {
        "worker": {
            "operations": {
                "handle": [exponential(0.5), {"publish": {"topic": "done", "probability": 0.2}}]
            }
        },
        "logger": {"operations": {"handle": leaf(0.3)}},
    },
    "topics": {
        "jobs": {
            "type": "queue",
            "subscribers": {
                "worker": {
                    "operation": "handle",
                    "autoscale": {
                        "target": 5,
                        "min": 1,
                        "max": 8,
                        "interval": 5,
                        "stabilization": 20,
                        "startup": 2,
                    },
                }
            },
        },
        "stream": {
            "partitions": 6,
            "subscribers": {
                "logger": {
                    "operation": "handle",
                    "autoscale": {
                        "target": 5,
                        "min": 1,
                        "max": 6,
                        "interval": 5,
                        "stabilization": 20,
                    },
                }
            },
        },
        "done": {},
    },
    "workload": {
        "load": {
            "steps": [{"publish": "jobs"}, {"publish": "stream"}],
            "arrivals": {
                "profile": [
                    {"at": 0, "rate": 8.0},
                    {"at": 60, "rate": 2.0},
                    {"at": 120, "rate": 10.0},
                ]
            },
        }
    },
    # a broker outage while the log group rebalances (paused twice over)
    "faults": [{"topic": "stream", "kind": "outage", "at": 125.0, "for": 10.0}],
}
AUTOSCALED_USE = {
    "leaf_calls": 0,
    "entry": set(),
    "entry_visit": set(),
    "entry_publishes": {"load"},
    "fast_groups": {"jobs/worker", "stream/logger"},
}


def test_autoscaled_consumer_groups_keep_the_handler_fast_path() -> None:
    """An autoscaled group (queue: consumers come and go; log: stop-the-world rebalances,
    one during a broker outage) on the fast path gives the results of the general path."""
    _, run = both_ways(load_scenario(AUTOSCALED), 9, AUTOSCALED_USE)
    found = groups(run.measurements)
    for name in ("jobs/worker", "stream/logger"):
        consumers = found[name].consumers
        assert consumers is not None and consumers.max is not None
        assert consumers.max >= 3, name  # scaled up ...
        assert consumers.mean is not None and consumers.mean < consumers.max, name  # ... and not
        assert found[name].consumed > 500, name


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


# --------------------------------------------------------------------------- examples


def test_the_example_scenarios_take_the_fast_paths() -> None:
    """The example scenarios exercise leaf visits, the `entry` and `entry_visit` shortcuts
    and the handler fast path (none of them publishes from a flow's body:
    `entry_publishes` is covered by the scenarios above)."""
    taken: dict[str, int] = dict.fromkeys(NO_FAST_PATH, 0)
    for _, scenario in example_scenarios():
        use = fast_path_use(Replication(scenario, 0, 2))
        for key, value in use.items():
            taken[key] += value if isinstance(value, int) else len(value)
    assert all(taken[key] > 0 for key in taken if key != "entry_publishes"), taken


@pytest.mark.slow  # every example scenario and variant on both paths: ~55 s of CPU
@pytest.mark.parametrize(
    ("label", "scenario"), example_scenarios(), ids=[label for label, _ in example_scenarios()]
)
def test_example_scenarios_give_the_same_results_on_both_paths(
    label: str, scenario: Scenario
) -> None:
    both_ways(scenario, 2)


# --------------------------------------------------------------------------- theory


@functools.cache
def theory_module(name: str) -> ModuleType:
    """A module of tests/theory (its scenario builders), imported under a private name."""
    module_name = f"_fast_paths_theory_{name}"
    spec = importlib.util.spec_from_file_location(module_name, THEORY / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def builder(module: str, name: str) -> Callable[..., Document]:
    return cast(Callable[..., Document], getattr(theory_module(module), name))


def station(service: Document, arrival_rate: float) -> Document:
    """tests/theory/test_single_station.py: Poisson arrivals into `server`."""
    return builder("test_single_station", "station")(
        service, arrival_rate, duration=THEORY_DURATION, warmup=20.0
    )


def serving(work: Document, **settings: Any) -> Document:
    return builder("test_single_station", "serving")(work, **settings)


def single_topic(arrival_rate: float, mean_service_time: float, **options: Any) -> Document:
    """tests/theory/test_topics.py: Poisson publications to `events`, consumed by
    `consumer`."""
    options = {"duration": THEORY_DURATION, "warmup": 20.0, **options}
    return builder("test_topics", "single_topic")(
        arrival_rate=arrival_rate, mean_service_time=mean_service_time, **options
    )


def network_service(mean_service_time: float) -> Document:
    return builder("test_networks", "exponential_service")(mean_service_time)


def networks_simulation() -> Document:
    return builder("test_networks", "simulation")(THEORY_DURATION, 20.0)


def jackson(name: str) -> Document:
    network = theory_module("test_topics").NETWORKS[name]
    return cast(Document, network.document())


def theory_property(name: str) -> Document:
    return cast(Document, getattr(theory_module("test_properties"), name))


def fork_join() -> Document:  # test_networks.py::test_fork_join_of_two_mm1_is_flatto_hahn
    return {
        "name": "fork-join",
        "simulation": networks_simulation(),
        "services": {"left": network_service(1.0), "right": network_service(1.0)},
        "workload": {
            "jobs": {
                "steps": [{"parallel": [[{"call": "left"}], [{"call": "right"}]]}],
                "arrivals": {"poisson": 0.5},
            }
        },
    }


def sync_call(blocking: bool) -> Document:  # test_networks.py: sync call, async tandem
    return {
        "name": "calls",
        "simulation": networks_simulation(),
        "services": {
            "front": {
                "blocking_calls": blocking,
                "operations": {"handle": [exponential(0.4), {"call": "back"}]},
            },
            "back": network_service(0.6),
        },
        "workload": {"requests": {"entry": "front", "arrivals": {"poisson": 0.8}}},
    }


def closed_network() -> Document:  # test_networks.py::test_closed_network_matches_exact_mva
    return {
        "name": "closed",
        "simulation": networks_simulation(),
        "services": {"cpu": network_service(0.5), "disk": network_service(0.3)},
        "workload": {
            "users": {
                "steps": [{"call": "cpu"}, {"call": "disk"}],
                "clients": 6,
                "think_time": {"exponential": 2.0},
            }
        },
    }


def priorities() -> Document:  # test_single_station.py::test_nonpreemptive_priority_cobham
    return {
        "name": "priorities",
        "simulation": {"duration": THEORY_DURATION, "warmup": 20.0},
        "services": {
            "server": {
                "discipline": "priority",
                "operations": {
                    "interactive": leaf(0.5),
                    "batch": [{"work": {"constant": 1.5}}],
                },
            }
        },
        "workload": {
            "interactive": {
                "entry": "server.interactive",
                "arrivals": {"poisson": 0.4},
                "priority": 1,
            },
            "batch": {"entry": "server.batch", "arrivals": {"poisson": 0.3}, "priority": 2},
        },
    }


def fan_out() -> Document:  # test_topics.py::test_fan_out_gives_every_group_its_own_mm1_queue
    rates = {"fast": 4.0, "medium": 3.0, "slow": 2.0}
    return {
        "name": "fan-out",
        "simulation": {"duration": THEORY_DURATION, "warmup": 20.0},
        "services": {
            name: {"operations": {"handle": leaf(1 / rate)}} for name, rate in rates.items()
        },
        "topics": {"events": {"subscribers": {name: "handle" for name in rates}}},
        "workload": {"load": {"steps": [{"publish": "events"}], "arrivals": {"poisson": 1.0}}},
    }


def analysis_jackson() -> Document:
    """test_analysis_vs_simulation.py::test_jackson_network_of_queue_topics_with_feedback (a
    handler that works then branches: a job)."""
    branch = {
        "branch": [
            {"probability": 0.6, "steps": [{"publish": "b"}]},
            {"probability": 0.4, "steps": []},
        ]
    }
    return {
        "name": "jackson-branch",
        "simulation": {"duration": 30.0, "warmup": 5.0},
        "services": {
            "front": {"workers": "unlimited", "operations": {"o": [{"publish": "a"}]}},
            "sa": {"operations": {"h": [exponential(0.005), branch]}},
            "sb": {
                "replicas": 2,
                "operations": {
                    "h": [exponential(0.012), {"publish": {"topic": "a", "probability": 0.3}}]
                },
            },
        },
        "topics": {
            "a": {"type": "queue", "subscribers": {"sa": "h"}},
            "b": {"type": "queue", "subscribers": {"sb": "h"}},
        },
        "workload": {"f": {"entry": "front", "arrivals": {"poisson": 100.0}}},
    }


def self_loop(topic_type: str) -> Document:
    """test_topic_properties.py::test_message_started_on_delivery_did_not_wait, with
    arrivals 20 x as often (chains overlap)."""
    return {
        "name": "self-loop",
        "simulation": {"duration": THEORY_DURATION},
        "services": {
            "worker": {
                "operations": {
                    "handle": [
                        {"work": {"constant": 1.0}},
                        {"publish": {"topic": "tasks", "probability": 0.5}},
                    ]
                }
            }
        },
        "topics": {"tasks": {"type": topic_type, "subscribers": {"worker": "handle"}}},
        "workload": {"load": {"steps": [{"publish": "tasks"}], "arrivals": {"constant": 0.2}}},
    }


def fifo(partitioning: str) -> Document:
    """test_topic_properties.py::test_each_partition_is_consumed_in_publication_order."""
    topic: Document = {
        "partitions": 6,
        "partitioning": partitioning,
        "delivery_latency": {"exponential": 0.5},
        "subscribers": {"billing": {"concurrency": 2}, "audit": "record"},
    }
    if partitioning == "key":
        topic["keys"] = {"count": 20, "skew": 1.1}
    return {
        "name": "fifo",
        "simulation": {"duration": 600.0},
        "services": {
            "billing": {"operations": {"charge": leaf(0.3)}},
            "audit": {"replicas": 4, "operations": {"record": leaf(0.5)}},
        },
        "topics": {"orders": topic},
        "workload": {"load": {"steps": [{"publish": "orders"}], "arrivals": {"poisson": 5.0}}},
    }


def autoscaled_service() -> Document:
    """test_dynamics.py::test_autoscaled_service_settles_at_the_offered_load_over_the_target
    (round robin), shortened."""
    return {
        "name": "hpa-steady",
        "simulation": {"duration": 60.0, "warmup": 60.0, "sample_interval": 5},
        "services": {
            "api": {
                "replicas": 1,
                "workers": 1,
                "balancing": "round_robin",
                "operations": {"handle": leaf(0.02)},
                "autoscale": {
                    "metric": "utilization",
                    "target": 0.8,
                    "min": 1,
                    "max": 10,
                    "interval": 10,
                    "stabilization": 20,
                    "startup": 5,
                },
            }
        },
        "workload": {"users": {"entry": "api", "arrivals": {"poisson": 100.0}}},
    }


def lag_scaling(topic_type: str) -> Document:
    """test_dynamics.py::test_lag_scaling_is_capped_at_the_partitions_of_a_log, shortened."""
    topic: Document = {
        "type": topic_type,
        "subscribers": {
            "worker": {
                "operation": "handle",
                "autoscale": {
                    "target": 10,
                    "min": 1,
                    "max": 12,
                    "interval": 10,
                    "stabilization": 60,
                },
            }
        },
    }
    if topic_type == "log":
        topic["partitions"] = 3
    return {
        "name": "keda-cap",
        "simulation": {"duration": 120, "sample_interval": 5},
        "services": {"worker": {"operations": {"handle": leaf(1.0)}}},
        "topics": {"jobs": topic},
        "workload": {"load": {"steps": [{"publish": "jobs"}], "arrivals": {"poisson": 20.0}}},
    }


def drain(kind: str, consumers: int) -> Document:
    """tests/theory/test_resilience.py: an outage of the consumer service or of the topic's
    broker, with the backlog drained afterwards (outage 10 s; the theory test's is 50 s)."""
    return builder("test_resilience", "drain_scenario")(
        arrival_rate=40.0,
        service_time=consumers / 80.0,
        consumers=consumers,
        outage=10.0,
        kind=kind,
        sample_interval=0.25,
    )


THEORY_SCENARIOS: dict[str, Callable[[], Document]] = {
    # tests/theory/test_single_station.py
    "mm1": lambda: station(serving({"exponential": 1.0}), 0.6),
    "mmc-shared": lambda: station(
        serving({"exponential": 1.0}, replicas=3, workers=1, balancing="shared"), 1.95
    ),
    "mmck": lambda: station(serving({"exponential": 1.0}, workers=3, queue_capacity=3), 3.3),
    "erlang-b": lambda: station(
        serving({"lognormal": {"mean": 1.0, "cv": 2.0}}, workers=5, queue_capacity=0), 5.0
    ),
    "m-g-infinity": lambda: station(
        serving({"lognormal": {"mean": 0.5, "cv": 1.5}}, workers="unlimited"), 20.0
    ),
    "mg1-gamma": lambda: station(serving({"gamma": {"mean": 1.0, "cv": 2.0}}), 0.4),
    "md1": lambda: station(serving({"constant": 1.0}), 0.5),
    "random-balancing": lambda: station(
        serving({"exponential": 1.0}, replicas=2, balancing="random"), 1.2
    ),
    "round-robin-balancing": lambda: station(
        serving({"exponential": 1.0}, replicas=2, balancing="round_robin"), 1.0
    ),
    "priorities": priorities,
    # tests/theory/test_networks.py
    "fork-join": fork_join,
    "sync-call": lambda: sync_call(blocking=True),
    "async-tandem": lambda: sync_call(blocking=False),
    "closed-mva": closed_network,
    # tests/theory/test_properties.py
    "properties-mm1": lambda: theory_property("MM1"),
    "drops-and-timeouts": lambda: theory_property("FAULTY"),
    # tests/theory/test_topics.py
    "log-random-partitions": lambda: single_topic(
        4.0, 0.5, topic={"partitions": 4, "partitioning": "random"}, replicas=4
    ),
    "log-parallelism-capped": lambda: single_topic(
        2.0, 0.5, topic={"partitions": 2}, replicas=3, concurrency=2
    ),
    "log-partitions-shared": lambda: single_topic(
        2.0, 0.5, topic={"partitions": 6}, replicas=1, concurrency=2
    ),
    "log-round-robin": lambda: single_topic(
        3.0, 0.5, topic={"partitions": 3, "partitioning": "round_robin"}, replicas=3
    ),
    "queue-mmc": lambda: single_topic(4.8, 0.5, topic={"type": "queue"}, replicas=2, concurrency=2),
    "fan-out": fan_out,
    "publish-probability": lambda: single_topic(
        5.0, 0.25, publish={"topic": "events", "probability": 0.4}
    ),
    "delivery-latency": lambda: single_topic(
        1.0, 0.5, topic={"delivery_latency": {"constant": 0.2}}
    ),
    "overloaded": lambda: single_topic(3.0, 0.5, warmup=0.0),
    "key-skew": lambda: single_topic(
        4.5,
        0.5,
        topic={"partitions": 4, "partitioning": "key", "keys": {"count": 8, "skew": 1.0}},
        replicas=4,
    ),
    **{
        f"jackson-{name}": functools.partial(jackson, name)
        for name in ("tandem", "feedback", "branching", "multi-server", "two-entries")
    },
    # tests/theory/test_topic_properties.py
    "busy-network": lambda: builder("test_topic_properties", "busy_network")(0.0),
    "busy-network-warmup": lambda: builder("test_topic_properties", "busy_network")(100.0),
    "keyed-latency": lambda: builder("test_topic_properties", "keyed_scenario")(),
    "self-loop-queue": lambda: self_loop("queue"),
    "self-loop-log": lambda: self_loop("log"),
    **{f"fifo-{way}": functools.partial(fifo, way) for way in ("random", "round_robin", "key")},
    # tests/theory/test_analysis_vs_simulation.py
    "analysis-jackson-branch": analysis_jackson,
    # tests/theory/test_resilience.py
    "token-bucket": lambda: builder("test_resilience", "token_bucket_scenario")(
        2.0, 1.0, 1, THEORY_DURATION
    ),
    "drain-service-outage": lambda: drain("service", 1),
    "drain-broker-outage": lambda: drain("topic", 1),
    "drain-service-outage-4": lambda: drain("service", 4),
    # tests/theory/test_dynamics.py
    "autoscaled-service": autoscaled_service,
    "lag-scaling-log": lambda: lag_scaling("log"),
    "lag-scaling-queue": lambda: lag_scaling("queue"),
}

QUICK_THEORY = [  # the default run: one of each kind
    "mm1",
    "closed-mva",
    "queue-mmc",
    "jackson-branching",
    "busy-network-warmup",
    "drain-broker-outage",
    "lag-scaling-log",
]


def check_theory_scenario(label: str) -> None:
    scenario = shortened(load_scenario(THEORY_SCENARIOS[label]()), THEORY_DURATION)
    both_ways(scenario, 13)


@pytest.mark.parametrize("label", QUICK_THEORY)
def test_theory_scenarios_give_the_same_results_on_both_paths(label: str) -> None:
    check_theory_scenario(label)


@pytest.mark.slow  # the rest of the theory scenarios: ~5 s of CPU
@pytest.mark.parametrize(
    "label", [label for label in THEORY_SCENARIOS if label not in QUICK_THEORY]
)
def test_more_theory_scenarios_give_the_same_results_on_both_paths(label: str) -> None:
    check_theory_scenario(label)


def test_the_theory_scenarios_take_every_fast_path() -> None:
    """Between them the theory scenarios take each fast path somewhere, and the handler
    fast path on log and queue topics, with and without publishes, partitions and latency."""
    taken: dict[str, set[str]] = {key: set() for key in NO_FAST_PATH}
    for label, build in THEORY_SCENARIOS.items():
        use = fast_path_use(Replication(load_scenario(build()), 0, 1))
        for key, value in use.items():
            if value:
                taken[key].add(label)
    assert all(taken.values()), taken
    fast_groups = taken["fast_groups"]
    assert {"queue-mmc", "log-random-partitions", "delivery-latency", "jackson-feedback"} <= (
        fast_groups
    )
    assert {"drain-broker-outage", "lag-scaling-log", "lag-scaling-queue"} <= fast_groups
    branching = Replication(load_scenario(analysis_jackson()), 0, 1)
    assert fast_path_use(branching)["fast_groups"] == {"b/sb"}  # (a's handler branches)


@pytest.mark.slow  # 25 random architectures under random faults: ~8 s of CPU
def test_random_fault_schedules_give_the_same_results_on_both_paths() -> None:
    """The architectures of tests/theory/test_fault_properties.py (a resilient call, message
    retries, dead letters, rate limits, queue timeouts, async callers; service outages,
    crashes, error bursts, slowdowns and broker outages drawn by hypothesis)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    architectures = theory_module("test_fault_properties").architectures

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,  # (the same examples every run)
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(architectures(draining=False), st.integers(0, 2**16))
    def check(document: Document, seed: int) -> None:
        both_ways(load_scenario(document), seed)

    check()
