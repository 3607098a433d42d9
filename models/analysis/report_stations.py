"""The prediction of each station (`models.analysis.prediction`) from the network solution:
a service (`service_report`), a consumer group (`group_report`); and what the other report
builders share with them (JSON numbers, predicted times and lengths, admitted executions).

Every entity says which model produced it (`method`) and whether its means are exact for
the simulator's semantics (`exact`). A station without steady state is reported with
`stable: false`, its latencies and lengths None (never infinite or negative), and a warning
naming it and its utilization.

The flows and the bottleneck are reported by `models.analysis.report_flows`, the calls
table and the failure warnings by `models.analysis.report_failures`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from models.analysis.flows import group_waiting
from models.analysis.graph import OpKey, StationId, handler_keys, service_keys
from models.analysis.moments import ZERO
from models.analysis.network import GroupStation, NetworkSolution, ServiceStation
from models.analysis.prediction import (
    PredictedFlow,
    PredictedGroup,
    PredictedLength,
    PredictedService,
    PredictedTime,
    PredictedTopic,
)
from models.analysis.station_load import StationSolution
from models.analysis.summary import StationView
from models.analysis.throttle import overstated, overstated_warning
from models.schema import Scenario


def number(value: float | None) -> float | None:
    """`value` as a JSON number, or None when it is missing, infinite or NaN."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _unstable_warning(label: str, solution: StationSolution, servers: int | None) -> str:
    if not math.isfinite(solution.offered_load):
        return (
            f"{label} is unstable: its servers are held forever by a synchronous callee "
            f"without steady state (utilization 1)"
        )
    if solution.pressure is not None:  # (a pool solved with its callees: its load ratio)
        return (
            f"{label} is unstable: its arrivals are {solution.pressure:.3g} times what its "
            f"{servers} servers serve flat out, held through their calls; its queue grows "
            f"without bound"
        )
    return (
        f"{label} is unstable: utilization {solution.offered_load / (servers or 1):.3g} >= 1 "
        f"(offered load {solution.offered_load:.4g} on {servers} servers); its queue grows "
        f"without bound"
    )


def admission(solution: NetworkSolution, service: str) -> float:
    """The share of a service's attempts that get a token and find a replica up."""
    failures = solution.failures
    if not failures.reports:
        return 1.0
    view = solution.views.get(StationId("service", service))
    rejected = view.rejected if view is not None else 0.0
    return (1.0 - rejected) * (1.0 - failures.of(service).unavailable)


def executions(solution: NetworkSolution, key: OpKey) -> float:
    """Executions per second of node `key`: its arrivals that are admitted (with failures:
    let in by a rate limit, a replica up, and not dropped)."""
    rate = solution.traffic.rates.get(key, 0.0)
    if key.kind != "service":
        return rate
    view = solution.views.get(StationId("service", key.name))
    return rate * admission(solution, key.name) * (1.0 - (view.loss if view else 0.0))


def refused_on_the_spot(solution: NetworkSolution, members: list[OpKey]) -> float:
    """Attempts per second at operations `members` refused at the instant of a refusal
    (retries without a backoff: `models.analysis.calls`), which never reach their queue."""
    targets = set(members)
    return math.fsum(
        executions(solution, key) * count
        for key in solution.keys
        for target, count in solution.summaries[key].refused_again.items()
        if target in targets
    )


def _with_refused_again(refused: dict[str, float], again: float) -> dict[str, float]:
    """Refused attempts per second by reason, with `again` more refused on the spot after
    them (`refused_on_the_spot`), each for the reason its attempt before was refused (in
    the proportions of `refused`)."""
    total = math.fsum(refused.values())
    if total <= 0:
        return refused
    return {reason: count + again * count / total for reason, count in refused.items()}


def faulted_services(scenario: Scenario) -> set[str]:
    """Services named by a fault (they report `availability`)."""
    return {fault.service for fault in scenario.faults if hasattr(fault, "service")}


def predicted_time(value: float, stable: bool) -> PredictedTime:
    """`value` as a predicted time: null without steady state (or when not finite)."""
    return PredictedTime(mean=number(value) if stable else None)


