"""Backlogs that rate pieces or MMPP phases leave, put into the run's means: at consumer
groups (`models.analysis.carry_over`) and at services, whose requests pile up in the
waiting room of a pool that a piece or a phase overloads.

A service's backlog is carried over (`service_carriable`) where its requests come from
open flows alone (no caller's thread waits on them: a held thread would overload the
caller too), its pool or pools (replicas balanced round robin or at random, each offered
its share: alike) have an unbounded waiting room, first come first served, no rate limit,
queue timeout or autoscaling, and it drains at the average rate. Its pool's backlog
(`models.analysis.fluid_pools`: a fluid over pieces, a Markov-modulated Brownian queue
over phases) gives its means: requests present and waiting, its times by Little's law over
the requests that arrived, its utilization. Its callees are taken at the rates that arrive
at it (the pool's cap on them while flat out is left out).

A flow that reaches a carried station gets the rise of its time there (its mean over the
run less the pieces' or phases' where they have one): a service's rise, times its visits,
in the flow's response and completion; the largest rise of a consumer group on its path
in its completion (the group on its longest path, assumed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from models.analysis.carry_over import CARRIED, GroupKey, carriable
from models.analysis.fluid_pools import Pool, Steady, holding_scv, phase_of, steady_of
from models.analysis.fluid_pools import phases as fluid_phases
from models.analysis.network import NetworkSolution
from models.analysis.prediction import (
    PredictedGroup,
    PredictedLength,
    PredictedService,
    PredictedTime,
)
from models.analysis.quasi_static import Documents
from models.analysis.tandem import feeders
from models.schema import Scenario

K = TypeVar("K")
D = TypeVar("D")

SERVICE_CARRIED = (
    "throughput",
    "utilization",
    "p_wait",
    "waiting_time",
    "response_time",
    "queue_length",
    "in_system",
)
"""A service's means that its carried backlog gives."""


def overloaded(
    solutions: Sequence[tuple[float, NetworkSolution]],
) -> tuple[set[GroupKey], set[str]]:
    """The consumer groups and the services that some piece or phase overloads."""
    groups: set[GroupKey] = set()
    services: set[str] = set()
    for _, solution in solutions:
        for station in solution.saturated():
            if station.kind == "group":
                groups.add((station.name, station.group))
            else:
                services.add(station.name)
    return groups, services


def service_carriable(scenario: Scenario, average: NetworkSolution, name: str) -> bool:
    """Whether the backlog a piece or phase leaves at service `name` is carried over
    (module docstring); `average`: the network solved at the average rates."""
    spec = scenario.services[name]
    station = average.services[name]
    if (
        spec.autoscale is not None
        or spec.queue_capacity is not None
        or spec.rate_limit is not None
        or spec.queue_timeout is not None
        or spec.discipline == "priority"
        or station.load.servers is None
        or not station.solution.stable
    ):
        return False
    return not any(
        target.name == name
        for key, summary in average.summaries.items()
        if key.kind != "flow"  # (a flow's entry is no caller's thread)
        for target in summary.calls
    )


def carried(
    scenario: Scenario,
    average: NetworkSolution,
    solutions: Sequence[tuple[float, NetworkSolution]],
    group_backlog: Callable[[GroupKey], PredictedGroup | None],
    service_backlog: Callable[[str], PredictedService | None],
    through: Callable[[GroupKey, str], PredictedGroup | None] | None = None,
    overloads: tuple[set[GroupKey], set[str]] | None = None,
) -> tuple[dict[GroupKey, PredictedGroup], dict[str, PredictedService]] | None:
    """The means of the groups and services that the pieces or phases `solutions`
    overload, with their backlogs carried over (`group_backlog`, `service_backlog`); None
    where one is not carried over (`carry_over.carriable`, `service_carriable`; `average`:
    the network solved at the average rates) or its backlog has no means.

    A service flat out passes on its capacity, not what arrives: a group that an
    overloaded service feeds (`tandem.feeders`) has the backlog `through(group, service)`
    gives (`tandem.carry_through`, over rate pieces); where that is not given (over MMPP
    phases: services and groups overloaded together) or a service feeds a group only in
    part, None: the group's backlog would be counted as if the service's were not there
    (the traffic spike of `scenarios/traffic_spike.yaml` through one worker of 500/s: the
    group's lag 2,004 so counted, 1,350 simulated). `overloads`, if given, are the groups
    and services overloaded, instead of those `solutions` saturate (`flat_out`: pieces
    solved with a service flat out at its capacity saturate nothing)."""
    groups, services = overloaded(solutions) if overloads is None else overloads
    fed: dict[GroupKey, str] | None = {}
    if services and groups:
        fed = None if through is None else feeders(scenario, groups, services)
        if fed is None:
            return None

    def group_document(key: GroupKey) -> PredictedGroup | None:
        if fed and key in fed and through is not None:
            return through(key, fed[key])
        return group_backlog(key)

    found_groups = _each(
        sorted(groups), lambda key: carriable(scenario, average, key), group_document
    )
    found_services = _each(
        sorted(services), lambda name: service_carriable(scenario, average, name), service_backlog
    )
    if found_groups is None or found_services is None:
        return None
    return found_groups, found_services


