"""Queueing-theory prediction of a scenario: `analyze(scenario)` -> a `Prediction`.

The same scenario the simulator runs is read as a queueing network with the simulator's
semantics (see docs/analysis.md for every formula, its assumptions and its source):

1. traffic equations on the operation graph give every operation's and topic's rate
   (`traffic`), from per-operation summaries (`summary`) walked step by step
   (`operations`, with what a call's failures do in `operation_failures`);
2. every station — a service's worker pool(s), a queue topic's consumers, each consumer of a
   log topic — is solved by the formula that fits it (`stations`);
3. synchronous calls that hold the caller's worker make the holding time depend on the
   callees' response times: the whole is solved as a fixed point (`network`);
4. flows add up their path (`flows`), fork-joins by Flatto-Hahn / Nelson-Tantawi
   (`forkjoin`), completion times include the asynchronous work they cause;
5. closed flows by exact MVA when product-form (Schweitzer's approximation for large
   populations), else a closed-loop fixed point (`closed`);
6. the bottleneck and each flow's maximum throughput (`capacity`);
7. the result as typed values (`prediction`), built from the solution by `report_stations`
   (services, consumer groups), `report_flows` (flows, the bottleneck) and `report_failures`
   (the calls table, warnings);
8. with failures (`failures`): retries, fallbacks, error and unavailability probabilities
   and rate limits enter the operations and the traffic equations, crashes the capacity,
   and fault windows are predicted apart by a fluid model (`outages`).

>>> from models import load_scenario
>>> scenario = load_scenario({
...     "name": "mm1", "simulation": {"duration": 60},
...     "services": {"server": {"operations": {"serve": [{"work": {"exponential": 0.01}}]}}},
...     "workload": {"customers": {"entry": "server", "arrivals": {"poisson": 80}}},
... })
>>> prediction = analyze(scenario)
>>> round(prediction.flows["customers"].response_time.mean, 6)   # 1 / (mu - lambda)
0.05
>>> prediction.services["server"].method, prediction.services["server"].exact
('M/M/1', True)
>>> round(prediction.flows["customers"].max_throughput)   # saturates at mu = 100/s
100
>>> prediction.bottleneck.to_dict()
{'kind': 'service', 'name': 'server', 'utilization': 0.8}
"""

from __future__ import annotations

from models.analysis.autoscaling import autoscale_warnings
from models.analysis.bursts import exact_bursts
from models.analysis.capacity import solve_capacity
from models.analysis.closed import closed_source, solve_closed
from models.analysis.flat_out import flat_out_rate
from models.analysis.fleet import predict_autoscaled, predicted_rules
from models.analysis.flows import completion_times
from models.analysis.graph import consumer_count
from models.analysis.moments import LARGEST_SCV
from models.analysis.network import FlowSource, NetworkSolution, solve_network
from models.analysis.outages import fault_report
from models.analysis.phases import phase_by_phase, phases_warning
from models.analysis.pointwise import average_rate, pointwise, varying_flows
from models.analysis.prediction import (
    Bottleneck,
    PredictedCall,
    PredictedFault,
    PredictedFlow,
    PredictedGroup,
    PredictedLength,
    PredictedService,
    PredictedTime,
    PredictedTopic,
    Prediction,
    Visits,
)
from models.analysis.quasi_static import FLOW_MEANS, Documents, documents_of, over_regimes
from models.analysis.report_failures import calls_report, failure_warnings
from models.analysis.report_flows import FlowInfo, bottleneck_report, flow_report
from models.analysis.report_stations import group_report, not_passed_on, service_report
from models.analysis.shielding import shielded
from models.analysis.solve_memo import SolveMemo
from models.analysis.storms import (
    STORM_TO_THE_END,
    StormState,
    self_sustaining_storms,
    storm_documents,
)
from models.analysis.summary import NOT_POISSON, POISSON
from models.analysis.throttle import Throttle
from models.analysis.traffic import MessageStormError
from models.arrivals import MmppArrivals, SinusoidArrivals, TraceArrivals
from models.blas_threads import one_blas_thread
from models.distributions import Exponential
from models.errors import UnsimulatableError
from models.recursion import RECURSION_LIMIT, deep_recursion
from models.references import uses_failures
from models.schema import (
    ConstantArrivals,
    Flow,
    InterarrivalArrivals,
    PoissonArrivals,
    ProfileArrivals,
    Scenario,
)

__all__ = [
    "Bottleneck",
    "PredictedCall",
    "PredictedFault",
    "PredictedFlow",
    "PredictedGroup",
    "PredictedLength",
    "PredictedService",
    "PredictedTime",
    "PredictedTopic",
    "Prediction",
    "Visits",
    "analyze",
]

METHOD = "queueing theory"


