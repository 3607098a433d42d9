"""The prediction's parts (`models.analysis.prediction`) from the network solution.

Every entity says which model produced it (`method`) and whether its means are exact for
the simulator's semantics (`exact`). A station without steady state is reported with
`stable: false`, its latencies and lengths None (never infinite or negative), and a warning
naming it and its utilization.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from models.analysis.capacity import SaturatingResource
from models.analysis.flows import Completion, group_waiting
from models.analysis.graph import OpKey, flow_key, handler_keys, service_keys
from models.analysis.moments import ZERO
from models.analysis.network import FlowSource, GroupStation, NetworkSolution, ServiceStation
from models.analysis.prediction import (
    Bottleneck,
    PredictedFlow,
    PredictedGroup,
    PredictedLength,
    PredictedService,
    PredictedTime,
    Visits,
)
from models.analysis.stations import StationSolution
from models.schema import Scenario


def number(value: float | None) -> float | None:
    """`value` as a JSON number, or None when it is missing, infinite or NaN."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class FlowInfo:
    """What the report needs to know about a flow beyond the network solution."""

    source: FlowSource | None
    """How it arrives (None: no finite rate could be given)."""
    closed: bool
    method: str | None = None
    """The closed-flow method (MVA or fixed point); None for open flows."""
    exact: bool = True
    """Whether the closed-flow method is exact (always for open flows)."""
    max_throughput: float | None = None
    """The flow's rate at which the first resource saturates (None: never, or not known)."""


def _unstable_warning(label: str, solution: StationSolution, servers: int | None) -> str:
    if not math.isfinite(solution.offered_load):
        return (
            f"{label} is unstable: its servers are held forever by a synchronous callee "
            f"without steady state (utilization 1)"
        )
    return (
        f"{label} is unstable: utilization {solution.offered_load / (servers or 1):.3g} >= 1 "
        f"(offered load {solution.offered_load:.4g} on {servers} servers); its queue grows "
        f"without bound"
    )


def _time(value: float, stable: bool) -> PredictedTime:
    return PredictedTime(mean=number(value) if stable else None)


def _length(value: float, stable: bool) -> PredictedLength:
    return PredictedLength(mean=number(value) if stable else None)


def service_report(
    scenario: Scenario, solution: NetworkSolution, station: ServiceStation, warnings: list[str]
) -> PredictedService:
    """One service: offered load, utilization, loss, waiting and response, lengths."""
    members = service_keys(solution.keys, station.name)
    rates = solution.traffic.rates
    fresh = math.fsum(rates.get(k, 0.0) for k in members)
    result = station.solution
    spec = scenario.services[station.name]
    utilization = None if spec.unlimited else result.utilization
    if fresh <= 0:
        return PredictedService(
            arrival_rate=0.0,
            utilization=None if spec.unlimited else 0.0,
            loss_probability=0.0,
            p_wait=0.0,
            waiting_time=PredictedTime(mean=None),
            response_time=PredictedTime(mean=None),
            queue_length=PredictedLength(mean=0.0),
            in_system=PredictedLength(mean=0.0),
            method="no traffic",
            exact=True,
            stable=True,
        )
    admitted = 1.0 - result.loss
    waiting = (
        math.fsum(rates.get(k, 0.0) * result.waiting.get(k.priority, ZERO).mean for k in members)
        / fresh
        if result.stable
        else math.inf
    )
    responses = [(rates.get(k, 0.0), solution.summaries[k].response.mean) for k in members]
    response = math.fsum(r * t for r, t in responses if r > 0) / fresh
    queue = station.pools * math.fsum(
        c.arrival_rate * admitted * result.waiting.get(c.priority, ZERO).mean
        for c in station.load.classes
        if c.arrival_rate > 0
    )
    in_system = math.fsum(r * admitted * t for r, t in responses if r > 0)
    stable = result.stable and math.isfinite(response)
    label = f"service '{station.name}'"
    if not result.stable:
        warnings.append(_unstable_warning(label, result, station.load.servers))
    elif result.infinite_variance:
        warnings.append(
            f"{label} has an infinite mean waiting time: its service time has infinite variance"
        )
    exact = result.exact and all(solution.summaries[k].exact for k in members if rates.get(k))
    return PredictedService(
        arrival_rate=fresh,
        utilization=number(utilization),
        loss_probability=result.loss,
        p_wait=number(result.p_wait),
        waiting_time=_time(waiting, stable),
        response_time=_time(response, stable),
        queue_length=_length(queue, stable),
        in_system=_length(in_system, stable),
        method=result.method,
        exact=exact,
        stable=stable,
    )


