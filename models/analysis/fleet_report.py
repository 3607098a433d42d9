"""What an autoscaled service's replayed fleet puts into the prediction document
(`models.analysis.fleet`): its `replicas` and `replica_seconds`, its utilization, the fluid
backlog of the stretches where it catches up, the capacity of the fleet at each rule's
`max`, and the warnings.

Everything is measured as the simulation measures it over the measured period [warm-up,
warm-up + duration]: replicas counted while provisioned (starting, serving, draining), the
utilization as busy worker-seconds over the started replicas' worker-seconds, a service's
times over the requests that start (and end) in the period, a flow's over the requests
that arrive in it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from models.analysis.hpa import Stretch
from models.analysis.prediction import PredictedReplicas, Prediction
from models.autoscale import ServiceAutoscale
from models.schema import Scenario

FLEET_METHOD = "over the fleets its autoscaler runs in the measured period (quasi-static)"

NEAR_STEP = 3.0
"""Standard deviations of an interval's average within which a step of the rule's ceiling
is near enough to be crossed by noise (`fleet_warning`)."""


def measured(scenario: Scenario, line: list[Stretch]) -> list[Stretch]:
    """The stretches of the measured period (the replay cuts one at its start)."""
    settings = scenario.simulation
    start, end = settings.warmup, settings.warmup + settings.duration
    return [s for s in line if s.start >= start and s.end <= end + 1e-9 * max(end, 1.0)]


def replicas_figures(scenario: Scenario, line: list[Stretch]) -> tuple[PredictedReplicas, float]:
    """`replicas` {mean, max, final} and `replica_seconds` over the measured period, as
    the simulation counts them (provisioned replicas: starting, serving, draining)."""
    settings = scenario.simulation
    start, end = settings.warmup, settings.warmup + settings.duration
    period = measured(scenario, line)
    seconds = math.fsum(s.provisioned * (s.end - s.start) for s in period)
    final = period[-1].provisioned if period else line[-1].provisioned
    mean = seconds / (end - start) if end > start else float(final)
    most = max((s.provisioned for s in period), default=final)
    return PredictedReplicas(mean=mean, max=float(most), final=final), seconds


def utilization(scenario: Scenario, line: list[Stretch]) -> float | None:
    """Busy worker-seconds over the started replicas' worker-seconds in the measured
    period, as the simulation measures an autoscaled service's utilization."""
    period = measured(scenario, line)
    workers = math.fsum(s.worker_area for s in period)
    return math.fsum(s.busy_area for s in period) / workers if workers > 0 else None


def add_backlog(
    prediction: Prediction,
    name: str,
    period: list[Stretch],
    rate_at: Callable[[float], float],
    holding_at: Callable[[float], float],
) -> None:
    """Add to a service's means, and to the flows through it, the fluid backlog of its
    measured stretches `period`, served first come first served (`rate_at(t)`: its arrival
    rate lambda at time t; `holding_at(t)`: its holding time h then).

    B(t) worker-seconds of work are B(t) / h requests waiting: over the period T the queue
    is integral(B / h) / T = A / T longer. The simulation times a service's requests as
    they start (and end) in the period: the Q0 queued at its start count the waiting they
    did before it too, Q0^2 / (2 lambda_0) (they arrived at rate lambda_0 in the last Q0 /
    lambda_0), so each of the N + Q0 requests (N = integral of lambda over the period)
    waits (A + Q0^2 / (2 lambda_0)) / (N + Q0) more. A flow times the requests that arrive
    in the period: without the waiting the Q0 do in it, about Q0^2 / (2 mu), mu the rate
    at which the workers that hold them serve (taken constant until they are done), each
    of the N waits (A - Q0^2 / (2 mu)) / N more. The Q0 and the requests that arrive in a
    backlog all wait; the others as in the steady state."""
    if not period or not any(s.backlog_area > 0 for s in period):
        return
    service = prediction.services[name]

    def middle(stretch: Stretch) -> float:
        return (stretch.start + stretch.end) / 2

    requests_area = math.fsum(s.backlog_area / holding_at(middle(s)) for s in period)
    arrivals = math.fsum(rate_at(middle(s)) * (s.end - s.start) for s in period)
    met = math.fsum(rate_at(middle(s)) * (s.end - s.start) for s in period if s.backlog)
    first, length = period[0], period[-1].end - period[0].start
    queued = first.start_backlog / holding_at(first.start)
    serving = first.start_backlog_workers / holding_at(first.start)
    arriving = rate_at(first.start)
    ahead = queued**2 / (2 * arriving) if arriving > 0 else 0.0
    if arrivals <= 0 or length <= 0:
        return
    started_wait = (requests_area + ahead) / (arrivals + queued)
    own_part = queued**2 / (2 * serving) if serving > 0 else 0.0
    arrived_wait = max(requests_area - own_part, 0.0) / arrivals
    for length_of in (service.queue_length, service.in_system):
        if length_of.mean is not None:
            length_of.mean += requests_area / length
    for time in (service.waiting_time, service.response_time):
        if time.mean is not None:
            time.mean += started_wait
    if service.p_wait is not None:  # (those queued at the start, those that meet a backlog)
        waited = queued + met + service.p_wait * (arrivals - met)
        service.p_wait = waited / (arrivals + queued)
    for flow in prediction.flows.values():
        visits = 0.0 if flow.visits is None else flow.visits.services.get(name, 0.0)
        for time in (flow.response_time, flow.completion_time) if visits else ():
            if time.mean is not None:
                time.mean += visits * arrived_wait


