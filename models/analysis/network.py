"""The open network as a fixed point: operations, traffic and stations solved together.

A blocking call holds the caller's worker for the callee's whole response time, so the
caller's holding time depends on the callee's waiting time, which depends on the callee's
load, and so on — services may even depend on each other in both directions through
different operations, and dropped calls change the traffic downstream. As in the method of
layers for layered queueing networks (Rolia & Sevcik, "The method of layers", IEEE TSE 21(8),
1995), the model is solved by successive substitution: start with no waiting anywhere; then
repeatedly (1) summarise every operation with the current waiting times and loss
probabilities (`models.analysis.operations`), (2) solve the traffic equations
(`models.analysis.traffic`), (3) solve every station for its new load
(`models.analysis.stations`), thread pools together with their callees
(`models.analysis.layers`), until nothing changes. Waiting times only grow from one
iteration to the next (more waiting downstream means longer holding upstream), so the
iteration climbs to the smallest fixed point or finds a station saturated: a thread pool
exhausted by slow callees is predicted as such. Losses can make the iterates oscillate (more
drops upstream, less load downstream, fewer drops, ...): after `DAMPING_AFTER` rounds each
is averaged with the one before.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from models.analysis.graph import OpKey, StationId, handler_keys, reachable, service_keys
from models.analysis.layers import apply_layers
from models.analysis.loads import FlowSource, GroupStation, LoadBuilder, ServiceStation
from models.analysis.moments import ZERO, Moments
from models.analysis.operations import (
    NOT_POISSON,
    POISSON,
    Evaluator,
    OperationSummary,
    StationView,
)
from models.analysis.stations import solve_station
from models.analysis.traffic import Traffic, solve_traffic
from models.schema import Scenario

__all__ = ["FlowSource", "GroupStation", "NetworkSolution", "ServiceStation", "solve_network"]

MAX_ITERATIONS = 300
DAMPING_AFTER = 12
"""Iterations of plain substitution before successive iterates are averaged."""
TOLERANCE = 1e-10


@dataclass
class NetworkSolution:
    """The fixed point: every summary, the traffic and every station."""

    keys: list[OpKey]
    summaries: dict[OpKey, OperationSummary]
    traffic: Traffic
    services: dict[str, ServiceStation]
    groups: dict[tuple[str, str], GroupStation]
    converged: bool
    iterations: int
    views: dict[StationId, StationView] = field(default_factory=dict)

    def saturated(self) -> list[StationId]:
        """Stations whose offered load reaches their servers (no steady state)."""
        found = [StationId("service", n) for n, s in self.services.items() if s.solution.saturated]
        for (topic, group), station in self.groups.items():
            if any(solution.saturated for _, solution in station.consumers):
                found.append(StationId("group", topic, group))
        return found


def _views(
    services: Mapping[str, ServiceStation],
    groups: Mapping[tuple[str, str], GroupStation],
    seen_by: Mapping[StationId, dict[StationId, float]],
) -> dict[StationId, StationView]:
    views: dict[StationId, StationView] = {}
    for name, station in services.items():
        solution = station.solution
        views[StationId("service", name)] = StationView(
            waiting=solution.waiting,
            loss=solution.loss,
            exact=solution.exact,
            method=solution.method,
            input_flag=station.load.input_flag,
            departure_flag=solution.departure_flag,
            utilization=solution.utilization,
            arrival_rate=solution.arrival_rate,
            mm1=solution.mm1,
            callee_waiting=seen_by.get(StationId("service", name), {}),
        )
    for (topic, group), group_station in groups.items():
        solutions = [solution for _, solution in group_station.consumers]
        loads = [load for load, _ in group_station.consumers]
        departure = min((s.departure_flag for s in solutions), default=NOT_POISSON)
        views[StationId("group", topic, group)] = StationView(
            exact=all(s.exact for s in solutions),
            input_flag=min((load.input_flag for load in loads), default=POISSON),
            departure_flag=departure if group_station.delivery_exact else NOT_POISSON,
            utilization=max((s.utilization for s in solutions), default=0.0),
        )
    return views


def _blend(old: Moments, new: Moments) -> Moments:
    if not (old.finite and new.finite):
        return new
    return Moments((old.mean + new.mean) / 2, (old.variance + new.variance) / 2)


def _damped(
    old: Mapping[StationId, StationView], new: Mapping[StationId, StationView]
) -> dict[StationId, StationView]:
    """Halfway between two iterates (waiting times and losses): stops the oscillation that
    losses can cause (more drops upstream, less load downstream, fewer drops, ...)."""
    damped = dict(new)
    for station, view in new.items():
        before = old.get(station)
        if before is None:
            continue
        waiting = {p: _blend(before.waiting.get(p, ZERO), w) for p, w in view.waiting.items()}
        damped[station] = dataclasses.replace(
            view, waiting=waiting, loss=(before.loss + view.loss) / 2
        )
    return damped


def _signature(views: Mapping[StationId, StationView]) -> dict[StationId, tuple[float, ...]]:
    return {
        station: (
            view.loss,
            view.input_flag,
            view.departure_flag,
            *(view.waiting[p].mean for p in sorted(view.waiting)),
        )
        for station, view in views.items()
    }


def _changed(
    old: Mapping[StationId, tuple[float, ...]], new: Mapping[StationId, tuple[float, ...]]
) -> bool:
    if old.keys() != new.keys():
        return True
    for station, values in new.items():
        before = old[station]
        if len(before) != len(values):
            return True
        for a, b in zip(before, values, strict=True):
            if a == b:
                continue
            if not (math.isfinite(a) and math.isfinite(b)):
                return True
            if abs(a - b) > TOLERANCE * max(abs(a), abs(b), 1e-6):
                return True
    return False


@dataclass
class _Round:
    """One substitution: every operation, the traffic and every station, solved from the
    station views of the round before."""

    summaries: dict[OpKey, OperationSummary]
    traffic: Traffic
    services: dict[str, ServiceStation]
    groups: dict[tuple[str, str], GroupStation]
    views: dict[StationId, StationView]
    """The stations as the next round's operations will see them."""


