"""Fault windows: the backlog a window leaves and the time to drain it (a fluid model), and
the requests it fails (the operations evaluated as they are during the window).

**Fluid model.** Over a window of length T a part of the system (a service's worker pool,
one consumer of a group) receives work at rate lambda_w and serves it at rate at most
mu_w; at its steady-state rates lambda < mu it drains (mu is the time-average capacity,
with crashes; in the window the replicas that are up serve at full speed). Treating work
as a fluid (conservation of work; the deterministic fluid approximation of a queue, Newell,
"Applications of Queueing Theory", 2nd ed. (1982), ch. 2; Kleinrock, "Queueing Systems"
vol. 2 (1976), ch. 2), what piles up in the window and the time to drain it after are

    excess = max(0, lambda_w - mu_w) x T,      drain = excess / (mu - lambda).

An outage gives mu_w = 0 for what it stops (consumers of the replicas that are down, every
consumer of a topic whose broker is down): excess = lambda T; a service's requests that
find no replica up fail at once and pile up nowhere (a synchronous chain loses them
instead). Part of the replicas down leaves mu_w = mu (n - k) / n. A slowdown or an error
burst is solved as a steady state of its own (`solve_network` with the window's constants:
`work` steps f times longer, or the burst's error probability and the retries it causes):
lambda_w and mu_w are that solution's, and a window that is stable at a higher load adds
its own extra backlog (its mean in-system above the normal one; a full waiting room
drops the rest). The fault's backlog (as the simulator measures it: requests present at
the target service plus the lag of its consumer groups, or the lag of the topic's groups)
peaks at the steady-state backlog plus the sum of the excesses (a service with every
replica down holds no request: they fail at once, and it restarts empty), and recovers when
the slowest part has drained: the maximum of the drains (a log topic's consumers each drain
their own partitions, partition p being on consumer p mod n, so an unevenly loaded consumer
is the slowest). A random crash is one replica down for a mean time mttr, per window
(E[max(0, lambda_w - mu_w) T] = max(0, lambda_w - mu_w) E[T]), averaged over the replicas;
the expected number of windows in the measured period is replicas x duration / (mtbf +
mttr) (the renewal rate of each replica).

**Metastability.** When the callers of the target retry on a timeout, the backlog Q left
by the window makes a new attempt wait about Q / mu; beyond the timeout every attempt fails
and is retried, r + 1 attempts per call, each still costing the service its work. If those
attempts reach the capacity (lambda (r + 1) >= mu for the calls with a timeout) the backlog
never drains: a metastable failure (Bronson et al., "Metastable failures in distributed
systems", HotOS 2021); the recovery time is then None, and the storm fails the calls with
a timeout to the service from the window's end to the end of the run
(`models.analysis.storms`; not where a circuit breaker, not modelled, may shed them).

**Failed requests.** The operations are summarised again with the failure constants of the
window (the target refusing every attempt, or failing with the burst's probability) and of
normal operation; a flow of rate lambda_f whose failure probability rises by Delta_f loses
sum_f lambda_f Delta_f (T + W) requests, W the target's mean response time for an outage
(the requests in progress there when it goes down fail too), 0 for an error burst. For a
synchronous chain through the target without retries or fallbacks, Delta = 1: lambda T. A
slowdown fails requests through the calls to the target that time out: Delta is read from
the window's own steady state (its flows' failure probabilities), and each flow's success
rate over the measured period loses Delta times the window's share of it
(`FaultReport.slowed`). Where the window overloads the service behind calls with a
timeout, they all fail from the storm's onset (`models.analysis.storms`). The window's
edges (the queue building up, draining) are left out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from models.analysis.failures import measured_overlap, normal_inputs, with_changes
from models.analysis.graph import flow_key, handler_keys
from models.analysis.network import (
    FlowSource,
    GroupStation,
    NetworkSolution,
    solve_network,
)
from models.analysis.prediction import PredictedFault, PredictedService, PredictedTopic
from models.analysis.regimes import Regime, evaluate
from models.analysis.report_stations import service_report
from models.analysis.storms import (
    Metastable,
    StormState,
    metastable,
    standing_storm,
    window_storm,
)
from models.faults import Crash, ErrorBurst, ServiceOutage, Slowdown, TopicOutage
from models.schema import Scenario

FLUID = "fluid model: excess max(0, lambda_w - mu_w) T, drained at mu - lambda"


@dataclass(frozen=True)
class _Part:
    """One server pool or consumer during a window (module docstring), rates in runs of
    its operations per second."""

    arrival: float
    capacity: float
    window_arrival: float
    window_capacity: float
    runs: float = 1.0
    """Runs per request or message (handler retries): the backlog counts messages."""
    extra: float = 0.0
    """Backlog above the steady state that the window's own steady state holds (a stable
    window at a higher load)."""

    def excess(self, length: float) -> float:
        """What piles up in the window (requests or messages)."""
        rate = max(0.0, self.window_arrival - self.window_capacity)
        return rate * length / self.runs + self.extra

    def drain(self, length: float) -> float | None:
        excess = self.excess(length) * self.runs
        if excess <= 0:
            return 0.0
        if self.capacity <= self.arrival:
            return None
        return excess / (self.capacity - self.arrival)


@dataclass(frozen=True)
class _Effect:
    """What a window does to one service or topic."""

    length: float
    stopped: frozenset[int] | None = None
    """Replicas down (None: none); all of them for a service refuses its requests."""
    window: NetworkSolution | None = None
    """The steady state of the window (a slowdown, an error burst), solved on its own."""


def _service_parts(
    scenario: Scenario, solution: NetworkSolution, name: str, effect: _Effect
) -> list[_Part]:
    station = solution.services[name]
    result = station.solution
    arrival = result.arrival_rate * station.pools
    if arrival <= 0:
        return []
    servers = station.load.servers
    capacity = result.capacity(servers) * station.pools
    if effect.window is not None:
        during = effect.window.services[name]
        offered = during.solution.arrival_rate * during.pools
        window_capacity = during.solution.capacity(servers) * during.pools
        window_arrival = offered * (1.0 - during.solution.loss)  # (a full room drops the rest)
        extra = 0.0
        if during.solution.stable:
            before = service_report(scenario, solution, station, []).in_system.mean
            after = service_report(scenario, effect.window, during, []).in_system.mean
            extra = max((after or 0.0) - (before or 0.0), 0.0)
        return [_Part(arrival, capacity, window_arrival, window_capacity, extra=extra)]
    replicas = scenario.services[name].replicas
    down = len(effect.stopped or ())
    window_arrival = 0.0 if down >= replicas else arrival  # (refused at once: no pile-up)
    nominal = capacity / solution.failures.of(name).availability  # (every replica up)
    return [_Part(arrival, capacity, window_arrival, nominal * (replicas - down) / replicas)]


def _group_parts(
    scenario: Scenario, solution: NetworkSolution, station: GroupStation, effect: _Effect
) -> list[_Part]:
    topic = scenario.topics[station.topic]
    subscriber = topic.subscribers[station.group]
    members = handler_keys(solution.keys, station.topic, station.group)
    parts = []
    stopped = effect.stopped or frozenset()
    replicas = scenario.services[station.group].replicas
    availability = solution.failures.of(station.group).availability
    messages = solution.traffic.topic_rates.get(station.topic, 0.0)
    total = math.fsum(solution.traffic.rates.get(k, 0.0) for k in members)
    runs = total / messages if messages > 0 and total > 0 else 1.0
    during = None
    if effect.window is not None:
        during = effect.window.groups[(station.topic, station.group)].consumers
    for index, (load, result) in enumerate(station.consumers):
        arrival = result.arrival_rate
        if arrival <= 0:
            continue
        capacity = result.capacity(load.servers)
        if during is not None:
            window_load, window_result = during[index]
            window = window_result.capacity(window_load.servers)
            parts.append(_Part(arrival, capacity, window_result.arrival_rate, window, runs))
            continue
        if topic.type == "log":
            up = 0.0 if index // subscriber.concurrency in stopped else 1.0
        else:
            up = (replicas - len(stopped)) / replicas
        parts.append(_Part(arrival, capacity, arrival, capacity / availability * up, runs))
    return parts


def _groups_of(solution: NetworkSolution, service: str) -> list[GroupStation]:
    return [station for (_, group), station in solution.groups.items() if group == service]


def _present(
    name: str | None,
    groups: Sequence[GroupStation],
    services: Mapping[str, PredictedService],
    topics: Mapping[str, PredictedTopic],
) -> float | None:
    """The steady-state backlog: requests at the service plus its groups' lag."""
    total = 0.0
    if name is not None and services[name].arrival_rate:
        present = services[name].in_system.mean
        if present is None:
            return None
        total += present
    for station in groups:
        lag = topics[station.topic].groups[station.group].lag.mean
        if lag is None:
            return None
        total += lag
    return total


