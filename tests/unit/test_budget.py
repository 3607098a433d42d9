"""Limits (issue #14): runaway scenarios are refused before they run, with the YAML path and
the reason (`models.budget`), and what gets through is bounded while it runs
(`sim.engine.budget`), its results then marked partial.

Deterministic: the static checks need no simulation; the run-time tests run tiny scenarios
and compare exact results.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import simpy

from models import ScenarioError, load_scenario
from models.budget import (
    DEFAULT_MAX_EVENTS,
    MAX_PUBLISH_COUNT,
    MAX_REPLICAS,
    MAX_TIMESERIES_ROWS,
    check_run,
    estimate_events,
)
from sim.engine import Replication
from sim.engine.budget import RunBudget, run_bounded
from sim.experiments.results import Results
from sim.experiments.simulation import simulate

WORK = {"work": {"exponential": "1ms"}}


def scenario(
    services: dict[str, Any],
    workload: dict[str, Any],
    topics: dict[str, Any] | None = None,
    **simulation: Any,
) -> dict[str, Any]:
    return {
        "name": "limits",
        "simulation": {"duration": 60, **simulation},
        "services": services,
        "topics": topics or {},
        "workload": workload,
    }


def problems_of(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, message) of every problem of `raw` (none: it loads)."""
    try:
        load_scenario(raw)
    except ScenarioError as error:
        return [(problem.path, problem.message) for problem in error.problems]
    return []


def feedback(probability: float, count: int = 1) -> dict[str, Any]:
    """A front end publishes to `orders`; its handler publishes back to `orders`."""
    republish = {"publish": {"topic": "orders", "probability": probability, "count": count}}
    return scenario(
        {
            "front": {"workers": "unlimited", "operations": {"op": [{"publish": "orders"}]}},
            "worker": {"operations": {"handle": [WORK, republish]}},
        },
        {"f": {"entry": "front", "arrivals": {"poisson": 10}}},
        {"orders": {"subscribers": {"worker": "handle"}}},
    )


# --------------------------------------------------------------------------- explosions


def test_a_handler_that_republishes_every_message_is_refused_at_its_publish_step() -> None:
    assert problems_of(feedback(1.0)) == [
        (
            "services.worker.operations.handle[1].publish",
            "messages multiply without end: each message of 'orders' causes 1.0 messages back "
            "to 'orders' on average (through 'orders' -> 'orders'), so the traffic of these "
            "topics grows for ever and the run cannot end; make the publishes of this cycle "
            "less likely or fewer (below 1 message back per message)",
        )
    ]


@pytest.mark.parametrize(
    ("probability", "count", "refused"),
    [(0.5, 1, False), (0.999, 1, False), (1.0, 1, True), (0.5, 2, True), (0.6, 2, True)],
)
def test_feedback_is_refused_exactly_when_a_message_causes_one_or_more_back(
    probability: float, count: int, refused: bool
) -> None:
    problems = problems_of(feedback(probability, count))
    assert bool(problems) == refused
    if refused:
        factor = probability * count
        assert f"causes {factor:.3g}" in problems[0][1]


def cycle(back: float) -> dict[str, Any]:
    """Topic a's handler calls a helper that publishes 2 messages to b half the time (one on
    average, from inside a synchronous callee and a branch); b's handler publishes to a with
    probability `back`."""
    return scenario(
        {
            "front": {"workers": "unlimited", "operations": {"op": [{"publish": "a"}]}},
            "sa": {"operations": {"handle": [WORK, {"call": "helper"}]}},
            "helper": {
                "operations": {
                    "help": [
                        {
                            "branch": [
                                {
                                    "probability": 0.5,
                                    "steps": [{"publish": {"topic": "b", "count": 2}}],
                                },
                                {"probability": 0.5, "steps": []},
                            ]
                        }
                    ]
                }
            },
            "sb": {
                "operations": {"handle": [WORK, {"publish": {"topic": "a", "probability": back}}]}
            },
        },
        {"f": {"entry": "front", "arrivals": {"poisson": 10}}},
        {"a": {"subscribers": {"sa": "handle"}}, "b": {"subscribers": {"sb": "handle"}}},
    )


def test_a_cycle_of_topics_with_factor_one_half_is_accepted_and_one_is_refused() -> None:
    assert problems_of(cycle(0.5)) == []
    (problem,) = problems_of(cycle(1.0))
    assert problem[0] == "services.sb.operations.handle[1].publish"
    assert problem[1].startswith(
        "messages multiply without end: each message of 'b' causes 1.0 messages back to 'b' "
        "on average (through 'b' -> 'a' -> 'b')"
    )


