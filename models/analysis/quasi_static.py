"""The run's means across its regimes, quasi-statically: each slowdown window that its
steady state describes (stable, converged, without a timeout storm) in its own steady
state, each timeout storm in its regime (`models.analysis.storms`), each piece of a
time-varying rate in its own (`models.analysis.pointwise`), for its share of the measured
period, normal operation for the rest; the means are the regimes' averages, weighted as
the simulation measures them:

- per unit of time (rates, utilizations, requests present, a group's lag): by the
  regimes' shares of the measured period;
- per request or message (waiting, response and sojourn times, P(wait), the loss
  probability, a flow's times): by the share times the regime's rate of those requests
  (completed ones; arrivals for the loss probability; a flow's successful requests).

This is the quasi-static (pointwise stationary) approximation of a time-varying queue
(Green, Kolesar & Svoboda, "The pointwise stationary approximation for queues with
nonstationary arrivals", Management Science 37(1), 1991): good where a window lasts many
of its stations' relaxation times; the windows' edges (the queue building up, draining)
are left out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from models.analysis.flows import completion_times
from models.analysis.network import FlowSource, NetworkSolution
from models.analysis.prediction import (
    PredictedCall,
    PredictedFlow,
    PredictedService,
    PredictedTopic,
)
from models.analysis.report_failures import calls_report
from models.analysis.report_flows import FlowInfo, flow_report
from models.analysis.report_stations import group_report, service_report
from models.resilience import REASONS
from models.schema import Scenario

Regimes = Sequence[tuple[float, Any]]
"""(share of the measured period, the regime's document of one entity)."""

SERVICE_MEANS: Mapping[str, str | None] = {
    "arrival_rate": None,
    "throughput": None,
    "utilization": None,
    "queue_length.mean": None,
    "in_system.mean": None,
    "attempts": None,
    "errors": None,
    "rejected": None,
    "unavailable": None,
    "loss_probability": "arrival_rate",
    "p_wait": "throughput",
    "waiting_time.mean": "throughput",
    "response_time.mean": "throughput",
}
"""A service's means: each with the rate that weights it per request (None: time)."""

GROUP_MEANS: Mapping[str, str | None] = {
    "throughput": None,
    "utilization": None,
    "lag.mean": None,
    "max_partition_utilization": None,
    "attempts": None,
    "dead_lettered": None,
    "lost": None,
    "p_wait": "throughput",
    "waiting_time.mean": "throughput",
    "sojourn_time.mean": "throughput",
}

FLOW_MEANS: Mapping[str, str | None] = {
    "response_time.mean": "throughput",
    "completion_time.mean": "throughput",
}
"""A flow's times, over its successful requests (its rates and success rate are averaged
over the windows elsewhere: `models.analysis.outages`)."""


CALL_MEANS: Mapping[str, str | None] = {
    "calls": None,
    "attempts": None,
    "retries": None,
    "fallbacks": None,
    **{f"failures.{reason}": None for reason in REASONS},
    "attempt_failure": "attempts",
    "success_rate": "calls",
}
"""A row of the calls table: rates by time, an attempt's failure probability by
attempts, a call's success by calls."""


def _get(document: Any, path: str) -> Any:
    for name in path.split("."):
        document = getattr(document, name)
    return document


def _set(document: Any, path: str, value: float) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        document = getattr(document, parent)
    setattr(document, name, value)


def mix(base: Any, regimes: Regimes, means: Mapping[str, str | None]) -> None:
    """Replace `base`'s `means` by their averages over normal operation (`base`, for the
    share the windows of `regimes` leave, if any) and the windows (module docstring); a mean
    that some regime with a share does not have (None: unstable, or not reported) stays
    `base`'s."""
    rest = 1.0 - math.fsum(share for share, _ in regimes)
    every = [(share, part) for share, part in [(rest, base), *regimes] if share > 1e-12]
    averaged: dict[str, float] = {}
    for path, per in means.items():
        values = [_get(document, path) for _, document in every]
        weights = [1.0 if per is None else _get(document, per) for _, document in every]
        if any(v is None for v in values) or any(w is None for w in weights):
            continue
        total = math.fsum(share * w for (share, _), w in zip(every, weights, strict=True))
        if total <= 0.0:
            continue
        parts = zip(every, weights, values, strict=True)
        averaged[path] = math.fsum(share * w * v for (share, _), w, v in parts) / total
    for path, value in averaged.items():
        _set(base, path, value)


class Documents(NamedTuple):
    """What the prediction reports of one regime (its own steady state)."""

    flows: dict[str, PredictedFlow]
    services: dict[str, PredictedService]
    topics: dict[str, PredictedTopic]
    calls: dict[str, PredictedCall]


def at_sources(
    infos: Mapping[str, FlowInfo], sources: Mapping[str, FlowSource]
) -> dict[str, FlowInfo]:
    """Each flow's `FlowInfo` with its arrivals in a regime (a rate piece, an MMPP phase)."""
    return {
        name: dataclasses.replace(info, source=sources.get(name)) for name, info in infos.items()
    }


def documents_of(
    scenario: Scenario, solution: NetworkSolution, infos: Mapping[str, FlowInfo], failing: bool
) -> Documents:
    """The flows', services', topics' and calls' documents of a regime's solution."""
    completions = completion_times(scenario, solution)
    return Documents(
        flows={
            name: flow_report(scenario, solution, completions, name, infos[name], failing)
            for name in scenario.workload
        },
        services={
            name: service_report(scenario, solution, station, [])
            for name, station in solution.services.items()
        },
        topics={
            name: PredictedTopic(
                publish_rate=solution.traffic.topic_rates.get(name, 0.0),
                groups={
                    group: group_report(scenario, solution, solution.groups[(name, group)], [])
                    for group in topic.subscribers
                },
            )
            for name, topic in scenario.topics.items()
        },
        calls=calls_report(solution) if solution.failures.spends else {},
    )


def over_regimes(
    base: Documents,
    regimes: Sequence[tuple[float, Documents]],
    flow_means: Mapping[str, str | None],
) -> None:
    """Every flow's, service's, consumer group's and call's means over normal operation
    (`base`, for the share the `regimes` leave) and the regimes, in place (module
    docstring); `flow_means`: which of a flow's means."""
    if not regimes:
        return
    for name, flow in base.flows.items():
        mix(flow, [(share, docs.flows[name]) for share, docs in regimes], flow_means)
    for name, service in base.services.items():
        mix(service, [(share, docs.services[name]) for share, docs in regimes], SERVICE_MEANS)
    for topic_name, topic in base.topics.items():
        for group_name, group in topic.groups.items():
            groups = [(s, docs.topics[topic_name].groups[group_name]) for s, docs in regimes]
            mix(group, groups, GROUP_MEANS)
    for name, row in base.calls.items():
        rows = [(share, docs.calls.get(name, _idle(row))) for share, docs in regimes]
        mix(row, rows, CALL_MEANS)


def _idle(row: PredictedCall) -> PredictedCall:
    """`row` with no calls (a window in which its caller does not run)."""
    idle = row.model_copy(deep=True)
    idle.calls = idle.attempts = idle.retries = idle.fallbacks = 0.0
    for reason in REASONS:
        setattr(idle.failures, reason, 0.0)
    return idle