def _figures(
    parts_by_case: Sequence[list[_Part]], length: float, present: float | None
) -> tuple[float | None, float | None]:
    """(backlog peak, recovery time) averaged over equally likely cases (crashes: which
    replica is down)."""
    peaks, drains = [], []
    for parts in parts_by_case:
        peaks.append(math.fsum(part.excess(length) for part in parts))
        times = [part.drain(length) for part in parts]
        drains.append(None if None in times else max((t or 0.0 for t in times), default=0.0))
    peak = None if present is None else present + math.fsum(peaks) / len(peaks)
    if any(d is None for d in drains):
        return peak, None
    return peak, math.fsum(d or 0.0 for d in drains) / len(drains)


class _FaultReport:
    """Builds the `faults` list of a prediction."""

    def __init__(
        self,
        scenario: Scenario,
        solution: NetworkSolution,
        sources: Mapping[str, FlowSource],
        services: Mapping[str, PredictedService],
        topics: Mapping[str, PredictedTopic],
    ) -> None:
        self.scenario = scenario
        self.solution = solution
        self.sources = sources
        self.services = services
        self.topics = topics
        self.normal_inputs = normal_inputs(solution.failures)
        self.normal = evaluate(scenario, solution, sources, self.normal_inputs)
        self.slowed: dict[str, float] = dict.fromkeys(sources, 0.0)
        """Per flow: the success rate over the measured period that slowdowns and the
        storms after a window take."""
        self.windows: list[tuple[float, NetworkSolution | StormState]] = []
        """The regimes other than normal operation, with their shares of the measured
        period (`models.analysis.quasi_static`): the slowdown windows that their steady
        state describes, and the timeout storms (`models.analysis.storms`)."""

    def failed(
        self,
        service: str,
        changes: Mapping[str, float],
        length: float,
        baseline: Mapping[str, float] | None = None,
    ) -> float | None:
        """Requests failed over `length` seconds with `changes` to the service's constants,
        compared with normal operation (with `baseline` changes: a crash's window is
        compared with every replica up)."""
        regime = self.window(service, changes)
        normal = self.normal if baseline is None else self.window(service, baseline)
        if regime is None or normal is None:
            return None
        extra = math.fsum(
            self.sources[name].rate * max(regime.fails[name] - normal.fails[name], 0.0)
            for name in self.sources
        )
        return extra * length

    def window(self, service: str, changes: Mapping[str, float]) -> Regime | None:
        inputs = with_changes(self.normal_inputs, service, **changes)
        return evaluate(self.scenario, self.solution, self.sources, inputs)

    def response(self, service: str) -> float:
        mean = self.services[service].response_time.mean
        return mean if mean is not None else 0.0

    def service_fault(self, fault: ServiceOutage | Crash | Slowdown | ErrorBurst) -> PredictedFault:
        name = fault.service
        replicas = self.scenario.services[name].replicas
        groups = _groups_of(self.solution, name)
        failures: float | None = None
        notes: list[str] = []
        if isinstance(fault, Crash):
            length = fault.mttr.mean
            cases = [_Effect(length, stopped=frozenset({r})) for r in range(replicas)]
            if replicas == 1:
                failures = self.failed(
                    name,
                    {"unavailable": 1.0},
                    length + self.response(name),
                    baseline={"unavailable": 0.0},
                )
            notes.append("one replica down for mttr per window, averaged over the replicas")
        elif isinstance(fault, ServiceOutage):
            length = fault.for_
            down = min(fault.replicas or replicas, replicas)
            cases = [_Effect(length, stopped=frozenset(range(down)))]
            if down >= replicas:
                failures = self.failed(name, {"unavailable": 1.0}, length + self.response(name))
            else:
                notes.append("requests in progress on the replicas that go down not counted")
        elif isinstance(fault, Slowdown):
            length = fault.for_
            window = self.solved(name, {"slowdown": fault.factor})
            cases = [_Effect(length, window=window)]
            notes.append("the window solved as a steady state of its own")
        else:
            length = fault.for_
            base = self.normal_inputs.of(name).errors
            errors = 1.0 - (1.0 - base) * (1.0 - fault.probability)
            failures = self.failed(name, {"errors": errors}, length)
            cases = [_Effect(length, window=self.solved(name, {"errors": errors}))]
            notes.append("the window solved as a steady state of its own")
        parts = [
            _service_parts(self.scenario, self.solution, name, effect)
            + [
                part
                for station in groups
                for part in _group_parts(self.scenario, self.solution, station, effect)
            ]
            for effect in cases
        ]
        # a service with every replica down holds no request (they fail at once), and
        # restarts empty: its own steady-state backlog is not part of the peak
        everything = all(len(effect.stopped or ()) >= replicas for effect in cases)
        present = _present(None if everything else name, groups, self.services, self.topics)
        peak, recovery = _figures(parts, length, present)
        if isinstance(fault, Slowdown):
            failures = self.slowdown_failures(fault, cases[0].window, parts[0])
        if not everything and not isinstance(fault, Crash):
            found = self.metastable(name, parts[0], length)
            if found is not None:
                recovery = None
                notes.append(found.note)
                after = self.storm_after(fault, found)
                if after is not None and failures is not None:
                    failures += after
        windows = None
        if isinstance(fault, Crash):
            cycle = fault.mtbf.mean + fault.mttr.mean
            duration = self.scenario.simulation.duration
            windows = replicas * duration / cycle if cycle > 0 else 0.0
        return PredictedFault(
            target=name,
            kind=fault.kind,
            at=None if isinstance(fault, Crash) else fault.at,
            for_=None if isinstance(fault, Crash) else fault.for_,
            windows=windows,
            backlog_peak=peak,
            recovery_time=recovery,
            failures=failures,
            method="; ".join([FLUID, *notes]),
            exact=False,
        )

    def slowdown_failures(
        self, fault: Slowdown, window: NetworkSolution | None, pool: Sequence[_Part]
    ) -> float | None:
        """The requests a slowdown fails (module docstring), its share of each flow's
        success over the measured period added to `slowed` (None without normal regime),
        and the window (its steady state, or the storm's from its onset) to `windows`.
        Where the window overloads the service behind calls with a timeout, a timeout
        storm (`models.analysis.storms`) fails them from its onset on."""
        if self.normal is None or window is None:
            return None
        name = fault.service
        rises = {
            flow: window.summaries[flow_key(self.scenario, flow)].fail - self.normal.fails[flow]
            for flow in self.sources
        }
        onset, storm = 0.0, None
        if pool:
            inputs = with_changes(self.normal_inputs, name, slowdown=fault.factor)
            found = window_storm(
                self.scenario,
                self.solution,
                window,
                self.sources,
                inputs,
                name,
                pool[0].window_capacity,
                fault.for_,
            )
            if found is not None:
                onset, storm, state = found
                self.windows.append((self.share(fault.at + onset, fault.end), state))
        if storm is None and window.converged and not window.saturated():
            self.windows.append((self.share(fault.at, fault.end), window))
        lost = 0.0
        for flow, source in self.sources.items():
            rise = max(rises[flow], 0.0)  # (the window's steady state)
            if storm is not None:  # (normal until the onset, then the storm)
                rise = max(storm.fails[flow] - self.normal.fails[flow], 0.0)
            self.slowed[flow] += self.share(fault.at + onset, fault.end) * rise
            lost += source.rate * rise * (fault.for_ - onset)
        return lost

    def storm_after(
        self, fault: ServiceOutage | Slowdown | ErrorBurst, found: Metastable
    ) -> float | None:
        """A metastable storm's failures from the window's end to the end of the run (the
        service holding its backlog: `models.analysis.storms`), its share of each flow's
        success added to `slowed`; None (and no share) with a circuit breaker on the calls,
        which may end it, or without a normal regime."""
        if found.storm.breaker or self.normal is None:
            return None
        where = (fault.service, found.backlog, found.capacity)
        inputs = self.normal_inputs
        stormy = standing_storm(
            self.scenario, self.solution, self.sources, inputs, found.storm, where
        )
        if stormy is None:
            return None
        storm, state = stormy
        settings = self.scenario.simulation
        last = settings.warmup + settings.duration
        lost = 0.0
        for flow, source in self.sources.items():
            rise = max(storm.fails[flow] - self.normal.fails[flow], 0.0)
            self.slowed[flow] += self.share(fault.end, last) * rise
            lost += source.rate * rise * max(last - fault.end, 0.0)
        self.windows.append((self.share(fault.end, last), state))
        return lost

    def share(self, start: float, end: float) -> float:
        """The share of the measured period in [start, end]."""
        overlap = measured_overlap(self.scenario, start, end)
        return overlap / self.scenario.simulation.duration

    def solved(self, service: str, changes: Mapping[str, float]) -> NetworkSolution:
        """The network solved in a window: normal operation with `changes` to the
        constants of `service`."""
        inputs = with_changes(self.normal_inputs, service, **changes)
        return solve_network(self.scenario, self.sources, inputs=inputs)

    def metastable(self, name: str, parts: Sequence[_Part], length: float) -> Metastable | None:
        """`storms.metastable` of the backlog left by the window (None: it drains)."""
        present = self.services[name].in_system.mean
        requests = self.solution.services[name].solution.arrival_rate > 0
        if not parts or present is None or not requests:
            return None
        pool = parts[0]  # (the service's own pool comes first)
        return metastable(self.solution, name, present + pool.excess(length), pool.capacity)

    def topic_fault(self, fault: TopicOutage) -> PredictedFault:
        groups = [s for (topic, _), s in self.solution.groups.items() if topic == fault.topic]
        present = _present(None, groups, self.services, self.topics)
        stopped = _Effect(fault.for_)
        parts = []
        for station in groups:
            for part in _group_parts(self.scenario, self.solution, station, stopped):
                parts.append(dataclasses.replace(part, window_capacity=0.0))
        peak, recovery = _figures([parts], fault.for_, present)
        return PredictedFault(
            target=fault.topic,
            kind=fault.kind,
            at=fault.at,
            for_=fault.for_,
            backlog_peak=peak,
            recovery_time=recovery,
            method=f"{FLUID}; messages published in the window delivered at its end",
            exact=False,
        )


def fault_report(
    scenario: Scenario,
    solution: NetworkSolution,
    sources: Mapping[str, FlowSource],
    services: Mapping[str, PredictedService],
    topics: Mapping[str, PredictedTopic],
) -> tuple[
    list[PredictedFault], dict[str, float], list[tuple[float, NetworkSolution | StormState]]
]:
    """One entry per fault of the scenario, in its order (module docstring), per flow the
    success rate over the measured period that its slowdowns and storms take, and the
    regimes other than normal operation (`_FaultReport.windows`)."""
    report = _FaultReport(scenario, solution, sources, services, topics)
    entries = []
    for fault in scenario.faults:
        if isinstance(fault, TopicOutage):
            entries.append(report.topic_fault(fault))
        else:
            entries.append(report.service_fault(fault))
    return entries, report.slowed, report.windows