def _each(
    keys: Sequence[K], eligible: Callable[[K], bool], backlog: Callable[[K], D | None]
) -> dict[K, D] | None:
    """Each key's backlog document; None where one is not eligible or has none."""
    found: dict[K, D] = {}
    for key in keys:
        document = backlog(key) if eligible(key) else None
        if document is None:
            return None
        found[key] = document
    return found


def _steady(solution: NetworkSolution, name: str) -> tuple[float, Steady]:
    """(arrivals per second, steady state) of service `name`'s pool in `solution`."""
    station = solution.services[name]
    return station.solution.arrival_rate, steady_of(station.load, station.solution)


def pool_capacity(pieces: Sequence[tuple[float, NetworkSolution]], name: str) -> float | None:
    """Requests per second service `name`'s pool serves flat out (from a piece where it
    has arrivals)."""
    for _, solution in pieces:
        station = solution.services[name]
        capacity = station.solution.capacity(station.load.servers)
        if station.solution.arrival_rate > 0 and math.isfinite(capacity):
            return capacity
    return None


def carry_service(
    name: str,
    pieces: Sequence[tuple[float, NetworkSolution]],
    length: float,
    capacity: float | None = None,
    arrivals: Sequence[float] | None = None,
) -> PredictedService | None:
    """Service `name`'s means over the measured period (of `length` s) cut into `pieces`
    (share, solution), its backlog carried from piece to piece; None where its capacity is
    not known or nothing arrives. `capacity` and `arrivals` (per piece), if given, are
    its pool's instead of the pieces' (`models.analysis.flat_out`: a piece solved with the
    service flat out has its capacity arriving, not what arrives)."""
    capacity = pool_capacity(pieces, name) if capacity is None else capacity
    servers = pieces[0][1].services[name].load.servers
    if capacity is None or servers is None:
        return None
    pool = Pool(servers, capacity)
    for number, (share, solution) in enumerate(pieces):
        arrival, steady = _steady(solution, name)
        pool.piece(share * length, arrival if arrivals is None else arrivals[number], steady)
    return _document(pool, length, pieces[0][1].services[name].pools)


def markov_carry_service(
    name: str,
    phases: Sequence[tuple[float, NetworkSolution]],
    pool: Pool | None,
) -> PredictedService | None:
    """Service `name`'s means where `phases` (stationary share, solution) are an MMPP's
    (or several superposed), from its pool over them (`markov_service_pool`: its backlog a
    Markov-modulated Brownian queue); None where there is none."""
    return None if pool is None else _document(pool, 1.0, phases[0][1].services[name].pools)


def markov_service_pool(
    name: str,
    phases: Sequence[tuple[float, NetworkSolution]],
    generator: np.ndarray,
    capacity: float | None = None,
    arrivals: Sequence[float] | None = None,
) -> Pool | None:
    """One pool of service `name` where `phases` (stationary share, solution) are an
    MMPP's (or several superposed, their phases changing as `generator` says)
    (`fluid_pools.phases`); None where its capacity is not known or it is overloaded on
    average. `capacity` and `arrivals` (per phase), if given, are its pool's instead of
    the phases' (as for `carry_service`)."""
    capacity = pool_capacity(phases, name) if capacity is None else capacity
    servers = phases[0][1].services[name].load.servers
    if capacity is None or servers is None:
        return None
    stations = [(share, solution.services[name]) for share, solution in phases]
    inputs = [phase_of(share, station.load, station.solution) for share, station in stations]
    if arrivals is not None:
        inputs = [p._replace(arrival=a) for p, a in zip(inputs, arrivals, strict=True)]
    scv = holding_scv([station.load for _, station in stations])
    return fluid_phases(servers, capacity, generator, inputs, scv)


