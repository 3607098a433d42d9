"""Autoscaled services under a steady load: predicted at the replicas their HPA rule runs.

A service scaled on utilization asks for desired = ceil(busy workers / (workers per
replica x target)) within [min, max] (models/autoscale.py). Its busy workers are its
offered load, arrival rate x holding time, which does not depend on how many replicas
share it: so under a steady load the rule settles at that count whatever it started from
(the HPA's fixed point). `settled_counts` finds it on the whole network: solve with the
current counts, let every rule decide (a service without a steady state at its count is
seen fully busy, and asks for ceil(count / target), as the HPA does), and solve again
until no count moves (a callee's count can change its callers' holding times).

The run is then replayed (`models.analysis.hpa`): from the starting counts at time 0, the
decisions every `interval`, the start-up of new replicas, the overshoot while a saturated
start drains and the scale-down once the stabilization window has passed. The measured
period's means are the averages over the fleets it runs (each fleet's own steady state,
weighted by its time: `models.analysis.quasi_static`, the pointwise stationary
approximation), and each autoscaled service reports its `replicas` {mean, max, final} and
`replica_seconds`, as the simulation does; its utilization is its busy workers over its
serving workers, both averaged over time (as the simulation measures it). A stretch in
which a backlog piles up or drains is taken at the settled fleet's steady state, and a
warning says how long it lasts. `max_throughput`, `headroom` and the `bottleneck` are those
of the fleet at every rule's `max`: as the load grows, each rule scales its service up
until its `max` (a saturated service asks for more), and only then can it saturate.

It applies to steady loads (every flow Poisson, constant, renewal or closed; no faults)
and rules on utilization with a finite pool. Rules on `queue_length` or `in_system` ask for
a count that falls as the count rises (the queue shortens), so they can swing between two
counts; consumer groups scaled on lag likewise: both are predicted at their starting count,
with a warning (`models.analysis.autoscaling`). So are rate profiles, bursts and fault
windows, whose load moves the count during the run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping

from models.analysis.hpa import Stretch, replay
from models.analysis.prediction import PredictedReplicas, PredictedService, Prediction
from models.analysis.quasi_static import FLOW_MEANS, Documents, over_regimes
from models.autoscale import ServiceAutoscale
from models.schema import (
    ConstantArrivals,
    InterarrivalArrivals,
    PoissonArrivals,
    Scenario,
)

Solve = Callable[[Scenario, bool], Prediction]
"""The analysis of a scenario without autoscaling (`capacity`: with the capacity search)."""

MOST_ROUNDS = 8
"""Rounds of `settled_counts` at most (each a network solved; two or three settle it)."""

FLEET_METHOD = "over the fleets its autoscaler runs in the measured period (quasi-static)"


def scaled_on_utilization(scenario: Scenario) -> dict[str, ServiceAutoscale]:
    """The autoscaled services predicted at the replicas their rule runs (module
    docstring): rules on utilization of a finite pool, under a steady load; {} otherwise."""
    rules = {
        name: spec.autoscale
        for name, spec in scenario.services.items()
        if spec.autoscale is not None
        and spec.autoscale.metric == "utilization"
        and spec.workers != "unlimited"
    }
    if not rules or scenario.faults:
        return {}
    steady = (PoissonArrivals, ConstantArrivals, InterarrivalArrivals)
    for flow in scenario.workload.values():
        if flow.clients is None and not isinstance(flow.arrivals, steady):
            return {}
    return rules


def with_fleet(scenario: Scenario, counts: Mapping[str, int]) -> Scenario:
    """`scenario` with the services of `counts` at those replicas, without autoscaling."""
    services = dict(scenario.services)
    for name, count in counts.items():
        services[name] = services[name].model_copy(update={"replicas": count, "autoscale": None})
    return scenario.model_copy(update={"services": services})


def _workers(scenario: Scenario, name: str) -> int:
    workers = scenario.services[name].workers
    assert isinstance(workers, int)
    return workers


def _busy(service: PredictedService, count: int, workers: int) -> float | None:
    """The busy workers of a service run with `count` replicas (None: no steady state)."""
    if not service.stable or service.utilization is None:
        return None
    return service.utilization * count * workers


def _asks(rule: ServiceAutoscale, busy: float | None, count: int, workers: int) -> int:
    """What the rule asks for, seeing `busy` workers (None: all of them, saturated)."""
    seen = count * workers if busy is None else busy
    desired = math.ceil(seen / (workers * rule.target) - 1e-9)
    return min(max(desired, rule.min), rule.max)


def settled_counts(
    scenario: Scenario, rules: Mapping[str, ServiceAutoscale], solve: Solve
) -> tuple[dict[str, int], Prediction]:
    """The counts the rules settle at under the scenario's load (module docstring), and
    the prediction at them; where the rounds do not settle (at most `MOST_ROUNDS`), the
    last counts, with a warning."""
    counts = {name: scenario.services[name].replicas for name in rules}
    prediction = solve(with_fleet(scenario, counts), False)
    for _ in range(MOST_ROUNDS):
        asked = {
            name: _asks(
                rule,
                _busy(prediction.services[name], counts[name], _workers(scenario, name)),
                counts[name],
                _workers(scenario, name),
            )
            for name, rule in rules.items()
        }
        if asked == counts:
            return counts, prediction
        counts = asked
        prediction = solve(with_fleet(scenario, counts), False)
    prediction.warnings.append(
        f"the autoscaled services' counts did not settle in {MOST_ROUNDS} rounds (each rule "
        f"asking again at the counts the others asked for): predicted at {counts}"
    )
    return counts, prediction


def _pooled(scenario: Scenario, name: str) -> bool:
    """Whether the replicas serve one pool in the fluid replay (`models.analysis.hpa`)."""
    return scenario.services[name].balancing in ("shared", "least_outstanding")


def timelines(
    scenario: Scenario,
    rules: Mapping[str, ServiceAutoscale],
    demands: Mapping[str, float | None],
) -> dict[str, list[Stretch]]:
    """Each autoscaled service's stretches over the run, offered its busy workers at the
    settled counts (`demands`; None: saturated there, more than its `max` can serve)."""
    settings = scenario.simulation
    horizon = settings.warmup + settings.duration
    found = {}
    for name, rule in rules.items():
        workers = _workers(scenario, name)
        busy = demands[name]
        demand = 2.0 * rule.max * workers if busy is None else busy
        start = scenario.services[name].replicas
        pooled = _pooled(scenario, name)
        found[name] = replay(rule, start, workers, demand, pooled, horizon, (settings.warmup,))
    return found


def measured_fleets(
    scenario: Scenario, lines: Mapping[str, list[Stretch]]
) -> tuple[dict[tuple[int, ...], float], float]:
    """The measured period's shares by fleet (the serving replicas of each service of
    `lines`, in its order), where no backlog piles up or drains; and the share where one
    does."""
    settings = scenario.simulation
    start, end = settings.warmup, settings.warmup + settings.duration
    cuts = sorted({start, end, *(s.end for line in lines.values() for s in line)})
    shares: dict[tuple[int, ...], float] = {}
    backlog = 0.0
    for low, high in itertools.pairwise(cuts):
        if high <= start or low >= end:
            continue
        share = (min(high, end) - max(low, start)) / (end - start)
        middle = (low + high) / 2
        stretches = [_at(line, middle) for line in lines.values()]
        if any(s.backlog for s in stretches):
            backlog += share
        else:
            fleet = tuple(s.serving for s in stretches)
            shares[fleet] = shares.get(fleet, 0.0) + share
    return shares, backlog


def _at(line: list[Stretch], time: float) -> Stretch:
    return next((s for s in line if s.start <= time < s.end), line[-1])


def replicas_figures(scenario: Scenario, line: list[Stretch]) -> tuple[PredictedReplicas, float]:
    """`replicas` {mean, max, final} and `replica_seconds` over the measured period, as
    the simulation counts them (provisioned replicas: starting, serving, draining)."""
    settings = scenario.simulation
    start, end = settings.warmup, settings.warmup + settings.duration
    seconds = math.fsum(
        s.provisioned * (min(s.end, end) - max(s.start, start))
        for s in line
        if s.end > start and s.start < end
    )
    counted = [s.provisioned for s in line if s.end > start and s.start < end]
    final = _at(line, end - 1e-9 * max(end, 1.0)).provisioned
    mean = seconds / (end - start) if end > start else float(final)
    return PredictedReplicas(
        mean=mean, max=float(max(counted, default=final)), final=final
    ), seconds


def documents(prediction: Prediction) -> Documents:
    """The parts of `prediction` that regimes average (`quasi_static.over_regimes`)."""
    return Documents(
        prediction.flows, prediction.services, prediction.topics, prediction.calls or {}
    )


def predict_autoscaled(
    scenario: Scenario, rules: Mapping[str, ServiceAutoscale], capacity: bool, solve: Solve
) -> Prediction:
    """The prediction of `scenario` with the services of `rules` at the replicas their
    rules run over the measured period (module docstring)."""
    counts, prediction = settled_counts(scenario, rules, solve)
    demands = {
        name: _busy(prediction.services[name], counts[name], _workers(scenario, name))
        for name in rules
    }
    lines = timelines(scenario, rules, demands)
    shares, backlog = measured_fleets(scenario, lines)
    names = list(rules)
    settled_fleet = tuple(counts[name] for name in names)
    runs: list[tuple[float, dict[str, int], Prediction]] = []
    for fleet, share in shares.items():
        if fleet == settled_fleet:
            continue
        fleet_counts = dict(zip(names, fleet, strict=True))
        other = solve(with_fleet(scenario, fleet_counts), False)
        if all(other.services[name].stable for name in names):
            runs.append((share, fleet_counts, other))
        else:  # (a fluid at exactly its workers: no steady state; as a backlog's stretch)
            backlog += share
    over_regimes(documents(prediction), [(s, documents(p)) for s, _, p in runs], FLOW_MEANS)
    for name in names:
        service = prediction.services[name]
        service.replicas, service.replica_seconds = replicas_figures(scenario, lines[name])
        if service.stable and (runs or backlog > 0):
            service.utilization = _utilization(scenario, lines[name])
            _add_backlog(prediction, name, _measured(scenario, lines[name]), demands[name])
    if runs or backlog > 0:
        _approximate(prediction, names)
    if capacity:
        at_most = solve(
            with_fleet(scenario, {name: rule.max for name, rule in rules.items()}), True
        )
        _capacity_from(prediction, at_most)
    prediction.warnings.extend(
        fleet_warning(scenario, name, rule, counts[name], demands[name], prediction, capacity)
        for name, rule in rules.items()
    )
    if backlog > 1e-9:
        prediction.warnings.append(backlog_warning(lines, backlog))
    return prediction


def _measured(scenario: Scenario, line: list[Stretch]) -> list[Stretch]:
    """The stretches of the measured period (the replay cuts one at its start)."""
    settings = scenario.simulation
    start, end = settings.warmup, settings.warmup + settings.duration
    return [s for s in line if s.start >= start and s.end <= end + 1e-9 * max(end, 1.0)]


def _utilization(scenario: Scenario, line: list[Stretch]) -> float | None:
    """Busy worker-seconds over the started replicas' worker-seconds in the measured
    period, as the simulation measures an autoscaled service's utilization."""
    measured = _measured(scenario, line)
    workers = math.fsum(s.worker_area for s in measured)
    return math.fsum(s.busy_area for s in measured) / workers if workers > 0 else None


