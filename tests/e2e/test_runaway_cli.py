"""End-to-end tests of runs that would run away without an event to show for it: retries
made at once (no backoff), which schedule no simulation event, and loops at one instant of
simulated time (docs/scenario-language.md, "Limits"; `sim.engine.budget`).

Each file is a minimal reproduction of a run that used to go on for long (seconds to hours of
CPU) within its event budget. The run must now stop at its budget like any other budget stop:
exit 2, the reason on stderr naming the budget, partial results printed and written. Time is
bounded by the work done at the stop, so the tests assert that count (attempts retried,
events at one instant), read from the partial results, is near the budget; they assert no
time. The last tests use the Python API with small budgets: a loop of retries at one instant,
what the allowance of an instant with many events pending lets through, and that counting
changes no result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from models import load_scenario
from sim.engine.budget import CHECK_EVERY, STALL_EVENTS, RunBudget
from sim.experiments.simulation import simulate
from sim.presentation.cli import main

pytestmark = pytest.mark.e2e

CALLS_RETRIED_AT_ONCE = """
name: calls-retried-at-once
# about 2,000 requests, each retried 999 times at once by a callee that fails at once: about
# 2,000,000 attempts and no event for any of them (12.8 s of CPU, exit 0, before they counted)
simulation: {duration: 20s, seed: 1}
services:
  api: {workers: unlimited, operations: {get: [{call: {service: db, retries: 999}}]}}
  db: {workers: unlimited, operations: {q: [{fail: 1}]}}
workload:
  users: {entry: api, arrivals: {poisson: 100/s}}
"""

MESSAGES_RETRIED_AT_ONCE = """
name: messages-retried-at-once
# about 2,000 messages whose handler fails at once, each attempted 1,000 times without a
# retry_backoff: about 2,000,000 attempts and no event for any of them
simulation: {duration: 20s, seed: 1}
services:
  front: {workers: unlimited, operations: {put: [{publish: orders}]}}
  worker: {operations: {handle: [{fail: 1}]}}
topics:
  orders: {subscribers: {worker: {operation: handle, max_attempts: 1000}}}
workload:
  users: {entry: front, arrivals: {poisson: 100/s}}
"""

RETRIES_WITH_EVENTS = """
name: retries-with-events
# each attempt works 1 ms, then fails: an event (its work) and an attempt retried at once;
# estimated at 4,200 events (2 a request: retries are not in the estimate), 100,000 in fact
simulation: {duration: 20s, seed: 1}
services:
  api: {workers: unlimited, operations: {get: [{call: {service: db, retries: 50}}]}}
  db: {workers: unlimited, operations: {q: [{work: {constant: 1ms}}, {fail: 1}]}}
workload:
  users: {entry: api, arrivals: {poisson: 100/s}}
"""

CLOSED_LOOP_THROUGH_AN_OUTAGE = """
name: closed-loop-through-an-outage
# closed clients without think time: during the outage every request fails at once and its
# client asks again at the same instant, for ever (30-70 s of CPU before the stall check
# stopped it at 10,000,000 events)
simulation: {duration: 60s, seed: 1}
services:
  api: {workers: 4, operations: {get: [{work: {exponential: 10ms}}]}}
workload:
  users: {entry: api, clients: 10}
faults:
  - {service: api, kind: outage, at: 10s, for: 5s}
"""

CLOSED_LOOP_OF_RETRIES = """
name: closed-loop-of-retries
# the same loop, each request retried 999 times at once in vain: 1,000 attempts an event
simulation: {duration: 60s, seed: 1}
services:
  front: {workers: unlimited, operations: {get: [{call: {service: api, retries: 999}}]}}
  api: {workers: 4, operations: {get: [{work: {exponential: 10ms}}]}}
workload:
  users: {entry: front, clients: 10}
faults:
  - {service: api, kind: outage, at: 10s, for: 5s}
"""


def run_partial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, *options: str
) -> tuple[dict[str, Any], str]:
    """Run a file that stops at a budget: exit 2, results printed and written, both marked
    partial; the results and stderr."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    argv = ["run", str(path), "-r", "1", "--jobs", "1", "--json", "--out", str(out), *options]
    assert main(argv) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["settings"]["partial"] is True
    assert json.loads((out / "results.json").read_text())["settings"]["partial"] is True
    assert captured.err.startswith(
        f"{path}: the run stopped before its end, so its results are partial (settings.partial): "
        f"replication 0: {document['settings']['stopped'].removeprefix('replication 0: ')}"
    )
    return document, captured.err


def test_calls_retried_at_once_stop_at_the_event_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document, err = run_partial(
        tmp_path, capsys, "calls", CALLS_RETRIED_AT_ONCE, "--max-events", "5000"
    )
    assert "the event budget of 5,000 events per replication was exceeded at t = " in err
    assert "each attempt retried at once, without a backoff, counts as an event" in err
    calls = document["calls"]["api->db.q"]
    # stopped at the retry that went over the budget, in the middle of a request's storm:
    # the budget less the few events before it (arrivals, samples)
    assert 5_000 - 100 <= calls["retries"] <= 5_001
    flow = document["flows"]["users"]
    assert 0 < flow["arrived"] < 20
    answered = flow["completed"] + flow["dropped"] + flow["failed"]
    assert flow["arrived"] == answered + flow["in_flight"]  # (one request stopped mid-storm)
    assert flow["in_flight"] == 1


def test_messages_retried_at_once_stop_at_the_event_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document, err = run_partial(
        tmp_path, capsys, "messages", MESSAGES_RETRIED_AT_ONCE, "--max-events", "5000"
    )
    assert "the event budget of 5,000 events per replication was exceeded at t = " in err
    assert "each attempt retried at once" in err
    group = document["topics"]["orders"]["groups"]["worker"]
    # every attempt but each message's first is a retry; a handful of messages arrived
    assert 5_000 - 100 <= group["attempts"] <= 5_000 + 20
    assert group["consumed"] == 0


