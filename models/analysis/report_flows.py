"""The prediction of each flow (`models.analysis.prediction`) from the network solution
(`flow_report`: rates, mean response and completion times, capacity and headroom, visits),
and the bottleneck (`bottleneck_report`).

A flow says which model produced it (`method`) and whether its means are exact for the
simulator's semantics (`exact`, `completion_exact`); without steady state on its way it is
reported with `stable: false` and its times None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from models.analysis.flows import Completion
from models.analysis.graph import OpKey, flow_key
from models.analysis.network import FlowSource, NetworkSolution
from models.analysis.prediction import Bottleneck, PredictedFlow, Visits
from models.analysis.report_stations import number, predicted_time
from models.analysis.saturation import SaturatingResource
from models.schema import Scenario


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
    failing: bool = False,
) -> PredictedFlow:
    """One flow: rates, mean response and completion time, capacity and headroom; its
    success rate too where the scenario has failures (`failing`: timeouts and retries alone
    included, as in the simulation's results)."""
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
    extra: dict[str, float | bool | None] = {}
    if failing or solution.failures.reports:
        extra = {"success_rate": 1.0 - summary.fail, "success_exact": summary.fail_exact}
    return PredictedFlow(
        arrival_rate=rate,
        throughput=None if rate is None else rate * (1.0 - summary.fail) * summary.passed,
        response_time=predicted_time(summary.response.mean, answered),
        completion_time=predicted_time(completion.time.mean, stable),
        max_throughput=number(info.max_throughput),
        headroom=number(headroom),
        method=method,
        exact=answered and info.exact and summary.exact,
        completion_exact=stable and info.exact and completion.exact,
        stable=stable,
        visits=_visits(solution, name),
        **extra,
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