def flow_source(
    scenario: Scenario, name: str, flow: Flow, warnings: list[str]
) -> FlowSource | None:
    """How an open flow's requests arrive (None if no finite rate can be given)."""
    arrivals = flow.arrivals
    if isinstance(arrivals, PoissonArrivals):
        return FlowSource(arrivals.poisson, 1.0, POISSON)
    if isinstance(arrivals, ConstantArrivals):
        return FlowSource(arrivals.constant, 0.0, NOT_POISSON)
    if isinstance(arrivals, InterarrivalArrivals):
        gap = arrivals.interarrival
        if gap.mean <= 0:
            warnings.append(
                f"flow '{name}' has a mean interarrival time of 0: its arrival rate "
                f"is infinite and it is left out of the prediction"
            )
            return None
        flag = POISSON if isinstance(gap, Exponential) else NOT_POISSON
        return FlowSource(1.0 / gap.mean, min(gap.scv, LARGEST_SCV), flag)
    settings = scenario.simulation
    start, end = settings.warmup, settings.warmup + settings.duration
    if isinstance(arrivals, MmppArrivals):
        rate = arrivals.mmpp.mean_rate
        warnings.append(phases_warning(name, rate, None))
        return FlowSource(rate, 1.0, NOT_POISSON)
    if isinstance(arrivals, TraceArrivals):
        rate = arrivals.trace.count_between(start, end) / (end - start)
    elif isinstance(arrivals, SinusoidArrivals):
        rate = arrivals.sinusoid.integral(start, end) / (end - start)
    else:
        assert isinstance(arrivals, ProfileArrivals)
        rate = average_rate(arrivals, start, end)
    warnings.append(time_varying_warning(name, rate))
    return FlowSource(rate, 1.0, NOT_POISSON)


def time_varying_warning(name: str, rate: float, pieces: int | None = None) -> str:
    """What the prediction makes of a flow's time-varying rate: its average over the
    measured period, or (`pieces`) the period cut into pieces (`models.analysis.
    pointwise`), its capacity still measured against the average."""
    if pieces is None:
        return (
            f"flow '{name}' has a time-varying rate: predicted at its average over the "
            f"measured period, {rate:.4g}/s (a steady-state model cannot show the transient "
            f"backlog)"
        )
    return (
        f"flow '{name}' has a time-varying rate: predicted piece by piece ({pieces} pieces "
        f"of the measured period, each a steady state at its own rate; an overloaded "
        f"consumer group's or entry service's backlog is carried into the next by a fluid "
        f"model, a timeout storm taken as such; the transients between them are left "
        f"out), its capacity "
        f"against its average rate, {rate:.4g}/s"
    )


def _storm_report(scenario: Scenario, message: str) -> Prediction:
    """The prediction when the traffic equations have no finite solution: nothing is known
    but the structure (every value None, every entity unstable and not exact)."""
    method = "traffic equations diverge"
    unknown_time, unknown_length = PredictedTime(mean=None), PredictedLength(mean=None)
    flows = {
        name: PredictedFlow(
            arrival_rate=None,
            throughput=None,
            response_time=unknown_time,
            completion_time=unknown_time,
            max_throughput=None,
            headroom=None,
            method=method,
            exact=False,
            completion_exact=False,
            stable=False,
            visits=None,
        )
        for name in scenario.workload
    }
    services = {
        name: PredictedService(
            arrival_rate=None,
            throughput=None,
            utilization=None,
            loss_probability=None,
            p_wait=None,
            waiting_time=unknown_time,
            response_time=unknown_time,
            queue_length=unknown_length,
            in_system=unknown_length,
            method=method,
            exact=False,
            stable=False,
        )
        for name in scenario.services
    }
    topics = {
        name: PredictedTopic(
            publish_rate=None,
            groups={
                group: PredictedGroup(
                    throughput=None,
                    utilization=None,
                    p_wait=None,
                    lag=unknown_length,
                    waiting_time=unknown_time,
                    sojourn_time=unknown_time,
                    max_partition_utilization=None,
                    consumers=consumer_count(scenario, name, group),
                    method=method,
                    exact=False,
                    stable=False,
                )
                for group in topic.subscribers
            },
        )
        for name, topic in scenario.topics.items()
    }
    return Prediction(
        scenario=scenario.name,
        variant=scenario.variant_name,
        method=METHOD,
        bottleneck=None,
        flows=flows,
        services=services,
        topics=topics,
        warnings=[message],
    )


