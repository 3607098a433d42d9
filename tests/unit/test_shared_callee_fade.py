"""A callee a thread pool shares with others comes to count with the pool's flow-equivalent
server gradually, as the pool's share of its arrivals rises to one half
(`pools.SHARED_SHARE`, `pools.SHARED_BAND`; deterministic).

Switched at one half, the pool's load ratio fell as the load grew wherever the callee's
other traffic overtook the pool's: fuzz seed 4036 (deep), a one-worker pool `s0` calling a
one-server callee `s1` 1.41 times a request, which flow `f2` also calls directly, was
saturated from 104/s of `f2` to 120/s and unsaturated at 128/s; `f2`'s capacity came out
129.1/s searched from its own rate and 103.5/s from 30% of it. Simulated (4 x 400 s) the
pool is 99% busy at 110/s and saturated at 120/s; the analysis now says 103.5/s from
either start.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from models import load_scenario
from models.analysis import analyze
from models.analysis.capacity import RELATIVE_TOLERANCE
from models.analysis.fading import faded
from models.analysis.network import FlowSource, solve_network
from models.analysis.pools import SHARED_BAND, SHARED_SHARE, find_callees
from models.analysis.saturation import load_ratios
from models.schema import Scenario
from tests.unit.analysis_scenarios import open_sources


def _seed_4036(direct_rate: float, pool_rate: float = 85.491) -> Scenario:
    """Fuzz seed 4036 (deep) at 80%: `f0` into the one-worker pool `s0` (at `pool_rate`),
    `f2` straight to its callee `s1` at `direct_rate`."""
    document: dict[str, Any] = {
        "name": "fuzz-4036",
        "simulation": {"duration": 120, "warmup": 10, "replications": 5, "seed": 4036},
        "services": {
            "s0": {
                "workers": 1,
                "operations": {
                    "op": [
                        {"work": {"uniform": [0.00075, 0.00225]}},
                        {"call": "s1"},
                        {"call": {"service": "s1", "probability": 0.41}},
                        {"work": {"exponential": 0.00163}},
                    ]
                },
            },
            "s1": {
                "workers": 1,
                "operations": {"op": [{"work": {"gamma": {"mean": 0.00373, "cv": 0.5}}}]},
            },
        },
        "workload": {
            "f0": {"entry": "s0.op", "arrivals": {"poisson": pool_rate}},
            "f2": {"entry": "s1.op", "arrivals": {"poisson": direct_rate}},
        },
    }
    return load_scenario(document)


def test_the_capacity_does_not_depend_on_the_rate_it_is_searched_from() -> None:
    """`f2`'s capacity from its own rate (42.7/s) and from 30% of it agree to the search's
    tolerance (129.1/s and 103.5/s with the switch)."""
    own = analyze(_seed_4036(42.745)).flows["f2"].max_throughput
    lighter = analyze(_seed_4036(42.745 * 0.3)).flows["f2"].max_throughput
    assert own is not None and lighter is not None
    assert own == pytest.approx(lighter, rel=RELATIVE_TOLERANCE)
    assert 100.0 < own < 120.0  # (99% busy at 110/s simulated, saturated at 120/s)


def test_the_pools_load_ratio_grows_with_the_load_across_the_half() -> None:
    """The pool's share of the callee's arrivals falls below one half at about 120/s of
    `f2`: its load ratio rises at every step from 90/s to 140/s (it fell from 1.08 at
    120/s to 0.995 at 128/s with the switch)."""
    scenario = _seed_4036(42.745)
    sources = open_sources(scenario)
    ratios = []
    for rate in range(90, 142, 2):
        scaled = {**sources, "f2": FlowSource(float(rate), sources["f2"].scv, sources["f2"].flag)}
        ratios.append(load_ratios(solve_network(scenario, scaled))[("service", "s0")])
    assert all(after > before for before, after in itertools.pairwise(ratios))


@pytest.mark.parametrize(
    ("pool_rate", "direct_rate", "counted"),
    [
        (85.491, 42.745, 1.0),  # s0 brings 74% of s1's arrivals: wholly
        (85.491, 120.0, 1.0),  # 50.1%
        (40.0, 79.0, 0.5),  # 41.7%: half of its calls count
        (30.0, 100.0, 0.0),  # 30%: a delay
    ],
)
def test_the_share_of_the_calls_that_counts(
    pool_rate: float, direct_rate: float, counted: float
) -> None:
    """The part of the pool's calls to the callee that its flow-equivalent server counts
    runs from 0 at `SHARED_SHARE` / `SHARED_BAND`² of the callee's arrivals to 1 at
    `SHARED_SHARE`, log-linear between (`fading.faded`), the visits and the time in calls
    scaled by it."""
    scenario = _seed_4036(direct_rate, pool_rate)
    solution = solve_network(scenario, open_sources(scenario), max_iterations=1)
    members = [key for key in solution.keys if key.kind == "service" and key.name == "s0"]
    found = find_callees(
        scenario, members, solution.summaries, solution.traffic.rates, solution.services
    )
    assert found is not None
    part = found.counted.get("s1", 0.0)  # (none: not counted at all)
    assert part == pytest.approx(counted, abs=0.02)
    calls = 1.41  # (one call and one of probability 0.41)
    assert found.visits.get("s1", 0.0) == pytest.approx(calls * part, rel=1e-9)
    assert found.every == (part == 1.0)


def test_the_band_ends_at_the_half() -> None:
    """Counted = 1 - faded(share, 1/2 / band, band): 0 at or below 0.35, 1/2 at 0.42, 1 at
    one half and above, where the callee counted wholly before."""
    low, middle = SHARED_SHARE / SHARED_BAND**2, SHARED_SHARE / SHARED_BAND
    assert 1.0 - faded(low, middle, SHARED_BAND) == 0.0
    assert 1.0 - faded(middle, middle, SHARED_BAND) == pytest.approx(0.5)
    assert 1.0 - faded(SHARED_SHARE, middle, SHARED_BAND) == 1.0
