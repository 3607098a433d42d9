"""Independent bounded callers at a thread pool's flow-equivalent server
(`models.analysis.bounded_pools`, `mixed_source`'s `speed`).

The exact reference: with one exponential mean S for both classes, the two-class chain
whose c servers each work at speed[k] with k busy is an FCFS station of load-dependent
rate mu(n) = min(n, c) speed[min(n, c)] / S with n present, which keeps the product form
of a mixed network (BCMP: Baskett, Chandy, Muntz & Palacios, JACM 22(2), 1975, load-
dependent service centers): with o open and b bounded present,

    p(o, b) ∝ n! / (o! b!) λ^o (N! / (N - b)!) Z^-b / prod_{k=1..n} mu(k),

the classes spread over the places in the queue alike, so that E[o (n - c)^+ / n] of the
open requests wait (Little's law gives their wait) and as many of the bounded ones in
proportion.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.bounded_pools import SPLIT_NOTE, _callee_ratios, _chain, product_form
from models.analysis.graph import StationId
from models.analysis.layers import Callee, flow_equivalent
from models.analysis.mixed_source import BoundedCaller, mixed_source
from models.analysis.moments import Moments
from tests.theory.mixed_network import mixed_law


def _load_dependent(
    open_rate: float, think: float, population: int, rates: list[float], servers: int
) -> tuple[float, float, float]:
    """(open wait, bounded wait, bounded throughput) of the product form above, `rates`
    mu(1..c) (mu(n) = mu(c) beyond), by Little's law over its queue (`mixed_law`)."""
    p = mixed_law(open_rate, think, population, lambda n: rates[min(n, servers) - 1], servers)
    queued_open = sum(q * o * max(o + b - servers, 0) / (o + b) for (o, b), q in p.items() if o)
    queued_bounded = sum(q * b * max(o + b - servers, 0) / (o + b) for (o, b), q in p.items() if b)
    throughput = sum(q * (population - b) for (_, b), q in p.items()) / think
    open_wait = queued_open / open_rate if open_rate > 0 else 0.0
    return open_wait, queued_bounded / throughput, throughput


@pytest.mark.parametrize(
    ("servers", "population", "completions"),
    [(4, 2, [60.0, 100.0, 125.0, 135.0]), (2, 3, [80.0, 110.0]), (3, 1, [50.0, 95.0, 130.0])],
)
def test_the_chain_with_speeds_is_the_load_dependent_product_form(
    servers: int, population: int, completions: list[float]
) -> None:
    """With one mean for both classes, the chain's waits and its bounded throughput are
    those of the product form with mu(n) = X(min(n, c)) (module docstring)."""
    mean = 0.02
    speed = [1.0] + [x * mean / k for k, x in enumerate(completions, start=1)]
    open_rate, bounded_rate = 0.45 * completions[-1], 0.3 * completions[-1]
    result = mixed_source(open_rate, mean, bounded_rate, mean, population, servers, speed)
    assert result is not None
    open_wait, bounded_wait, throughput = _load_dependent(
        open_rate, result.think_time, population, completions, servers
    )
    assert throughput == pytest.approx(bounded_rate, rel=1e-8)
    assert result.open_waiting == pytest.approx(open_wait, rel=1e-6)
    assert result.bounded_waiting == pytest.approx(bounded_wait, rel=1e-6)
    assert result.bounded_waiting < result.open_waiting  # (never behind more of its own)


def test_the_bounded_sources_alone_are_the_load_dependent_finite_source_queue() -> None:
    """No open class: 3 sources over 2 threads whose subnetwork completes 80 and 110
    requests a second with 1 and 2 inside (a pool that only log consumers reach, more of
    them than its threads): the chain is the finite-source queue with those rates."""
    completions, mean = [80.0, 110.0], 0.02
    speed = [1.0] + [x * mean / k for k, x in enumerate(completions, start=1)]
    result = mixed_source(0.0, mean, 70.0, mean, 3, 2, speed)
    assert result is not None and result.open_waiting == 0.0
    _, bounded_wait, throughput = _load_dependent(0.0, result.think_time, 3, completions, 2)
    assert throughput == pytest.approx(70.0, rel=1e-8)
    assert result.bounded_waiting == pytest.approx(bounded_wait, rel=1e-6)
    assert result.bounded_waiting > 0.0


