"""Exact predictions for bursty arrivals where a closed form exists: MMPP flows (with
Poisson ones or not) that alone feed one exponential server (docs/analysis.md,
"Time-varying load").

The network solver predicts MMPP arrivals phase by phase (`models.analysis.phases`), an
approximation. When flows with `mmpp` or `poisson` arrivals, at least one bursty, are the
only traffic of a service with one replica of one worker, FIFO, an unbounded waiting room
and an operation that is one exponential `work` step, that service is an MMPP/M/1 queue:
the flows together are one MMPP on the product of their phases (`phases.Bursts`; a
Poisson flow one phase of its rate), solved exactly by the matrix-geometric method
(`models.theory.mmpp`). The service's means are replaced, and each flow's response by its
own, an arrival in phase i meeting the queue's mean in that phase
(`MMPPM1.class_response`).
"""

from __future__ import annotations

import math

from models.analysis.phases import Bursts, FlowPhases, flow_phases
from models.analysis.prediction import PredictedTime, Prediction
from models.arrivals import MmppArrivals
from models.distributions import Exponential
from models.references import call_graph
from models.schema import Scenario, WorkStep
from models.theory.mmpp import modulated_m1

METHOD = "MMPP/M/1 (matrix-geometric)"


def _single_exponential_server(scenario: Scenario, service_name: str, operation: str) -> float:
    """The service rate of `service_name` if it is one exponential server for `operation`
    alone (module docstring), else 0."""
    service = scenario.services[service_name]
    if (
        service.replicas != 1
        or service.workers != 1
        or service.queue_capacity is not None
        or service.rate_limit is not None
        or service.queue_timeout is not None
        or service.autoscale is not None
        or len(service.operations) != 1
    ):
        return 0.0
    steps = service.operations[operation]
    if len(steps) != 1 or not isinstance(steps[0], WorkStep):
        return 0.0
    work = steps[0].work
    return 1.0 / work.mean if isinstance(work, Exponential) and work.mean > 0 else 0.0


def _feeding(scenario: Scenario, service_name: str) -> Bursts | None:
    """The joint phases of the flows that enter `service_name` as its only traffic
    (`phases.flow_phases`: a Poisson flow one phase), if at least one is bursty and nothing
    else reaches it (no other kind of arrivals, no inline steps that might call it, no
    caller, consumer group or fault); else None."""
    found: dict[str, FlowPhases] = {}
    for name, flow in scenario.workload.items():
        if flow.entry is None:
            return None  # (inline steps might call it: not followed here)
        if flow.entry.partition(".")[0] != service_name:
            continue
        phases = flow_phases(flow.arrivals)
        if phases is None:
            return None
        found[name] = phases
    if not any(isinstance(scenario.workload[name].arrivals, MmppArrivals) for name in found):
        return None
    if any(callee[0] == service_name for _, callee in call_graph(scenario).edges):
        return None
    if any(service_name in topic.subscribers for topic in scenario.topics.values()):
        return None
    if any(getattr(fault, "service", None) == service_name for fault in scenario.faults):
        return None
    return Bursts.of(found)


def exact_bursts(scenario: Scenario, prediction: Prediction) -> None:
    """Replace the approximate means of MMPP/M/1 stations by exact ones (in place)."""
    for service_name, service_spec in scenario.services.items():
        if len(service_spec.operations) != 1:
            continue
        operation = next(iter(service_spec.operations))
        rate = _single_exponential_server(scenario, service_name, operation)
        bursts = _feeding(scenario, service_name) if rate else None
        if bursts is None:
            continue
        totals = [math.fsum(rates) for rates in bursts.rates]
        exact = modulated_m1(totals, bursts.generator, rate)
        if not exact.stable:
            continue
        service = prediction.services[service_name]
        service.utilization = exact.utilization
        service.p_wait = exact.p_wait
        service.waiting_time.mean = exact.mean_waiting_time
        service.response_time.mean = exact.mean_response_time
        service.queue_length.mean = exact.mean_queue_length
        service.in_system.mean = exact.mean_in_system
        service.method, service.exact = METHOD, True
        for index, flow_name in enumerate(bursts.flows):
            response = exact.class_response([rates[index] for rates in bursts.rates])
            predicted = prediction.flows[flow_name]
            predicted.response_time = PredictedTime(mean=response)
            predicted.completion_time = PredictedTime(mean=response)
            predicted.method = f"queueing network: {METHOD}"
            predicted.exact = predicted.completion_exact = True
            prediction.warnings = [
                warning
                for warning in prediction.warnings
                if not warning.startswith(f"flow '{flow_name}' has bursty (MMPP) arrivals")
            ]
            if isinstance(scenario.workload[flow_name].arrivals, MmppArrivals):
                prediction.warnings.append(
                    f"flow '{flow_name}' has bursty (MMPP) arrivals into one exponential "
                    f"server: '{service_name}' is predicted exactly as an MMPP/M/1 queue"
                )
