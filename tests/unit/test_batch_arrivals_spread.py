"""Arrivals in groups spread by work: calls that leave together (the branches of a `parallel`
step) and reach a pool after some work, a delay or a `branch` on their way
(`models.analysis.fan_out.spread_calls`), how often such a group counts whole (`overlap`),
and the analysis putting it at the pool it reaches. Groups sent at once and the M^X/M/c
formula are in test_batch_arrivals.py."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.fan_out import FanOut, arrival_groups, fan_outs, overlap, spread_calls
from models.analysis.graph import OpKey, reachable
from models.analysis.network import solve_network
from models.schema import ParallelStep
from models.theory import mmc
from tests.theory.scenarios import spread_reads
from tests.unit.analysis_scenarios import open_sources


def _pair_at_db(users: dict[str, Any], rate: float = 50.0) -> dict[str, Any]:
    """A page (unlimited workers) that reads `db` (one server, 2 ms) at once and through
    `users` (as given), `rate` pages a second."""
    return {
        "name": "pair",
        "simulation": {"duration": 10},
        "services": {
            "page": {
                "workers": "unlimited",
                "operations": {"get": [{"parallel": [[{"call": "db"}], [{"call": "users"}]]}]},
            },
            "users": users,
            "db": {"workers": 1, "operations": {"read": [{"work": {"exponential": 0.002}}]}},
        },
        "workload": {"f": {"entry": "page.get", "arrivals": {"poisson": rate}}},
    }


def test_calls_after_some_work_arrive_as_a_spread_group() -> None:
    """The three records' reads of `db` leave together and arrive spread by `users`' work:
    a group of 2 or 3 at `db` (the third read half the time), its spread the mean work."""
    scenario = load_scenario(spread_reads(10, third_read=0.5))
    parallel = scenario.services["page"].operations["render"][0]
    assert isinstance(parallel, ParallelStep)
    spread = spread_calls(scenario, parallel.parallel)
    assert spread == {"db": [(1.0, 0.0005), (1.0, 0.0005), (0.5, 0.0005)]}
    render = OpKey("service", "page", "render", 0)
    groups = fan_outs(scenario, reachable(scenario))
    works = tuple(OpKey("service", "users", op, 0) for op in ("profile", "address", "card"))
    assert groups["db"] == (FanOut(render, ((2, 0.5), (3, 0.5)), spread=0.0005, via=works),)
    assert groups["users"] == (FanOut(render, ((3, 1.0),)),)  # (and whole at users)


def test_a_call_at_once_and_one_after_a_delay_and_work_are_a_spread_pair() -> None:
    """A branch that reads `db` at once and one whose callee waits 1 ms (`delay`) and
    works 2 ms before it reads `db` too: a pair at `db`, spread by the 3 ms before the
    second (the mean of the members that have any)."""
    users = {
        "workers": 4,
        "operations": {
            "get": [
                {"delay": {"constant": 0.001}},
                {"work": {"exponential": 0.002}},
                {"call": {"service": "db", "probability": 0.5}},
            ]
        },
    }
    scenario = load_scenario(_pair_at_db(users))
    parallel = scenario.services["page"].operations["get"][0]
    assert isinstance(parallel, ParallelStep)
    assert spread_calls(scenario, parallel.parallel) == {"db": [(0.5, pytest.approx(0.003))]}
    get = OpKey("service", "page", "get", 0)
    groups = fan_outs(scenario, reachable(scenario))
    (fan,) = groups["db"]
    assert fan == FanOut(
        get,
        ((1, 0.5), (2, 0.5)),
        spread=pytest.approx(0.003),
        via=(OpKey("service", "users", "get", 0),),
    )  # (the second waits for a worker of `users` too: `_together` reads it each round)


def test_work_at_services_of_unlimited_workers_spreads_a_call_too() -> None:
    """A branch that reaches `db` through `users`, whose unlimited workers start it at
    once and work 0.5 ms before the read, and one whose own steps work 1 ms and publish
    before they read it: spread members (1 ms and 0.5 ms); with a branch that reads at
    once, a group of three. A branch that reaches it at once is not spread."""
    reader = {"workers": "unlimited", "operations": {"get": [{"call": "db"}]}}
    scenario = load_scenario(
        {
            "name": "unlimited-spread",
            "simulation": {"duration": 10},
            "services": {
                "page": {
                    "workers": "unlimited",
                    "operations": {
                        "get": [
                            {
                                "parallel": [
                                    [{"call": "reader"}],
                                    [{"call": "users"}],
                                    [
                                        {"work": {"constant": 0.001}},
                                        {"publish": "t"},
                                        {"call": {"service": "db", "probability": 0.5}},
                                    ],
                                ]
                            }
                        ]
                    },
                },
                "reader": reader,
                "users": {
                    "workers": "unlimited",
                    "operations": {
                        "get": [{"work": {"exponential": 0.0005}}, {"call": "db"}],
                    },
                },
                "db": {"workers": 1, "operations": {"read": [{"work": {"exponential": 0.002}}]}},
            },
            "topics": {"t": {"type": "queue", "subscribers": {}}},
            "workload": {"f": {"entry": "page.get", "arrivals": {"poisson": 50}}},
        }
    )
    parallel = scenario.services["page"].operations["get"][0]
    assert isinstance(parallel, ParallelStep)
    assert spread_calls(scenario, parallel.parallel) == {
        "db": [(1.0, pytest.approx(0.0005)), (0.5, pytest.approx(0.001))]
    }
    get = OpKey("service", "page", "get", 0)
    groups = fan_outs(scenario, reachable(scenario))
    assert groups["db"] == (
        FanOut(get, ((2, 0.5), (3, 0.5)), spread=pytest.approx(0.00075), via=(None, None)),
    )  # (unlimited workers and its own steps: no pool's wait on the way)


def test_a_spread_group_counts_whole_as_often_as_its_members_overlap() -> None:
    """Two members arriving after exponential work of mean w are an exponential gap of
    mean w apart: the first is still held (exponential, mean s) with probability
    E[exp(-gap / s)] = s / (s + w); the rest of the time its members count alone."""
    assert math.isclose(overlap(2.0, 0.5), 0.8)
    assert overlap(0.0, 0.5) == 0.0
    fan = FanOut(OpKey("service", "page", "render", 0), ((3, 1.0),), spread=0.5)
    groups = arrival_groups(400.0, [fan], {fan.source: 100.0}, holding=2.0)
    assert groups == ((1, pytest.approx(400.0 - 3 * 80.0)), (3, pytest.approx(80.0)))


def test_the_analysis_puts_spread_groups_at_the_pool_they_reach() -> None:
    """`db` waits more than Erlang C says (0.173 ms at 50%), less than whole groups of three
    would make it (0.748 ms): with the third read always made it is simulated at about
    0.69 ms, 0.631 ms predicted (tests/theory/test_batch_arrivals_spread.py checks it)."""
    predicted = analyze(load_scenario(spread_reads(10, third_read=0.5))).services["db"]
    assert predicted.method.endswith("+ arrivals in groups (M^X/M/c)")
    erlang_c = mmc(333 * 2.5, 500.0, 4).mean_waiting_time
    assert predicted.waiting_time.mean is not None
    assert 2 * erlang_c < predicted.waiting_time.mean


def test_a_call_in_a_branch_after_some_work_is_a_spread_member() -> None:
    """`pages` works 1 ms, then reads `db` at once with probability 0.3 (taking 0.6 of the
    read), works 2 ms and reads it with 0.5, or works 3 ms and reads it after the branch
    with 0.2: one member, there with 0.3 x 0.6 + 0.5 + 0.2 = 0.88, at 1 ms plus the
    options' times weighted by how often each reads (`fan_out._next_calls`)."""
    read = {"call": "db"}
    options = [
        {"probability": 0.3, "steps": [{"call": {"service": "db", "probability": 0.6}}]},
        {"probability": 0.5, "steps": [{"work": {"constant": 0.002}}, read]},
        {"probability": 0.2, "steps": [{"work": {"constant": 0.003}}]},
    ]
    scenario = load_scenario(
        {
            "name": "branched",
            "simulation": {"duration": 10},
            "services": {
                "api": {
                    "workers": "unlimited",
                    "operations": {"op": [{"parallel": [[{"call": "db"}], [{"call": "pages"}]]}]},
                },
                "pages": {
                    "workers": 16,
                    "operations": {
                        "op": [{"work": {"constant": 0.001}}, {"branch": options}, read]
                    },
                },
                "db": {"workers": 1, "operations": {"read": [{"work": {"exponential": 0.002}}]}},
            },
            "workload": {"f": {"entry": "api.op", "arrivals": {"poisson": 50}}},
        }
    )
    parallel = scenario.services["api"].operations["op"][0]
    assert isinstance(parallel, ParallelStep)
    (member,) = spread_calls(scenario, parallel.parallel)["db"]
    made = 0.3 * 0.6 + 0.5 + 0.2
    assert member == pytest.approx((made, 0.001 + (0.5 * 0.002 + 0.2 * 0.003) / made))


