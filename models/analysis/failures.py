"""Failures and faults as the steady-state model sees them (docs/analysis.md, section 13).

A steady-state model has no clock, so what a fault does over time is summarised per
service by constants (`ServiceFaults`), each a long-run or time-averaged value over the
measured period [warmup, warmup + duration]:

- `errors`: the probability that an operation started there is drawn to fail by an
  `errors` fault: sum of probability x (overlap of its window with the measured period) /
  duration (windows of one service assumed not to overlap);
- `unavailable`: the probability that an arrival finds no replica up, i.e. the fraction of
  the measured time with every replica down: (1 - A)^(n - k) while an outage holds k of the
  n replicas down (1 when it holds all of them), time-averaged; A is the replicas' crash
  availability below (1 without crashes);
- `availability`: A = E[up] / (E[up] + E[down]) = mtbf / (mtbf + mttr) per replica for a
  `crash` fault: the long-run fraction of time an alternating renewal process is up
  (renewal-reward theorem; Ross, "Introduction to Probability Models", ch. 7, alternating
  renewal processes; any distributions of the up and down times); the time-average
  capacity of the service is replicas x A x workers;
- `up`: the fraction of the measured time with at least one replica up (the simulator's
  `availability`), 1 - `unavailable`.

Outage and slowdown windows take capacity away in their window only: the steady-state
model keeps the full capacity, and the window's backlog and recovery are predicted apart by
a fluid model (`models.analysis.outages`). What the windows fail is counted piece by piece
(`regimes`): the measured period is cut at every window boundary and each piece solved with
its own constants, so that retries inside a window, which fail together, are not taken as
independent of it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from models.analysis.graph import OpKey, StationId
from models.analysis.summary import OperationSummary, StationView
from models.faults import Crash, ErrorBurst, ServiceOutage
from models.references import controls_admission_or_retries_messages, uses_failures, walk_steps
from models.schema import CallSpec, CallStep, FailStep, Scenario, Service


@dataclass(frozen=True)
class ServiceFaults:
    """What faults do to one service, as constants (module docstring)."""

    errors: float = 0.0
    """Probability that an operation started here fails because of an `errors` fault."""
    unavailable: float = 0.0
    """Probability that an arrival finds no replica up."""
    availability: float = 1.0
    """Long-run fraction of time each replica is up (crashes): the capacity factor."""
    slowdown: float = 1.0
    """Factor on the time of `work` steps (only while solving a `slowdown` window)."""

    @property
    def up(self) -> float:
        """Fraction of the time with at least one replica up."""
        return 1.0 - self.unavailable


NO_FAULTS = ServiceFaults()


@dataclass(frozen=True)
class FailureInputs:
    """The faults of a scenario as the steady-state model uses them."""

    services: Mapping[str, ServiceFaults] = field(default_factory=dict)
    reports: bool = False
    """Whether failures are reported (`reports_failures`): calls then see rejections and
    unavailability, and faults their constants."""
    spends: bool = False
    """Whether the operations count every outcome's time, failed executions' included, in
    holding times and services' response times, as the simulation does wherever it counts
    failures (`uses_failures`: with call timeouts and retries alone too; so wherever
    `reports` is)."""

    def of(self, service: str) -> ServiceFaults:
        """The faults of `service` (none: `NO_FAULTS`)."""
        return self.services.get(service, NO_FAULTS)


NONE = FailureInputs()


def feedback_into(
    summaries: Mapping[OpKey, OperationSummary], rates: Mapping[OpKey, float]
) -> dict[OpKey, int]:
    """Per operation, the strongest feedback into it (`OperationSummary.feedback`) from any
    operation that runs."""
    strongest: dict[OpKey, int] = {}
    for source, summary in summaries.items():
        if summary.feedback and rates.get(source, 0.0) > 0:
            for target, kind in summary.feedback.items():
                strongest[target] = max(strongest.get(target, 0), kind)
    return strongest


def measured_overlap(scenario: Scenario, start: float, end: float) -> float:
    """How long [start, end] overlaps the measured period (seconds).

    >>> from models import load_scenario
    >>> s = load_scenario({"name": "x", "simulation": {"duration": 100, "warmup": 10},
    ...     "services": {"a": {"operations": {"o": [{"work": {"constant": 1}}]}}},
    ...     "workload": {"f": {"entry": "a", "arrivals": {"poisson": 1}}}})
    >>> measured_overlap(s, 0, 30), measured_overlap(s, 100, 200)
    (20.0, 10.0)
    """
    settings = scenario.simulation
    first, last = settings.warmup, settings.warmup + settings.duration
    return max(0.0, min(end, last) - max(start, first))


def replica_availability(mtbf: float, mttr: float) -> float:
    """A = mtbf / (mtbf + mttr): the long-run up fraction of a replica that alternates up
    times of mean `mtbf` and down times of mean `mttr` (alternating renewal process).

    >>> replica_availability(540.0, 60.0)   # 9 min up, 1 min down on average
    0.9
    """
    return mtbf / (mtbf + mttr) if mtbf + mttr > 0 else 1.0


def _down_fraction(scenario: Scenario, name: str, outages: list[ServiceOutage], a: float) -> float:
    """Time-average over the measured period of P(every replica of `name` is down)."""
    replicas = scenario.services[name].replicas
    settings = scenario.simulation
    first, last = settings.warmup, settings.warmup + settings.duration
    cuts = sorted({first, last} | {t for o in outages for t in (o.at, o.end) if first < t < last})
    total = 0.0
    for start, end in itertools.pairwise(cuts):
        middle = (start + end) / 2
        held = max((o.replicas or replicas for o in outages if o.at <= middle < o.end), default=0)
        left = replicas - min(held, replicas)
        total += (end - start) * ((1.0 - a) ** left if left > 0 else 1.0)
    return total / settings.duration


def failure_inputs(scenario: Scenario) -> FailureInputs:
    """The constants of every service with a fault (module docstring)."""
    errors: dict[str, float] = {}
    outages: dict[str, list[ServiceOutage]] = {}
    availability: dict[str, float] = {}
    duration = scenario.simulation.duration
    for fault in scenario.faults:
        if isinstance(fault, ErrorBurst):
            share = measured_overlap(scenario, fault.at, fault.end) / duration
            errors[fault.service] = errors.get(fault.service, 0.0) + fault.probability * share
        elif isinstance(fault, ServiceOutage):
            outages.setdefault(fault.service, []).append(fault)
        elif isinstance(fault, Crash):
            a = replica_availability(fault.mtbf.mean, fault.mttr.mean)
            availability[fault.service] = availability.get(fault.service, 1.0) * a
    services = {}
    for name in sorted(set(errors) | set(outages) | set(availability)):
        a = availability.get(name, 1.0)
        down = _down_fraction(scenario, name, outages.get(name, []), a)
        services[name] = ServiceFaults(
            errors=min(errors.get(name, 0.0), 1.0), unavailable=down, availability=a
        )
    return FailureInputs(
        services, reports=reports_failures(scenario), spends=uses_failures(scenario)
    )


def _resilient_calls(scenario: Scenario) -> Iterable[CallSpec]:
    for service in scenario.services.values():
        for steps in service.operations.values():
            for _, step in walk_steps(steps, ""):
                if isinstance(step, CallStep):
                    yield step.call
    for flow in scenario.workload.values():
        for _, step in walk_steps(flow.body(), ""):
            if isinstance(step, CallStep):
                yield step.call


def has_fail_steps(scenario: Scenario) -> bool:
    """Whether any operation or flow body has a `fail` step."""
    bodies = [steps for s in scenario.services.values() for steps in s.operations.values()]
    bodies += [flow.body() for flow in scenario.workload.values()]
    return any(isinstance(step, FailStep) for steps in bodies for _, step in walk_steps(steps, ""))


def reports_failures(scenario: Scenario) -> bool:
    """Whether the prediction reports failures (success rates, attempts, faults, ...): when
    the scenario uses failures (`models.references.uses_failures`, as the simulation's
    results do), except for call timeouts and retries alone, which the prediction has
    always modelled (its document for them is unchanged)."""
    if not uses_failures(scenario):
        return False
    if scenario.faults or has_fail_steps(scenario):
        return True
    if controls_admission_or_retries_messages(scenario):
        return True
    return any(
        call.backoff is not None
        or call.circuit_breaker is not None
        or call.bulkhead is not None
        or call.fallback is not None
        for call in _resilient_calls(scenario)
    )


def rejected_fraction(offered: float, rate: float, burst: int) -> float:
    """The fraction of arrivals a token bucket (`rate_limit`) rejects.

    With `burst` 1 and Poisson arrivals of rate lambda it is exact: an admission empties the
    bucket, which is full again 1 / R later; the next arrival after that is admitted, so
    admissions form a renewal process of mean cycle 1/R + 1/lambda (memorylessness) and
    the admitted rate is lambda R / (lambda + R) (renewal-reward theorem; Ross, ch. 7):
    rejected = lambda / (lambda + R). With a larger bucket the long-run bound is used,
    max(0, 1 - R / lambda) (the bucket absorbs bursts; an approximation for Poisson
    arrivals: a few are rejected below the rate too).

    >>> rejected_fraction(80.0, 50.0, 20)   # 50/s admitted of 80/s
    0.375
    >>> round(rejected_fraction(80.0, 50.0, 1), 6)   # 80 x 50 / 130 = 30.77/s admitted
    0.615385
    """
    if offered <= 0:
        return 0.0
    if burst == 1:
        return offered / (offered + rate)
    return max(0.0, 1.0 - rate / offered)


def admitted_scv(offered: float, rate: float, burst: int, scv: float) -> float:
    """Interarrival SCV of the requests a token bucket admits: with `burst` 1 and Poisson
    arrivals the gaps are 1/R + an exponential of mean 1/lambda, SCV (R / (lambda + R))^2;
    otherwise the arrivals' own SCV (unchanged)."""
    if burst != 1 or offered <= 0:
        return scv
    return (rate / (offered + rate)) ** 2