def analyze(scenario: Scenario, *, capacity: bool = True) -> Prediction:
    """Predict `scenario` by queueing theory: the predicted means, typed (`Prediction`;
    `to_dict()` gives the JSON document of docs/analysis.md).

    `capacity=False` leaves out what costs most — each flow's `max_throughput` (and so its
    `headroom`) and the `bottleneck`, found by solving the network at many loads — for
    callers that need only the means (the theory beside a simulation, a sweep's curves).

    Each flow, service and consumer group carries `method` and `exact`; the top level has
    the `bottleneck` (the first resource to saturate as the load grows) and `warnings`
    (unstable stations, approximations worth knowing). Pure and deterministic.

    A service autoscaled on utilization under a steady load, a rate profile or a sinusoid
    is predicted at the replicas its rule runs over the run (`models.analysis.fleet`).
    Its linear algebra runs on one BLAS thread (`models.blas_threads`).
    """
    with one_blas_thread():
        rules = predicted_rules(scenario)
        predicted = None
        if rules:
            predicted = predict_autoscaled(scenario, rules, capacity, _as_given, _flat_out_rate)
        return _as_given(scenario, capacity) if predicted is None else predicted


def _flat_out_rate(scenario: Scenario, name: str) -> float | None:
    """Requests per second service `name` serves flat out at the scenario's rates
    (`flat_out.flat_out_rate`); None with closed flows, or where that does not say."""
    _, sources, closed = _flows(scenario, [])
    if closed:
        return None
    with deep_recursion():
        return flat_out_rate(scenario, sources, name)


def _flows(
    scenario: Scenario, warnings: list[str]
) -> tuple[dict[str, FlowInfo], dict[str, FlowSource], list[str]]:
    """Every flow's info, the open flows' arrivals (`flow_source`, its warnings added to
    `warnings`) and the closed flows' names."""
    infos: dict[str, FlowInfo] = {}
    open_sources: dict[str, FlowSource] = {}
    closed: list[str] = []
    for name, flow in scenario.workload.items():
        if flow.clients is not None:
            closed.append(name)
            infos[name] = FlowInfo(None, closed=True)
            continue
        source = flow_source(scenario, name, flow, warnings)
        infos[name] = FlowInfo(source, closed=False)
        if source is not None:
            open_sources[name] = source
    return infos, open_sources, closed


def _as_given(scenario: Scenario, capacity: bool) -> Prediction:
    """`analyze` with every service at its given replicas (autoscaling not predicted)."""
    warnings: list[str] = []
    infos, open_sources, closed = _flows(scenario, warnings)
    try:
        with deep_recursion():  # (the walks go down long call chains: `models.recursion`)
            prediction = _analyze(scenario, open_sources, closed, infos, warnings, capacity)
    except MessageStormError as storm:
        return _storm_report(scenario, str(storm))
    except RecursionError:
        raise UnsimulatableError(
            f"{scenario.name}: its calls nest too deeply to analyse (more than "
            f"{RECURSION_LIMIT:,} Python frames)"
        ) from None
    exact_bursts(scenario, prediction)
    return prediction