def test_a_member_that_waits_for_a_pool_on_the_way_arrives_later_by_that_wait() -> None:
    """A page reads `db` at once and through `users` (one worker: 4 ms of work, then the
    read): the second read arrives after `users`' wait as well as its work, so the pair
    counts whole as often as `overlap` says for the two together (the wait read from the
    round's summaries: response less execution). Fuzz seed 2603 deep, whose one-worker
    pool on the way waited 51 ms simulated: counted by its work alone, the pairs took its
    callee's wait to +122% and the flow to +126%; now +33% and -17%."""
    users = {
        "workers": 1,
        "operations": {"get": [{"work": {"exponential": 0.004}}, {"call": "db"}]},
    }
    document = _pair_at_db(users, rate=100.0)
    scenario = load_scenario(document)
    solved = solve_network(scenario, open_sources(scenario))
    users = solved.summaries[OpKey("service", "users", "get", 0)]
    wait = users.response.mean - users.execution.mean
    assert wait > 0.004  # (a queue to speak of: more than the work itself)
    groups = solved.services["db"].load.groups
    assert groups is not None
    pairs = dict(groups)[2]
    assert pairs == pytest.approx(100.0 * overlap(0.002, 0.004 + wait), rel=1e-9)
    assert pairs < 0.5 * 100.0 * overlap(0.002, 0.004)  # (by the work alone: 33 pairs/s)