@pytest.mark.parametrize(
    ("open_rate", "bounded_rate", "population", "completions"),
    [
        (110.0, 80.0, 2, [100.0, 200.0, 238.9, 248.2]),
        (40.0, 30.0, 3, [80.0, 110.0]),
        (0.0, 70.0, 3, [80.0, 110.0]),
        (60.0, 20.0, 1, [50.0, 95.0, 130.0]),
    ],
)
def test_the_product_form_in_sums_is_the_chain(
    open_rate: float, bounded_rate: float, population: int, completions: list[float]
) -> None:
    """With one mean for both classes, `product_form`'s sums give what the chain's linear
    system does: the think time, both waits, P(wait) and the busy threads."""
    mean = 0.01
    speed = [1.0] + [x * mean / k for k, x in enumerate(completions, start=1)]
    servers = len(completions)
    chain = mixed_source(open_rate, mean, bounded_rate, mean, population, servers, speed)
    sums = product_form(open_rate, bounded_rate, mean, population, speed)
    assert chain is not None and sums is not None
    assert sums.think_time == pytest.approx(chain.think_time, rel=1e-7)
    assert sums.open_waiting == pytest.approx(chain.open_waiting, rel=1e-7, abs=1e-12)
    assert sums.bounded_waiting == pytest.approx(chain.bounded_waiting, rel=1e-7)
    assert sums.p_wait == pytest.approx(chain.p_wait, rel=1e-7)
    assert sums.busy == pytest.approx(chain.busy, abs=1e-9)


def test_speeds_of_one_change_nothing_and_a_constant_speed_scales_the_means() -> None:
    """speed[k] = 1 is the chain without speeds to the last bit; speed s everywhere is the
    chain with every mean divided by s."""
    plain = mixed_source(60.0, 0.01, 40.0, 0.015, 3, 2)
    ones = mixed_source(60.0, 0.01, 40.0, 0.015, 3, 2, [1.0, 1.0, 1.0])
    assert plain == ones
    faster = mixed_source(60.0, 0.02, 40.0, 0.03, 3, 2, [2.0, 2.0, 2.0])
    assert plain is not None and faster is not None
    assert faster.open_waiting == pytest.approx(plain.open_waiting, rel=1e-9)
    assert faster.bounded_waiting == pytest.approx(plain.bounded_waiting, rel=1e-9)


def test_a_vanishing_bounded_class_leaves_the_flow_equivalent_server() -> None:
    """A pool of 4 threads held 2 ms and through a query of 8 ms at a database of 2
    servers: as the bounded class's share goes to nothing, the open class waits as the
    flow-equivalent server with Poisson arrivals says, and the threads are busy as it has
    them; with a real share, the bounded class waits less than that, the open class too,
    and the database as the pool's requests see it (fewer of them there at once)."""
    database = Callee(StationId("service", "db"), 1.0, 0.008, 2, 0.0)
    rate = 170.0
    layer = flow_equivalent(rate, 4, 0.002, [database])
    assert layer is not None and layer.waiting > 0
    holding = Moments(0.012, 0.012**2)
    tiny = BoundedCaller(("handler", "orders"), 1, 1e-6 * rate, holding)
    alone = _chain(rate, holding, tiny, layer.completion_rates)
    assert alone is not None
    assert alone.open_waiting == pytest.approx(layer.waiting, rel=1e-4)
    assert alone.busy == pytest.approx(layer.busy, abs=1e-6)
    assert _callee_ratios(layer, alone.busy)[database.station] == pytest.approx(1.0, abs=1e-5)
    share = BoundedCaller(("handler", "orders"), 2, 0.45 * rate, holding)
    split = _chain(rate, holding, share, layer.completion_rates)
    assert split is not None
    assert split.bounded_waiting < split.open_waiting < layer.waiting
    assert _callee_ratios(layer, split.busy)[database.station] < 1.0


