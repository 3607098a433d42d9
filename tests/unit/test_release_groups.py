"""Resumes that an async-I/O pool lets go together (`models.analysis.release_groups`): where
they are found, the sizes of the groups they make, and where the analysis applies them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.graph import OpKey, StationId, reachable
from models.analysis.release_groups import (
    TAIL,
    Reach,
    _group_sizes,
    _senders_first,
    released_groups,
    releases,
)
from models.analysis.summary import StationView


def _chain(blocking_calls: bool = False, rate: float = 700.0) -> dict[str, Any]:
    """A gateway (2 workers) that works, calls `auth` (no queue), then `cart` at once."""
    return {
        "name": "resumes",
        "simulation": {"duration": 10},
        "services": {
            "gateway": {
                "workers": 2,
                "blocking_calls": blocking_calls,
                "operations": {
                    "checkout": [
                        {"work": {"exponential": "1ms"}},
                        {"call": "auth.verify"},
                        {"call": "cart.read"},
                        {"work": {"exponential": "0.2ms"}},
                    ]
                },
            },
            "auth": {
                "workers": "unlimited",
                "operations": {"verify": [{"work": {"exponential": "2ms"}}]},
            },
            "cart": {"operations": {"read": [{"work": {"exponential": "0.8ms"}}]}},
        },
        "workload": {"shoppers": {"entry": "gateway.checkout", "arrivals": {"poisson": rate}}},
    }


CHECKOUT = OpKey("service", "gateway", "checkout", 0)


def test_resumes_with_no_work_are_found_with_where_they_go() -> None:
    scenario = load_scenario(_chain())
    found = releases(scenario, reachable(scenario))
    assert set(found.pools) == {"gateway"}  # (auth is unlimited, cart blocking)
    resumes = found.pools["gateway"].resumes
    # its start (work first), after auth (calls cart at once), after cart (work first)
    assert [(key, weight, reach) for key, weight, reach in resumes] == [
        (CHECKOUT, 1.0, Reach()),
        (CHECKOUT, 1.0, Reach((("cart", 1.0),))),
        (CHECKOUT, 1.0, Reach()),
    ]
    ends = found.pools["gateway"].ends
    assert [reach for _, _, reach in ends] == [Reach((("auth", 1.0),)), Reach(reply=1.0)]
    cart = OpKey("service", "cart", "read", 0)
    assert [site.caller for site in found.sites[cart]] == [CHECKOUT]


def test_a_blocking_pool_lets_nothing_go_together() -> None:
    scenario = load_scenario(_chain(blocking_calls=True))
    assert releases(scenario, reachable(scenario)).pools == {}
    assert "arrivals in groups" not in analyze(scenario).services["cart"].method


def test_replies_pass_tail_calls_and_free_async_workers() -> None:
    """`rate` lets its replies go together (it resumes after `db` to reply); `search`
    called it in tail position (the reply passes on without a worker); `front` resumes and
    calls `booking` at once: the group arrives there, thinned by the chance that `front`
    has a worker free."""
    document = {
        "name": "replies",
        "simulation": {"duration": 10},
        "services": {
            "front": {
                "workers": 4,
                "blocking_calls": False,
                "operations": {"page": [{"call": "search.find"}, {"call": "booking.check"}]},
            },
            "search": {
                "workers": 2,
                "blocking_calls": False,
                "operations": {"find": [{"work": {"exponential": "0.5ms"}}, {"call": "rate.get"}]},
            },
            "rate": {
                "workers": 2,
                "blocking_calls": False,
                "operations": {
                    "get": [
                        {"work": {"exponential": "0.5ms"}},
                        {"call": "db.get"},
                        {"fail": 0.01},  # (not found: it replies all the same, at once)
                    ]
                },
            },
            "db": {"workers": "unlimited", "operations": {"get": [{"work": {"constant": "1ms"}}]}},
            "booking": {"operations": {"check": [{"work": {"exponential": "0.5ms"}}]}},
        },
        "workload": {"users": {"entry": "front.page", "arrivals": {"poisson": 1000}}},
    }
    scenario = load_scenario(document)
    found = releases(scenario, reachable(scenario))
    rate = OpKey("service", "rate", "get", 0)
    assert [reach for _, _, reach in found.pools["rate"].resumes] == [Reach(), Reach(reply=1.0)]
    rates = {key: 1000.0 for key in reachable(scenario)}
    views = {
        StationId("service", name): StationView(utilization=0.5, p_wait=p_wait)
        for name, p_wait in (("front", 0.1), ("search", 0.2), ("rate", 0.3), ("booking", 0.0))
    }
    groups = dict(released_groups(found, rates, views)["booking"])
    # rate: 1000/s with work, 1000/s resumes with none, rho = 0.5: runs of geometric
    # length with ratio 1/4 (nothing with work waiting) or 1/2, leaving at 1000 x 0.3 / E[K]
    mean_run = 0.5 / (1 - 0.25) + 0.5 / (1 - 0.5)
    runs = 1000 * 0.3 / mean_run
    kept = 0.9  # (front has a worker free)
    assert rate in found.sites
    assert math.isclose(sum(groups.values()), runs * _kept(kept), rel_tol=1e-5)
    pairs = runs * sum(w * _binomial_geometric(2, r, kept) for w, r in ((0.5, 0.25), (0.5, 0.5)))
    assert math.isclose(groups[2], pairs, rel_tol=1e-9)


def _kept(share: float) -> float:
    """P(at least one of a run of the test's mixture is kept)."""
    return sum(w * (1 - _binomial_geometric(0, r, share)) for w, r in ((0.5, 0.25), (0.5, 0.5)))


def _binomial_geometric(n: int, ratio: float, share: float, terms: int = 400) -> float:
    """P(Bin(K, share) = n), K geometric on 1, 2, ... with ratio `ratio`, by summing."""
    return sum(
        (1 - ratio) * ratio ** (k - 1) * math.comb(k, n) * share**n * (1 - share) ** (k - n)
        for k in range(max(n, 1), terms)
    )


@pytest.mark.parametrize(("member", "ender"), [(1.0, 0.0), (0.3, 0.0), (0.3, 0.6), (0.0, 1.0)])
def test_group_sizes_are_the_closed_form_of_thinned_geometric_runs(
    member: float, ender: float
) -> None:
    ratios, weights = (0.2, 0.6), (0.7, 0.3)
    sizes = _group_sizes(ratios, weights, member, ender)
    for n in range(1, 12):
        thinned = [
            sum(w * _binomial_geometric(m, r, member) for w, r in zip(weights, ratios, strict=True))
            for m in (n, n - 1)
        ]
        expected = (1 - ender) * thinned[0] + ender * thinned[1]
        if expected >= TAIL:
            assert math.isclose(sizes[n], expected, rel_tol=1e-9)
        else:
            assert n not in sizes


def test_senders_come_first_and_a_cycle_is_reported() -> None:
    order, acyclic = _senders_first({"b": {"c": {2: 1.0}}, "a": {"b": {2: 1.0}}})
    assert order == ["a", "b", "c"] and acyclic
    _, acyclic = _senders_first({"a": {"b": {2: 1.0}}, "b": {"a": {2: 1.0}}})
    assert not acyclic


def test_the_analysis_adds_the_groups_at_the_pool_they_reach() -> None:
    """The cart behind the gateway waits more than M/M/1 says: the gateway's resumes after
    `auth` wait for its busy workers and go through together (simulated at 700/s, 5 x 120 s:
    1.167 ms, 95% interval 1.149-1.185; M/M/1: 1.018 ms; tests/theory/test_release_groups.py
    checks it)."""
    predicted = analyze(load_scenario(_chain()))
    cart = predicted.services["cart"]
    assert cart.method.endswith("+ arrivals in groups (M^X/M/c)")
    m_m_1 = 0.56 / (1 - 0.56) * 0.0008
    assert cart.waiting_time.mean is not None
    assert 1.05 * m_m_1 < cart.waiting_time.mean < 1.25 * m_m_1
    gateway = predicted.services["gateway"]
    assert "arrivals in groups" not in gateway.method