def with_changes(inputs: FailureInputs, service: str, **changes: float) -> FailureInputs:
    """`inputs` with the constants of `service` changed."""
    services = dict(inputs.services)
    services[service] = dataclasses.replace(inputs.of(service), **changes)
    return dataclasses.replace(inputs, services=services)


def normal_inputs(inputs: FailureInputs) -> FailureInputs:
    """The constants outside every fault window: crashes only."""
    services = {
        name: ServiceFaults(
            availability=faults.availability,
            unavailable=0.0 if faults.availability == 1.0 else faults.unavailable,
        )
        for name, faults in inputs.services.items()
    }
    return dataclasses.replace(inputs, services=services)


def regimes(scenario: Scenario, inputs: FailureInputs) -> list[tuple[float, FailureInputs]]:
    """The measured period cut at the boundaries of outage and error windows: each piece's
    share of the period and its constants (the windows open in it on top of the crashes).
    Empty when no such window overlaps the measured period."""
    settings = scenario.simulation
    first, last = settings.warmup, settings.warmup + settings.duration
    windows = [
        fault
        for fault in scenario.faults
        if isinstance(fault, ServiceOutage | ErrorBurst)
        and measured_overlap(scenario, fault.at, fault.end) > 0
    ]
    if not windows:
        return []
    cuts = sorted({first, last} | {t for f in windows for t in (f.at, f.end) if first < t < last})
    base = normal_inputs(inputs)
    pieces = []
    for start, end in itertools.pairwise(cuts):
        middle = (start + end) / 2
        piece = base
        for fault in windows:
            if not fault.at <= middle < fault.end:
                continue
            faults = piece.of(fault.service)
            if isinstance(fault, ErrorBurst):
                errors = 1.0 - (1.0 - faults.errors) * (1.0 - fault.probability)
                piece = with_changes(piece, fault.service, errors=errors)
            else:
                replicas = scenario.services[fault.service].replicas
                left = replicas - min(fault.replicas or replicas, replicas)
                down = (1.0 - faults.availability) ** left if left > 0 else 1.0
                piece = with_changes(
                    piece, fault.service, unavailable=max(faults.unavailable, down)
                )
        pieces.append(((end - start) / settings.duration, piece))
    return pieces