def _add_backlog(
    prediction: Prediction, name: str, measured: list[Stretch], demand: float | None
) -> None:
    """Add to a service's means, and to the flows through it, the fluid backlog of its
    measured stretches, served first come first served.

    B(t) worker-seconds of work are B(t) / h requests waiting (h its holding time, demand
    / arrival rate lambda): over the period T the queue is integral(B / h) / T = A / T
    longer. The simulation times a service's requests as they start (and end) in the
    measured period: those queued at its start, Q0 of them, count the waiting they did
    before it too, Q0^2 / (2 lambda) (they arrived at rate lambda in the last Q0 / lambda),
    so each of the lambda T + Q0 requests waits (A + Q0^2 / (2 lambda)) / (lambda T) more.
    A flow times the requests that arrive in the period: without the waiting that the Q0
    queued at its start do in it, about Q0^2 / (2 mu), mu the rate at which the workers
    that hold them serve (taken constant until they are done), each of its lambda T
    requests waits (A - Q0^2 / (2 mu)) / (lambda T) more. The Q0 and the requests that
    arrive in a backlog all wait; the others as in the steady state."""
    service = prediction.services[name]
    rate = service.arrival_rate
    area = math.fsum(s.backlog_area for s in measured)
    length = math.fsum(s.end - s.start for s in measured)
    if not (area > 0 and demand and rate and length > 0):
        return
    holding = demand / rate
    requests_area = area / holding
    queued = measured[0].start_backlog / holding
    serving = measured[0].start_backlog_workers / holding
    started_wait = (requests_area + queued**2 / (2 * rate)) / (rate * length + queued)
    own_part = queued**2 / (2 * serving) if serving > 0 else 0.0
    arrived_wait = max(requests_area - own_part, 0.0) / (rate * length)
    in_backlog = math.fsum(s.end - s.start for s in measured if s.backlog)
    for length_of in (service.queue_length, service.in_system):
        if length_of.mean is not None:
            length_of.mean += requests_area / length
    for time in (service.waiting_time, service.response_time):
        if time.mean is not None:
            time.mean += started_wait
    if service.p_wait is not None:  # (those queued at the start, those that meet a backlog)
        waited = queued + rate * in_backlog + service.p_wait * rate * (length - in_backlog)
        service.p_wait = waited / (rate * length + queued)
    for flow in prediction.flows.values():
        visits = 0.0 if flow.visits is None else flow.visits.services.get(name, 0.0)
        for time in (flow.response_time, flow.completion_time) if visits else ():
            if time.mean is not None:
                time.mean += visits * arrived_wait


