"""A station that a thread pool calls among open arrivals, where the pool's parallel calls
also bring it pairs, as the pairs fade in and out (deterministic: no simulation).

Fuzz seed 4373 deep: a 16-worker pool `s1` calls the 2-server `s3` in a parallel step
beside a call to `s2`, which calls `s3` in turn after some work; the pairs count as far as
`s1` seldom fills (its Erlang B, faded over a factor of 2: `fan_out.seldom_bound`), and
`s1` holds its threads through its calls, so `s3`'s wait feeds back into how often it
fills. At 210 requests/s the rounds cycled for ever between `s3` solved with the pairs
(the open formula plus their excess, 14.6 ms) and without them (the mixed product form
over `s1`'s own queue, 10.8 ms), and the capacity search took the cycle for saturation:
`f2`'s capacity 229.5/s from its own rate, 207.4/s from 30% of it. Two things made the
cycle: the model changed from the product form to the open formula as soon as any pair
came (now the product form plus the pairs' excess, which vanishes with them), and the
damping of the rounds left the waits that a two-class station tells its callers
(`StationView.caller_waiting`) and a pool sees at its callees (`callee_waiting`) undamped
(`acceleration.stepped` now steps them too).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from models import load_scenario
from models.analysis import analyze
from models.analysis.acceleration import stepped
from models.analysis.capacity import RELATIVE_TOLERANCE
from models.analysis.graph import StationId
from models.analysis.group_waits import GROUPS_NOTE
from models.analysis.moments import Moments
from models.analysis.network import solve_network
from models.analysis.pool_fed import METHOD as POOL_FED
from models.analysis.summary import StationView
from tests.unit.analysis_scenarios import open_sources

SEED_4373_DEEP: dict[str, Any] = {
    "name": "fuzz-4373-deep",
    "simulation": {"duration": 120},
    "services": {
        "s0": {
            "workers": 16,
            "operations": {
                "op": [{"work": {"gamma": {"mean": 0.00616, "cv": 0.8}}}, {"call": "s2"}]
            },
        },
        "s1": {
            "workers": 16,
            "operations": {
                "op": [
                    {"delay": {"constant": 0.00124}},
                    {"work": {"uniform": [0.00141, 0.00423]}},
                    {"parallel": [[{"call": "s3"}], [{"call": "s2"}]]},
                    {"work": {"lognormal": {"mean": 0.0015, "cv": 0.5}}},
                    {"call": {"service": "s2", "probability": 0.63}},
                ]
            },
        },
        "s2": {
            "workers": 4,
            "replicas": 3,
            "balancing": "random",
            "blocking_calls": False,
            "operations": {
                "op": [
                    {"work": {"exponential": 0.00081}},
                    {
                        "branch": [
                            {"probability": 0.48, "steps": [{"call": "s3"}]},
                            {
                                "probability": 0.52,
                                "steps": [{"work": {"lognormal": {"mean": 0.00701, "cv": 1.5}}}],
                            },
                        ]
                    },
                    {"work": {"lognormal": {"mean": 0.00088, "cv": 1.0}}},
                ]
            },
        },
        "s3": {"workers": 2, "operations": {"op": [{"work": {"constant": 0.00352}}]}},
    },
    "workload": {
        "f0": {"entry": "s0.op", "arrivals": {"poisson": 331.495}},
        "f2": {"entry": "s1.op", "arrivals": {"poisson": 165.747}},
    },
}


def _at(f2_rate: float) -> dict[str, Any]:
    document = copy.deepcopy(SEED_4373_DEEP)
    document["workload"]["f2"]["arrivals"]["poisson"] = f2_rate
    return document


@pytest.mark.parametrize("f2_rate", [205.0, 210.0, 212.0])
def test_the_rounds_settle_where_the_pairs_fade_out(f2_rate: float) -> None:
    """At 210/s and 212/s the rounds cycled for 3,000 rounds; they now settle in well
    under the solve's 300, with `s3` the product form over `s1`'s queue, plus the pairs'
    excess where they count."""
    scenario = load_scenario(_at(f2_rate))
    solution = solve_network(scenario, open_sources(scenario))
    assert solution.converged
    assert solution.iterations < 100
    assert solution.services["s3"].solution.method.startswith(POOL_FED)


def test_the_pairs_add_their_excess_to_the_product_form() -> None:
    """Where `s1` seldom fills (at its own rate), the pairs count and `s3`'s wait is the
    product form's plus their excess: more than without them."""
    scenario = load_scenario(SEED_4373_DEEP)
    solution = solve_network(scenario, open_sources(scenario))
    s3 = solution.services["s3"]
    assert s3.load.groups is not None
    assert s3.solution.method.startswith(f"{POOL_FED} + {GROUPS_NOTE}")


def test_the_capacity_lies_where_the_network_saturates_from_either_start() -> None:
    """The network solved from no waiting settles at 223/s of `f2` and saturates at 228/s;
    `f2`'s capacity searched from its own rate and from 30% of it lies there, within the
    search's tolerance (from 30% it was 207.4/s, the cycle at 210/s taken for saturation;
    the two starts still differ by 2.5%, the known dependence on the start next to a
    callee's saturation, docs/analysis.md sec. 12)."""
    below, above = 223.0, 228.0
    for rate, saturated in ((below, False), (above, True)):
        scenario = load_scenario(_at(rate))
        solved = solve_network(scenario, open_sources(scenario), stop_when_saturated=True)
        assert bool(solved.saturated()) is saturated
    for start in (165.747, 0.3 * 165.747):
        found = analyze(load_scenario(_at(start))).flows["f2"].max_throughput
        assert found is not None
        assert below * (1.0 - RELATIVE_TOLERANCE) <= found <= above * (1.0 + RELATIVE_TOLERANCE)


POOL = StationId("service", "pool")
CALLEE = StationId("service", "callee")


def test_damping_steps_the_waits_callers_see() -> None:
    """Halfway between two rounds, a pool's waits at its callees and a two-class station's
    waits by caller are halfway too (as its own waits are); callers told apart differently
    in the two rounds, or a callee seen in one only, keep the new round's."""
    callers = (("service", "pool"),)
    old = {
        POOL: StationView(callee_waiting={CALLEE: 0.002}),
        CALLEE: StationView(
            waiting={0: Moments(0.001, 0.0)}, caller_waiting=(callers, 0.003, 0.001)
        ),
    }
    new = {
        POOL: StationView(callee_waiting={CALLEE: 0.004, StationId("service", "other"): 0.5}),
        CALLEE: StationView(
            waiting={0: Moments(0.003, 0.0)}, caller_waiting=(callers, 0.005, 0.002)
        ),
    }
    halfway = stepped(old, new, 0.5)
    assert halfway[POOL].callee_waiting == {CALLEE: 0.003, StationId("service", "other"): 0.5}
    assert halfway[CALLEE].caller_waiting == (callers, 0.004, 0.0015)
    apart = {CALLEE: StationView(caller_waiting=((("service", "else"),), 0.009, 0.001))}
    assert stepped(old, apart, 0.5)[CALLEE].caller_waiting == apart[CALLEE].caller_waiting
    unsaturated = stepped(
        {POOL: StationView(callee_waiting={CALLEE: math.inf})},
        {POOL: StationView(callee_waiting={CALLEE: 0.001})},
        0.5,
    )
    assert unsaturated[POOL].callee_waiting == {CALLEE: 0.001}  # (no mean of infinity)