def approximate(prediction: Prediction, names: list[str]) -> None:
    """Means averaged over several fleets are approximate (the quasi-static average); the
    autoscaled services' methods say so."""
    for name in names:
        service = prediction.services[name]
        service.method = f"{service.method}; {FLEET_METHOD}"
    for flow in prediction.flows.values():
        flow.exact = flow.completion_exact = False
    for service in prediction.services.values():
        service.exact = False
    for topic in prediction.topics.values():
        for group in topic.groups.values():
            group.exact = False


def capacity_from(prediction: Prediction, at_most: Prediction) -> None:
    """Each flow's `max_throughput` and `headroom`, and the `bottleneck`, of the fleet at
    every rule's `max` (`at_most`); the bottleneck's utilization is the prediction's own."""
    for name, flow in prediction.flows.items():
        flow.max_throughput = at_most.flows[name].max_throughput
        rate = flow.arrival_rate
        flow.headroom = None
        if flow.max_throughput is not None and rate:
            flow.headroom = flow.max_throughput / rate - 1.0
    neck = at_most.bottleneck
    busy = None
    if neck is not None and neck.kind == "service":
        busy = prediction.services[neck.name].utilization
    elif neck is not None and neck.kind == "group" and neck.topic is not None:
        busy = prediction.topics[neck.topic].groups[neck.name].utilization
    if neck is not None and busy is not None:
        neck = neck.model_copy(update={"utilization": busy})
    prediction.bottleneck = neck


def fleet_warning(
    scenario: Scenario,
    name: str,
    rule: ServiceAutoscale,
    counts: list[int],
    busy: float | None,
    prediction: Prediction,
    capacity: bool,
    queue: float | None = None,
) -> str:
    """What the prediction makes of an autoscaled service: the count its rule settles at
    (`counts`: in each piece of the load), its replicas over the measured period, and a
    step of the ceiling that noise can cross (under a steady load of `busy` workers and a
    mean `queue` at the settled count; None when the load changes or saturates it).

    Noise: over an interval I the busy time is close to compound Poisson, its relative
    standard deviation sqrt((1 + cv^2) / (lambda I)); taken at cv = 1 (exponential work).
    The rule asks for one more when the interval's busy workers reach count x workers x
    target; within `NEAR_STEP` deviations the simulation will do so some of the time, and
    its stabilization keeps the larger count for its length. An `in_system` rule counts
    requests, the busy workers (one request each) and the queue: where the queue is at most
    a tenth of them, the requests deviate as the busy workers do, and the rule asks for one
    more at count x target; otherwise, and for `queue_length`, the noise is not
    estimated."""
    service = prediction.services[name]
    workers = scenario.services[name].workers
    assert isinstance(workers, int)
    start = scenario.services[name].replicas
    text = (
        f"service '{name}' autoscales ({rule.metric}, target {rule.target:g}, "
        f"{rule.min}-{rule.max} replicas): "
    )
    replicas = service.replicas
    if not service.stable:
        return text + f"overloaded even at its max of {rule.max} replicas"
    low, high = min(counts), max(counts)
    if low == high:
        text += (
            f"predicted at the {low} replica{'s' if low != 1 else ''} its rule settles at "
            f"under this load, from its starting {start}"
        )
    else:
        text += (
            f"predicted at the replicas its rule runs as the load changes, settling at "
            f"{low}-{high} over its pieces, from its starting {start}"
        )
    if replicas is not None and (replicas.mean != low or replicas.max != high):
        text += (
            f"; in the measured period {replicas.mean:.3g} on average (at most "
            f"{replicas.max:g}), each fleet in its own steady state"
        )
    if capacity:
        text += f"; max_throughput and the bottleneck with its max of {rule.max}"
    rate = service.arrival_rate or 0.0
    steady = busy is not None and busy > 0 and rate > 0 and low == high
    light = queue is not None and busy is not None and queue <= 0.1 * busy
    if rule.metric != "utilization" and not (rule.metric == "in_system" and light and steady):
        return text + (
            "; the noise of an interval's average length, which can make the rule ask for one "
            "more or one fewer near a step of its ceiling, is not estimated"
        )
    if busy is not None and steady and low < rule.max:
        seen, step, what = busy, low * workers * rule.target, "busy workers"
        if rule.metric == "in_system" and queue is not None:
            seen, step, what = busy + queue, low * rule.target, "requests in the service"
        deviation = busy * math.sqrt(2.0 / (rate * rule.interval))
        if step - seen < NEAR_STEP * deviation:
            text += (
                f"; its {seen:.3g} {what} are within {NEAR_STEP:g} standard deviations "
                f"of an interval's average from {step:.3g}, where the rule asks for "
                f"{low + 1}: the simulation will run {low + 1} some of the time"
            )
    return text


def backlog_warning(lines: Mapping[str, list[Stretch]], share: float) -> str:
    """What the prediction makes of the stretches with a backlog in the measured period."""
    ends = {
        name: max((s.end for s in line if s.backlog), default=0.0) for name, line in lines.items()
    }
    where = ", ".join(f"'{name}' until {end:.4g} s" for name, end in ends.items() if end > 0)
    return (
        f"a backlog piles up or drains in {share:.1%} of the measured period ({where}): "
        f"the load outruns the replicas until the autoscaler catches up; its means add that "
        f"backlog as a fluid queue"
    )
