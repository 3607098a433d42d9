"""Capacity: the first resource to saturate, and how much traffic each flow can take.

A resource saturates when its offered load reaches its servers: a service's worker pool
(holding times include synchronous callees' response times, so a thread pool can saturate
before the service it calls does), a queue topic's consumers, or one consumer of a log
topic (its partitions). Because holding times grow with the load downstream, the saturation
point is found on the full model (`models.analysis.network`) by bracketing and bisection,
not from the service demands alone:

- a flow's `max_throughput` is the arrival rate at which the first resource saturates when
  that flow's rate grows and every other flow keeps its rate (closed flows at their
  predicted throughput); `headroom` = max_throughput / arrival_rate - 1;
- the `bottleneck` is the resource that saturates first when all flows grow together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from models.analysis.graph import StationId
from models.analysis.network import FlowSource, NetworkSolution, solve_network
from models.schema import Scenario

GROWTH = 8.0
"""Factor by which the bracket grows (or shrinks) while looking for saturation."""
STEPS = 14
"""Bracketing steps: beyond 8^14 (about 4e12) times the start, nothing saturates; below
1e-9 of it, the other flows saturate a resource on their own."""
RELATIVE_TOLERANCE = 1e-4
SEARCH_ITERATIONS = 80
"""Fixed-point iterations per trial rate; a trial that has not settled by then counts as
saturated (the iteration creeps up slowly only next to saturation)."""
SMALLEST_FRACTION = 1e-9


@dataclass(frozen=True)
class SaturatingResource:
    """The resource that saturates first."""

    station: StationId
    consumer: int | None
    """For a log topic with several consumers: the saturating consumer's index."""


def _saturated(solution: NetworkSolution) -> bool:
    return bool(solution.saturated()) or not solution.converged


def _scaled(
    scenario: Scenario, scale: Callable[[float], Mapping[str, FlowSource]], factor: float
) -> NetworkSolution:
    return solve_network(
        scenario, scale(factor), max_iterations=SEARCH_ITERATIONS, stop_when_saturated=True
    )


def _limit(
    scenario: Scenario, scale: Callable[[float], Mapping[str, FlowSource]], start: float
) -> tuple[float, float] | None:
    """(largest unsaturated, smallest saturated) factors bracketing saturation, to within
    `RELATIVE_TOLERANCE`; None if nothing saturates however large the factor."""
    low, high = 0.0, start
    if _saturated(_scaled(scenario, scale, high)):
        for _ in range(STEPS):
            trial = high / GROWTH
            if trial < SMALLEST_FRACTION * start:
                return 0.0, 0.0  # saturated whatever this flow does (the others saturate it)
            if not _saturated(_scaled(scenario, scale, trial)):
                low = trial
                break
            high = trial
        else:
            return 0.0, 0.0
    else:
        for _ in range(STEPS):
            low, high = high, high * GROWTH
            if _saturated(_scaled(scenario, scale, high)):
                break
        else:
            return None
    while high - low > RELATIVE_TOLERANCE * high:
        middle = (low + high) / 2
        if _saturated(_scaled(scenario, scale, middle)):
            high = middle
        else:
            low = middle
    return low, high


def max_throughput(
    scenario: Scenario, sources: Mapping[str, FlowSource], flow: str
) -> float | None:
    """The arrival rate of `flow` at which the first resource saturates (None: never)."""
    base = sources[flow]

    def scale(rate: float) -> dict[str, FlowSource]:
        return {**sources, flow: FlowSource(rate, base.scv, base.flag)}

    bracket = _limit(scenario, scale, base.rate if base.rate > 0 else 1.0)
    return None if bracket is None else bracket[0]


def bottleneck(scenario: Scenario, sources: Mapping[str, FlowSource]) -> SaturatingResource | None:
    """The resource that saturates first as every flow's rate grows in proportion."""
    if not any(source.rate > 0 for source in sources.values()):
        return None

    def scale(factor: float) -> dict[str, FlowSource]:
        return {
            name: FlowSource(source.rate * factor, source.scv, source.flag)
            for name, source in sources.items()
        }

    bracket = _limit(scenario, scale, 1.0)
    if bracket is None:
        return None
    solution = _scaled(scenario, scale, bracket[1])
    best: tuple[float, SaturatingResource] | None = None
    for name, station in solution.services.items():
        load = station.load
        if load.servers is None:
            continue
        ratio = station.solution.load_ratio(load.servers)
        if math.isfinite(ratio) and (best is None or ratio > best[0]):
            best = (ratio, SaturatingResource(StationId("service", name), None))
    for (topic, group), group_station in solution.groups.items():
        for index, (load, consumer) in enumerate(group_station.consumers):
            assert load.servers is not None
            ratio = consumer.offered_load / load.servers
            several = len(group_station.consumers) > 1
            if math.isfinite(ratio) and (best is None or ratio > best[0]):
                station_id = StationId("group", topic, group)
                best = (ratio, SaturatingResource(station_id, index if several else None))
    return None if best is None else best[1]