def approximated_failures(
    name: str, spec: Service, capacity: Mapping[str, float], admission: Mapping[str, float]
) -> str:
    """What failures make approximate at service `name` (empty: nothing), given each
    service's time-average capacity with crashes and the share of its attempts let in."""
    notes = []
    up = capacity.get(name, 1.0)
    if up < 1.0:
        notes.append(f"time-average capacity with crashes (replicas x {up:.4g} x workers)")
    if spec.rate_limit is not None:
        notes.append("rate limit as a token bucket (admitted stream not Poisson)")
    elif admission.get(name, 1.0) < 1.0:
        notes.append("arrivals finding no replica up refused")
    if spec.queue_timeout is not None:
        notes.append("queue timeout not modelled")
    return ", ".join(notes)


def admitted_shares(
    scenario: Scenario,
    keys: list[OpKey],
    views: Mapping[StationId, StationView],
    failures: FailureInputs,
    served: Mapping[OpKey, float] | None = None,
) -> tuple[dict[OpKey, float], dict[str, float]]:
    """Per operation, the share of its arrivals that run it (not dropped, rejected or
    refused for want of a replica up) per unit of time (`served`: the share a saturated
    station serves, `throttle.served_by_operation`; missing: all); per service, the share
    let in before its queue."""
    served = served or {}
    admitted = {
        key: (1.0 - views[StationId("service", key.name)].loss) * served.get(key, 1.0)
        for key in keys
        if key.kind == "service" and StationId("service", key.name) in views
    }
    admitted.update((key, share) for key, share in served.items() if key.kind == "handler")
    admission: dict[str, float] = {}
    if failures.reports:
        for name in scenario.services:
            view = views.get(StationId("service", name))
            rejected = view.rejected if view is not None else 0.0
            share = (1.0 - rejected) * (1.0 - failures.of(name).unavailable)
            if share != 1.0:
                admission[name] = share
        for key in admitted:
            if key.name in admission:
                admitted[key] *= admission[key.name]
        for key in keys:
            if key.kind == "service" and key not in admitted and key.name in admission:
                admitted[key] = admission[key.name]
    return admitted, admission
