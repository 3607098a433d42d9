"""A capacity trial far above the solution it starts from waits for two saturated rounds
(`capacity.CLIMB_REACH`; deterministic).

A flow's trial above the heaviest unsaturated one starts from that one's solution and,
without failures, its iterates climb towards the fixed point, so its first saturated
iterate is taken as final (`_Search.climbs`). From a much lighter solution the second
iterate overshoots as from no waiting at all: fuzz seed 4148 (deep), `f1` searched from 3%
of its rate, tried 174.0/s from the solution at 34.8/s, saturated its 16-thread pool in the
second round (load ratio 1.014) where the network at 174/s settles at 0.89, and reported
172.7/s; from its own rate and from 30% of it, 181.1/s.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import load_scenario
from models.analysis import analyze
from models.analysis.capacity import CLIMB_REACH, RELATIVE_TOLERANCE
from models.analysis.network import FlowSource, solve_network
from models.analysis.saturation import load_ratios
from models.schema import Scenario
from tests.unit.analysis_scenarios import open_sources


def _seed_4148(async_rate: float) -> Scenario:
    """Fuzz seed 4148 (deep) at 80%: a pool of 16 (`s0`) over an async-I/O service of 4
    (`s1`) and a service of 4 (`s2`) that `s1` calls too; `f1` (at `async_rate`) enters at
    `s1`, `f2` at `s2`."""
    document: dict[str, Any] = {
        "name": "fuzz-4148",
        "simulation": {"duration": 120},
        "services": {
            "s0": {
                "workers": 16,
                "operations": {
                    "op": [
                        {"work": {"exponential": 0.00364}},
                        {"call": "s1"},
                        {"call": "s2"},
                        {"work": {"uniform": [0.000725, 0.002175]}},
                    ]
                },
            },
            "s1": {
                "workers": 4,
                "blocking_calls": False,
                "operations": {
                    "op": [
                        {"work": {"constant": 0.00212}},
                        {
                            "branch": [
                                {"probability": 0.54, "steps": [{"call": "s2"}]},
                                {
                                    "probability": 0.46,
                                    "steps": [{"work": {"exponential": 0.00207}}],
                                },
                            ]
                        },
                        {"work": {"exponential": 0.00184}},
                        {"call": "s2"},
                        {"work": {"lognormal": {"mean": 0.00079, "cv": 1.0}}},
                    ]
                },
            },
            "s2": {
                "workers": 4,
                "operations": {"op": [{"work": {"lognormal": {"mean": 0.00452, "cv": 1.5}}}]},
            },
        },
        "workload": {
            "f0": {"entry": "s0.op", "arrivals": {"poisson": 185.817}},
            "f1": {"entry": "s1.op", "arrivals": {"poisson": async_rate}},
            "f2": {"entry": "s2.op", "arrivals": {"poisson": 92.909}},
        },
    }
    return load_scenario(document)


def test_the_capacity_from_a_light_load_is_the_one_from_the_flows_own() -> None:
    """`f1`'s capacity from 3% of its rate is the one from its own rate, to two searches'
    tolerance (172.7/s for 181.1/s when every trial above its start took its first
    saturated round as final; 179.2/s now)."""
    own = analyze(_seed_4148(92.909)).flows["f1"].max_throughput
    light = analyze(_seed_4148(92.909 * 0.03)).flows["f1"].max_throughput
    assert own is not None and light is not None
    assert light == pytest.approx(own, rel=2 * RELATIVE_TOLERANCE)


def test_the_network_at_the_overshot_trial_is_unsaturated() -> None:
    """The trial that overshot: at 174/s of `f1` the network settles with its pool at
    about 0.89 of its capacity (5 times the 34.8/s it was started from, beyond
    `CLIMB_REACH`)."""
    scenario = _seed_4148(92.909)
    sources = open_sources(scenario)
    f1 = sources["f1"]
    solution = solve_network(scenario, {**sources, "f1": FlowSource(174.0, f1.scv, f1.flag)})
    assert solution.converged and not solution.saturated()
    assert load_ratios(solution)[("service", "s0")] == pytest.approx(0.89, abs=0.01)
    assert CLIMB_REACH < 174.0 / 34.8
