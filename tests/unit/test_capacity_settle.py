"""The capacity search's fast paths against the general path (deterministic unit tests).

A capacity trial stops once within `SETTLED` of its fixed point (`solve_network(settle=)`)
and reuses what earlier trials' rounds computed (`SolveMemo`): both are specialisations of
the plain solve, so each is checked here against it on the same models.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from models import load_scenario
from models.analysis.capacity import (
    RELATIVE_TOLERANCE,
    SETTLED,
    _limit,
    _saturated,
    load_ratios,
    peak_load_ratio,
)
from models.analysis.convergence import (
    held_through,
    holding_scales,
    largest_change,
    time_scales,
)
from models.analysis.graph import StationId
from models.analysis.network import FlowSource, solve_network
from models.analysis.solve_memo import SolveMemo
from models.schema import Scenario
from tests.unit.analysis_scenarios import open_sources

MODELS = Path(__file__).parents[1] / "data" / "analysis_regression"


def _model(name: str) -> tuple[Scenario, dict[str, FlowSource]]:
    """A regression-set model and its open flows' sources at their own rates."""
    scenario = load_scenario(MODELS / f"{name}.yaml")
    return scenario, open_sources(scenario)


@pytest.mark.parametrize("name", ["j4_train_ticket_60", "j5_alibaba_random_60"])
def test_settled_trials_match_converged_ones(name: str) -> None:
    """At several loads below saturation, the settled solve's peak load ratio is the fully
    converged one to well within 1e-4 (the search's tolerance is 1e-2), and it takes no
    more rounds (one fewer on these two models at their own load); a memo shared by the
    trials changes nothing."""
    scenario, sources = _model(name)
    memo = SolveMemo()
    for factor in (0.5, 0.8, 1.0):
        scaled = {
            n: FlowSource(s.rate * factor, s.scv, s.flag, s.population) for n, s in sources.items()
        }
        full = solve_network(scenario, scaled)
        fast = solve_network(scenario, scaled, settle=SETTLED, memo=memo)
        assert full.converged and fast.converged
        assert fast.iterations <= full.iterations
        if factor == 1.0:
            assert fast.iterations < full.iterations
        assert peak_load_ratio(fast) == pytest.approx(peak_load_ratio(full), rel=1e-4)
        fast_ratios, full_ratios = load_ratios(fast), load_ratios(full)
        assert fast_ratios.keys() == full_ratios.keys()
        for pool, ratio in full_ratios.items():
            assert fast_ratios[pool] == pytest.approx(ratio, rel=1e-4), pool
        again = solve_network(scenario, scaled, memo=memo)
        assert peak_load_ratio(again) == peak_load_ratio(full)


def test_settling_weighs_waits_by_their_station_holding_time() -> None:
    """With time scales, a wait's change counts relative to its station's holding time
    (10 us more at a service that holds 10 ms: 1e-3, not 0.5), while a loss probability
    keeps its own scale (1e-6), and the streams' SCVs count unless left out (a capacity
    trial's): the signature is (loss, rejected, input flag, departure flag, arrivals' SCV,
    departures' SCV, waits...)."""
    server = StationId("service", "server")
    before = {server: (0.0, 0.0, 2.0, 2.0, 1.0, 1.0, 10e-6)}
    after = {server: (0.0, 0.0, 2.0, 2.0, 1.0, 1.0, 20e-6)}
    assert largest_change(before, after) == pytest.approx(0.5)
    assert largest_change(before, after, {server: 0.01}) == pytest.approx(1e-3)
    lossy = {server: (1e-4, 0.0, 2.0, 2.0, 1.0, 1.0, 20e-6)}
    assert largest_change(after, lossy, {server: 0.01}) == pytest.approx(1.0)
    steadier = {server: (0.0, 0.0, 2.0, 2.0, 0.5, 0.8, 20e-6)}
    assert largest_change(after, steadier) == pytest.approx(0.5)
    assert largest_change(after, steadier, {server: 0.01}, scvs=False) == 0.0


