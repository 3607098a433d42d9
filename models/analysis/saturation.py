"""What one solve of the network says about saturation, as the capacity search reads it
(`models.analysis.capacity`): each server pool's load ratio (1: saturated), the pool that
saturates first and whether a saturated solve names it beyond doubt.

A pool is a service's worker pool (its replicas pooled, or one of them) or one consumer of a
consumer group; it is keyed ("service", name) or ("group", topic, group, consumer index).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from models.analysis.graph import StationId
from models.analysis.network import NetworkSolution


@dataclass(frozen=True)
class SaturatingResource:
    """The resource that saturates first."""

    station: StationId
    consumer: int | None
    """For a log topic with several consumers: the saturating consumer's index."""


@dataclass(frozen=True)
class _Pool:
    """One server pool of a solution, as the capacity search reads it."""

    key: tuple[str, ...]
    """("service", name) or ("group", topic, group, consumer index)."""
    resource: SaturatingResource
    ratio: float
    """Its load ratio (1: saturated; inf where it has no steady state to tell it by)."""
    saturated: bool


def _pools(solution: NetworkSolution) -> Iterator[_Pool]:
    """Every server pool of `solution`: the services' with servers, then each consumer of
    each group (a consumer's index named only where the group has several)."""
    for name, station in solution.services.items():
        servers = station.load.servers
        if servers is not None:
            resource = SaturatingResource(StationId("service", name), None)
            ratio = station.solution.load_ratio(servers)
            yield _Pool(("service", name), resource, ratio, station.solution.saturated)
    for (topic, group), group_station in solution.groups.items():
        several = len(group_station.consumers) > 1
        for index, (load, consumer) in enumerate(group_station.consumers):
            assert load.servers is not None
            station_id = StationId("group", topic, group)
            resource = SaturatingResource(station_id, index if several else None)
            ratio = consumer.offered_load / load.servers
            yield _Pool(("group", topic, group, str(index)), resource, ratio, consumer.saturated)


def load_ratios(solution: NetworkSolution) -> dict[tuple[str, ...], float]:
    """Each server pool's load ratio (1: saturated), finite ones only: offered load over
    servers, or arrival rate over capacity for a thread pool solved with its callees."""
    return {pool.key: pool.ratio for pool in _pools(solution) if math.isfinite(pool.ratio)}


def peak_load_ratio(solution: NetworkSolution) -> float:
    """The largest load ratio of any server pool (`load_ratios`)."""
    return max(load_ratios(solution).values(), default=0.0)


def first_saturated(solution: NetworkSolution) -> SaturatingResource | None:
    """The pool with the largest finite load ratio in a solution just past saturation (the
    first of them where several have it)."""
    best: _Pool | None = None
    for pool in _pools(solution):
        if math.isfinite(pool.ratio) and (best is None or pool.ratio > best.ratio):
            best = pool
    return None if best is None else best.resource


def named(solution: NetworkSolution | None) -> bool:
    """Whether a saturated solution names the resource that saturates first beyond doubt:
    one pool alone is saturated, and it is the one `first_saturated` names. Every pool's
    load ratio grows with the load, so the others, unsaturated here, are unsaturated at
    every lighter load too: the one saturated pool is the first to saturate, wherever
    below this load it does (the bottleneck's search of the 100 generated services: 2
    trials of 6 rounds, from 4 of 14)."""
    if solution is None:
        return False
    saturated = [pool.resource for pool in _pools(solution) if pool.saturated]
    return len(saturated) == 1 and saturated[0] == first_saturated(solution)