def _round(
    scenario: Scenario,
    keys: list[OpKey],
    sources: Mapping[str, FlowSource],
    views: Mapping[StationId, StationView],
    rates: Mapping[OpKey, float],
) -> _Round:
    """(1) summarise the operations, (2) solve the traffic, (3) solve the stations."""
    flow_flags = {name: source.flag for name, source in sources.items()}
    evaluator = Evaluator(scenario, views, rates, flow_flags)
    summaries = {key: evaluator.summary(key) for key in keys}
    admitted = {
        key: 1.0 - views[StationId("service", key.name)].loss
        for key in keys
        if key.kind == "service" and StationId("service", key.name) in views
    }
    traffic = solve_traffic(
        keys, summaries, {n: s.rate for n, s in sources.items()}, scenario.topics, admitted
    )
    builder = LoadBuilder(scenario, sources, summaries, traffic)
    services: dict[str, ServiceStation] = {}
    for name in scenario.services:
        pools, load = builder.service(name, service_keys(keys, name))
        services[name] = ServiceStation(name, pools, load, solve_station(load))
    seen_by = apply_layers(scenario, keys, summaries, traffic.rates, services)
    groups: dict[tuple[str, str], GroupStation] = {}
    for topic_name, topic in scenario.topics.items():
        for group in topic.subscribers:
            members = handler_keys(keys, topic_name, group)
            groups[(topic_name, group)] = builder.group(topic_name, group, members)
    return _Round(summaries, traffic, services, groups, _views(services, groups, seen_by))


def _rates_stable(
    keys: list[OpKey], old: Mapping[OpKey, float], new: Mapping[OpKey, float]
) -> bool:
    return all(
        math.isclose(old.get(k, 0.0), new.get(k, 0.0), rel_tol=1e-12, abs_tol=1e-300) for k in keys
    )


def solve_network(
    scenario: Scenario,
    sources: Mapping[str, FlowSource],
    fixed_views: Mapping[StationId, StationView] | None = None,
    *,
    max_iterations: int = MAX_ITERATIONS,
    stop_when_saturated: bool = False,
) -> NetworkSolution:
    """Solve the open network with the flows arriving as `sources` describes.

    `fixed_views`, if given, are used as the stations' state instead of iterating (the
    closed-network solution supplies its own waiting times this way): one round is solved
    from them. With `stop_when_saturated` the iteration stops at the first iterate with a
    saturated service (waiting times only grow, so it stays saturated): enough for the
    capacity search.
    """
    keys = reachable(scenario)
    views: dict[StationId, StationView] = dict(fixed_views or {})
    rates: Mapping[OpKey, float] = {}
    previous = _signature(views)
    converged = False
    iteration = 0
    while True:
        iteration += 1
        current = _round(scenario, keys, sources, views, rates)
        solved_views = current.views
        signature = _signature(solved_views)
        if fixed_views is not None or (
            iteration > 1
            and _rates_stable(keys, rates, current.traffic.rates)
            and not _changed(previous, signature)
        ):
            converged = True
            break
        if iteration >= max_iterations:
            break
        if stop_when_saturated and any(s.solution.saturated for s in current.services.values()):
            break
        if iteration > DAMPING_AFTER:
            solved_views = _damped(views, solved_views)
            signature = _signature(solved_views)
        views, previous, rates = solved_views, signature, current.traffic.rates
    _mark_inexact_rates(keys, current.summaries, current.services, current.groups)
    return NetworkSolution(
        keys=keys,
        summaries=current.summaries,
        traffic=current.traffic,
        services=current.services,
        groups=current.groups,
        converged=converged,
        iterations=iteration,
        views=views if fixed_views is not None else solved_views,
    )


INEXACT_RATE_NOTE = "approximation: arrival rate after an approximate upstream loss"


def _mark_inexact_rates(
    keys: list[OpKey],
    summaries: Mapping[OpKey, OperationSummary],
    services: dict[str, ServiceStation],
    groups: dict[tuple[str, str], GroupStation],
) -> None:
    """A station fed by a lossy station whose loss is approximate has an approximate arrival
    rate: whatever its own formula, its prediction is then not exact."""
    lossy = {
        name
        for name, station in services.items()
        if station.solution.loss > 0.0 and not station.solution.exact
    }
    pending = [key for key in keys if key.kind == "service" and key.name in lossy]
    reached: set[OpKey] = set()
    while pending:
        key = pending.pop()
        summary = summaries[key]
        targets = list(summary.calls)
        targets += [
            handler
            for handler in keys
            if handler.kind == "handler"
            and any(handler.name == topic for topic, _ in summary.publishes)
        ]
        for target in targets:
            if target not in reached:
                reached.add(target)
                pending.append(target)
    for key in reached:
        if key.kind == "service" and key.name in services:
            station = services[key.name]
            if station.solution.exact:
                station.solution = dataclasses.replace(
                    station.solution,
                    exact=False,
                    method=f"{station.solution.method}, {INEXACT_RATE_NOTE}",
                )
        elif key.kind == "handler" and (key.name, key.operation) in groups:
            group = groups[(key.name, key.operation)]
            group.consumers = [
                (load, dataclasses.replace(solution, exact=False))
                for load, solution in group.consumers
            ]