def group_report(
    solution: NetworkSolution, station: GroupStation, warnings: list[str]
) -> PredictedGroup:
    """One consumer group: throughput, utilization, lag, waiting and sojourn times."""
    members = handler_keys(solution.keys, station.topic, station.group)
    rates = solution.traffic.rates
    rate = math.fsum(rates.get(k, 0.0) for k in members)
    solutions = [s for _, s in station.consumers]
    loads = [load for load, _ in station.consumers]
    handler = (
        math.fsum(
            rates.get(k, 0.0) * solution.summaries[k].response.mean for k in members if rates.get(k)
        )
        / rate
        if rate > 0
        else 0.0
    )
    waiting = group_waiting(station).mean if rate > 0 else station.delivery.mean
    sojourn = waiting + handler
    stable = all(s.stable for s in solutions) and math.isfinite(sojourn)
    methods = sorted({s.method for s, load in zip(solutions, loads, strict=True) if load.classes})
    method = "; ".join(methods) or "no traffic"
    if len(solutions) > 1:
        method = f"{method} per consumer ({len(solutions)} consumers)"
    label = f"consumer group '{station.group}' on topic '{station.topic}'"
    for index, (load, result) in enumerate(station.consumers):
        if not result.stable:
            where = f"{label} (consumer {index})" if len(solutions) > 1 else label
            warnings.append(_unstable_warning(where, result, load.servers))
            break
    exact = (
        all(s.exact for s in solutions)
        and station.delivery_exact
        and all(solution.summaries[k].exact for k in members if rates.get(k))
    )
    p_wait = math.fsum(
        share * (s.p_wait or 0.0) for share, s in zip(station.shares, solutions, strict=True)
    )
    return PredictedGroup(
        throughput=math.fsum(s.throughput for s in solutions),
        utilization=station.utilization(),
        p_wait=p_wait,
        lag=_length(rate * sojourn, stable),
        waiting_time=_time(waiting, stable),
        sojourn_time=_time(sojourn, stable),
        max_partition_utilization=max((s.utilization for s in solutions), default=0.0),
        consumers=len(solutions),
        method=method,
        exact=exact,
        stable=stable,
    )


def _visits(solution: NetworkSolution, flow: str) -> Visits:
    """Runs of each service's operations and of each group's handler per request of `flow`."""
    per_node = solution.traffic.visits.get(flow, {})
    services: dict[str, float] = {}
    groups: dict[str, dict[str, float]] = {}
    for key, count in per_node.items():
        if count <= 0 or key.kind == "flow":
            continue
        if key.kind == "service":
            services[key.name] = services.get(key.name, 0.0) + count
        else:
            per_topic = groups.setdefault(key.name, {})
            per_topic[key.operation] = per_topic.get(key.operation, 0.0) + count
    return Visits(services=services, groups=groups)


def flow_report(
    scenario: Scenario,
    solution: NetworkSolution,
    completions: Mapping[OpKey, Completion],
    name: str,
    info: FlowInfo,
) -> PredictedFlow:
    """One flow: rates, mean response and completion time, capacity and headroom."""
    key = flow_key(scenario, name)
    summary = solution.summaries[key]
    completion = completions[key]
    rate = info.source.rate if info.source is not None else None
    answered = rate is not None and summary.response.finite
    stable = answered and completion.time.finite
    if info.closed:
        method = info.method or "closed flow"
    elif summary.methods:
        method = "queueing network: " + "; ".join(sorted(summary.methods))
    else:
        method = "no queueing (contention-free delays only)"
    headroom = None
    if not info.closed and rate and info.max_throughput is not None:
        headroom = info.max_throughput / rate - 1.0
    return PredictedFlow(
        arrival_rate=rate,
        throughput=None if rate is None else rate * (1.0 - summary.fail),
        response_time=_time(summary.response.mean, answered),
        completion_time=_time(completion.time.mean, stable),
        max_throughput=number(info.max_throughput),
        headroom=number(headroom),
        method=method,
        exact=answered and info.exact and summary.exact,
        completion_exact=stable and info.exact and completion.exact,
        stable=stable,
        visits=_visits(solution, name),
    )


def bottleneck_report(
    solution: NetworkSolution, neck: SaturatingResource | None
) -> Bottleneck | None:
    """The first resource to saturate, with its utilization at the scenario's rates."""
    if neck is None:
        return None
    station = neck.station
    if station.kind == "service":
        result = solution.services[station.name].solution
        return Bottleneck(kind="service", name=station.name, utilization=result.utilization)
    group = solution.groups[(station.name, station.group)]
    if neck.consumer is None:
        return Bottleneck(
            kind="group", name=station.group, topic=station.name, utilization=group.utilization()
        )
    partitions = list(range(neck.consumer, group.partitions, len(group.consumers)))
    return Bottleneck(
        kind="partition",
        name=station.group,
        topic=station.name,
        partitions=partitions,
        utilization=group.consumers[neck.consumer][1].utilization,
    )
