"""Consumer groups and services paced by one server (models/analysis/paced.py): `analyze`
against `simulate`.

A pool of one server whose every hold spends at least g before it publishes sends the
topic's messages at least g apart; a group whose handler holds its consumer at most
k g (k its servers) then never has a message waiting, at any load (a sample-path fact:
Loynes (1962); Friedman (1965), "Reduction methods for tandem queuing systems", Oper.
Res. 13(1), for the deterministic tandem). So:

- every replication's largest wait at such a group is exactly 0 (checked for equality);
- its sojourn is its handler's work, and its lag is arrival rate x that work (Little's law),
  which the analysis gives, marked exact;
- the pacing holds down a chain: a one-consumer group that publishes after at least g of
  work paces the next, whatever its own arrivals (Poisson ones here, in the second test);
- a flow at a fixed rate that publishes itself paces its topic as a server would (third
  test);
- calls are paced alike: an event loop's calls (one async-I/O worker, each call ending 3
  ms of its work) to a backend of 1-3 ms per replica, and a load test's calls at a fixed
  rate to an API whose work is never longer than the time between them: neither waits
  (the last two tests, each replication's largest wait 0, utilization and response
  against the analysis).

The pipeline: 400 clicks/s (Poisson) into a collector of one worker (2 ms constant, publish
`raw`, a queue topic); a sessionizer of one consumer (uniform 1-2 ms, publish `sessions`);
an archiver of 2 threads (uniform 2-4 ms <= 2 x 2 ms); on `sessions` (a log topic of 4
partitions) counters of 2 consumers, each one server for its partitions (1 ms constant <=
the sessionizer's 1 ms before its publish). Before the rule, the two-moment formulas gave
the sessionizer 0.45 ms of waiting, the archiver 0.34 ms and the counters 0.08 ms (0.10 ms
behind the exponential collector of the second test).

Tolerance: the rule of tests/theory/conftest.py (`agrees`): |mean - prediction| <= t_{1 -
alpha/2, n-1} SE over n independent replications, alpha = 1e-4 per check; a constant
sojourn, whose replications vary only by rounding, to a relative 1e-9. Seeds: the `seed`
fixture.
"""

from __future__ import annotations

import math
from typing import Any

from models import analyze, load_scenario
from sim import simulate
from tests.theory.conftest import statistic

SIMULATION = {"duration": "60s", "warmup": "5s", "replications": 8}
PACED = [("raw", "sessionizer"), ("raw", "archiver"), ("sessions", "counter")]


def _pipeline(collector_work: dict[str, Any]) -> dict[str, Any]:
    """The clickstream pipeline of the module docstring, the collector's work given."""
    return {
        "name": "paced-pipeline",
        "simulation": SIMULATION,
        "services": {
            "collector": {"operations": {"ingest": [{"work": collector_work}, {"publish": "raw"}]}},
            "sessionizer": {
                "operations": {
                    "assign": [{"work": {"uniform": ["1ms", "2ms"]}}, {"publish": "sessions"}]
                }
            },
            "archiver": {"operations": {"store": [{"work": {"uniform": ["2ms", "4ms"]}}]}},
            "counter": {"operations": {"count": [{"work": {"constant": "1ms"}}]}},
        },
        "topics": {
            "raw": {
                "type": "queue",
                "subscribers": {
                    "sessionizer": "assign",
                    "archiver": {"operation": "store", "concurrency": 2},
                },
            },
            "sessions": {
                "partitions": 4,
                "subscribers": {"counter": {"operation": "count", "concurrency": 2}},
            },
        },
        "workload": {"clicks": {"entry": "collector.ingest", "arrivals": {"poisson": 400}}},
    }


def _check_paced(
    document: dict[str, Any], groups: list[tuple[str, str]], seed: int, agrees: Any
) -> None:
    """Each of `groups` never waits in any replication, and its lag and sojourn agree with
    the analysis, which calls it paced and exact."""
    scenario = load_scenario(document)
    predicted = analyze(scenario, capacity=False).to_dict()
    runs = simulate(scenario, seed=seed).replications
    for topic, group in groups:
        where = ("topics", topic, "groups", group)
        entry = predicted["topics"][topic]["groups"][group]
        assert entry["method"].startswith("paced arrivals"), entry["method"]
        assert entry["exact"] is True
        assert entry["waiting_time"]["mean"] == 0.0
        longest = statistic(runs, *where, "waiting_time", "max")
        assert longest == [0.0] * len(runs), f"{topic}/{group} waited: {longest}"
        lag = statistic([predicted], *where, "lag", "mean")[0]
        agrees(statistic(runs, *where, "lag", "mean"), lag, f"{topic}/{group} lag")
        sojourn = entry["sojourn_time"]["mean"]
        simulated = statistic(runs, *where, "sojourn_time", "mean")
        if max(simulated) - min(simulated) <= 1e-9 * sojourn:  # a constant handler
            assert all(math.isclose(value, sojourn, rel_tol=1e-9) for value in simulated)
        else:
            agrees(simulated, sojourn, f"{topic}/{group} sojourn")