def test_a_cycle_no_message_reaches_is_not_refused() -> None:
    raw = feedback(1.0)
    raw["services"]["front"]["operations"]["op"] = [WORK]  # nothing publishes to `orders`
    assert problems_of(raw) == []


def test_a_fail_step_before_the_publish_lowers_the_factor() -> None:
    raw = feedback(1.0)
    raw["services"]["worker"]["operations"]["handle"].insert(1, {"fail": 0.1})
    assert problems_of(raw) == []


def test_a_huge_publish_count_is_refused() -> None:
    raw = feedback(0.5, count=1)
    raw["services"]["front"]["operations"]["op"] = [
        {"publish": {"topic": "orders", "count": MAX_PUBLISH_COUNT + 1}}
    ]
    assert problems_of(raw) == [
        (
            "services.front.operations.op[0].publish.count",
            "must be <= 10,000 (got 10,001): messages published at once by one step",
        )
    ]


# --------------------------------------------------------------------------- zero-time loops


def closed(think: Any, steps: list[Any]) -> dict[str, Any]:
    flow: dict[str, Any] = {"entry": "api", "clients": 5}
    if think is not None:
        flow["think_time"] = think
    return scenario(
        {"api": {"operations": {"get": steps}}},
        {"users": flow},
        {"t": {}},
    )


ZERO_TIME_LOOP = (
    "a closed flow whose clients never think (no think_time, or one that is always 0) and "
    "whose requests take no time makes requests for ever at the same instant, so the run "
    "would never end: give it a think_time of positive mean, or a step that takes time"
)


def test_a_closed_flow_without_think_time_and_without_work_is_refused() -> None:
    assert problems_of(closed(None, [{"publish": "t"}])) == [("workload.users", ZERO_TIME_LOOP)]
    assert problems_of(closed({"constant": 0}, [{"publish": "t"}])) == [
        ("workload.users.think_time", ZERO_TIME_LOOP)
    ]
    # time passes somewhere: accepted
    assert problems_of(closed({"exponential": "1s"}, [{"publish": "t"}])) == []
    assert problems_of(closed({"empirical": [0, 1]}, [{"publish": "t"}])) == []
    assert problems_of(closed(None, [{"publish": "t"}, WORK])) == []


def test_a_body_that_always_fails_before_its_work_takes_no_time() -> None:
    assert problems_of(closed(None, [{"fail": 1}, WORK])) == [("workload.users", ZERO_TIME_LOOP)]
    assert problems_of(closed(None, [{"fail": 0.5}, WORK])) == []


def test_zero_time_through_calls_and_time_in_a_callee() -> None:
    raw = closed(None, [{"call": "db"}])
    raw["services"]["db"] = {"operations": {"q": [{"publish": "t"}]}}
    assert problems_of(raw) == [("workload.users", ZERO_TIME_LOOP)]
    raw["services"]["db"]["operations"]["q"].append({"delay": {"constant": "1ms"}})
    assert problems_of(raw) == []


def test_interarrival_times_of_mean_zero_are_refused() -> None:
    raw = scenario(
        {"api": {"operations": {"get": [WORK]}}},
        {"users": {"entry": "api", "arrivals": {"interarrival": {"constant": 0}}}},
    )
    assert problems_of(raw) == [
        (
            "workload.users.arrivals.interarrival",
            "interarrival times that are always 0 make arrivals for ever at the same instant, "
            "so the run would never end: give them a positive mean (got {'constant': 0.0})",
        )
    ]


def test_a_crash_with_zero_up_and_down_times_is_refused() -> None:
    raw = scenario(
        {"api": {"operations": {"get": [WORK]}}},
        {"users": {"entry": "api", "arrivals": {"poisson": 1}}},
    )
    raw["faults"] = [
        {"service": "api", "kind": "crash", "mtbf": {"constant": 0}, "mttr": {"constant": 0}}
    ]
    ((path, message),) = problems_of(raw)
    assert path == "faults[0]" and "never end" in message


# --------------------------------------------------------------------------- sizes


def test_absurd_sizes_are_refused_with_their_paths() -> None:
    raw = scenario(
        {
            "api": {
                "replicas": MAX_REPLICAS + 1,
                "operations": {"get": [WORK, {"call": {"service": "db", "retries": 5000}}]},
            },
            "db": {"replicas": 1000, "operations": {"q": [WORK]}},
        },
        {"users": {"entry": "api", "clients": 10**7, "think_time": {"constant": "1s"}}},
        {"t": {"partitions": 10**7, "subscribers": {"db": {"operation": "q", "concurrency": 200}}}},
        replications=20_000,
    )
    paths = [path for path, _ in problems_of(raw)]
    assert paths == [
        "services.api.operations.get[1].call.retries",
        "services.api.replicas",
        "simulation.replications",
        "topics.t.partitions",
        "topics.t.subscribers.db.concurrency",
        "workload.users.clients",
    ]
    message = dict(problems_of(raw))["topics.t.subscribers.db.concurrency"]
    assert message == (
        "1,000 replica(s) x 200 = 200,000 consumer threads, more than the 100,000 a group may "
        "have (each takes about 1 KB of memory): at most 100 per replica fit"
    )


