"""Deterministic tests of messages under failures: retries of a failed message (in place on
a log, requeued on a queue), dead letters and losses, redelivery after a consumer's crash,
delivery after a topic outage. Constant times give an exact timeline, read from the trace of
message starts (tests/unit/resilience_timeline_scenarios.py), stated in each docstring.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import load_scenario
from sim.engine import Replication
from tests.unit.resilience_timeline_scenarios import Trace, errors, traced

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
