"""Arrivals in groups: the M^X/M/c formula (`models.theory.mxmc`), the fan-outs and the
publishes that send groups at once (`models.analysis.fan_out`, `message_runs`) and where the
analysis applies them. Groups spread by work on their way are in
test_batch_arrivals_spread.py."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.fan_out import (
    FanOut,
    arrival_groups,
    consumer_fans,
    fan_outs,
    run_overlap,
)
from models.analysis.graph import OpKey, fixed_partition, reachable
from models.analysis.message_runs import publish_groups
from models.theory import mmc, mxmc


@pytest.mark.parametrize(("rate", "servers"), [(0.5, 1), (1.0, 2), (3.5, 4), (15.0, 16)])
def test_single_arrivals_are_erlang_c(rate: float, servers: int) -> None:
    grouped, single = mxmc(rate, {1: 1.0}, 1.0, servers), mmc(rate, 1.0, servers)
    assert math.isclose(grouped.mean_waiting_time, single.mean_waiting_time, rel_tol=1e-9)
    assert math.isclose(grouped.p_wait, single.p_wait, rel_tol=1e-9)


@pytest.mark.parametrize("sizes", [{2: 1.0}, {1: 0.5, 2: 0.3, 5: 0.2}, {3: 0.1, 1: 0.9}])
def test_one_server_is_the_bulk_input_formula(sizes: dict[int, float]) -> None:
    """M^X/M/1: W = rho E[S] / (1 - rho) + E[X(X - 1)] E[S] / (2 E[X] (1 - rho))
    (Gross & Harris §3.1, §5.1.7); the first of a group waits when the server is busy
    (rho), the others always: P(wait) = 1 - (1 - rho) / E[X]."""
    mean = sum(k * p for k, p in sizes.items())
    pairs = sum(k * (k - 1) * p for k, p in sizes.items())
    group_rate, service = 0.6 / mean, 1.0
    rho = group_rate * mean * service
    expected = rho * service / (1 - rho) + pairs * service / (2 * mean * (1 - rho))
    station = mxmc(group_rate, sizes, 1.0 / service, 1)
    assert math.isclose(station.mean_waiting_time, expected, rel_tol=1e-9)
    assert math.isclose(station.p_wait, 1 - (1 - rho) / mean, rel_tol=1e-9)
    assert math.isclose(station.mean_queue_length, 0.6 * station.mean_waiting_time)  # Little


@pytest.mark.parametrize("rho", [0.99, 0.9999, 0.999999])
def test_next_to_saturation_the_tail_is_summed_as_geometric(rho: float) -> None:
    """The chain's tail is geometric above c + max X: summed in closed form, the formula
    stays exact where the states to follow would run into millions (c = 1: the bulk input
    formula; single arrivals at 4 servers: Erlang C)."""
    sizes = {1: 0.5, 2: 0.3, 4: 0.2}
    mean, pairs = 1.9, 0.3 * 2 + 0.2 * 12
    expected = rho / (1 - rho) + pairs / (2 * mean * (1 - rho))
    grouped = mxmc(rho / mean, sizes, 1.0, 1).mean_waiting_time
    assert math.isclose(grouped, expected, rel_tol=1e-8)
    single = mxmc(4 * rho, {1: 1.0}, 1.0, 4).mean_waiting_time
    assert math.isclose(single, mmc(4 * rho, 1.0, 4).mean_waiting_time, rel_tol=1e-8)


def test_groups_wait_more_than_single_arrivals_at_the_same_load() -> None:
    single = mmc(6.0, 1.0, 8)
    pairs, quads = mxmc(3.0, {2: 1.0}, 1.0, 8), mxmc(1.5, {4: 1.0}, 1.0, 8)
    assert single.mean_waiting_time < pairs.mean_waiting_time < quads.mean_waiting_time
    assert single.utilization == pairs.utilization == quads.utilization == 0.75


def test_unstable_and_bad_arguments() -> None:
    assert not mxmc(2.0, {2: 1.0}, 1.0, 4).stable
    assert math.isinf(mxmc(2.0, {2: 1.0}, 1.0, 4).mean_waiting_time)
    assert mxmc(0.0, {2: 1.0}, 1.0, 1).mean_waiting_time == 0.0
    with pytest.raises(ValueError, match="'group size' must be an integer >= 1"):
        mxmc(1.0, {0: 1.0}, 1.0, 2)
    with pytest.raises(ValueError, match="'sizes' must give some size a positive probability"):
        mxmc(1.0, {2: 0.0}, 1.0, 2)
    with pytest.raises(ValueError, match="'group size probability' must be a finite number"):
        mxmc(1.0, {2: -0.5}, 1.0, 2)


def _fan_scenario(api_workers: int | str, rate: float = 100.0) -> dict[str, Any]:
    get = {"call": "db.get"}
    maybe = {"call": {"service": "db", "operation": "get", "probability": 0.5}}
    return {
        "name": "fan",
        "simulation": {"duration": 10},
        "services": {
            "api": {
                "workers": api_workers,
                "operations": {
                    "page": [
                        {"work": {"exponential": "1ms"}},
                        {
                            "parallel": [
                                [{"publish": "audit"}, get],
                                [maybe],
                                [{"work": {"exponential": "1ms"}}, get],
                                [{"call": "cache.get"}],
                                [{"call": "relay.get"}],
                            ]
                        },
                    ]
                },
            },
            "relay": {"workers": "unlimited", "operations": {"get": [get, {"publish": "audit"}]}},
            "db": {"workers": 2, "operations": {"get": [{"work": {"exponential": "2ms"}}]}},
            "cache": {"workers": 2, "operations": {"get": [{"work": {"exponential": "1ms"}}]}},
        },
        "topics": {"audit": {"type": "queue", "subscribers": {}}},
        "workload": {"pages": {"entry": "api.page", "arrivals": {"poisson": rate}}},
    }


def test_fan_outs_count_the_branches_that_open_with_the_call() -> None:
    """A publish takes no time, so the call after it opens its branch; so does a call that
    `relay` (unlimited workers: it starts every request at once) opens with; a call after
    some work arrives on its own; a lone call to another service makes no group."""
    scenario = load_scenario(_fan_scenario("unlimited"))
    found = fan_outs(scenario, reachable(scenario))
    # a group of 3, or of 2 when the optional call is not made
    assert found == {"db": (FanOut(OpKey("service", "api", "page", 0), ((2, 0.5), (3, 0.5))),)}


def test_publishes_with_nothing_between_make_one_group() -> None:
    """`count: 3` puts three messages on the topic at once and a publish right after adds
    one (half the time): one path; publishes after some work join the run one after the
    other (`message_runs`), each on the path of the work before it."""
    one = {"publish": {"topic": "t", "count": 3}}
    half = {"publish": {"topic": "t", "probability": 0.5}}
    work = {"work": {"exponential": "1ms"}}
    scenario = load_scenario(
        {
            "name": "publishes",
            "simulation": {"duration": 10},
            "services": {
                "api": {"workers": 2, "operations": {"go": [one, half]}},
                "web": {"workers": 2, "operations": {"go": [one, half, work, half, work, half]}},
                "sink": {"workers": 2, "operations": {"take": [work]}},
            },
            "topics": {"t": {"type": "queue", "subscribers": {"sink": {"operation": "take"}}}},
            "workload": {
                "w": {"entry": "api.go", "arrivals": {"poisson": 10}},
                "v": {"entry": "web.go", "arrivals": {"poisson": 10}},
            },
        }
    )
    at_once, spread = publish_groups(scenario, reachable(scenario))["t"]
    assert at_once == FanOut(OpKey("service", "api", "go", 0), ((3, 0.5), (4, 0.5)), messages=True)
    assert spread.sizes == ((3, 0.125), (4, 0.375), (5, 0.375), (6, 0.125))
    lengths = [len(path) for path in spread.paths]
    assert lengths == [0, 0, 1, 2]  # (the first two at once, then after 1 and 2 works)
    # an exponential hold of 1 ms outlasts the two gaps of 1 ms with 1/2 each: (1 + 1/2 + 1/2) / 3
    assert math.isclose(run_overlap(spread.paths, 0.001, {}), 2.0 / 3.0, rel_tol=1e-12)


def _chained_publishes(blocking: bool, tail: list[Any]) -> Any:
    """`api` calls `payments` (its operation `tail`) and then publishes to `t`."""
    work = {"work": {"exponential": "1ms"}}
    return load_scenario(
        {
            "name": "chained",
            "simulation": {"duration": 10},
            "services": {
                "api": {
                    "workers": 4,
                    "blocking_calls": blocking,
                    "operations": {"go": [work, {"call": "payments.pay"}, {"publish": "t"}]},
                },
                "payments": {"workers": 2, "operations": {"pay": tail}},
                "sink": {"workers": 2, "operations": {"take": [work]}},
            },
            "topics": {"t": {"type": "queue", "subscribers": {"sink": {"operation": "take"}}}},
            "workload": {"w": {"entry": "api.go", "arrivals": {"poisson": 10}}},
        }
    )


def test_a_message_published_as_a_call_returns_joins_the_callers_next_ones() -> None:
    """The callee's last step publishes (made 40% of the time) and the blocking caller
    publishes as the reply comes: the two messages are on the topic at the same instant, a
    group of two 40% of the time; so where the caller lets its worker go during the call
    (the reply waits for one: taken as no time). Not where the callee's last steps are a
    group of their own (counted there); where its message is followed by work, the two are
    a run (one after the other)."""
    work = {"work": {"exponential": "1ms"}}
    maybe = {"publish": {"topic": "t", "probability": 0.4}}
    found = publish_groups(*_both(_chained_publishes(True, [work, maybe])))
    assert found == {
        "t": (FanOut(OpKey("service", "api", "go", 0), ((1, 0.6), (2, 0.4)), messages=True),)
    }
    assert publish_groups(*_both(_chained_publishes(False, [work, maybe]))) == found
    own_group = publish_groups(*_both(_chained_publishes(True, [work, maybe, maybe])))
    assert [fan.source.name for fan in own_group["t"]] == ["payments"]
    (run,) = publish_groups(*_both(_chained_publishes(True, [maybe, work])))["t"]
    assert run.source.name == "api" and run.paths  # (a run, `message_runs._on_the_way`)


def _both(scenario: Any) -> tuple[Any, Any]:
    return scenario, reachable(scenario)


def test_arrival_groups_come_with_the_senders_rates() -> None:
    fan = FanOut(OpKey("service", "api", "page", 0), ((1, 0.5), (2, 0.5)))
    rates = {fan.source: 100.0}
    # groups of 1 or 2 from the fan-out; the rest (250 - 150 sent by it) alone
    assert arrival_groups(250.0, [fan], rates) == ((1, 150.0), (2, 50.0))
    assert arrival_groups(250.0, [FanOut(fan.source, ((0, 0.5), (1, 0.5)))], rates) is None


def test_the_analysis_counts_groups_where_the_caller_seldom_fills() -> None:
    """With unlimited workers the pages arrive as Poisson, and so do their groups; with one
    worker, busy 40% of the time, the pages wait in line and are sent one after the other:
    no groups."""
    free = analyze(load_scenario(_fan_scenario("unlimited"))).services["db"]
    assert "arrivals in groups" in free.method
    alone = analyze(load_scenario(_fan_scenario(1))).services["db"]
    assert "arrivals in groups" not in alone.method
    alone_wait, free_wait = alone.waiting_time.mean, free.waiting_time.mean
    assert alone_wait is not None and free_wait is not None and alone_wait < free_wait


def test_messages_published_at_once_count_whatever_their_sender_fills() -> None:
    """An API of one worker, busy 60% of the time, publishing two events at once: its
    calls would be sent one after the other (above), its messages still leave in pairs
    and wait on the topic (`pool_groups`)."""
    scenario = load_scenario(
        {
            "name": "pairs",
            "simulation": {"duration": 10},
            "services": {
                "api": {
                    "workers": 1,
                    "operations": {
                        "post": [
                            {"work": {"exponential": 0.006}},
                            {"publish": {"topic": "t", "count": 2}},
                        ]
                    },
                },
                "sink": {"operations": {"take": [{"work": {"exponential": 0.002}}]}},
            },
            "topics": {"t": {"type": "queue", "subscribers": {"sink": {"operation": "take"}}}},
            "workload": {"w": {"entry": "api.post", "arrivals": {"poisson": 100}}},
        }
    )
    sink = analyze(scenario, capacity=False).topics["t"].groups["sink"]
    assert "arrivals in groups" in sink.method


def test_a_run_over_work_of_infinite_variance_is_counted() -> None:
    """Two messages a flow publishes to a log topic of random partitions, the second after
    Pareto work of infinite variance (its stretch taken as exponential): the consumer's
    groups stay a number (a NaN emptied them, and M^X/M/c refused no sizes; found by the
    property test of tests/unit/test_analysis.py)."""
    pareto = {"pareto": {"mean": 0.002, "alpha": 1.5}}
    scenario = load_scenario(
        {
            "name": "pareto run",
            "simulation": {"duration": 10},
            "services": {"sink": {"operations": {"take": [{"work": {"constant": 0.001}}]}}},
            "topics": {
                "t": {
                    "type": "log",
                    "partitions": 1,
                    "partitioning": "random",
                    "subscribers": {"sink": {"operation": "take"}},
                }
            },
            "workload": {
                "f": {
                    "steps": [{"publish": "t"}, {"work": pareto}, {"publish": "t"}],
                    "arrivals": {"poisson": 1.0},
                }
            },
        }
    )
    sink = analyze(scenario, capacity=False).topics["t"].groups["sink"]
    assert sink.waiting_time.mean is not None and math.isfinite(sink.waiting_time.mean)
    assert "arrivals in groups" in sink.method


def _log_scenario(partitioning: str) -> Any:
    keys = {"keys": {"count": 10, "skew": 0.0}} if partitioning == "key" else {}
    return load_scenario(
        {
            "name": "log groups",
            "simulation": {"duration": 10},
            "services": {
                "api": {"workers": 2, "operations": {"go": [{"publish": "t"}]}},
                "sink": {"operations": {"take": [{"work": {"exponential": "1ms"}}]}},
            },
            "topics": {
                "t": {
                    "type": "log",
                    "partitions": 4,
                    "partitioning": partitioning,
                    **keys,
                    "subscribers": {"sink": {"operation": "take", "concurrency": 2}},
                }
            },
            "workload": {"w": {"entry": "api.go", "arrivals": {"poisson": 10}}},
        }
    )


def test_a_log_topic_consumer_gets_its_part_of_each_group() -> None:
    """Consumer 0 of 2 owns partitions 0 and 2: half the messages that draw a partition at
    random (binomial: of 2, none a quarter of the time, one half, both a quarter); a fixed
    key's group whole or not at all; nothing under round robin."""
    source = OpKey("service", "api", "go", 0)
    drawn = FanOut(source, ((2, 1.0),))
    split = consumer_fans(_log_scenario("random"), "t", [drawn], 0, 2)
    assert split == [FanOut(source, ((0, 0.25), (1, 0.5), (2, 0.25)))]
    assert consumer_fans(_log_scenario("round_robin"), "t", [drawn], 0, 2) == []
    keyed = _log_scenario("key")
    fixed = FanOut(source, ((3, 1.0),), key="order-7")
    owner = fixed_partition(keyed, "t", "order-7")
    assert owner is not None
    assert consumer_fans(keyed, "t", [fixed], owner % 2, 2) == [fixed]
    assert consumer_fans(keyed, "t", [fixed], 1 - owner % 2, 2) == []


def test_a_group_to_a_pool_nothing_reaches_yet_is_no_group() -> None:
    """A closed flow's solve tries the network with none of its clients (no load): its
    messages, two at once, reach a consumer whose classes then carry no arrivals, which
    had no mean holding time to weigh the group by (a division by zero, found by the
    property test of `test_analysis.py`)."""
    document = {
        "name": "groups-at-no-load",
        "simulation": {"duration": 60},
        "services": {
            "sink": {"workers": "unlimited", "operations": {"op": [{"work": {"constant": 0.0}}]}}
        },
        "topics": {
            "t0": {"type": "log", "partitions": 1, "subscribers": {"sink": {"operation": "op"}}}
        },
        "workload": {
            "open": {"steps": [{"work": {"constant": 0.0}}], "arrivals": {"poisson": 1.0}},
            "closed": {
                "steps": [
                    {"work": {"constant": 0.001}},
                    {"publish": {"topic": "t0", "count": 2, "key": "k"}},
                ],
                "clients": 1,
            },
        },
    }
    prediction = analyze(load_scenario(document))
    assert prediction.flows["closed"].response_time.mean is not None
    assert math.isfinite(prediction.flows["closed"].response_time.mean)
