"""Deterministic tests of a caller's resilience: circuit breakers (opening, half-open
trials, closing), retries and their backoff, bulkheads and fallbacks. Constant times give an
exact timeline (tests/unit/resilience_timeline_scenarios.py), stated in each docstring.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.resilience_timeline_scenarios import db, errors, reasons, run, scenario, traced

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
