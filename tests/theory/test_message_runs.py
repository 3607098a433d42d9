"""Messages one execution publishes one after the other, against the simulator: from a
sender whose pool is often full (`models.analysis.fan_out.pool_groups`), and through a
callee that publishes before it replies (`models.analysis.message_runs`).

An API of 2 workers (170 requests/s, about 60% busy) works 4 ms (exponential), calls an
audit service of unlimited workers that works 2 ms (exponential) and publishes an event as
it replies, then works 1 ms (constant) and publishes a second event: a run of two messages
about 1 ms apart to one mailer thread (2 ms, exponential, 68% busy). The mailer often still
holds the first when the second comes, so it waits longer than M/M/1 at the same rate
(4.25 ms) says. The API's pool is full often, so its requests leave it more evenly than
Poisson, and the runs count in proportion to that stream's SCV (about 0.85); before, a run
from a sender this full was left out, and the analysis said 4.16 ms (-33%).

Measured: 5.75 ms predicted, 6.21 ms (5.96-6.45) simulated in 5 x 120 s; at
seed shifts 0, 1000 and 2000 (20 x 120 s): see `SLACK`.

Tolerance (`agrees`, tests/theory/conftest.py): 4.33 SE over 40 replications (false-alarm
rate 1e-4 per check) of 48 s for the run from a full pool and of 52 s for the message on
the way (after 1 s: the stations relax in milliseconds), each check's expected half-width
under 6% of theory (power), plus `SLACK` for the approximation measured above. 40 runs of
48 s give about the half-width of 20 of 120 s (t quantile 4.33 against 4.90) in 80% of
the simulated time; 40 of 52 s that of 20 of 130 s, where the test ran 20 of 150 s.
"""

from __future__ import annotations

from typing import Any

import pytest

import models.theory as theory
from models import analyze, load_scenario

pytestmark = pytest.mark.theory

ORDERS = 170.0
MAILER_WORK = 0.002
SLACK = 0.15
"""The band allowed beyond the simulation's interval (runs are an approximation: the
first message's wait, which the second can meet as well, is not counted, and the sender's
SCV is QNA's): measured -5.5%, -5.6% and -5.2% at seed shifts 0, 1000 and 2000 (20 x 120
s); -5.0%, -5.5% and -5.9% in 40 x 48 s."""


def _to_one_mailer(
    name: str,
    duration: float,
    senders: dict[str, Any],
    flow: tuple[str, str, float],
    mailer_work: float,
) -> dict[str, Any]:
    """`senders` (services) publishing to `events`, consumed by one mailer thread of
    exponential `mailer_work`; one Poisson `flow` (name, entry, rate); 40 replications of
    `duration` after 1 s."""
    name_of_flow, entry, rate = flow
    mailer = {"operations": {"send": [{"work": {"exponential": mailer_work}}]}}
    subscriber = {"mailer": {"operation": "send", "concurrency": 1}}
    return {
        "name": name,
        "simulation": {"duration": duration, "warmup": 1, "replications": 40},
        "services": {**senders, "mailer": mailer},
        "topics": {"events": {"type": "queue", "subscribers": subscriber}},
        "workload": {name_of_flow: {"entry": entry, "arrivals": {"poisson": rate}}},
    }


def _run_from_a_full_pool(duration: float) -> dict[str, Any]:
    order = [
        {"work": {"exponential": 0.004}},
        {"call": "audit"},
        {"work": {"constant": 0.001}},
        {"publish": "events"},
    ]
    senders = {
        "api": {"workers": 2, "operations": {"order": order}},
        "audit": {
            "workers": "unlimited",
            "operations": {"log": [{"work": {"exponential": 0.002}}, {"publish": "events"}]},
        },
    }
    return _to_one_mailer(
        "run-from-a-full-pool", duration, senders, ("orders", "api.order", ORDERS), MAILER_WORK
    )


def test_a_run_from_a_sender_often_full_waits_as_a_run(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    """The run counts at the mailer though the API's pool is often full: its wait is
    within `SLACK` of the simulation beyond its interval, and well above independent
    arrivals' (M/M/1 at the same rate, about what the analysis said before)."""
    document = _run_from_a_full_pool(48)
    predicted = analyze(load_scenario(document), capacity=False)
    group = predicted.topics["events"].groups["mailer"]
    assert group.method.endswith("+ arrivals in groups (M^X/M/c)")
    wait = group.waiting_time.mean
    assert wait is not None
    alone = theory.mm1(2 * ORDERS, 1.0 / MAILER_WORK).mean_waiting_time
    assert wait > 1.2 * alone
    runs = replications_of(document)
    waits = stat(runs, "topics", "events", "groups", "mailer", "waiting_time", "mean")
    agrees(waits, wait, "mailer W (a run from a full pool)", slack=SLACK)


ON_THE_WAY_SLACK = 0.10
"""Measured: -4.9% in 5 x 120 s; -7.0%, -7.9% and -7.7% in 20 x 150 s at seed shifts 0,
1000 and 2000 (-6.5%, -7.2% and -8.2% in 40 x 52 s; the run's first message's wait, which
the second can meet too, is not counted, `RUNS_SLACK` of tests/theory/test_batch_arrivals.py)."""


def _message_on_the_way(duration: float) -> dict[str, Any]:
    place = [{"work": {"exponential": 0.001}}, {"publish": "events"}, {"work": {"constant": 0.001}}]
    senders = {
        "api": {
            "workers": "unlimited",
            "operations": {"post": [{"call": "orders"}, {"publish": "events"}]},
        },
        "orders": {"workers": "unlimited", "operations": {"place": place}},
    }
    return _to_one_mailer(
        "message-on-the-way", duration, senders, ("users", "api.post", 100.0), 0.003
    )


def test_a_message_a_callee_publishes_before_it_replies_joins_its_callers_run(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    """An API calls `orders`, which publishes an event 1 ms (exponential) in and replies 1
    ms (constant) later; the API then publishes a second event to the same mailer (3 ms,
    exponential, 60% busy). The two are a run about 1 ms apart: 7.22 ms predicted, 7.60
    ms (7.43-7.77) simulated in 5 x 120 s, where the two taken as independent (M/M/1, what
    the analysis said before) said 4.5 ms."""
    document = _message_on_the_way(52)
    group = analyze(load_scenario(document), capacity=False).topics["events"].groups["mailer"]
    assert group.method.endswith("+ arrivals in groups (M^X/M/c)")
    wait = group.waiting_time.mean
    assert wait is not None
    alone = theory.mm1(100.0 * 2, 1.0 / 0.003).mean_waiting_time
    assert wait > 1.4 * alone
    runs = replications_of(document)
    waits = stat(runs, "topics", "events", "groups", "mailer", "waiting_time", "mean")
    agrees(waits, wait, "mailer W (a message on the way)", slack=ON_THE_WAY_SLACK)
