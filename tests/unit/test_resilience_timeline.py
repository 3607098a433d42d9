"""Deterministic tests of failures and resilience: constant times give an exact timeline.

Every scenario here uses constant arrivals (one every 1/rate seconds, the first at 1/rate)
and constant work, so each test can state, in its docstring, when every request arrives,
starts, fails, is retried or refused, and every count and latency follows exactly. Fault
windows and arrival times are chosen off each other's instants (a window from 0.5 or 9.5,
arrivals at whole seconds) so that no result depends on the order of events at equal times.
Message timelines are read from the trace of message starts (`Replication(..., trace=...)`:
(topic, group, partition, message number, start time) for every handler run).

"""

from __future__ import annotations

from typing import Any

import pytest

from models import load_scenario
from models.results import Measurements
from sim.engine import Replication, run_replication

Trace = list[tuple[str, str, int, int, float]]


def run(raw: dict[str, Any]) -> Measurements:
    return run_replication(load_scenario(raw), 0, 1).measurements


def traced(raw: dict[str, Any]) -> tuple[list[tuple[int, float]], Measurements]:
    """Replication 0 of `raw` and its (message number, start time) of every handler run of
    the topic `events` (in start order)."""
    trace: Trace = []
    measurements = Replication(load_scenario(raw), 0, 1, trace=trace).run().measurements
    starts = [
        (message, round(time, 9)) for topic, _, _, message, time in trace if topic == "events"
    ]
    return starts, measurements


def scenario(
    duration: float,
    services: dict[str, Any],
    steps: list[dict[str, Any]],
    rate: float = 1.0,
    **extra: Any,
) -> dict[str, Any]:
    """Flow `f` runs `steps` (as the external client) at constant `rate` from t = 1 / rate."""
    return {
        "name": "timeline",
        "simulation": {"duration": duration},
        "services": services,
        "workload": {"f": {"arrivals": {"constant": rate}, "steps": steps}},
        **extra,
    }


