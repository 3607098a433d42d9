"""Scenarios of the theory tests that other tests run too, each written once.

A theory test builds one of these with the numbers its formula needs (long runs, several
replications); tests/unit/test_fast_paths_scenarios.py builds the same architecture with
shorter or busier numbers and runs it on both engine paths. Each builder names the test that
checks it against theory; a builder returns a fresh document (a plain dict, as written in a
scenario file) every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Document = dict[str, Any]


def exponential_steps(mean_service_time: float) -> list[Document]:
    """An operation that works for an exponential time (rate 1 / mean)."""
    return [{"work": {"exponential": mean_service_time}}]


def exponential_service(mean_service_time: float) -> Document:
    """A one-worker service whose only operation `serve` works for an exponential time."""
    return {"operations": {"serve": exponential_steps(mean_service_time)}}


# --------------------------------------------------------------------------- services


def fork_join(simulation: Document, arrival_rate: float, mean_service_time: float) -> Document:
    """Poisson jobs that call `left` and `right` in parallel, two exponential services
    (test_networks.py::test_fork_join_of_two_mm1_is_flatto_hahn)."""
    return {
        "name": "fork-join",
        "simulation": simulation,
        "services": {
            "left": exponential_service(mean_service_time),
            "right": exponential_service(mean_service_time),
        },
        "workload": {
            "jobs": {
                "steps": [{"parallel": [[{"call": "left"}], [{"call": "right"}]]}],
                "arrivals": {"poisson": arrival_rate},
            }
        },
    }


def calls(
    name: str,
    simulation: Document,
    arrival_rate: float,
    mean_front: float,
    mean_back: float,
    blocking: bool | None = None,
) -> Document:
    """Poisson requests to `front`, which works for an exponential time, then calls `back`
    (`blocking_calls` as given; None: not written, the default)
    (test_networks.py::test_synchronous_call_holds_the_callers_worker and
    ::test_non_blocking_call_makes_a_tandem_of_mm1_queues)."""
    front: Document = {} if blocking is None else {"blocking_calls": blocking}
    front["operations"] = {"handle": [*exponential_steps(mean_front), {"call": "back"}]}
    return {
        "name": name,
        "simulation": simulation,
        "services": {"front": front, "back": exponential_service(mean_back)},
        "workload": {"requests": {"entry": "front", "arrivals": {"poisson": arrival_rate}}},
    }


def closed_network(
    simulation: Document, clients: int, think_time: float, demands: Mapping[str, float]
) -> Document:
    """`clients` clients that think (exponential) and call each service of `demands` in
    turn, each an exponential service of that mean
    (test_networks.py::test_closed_network_matches_exact_mva)."""
    return {
        "name": "closed",
        "simulation": simulation,
        "services": {name: exponential_service(demand) for name, demand in demands.items()},
        "workload": {
            "users": {
                "steps": [{"call": name} for name in demands],
                "clients": clients,
                "think_time": {"exponential": think_time},
            }
        },
    }


def priorities(
    simulation: Document, rates: Mapping[str, float], means: Mapping[str, float]
) -> Document:
    """Two classes at one server (`discipline: priority`): `interactive` (priority 1,
    exponential service) before `batch` (priority 2, constant service), Poisson arrivals at
    `rates`, service means `means` (test_single_station.py::test_nonpreemptive_priority_cobham)."""
    return {
        "name": "priorities",
        "simulation": simulation,
        "services": {
            "server": {
                "discipline": "priority",
                "operations": {
                    "interactive": exponential_steps(means["interactive"]),
                    "batch": [{"work": {"constant": means["batch"]}}],
                },
            }
        },
        "workload": {
            "interactive": {
                "entry": "server.interactive",
                "arrivals": {"poisson": rates["interactive"]},
                "priority": 1,
            },
            "batch": {
                "entry": "server.batch",
                "arrivals": {"poisson": rates["batch"]},
                "priority": 2,
            },
        },
    }


def autoscaled_service(
    simulation: Document,
    *,
    arrival_rate: float,
    service_time: float,
    workers: int,
    target: float,
    balancing: str,
    interval: float,
    stabilization: float,
    startup: float,
) -> Document:
    """Poisson requests to `api`, scaled on utilization from 1 to 10 replicas
    (test_dynamics.py::test_autoscaled_service_settles_at_the_offered_load_over_the_target)."""
    return {
        "name": "hpa-steady",
        "simulation": simulation,
        "services": {
            "api": {
                "replicas": 1,
                "workers": workers,
                "balancing": balancing,
                "operations": {"handle": exponential_steps(service_time)},
                "autoscale": {
                    "metric": "utilization",
                    "target": target,
                    "min": 1,
                    "max": 10,
                    "interval": interval,
                    "stabilization": stabilization,
                    "startup": startup,
                },
            }
        },
        "workload": {"users": {"entry": "api", "arrivals": {"poisson": arrival_rate}}},
    }


# --------------------------------------------------------------------------- topics


def fan_out(
    simulation: Document, arrival_rate: float, service_rates: Mapping[str, float]
) -> Document:
    """Poisson publications to `events`, consumed by one group per service of
    `service_rates`, each an exponential handler of that rate
    (test_topics_delivery.py::test_fan_out_gives_every_group_its_own_mm1_queue)."""
    return {
        "name": "fan-out",
        "simulation": simulation,
        "services": {
            name: {"operations": {"handle": exponential_steps(1 / rate)}}
            for name, rate in service_rates.items()
        },
        "topics": {"events": {"subscribers": {name: "handle" for name in service_rates}}},
        "workload": {
            "load": {"steps": [{"publish": "events"}], "arrivals": {"poisson": arrival_rate}}
        },
    }


def queue_topics_with_feedback(name: str, simulation: Document) -> Document:
    """Queue topics a -> b -> a: `sa` (M/M/1) publishes to b with probability 0.6 through a
    branch, `sb` (2 replicas) back to a with probability 0.3; 100 requests / s enter at a
    (test_analysis_vs_simulation.py::test_jackson_network_of_queue_topics_with_feedback)."""
    return {
        "name": name,
        "simulation": simulation,
        "services": {
            "front": {"workers": "unlimited", "operations": {"o": [{"publish": "a"}]}},
            "sa": {
                "operations": {
                    "h": [
                        *exponential_steps(0.005),
                        {
                            "branch": [
                                {"probability": 0.6, "steps": [{"publish": "b"}]},
                                {"probability": 0.4, "steps": []},
                            ]
                        },
                    ]
                }
            },
            "sb": {
                "replicas": 2,
                "operations": {
                    "h": [
                        *exponential_steps(0.012),
                        {"publish": {"topic": "a", "probability": 0.3}},
                    ]
                },
            },
        },
        "topics": {
            "a": {"type": "queue", "subscribers": {"sa": "h"}},
            "b": {"type": "queue", "subscribers": {"sb": "h"}},
        },
        "workload": {"f": {"entry": "front", "arrivals": {"poisson": 100.0}}},
    }


def self_loop(topic_type: str, *, duration: float, arrival_rate: float) -> Document:
    """A handler (constant 1 s) that re-publishes to its own topic with probability 1/2, fed
    at a constant rate (test_topic_properties.py::test_message_started_on_delivery_did_not_wait)."""
    return {
        "name": "self-loop",
        "simulation": {"duration": duration},
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
        "workload": {
            "load": {"steps": [{"publish": "tasks"}], "arrivals": {"constant": arrival_rate}}
        },
    }


def partition_order(partitioning: str, *, duration: float) -> Document:
    """Six partitions with a random delivery latency, consumed by 2 and by 4 consumer threads
    (test_topic_properties.py::test_each_partition_is_consumed_in_publication_order)."""
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
        "simulation": {"duration": duration},
        "services": {
            "billing": {"operations": {"charge": exponential_steps(0.3)}},
            "audit": {"replicas": 4, "operations": {"record": exponential_steps(0.5)}},
        },
        "topics": {"orders": topic},
        "workload": {"load": {"steps": [{"publish": "orders"}], "arrivals": {"poisson": 5.0}}},
    }


def lag_scaling(topic_type: str, *, partitions: int, duration: float) -> Document:
    """20 messages / s to handlers of 1 s, a group scaled on lag from 1 to 12 consumers
    (`partitions` on a log topic)
    (test_dynamics.py::test_lag_scaling_is_capped_at_the_partitions_of_a_log)."""
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
        topic["partitions"] = partitions
    return {
        "name": "keda-cap",
        "simulation": {"duration": duration, "sample_interval": 5},
        "services": {"worker": {"operations": {"handle": exponential_steps(1.0)}}},
        "topics": {"jobs": topic},
        "workload": {"load": {"steps": [{"publish": "jobs"}], "arrivals": {"poisson": 20.0}}},
    }


def spread_reads(
    duration: float,
    replications: int = 1,
    third_read: float = 1.0,
    pages: float = 333.0,
    database_workers: int = 4,
    database_work: float = 0.002,
) -> Document:
    """A page asks `users` (async, 8 workers) for three records at once; each works 0.5 ms
    (exponential) and then reads `db` (the third with probability `third_read`): the reads
    arrive at `db` as a group spread by that work. Checked against the simulation by
    tests/theory/test_batch_arrivals_spread.py::test_groups_spread_by_some_work."""
    read = [{"work": {"exponential": 0.0005}}, {"call": "db.find"}]
    third = [
        read[0],
        {"call": {"service": "db", "operation": "find", "probability": third_read}},
    ]
    return {
        "name": "spread",
        "simulation": {"duration": duration, "warmup": 3, "replications": replications},
        "services": {
            "page": {
                "workers": "unlimited",
                "operations": {
                    "render": [
                        {
                            "parallel": [
                                [{"call": "users.profile"}],
                                [{"call": "users.address"}],
                                [{"call": "users.card"}],
                            ]
                        }
                    ]
                },
            },
            "users": {
                "workers": 8,
                "blocking_calls": False,
                "operations": {"profile": read, "address": read, "card": third},
            },
            "db": {
                "workers": database_workers,
                "operations": {"find": [{"work": {"exponential": database_work}}]},
            },
        },
        "workload": {"pages": {"entry": "page.render", "arrivals": {"poisson": pages}}},
    }


def two_stage_pipeline(work: Document, arrival_rate: float, simulation: Document) -> Document:
    """Two stages of one consumer each on queue topics, the first publishing to the second
    after its `work` (test_stream_variability.py; tests/unit/test_streams.py)."""
    return {
        "name": "two-stage-pipeline",
        "simulation": simulation,
        "topics": {
            "t0": {"type": "queue", "subscribers": {"first": "handle"}},
            "t1": {"type": "queue", "subscribers": {"second": "handle"}},
        },
        "services": {
            "first": {"operations": {"handle": [{"work": work}, {"publish": "t1"}]}},
            "second": {"operations": {"handle": [{"work": work}]}},
        },
        "workload": {
            "orders": {"steps": [{"publish": "t0"}], "arrivals": {"poisson": arrival_rate}}
        },
    }


def shared_database(batch_rate: str) -> Document:
    """An API of 4 workers (12 ms of work, then a 3 ms read) offered 300/s in front of a
    one-worker database that a batch also reads at `batch_rate`: with 100/s the API's pool
    shields the database (tests/theory/test_overload.py); with 400/s the batch saturates it
    alone (tests/unit/test_throttle.py)."""
    return {
        "name": "shared-database",
        "services": {
            "api": {
                "workers": 4,
                "operations": {"get": [{"work": {"exponential": "12ms"}}, {"call": "db.read"}]},
            },
            "db": {
                "operations": {
                    "read": exponential_steps(0.003),
                    "scan": exponential_steps(0.003),
                }
            },
        },
        "workload": {
            "users": {"entry": "api.get", "arrivals": {"poisson": "300/s"}},
            "batch": {"entry": "db.scan", "arrivals": {"poisson": batch_rate}},
        },
    }


def gateway_chain() -> Document:
    """A gateway without a worker limit offered 150/s: a 1 ms delay, a call to `auth` (one
    worker of 10 ms: 100/s flat out), a call to `cart` for half of them, a publish to
    `seen`. Only what `auth` answers goes on: `cart` gets 50/s and `stats` 100 messages a
    second (tests/theory/test_overload.py, tests/unit/test_throttle.py)."""
    return {
        "name": "gateway-chain",
        "services": {
            "gateway": {
                "workers": "unlimited",
                "operations": {
                    "get": [
                        {"delay": {"constant": "1ms"}},
                        {"call": "auth"},
                        {"call": {"service": "cart", "probability": 0.5}},
                        {"publish": "seen"},
                    ]
                },
            },
            "auth": {"operations": {"check": exponential_steps(0.010)}},
            "cart": {"workers": 2, "operations": {"read": exponential_steps(0.008)}},
            "stats": {"operations": {"count": exponential_steps(0.002)}},
        },
        "topics": {"seen": {"type": "queue", "subscribers": {"stats": "count"}}},
        "workload": {"users": {"entry": "gateway.get", "arrivals": {"poisson": "150/s"}}},
    }


def async_gateway() -> Document:
    """An async-I/O gateway of 2 workers (10 ms, a call to a database of 8 workers of 20 ms,
    2 ms more) offered 250/s: its resumes queue behind the backlog too
    (tests/theory/test_overload.py, tests/unit/test_throttle.py)."""
    return {
        "name": "async-gateway",
        "simulation": {"duration": "60s"},
        "services": {
            "gw": {
                "workers": 2,
                "blocking_calls": False,
                "operations": {
                    "get": [*exponential_steps(0.010), {"call": "db"}, *exponential_steps(0.002)]
                },
            },
            "db": {"workers": 8, "operations": {"q": exponential_steps(0.020)}},
        },
        "workload": {"u": {"entry": "gw.get", "arrivals": {"poisson": "250/s"}}},
    }


def event_loop(duration: float, replications: int = 1) -> Document:
    """One async-I/O worker (an event loop) at 70 requests/s: `work 4 ms; branch(0.4: call
    a backend of 5 ms | 0.6: work 3 ms); work 2 ms`, exponential work. Where the branch
    works one acquisition holds the loop for all three pieces; where it calls, two hold it
    (`models.analysis.segments`). Checked against the simulation by
    tests/theory/test_async_segments.py."""
    branch = [
        {"probability": 0.4, "steps": [{"call": "backend.q"}]},
        {"probability": 0.6, "steps": [{"work": {"exponential": 0.003}}]},
    ]
    backends = {"backend": {"exponential": 0.005}}
    return async_node("event-loop", {"branch": branch}, 0.002, backends, 70, duration, replications)


def async_node(
    name: str,
    middle: dict[str, Any],
    last: float,
    backends: dict[str, dict[str, Any]],
    rate: float,
    duration: float,
    replications: int,
) -> Document:
    """One async-I/O worker (`node`, `rate` requests/s): `work 4 ms` (exponential), the step
    `middle`, then `last` seconds of exponential work; each backend of unlimited workers
    works (or, for a `constant` law, waits: `delay`) its law in operation `q`."""

    def backend(law: dict[str, Any]) -> dict[str, Any]:
        step = {"delay": law} if "constant" in law else {"work": law}
        return {"workers": "unlimited", "operations": {"q": [step]}}

    return {
        "name": name,
        "simulation": {"duration": duration, "warmup": 5, "replications": replications},
        "services": {
            "node": {
                "workers": 1,
                "blocking_calls": False,
                "operations": {
                    "op": [
                        {"work": {"exponential": 0.004}},
                        middle,
                        {"work": {"exponential": last}},
                    ]
                },
            },
            **{backend_name: backend(law) for backend_name, law in backends.items()},
        },
        "workload": {"users": {"entry": "node.op", "arrivals": {"poisson": rate}}},
    }