def predicted_length(value: float, stable: bool) -> PredictedLength:
    """`value` as a predicted length: null without steady state (or when not finite)."""
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
    reports = solution.failures.reports
    if fresh <= 0:
        idle: dict[str, float | None] = {}
        if reports:
            idle = dict.fromkeys(("attempts", "errors", "rejected", "unavailable"), 0.0)
            if station.name in faulted_services(scenario):
                idle["availability"] = solution.failures.of(station.name).up
        return PredictedService(
            arrival_rate=0.0,
            throughput=0.0,
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
            **idle,
        )
    share = admission(solution, station.name)
    admitted = 1.0 - result.loss
    if reports:
        admitted *= share
    waiting = (
        math.fsum(rates.get(k, 0.0) * result.waiting.get(k.priority, ZERO).mean for k in members)
        / fresh
        if result.stable
        else math.inf
    )
    responses = [(rates.get(k, 0.0), solution.summaries[k].response.mean) for k in members]
    if solution.failures.spends:  # (every admitted execution, failed ones included)
        responses = [(rates.get(k, 0.0), solution.summaries[k].spent) for k in members]
    response = math.fsum(r * t for r, t in responses if r > 0) / fresh
    queue = station.pools * math.fsum(
        c.arrival_rate * (1.0 - result.loss) * result.waiting.get(c.priority, ZERO).mean
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
    extra: dict[str, float | None] = {}
    view = solution.views.get(StationId("service", station.name))
    rejected = view.rejected if view is not None and reports else 0.0
    unavailable = solution.failures.of(station.name).unavailable if reports else 0.0
    refused = {
        "dropped": fresh * share * result.loss,
        "rejected": fresh * rejected,
        "unavailable": fresh * (1.0 - rejected) * unavailable,
    }
    again = refused_on_the_spot(solution, members)
    if again > 0:
        refused = _with_refused_again(refused, again)
    arrivals = fresh + again
    if reports:
        faults = solution.failures.of(station.name)
        if utilization is not None:
            utilization *= faults.availability  # (busy over all workers, down ones included)
        extra = {
            "attempts": arrivals,
            "errors": math.fsum(
                rates.get(k, 0.0) * admitted * solution.summaries[k].fail for k in members
            ),
            "rejected": refused["rejected"],
            "unavailable": refused["unavailable"],
        }
        if station.name in faulted_services(scenario):
            extra["availability"] = faults.up
    loss = result.loss * share if reports else result.loss
    return PredictedService(
        arrival_rate=arrivals,
        throughput=fresh * admitted
        if stable
        else _saturated_throughput(solution, station, view, members),
        utilization=number(utilization),
        loss_probability=refused["dropped"] / arrivals if again > 0 else loss,
        p_wait=number(result.p_wait),
        waiting_time=predicted_time(waiting, stable),
        response_time=predicted_time(response, stable),
        queue_length=predicted_length(queue, stable),
        in_system=predicted_length(in_system, stable),
        method=result.method,
        exact=exact,
        stable=stable,
        **extra,
    )


def _saturated_throughput(
    solution: NetworkSolution,
    station: ServiceStation,
    view: StationView | None,
    members: list[OpKey],
) -> float | None:
    """What an unstable service completes per second where that can be told: a saturated
    pool with a capacity its share of each class (`throttle.served_shares`), a service
    without a worker limit what its callees answer (`OperationSummary.passed`), each of its
    operations as its saturated callees let it through; None for a pool held forever."""
    if view is None or (station.load.servers is not None and not view.served):
        return None
    rates, summaries = solution.traffic.rates, solution.summaries
    return math.fsum(
        rates.get(k, 0.0) * view.served_share(k.priority) * summaries[k].passed for k in members
    )


@dataclass(frozen=True)
class _Retries:
    """A consumer group's message retries (`max_attempts`, `retry_backoff`, dead letters)."""

    fail: float
    """p: the probability that one run of the handler fails."""
    runs: float
    """Handler runs per message, (1 - p^m) / (1 - p)."""
    retried_before: float
    """E[failed runs | the message is consumed]."""
    last_failed: float
    """p^m: messages whose last attempt fails."""


def _retries(
    scenario: Scenario, solution: NetworkSolution, station: GroupStation, members: list[OpKey]
) -> _Retries:
    subscriber = scenario.topics[station.topic].subscribers[station.group]
    rates = solution.traffic.rates
    total = math.fsum(rates.get(k, 0.0) for k in members)
    fail = (
        math.fsum(rates.get(k, 0.0) * solution.summaries[k].fail for k in members) / total
        if total > 0
        else 0.0
    )
    attempts = subscriber.max_attempts
    tries = [fail**k for k in range(attempts)]
    runs = math.fsum(tries)
    before = math.fsum(k * w for k, w in enumerate(tries)) / runs
    return _Retries(fail, runs, before, fail**attempts if fail > 0 else 0.0)


def group_report(
    scenario: Scenario, solution: NetworkSolution, station: GroupStation, warnings: list[str]
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
    lag_time = sojourn
    started = waiting  # publish to the start of a run, over the runs
    reports = solution.failures.reports
    retries = _retries(scenario, solution, station, members) if reports else None
    messages = rate
    if retries is not None:
        # a message consumed after k failed runs waited k backoffs (on a queue topic also k
        # more turns in the queue); the lag (Little) counts every message, failed ones too
        subscriber = scenario.topics[station.topic].subscribers[station.group]
        backoff = subscriber.retry_backoff.mean if subscriber.retry_backoff is not None else 0.0
        requeued = scenario.topics[station.topic].type == "queue"
        again = backoff + (waiting - station.delivery.mean if requeued else 0.0)
        spent = (
            math.fsum(rates.get(k, 0.0) * solution.summaries[k].spent for k in members) / rate
            if rate > 0
            else 0.0
        )
        messages = rate / retries.runs
        before = retries.retried_before
        sojourn = waiting + (before + 1.0) * handler + before * again
        if requeued:  # run j + 1 starts j (run, backoff, queue) after the publish, with
            # probability p^j: over the runs, sum_j j p^j / sum_j p^j = `before` of them
            started = waiting + before * (handler + again)
        lag_time = waiting + retries.runs * spent + (retries.runs - 1.0) * again
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
    throughput = math.fsum(s.throughput for s in solutions)
    utilization = station.utilization()
    extra: dict[str, float | None] = {}
    if retries is not None:
        throughput = throughput / retries.runs * (1.0 - retries.last_failed)
        utilization *= solution.failures.of(station.group).availability
        subscriber = scenario.topics[station.topic].subscribers[station.group]
        dead = messages * retries.last_failed
        extra = {
            "attempts": rate,
            "dead_lettered": dead if subscriber.dead_letter is not None else 0.0,
            "lost": dead if subscriber.dead_letter is None else 0.0,
        }
    return PredictedGroup(
        throughput=throughput,
        utilization=utilization,
        p_wait=p_wait,
        lag=predicted_length(messages * lag_time, stable),
        waiting_time=predicted_time(started, stable),
        sojourn_time=predicted_time(sojourn, stable),
        max_partition_utilization=max((s.utilization for s in solutions), default=0.0),
        consumers=len(solutions),
        method=method,
        exact=exact,
        stable=stable,
        **extra,
    )


def not_passed_on(
    scenario: Scenario,
    solution: NetworkSolution,
    services: Mapping[str, PredictedService],
    topics: Mapping[str, PredictedTopic],
    flows: Mapping[str, PredictedFlow],
) -> list[str]:
    """Where a saturated station's throughput is not modelled (`throttle.overstated`): the
    stations behind it made inexact, the flows through it without a throughput (what they
    complete is not known), and the warning that says so (none where there is no such
    station)."""
    passing, behind = overstated(scenario, solution.keys, solution.services, solution.groups)
    if not passing:
        return []
    for station in behind:
        if station.kind == "service":
            services[station.name].exact = False
        else:
            topics[station.name].groups[station.group].exact = False
    for flow in flows.values():
        visits = flow.visits
        if visits is not None and any(
            visits.services.get(s.name, 0.0) > 0
            if s.kind == "service"
            else visits.groups.get(s.name, {}).get(s.group, 0.0) > 0
            for s in passing
        ):
            flow.throughput = None
    return [overstated_warning(passing)] if behind else []
