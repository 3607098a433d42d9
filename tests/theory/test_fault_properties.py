"""Property tests of the engine under random fault schedules (hypothesis; no tolerance).

A small architecture with the paths faults can break: a flow calls `api` (2 replicas of one
worker, a waiting room of 5, optionally a rate limit, a queue timeout and non-blocking
calls), which calls `db` through a resilient call (timeout, retries with jittered backoff,
circuit breaker, bulkhead) and publishes to `events`, a log or a queue consumed by `worker`
(message retries, optionally a dead-letter topic `dlq` consumed by `auditor`). Hypothesis
draws the options and a schedule of faults: service outages (all replicas or one), random
crashes, error bursts, slowdowns and broker outages. Every replication must satisfy exactly
(warm-up 0, so nothing is present when counting starts):

- per flow: arrived = completed + dropped + failed + in_flight, and the failures by reason
  sum to dropped + failed (`sim/engine/flows.py`: every measured request is counted once
  when answered);
- per service: attempts = completed + dropped + rejected + unavailable + timed_out +
  in_system.final (`ServiceRuntime.summary`: what arrives leaves by exactly one of these
  doors or is still there; completed = throughput x duration, errors included), checked
  against independent counts: `api`'s attempts are the flow's arrivals and each failure
  reason of the flow is `api`'s count for it (the flow is `api`'s only caller), and `db`'s
  attempts are the calls table's attempts that passed the breaker and the bulkhead;
- per consumer group: received = consumed + dead_lettered + lost + lag.final
  (`GroupResults`: the lag counts what was received and has not left), every group
  receives every message of its topic, and the dead-letter topic gets exactly the
  dead-lettered messages;
- no message is lost silently: `lost` > 0 only for a group without a dead-letter topic
  whose handler can fail (a `fail` step, or an `errors` fault at `worker`); a group with a
  dead-letter topic never loses one;
- a rate limit never admits more than burst + rate x duration;
- calls table: attempts <= calls + retries (a retry waiting for its backoff at the end is
  counted but has not made its attempt, nor has one whose caller went down meanwhile:
  such a caller stops retrying), short_circuited = failures.circuit_open.

A second property runs schedules of faults that all end early, with arrivals that stop
(a `profile` rate drops to 0) long before the end: then everything drains, so at the end
nothing is in flight, present or lagging, and the identities above hold with equality
(attempts = calls + retries unless `api` went down). Random crashes go on for the whole run
and are left out there.

Seeds: the `seed` fixture (tests/theory/conftest.py) plus a drawn offset, so
ARCHSIM_TEST_SEED_SHIFT moves these runs too.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import load_scenario
from models.results import Measurements
from sim.engine import run_replication

pytestmark = pytest.mark.theory

SERVICES = ("api", "db", "worker")
SETTINGS = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# --------------------------------------------------------------------------- strategies


@st.composite
def window(draw: st.DrawFn, latest: float) -> dict[str, float]:
    at = draw(st.floats(0.0, latest, allow_nan=False).map(lambda value: round(value, 2)))
    length = draw(st.floats(0.1, 8.0, allow_nan=False).map(lambda value: round(value, 2)))
    return {"at": at, "for": length}


@st.composite
def service_fault(draw: st.DrawFn, latest: float, crashes: bool) -> dict[str, Any]:
    """An outage (all replicas or the first), a crash, an error burst or a slowdown."""
    service = draw(st.sampled_from(SERVICES))
    kinds = ["outage", "errors", "slowdown"] + (["crash"] if crashes else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "crash":
        return {
            "service": service,
            "kind": "crash",
            "mtbf": draw(st.sampled_from([3.0, 10.0, 30.0])),
            "mttr": draw(st.sampled_from([0.3, 1.0, 3.0])),
        }
    fault: dict[str, Any] = {"service": service, "kind": kind, **draw(window(latest))}
    if kind == "outage" and draw(st.booleans()):
        fault["replicas"] = 1
    elif kind == "errors":
        fault["probability"] = draw(st.sampled_from([0.2, 0.7, 1.0]))
    elif kind == "slowdown":
        fault["factor"] = draw(st.sampled_from([0.5, 3.0, 30.0]))
    return fault


@st.composite
def architectures(draw: st.DrawFn, draining: bool) -> dict[str, Any]:
    """The scenario of the module docstring with drawn options and faults. `draining`:
    window faults that end by t = 35, arrivals until t = 40, run until t = 100; otherwise
    any faults (crashes too) over a 60 s run with arrivals throughout."""
    topic_type = draw(st.sampled_from(["log", "queue"]))
    dead_letter = draw(st.booleans())
    handler_fails = draw(st.booleans())
    subscriber: dict[str, Any] = {
        "operation": "handle",
        "concurrency": draw(st.sampled_from([1, 2])),
        "max_attempts": draw(st.sampled_from([1, 2, 3])),
    }
    if draw(st.booleans()):
        subscriber["retry_backoff"] = {"exponential": 0.1}
    if dead_letter:
        subscriber["dead_letter"] = "dlq"
    api: dict[str, Any] = {
        "replicas": 2,
        "queue_capacity": 5,
        "balancing": draw(st.sampled_from(["round_robin", "shared", "least_outstanding"])),
        "blocking_calls": draw(st.booleans()),
        "operations": {
            "handle": [
                {"work": {"exponential": 0.02}},
                {
                    "call": {
                        "service": "db",
                        "timeout": 0.5,
                        "retries": 2,
                        "backoff": {"initial": 0.05, "jitter": "full"},
                        "circuit_breaker": {
                            "failure_rate": 0.5,
                            "window": 5,
                            "min_calls": 5,
                            "open_for": 1,
                            "half_open_calls": 2,
                        },
                        "bulkhead": 3,
                    }
                },
                {"publish": "events"},
            ]
        },
    }
    if draw(st.booleans()):
        api["rate_limit"] = {"rate": 12.0, "burst": 5}
    if draw(st.booleans()):
        api["queue_timeout"] = 0.5
    handler: list[dict[str, Any]] = [{"work": {"exponential": 0.15}}]
    if handler_fails:
        handler.append({"fail": 0.1})
    latest = 27.0 if draining else 55.0
    faults = draw(st.lists(service_fault(latest, crashes=not draining), max_size=5))
    topic_names = ["events", "dlq"] if dead_letter else ["events"]
    for _ in range(draw(st.integers(0, 1))):
        topic = draw(st.sampled_from(topic_names))
        faults.append({"topic": topic, "kind": "outage", **draw(window(latest))})
    rate = 10.0
    arrivals = (
        {"profile": [{"at": 0, "rate": rate}, {"at": 40, "rate": 0}]}
        if draining
        else {"poisson": rate}
    )
    document: dict[str, Any] = {
        "name": "random-faults",
        "simulation": {"duration": 100.0 if draining else 60.0},
        "services": {
            "api": api,
            "db": {
                "replicas": 2,
                "workers": 2,
                "queue_capacity": 10,
                "operations": {"query": [{"work": {"exponential": 0.03}}, {"fail": 0.05}]},
            },
            "worker": {"replicas": 2, "operations": {"handle": handler}},
        },
        "topics": {
            "events": {
                "type": topic_type,
                **({"partitions": 3} if topic_type == "log" else {}),
                "subscribers": {"worker": subscriber},
            }
        },
        "workload": {"client": {"entry": "api.handle", "arrivals": arrivals}},
        "faults": faults,
    }
    if dead_letter:
        document["services"]["auditor"] = {"operations": {"record": [{"work": {"constant": 0.01}}]}}
        document["topics"]["dlq"] = {"subscribers": {"auditor": "record"}}
    return document


# --------------------------------------------------------------------------- checks


def handler_can_fail(document: dict[str, Any]) -> bool:
    """Whether `worker`'s handler can end with an error: a `fail` step or an `errors`
    fault at `worker`."""
    steps = document["services"]["worker"]["operations"]["handle"]
    return any("fail" in step for step in steps) or any(
        fault.get("service") == "worker" and fault["kind"] == "errors"
        for fault in document["faults"]
    )


def check_invariants(document: dict[str, Any], result: Measurements, drained: bool) -> None:
    """The exact identities of the module docstring (with equality where `drained`)."""
    duration = document["simulation"]["duration"]
    flow = result.flows["client"]
    failures = flow.failures.to_dict()
    assert flow.arrived == flow.completed + flow.dropped + flow.failed + flow.in_flight
    assert sum(failures.values()) == flow.dropped + flow.failed
    assert failures["dropped"] == flow.dropped

    for name, service in result.services.items():
        completed = round(service.throughput * duration)
        left = completed + service.dropped + service.rejected + service.unavailable
        assert service.attempts == left + service.timed_out + service.in_system.final, name
        assert service.errors <= completed, name
        if drained:
            assert service.in_system.final == 0, name

    api = result.services["api"]
    assert api.attempts == flow.arrived
    assert flow.in_flight == api.in_system.final
    assert failures["error"] == api.errors
    assert failures["unavailable"] == api.unavailable
    assert failures["rejected"] == api.rejected
    assert failures["timeout"] == api.timed_out
    assert failures["dropped"] == api.dropped
    assert failures["circuit_open"] == 0  # (the flow's own call to api is plain)
    limit = document["services"]["api"].get("rate_limit")
    if limit is not None:
        assert api.attempts - api.rejected <= limit["burst"] + limit["rate"] * duration

    assert result.calls is not None
    row = result.calls["api->db.query"]
    assert row.short_circuited == row.failures.circuit_open
    assert row.attempts <= row.calls + row.retries
    api_went_down = any(
        fault.get("service") == "api" and fault["kind"] in ("outage", "crash")
        for fault in document["faults"]
    )
    if drained and not api_went_down:
        assert row.attempts == row.calls + row.retries
    # what passed the breaker and the bulkhead reached db (db has no rate limit)
    assert result.services["db"].attempts == row.attempts - row.short_circuited - (
        row.failures.rejected
    )

    topic = result.topics["events"]
    group = topic.groups["worker"]
    assert group.received == topic.published
    assert group.received == group.consumed + group.dead_lettered + group.lost + group.lag.final
    if drained:
        assert group.lag.final == 0
    dead_letter = "dlq" in result.topics
    if dead_letter:
        assert group.lost == 0
        dlq = result.topics["dlq"]
        assert dlq.published == group.dead_lettered
        audit = dlq.groups["auditor"]
        assert audit.received == dlq.published
        assert audit.received == audit.consumed + audit.dead_lettered + audit.lost + audit.lag.final
        assert audit.lost == audit.dead_lettered == 0  # (the auditor's handler cannot fail)
        if drained:
            assert audit.lag.final == 0
    else:
        assert group.dead_lettered == 0
    if not handler_can_fail(document):
        assert group.lost == group.dead_lettered == 0
        # every handler run ends consumed or is cut short by a crash (then redelivered),
        # except those still running at the end (at most one per consumer thread)
        threads = 2 * document["topics"]["events"]["subscribers"]["worker"]["concurrency"]
        unfinished = group.attempts - group.consumed - group.redelivered
        assert 0 <= unfinished <= (0 if drained else threads)


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(document=architectures(draining=False), offset=st.integers(0, 10_000))
def test_every_request_and_message_is_accounted_for_under_any_faults(
    document: dict[str, Any], offset: int, seed: int
) -> None:
    """Any fault schedule (crashes included): the identities of the module docstring."""
    result = run_replication(load_scenario(document), 0, seed + offset).measurements
    check_invariants(document, result, drained=False)


@SETTINGS
@given(document=architectures(draining=True), offset=st.integers(0, 10_000))
def test_after_the_faults_and_the_load_end_everything_drains(
    document: dict[str, Any], offset: int, seed: int
) -> None:
    """Faults that end by t = 35 and arrivals that stop at t = 40, run until t = 100:
    nothing is left in flight, at a service or in a group, and nothing was lost silently."""
    result = run_replication(load_scenario(document), 0, seed + offset).measurements
    check_invariants(document, result, drained=True)
    for fault in result.faults or []:
        assert fault.backlog_peak is not None
