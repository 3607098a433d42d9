"""Exact predictions for bursty arrivals where a closed form exists: an MMPP flow that alone
feeds one exponential server (docs/analysis.md, "Time-varying load").

The network solver treats MMPP arrivals as Poisson at their mean rate (an approximation:
bursts make queues longer). When a flow with `mmpp` arrivals is the only traffic of a
service with one replica of one worker, FIFO, an unbounded waiting room and an operation
that is one exponential `work` step, that service is an MMPP/M/1 queue, solved exactly by
the matrix-geometric method (`models.theory.mmpp`); its and the flow's means are replaced.
"""

from __future__ import annotations

from models.analysis.prediction import PredictedTime, Prediction
from models.arrivals import MmppArrivals
from models.distributions import Exponential
from models.references import call_graph
from models.schema import Scenario, WorkStep
from models.theory.mmpp import mmpp_m1

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


def _alone(scenario: Scenario, flow_name: str, service_name: str) -> bool:
    """Whether the flow is the only traffic of the service (no other flow, caller or
    consumer group reaches it, no fault touches it)."""
    for name, flow in scenario.workload.items():
        if name != flow_name and (flow.entry or "").partition(".")[0] == service_name:
            return False
        if name != flow_name and flow.entry is None:
            return False  # (inline steps might call it: not followed here)
    if any(callee[0] == service_name for _, callee in call_graph(scenario).edges):
        return False
    if any(service_name in topic.subscribers for topic in scenario.topics.values()):
        return False
    return not any(getattr(fault, "service", None) == service_name for fault in scenario.faults)


def exact_bursts(scenario: Scenario, prediction: Prediction) -> None:
    """Replace the approximate means of MMPP/M/1 stations by exact ones (in place)."""
    for flow_name, flow in scenario.workload.items():
        if not isinstance(flow.arrivals, MmppArrivals) or flow.entry is None:
            continue
        service_name, _, operation = flow.entry.partition(".")
        operation_name, _ = scenario.operation(service_name, operation or None)
        rate = _single_exponential_server(scenario, service_name, operation_name)
        if not rate or not _alone(scenario, flow_name, service_name):
            continue
        mmpp = flow.arrivals.mmpp
        exact = mmpp_m1(mmpp.rates, mmpp.switch_rates, rate)
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
        predicted = prediction.flows[flow_name]
        predicted.response_time = PredictedTime(mean=exact.mean_response_time)
        predicted.completion_time = PredictedTime(mean=exact.mean_response_time)
        predicted.method = f"queueing network: {METHOD}"
        predicted.exact = predicted.completion_exact = True
        prediction.warnings = [
            warning
            for warning in prediction.warnings
            if not warning.startswith(f"flow '{flow_name}' has bursty (MMPP) arrivals")
        ]
        prediction.warnings.append(
            f"flow '{flow_name}' has bursty (MMPP) arrivals into one exponential server: "
            f"'{service_name}' is predicted exactly as an MMPP/M/1 queue"
        )
