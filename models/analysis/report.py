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
from models.analysis.failures import rejected_fraction
from models.analysis.flows import Completion, group_waiting
from models.analysis.graph import OpKey, StationId, flow_key, handler_keys, service_keys
from models.analysis.moments import ZERO
from models.analysis.network import FlowSource, GroupStation, NetworkSolution, ServiceStation
from models.analysis.prediction import (
    Bottleneck,
    PredictedCall,
    PredictedFlow,
    PredictedGroup,
    PredictedLength,
    PredictedService,
    PredictedTime,
    Visits,
)
from models.analysis.stations import StationSolution
from models.references import walk_steps
from models.schema import CallSpec, CallStep, Scenario


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


def faulted_services(scenario: Scenario) -> set[str]:
    """Services named by a fault (they report `availability`)."""
    return {fault.service for fault in scenario.faults if hasattr(fault, "service")}


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
    reports = solution.failures.reports
    if fresh <= 0:
        idle: dict[str, float | None] = {}
        if reports:
            idle = dict.fromkeys(("attempts", "errors", "rejected", "unavailable"), 0.0)
            if station.name in faulted_services(scenario):
                idle["availability"] = solution.failures.of(station.name).up
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
    if reports:  # (every admitted execution, failed ones included, as simulated)
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
    if reports:
        faults = solution.failures.of(station.name)
        if utilization is not None:
            utilization *= faults.availability  # (busy over all workers, down ones included)
        view = solution.views.get(StationId("service", station.name))
        rejected = view.rejected if view is not None else 0.0
        extra = {
            "attempts": fresh,
            "errors": math.fsum(
                rates.get(k, 0.0) * admitted * solution.summaries[k].fail for k in members
            ),
            "rejected": fresh * rejected,
            "unavailable": fresh * (1.0 - rejected) * faults.unavailable,
        }
        if station.name in faulted_services(scenario):
            extra["availability"] = faults.up
    return PredictedService(
        arrival_rate=fresh,
        utilization=number(utilization),
        loss_probability=result.loss * share if reports else result.loss,
        p_wait=number(result.p_wait),
        waiting_time=_time(waiting, stable),
        response_time=_time(response, stable),
        queue_length=_length(queue, stable),
        in_system=_length(in_system, stable),
        method=result.method,
        exact=exact,
        stable=stable,
        **extra,
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
        lag=_length(messages * lag_time, stable),
        waiting_time=_time(waiting, stable),
        sojourn_time=_time(sojourn, stable),
        max_partition_utilization=max((s.utilization for s in solutions), default=0.0),
        consumers=len(solutions),
        method=method,
        exact=exact,
        stable=stable,
        **extra,
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
    extra: dict[str, float | bool | None] = {}
    if solution.failures.reports:
        extra = {"success_rate": 1.0 - summary.fail, "success_exact": summary.fail_exact}
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
        **extra,
    )


def calls_report(solution: NetworkSolution) -> dict[str, PredictedCall]:
    """The `calls` table: per caller and called operation, the resilient calls per second
    (every execution of the caller's operations that makes them, all priorities)."""
    rows: dict[str, dict[str, float]] = {}
    exact: dict[str, bool] = {}
    notes: dict[str, set[str]] = {}
    for key in solution.keys:
        summary = solution.summaries[key]
        rate = executions(solution, key)
        if not summary.tallies or rate <= 0:
            continue
        caller = key.operation if key.kind == "handler" else key.name
        for target, tally in summary.tallies.items():
            label = f"{caller}->{target.name}.{target.operation}"
            row = rows.setdefault(label, dict.fromkeys(("calls", "attempts", "failed", "q"), 0.0))
            row["calls"] += rate * tally.calls
            row["attempts"] += rate * tally.attempts
            row["failed"] += rate * tally.failed
            row["fallbacks"] = row.get("fallbacks", 0.0) + rate * tally.fallbacks
            row["q"] += rate * tally.attempts * tally.attempt_fail
            exact[label] = exact.get(label, True) and tally.exact
            notes.setdefault(label, set()).update(tally.notes)
    result = {}
    for label in sorted(rows):
        row = rows[label]
        calls, attempts = row["calls"], row["attempts"]
        method = "; ".join(
            ["retries: truncated geometric series of independent attempts", *sorted(notes[label])]
        )
        result[label] = PredictedCall(
            calls=calls,
            attempts=attempts,
            retries=max(attempts - calls, 0.0),
            attempt_failure=row["q"] / attempts if attempts > 0 else 0.0,
            success_rate=1.0 - row["failed"] / calls if calls > 0 else 1.0,
            fallbacks=row.get("fallbacks", 0.0),
            method=method,
            exact=exact[label] and not notes[label],
        )
    return result


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


