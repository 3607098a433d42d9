"""The prediction as a results document (docs/results.md): plain JSON-able values only.

Every entity says which model produced it (`method`) and whether its means are exact for
the simulator's semantics (`exact`). A station without steady state is reported with
`stable: false`, its latencies and lengths null (never infinite or negative), and a warning
naming it and its utilization.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.analysis.capacity import Bottleneck
from models.analysis.flows import Completion, group_waiting
from models.analysis.graph import OpKey, flow_key
from models.analysis.moments import ZERO
from models.analysis.network import FlowSource, GroupStation, NetworkSolution, ServiceStation
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
    max_throughput: float | None = None


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


def service_report(
    scenario: Scenario, solution: NetworkSolution, station: ServiceStation, warnings: list[str]
) -> dict[str, Any]:
    """One service: offered load, utilization, loss, waiting and response, lengths."""
    members = [k for k in solution.keys if k.kind == "service" and k.name == station.name]
    rates = solution.traffic.rates
    fresh = math.fsum(rates.get(k, 0.0) for k in members)
    result = station.solution
    spec = scenario.services[station.name]
    utilization = None if spec.unlimited else result.utilization
    if fresh <= 0:
        return {
            "arrival_rate": 0.0,
            "utilization": None if spec.unlimited else 0.0,
            "loss_probability": 0.0,
            "p_wait": 0.0,
            "waiting_time": {"mean": None},
            "response_time": {"mean": None},
            "queue_length": {"mean": 0.0},
            "in_system": {"mean": 0.0},
            "method": "no traffic",
            "exact": True,
            "stable": True,
        }
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
    return {
        "arrival_rate": fresh,
        "utilization": number(utilization),
        "loss_probability": result.loss,
        "p_wait": number(result.p_wait),
        "waiting_time": {"mean": number(waiting) if stable else None},
        "response_time": {"mean": number(response) if stable else None},
        "queue_length": {"mean": number(queue) if stable else None},
        "in_system": {"mean": number(in_system) if stable else None},
        "method": result.method,
        "exact": exact,
        "stable": stable,
    }


def group_report(
    solution: NetworkSolution, station: GroupStation, warnings: list[str]
) -> dict[str, Any]:
    """One consumer group: throughput, utilization, lag, waiting and sojourn times."""
    members = [
        k
        for k in solution.keys
        if k.kind == "handler" and k.name == station.topic and k.operation == station.group
    ]
    rates = solution.traffic.rates
    rate = math.fsum(rates.get(k, 0.0) for k in members)
    solutions = [s for _, s in station.consumers]
    loads = [load for load, _ in station.consumers]
    busy = math.fsum(s.utilization * (load.servers or 0) for load, s in station.consumers)
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
    return {
        "throughput": math.fsum(s.throughput for s in solutions),
        "utilization": busy / station.threads,
        "p_wait": p_wait,
        "lag": {"mean": number(rate * sojourn) if stable else None},
        "waiting_time": {"mean": number(waiting) if stable else None},
        "sojourn_time": {"mean": number(sojourn) if stable else None},
        "max_partition_utilization": max((s.utilization for s in solutions), default=0.0),
        "consumers": len(solutions),
        "method": method,
        "exact": exact,
        "stable": stable,
    }


def _visits(solution: NetworkSolution, flow: str) -> dict[str, Any]:
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
    return {"services": services, "groups": groups}


def flow_report(
    scenario: Scenario,
    solution: NetworkSolution,
    completions: Mapping[OpKey, Completion],
    name: str,
    info: FlowInfo,
) -> dict[str, Any]:
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
    return {
        "arrival_rate": rate,
        "throughput": None if rate is None else rate * (1.0 - summary.fail),
        "response_time": {"mean": number(summary.response.mean) if answered else None},
        "completion_time": {"mean": number(completion.time.mean) if stable else None},
        "max_throughput": number(info.max_throughput),
        "headroom": number(headroom),
        "method": method,
        "exact": answered and info.exact and summary.exact,
        "completion_exact": stable and info.exact and completion.exact,
        "stable": stable,
        "visits": _visits(solution, name),
    }


def bottleneck_report(solution: NetworkSolution, neck: Bottleneck | None) -> dict[str, Any] | None:
    """The first resource to saturate, with its utilization at the scenario's rates."""
    if neck is None:
        return None
    station = neck.station
    if station.kind == "service":
        result = solution.services[station.name].solution
        return {"kind": "service", "name": station.name, "utilization": result.utilization}
    group = solution.groups[(station.name, station.group)]
    if neck.consumer is None:
        busy = math.fsum(s.utilization * (load.servers or 0) for load, s in group.consumers)
        return {
            "kind": "group",
            "name": station.group,
            "topic": station.name,
            "utilization": busy / group.threads,
        }
    partitions = list(range(neck.consumer, group.partitions, len(group.consumers)))
    return {
        "kind": "partition",
        "name": station.group,
        "topic": station.name,
        "partitions": partitions,
        "utilization": group.consumers[neck.consumer][1].utilization,
    }