def _approximate(prediction: Prediction, names: list[str]) -> None:
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


def _capacity_from(prediction: Prediction, at_most: Prediction) -> None:
    """Each flow's `max_throughput` and `headroom`, and the `bottleneck`, of the fleet at
    every rule's `max` (`at_most`); the bottleneck's utilization is the prediction's own."""
    for name, flow in prediction.flows.items():
        flow.max_throughput = at_most.flows[name].max_throughput
        rate = flow.arrival_rate
        flow.headroom = None
        if flow.max_throughput is not None and rate:
            flow.headroom = flow.max_throughput / rate - 1.0
    neck = at_most.bottleneck
    utilization = None
    if neck is not None and neck.kind == "service":
        utilization = prediction.services[neck.name].utilization
    elif neck is not None and neck.kind == "group" and neck.topic is not None:
        utilization = prediction.topics[neck.topic].groups[neck.name].utilization
    if neck is not None and utilization is not None:
        neck = neck.model_copy(update={"utilization": utilization})
    prediction.bottleneck = neck


NEAR_STEP = 3.0
"""Standard deviations of an interval's average within which a step of the rule's ceiling
is near enough to be crossed by noise (`fleet_warning`)."""


def fleet_warning(
    scenario: Scenario,
    name: str,
    rule: ServiceAutoscale,
    count: int,
    busy: float | None,
    prediction: Prediction,
    capacity: bool,
) -> str:
    """What the prediction makes of an autoscaled service: the count its rule settles at,
    its replicas over the measured period, and a step of the ceiling that noise can cross.

    Noise: over an interval I the busy time is close to compound Poisson, its relative
    standard deviation sqrt((1 + cv^2) / (lambda I)); taken at cv = 1 (exponential work).
    The rule asks for one more when the interval's busy workers reach count x workers x
    target; within `NEAR_STEP` deviations the simulation will do so some of the time, and
    its stabilization keeps the larger count for its length. `busy`: its busy workers
    (None: saturated)."""
    service = prediction.services[name]
    workers = _workers(scenario, name)
    start = scenario.services[name].replicas
    text = (
        f"service '{name}' autoscales (utilization, target {rule.target:g}, "
        f"{rule.min}-{rule.max} replicas): "
    )
    replicas = service.replicas
    if not service.stable:
        return text + f"overloaded even at its max of {rule.max} replicas"
    text += (
        f"predicted at the {count} replica{'s' if count != 1 else ''} its rule settles at "
        f"under this load, from its starting {start}"
    )
    if replicas is not None and (replicas.mean != count or replicas.max != count):
        text += (
            f"; in the measured period {replicas.mean:.3g} on average (at most "
            f"{replicas.max:g}), each fleet in its own steady state"
        )
    if capacity:
        text += f"; max_throughput and the bottleneck with its max of {rule.max}"
    rate = service.arrival_rate or 0.0
    if busy is not None and busy > 0 and rate > 0 and count < rule.max:
        step = count * workers * rule.target
        deviation = busy * math.sqrt(2.0 / (rate * rule.interval))
        if step - busy < NEAR_STEP * deviation:
            text += (
                f"; its {busy:.3g} busy workers are within {NEAR_STEP:g} standard deviations "
                f"of an interval's average from {step:.3g}, where the rule asks for "
                f"{count + 1}: the simulation will run {count + 1} some of the time"
            )
    return text


def backlog_warning(lines: Mapping[str, list[Stretch]], share: float) -> str:
    """What the prediction makes of a stretch with a backlog in the measured period."""
    ends = {
        name: max((s.end for s in line if s.backlog), default=0.0) for name, line in lines.items()
    }
    where = ", ".join(f"'{name}' until {end:.4g} s" for name, end in ends.items() if end > 0)
    return (
        f"a backlog piles up or drains in {share:.1%} of the measured period ({where}): "
        f"the autoscaler is still catching up with a saturated start; its means add that "
        f"backlog as a fluid queue (lengthen the warm-up to leave it out)"
    )