def _document(pool: Pool, length: float, pools: int) -> PredictedService | None:
    """A service's means from one pool's totals over `length` s (module docstring), its
    `pools` replicas alike (each its own pool, offered its share)."""
    if pool.published <= 0:
        return None
    return PredictedService(
        arrival_rate=pools * pool.published / length,
        throughput=pools * (pool.published - pool.backlog) / length,
        utilization=pool.busy / length,
        loss_probability=0.0,
        p_wait=pool.waited / pool.published,
        waiting_time=PredictedTime(mean=pool.queue / pool.published),
        response_time=PredictedTime(mean=pool.present / pool.published),
        queue_length=PredictedLength(mean=pools * pool.queue / length),
        in_system=PredictedLength(mean=pools * pool.present / length),
        method="",
        exact=False,
        stable=True,
    )


def _stable_mean(parts: Sequence[tuple[float, float | None, float | None]]) -> float | None:
    """The mean of the values over the parts (share, weight, value) that have one."""
    known = [(s * w, v) for s, w, v in parts if w is not None and v is not None]
    total = math.fsum(weight for weight, _ in known)
    return math.fsum(weight * value for weight, value in known) / total if total > 0 else None


def apply_backlogs(
    base: Documents,
    groups: Mapping[GroupKey, PredictedGroup],
    services: Mapping[str, PredictedService],
    regimes: Sequence[tuple[float, Documents]],
    how: str,
    met: Callable[[str, GroupKey | str], float] | None = None,
) -> None:
    """Put the carried groups' and services' means into `base` (the pieces' or phases'
    average, in place), their method saying `how` the backlog was carried, and add to each
    flow that reaches one the rise of its time there (module docstring), times `met(flow,
    station)`: how much of the station's backlog the flow's arrivals meet, relative to all
    its arrivals' (a flow whose bursts make the backlog meets more of it; 1 for every flow
    where not given)."""
    met = met or (lambda flow, station: 1.0)
    group_rises: dict[GroupKey, float] = {}
    for (topic, group), document in groups.items():
        before = _stable_mean(
            [
                (share, g.throughput, g.sojourn_time.mean)
                for share, docs in regimes
                for g in [docs.topics[topic].groups[group]]
            ]
        )
        target = base.topics[topic].groups[group]
        for field in CARRIED:
            setattr(target, field, getattr(document, field))
        target.stable, target.exact = True, False
        target.method = f"{target.method}; {how}"
        if before is not None and document.sojourn_time.mean is not None:
            group_rises[(topic, group)] = max(document.sojourn_time.mean - before, 0.0)
    service_rises: dict[str, float] = {}
    for name, carried in services.items():
        before = _stable_mean(
            [
                (share, docs.services[name].throughput, docs.services[name].response_time.mean)
                for share, docs in regimes
            ]
        )
        service = base.services[name]
        for field in SERVICE_CARRIED:
            setattr(service, field, getattr(carried, field))
        service.stable, service.exact = True, False
        service.method = f"{service.method}; {how}"
        if before is not None and carried.response_time.mean is not None:
            service_rises[name] = max(carried.response_time.mean - before, 0.0)
    for name, flow in base.flows.items():
        if flow.visits is None:
            continue
        reached = [
            rise * met(name, (topic, group))
            for (topic, group), rise in group_rises.items()
            if flow.visits.groups.get(topic, {}).get(group, 0) > 0
        ]
        waited = math.fsum(
            flow.visits.services.get(service, 0.0) * rise * met(name, service)
            for service, rise in service_rises.items()
        )
        if not reached and not waited:
            continue
        for field in ("response_time", "completion_time"):
            mean = _stable_mean(
                [
                    (share, docs.flows[name].throughput, getattr(docs.flows[name], field).mean)
                    for share, docs in regimes
                ]
            )
            if mean is None:
                continue
            rise = waited + (max(reached) if reached and field == "completion_time" else 0.0)
            if field == "completion_time" or waited:
                getattr(flow, field).mean = mean + rise
        flow.exact = flow.exact and not waited
        flow.completion_exact = False
