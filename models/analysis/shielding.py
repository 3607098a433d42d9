"""A thread pool that shields its callee: the steady state where an entry service's pool,
not what it calls, is what gives way.

The steady-state solve offers a service what its callers send, and a pool with blocking
calls sends what arrives at it. Offered more than it can serve, such a pool can push a
callee it shares with other traffic past saturation (an API of 4 workers offered 300/s in
front of a database of 3 ms that a batch also reads at 100/s: 400 reads a second, 1.2 of
load on one worker). The fixed point then has the callee saturated and the pool's workers
held forever. But the callee never sees that load: the pool cannot have more than its
workers' requests in the callee at once, and if the callee's queue grew, the pool's
workers would all wait there and send nothing more, so the callee would drain. In the
long run the pool saturates and the callee keeps a steady state at what the pool sends
flat out (the simulation: the API completes 191/s, the database is 87% busy).

So (`shielded`): for each such pool, an entry service whose flows reach it alone
(`flat_out.entry_flows`), the capacity search finds the rate of its flows at which the
first resource saturates (`flat_out.flat_out_rate`); where that is the pool's own, the
network is solved again with the pool passing on that share of its arrivals from the
first round (`throttle`), from which the iteration settles where the pool saturates and
its callees do not; kept only where it does (a pool that settles below saturation while
passing on only that share is no steady state: fuzz seed 2953 deep at 95%, a pool of 12
threads in front of two services that share a two-server one with an open flow, whose
load the open flows alone take past its servers, settled 93% busy, passing on 85%, and
the flow's response came out 225 ms where the simulation saturates every one of them).
Not where the callee saturates first as the pool's flows grow, or
where other traffic saturates it alone (the pool is then held forever indeed), nor where
something else stays saturated whatever the pool's flows do (the search then finds the
network saturated at any rate of them).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from models.analysis.capacity import saturating_factor
from models.analysis.flat_out import entry_flows, scaled_sources
from models.analysis.graph import StationId
from models.analysis.network import FlowSource, NetworkSolution, solve_network
from models.analysis.solve_memo import SolveMemo
from models.analysis.throttle import Throttle, held_forever, saturated_pool
from models.schema import Scenario


def shielded(
    scenario: Scenario,
    sources: Mapping[str, FlowSource],
    solution: NetworkSolution,
    memo: SolveMemo,
) -> NetworkSolution:
    """`solution` (the steady state's throttled solve at `sources`) again where a pool held
    forever shields its callees (module docstring), one pool at a time; `solution` itself
    where none does."""
    pinned: dict[str, float] = {}
    tried: set[str] = set()
    while True:
        found = _next_shield(scenario, sources, solution, tried)
        if found is None:
            return solution
        name, share = found
        tried.add(name)
        throttle = Throttle({**pinned, name: share})
        settled = solve_network(scenario, sources, memo=memo, throttle=throttle)
        pool = settled.services[name]
        if (
            settled.converged
            and saturated_pool(pool.load, pool.solution)
            and not held_forever(pool.load, pool.solution)
        ):
            solution, pinned = settled, dict(throttle.pinned)


def _next_shield(
    scenario: Scenario,
    sources: Mapping[str, FlowSource],
    solution: NetworkSolution,
    tried: set[str],
) -> tuple[str, float] | None:
    """A pool held forever that saturates first as its own flows grow, and the share of its
    arrivals it serves flat out; None where there is none (left)."""
    for name, station in solution.services.items():
        if name in tried or not held_forever(station.load, station.solution):
            continue
        flows = entry_flows(scenario, name)
        if flows is None or not scenario.services[name].blocking_calls:
            continue
        if any(flow not in sources or not sources[flow].rate > 0 for flow in flows):
            continue  # (a closed flow, or one without arrivals)
        found = saturating_factor(scenario, functools.partial(scaled_sources, sources, flows))
        if found is None or found[1] is None or found[1].station != StationId("service", name):
            continue
        if 0.0 < found[0] < 1.0:
            return name, found[0]
    return None
