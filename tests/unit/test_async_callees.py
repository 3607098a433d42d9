"""A thread pool over an async-I/O callee (`blocking_calls: false`), and over a callee it
calls in a parallel branch (`models.analysis.pools._at_the_callee`, the walker's
`concurrency`).

An async-I/O callee releases its worker during its own calls and takes one again after a
reply where it has more to do. The pool's requests queue there once per acquisition, and
spend the time of the callee's own calls away from its workers. `bench/analysis_fuzz.py`
seed 1180 at 70%: counted per call, a callee that publishes after its call fell below the
share of its arrivals that makes it the pool's own, and was left to the open model; and a
call made in one branch of a parallel step was taken as concurrent with itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from tests.unit.analysis_scenarios import exp_ms

FLOW_EQUIVALENT = "flow-equivalent server of its callees (method of layers)"


def _pool_over_async(
    publish: bool = True, beside: str | None = None, rate: float = 98.0
) -> dict[str, Any]:
    """An API of 4 workers calling an async-I/O service of one worker that calls a pool
    of 16 (71% of the time) and then, if `publish`, publishes (a second acquisition);
    `beside`: a service the API calls in a parallel branch beside that call."""
    callee: list[dict[str, Any]] = [
        {"work": {"gamma": {"mean": "7.14ms", "cv": 0.5}}},
        {"call": {"service": "store", "probability": 0.71}},
    ]
    if publish:
        callee.append({"publish": "events"})
    call: dict[str, Any] = {"call": "io"}
    if beside is not None:
        call = {"parallel": [[call], [{"call": beside}]]}
    return {
        "name": "pool-over-async-io",
        "simulation": {"duration": 60, "warmup": 5},
        "services": {
            "api": {"workers": 4, "operations": {"get": [exp_ms(4.78), call]}},
            "io": {"workers": 1, "blocking_calls": False, "operations": {"op": callee}},
            "store": {"workers": 16, "operations": {"op": [exp_ms(6.66)]}},
            "cache": {"workers": "unlimited", "operations": {"op": [exp_ms(7.44)]}},
            "search": {"workers": 2, "operations": {"op": [exp_ms(5)]}},
            "audit": {"workers": 1, "operations": {"handle": [exp_ms(1)]}},
        },
        "topics": {"events": {"type": "queue", "subscribers": {"audit": {"operation": "handle"}}}},
        "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": rate}}},
    }


@pytest.mark.parametrize("publish", [False, True])
def test_a_pool_takes_its_async_callee_with_its_reacquisitions(publish: bool) -> None:
    """With or without a reacquisition (the publish after the call), the API is the
    flow-equivalent server over the async-I/O service, and the service's wait is the one
    the API's 4 threads let it have (the open model said 10.4 ms with the publish: twice
    the simulated 4.8 ms)."""
    predicted = analyze(load_scenario(_pool_over_async(publish)), capacity=False)
    api, io = predicted.services["api"], predicted.services["io"]
    assert api.method.startswith(FLOW_EQUIVALENT)
    assert "thread pool" in io.method
    assert io.waiting_time is not None and io.waiting_time.mean is not None
    assert io.waiting_time.mean < 6e-3


def test_the_time_an_async_callee_spends_in_its_own_calls_holds_the_pool() -> None:
    """The API's workers are held through the whole call, the store's part included, though
    the async-I/O service's worker is not: the API's busy workers are its requests in
    service, arrival rate x (own work + the call's response), by Little's law (before:
    the flow-equivalent server left the store's 4.7 ms out of the holding time, and the
    Sock Shop model's `orders` pool read 6.9% busy where the simulation says 21.5%)."""
    predicted = analyze(load_scenario(_pool_over_async(publish=False, rate=60.0)), capacity=False)
    api, io = predicted.services["api"], predicted.services["io"]
    assert api.method.startswith(FLOW_EQUIVALENT)
    assert api.response_time is not None and api.response_time.mean is not None
    assert api.waiting_time is not None and api.waiting_time.mean is not None
    assert io.response_time is not None and io.response_time.mean is not None
    held = 4.78e-3 + io.response_time.mean
    assert io.response_time.mean > 7.14e-3 + 0.71 * 6.66e-3  # (the store's part is in it)
    # (the flow-equivalent server's busy workers, with its own waits at the callee: within
    # 10% of those the reported response says; without the store's part, 23% below them)
    assert api.utilization == pytest.approx(60.0 * held / 4, rel=0.10)


def test_a_call_beside_a_branch_that_never_queues_is_the_pools_own() -> None:
    """A parallel step's other branch calls a service of unlimited workers (a delay): the
    request is at one queue at a time, and the API is still the flow-equivalent server."""
    predicted = analyze(load_scenario(_pool_over_async(beside="cache")), capacity=False)
    assert predicted.services["api"].method.startswith(FLOW_EQUIVALENT)


def test_calls_in_parallel_to_two_queues_leave_the_pool_to_the_open_model() -> None:
    """Beside a call to a pool of 2 workers, the request can be queued at two services at
    once, which the flow-equivalent server (one station at a time) does not take."""
    predicted = analyze(load_scenario(_pool_over_async(beside="search")), capacity=False)
    assert not predicted.services["api"].method.startswith(FLOW_EQUIVALENT)


def _consumer_of_batches(handler_calls: bool) -> dict[str, Any]:
    """An API publishing 3 events at once (`count: 3`) at 60/s to a queue topic whose one
    consumer thread works 4 ms on each, and, if `handler_calls`, calls a store of 16
    workers (0.4 ms) in it: the consumer is then the flow-equivalent server over the
    store."""
    handle: list[dict[str, Any]] = [{"work": {"constant": "4ms"}}]
    if handler_calls:
        handle.append({"call": "store"})
    return {
        "name": "consumer-of-batches",
        "simulation": {"duration": 60, "warmup": 5},
        "services": {
            "api": {
                "workers": 8,
                "operations": {"get": [exp_ms(2), {"publish": {"topic": "events", "count": 3}}]},
            },
            "store": {"workers": 16, "operations": {"op": [exp_ms(0.4)]}},
            "audit": {"workers": 1, "operations": {"handle": handle}},
        },
        "topics": {"events": {"type": "queue", "subscribers": {"audit": {"operation": "handle"}}}},
        "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": 60.0}}},
    }


