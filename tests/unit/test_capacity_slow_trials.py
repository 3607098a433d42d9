"""The capacity search where the network's rounds settle slowly, or its load moves no pool.

A trial counts as saturated where its rounds do not settle, so a trial cut short takes an
unsaturated load for a saturated one and the capacity comes out low; and a search whose
load reaches no pool must not grow it for ever (`models.analysis.capacity`). Each capacity
is checked against the network solved to its fixed point with many more rounds than the
search gives a trial: unsaturated at the capacity found, saturated `RELATIVE_TOLERANCE`
above it (deterministic: no simulation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models import load_scenario
from models.analysis import analyze
from models.analysis.capacity import (
    GROWTH,
    RELATIVE_TOLERANCE,
    SEARCH_ITERATIONS,
    _limit,
    _Search,
)
from models.analysis.network import FlowSource, solve_network
from models.schema import Scenario
from tests.unit.analysis_scenarios import open_sources

EXAMPLES = Path(__file__).resolve().parents[2] / "scenarios"
FIXED_POINT_ROUNDS = 5_000
"""Rounds of the reference solve (the search's trials get `SEARCH_ITERATIONS`)."""


def _retrying_store(fault: bool) -> dict[str, Any]:
    """A pool of 9 workers (5 ms of work) called with a 5 ms timeout and 2 retries, then
    once more: a timed-out attempt still costs the store its work, and its retry adds
    more, so the load feeds back on the waiting and the rounds settle ever more slowly
    next to saturation (30-240 rounds from 88% to 98% of it). With `fault`, a crash
    window at another service makes the scenario one with failures."""
    document: dict[str, Any] = {
        "name": "retrying-store",
        "simulation": {"duration": 60},
        "services": {
            "store": {
                "replicas": 3,
                "workers": 3,
                "balancing": "shared",
                "operations": {"get": [{"work": {"exponential": "5ms"}}]},
            },
            "audit": {"operations": {"log": [{"work": {"exponential": "1ms"}}]}},
        },
        "workload": {
            "shoppers": {
                "steps": [
                    {"call": {"service": "store", "timeout": "5ms", "retries": 2}},
                    {"call": "store"},
                ],
                "arrivals": {"poisson": 50},
            },
            "auditors": {"entry": "audit.log", "arrivals": {"poisson": 1}},
        },
    }
    if fault:
        document["faults"] = [{"service": "audit", "kind": "crash", "mtbf": "30s", "mttr": "3s"}]
    return document


def _saturates(scenario: Scenario, flow: str, rate: float) -> bool:
    """Whether the network, solved to its fixed point with `flow` at `rate` and the other
    flows at their own rates, saturates a pool."""
    sources = open_sources(scenario)
    sources[flow] = FlowSource(rate, sources[flow].scv, sources[flow].flag)
    solution = solve_network(
        scenario, sources, max_iterations=FIXED_POINT_ROUNDS, stop_when_saturated=True
    )
    return bool(solution.saturated()) or not solution.converged


@pytest.mark.parametrize("fault", [False, True], ids=["timeouts", "timeouts-and-a-fault"])
def test_trials_that_settle_slowly_are_not_taken_as_saturated(fault: bool) -> None:
    """The store saturates at 600 shoppers a second (12 times its load). The search finds
    it to within its tolerance, from below: with 25 rounds a trial (80 with failures) it
    said 534/s (-11%), and 573/s (-4.5%) with the fault."""
    scenario = load_scenario(_retrying_store(fault))
    found = analyze(scenario).flows["shoppers"].max_throughput
    assert found is not None
    assert not _saturates(scenario, "shoppers", found)
    assert _saturates(scenario, "shoppers", found * (1.0 + RELATIVE_TOLERANCE))
    assert SEARCH_ITERATIONS < FIXED_POINT_ROUNDS


def test_the_retry_storm_example_saturates_just_above_its_capacity() -> None:
    """`scenarios/retry_storm.yaml` (retries after timeouts, a slowdown window): the
    network settles at the capacity found and saturates 1% above it (its own fixed point
    saturates at 445.5/s)."""
    scenario = load_scenario(EXAMPLES / "retry_storm.yaml")
    found = analyze(scenario).flows["shoppers"].max_throughput
    assert found is not None
    assert not _saturates(scenario, "shoppers", found)
    assert _saturates(scenario, "shoppers", found * (1.0 + RELATIVE_TOLERANCE))


def _unreaching(rate_limited: bool) -> dict[str, Any]:
    """A flow of delays alone, which reaches no pool; or, `rate_limited`, one through a
    rate limit of 100/s (bursts of 50) at a service of 4 workers that serve 400/s, which
    admits no more however many arrive. Another flow loads a pool of its own."""
    pings: dict[str, Any] = {"steps": [{"delay": {"exponential": "1ms"}}]}
    if rate_limited:
        pings = {"entry": "front.op"}
    return {
        "name": "unreaching",
        "simulation": {"duration": 60},
        "services": {
            "front": {
                "workers": 4,
                "rate_limit": {"rate": 100, "burst": 50},
                "operations": {"op": [{"work": {"exponential": "10ms"}}]},
            },
            "orders": {"workers": 2, "operations": {"op": [{"work": {"exponential": "10ms"}}]}},
        },
        "workload": {
            "pings": {**pings, "arrivals": {"poisson": 10}},
            "buyers": {"entry": "orders.op", "arrivals": {"poisson": 50}},
        },
    }


@pytest.mark.parametrize("rate_limited", [False, True], ids=["delays", "rate-limited"])
def test_a_flow_whose_load_moves_no_pool_is_given_up_in_a_few_trials(
    rate_limited: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two growth steps (x 8 each) that move no load ratio end the search: nothing
    saturates (None) after at most 6 trials (4 for the delays; the rate limit admits more
    up to 100/s), where it took 30, to 8^29 times the flow's rate. The other flow's
    capacity is its pool's, 200/s."""
    scenario = load_scenario(_unreaching(rate_limited))
    sources = open_sources(scenario)
    trials: list[float] = []
    saturated = _Search.saturated

    def counted(search: _Search, factor: float) -> tuple[bool, dict[tuple[str, ...], float]]:
        trials.append(factor)
        return saturated(search, factor)

    monkeypatch.setattr(_Search, "saturated", counted)

    def scale(rate: float) -> dict[str, FlowSource]:
        return {**sources, "pings": FlowSource(rate, 1.0)}

    smooth = not rate_limited
    assert _limit(scenario, scale, 10.0, smooth, through_origin=False) is None
    assert len(trials) <= 6
    assert trials[-1] == trials[-2] * GROWTH == trials[-3] * GROWTH**2
    monkeypatch.setattr(_Search, "saturated", saturated)
    prediction = analyze(scenario)
    assert prediction.flows["pings"].max_throughput is None
    assert prediction.flows["buyers"].max_throughput == pytest.approx(200.0, rel=1e-6)