def test_events_and_attempts_retried_at_once_count_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two units of work an attempt (its event, its retry) and the run stops when both
    together go over the budget, in the middle of the chunk of events where they do, not at
    its end: about 10,000 attempts for 20,000."""
    document, err = run_partial(
        tmp_path, capsys, "mixed", RETRIES_WITH_EVENTS, "--max-events", "20000"
    )
    assert "the event budget of 20,000 events per replication was exceeded at t = " in err
    retried = int(re.findall(r"counts as an event: ([0-9,]+) so far", err)[0].replace(",", ""))
    calls = document["calls"]["api->db.q"]
    assert calls["retries"] == retried
    # events: an arrival a call, a work an attempt, the time series' samples
    events = calls["calls"] + calls["attempts"] + 5
    assert 20_000 - 100 <= events + retried <= 20_000 + 100


def stalled_count(err: str) -> int:
    """The events (and attempts) at one instant a stopped run reports."""
    found = re.search(r"simulated time stood still at t = 10 s of 60 s for ([0-9,]+) events", err)
    assert found is not None, err
    return int(found.group(1).replace(",", ""))


def test_a_closed_loop_through_an_outage_stops_when_time_stands_still(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document, err = run_partial(tmp_path, capsys, "outage", CLOSED_LOOP_THROUGH_AN_OUTAGE)
    stalled = stalled_count(err)
    assert STALL_EVENTS <= stalled < STALL_EVENTS + CHECK_EVERY  # (checked between chunks)
    assert "attempts retried at once" not in err
    # one event a loop, each a request refused at once; the stall counts from the first
    # check that saw the instant, so up to a chunk of them came before
    flow = document["flows"]["users"]
    assert stalled <= flow["failures"]["unavailable"] <= stalled + CHECK_EVERY
    assert flow["completed"] > 0  # (what it did before the outage is kept)


def test_a_closed_loop_of_retries_stops_in_the_middle_of_an_event() -> None:
    """1,000 attempts an event: a chunk of events between two checks would hold 65 million;
    the count of attempts stops the loop at the stall budget, at the attempt over it (the
    Python API, with a small stall budget: the default one takes 1,000,000 attempts)."""
    loaded = load_scenario(yaml.safe_load(CLOSED_LOOP_OF_RETRIES))
    budget = RunBudget(stall_events=20_000)
    results = simulate(loaded, replications=1, budget=budget)
    assert results.settings.stopped == (
        "replication 0: simulated time stood still at t = 10 s of 60 s for 20,001 events "
        "(attempts retried at once included): something repeats at the same instant for ever "
        "(e.g. closed clients without think time whose requests are refused at once)"
    )
    assert results.calls is not None
    assert results.calls["front->api.get"].retries == 20_001


def burst(clients: int) -> dict[str, Any]:
    """Closed clients without think time, every request of constant times on a delay
    station: all of them start at time 0 and end at 1 s, 2 s, ... together; each request
    makes 4 events at those instants (its think of 0, its work and two delays of 0)."""
    steps = [{"work": {"constant": 1}}, {"delay": {"constant": 0}}, {"delay": {"constant": 0}}]
    return {
        "name": "burst",
        "simulation": {"duration": 2.5, "seed": 1},
        "services": {"api": {"workers": "unlimited", "operations": {"get": steps}}},
        "workload": {"users": {"entry": "api", "clients": clients}},
    }


def test_a_burst_scheduled_ahead_is_no_stall() -> None:
    """4 x 5,000 events at each of t = 1 s and 2 s, above a stall budget of 10,000 events,
    all of them caused by the 5,000 on the calendar when the instant was first seen: the
    allowance of 16 events per pending event lets them through, results untouched; without
    it the burst would be taken for a loop."""
    loaded = load_scenario(burst(5_000))
    small = RunBudget(stall_events=10_000, check_every=1_000)
    results = simulate(loaded, budget=small)
    assert results.settings.stopped is None
    assert results.to_json() == simulate(loaded, budget=None).to_json()
    no_allowance = RunBudget(stall_events=10_000, stall_events_per_pending=0, check_every=1_000)
    stopped = simulate(loaded, budget=no_allowance).settings.stopped
    assert stopped is not None
    assert stopped.startswith("replication 0: simulated time stood still at t = 1 s of 2.5 s")


RETRIED = """
name: retried
simulation: {duration: 20s, seed: 2}
services:
  api:
    workers: unlimited
    operations: {get: [{call: {service: db, timeout: 20ms, retries: 3}}, {publish: orders}]}
  db: {operations: {q: [{work: {exponential: 15ms}}]}}
  worker: {operations: {handle: [{work: {exponential: 10ms}}, {fail: 0.5}]}}
topics:
  orders: {subscribers: {worker: {operation: handle, max_attempts: 3}}}
workload:
  users: {entry: api, arrivals: {poisson: 40/s}}
"""


def test_counting_retries_changes_no_result() -> None:
    """Calls retried at once after a timeout, messages attempted again at once, counted
    within a budget they stay under: the same results as a run without budgets."""
    loaded = load_scenario(yaml.safe_load(RETRIED))
    bounded = simulate(loaded, replications=2, budget=RunBudget(check_every=977))
    assert bounded.settings.stopped is None
    assert bounded.to_json() == simulate(loaded, replications=2, budget=None).to_json()
    assert bounded.calls is not None
    assert bounded.calls["api->db.q"].retries > 1_000  # (there were retries to count)
    assert "attempts" in json.loads(bounded.to_json())["topics"]["orders"]["groups"]["worker"]
