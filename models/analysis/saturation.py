"""What one solve of the network says about saturation, as the capacity search reads it
(`models.analysis.capacity`): each server pool's load ratio (1: saturated), the pool that
saturates first and whether a saturated solve names it beyond doubt.

A pool is a service's worker pool (its replicas pooled, or one of them) or one consumer of a
consumer group; it is keyed ("service", name) or ("group", topic, group, consumer index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.analysis.graph import StationId
from models.analysis.network import NetworkSolution


@dataclass(frozen=True)
class SaturatingResource:
    """The resource that saturates first."""

    station: StationId
    consumer: int | None
    """For a log topic with several consumers: the saturating consumer's index."""


def load_ratios(solution: NetworkSolution) -> dict[tuple[str, ...], float]:
    """Each server pool's load ratio (1: saturated), finite ones only: offered load over
    servers, or arrival rate over capacity for a thread pool solved with its callees."""
    ratios: dict[tuple[str, ...], float] = {}
    for name, station in solution.services.items():
        if station.load.servers is not None:
            ratios[("service", name)] = station.solution.load_ratio(station.load.servers)
    for (topic, group), group_station in solution.groups.items():
        for index, (load, consumer) in enumerate(group_station.consumers):
            assert load.servers is not None
            ratios[("group", topic, group, str(index))] = consumer.offered_load / load.servers
    return {key: ratio for key, ratio in ratios.items() if math.isfinite(ratio)}


def peak_load_ratio(solution: NetworkSolution) -> float:
    """The largest load ratio of any server pool (`load_ratios`)."""
    return max(load_ratios(solution).values(), default=0.0)


def first_saturated(solution: NetworkSolution) -> SaturatingResource | None:
    """The pool with the largest finite load ratio in a solution just past saturation."""
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


def named(solution: NetworkSolution | None) -> bool:
    """Whether a saturated solution names the resource that saturates first beyond doubt:
    one pool alone is saturated, and it is the one `first_saturated` names. Every pool's
    load ratio grows with the load, so the others, unsaturated here, are unsaturated at
    every lighter load too: the one saturated pool is the first to saturate, wherever
    below this load it does (the bottleneck's search of the 100 generated services: 2
    trials of 6 rounds, from 4 of 14)."""
    if solution is None:
        return False
    pools = [
        SaturatingResource(StationId("service", name), None)
        for name, station in solution.services.items()
        if station.solution.saturated
    ]
    for (topic, group), group_station in solution.groups.items():
        several = len(group_station.consumers) > 1
        for index, (_, consumer) in enumerate(group_station.consumers):
            if consumer.saturated:
                station = StationId("group", topic, group)
                pools.append(SaturatingResource(station, index if several else None))
    return len(pools) == 1 and pools[0] == first_saturated(solution)