def test_time_series_too_large_are_refused_with_the_interval_that_fits() -> None:
    raw = scenario(
        {"api": {"operations": {"get": [WORK]}}},
        {"users": {"entry": "api", "arrivals": {"poisson": 1}}},
        duration="10h",
        sample_interval="1ms",
    )
    ((path, message),) = problems_of(raw)
    assert path == "simulation.sample_interval"
    # 36,000,000 samples x 5 values (3 of the service, 2 of the flow)
    assert message == (
        "the time series would hold 180,000,000 rows (36,000,000 samples x 5 values x 1 "
        "replication(s)), more than the 50,000,000 that fit in memory: use a sample_interval "
        "of at least 0.0036 s (got 0.001 s)"
    )
    raw["simulation"]["sample_interval"] = "3.6ms"
    assert problems_of(raw) == []
    assert MAX_TIMESERIES_ROWS == 50_000_000


# --------------------------------------------------------------------------- event load


def test_the_estimate_counts_the_events_of_the_engine() -> None:
    """Every timed step, arrival, delivery after a latency and sample is one event of the
    simpy calendar: the estimate is the engine's count in expectation."""
    raw = scenario(
        {
            "api": {
                "workers": 4,
                "operations": {"get": [WORK, {"call": "db"}, {"publish": "t"}]},
            },
            "db": {"workers": 8, "operations": {"q": [WORK, {"delay": {"constant": "1ms"}}]}},
            "worker": {"operations": {"handle": [WORK]}},
        },
        {"users": {"entry": "api", "arrivals": {"poisson": 100}}},
        {"t": {"delivery_latency": {"constant": "1ms"}, "subscribers": {"worker": "handle"}}},
        duration=100,
    )
    loaded = load_scenario(raw)
    estimate = estimate_events(loaded)
    # per request: arrival, 3 timed steps, a delivery and the handler's work
    assert estimate.flows["users"].per_request == pytest.approx(6.0)
    assert estimate.total == pytest.approx(100 * 100 * 6 + 200)
    run = Replication(loaded, 0, 1)
    run.run()
    events = next(run.env._eid)  # (the count of events scheduled)
    assert events == pytest.approx(estimate.total, rel=0.03)


def test_the_event_load_is_checked_against_the_budget() -> None:
    loaded = load_scenario(
        scenario(
            {"api": {"workers": "unlimited", "operations": {"get": [WORK]}}},
            {"users": {"entry": "api", "arrivals": {"poisson": "50000/s"}}},
            duration="1h",
        )
    )
    # 50,000/s x 3,600 s x 2 events
    ((path, message),) = [(problem.path, problem.message) for problem in check_run(loaded, 1)]
    assert path == "workload.users"
    assert message.startswith(
        "the run would take about 360,000,000 simulation events per replication (about 18 min "
        "of CPU), more than the event budget of 200,000,000: this flow makes about 180,000,000 "
        "requests in 3600 s (warm-up and duration), each about 2 events"
    )
    assert message.endswith(
        "raise the budget at run time with --max-events 550000000 (0: no limit)"
    )
    assert check_run(loaded, 1, max_events=550_000_000) == []
    assert check_run(loaded, 1, max_events=None) == []
    with pytest.raises(ScenarioError, match="--max-events"):
        simulate(loaded)
    assert DEFAULT_MAX_EVENTS == 200_000_000


def test_closed_flows_are_bounded_by_their_busiest_service() -> None:
    """10,000 clients without think time at one worker of 1 ms: at most 1,000 requests/s,
    not 10,000 / 1 ms."""
    loaded = load_scenario(
        scenario(
            {"api": {"operations": {"get": [{"work": {"constant": "1ms"}}]}}},
            {"users": {"entry": "api", "clients": 10_000}},
        )
    )
    assert estimate_events(loaded).flows["users"].requests == pytest.approx(60 * 1000)


# --------------------------------------------------------------------------- run time