def _scenario(caller: dict[str, Any], topic: str | None) -> dict[str, Any]:
    """A pool of 4 over a database of 2, 110 reads/s and `caller` (handler of `topic`'s
    group, or a service) calling it."""
    get = [{"work": {"exponential": 0.002}}, {"call": "db.query"}]
    document: dict[str, Any] = {
        "name": "callers-at-a-pool",
        "simulation": {"duration": 10},
        "services": {
            "app": {"workers": 4, "operations": {"get": get}},
            "db": {"workers": 2, "operations": {"query": [{"work": {"exponential": 0.008}}]}},
            "api": {"workers": "unlimited", "operations": {"place": [{"publish": "orders"}]}},
            "indexer": caller,
        },
        "workload": {
            "reads": {"entry": "app.get", "arrivals": {"poisson": 110.0}},
            "orders": {"entry": "api.place", "arrivals": {"poisson": 80.0}},
        },
    }
    if topic is not None:
        subscriber = {"operation": "handle", "concurrency": 2}
        spec = {"type": topic, "subscribers": {"indexer": subscriber}}
        document["topics"] = {"orders": spec | ({"partitions": 4} if topic == "log" else {})}
    else:
        document["services"]["api"]["operations"]["place"] = [{"call": "indexer.handle"}]
    return document


@pytest.mark.parametrize(
    ("topic", "split"),
    [("log", True), ("queue", False), (None, False)],
    ids=["log-consumers", "queue-consumers", "a-service-s-threads"],
)
def test_only_independent_sources_are_split(topic: str | None, split: bool) -> None:
    """A log topic's consumers are split from the reads; a queue topic's consumer threads
    and a service's workers (threads sharing a queue of their own) are not."""
    handle = [{"work": {"exponential": 0.005}}, {"call": "app.get"}]
    caller = {"workers": 2, "operations": {"handle": handle}}
    predicted = analyze(load_scenario(_scenario(caller, topic)), capacity=False)
    assert (SPLIT_NOTE in predicted.services["app"].method) is split


def test_the_split_holds_where_the_pool_seldom_makes_anyone_wait() -> None:
    """Three consumers of a log topic (100 messages/s) and 110 reads/s at a pool of 8
    threads: with the database's wait as the split has it, the pool's open model makes
    requests wait less than 5% of the time, below which the two-class station does not
    split (`mixed_source.worth_splitting`). The pool splits them at any load
    (`bounds.CallerBounds.apart`): gated so, the rounds went back and forth between the
    split and the open pool (the consumers saturated every other round) for 300 rounds."""
    handle = [{"work": {"exponential": 0.005}}, {"call": "app.get"}]
    caller = {"workers": 3, "operations": {"handle": handle}}
    document = _scenario(caller, "log")
    document["services"]["app"]["workers"] = 8
    document["topics"]["orders"]["partitions"] = 6
    document["topics"]["orders"]["subscribers"]["indexer"]["concurrency"] = 3
    document["workload"]["orders"]["arrivals"]["poisson"] = 100.0
    predicted = analyze(load_scenario(document), capacity=False)
    assert SPLIT_NOTE in predicted.services["app"].method
    assert not any("converge" in warning for warning in predicted.warnings)
    wait = predicted.topics["orders"].groups["indexer"].waiting_time.mean
    assert wait is not None and wait < 0.1  # (49.7 ms simulated, 46.6 ms predicted)


@pytest.mark.parametrize(("consumers", "split"), [(6, True), (9, False)])
def test_consumers_alone_at_a_pool_up_to_two_a_thread(consumers: int, split: bool) -> None:
    """A pool of 4 threads that only a log topic's consumers reach: the chain of those
    consumers alone up to 2 a thread (`bounded_pools.ALONE_REACH`), Poisson arrivals
    beyond (where the chain's independent think times under-predict)."""
    handle = [{"work": {"exponential": 0.005}}, {"call": "app.get"}]
    caller = {"workers": consumers, "operations": {"handle": handle}}
    document = _scenario(caller, "log")
    del document["workload"]["reads"]
    document["topics"]["orders"]["partitions"] = consumers
    document["topics"]["orders"]["subscribers"]["indexer"]["concurrency"] = consumers
    document["workload"]["orders"]["arrivals"]["poisson"] = 175.0
    predicted = analyze(load_scenario(document), capacity=False)
    assert (SPLIT_NOTE in predicted.services["app"].method) is split
