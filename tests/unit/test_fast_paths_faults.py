"""The handler fast path under faults and autoscaling gives the results of the general path.

A topic `outage` pauses the consumer groups and a `slowdown` stretches the hold: both keep the
fast path; an `errors` fault or a rate limit at the service turns it off. An autoscaled group
(queue: consumers come and go; log: stop-the-world rebalances) keeps it too. Each comparison
is `both_ways` (tests/unit/fast_path_checks.py): the fast paths taken as expected, avoided
with `fast_paths=False`, and the same results to 1e-9 relative.
"""

from __future__ import annotations

from models import load_scenario
from tests.unit.fast_path_checks import Document, both_ways, exponential, groups, leaf

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
