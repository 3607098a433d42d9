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
from typing import NamedTuple

from models.analysis.graph import OpKey, StationId
from models.analysis.network import NetworkSolution
from models.analysis.summary import OperationSummary


@dataclass(frozen=True)
class SaturatingResource:
    """The resource that saturates first."""

    station: StationId
    consumer: int | None
    """For a log topic with several consumers: the saturating consumer's index."""


class _Pool(NamedTuple):
    """One server pool of a solution, as the capacity search reads it (a named tuple: the
    searches' trials list every pool of every solve, 3,900 for the 100 generated services,
    and read a few pools' resources)."""

    key: tuple[str, ...]
    """("service", name) or ("group", topic, group, consumer index)."""
    ratio: float
    """Its load ratio (1: saturated; inf where it has no steady state to tell it by)."""
    saturated: bool
    several: bool
    """For a consumer: whether its group has several (then the resource names its index)."""

    @property
    def resource(self) -> SaturatingResource:
        """The pool as the resource that saturates."""
        if self.key[0] == "service":
            return SaturatingResource(StationId("service", self.key[1]), None)
        _, topic, group, index = self.key
        consumer = int(index) if self.several else None
        return SaturatingResource(StationId("group", topic, group), consumer)


def _pools(solution: NetworkSolution) -> Iterator[_Pool]:
    """Every server pool of `solution`: the services' with servers, then each consumer of
    each group (a consumer's index named only where the group has several)."""
    for name, station in solution.services.items():
        servers = station.load.servers
        if servers is not None:
            ratio = station.solution.load_ratio(servers)
            yield _Pool(("service", name), ratio, station.solution.saturated, False)
    for (topic, group), group_station in solution.groups.items():
        several = len(group_station.consumers) > 1
        for index, (load, consumer) in enumerate(group_station.consumers):
            assert load.servers is not None
            ratio = consumer.offered_load / load.servers
            key = ("group", topic, group, str(index))
            yield _Pool(key, ratio, consumer.saturated, several)


def proportional_pools(solution: NetworkSolution) -> set[tuple[str, ...]]:
    """The pools whose load ratio stays proportional to their arrival rate at any load,
    and whose arrival rate stays linear in the flows': their operations call nothing (the
    holding time is their own steps', whatever the load), nothing but a flow calls them
    (no pool's holding time waits on them; messages are not waited for), their ratio is
    offered load over servers, and no station of the network loses requests (a loss
    makes the rates downstream bend). Empty where any station loses requests or any
    operation's calls may change with the load (`_load_dependent`: a timed-out call's
    retries feed the waiting back into the rates)."""
    stations = [station.solution for station in solution.services.values()]
    stations += [consumer for group in solution.groups.values() for _, consumer in group.consumers]
    if any(station.loss > 0.0 for station in stations):
        return set()
    rates = solution.traffic.rates
    running = [solution.summaries[key] for key in solution.keys if rates.get(key, 0.0) > 0.0]
    if any(_load_dependent(summary) for summary in running):
        return set()
    busy = [key for key in solution.keys if key.kind != "flow" and rates.get(key, 0.0) > 0.0]
    called = {callee for key in busy for callee in solution.summaries[key].calls}
    ruled_out = {_owner(key) for key in busy if solution.summaries[key].calls or key in called}
    return {
        pool.key
        for pool in _pools(solution)
        if pool.key[:3] not in ruled_out
        and not (
            pool.key[0] == "service"
            and solution.services[pool.key[1]].solution.pressure is not None
        )
    }


def _load_dependent(summary: OperationSummary) -> bool:
    """Whether an operation's calls per execution may change with the load: calls with a
    timeout, retries or a resilience pattern, attempts again after failures, failures
    that depend on the queues."""
    return bool(
        summary.irregular
        or summary.tallies
        or summary.feedback
        or summary.refused_again
        or not summary.fail_exact
    )


def _owner(key: OpKey) -> tuple[str, ...]:
    """The pool key (without a consumer's index) of the pool that runs an operation."""
    if key.kind == "handler":
        return ("group", key.name, key.operation)
    return ("service", key.name)


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