def test_fixed_time_stages_behind_one_worker_never_wait(seed: int, agrees: Any) -> None:
    _check_paced(_pipeline({"constant": "2ms"}), PACED, seed, agrees)


def test_a_paced_stage_paces_the_next_whatever_its_own_arrivals(seed: int, agrees: Any) -> None:
    """With an exponential collector the sessionizer and the archiver wait (Poisson-like
    arrivals), but the sessionizer still publishes at least 1 ms apart: the counters never
    wait."""
    document = _pipeline({"exponential": "2ms"})
    predicted = analyze(load_scenario(document), capacity=False).to_dict()
    for group in ("sessionizer", "archiver"):
        assert predicted["topics"]["raw"]["groups"][group]["waiting_time"]["mean"] > 0
    _check_paced(document, [("sessions", "counter")], seed, agrees)


def test_a_load_generator_at_a_fixed_rate_paces_its_consumers(seed: int, agrees: Any) -> None:
    """A load test publishing 200 events a second exactly (after 1-3 ms of its own work, so
    at least 3 ms apart) into a queue topic whose 2 consumers take 2-6 ms each (<= 2 x 3
    ms): no event ever waits (Allen-Cunneen with the stream's SCV said 0.032 ms)."""
    document = {
        "name": "fixed-rate-load",
        "simulation": SIMULATION,
        "services": {"worker": {"operations": {"handle": [{"work": {"uniform": ["2ms", "6ms"]}}]}}},
        "topics": {
            "jobs": {
                "type": "queue",
                "subscribers": {"worker": {"operation": "handle", "concurrency": 2}},
            }
        },
        "workload": {
            "load": {
                "steps": [{"work": {"uniform": ["1ms", "3ms"]}}, {"publish": "jobs"}],
                "arrivals": {"constant": 200},
            }
        },
    }
    _check_paced(document, [("jobs", "worker")], seed, agrees)


def _check_paced_service(document: dict[str, Any], service: str, seed: int, agrees: Any) -> None:
    """`service` never waits in any replication, and its utilization and response agree
    with the analysis, which calls it paced and exact."""
    scenario = load_scenario(document)
    entry = analyze(scenario, capacity=False).to_dict()["services"][service]
    assert entry["method"].startswith("paced arrivals"), entry["method"]
    assert entry["exact"] is True
    assert entry["waiting_time"]["mean"] == 0.0
    runs = simulate(scenario, seed=seed).replications
    where = ("services", service)
    longest = statistic(runs, *where, "waiting_time", "max")
    assert longest == [0.0] * len(runs), f"{service} waited: {longest}"
    for quantity in ("utilization", "response_time"):
        predicted = entry[quantity] if quantity == "utilization" else entry[quantity]["mean"]
        path = (*where, quantity) if quantity == "utilization" else (*where, quantity, "mean")
        agrees(statistic(runs, *path), predicted, f"{service} {quantity}")


def test_an_event_loop_paces_the_backend_it_calls(seed: int, agrees: Any) -> None:
    """A gateway of one async-I/O worker (an event loop) works 3 ms, calls a backend, and
    works 1 ms more when the reply comes, at Poisson 200/s (80% busy: it queues). Its calls
    leave at least 3 ms apart (the worker is one, and each call ends 3 ms of its work), so
    a backend of 2 replicas (round robin, one worker each, 1-3 ms) never waits, where
    Allen-Cunneen with QNA's stream said 0.146 ms."""
    document = {
        "name": "event-loop",
        "simulation": SIMULATION,
        "services": {
            "gateway": {
                "blocking_calls": False,
                "operations": {
                    "get": [
                        {"work": {"constant": "3ms"}},
                        {"call": "backend"},
                        {"work": {"constant": "1ms"}},
                    ]
                },
            },
            "backend": {
                "replicas": 2,
                "operations": {"read": [{"work": {"uniform": ["1ms", "3ms"]}}]},
            },
        },
        "workload": {"users": {"entry": "gateway.get", "arrivals": {"poisson": 200}}},
    }
    _check_paced_service(document, "backend", seed, agrees)


def test_a_load_test_at_a_fixed_rate_paces_its_entry(seed: int, agrees: Any) -> None:
    """A load generator calls an API of one worker 250 times a second exactly; the work is
    uniform 2-4 ms, never longer than the 4 ms between calls: the API never waits (D/G/1
    with S <= D), where Allen-Cunneen said 0.167 ms."""
    document = {
        "name": "fixed-rate-api",
        "simulation": SIMULATION,
        "services": {"api": {"operations": {"get": [{"work": {"uniform": ["2ms", "4ms"]}}]}}},
        "workload": {"load": {"entry": "api.get", "arrivals": {"constant": 250}}},
    }
    _check_paced_service(document, "api", seed, agrees)