def _call_specs(scenario: Scenario) -> list[tuple[str, CallSpec]]:
    """Every call step with its caller (the calling service, or the flow)."""
    bodies = [
        (name, steps) for name, s in scenario.services.items() for steps in s.operations.values()
    ]
    bodies += [(name, flow.body()) for name, flow in scenario.workload.items()]
    return [
        (caller, step.call)
        for caller, steps in bodies
        for _, step in walk_steps(steps, "")
        if isinstance(step, CallStep)
    ]


def failure_warnings(
    scenario: Scenario, solution: NetworkSolution, calls: Mapping[str, PredictedCall]
) -> list[str]:
    """What the prediction of a scenario with failures approximates or leaves out."""
    warnings = []
    failures = solution.failures
    if scenario.faults:
        warnings.append(
            "faults make the run non-stationary (windows) or its capacity vary (crashes): "
            "the steady-state means are approximations (exact: false); the `faults` list "
            "predicts each fault's backlog peak and recovery by a fluid model"
        )
    for name, faults in failures.services.items():
        if faults.errors > 0:
            warnings.append(
                f"service '{name}': its `errors` faults are time-averaged over the measured "
                f"period in the steady-state model ({faults.errors:.4g} per operation); "
                f"success rates weight each window by its length"
            )
        if faults.availability < 1.0:
            warnings.append(
                f"service '{name}': each replica is up A = mtbf / (mtbf + mttr) = "
                f"{faults.availability:.4g} of the time (alternating renewal process); its "
                f"capacity is taken as replicas x A x workers (a time average)"
            )
    for name, service in scenario.services.items():
        limit = service.rate_limit
        offered = solution.offered.get(name, 0.0)
        if limit is not None and offered > 0:
            rejected = rejected_fraction(offered, limit.rate, limit.burst)
            how = (
                "a bucket of 1: lambda R / (lambda + R), exact for Poisson arrivals"
                if limit.burst == 1
                else f"the long-run bound min(offered, rate); approximate: Poisson bursts "
                f"beyond the bucket of {limit.burst} are rejected below the rate too"
            )
            warnings.append(
                f"service '{name}': its rate limit admits {offered * (1.0 - rejected):.4g}/s "
                f"of the {offered:.4g}/s offered ({rejected:.2%} rejected; {how})"
            )
        if service.queue_timeout is not None:
            warnings.append(
                f"service '{name}': `queue_timeout` is not modelled (no request leaves the "
                f"waiting room)"
            )
    specs = _call_specs(scenario)
    if any(spec.timeout is not None for _, spec in specs):
        warnings.append(
            "calls with a timeout: P(timeout) is read from a gamma fit of the callee's "
            "response time (an approximation; retries after timeouts are approximate too)"
        )
    seen: set[str] = set()
    for caller, spec in specs:
        breaker = spec.circuit_breaker
        if breaker is None:
            continue
        operation, _ = scenario.operation(spec.service, spec.operation)
        label = f"{caller}->{spec.service}.{operation}"
        if label in seen:
            continue
        seen.add(label)
        row = calls.get(label)
        q = row.attempt_failure if row is not None else 0.0
        verdict = (
            "at or above its failure_rate: it would open, and calls would fail at once "
            "while it is open"
            if q >= breaker.failure_rate
            else "below its failure_rate: it should stay closed in steady state"
        )
        warnings.append(
            f"circuit breaker of '{label}' is not modelled (as if always closed); the "
            f"predicted attempt failure {q:.4g} is {verdict}"
        )
    if any(spec.bulkhead is not None for _, spec in specs):
        warnings.append("bulkheads are not modelled (no call is rejected by them)")
    if any(
        subscriber.max_attempts > 1 or subscriber.dead_letter is not None
        for topic in scenario.topics.values()
        for subscriber in topic.subscribers.values()
    ):
        warnings.append(
            "message retries: (1 - p^m) / (1 - p) handler runs per message and p^m dead "
            "letters (independent failures); waiting, sojourn and lag with retries are "
            "approximate (a log topic's consumer is held during the backoff)"
        )
    return warnings