SMALL = scenario(
    {
        "api": {
            "workers": 2,
            "operations": {"get": [WORK, {"call": "db"}, {"publish": "t"}]},
        },
        "db": {"workers": 3, "queue_capacity": 5, "operations": {"q": [WORK]}},
        "worker": {
            "operations": {"handle": [WORK, {"publish": {"topic": "t", "probability": 0.3}}]}
        },
    },
    {"users": {"entry": "api", "arrivals": {"poisson": 300}}},
    {
        "t": {
            "partitions": 3,
            "delivery_latency": {"constant": "1ms"},
            "subscribers": {"worker": "handle"},
        }
    },
    duration=20,
    warmup=2,
    replications=2,
    seed=3,
)


def test_checking_the_budget_between_chunks_changes_no_result() -> None:
    loaded = load_scenario(SMALL)
    plain = simulate(loaded, budget=None)
    checked = simulate(loaded, budget=RunBudget(max_events=10**9, check_every=977))
    assert checked.to_json() == plain.to_json()
    assert checked.timeseries().equals(plain.timeseries())
    assert "partial" not in json.loads(checked.to_json())["settings"]


def test_run_bounded_stops_where_env_run_stops() -> None:
    """The same stop event as `Environment.run(until)`: events at the end time itself are
    not processed, and the clock ends at `until`."""
    seen: dict[str, list[float]] = {"run": [], "bounded": []}
    for how, times in seen.items():
        env = simpy.Environment()

        def record(
            _event: object, env: simpy.Environment = env, times: list[float] = times
        ) -> None:
            times.append(env.now)

        for delay in (1.0, 2.0, 2.0, 3.0):
            env.timeout(delay).callbacks.append(record)
        if how == "run":
            env.run(until=2.0)
        else:
            assert run_bounded(env, 2.0, RunBudget(check_every=1)) is None
        assert env.now == 2.0
    assert seen["run"] == seen["bounded"] == [1.0]


RETRIES = scenario(
    {
        "api": {
            "workers": "unlimited",
            "operations": {"get": [{"call": {"service": "db", "retries": 50}}]},
        },
        "db": {
            "workers": "unlimited",
            "operations": {"q": [{"work": {"constant": "1ms"}}, {"fail": 1}]},
        },
    },
    {"users": {"entry": "api", "arrivals": {"poisson": 100}}},
    duration=100,
    warmup=1,
    replications=2,
)


def test_the_event_budget_stops_a_run_the_estimate_let_through() -> None:
    """Retries of a failing call are not in the estimate (2 events a request), but each
    request here makes 51 attempts: the run stops at its budget, its results partial."""
    loaded = load_scenario(RETRIES)
    assert estimate_events(loaded).total < 30_000
    results = simulate(loaded, budget=RunBudget(max_events=50_000, check_every=4096))
    settings = json.loads(results.to_json())["settings"]
    assert settings["partial"] is True
    assert settings["stopped"].startswith(
        "replication 0: the event budget of 50,000 events per replication was exceeded at t = "
    )
    assert "replication 1: the event budget" in settings["stopped"]
    flows = results.flows["users"]
    assert 0 < flows.arrived < 100 * 100 / 2  # stopped well before the end
    assert flows.arrived == flows.completed + flows.dropped + flows.failed + flows.in_flight
    assert Results.from_json(results.to_json()).settings.partial is True


def test_the_memory_budget_stops_a_run() -> None:
    loaded = load_scenario(RETRIES)
    results = simulate(loaded, replications=1, budget=RunBudget(max_memory=1, check_every=1000))
    assert results.settings.partial is True
    assert results.settings.stopped is not None
    assert results.settings.stopped.startswith(
        "replication 0: the memory budget of 1 B was exceeded ("
    )


def test_a_run_stopped_during_warm_up_reports_without_failing() -> None:
    raw = copy.deepcopy(RETRIES)
    raw["simulation"]["warmup"] = 50
    results = simulate(
        load_scenario(raw), replications=1, budget=RunBudget(max_events=40_000, check_every=1000)
    )
    assert results.settings.partial is True
    assert results.flows["users"].arrived == 0  # nothing measured yet


def test_a_loop_at_one_instant_is_stopped_when_time_stands_still() -> None:
    """Closed clients without think time at a loss station: while its one worker is busy,
    every other request is dropped at once and its client asks again at the same instant.
    Nothing refuses it before the run (requests do take time when served); time standing
    still stops it."""
    raw = scenario(
        {
            "api": {
                "workers": 1,
                "queue_capacity": 0,
                "operations": {"get": [{"work": {"constant": "10ms"}}]},
            }
        },
        {"users": {"entry": "api", "clients": 3}},
        duration=10,
    )
    budget = RunBudget(stall_events=50_000, check_every=5_000)
    results = simulate(load_scenario(raw), budget=budget)
    assert results.settings.stopped is not None
    assert results.settings.stopped.startswith(
        "replication 0: simulated time stood still at t = 0 s of 10 s for 50,000 events"
    )
