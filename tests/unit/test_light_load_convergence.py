"""The network solve settles at light load, and the capacity search with it (deterministic).

At a light load a station's wait can be a few microseconds computed as a difference (the
finite-source station's L / X - S, its root found to 1e-13 of S), so its last digits are
rounding: measured against the wait itself, rounds that alternated between two such
values never reached the solve's 1e-10, and the capacity search took the unsettled solve
at the flows' own rates for saturated (`convergence.holding_scales`).
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.capacity import RELATIVE_TOLERANCE
from models.analysis.convergence import holding_scales, largest_change
from models.analysis.graph import StationId
from models.analysis.network import MAX_ITERATIONS, solve_network
from tests.unit.analysis_scenarios import open_sources


def _pool_over_database(threads: int, servers: int, rate: float) -> dict[str, Any]:
    """A pool of `threads` (7.5 ms of exponential work, then one call) over a database of
    `servers` (14 ms, exponential) that only it calls, at `rate` requests a second."""
    return {
        "name": "pool-over-database",
        "simulation": {"duration": 60, "replications": 2, "seed": 1},
        "services": {
            "app": {
                "workers": threads,
                "operations": {"op": [{"work": {"exponential": 0.0075}}, {"call": "db"}]},
            },
            "db": {"workers": servers, "operations": {"op": [{"work": {"exponential": 0.014}}]}},
        },
        "workload": {"users": {"entry": "app.op", "arrivals": {"poisson": rate}}},
    }


def test_a_pool_over_two_servers_at_one_request_a_second_settles() -> None:
    """The shape whose database wait (0.68 µs) went back and forth by 2.8e-9 of itself for
    all 300 rounds: it settles now, with no warning, and its capacity is the one found
    from a busy start (136.4/s), where the unsettled solve made it 0.991/s."""
    scenario = load_scenario(_pool_over_database(4, 2, 1.0))
    solution = solve_network(scenario, open_sources(scenario))
    assert solution.converged
    assert solution.iterations < MAX_ITERATIONS
    light = analyze(scenario)
    busy = analyze(load_scenario(_pool_over_database(4, 2, 100.0)))
    assert not any("did not converge" in warning for warning in light.warnings)
    light_capacity = light.flows["users"].max_throughput
    busy_capacity = busy.flows["users"].max_throughput
    assert light_capacity is not None and busy_capacity is not None
    assert light_capacity == pytest.approx(busy_capacity, rel=RELATIVE_TOLERANCE)


@pytest.mark.parametrize("rate", [0.01, 0.1, 1.0, 3.0, 10.0])
@pytest.mark.parametrize(("threads", "servers"), [(4, 2), (8, 4), (2, 2), (8, 2)])
def test_light_loads_settle(threads: int, servers: int, rate: float) -> None:
    """Pools over a database of several servers, at loads from 0.01 to 10 requests a
    second: every solve settles within its rounds."""
    scenario = load_scenario(_pool_over_database(threads, servers, rate))
    solution = solve_network(scenario, open_sources(scenario))
    assert solution.converged


def test_waits_change_against_the_holding_time() -> None:
    """A wait's change counts relative to the larger of the wait and its station's holding
    time: 2e-15 s on a wait of 0.68 µs at a station holding 14 ms is no change at the
    solve's tolerance, where relative to the wait alone it is 3e-9."""
    scenario = load_scenario(_pool_over_database(4, 2, 1.0))
    solution = solve_network(scenario, open_sources(scenario))
    floors = holding_scales(solution.services, solution.groups)
    database = StationId("service", "db")
    assert floors[database] == pytest.approx(0.014, rel=1e-6)
    before = {database: (0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 6.827806787937703e-07)}
    after = {database: (0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 6.827806768826982e-07)}
    assert largest_change(before, after) > 1e-9
    assert largest_change(before, after, floors) < 1e-12
