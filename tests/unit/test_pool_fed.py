"""The mixed product form over a thread pool's own queue (`models.analysis.pool_fed`), and
where the analysis uses it (`models.analysis.bounds.CallerBounds._feeder`)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.mixed_source import BoundedCaller, mixed_source, split_waits
from models.analysis.moments import Moments
from models.analysis.pool_fed import METHOD, Feeder, applies, pool_fed_waits
from models.theory import mm1, mmc

MEAN = 0.005


def test_a_pool_that_never_fills_leaves_the_server_an_m_m_1_queue() -> None:
    """With threads enough never to fill, the pool's subnetwork is an open Jackson network
    and the flow-equivalent server exact (Norton's theorem): both classes wait as at
    M/M/1 with the two rates together."""
    open_rate, pool_rate = 60.0, 80.0
    waits = pool_fed_waits(open_rate, MEAN, MEAN, 80, Feeder(pool_rate, 1.0, 0.02))
    assert waits is not None
    expected = mm1(open_rate + pool_rate, 1 / 0.005).mean_waiting_time
    assert math.isclose(waits.open, expected, rel_tol=1e-9)
    assert math.isclose(waits.pool, expected, rel_tol=1e-9)
    assert math.isclose(waits.p_wait, 0.7, rel_tol=1e-12)


def test_a_pool_always_full_is_the_closed_class_of_the_chain() -> None:
    """As its arrivals reach X(N), the pool's N threads are always busy: a closed class of
    N customers thinking `away`, which the two-class chain solves exactly for exponential
    service of one mean (BCMP); the chain's think time, solved for that throughput, is
    `away` itself."""
    open_rate, threads, away = 50.0, 3, 0.012
    full = 0.0
    for step in range(1, 200):  # X(N): the largest rate the model takes
        rate = step * 1.0
        if pool_fed_waits(open_rate, MEAN, MEAN, threads, Feeder(rate, 1, away)):
            full = rate
    lower, upper = full, full + 1.0
    for _ in range(60):  # (bisect to X(N))
        middle = (lower + upper) / 2
        found = pool_fed_waits(open_rate, MEAN, MEAN, threads, Feeder(middle, 1, away))
        lower, upper = (middle, upper) if found else (lower, middle)
    waits = pool_fed_waits(open_rate, MEAN, MEAN, threads, Feeder(lower, 1, away))
    chain = mixed_source(open_rate, 0.005, lower, 0.005, threads, 1)
    assert waits is not None and chain is not None
    assert math.isclose(chain.think_time, away, rel_tol=1e-6)
    assert math.isclose(waits.pool, chain.bounded_waiting, rel_tol=1e-6)
    assert math.isclose(waits.open, chain.open_waiting, rel_tol=1e-6)


def test_a_pool_with_idle_threads_waits_more_than_independent_sources() -> None:
    """Below X(N) its calls come as its Poisson requests do, not slowed by the threads
    already at the server: the server's queue is longer than the chain's (the chain's
    sources think independently)."""
    waits = pool_fed_waits(57.1, 0.007, 0.007, 4, Feeder(57.1, 1.0, 0.0075))
    chain = mixed_source(57.1, 0.007, 57.1, 0.007, 4, 1)
    assert waits is not None and chain is not None
    assert waits.pool > 1.2 * chain.bounded_waiting
    assert waits.open > 1.2 * chain.open_waiting


def test_the_waits_are_scaled_as_the_chain_s_for_variability() -> None:
    """`split_waits` scales the product form's waits (exponential service) by (ca² + cs²)
    / 2, as it scales the chain's: constant service of a pool fed by Poisson arrivals
    waits half as long."""
    feeder = Feeder(57.1, 1.0, 0.0075)
    exact = pool_fed_waits(57.1, 0.007, 0.007, 4, feeder)
    assert exact is not None
    rate, mean = 2 * 57.1, 0.007
    constant = Moments(mean, 0.0)
    caller = BoundedCaller(("service", "app"), 4, 57.1, constant, feeder)
    waits = split_waits(rate, constant, caller, 1, 1.0)
    assert waits is not None and waits.method == METHOD
    assert math.isclose(waits.own, exact.pool / 2, rel_tol=1e-9)
    assert math.isclose(waits.others, exact.open / 2, rel_tol=1e-9)
    bursty = split_waits(rate, constant, caller, 1, 2.0)  # (ca² = 2: (2 + 0) / 2)
    assert bursty is not None and math.isclose(bursty.own, exact.pool, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("open_rate", "feeder"),
    [(150.0, Feeder(60.0, 1.0, 0.01)), (10.0, Feeder(400.0, 1.0, 0.1))],
    ids=["server-saturated", "pool-saturated"],
)
def test_no_steady_state_gives_none(open_rate: float, feeder: Feeder) -> None:
    assert pool_fed_waits(open_rate, MEAN, MEAN, 4, feeder) is None


def _shared(app: dict[str, Any]) -> dict[str, Any]:
    """`app` (7.5 ms of work, one call) over a one-server `db` that a batch also reads."""
    return {
        "name": "shared",
        "simulation": {"duration": 100},
        "services": {
            "app": {
                **app,
                "operations": {"get": [{"work": {"exponential": 0.0075}}, {"call": "db.read"}]},
            },
            "db": {"operations": {"read": [{"work": {"exponential": 0.007}}]}},
        },
        "workload": {
            "users": {"entry": "app.get", "arrivals": {"poisson": 57.1}},
            "batch": {"entry": "db.read", "arrivals": {"poisson": 57.1}},
        },
    }


def test_the_analysis_takes_a_pool_fed_by_open_arrivals_as_one() -> None:
    """One replica fed by open arrivals, or replicas that share one queue: the product
    form; replicas each with its own queue, or a pool that a closed flow's few clients
    feed: the chain."""
    method = analyze(load_scenario(_shared({"workers": 4})), capacity=False).services["db"]
    assert method.method.startswith("open class and a thread pool's own queue")
    replicas = _shared({"workers": 2, "replicas": 2})
    chain = analyze(load_scenario(replicas), capacity=False).services["db"].method
    assert not chain.startswith("open class and a thread pool's own queue"), chain
    queue = _shared({"workers": 2, "replicas": 2, "balancing": "shared"})  # (one queue)
    pooled = analyze(load_scenario(queue), capacity=False).services["db"].method
    assert pooled.startswith("open class and a thread pool's own queue"), pooled
    closed = _shared({"workers": 4})
    closed["workload"]["users"] = {
        "entry": "app.get",
        "clients": 3,
        "think_time": {"exponential": 0.02},
    }
    fed = analyze(load_scenario(closed), capacity=False).services["db"].method
    assert not fed.startswith("open class and a thread pool's own queue"), fed


def test_a_pool_that_never_fills_leaves_several_servers_an_m_m_c_queue() -> None:
    """With several servers too, threads enough never to fill make the subnetwork an open
    Jackson network: both classes wait as at M/M/2 with the two rates together, and P(wait)
    is Erlang C (Gross & Harris, sec. 2.3)."""
    waits = pool_fed_waits(100.0, MEAN * 2, MEAN * 2, 60, Feeder(60.0, 1.0, 0.001), servers=2)
    assert waits is not None
    queue = mmc(160.0, 1 / (MEAN * 2), 2)
    assert math.isclose(waits.open, queue.mean_waiting_time, rel_tol=1e-9)
    assert math.isclose(waits.pool, queue.mean_waiting_time, rel_tol=1e-9)
    assert math.isclose(waits.p_wait, queue.p_wait, rel_tol=1e-9)


@pytest.mark.parametrize(("threads", "away"), [(200, 0.5), (64, 0.0), (256, 0.02)])
def test_a_large_pool_never_filling_several_servers_is_m_m_c(threads: int, away: float) -> None:
    """Up to the largest pool the flow-equivalent server takes (256 threads), in logs: no
    overflow of N! or underflow of Z^N, and with no time away at all every thread is at the
    station; with threads enough never to fill, both classes wait as at M/M/4."""
    waits = pool_fed_waits(200.0, 0.01, 0.01, threads, Feeder(150.0, 1.0, away), servers=4)
    assert waits is not None
    queue = mmc(350.0, 100.0, 4)
    assert math.isclose(waits.open, queue.mean_waiting_time, rel_tol=1e-6)
    assert math.isclose(waits.pool, queue.mean_waiting_time, rel_tol=1e-6)
    assert math.isclose(waits.p_wait, queue.p_wait, rel_tol=1e-6)


@pytest.mark.parametrize("threads", [2, 3])
def test_a_pool_always_full_at_two_servers_is_the_closed_class_of_the_chain(threads: int) -> None:
    """As at one server, arrivals at X(N) keep every thread busy: the two-class chain's
    closed class of N sources thinking `away`, exact at two servers of one mean (BCMP)."""
    open_rate, away = 150.0, 0.012
    lower, upper = 1.0, 1000.0
    for _ in range(80):  # (bisect to X(N), the largest rate the model takes)
        middle = (lower + upper) / 2
        found = pool_fed_waits(open_rate, MEAN, MEAN, threads, Feeder(middle, 1, away), 2)
        lower, upper = (middle, upper) if found else (lower, middle)
    waits = pool_fed_waits(open_rate, MEAN, MEAN, threads, Feeder(lower, 1, away), 2)
    chain = mixed_source(open_rate, MEAN, lower, MEAN, threads, 2)
    assert waits is not None and chain is not None
    assert math.isclose(chain.think_time, away, rel_tol=1e-6)
    assert math.isclose(waits.pool, chain.bounded_waiting, rel_tol=1e-6)
    assert math.isclose(waits.open, chain.open_waiting, rel_tol=1e-6)


def test_several_servers_take_the_model_only_for_classes_of_one_mean() -> None:
    """At several servers the product form needs one service rate (`SAME_MEAN`): calls
    three times as long as the open arrivals' leave the station to the chain; at one server
    the model keeps each class's mean."""
    feeder = Feeder(57.1, 1.0, 0.0075)
    own = Moments(0.006, 0.006**2)
    caller = BoundedCaller(("service", "app"), 2, 57.1, own, feeder)
    open_rate, open_mean = 300.0, 0.002
    rate = 57.1 + open_rate
    mixed = Moments((57.1 * 0.006 + open_rate * open_mean) / rate, 0.0)
    second = (57.1 * 2 * 0.006**2 + open_rate * 2 * open_mean**2) / rate
    holding = Moments(mixed.mean, second - mixed.mean**2)
    assert not applies(2, open_mean, own.mean) and applies(1, open_mean, own.mean)
    two = split_waits(rate, holding, caller, 2, 1.0)
    assert two is not None and two.method != METHOD
    assert applies(2, 0.006, 0.0062)


CHAIN = "open and finite-source classes (CTMC)"
"""The two-class chain's method (`models.analysis.mixed_source`)."""


def _consumers(topic: dict[str, Any], groups: int = 1) -> dict[str, Any]:
    """Consumers of `topic` (5 ms of work, one write) over a one-server `db` that a batch
    also writes to, the topic fed by an API's publishes."""
    handle = {"handle": [{"work": {"exponential": 0.005}}, {"call": "db.write"}]}
    names = [f"worker{index}" for index in range(groups)]
    return {
        "name": "consumers",
        "simulation": {"duration": 100},
        "services": {
            "api": {"workers": "unlimited", "operations": {"place": [{"publish": "orders"}]}},
            **{name: {"workers": 1, "operations": handle} for name in names},
            "db": {"operations": {"write": [{"work": {"exponential": 0.007}}]}},
        },
        "topics": {
            "orders": {
                **topic,
                "subscribers": {name: {"operation": "handle", "concurrency": 3} for name in names},
            }
        },
        "workload": {
            "orders": {"entry": "api.place", "arrivals": {"poisson": 40.0}},
            "batch": {"entry": "db.write", "arrivals": {"poisson": 40.0}},
        },
    }


def test_a_queue_topic_s_consumers_are_a_pool_fed_by_its_messages() -> None:
    """A queue topic's consumer threads take its messages from one queue, as a pool's
    threads take its requests: at a station they call, the product form of
    `models.analysis.pool_fed` (named for the topic's consumers). A log topic's
    consumers each take their partitions (no one pool): the two-class chain's sources,
    one call in flight each. Two groups of one topic are not told apart at the station
    (`CallerBounds._groups`): one caller of their threads summed, the chain's."""
    queue = analyze(load_scenario(_consumers({"type": "queue"})), capacity=False)
    assert queue.services["db"].method == f"{METHOD} (consumers of orders: at most 3 present)"
    log = _consumers({"type": "log", "partitions": 3})
    method = analyze(load_scenario(log), capacity=False).services["db"].method
    assert method == f"{CHAIN} (consumers of orders: at most 3 present)", method
    two = _consumers({"type": "queue"}, groups=2)
    two["workload"]["orders"]["arrivals"]["poisson"] = 20.0
    method = analyze(load_scenario(two), capacity=False).services["db"].method
    assert method == f"{CHAIN} (consumers of orders: at most 6 present)", method


def test_a_log_topic_s_idle_consumer_threads_are_no_callers() -> None:
    """A log topic's group of more threads than partitions has one active consumer per
    partition (the others idle): 3 partitions and 5 threads bring at most 3 writes to the
    database at once, not 5."""
    log = _consumers({"type": "log", "partitions": 3})
    log["topics"]["orders"]["subscribers"]["worker0"]["concurrency"] = 5
    method = analyze(load_scenario(log), capacity=False).services["db"].method
    assert method == f"{CHAIN} (consumers of orders: at most 3 present)", method