@pytest.mark.parametrize("name", ["j4_train_ticket_95", "j1_social_network_95"])
def test_a_trial_climbing_from_a_lighter_solution_stops_at_its_first_saturated_iterate(
    name: str,
) -> None:
    """From the solution at the flows' own rates, a trial at a heavier load climbs: the
    first saturated iterate is final (`climbing`). At loads from just above the start to
    past saturation it agrees with the plain solve from no waiting (two saturated iterates
    in a row) on whether the network saturates, in no more rounds, and once saturated in
    fewer; and each flow's capacity search finds the same factor either way."""
    scenario, sources = _model(name)
    base = solve_network(scenario, sources)
    fewer = 0
    for factor in (1.01, 1.05, 1.1, 1.2, 1.5, 2.0, 4.0):
        scaled = {
            n: FlowSource(s.rate * factor, s.scv, s.flag, s.population) for n, s in sources.items()
        }
        plain = solve_network(scenario, scaled, max_iterations=25, stop_when_saturated=True)
        climbing = solve_network(
            scenario,
            scaled,
            max_iterations=25,
            stop_when_saturated=True,
            start=base.views,
            climbing=True,
        )
        assert _saturated(climbing) == _saturated(plain), factor
        assert climbing.iterations <= plain.iterations
        fewer += _saturated(climbing) and climbing.iterations < plain.iterations
    assert fewer > 0  # (the test reaches saturation)
    for flow_name, source in sources.items():

        def scale(rate: float, flow: str = flow_name) -> dict[str, FlowSource]:
            return {**sources, flow: dataclasses.replace(sources[flow], rate=rate)}

        found = [
            _limit(scenario, scale, source.rate, True, False, base, climbs=climbs)
            for climbs in (False, True)
        ]
        assert found[0] is not None and found[1] is not None
        assert found[1][0] == pytest.approx(found[0][0], rel=RELATIVE_TOLERANCE / 10)
        assert found[1][1].trials <= found[0][1].trials


def test_waits_that_no_pool_holds_through_do_not_keep_a_trial_going() -> None:
    """The Alibaba-like model at 95%: its entry services are called by flows alone, so no
    pool holds a worker through their waits (`held_through`) and their time scale is
    infinite, while a database that blocking pools call keeps its holding time. Up to 98%
    of the first pool's saturation, the settled solve's load ratios are the converged
    ones to within 1e-4, in fewer rounds."""
    scenario, sources = _model("j5_alibaba_random_95")
    base = solve_network(scenario, sources)
    held = held_through(scenario, base.summaries)
    entries = {str(flow.entry).split(".")[0] for flow in scenario.workload.values()}
    assert entries == {"entry-0", "entry-1", "entry-2", "entry-3"} and not entries & held
    assert "db-1" in held
    scales = time_scales(scenario, holding_scales(base.services, base.groups), base.summaries)
    for entry in entries:
        assert scales[StationId("service", entry)] == float("inf")
    assert 0 < scales[StationId("service", "db-1")] < 1.0
    peaks = []
    for factor in (1.0, 1.03, 1.06):
        scaled = {
            n: FlowSource(s.rate * factor, s.scv, s.flag, s.population) for n, s in sources.items()
        }
        full = solve_network(scenario, scaled)
        fast = solve_network(scenario, scaled, settle=SETTLED)
        assert full.converged and fast.converged
        assert fast.iterations < full.iterations
        full_ratios, fast_ratios = load_ratios(full), load_ratios(fast)
        for pool, ratio in full_ratios.items():
            assert fast_ratios[pool] == pytest.approx(ratio, rel=1e-4), (factor, pool)
        peaks.append(peak_load_ratio(full))
    assert peaks[-1] > 0.98  # (the check reaches next to saturation)


def test_a_response_waited_for_through_an_unlimited_or_async_service_is_held() -> None:
    """`held_through` follows responses down the call graph: a pool of 4 blocking workers
    waits through an unlimited gateway for the database behind it, and through an
    async-I/O service for the cache behind that; what a flow alone waits for (the pool
    itself, and the store that only an async-I/O service nobody waits for calls) is not
    held."""

    def work(mean: str) -> dict[str, object]:
        return {"work": {"exponential": mean}}

    scenario = load_scenario(
        {
            "name": "held",
            "simulation": {"duration": 10},
            "services": {
                "pool": {"workers": 4, "operations": {"op": [work("1ms"), {"call": "gate"}]}},
                "gate": {"workers": "unlimited", "operations": {"op": [{"call": "db"}]}},
                "db": {"operations": {"op": [work("2ms"), {"call": "io"}]}},
                "io": {
                    "workers": 2,
                    "blocking_calls": False,
                    "operations": {"op": [work("1ms"), {"call": "cache"}]},
                },
                "cache": {"operations": {"op": [work("1ms")]}},
                "lone": {
                    "workers": 2,
                    "blocking_calls": False,
                    "operations": {"op": [work("1ms"), {"call": "store"}]},
                },
                "store": {"operations": {"op": [work("1ms")]}},
            },
            "workload": {
                "main": {"entry": "pool.op", "arrivals": {"poisson": 50}},
                "side": {"entry": "lone.op", "arrivals": {"poisson": 50}},
            },
        }
    )
    solution = solve_network(scenario, open_sources(scenario))
    assert held_through(scenario, solution.summaries) == {"gate", "db", "io", "cache"}
    holding = holding_scales(solution.services, solution.groups)
    scales = time_scales(scenario, holding, solution.summaries)
    for name in ("pool", "lone", "store"):
        assert scales[StationId("service", name)] == float("inf"), name
    assert scales[StationId("service", "cache")] == pytest.approx(1e-3, rel=1e-6)