def _analyze(
    scenario: Scenario,
    open_sources: dict[str, FlowSource],
    closed: list[str],
    infos: dict[str, FlowInfo],
    warnings: list[str],
    capacity: bool = True,
) -> Prediction:
    """Solve the closed flows, then the network with every flow's arrivals; report."""
    sources = dict(open_sources)
    solution = None
    if closed:
        result = solve_closed(scenario, open_sources, closed)
        for name in closed:
            throughput = result.throughputs[name]
            info = infos[name]
            info.method, info.exact = result.methods[name], result.exact[name]
            if throughput is None:
                warnings.append(
                    f"closed flow '{name}' has no think time and takes no time: its clients "
                    f"would loop without end (infinite throughput); it is left out"
                )
                continue
            clients = scenario.workload[name].clients
            assert clients is not None
            info.source = closed_source(throughput, clients)
            sources[name] = info.source
        solution = result.solution
    memo = SolveMemo()
    if solution is None:
        solution = solve_network(scenario, sources, memo=memo, throttle=Throttle())
        solution = shielded(scenario, sources, solution, memo)
    if not solution.converged:
        warnings.append(
            f"the layered fixed point did not converge in {solution.iterations} iterations; "
            f"the values are approximate"
        )
    completions = completion_times(scenario, solution)
    neck = None
    if capacity:
        limits = solve_capacity(scenario, sources, None if closed else solution, memo)
        for name in sources:
            infos[name].max_throughput = limits.max_throughput[name]
        neck = limits.bottleneck
    services = {
        name: service_report(scenario, solution, station, warnings)
        for name, station in solution.services.items()
    }
    topics: dict[str, PredictedTopic] = {}
    for topic_name, topic in scenario.topics.items():
        groups = {
            group: group_report(scenario, solution, solution.groups[(topic_name, group)], warnings)
            for group in topic.subscribers
        }
        published = solution.traffic.topic_rates.get(topic_name, 0.0)
        topics[topic_name] = PredictedTopic(publish_rate=published, groups=groups)
    failing = uses_failures(scenario)  # (as the simulation's results report failures)
    flows = {
        name: flow_report(scenario, solution, completions, name, infos[name], failing)
        for name in scenario.workload
    }
    warnings.extend(not_passed_on(scenario, solution, services, topics, flows))
    calls: dict[str, PredictedCall] | None = None
    faults: list[PredictedFault] | None = None
    if failing:  # (timeouts and retries alone: the calls table, nothing else changes)
        calls = calls_report(solution) or None
    if not scenario.faults and not closed:  # (time-varying rates: piece by piece)
        base = Documents(flows, services, topics, calls or {})
        pieces = pointwise(scenario, sources, infos, (solution, memo), base, failing)
        for name in varying_flows(scenario).keys() & sources.keys() if pieces else ():
            rate = sources[name].rate  # (its warning, from `flow_source`, as it stood)
            where = warnings.index(time_varying_warning(name, rate))
            warnings[where] = time_varying_warning(name, rate, pieces)
        phased = phase_by_phase(scenario, sources, infos, (solution, memo), base, failing)
        for name in phased.flows if phased is not None else ():  # (bursts: phase by phase)
            rate = sources[name].rate
            where = warnings.index(phases_warning(name, rate, None))
            warnings[where] = phases_warning(name, rate, phased)
    warnings.extend(autoscale_warnings(scenario, solution))
    if solution.failures.reports:
        if scenario.faults:
            faults, slowed, windows = fault_report(scenario, solution, sources, services, topics)
            over_regimes(
                Documents(flows, services, topics, calls or {}),
                [(share, _documents(scenario, w, infos, failing)) for share, w in windows],
                FLOW_MEANS,
            )
            _over_time(solution, flows, slowed)
            _approximate(flows, services, topics)
        warnings.extend(failure_warnings(scenario, solution, calls or {}))
    stormy = [fault for fault in faults or [] if "metastable" in fault.method]
    warnings.extend(_storm_warning(fault) for fault in stormy)
    if calls and not stormy:  # (a fault's storm is its own warning)
        warnings.extend(self_sustaining_storms(solution))
    first = bottleneck_report(solution, neck)
    if first is not None and first.kind == "service" and solution.failures.reports:
        first.utilization *= solution.failures.of(first.name).availability
    return Prediction(
        scenario=scenario.name,
        variant=scenario.variant_name,
        method=METHOD,
        bottleneck=first,
        flows=flows,
        services=services,
        topics=topics,
        warnings=warnings,
        calls=calls,
        faults=faults,
    )


def _documents(
    scenario: Scenario,
    regime: NetworkSolution | StormState,
    infos: dict[str, FlowInfo],
    failing: bool,
) -> Documents:
    """What the prediction reports of a fault's regime: a window's steady state, or a
    timeout storm (`models.analysis.storms`)."""
    if isinstance(regime, StormState):
        return storm_documents(scenario, regime, infos, failing)
    return documents_of(scenario, regime, infos, failing)


def _storm_warning(fault: PredictedFault) -> str:
    """What the prediction of a run makes of a fault that leaves a metastable overload."""
    start = (
        f"the {fault.kind} of '{fault.target}' may leave it in a metastable overload that "
        f"does not recover (see its entry in `faults`): "
    )
    if STORM_TO_THE_END in fault.method:  # (`models.analysis.storms`)
        return start + (
            "the means predicted for the run count the storm to its end (the service flat "
            "out, its waiting room full, the calls with a timeout failing)"
        )
    return start + "the success rate and the means predicted for the run do not account for it"


def _over_time(
    solution: NetworkSolution, flows: dict[str, PredictedFlow], slowed: dict[str, float]
) -> None:
    """With faults: each flow's success rate (and so throughput) averaged over the measured
    period, every period between window boundaries solved with its own failure constants
    (`models.analysis.network`), less what slowdowns and the storms after a window take
    (`slowed`, per flow: `models.analysis.outages`, `models.analysis.storms`)."""
    success = solution.success or {}
    for name, flow in flows.items():
        rate = success.get(name, flow.success_rate)
        if rate is None or (name not in success and not slowed.get(name)):
            continue
        flow.success_rate = max(rate - slowed.get(name, 0.0), 0.0)
        if flow.arrival_rate is not None:
            flow.throughput = flow.arrival_rate * flow.success_rate


def _approximate(
    flows: dict[str, PredictedFlow],
    services: dict[str, PredictedService],
    topics: dict[str, PredictedTopic],
) -> None:
    """With faults the steady state is an approximation: nothing is exact."""
    for flow in flows.values():
        flow.exact = flow.completion_exact = False
        if flow.success_exact is not None:
            flow.success_exact = False
    for service in services.values():
        service.exact = False
    for topic in topics.values():
        for group in topic.groups.values():
            group.exact = False
