"""Deterministic tests of a service's admission control (queue timeouts, token buckets) and
faults (outages of all or some replicas, errors, slowdowns). Constant times give an exact
timeline (tests/unit/resilience_timeline_scenarios.py), stated in each docstring.
"""

from __future__ import annotations

import pytest

from tests.unit.resilience_timeline_scenarios import db, errors, reasons, run, scenario

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