def db(work: float = 0.1, *tail: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """A service `db` with one operation `query`: constant `work`, then `tail` steps."""
    return {"db": {**settings, "operations": {"query": [{"work": {"constant": work}}, *tail]}}}


def errors(service: str, at: float, length: float, probability: float = 1.0) -> dict[str, Any]:
    return {
        "service": service,
        "kind": "errors",
        "at": at,
        "for": length,
        "probability": probability,
    }


def reasons(failures: Any) -> dict[str, float]:
    """The non-zero counts of a `Failures` record."""
    return {reason: count for reason, count in failures.to_dict().items() if count}


# --------------------------------------------------------------------------- circuit breaker

BREAKER = {"failure_rate": 1.0, "window": 10, "min_calls": 3, "open_for": 4, "half_open_calls": 2}


def test_breaker_opens_refuses_retries_half_open_and_closes() -> None:
    """One call per second (t = 1..20) through a breaker (failure_rate 1, window 10 s,
    min_calls 3, open_for 4 s, 2 half-open trials) to a 0.1 s operation that fails while
    an `errors` fault lasts (operations started in [0.5, 8.5)):

    - 1, 2, 3: errors; the third failure (at 3.1) makes 3 failed of 3 in the window: open
      until 7.1;
    - 4, 5, 6, 7: refused at once (circuit_open, short-circuited);
    - 8: half-open, first trial: fails (still in the error window) at 8.1: open again until
      12.1;
    - 9, 10, 11, 12: refused;
    - 13, 14: trials, both succeed: closed at 14.1;
    - 15..20: succeed.

    So 8 successes, 4 errors, 8 circuit_open; open 2 x 4 s of the 20.5 s run; the callee
    sees only the 12 calls that passed.
    """
    result = run(
        scenario(
            20.5,
            db(),
            [{"call": {"service": "db", "circuit_breaker": BREAKER}}],
            faults=[errors("db", 0.5, 8.0)],
        )
    )
    flow = result.flows["f"]
    assert (flow.arrived, flow.completed, flow.failed, flow.in_flight) == (20, 8, 12, 0)
    assert reasons(flow.failures) == {"error": 4, "circuit_open": 8}
    assert flow.success_rate == pytest.approx(0.4)
    row = result.calls["f->db.query"]
    assert (row.calls, row.attempts, row.retries, row.short_circuited) == (20, 20, 0, 8)
    assert reasons(row.failures) == {"error": 4, "circuit_open": 8}
    assert row.open_fraction == pytest.approx(8.0 / 20.5, rel=1e-12)
    assert (result.services["db"].attempts, result.services["db"].errors) == (12, 4)


def test_half_open_breaker_lets_only_its_trials_through() -> None:
    """Three parallel calls per second (t = 1..8) through a breaker with 2 half-open trials
    (open_for 2.5 s); the callee (3 workers, 0.1 s) fails operations started in [0.5, 1.5):

    - t = 1: 3 errors; the third (at 1.1) opens the breaker until 3.6;
    - t = 2, 3: the 6 calls are refused;
    - t = 4: half-open: the first two calls are the trials, the third is refused; both
      trials succeed at 4.1: closed;
    - t = 5..8: succeed.
    Requests: 1 fails with error, 2..4 with circuit_open, 5..8 complete.
    """
    call = {"call": {"service": "db", "circuit_breaker": {**BREAKER, "open_for": 2.5}}}
    result = run(
        scenario(
            8.5,
            db(0.1, workers=3),
            [{"parallel": [[call], [call], [call]]}],
            faults=[errors("db", 0.5, 1.0)],
        )
    )
    flow = result.flows["f"]
    assert (flow.arrived, flow.completed, flow.failed) == (8, 4, 4)
    assert reasons(flow.failures) == {"error": 1, "circuit_open": 3}
    row = result.calls["f->db.query"]
    assert (row.calls, row.attempts, row.short_circuited) == (24, 24, 7)
    assert reasons(row.failures) == {"error": 3, "circuit_open": 7}
    assert row.open_fraction == pytest.approx(2.5 / 8.5, rel=1e-12)
    assert result.services["db"].attempts == 24 - 7


def test_breaker_stays_closed_while_fewer_than_min_calls_are_in_its_window() -> None:
    """Every call fails, one per second, but the window is 1.5 s: it never holds more than
    2 outcomes (min_calls 3), so the breaker never opens and nothing is short-circuited."""
    breaker = {**BREAKER, "window": 1.5}
    result = run(
        scenario(
            10.5,
            db(0.1, {"fail": 1.0}),
            [{"call": {"service": "db", "circuit_breaker": breaker}}],
        )
    )
    row = result.calls["f->db.query"]
    assert (row.calls, row.short_circuited, row.failures.error) == (10, 0, 10)
    assert row.open_fraction == 0.0


def test_a_half_open_trial_refused_by_the_bulkhead_gives_its_slot_back() -> None:
    """`api` calls `db` (0.05 s) through a breaker (open_for 2 s, 2 trials) and a bulkhead
    of 1. Flow f1 calls once a second; db fails operations started in [0.5, 3.5), so the
    calls of t = 1, 2, 3 fail and the breaker opens at 3.05 until 5.05; 4 and 5 are
    refused. At 6 the first trial passes; at 6.03 a call of flow f2 (one every 6.03 s)
    takes the second trial and is refused by the bulkhead (the first trial is still in
    progress): the trial slot is given back. At 6.05 the first trial succeeds, at 7 the
    second passes and succeeds at 7.05: closed. Every later call succeeds (f1: t = 6..30;
    f2: 12.06, 18.09, 24.12, 30.15, never during a call of f1). The flows see `api`'s
    failed operations as `error`.

    (Regression test: before commit a107c1e the refused trial was never recorded and the
    breaker stayed half-open with no trial left, refusing every call to the end.)
    """
    call = {"service": "db", "bulkhead": 1, "circuit_breaker": {**BREAKER, "open_for": 2}}
    raw = {
        "name": "half-open-and-bulkhead",
        "simulation": {"duration": 30.5},
        "services": {
            **db(0.05, workers=4),
            "api": {"workers": "unlimited", "operations": {"handle": [{"call": call}]}},
        },
        "workload": {
            "f1": {"arrivals": {"constant": 1.0}, "entry": "api.handle"},
            "f2": {"arrivals": {"constant": 1 / 6.03}, "entry": "api.handle"},
        },
        "faults": [errors("db", 0.5, 3.0)],
    }
    result = run(raw)
    f1, f2 = result.flows["f1"], result.flows["f2"]
    assert (f1.arrived, f1.completed, f1.failed) == (30, 25, 5)
    assert (f2.arrived, f2.completed, f2.failed) == (5, 4, 1)
    assert reasons(f1.failures) == {"error": 5}
    row = result.calls["api->db.query"]
    assert (row.calls, row.attempts, row.short_circuited) == (35, 35, 2)
    assert reasons(row.failures) == {"error": 3, "circuit_open": 2, "rejected": 1}
    assert row.open_fraction == pytest.approx(2.0 / 30.5, rel=1e-12)


# --------------------------------------------------------------------------- retries and backoff


@pytest.mark.parametrize(
    ("retries", "backoff", "offsets"),
    [
        # waits 0.5, 1.0, 1.5 (capped), 1.5 (capped): attempts at 0, 0.6, 1.7, 3.3, 4.9
        (4, {"initial": 0.5, "multiplier": 2, "max": 1.5}, [0.0, 0.6, 1.7, 3.3, 4.9]),
        # waits 0.2, 0.6, 1.8 (no cap): attempts at 0, 0.3, 1.0, 2.9
        (3, {"initial": 0.2, "multiplier": 3}, [0.0, 0.3, 1.0, 2.9]),
        # no backoff: each retry at once
        (2, None, [0.0, 0.1, 0.2]),
    ],
    ids=["capped", "uncapped", "none"],
)
def test_backoff_waits_are_exactly_the_schedule(
    retries: int, backoff: dict[str, Any] | None, offsets: list[float]
) -> None:
    """A call with `retries` to an operation that always fails after 0.1 s; retry k waits
    min(max, initial x multiplier^(k-1)) (jitter none) after attempt k failed.

    Every attempt publishes a message first (consumed at once by an idle consumer), so the
    trace of message starts gives the attempt times: 20 + offsets. The call's fallback is
    empty, so the request completes when the last attempt fails: its response time is the
    sum of the waits and of the attempts' 0.1 s.
    """
    call: dict[str, Any] = {"service": "db", "retries": retries, "fallback": []}
    if backoff is not None:
        call["backoff"] = {**backoff, "jitter": "none"}
    raw = scenario(
        30.0,
        {
            "db": {
                "operations": {
                    "query": [{"publish": "events"}, {"work": {"constant": 0.1}}, {"fail": 1.0}]
                }
            },
            "audit": {"operations": {"record": [{"work": {"constant": 0.01}}]}},
        },
        [{"call": call}],
        rate=1 / 20,
        topics={"events": {"subscribers": {"audit": "record"}}},
    )
    starts, result = traced(raw)
    assert starts == [(k, pytest.approx(20 + offset, abs=1e-9)) for k, offset in enumerate(offsets)]
    flow = result.flows["f"]
    assert (flow.arrived, flow.completed, flow.failed) == (1, 1, 0)
    assert flow.response_time.mean == pytest.approx(offsets[-1] + 0.1, rel=1e-9)
    row = result.calls["f->db.query"]
    assert (row.calls, row.attempts, row.retries, row.fallbacks) == (1, retries + 1, retries, 1)
    assert reasons(row.failures) == {"error": retries + 1}


@pytest.mark.parametrize(("jitter", "low"), [("full", 0.0), ("equal", 0.5)])
def test_jittered_waits_stay_within_their_bounds(jitter: str, low: float) -> None:
    """With jitter the waits are random but bounded: `full` draws in (0, w), `equal` in
    (w / 2, w); over 50 calls (4 retries, waits up to 0.5, 1, 1.5, 1.5) the response time of
    each is between 0.5 + low x 4.5 and 5.0, and they are not all the same."""
    call = {
        "service": "db",
        "retries": 4,
        "fallback": [],
        "backoff": {"initial": 0.5, "multiplier": 2, "max": 1.5, "jitter": jitter},
    }
    result = run(scenario(505.5, db(0.1, {"fail": 1.0}), [{"call": call}], rate=0.1))
    latency = result.flows["f"].response_time
    assert result.flows["f"].completed == 50
    assert 0.5 + low * 4.5 <= latency.p50 <= latency.max <= 5.0 + 1e-9
    assert latency.p50 < latency.max


# --------------------------------------------------------------------------- bulkhead, fallback


def test_a_bulkhead_of_n_rejects_the_n_plus_first_concurrent_call() -> None:
    """Three parallel calls per request (every 2 s) through a bulkhead of 2 to a 0.4 s
    operation (3 workers: no queueing): the first two pass, the third is rejected at once;
    the request fails with `rejected` (10 requests)."""
    call = {"call": {"service": "db", "bulkhead": 2}}
    result = run(scenario(21.5, db(0.4, workers=3), [{"parallel": [[call], [call], [call]]}], 0.5))
    flow = result.flows["f"]
    assert (flow.arrived, flow.completed, flow.failed) == (10, 0, 10)
    assert reasons(flow.failures) == {"rejected": 10}
    row = result.calls["f->db.query"]
    assert (row.calls, row.attempts) == (30, 30)
    assert reasons(row.failures) == {"rejected": 10}
    assert result.services["db"].attempts == 20
    assert result.services["db"].rejected == 0  # (the bulkhead is the caller's)


def test_a_retry_passes_the_bulkhead_once_it_has_room() -> None:
    """As above with 1 retry after 0.5 s: the rejected call retries at 0.5, when the first
    two have ended (0.4): every request completes, at 0.5 + 0.4 = 0.9."""
    call = {"call": {"service": "db", "bulkhead": 2, "retries": 1, "backoff": {"initial": 0.5}}}
    result = run(scenario(21.5, db(0.4, workers=3), [{"parallel": [[call], [call], [call]]}], 0.5))
    flow = result.flows["f"]
    assert (flow.arrived, flow.completed, flow.failed) == (10, 10, 0)
    assert flow.response_time.mean == pytest.approx(0.9, rel=1e-9)
    row = result.calls["f->db.query"]
    assert (row.calls, row.attempts, row.retries) == (30, 40, 10)
    assert reasons(row.failures) == {"rejected": 10}
    assert result.services["db"].attempts == 30


def test_a_fallback_turns_a_failed_call_into_a_success() -> None:
    """A call (1 retry) to an operation that always fails after 0.1 s, with a 0.05 s
    fallback: each request completes at 0.1 + 0.1 + 0.05 = 0.25."""
    call = {"service": "db", "retries": 1, "fallback": [{"delay": {"constant": 0.05}}]}
    result = run(scenario(10.5, db(0.1, {"fail": 1.0}), [{"call": call}]))
    flow = result.flows["f"]
    assert (flow.arrived, flow.completed, flow.failed) == (10, 10, 0)
    assert flow.response_time.mean == pytest.approx(0.25, rel=1e-9)
    row = result.calls["f->db.query"]
    assert (row.calls, row.attempts, row.fallbacks) == (10, 20, 10)
    assert reasons(row.failures) == {"error": 20}
    assert result.services["db"].errors == 20


def test_a_failing_fallback_fails_the_request() -> None:
    """The fallback's own outcome is the step's: a fallback that fails fails the request."""
    call = {"service": "db", "fallback": [{"fail": 1.0}]}
    result = run(scenario(10.5, db(0.1, {"fail": 1.0}), [{"call": call}]))
    flow = result.flows["f"]
    assert (flow.completed, flow.failed) == (0, 10)
    assert reasons(flow.failures) == {"error": 10}
    assert result.calls["f->db.query"].fallbacks == 10


# --------------------------------------------------------------------------- admission control


@pytest.mark.parametrize(("work", "timed_out"), [(1.0, 10), (0.4, 0)])
def test_queue_timeout_sends_away_requests_that_waited_too_long(
    work: float, timed_out: int
) -> None:
    """Two parallel calls every 2 s to one worker with `queue_timeout: 0.5`: the second
    waits for the first. With 1.0 s of work it leaves the waiting room at 0.5 with
    `timeout` (never served: the worker is busy 1.0 s of every 2); with 0.4 s it starts at
    0.4 and is served."""
    call = {"call": "db"}
    result = run(
        scenario(21.5, db(work, queue_timeout=0.5), [{"parallel": [[call], [call]]}], rate=0.5)
    )
    service = result.services["db"]
    assert service.timed_out == timed_out
    assert service.attempts == 20
    assert service.utilization == pytest.approx((20 - timed_out) * work / 21.5, rel=1e-9)
    flow = result.flows["f"]
    assert (flow.completed, flow.failed) == (10 - timed_out, timed_out)
    assert reasons(flow.failures) == ({"timeout": timed_out} if timed_out else {})
    if timed_out:  # each request: one job for `work`, one for 0.5 s in the waiting room
        assert service.in_system.mean == pytest.approx(10 * (work + 0.5) / 21.5, rel=1e-9)


def test_token_bucket_admits_its_burst_then_its_rate() -> None:
    """Four arrivals a second (t = 0.25, 0.5, ...) at a bucket of rate 1/s, burst 2 (full at
    t = 0): 0.25 and 0.5 take the burst (0.25 s of refill left: 1.25 tokens, then 0.25);
    then a token is back every second: 1.25, 2.25, ..., 9.25. Of 40 arrivals up to t = 10,
    11 are admitted and 29 rejected."""
    result = run(
        {
            "name": "bucket",
            "simulation": {"duration": 10.1},
            "services": db(0.01, rate_limit={"rate": 1.0, "burst": 2}),
            "workload": {"f": {"arrivals": {"constant": 4.0}, "entry": "db"}},
        }
    )
    service = result.services["db"]
    assert (service.attempts, service.rejected) == (40, 29)
    flow = result.flows["f"]
    assert (flow.completed, flow.failed) == (11, 29)
    assert reasons(flow.failures) == {"rejected": 29}


# --------------------------------------------------------------------------- service faults


def test_an_outage_fails_the_requests_in_service_and_waiting_with_unavailable() -> None:
    """Two parallel calls every 2 s to one worker (1.0 s each: the second waits). `db` is
    down in [2.5, 3.5): the request of t = 2 has one call in service and one waiting; both
    fail at 2.5 with `unavailable`. Requests of t = 4, 6 complete (at +2.0); that of t = 8
    is in flight at the end (9.5): busy 0.5 + 2 x 2.0 + 1.5 s."""
    call = {"call": "db"}
    result = run(
        scenario(
            9.5,
            db(1.0),
            [{"parallel": [[call], [call]]}],
            rate=0.5,
            faults=[{"service": "db", "kind": "outage", "at": 2.5, "for": 1.0}],
        )
    )
    flow = result.flows["f"]
    assert (flow.arrived, flow.completed, flow.failed, flow.in_flight) == (4, 2, 1, 1)
    assert reasons(flow.failures) == {"unavailable": 1}
    assert flow.response_time.mean == pytest.approx(2.0, rel=1e-9)
    service = result.services["db"]
    assert (service.attempts, service.unavailable) == (8, 2)
    assert service.availability == pytest.approx(1 - 1.0 / 9.5, rel=1e-12)
    assert service.utilization == pytest.approx((0.5 + 2 * 2.0 + 1.5) / 9.5, rel=1e-9)
    fault = result.faults[0]
    assert (fault.target, fault.kind, fault.at, fault.for_) == ("db", "outage", 2.5, 1.0)


def test_with_no_replica_up_a_call_fails_at_once() -> None:
    """`db` is down in [3.5, 6.5): the calls of t = 4 and 6 fail at once with `unavailable`; an
    empty fallback turns them into responses after 0 s (t = 2 and 8: 1.0 s)."""
    result = run(
        scenario(
            9.5,
            db(1.0),
            [{"call": {"service": "db", "fallback": []}}],
            rate=0.5,
            faults=[{"service": "db", "kind": "outage", "at": 3.5, "for": 3.0}],
        )
    )
    flow = result.flows["f"]
    assert (flow.completed, flow.failed) == (4, 0)
    assert flow.response_time.mean == pytest.approx(0.5, rel=1e-9)
    row = result.calls["f->db.query"]
    assert (row.calls, row.fallbacks) == (4, 2)
    assert reasons(row.failures) == {"unavailable": 2}
    assert result.services["db"].unavailable == 2


@pytest.mark.parametrize("balancing", ["round_robin", "random", "least_outstanding", "shared"])
def test_balancing_routes_around_a_down_replica(balancing: str) -> None:
    """Two parallel calls every 2 s to `db`, 2 replicas of one worker (0.4 s). Replica 0 is
    down for the whole run: every call goes to replica 1, so the second call of each pair
    waits 0.4 s (mean wait 0.2 s, P(wait) 1/2) and nothing fails; the service stays
    available (one replica up)."""
    call = {"call": "db"}
    result = run(
        scenario(
            21.5,
            db(0.4, replicas=2, balancing=balancing),
            [{"parallel": [[call], [call]]}],
            rate=0.5,
            faults=[{"service": "db", "kind": "outage", "at": 0.5, "for": 100, "replicas": 1}],
        )
    )
    flow = result.flows["f"]
    assert (flow.arrived, flow.completed, flow.failed) == (10, 10, 0)
    assert flow.response_time.mean == pytest.approx(0.8, rel=1e-9)
    service = result.services["db"]
    assert service.unavailable == 0
    assert service.waiting_time.mean == pytest.approx(0.2, rel=1e-9)
    assert service.p_wait == pytest.approx(0.5)
    assert service.availability == 1.0


def test_errors_fail_the_operations_started_in_their_window() -> None:
    """1.0 s operations every 2 s (t = 2, 4, 6, 8); an `errors` fault in [1.5, 2.5): the
    operation started at 2 fails when it ends (at 3.0, after the window); those of 4, 6, 8
    succeed."""
    result = run(
        scenario(9.5, db(1.0), [{"call": "db"}], rate=0.5, faults=[errors("db", 1.5, 1.0)])
    )
    flow = result.flows["f"]
    assert (flow.completed, flow.failed) == (3, 1)
    assert reasons(flow.failures) == {"error": 1}
    assert result.services["db"].errors == 1


def test_errors_are_drawn_when_an_operation_starts_not_when_it_ends() -> None:
    """1.0 s operations every 2 s; an `errors` fault in [2.5, 3.5): the operation of t = 2
    started before the window and ends inside it: it succeeds; so do all others."""
    result = run(
        scenario(9.5, db(1.0), [{"call": "db"}], rate=0.5, faults=[errors("db", 2.5, 1.0)])
    )
    assert (result.flows["f"].completed, result.flows["f"].failed) == (4, 0)


def test_slowdown_stretches_the_work_started_in_its_window() -> None:
    """0.1 s operations every second; a slowdown x5 in [1.5, 3.5): those started at 2 and 3
    take 0.5 s; mean over t = 1..5: (3 x 0.1 + 2 x 0.5) / 5 = 0.26 s."""
    result = run(
        scenario(
            5.5,
            db(0.1),
            [{"call": "db"}],
            faults=[{"service": "db", "kind": "slowdown", "at": 1.5, "for": 2.0, "factor": 5}],
        )
    )
    assert result.services["db"].response_time.mean == pytest.approx(0.26, rel=1e-9)
    assert result.services["db"].response_time.max == pytest.approx(0.5, rel=1e-9)


# --------------------------------------------------------------------------- message retries


def pipeline(
    topic_type: str,
    subscriber: dict[str, Any],
    handler: list[dict[str, Any]],
    *,
    count: int = 3,
    duration: float = 15.0,
    faults: list[dict[str, Any]] | None = None,
    topics: dict[str, Any] | None = None,
    services: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Flow `f` calls `api` every 10 s (t = 10, 20, ...), which publishes `count` messages to
    `events` (one partition) at once; group `worker` runs `handler`."""
    return {
        "name": "messages",
        "simulation": {"duration": duration},
        "services": {
            "api": {
                "workers": "unlimited",
                "operations": {"publish": [{"publish": {"topic": "events", "count": count}}]},
            },
            "worker": {"operations": {"handle": handler}},
            **(services or {}),
        },
        "topics": {
            "events": {
                "type": topic_type,
                "subscribers": {"worker": {"operation": "handle", **subscriber}},
            },
            **(topics or {}),
        },
        "workload": {"f": {"arrivals": {"constant": 0.1}, "entry": "api"}},
        "faults": faults or [],
    }


WORK_02 = [{"work": {"constant": 0.2}}]


@pytest.mark.parametrize(
    ("topic_type", "backoff", "expected"),
    [
        # retried in place: the consumer (and its partition) waits for m0 (an attempt in
        # place is not a new start: the trace shows m0 once, then m1 and m2 delayed)
        ("log", None, [(0, 10.0), (1, 10.4), (2, 10.6)]),
        ("log", 1.0, [(0, 10.0), (1, 11.4), (2, 11.6)]),
        # back to the tail of the queue: the consumer goes on with m1, m2
        ("queue", None, [(0, 10.0), (1, 10.2), (2, 10.4), (0, 10.6)]),
        ("queue", 1.0, [(0, 10.0), (1, 10.2), (2, 10.4), (0, 11.2)]),
    ],
    ids=["log", "log-backoff", "queue", "queue-backoff"],
)
def test_a_failed_message_is_retried_in_place_on_a_log_and_requeued_on_a_queue(
    topic_type: str, backoff: float | None, expected: list[tuple[int, float]]
) -> None:
    """Messages m0, m1, m2 published together at t = 10 to one consumer (0.2 s each,
    max_attempts 3); an `errors` fault makes the handler run started at 10.0 fail (window
    [9.5, 10.1)), at 10.2. On a log m0 is retried in place (after the backoff: at 10.2 or
    11.2) and m1 and m2 wait behind it (head-of-line blocking: they start 0.2 s after its
    retry). On a queue m0 goes back to the tail (after the backoff) and the consumer goes
    on. Either way all three are consumed, in 4 attempts.

    (The trace records the starts of messages by consumers: a retry in place on a log is
    the same start going on, a requeued message on a queue is started again.)"""
    subscriber: dict[str, Any] = {"max_attempts": 3}
    if backoff is not None:
        subscriber["retry_backoff"] = {"constant": backoff}
    starts, result = traced(
        pipeline(topic_type, subscriber, WORK_02, faults=[errors("worker", 9.5, 0.6)])
    )
    assert starts == [(k, pytest.approx(t, abs=1e-9)) for k, t in expected]
    group = result.topics["events"].groups["worker"]
    assert (group.received, group.consumed, group.attempts) == (3, 3, 4)
    assert (group.dead_lettered, group.lost, group.redelivered, group.lag.final) == (0, 0, 0, 0)


@pytest.mark.parametrize("topic_type", ["log", "queue"])
@pytest.mark.parametrize("dead_letter", [True, False])
def test_after_its_last_attempt_a_message_is_dead_lettered_or_lost(
    topic_type: str, dead_letter: bool
) -> None:
    """One message at t = 10 and one at 20 whose handler always fails after 0.2 s
    (max_attempts 2): attempts at 10.0 and 10.2, then at 10.4 it is published to the
    dead-letter topic `dlq` (consumed by `auditor`, 0.1 s: the request completes at 10.5),
    or, without one, counted lost (the request completes at 10.4)."""
    subscriber: dict[str, Any] = {"max_attempts": 2}
    extra_topics: dict[str, Any] = {}
    extra_services: dict[str, Any] = {}
    if dead_letter:
        subscriber["dead_letter"] = "dlq"
        extra_topics = {"dlq": {"subscribers": {"auditor": "record"}}}
        extra_services = {"auditor": {"operations": {"record": [{"work": {"constant": 0.1}}]}}}
    raw = pipeline(
        topic_type,
        subscriber,
        [{"work": {"constant": 0.2}}, {"fail": 1.0}],
        count=1,
        duration=25.0,
        topics=extra_topics,
        services=extra_services,
    )
    trace: Trace = []
    result = Replication(load_scenario(raw), 0, 1, trace=trace).run().measurements
    group = result.topics["events"].groups["worker"]
    assert (group.received, group.consumed, group.attempts, group.lag.final) == (2, 0, 4, 0)
    assert (group.dead_lettered, group.lost) == ((2, 0) if dead_letter else (0, 2))
    flow = result.flows["f"]
    assert flow.completed == 2  # (the client's response does not wait for the handlers)
    assert flow.completion_time.mean == pytest.approx(0.5 if dead_letter else 0.4, rel=1e-9)
    if dead_letter:
        assert result.topics["dlq"].published == 2
        dlq = result.topics["dlq"].groups["auditor"]
        assert (dlq.received, dlq.consumed, dlq.lag.final) == (2, 2, 0)
        dlq_starts = [round(time, 9) for topic, _, _, _, time in trace if topic == "dlq"]
        assert dlq_starts == [pytest.approx(10.4), pytest.approx(20.4)]


@pytest.mark.parametrize("topic_type", ["log", "queue"])
def test_the_message_in_process_when_its_consumer_crashes_is_processed_again_first(
    topic_type: str,
) -> None:
    """m0, m1, m2 published at t = 10 to one consumer (1.0 s each); `worker` is down in
    [10.5, 11.5): m0, half done, goes back to the head of its partition or queue and is
    processed again first when the consumer is back: starts m0 10.0, m0 11.5, m1 12.5,
    m2 13.5. Nothing is lost: 3 consumed in 4 attempts, 1 redelivered."""
    starts, result = traced(
        pipeline(
            topic_type,
            {},
            [{"work": {"constant": 1.0}}],
            faults=[{"service": "worker", "kind": "outage", "at": 10.5, "for": 1.0}],
        )
    )
    assert starts == [(0, 10.0), (0, 11.5), (1, 12.5), (2, 13.5)]
    group = result.topics["events"].groups["worker"]
    assert (group.received, group.consumed, group.attempts, group.redelivered) == (3, 3, 4, 1)
    assert (group.lost, group.dead_lettered, group.lag.final) == (0, 0, 0)


def test_a_crash_redelivers_a_queue_message_once_with_two_consumers_per_replica() -> None:
    """As above on a queue with `concurrency: 2` and one message: consumer 0 runs m0,
    consumer 1 is idle; both stop at 10.5 (all consumers of the replica stop before the
    message is handed on, so the idle one of the same replica does not take it): m0
    restarts when the replica is back (11.5), redelivered once, 2 attempts."""
    starts, result = traced(
        pipeline(
            "queue",
            {"concurrency": 2},
            [{"work": {"constant": 1.0}}],
            count=1,
            faults=[{"service": "worker", "kind": "outage", "at": 10.5, "for": 1.0}],
        )
    )
    group = result.topics["events"].groups["worker"]
    assert (group.attempts, group.redelivered) == (2, 1)
    assert starts == [(0, 10.0), (0, 11.5)]


# --------------------------------------------------------------------------- topic outage


@pytest.mark.parametrize(
    "topic_type",
    ["log", "queue"],
)
def test_messages_published_during_a_topic_outage_are_delivered_at_its_end(
    topic_type: str,
) -> None:
    """One message a second (t = 1..10), 0.5 s each, one consumer; the broker is down in
    [2.25, 5.25), while the consumer is busy with the message of t = 2 (done at 2.5). The
    messages of t = 3, 4, 5 are held and delivered at 5.25: they start at 5.25, 5.75, 6.25;
    the message of 6 waits until 6.75, that of 7 until 7.25; then on time. None is lost:
    10 received, 10 consumed (the last at 10.5), lag at most 3.

    (Regression test for the queue: before commit a107c1e a queue consumer that finished
    its message while the broker was down never consumed again.)"""
    raw = {
        "name": "broker-outage",
        "simulation": {"duration": 10.75},
        "services": {
            "api": {"workers": "unlimited", "operations": {"publish": [{"publish": "events"}]}},
            "worker": {"operations": {"handle": [{"work": {"constant": 0.5}}]}},
        },
        "topics": {"events": {"type": topic_type, "subscribers": {"worker": "handle"}}},
        "workload": {"f": {"arrivals": {"constant": 1.0}, "entry": "api"}},
        "faults": [{"topic": "events", "kind": "outage", "at": 2.25, "for": 3.0}],
    }
    starts, result = traced(raw)
    times = [1.0, 2.0, 5.25, 5.75, 6.25, 6.75, 7.25, 8.0, 9.0, 10.0]
    assert starts == [(k, pytest.approx(t, abs=1e-9)) for k, t in enumerate(times)]
    group = result.topics["events"].groups["worker"]
    assert (group.received, group.consumed, group.lag.final, group.lag.max) == (10, 10, 0, 3)
    assert (group.lost, group.redelivered) == (0, 0)
    assert result.faults[0].backlog_peak == 3