def test_a_consumer_over_its_callees_still_waits_for_its_messages_in_groups() -> None:
    """Three events at once: the consumer waits for the others of its group as M^X/M/c
    says, whether it is solved on its own or as the flow-equivalent server over a callee
    (which took its arrivals one at a time: `bench/analysis_fuzz.py` seed 1275 at 80%, a
    consumer's wait 8.3 ms predicted, 27.3 ms simulated, now 22.4 ms)."""
    waits = {}
    for calls in (False, True):
        predicted = analyze(load_scenario(_consumer_of_batches(calls)), capacity=False)
        group = predicted.topics["events"].groups["audit"]
        assert group.method is not None and "arrivals in groups (M^X/M/c)" in group.method
        assert group.waiting_time is not None and group.waiting_time.mean is not None
        waits[calls] = group.waiting_time.mean
    assert predicted.topics["events"].groups["audit"].method.startswith(FLOW_EQUIVALENT)
    # M^X/G/1: the groups alone add E[X(X - 1)] E[S] / (2 E[X] (1 - rho)) = S / (1 - rho)
    # for X = 3 (Gross & Harris sec. 5.1.7): 21.2 ms of the 29.6 with the call, where the
    # flow-equivalent server's own wait, one at a time, is about 8.5 ms
    holding = 4.4e-3
    assert waits[True] > holding / (1.0 - 180.0 * holding) > waits[False] / 2
