"""The event load: the expected simulation events of one replication, against the budget.

Every step that takes time, arrival, think time, timeout, message delivery after a latency,
time-series sample and autoscaler decision is one event of the simpy calendar
(`estimate_events`); a run whose estimate is over the event budget, `DEFAULT_MAX_EVENTS`
unless `--max-events` says otherwise, is refused with the flow that makes most of it
(`event_problems`). Pure Python, no numpy.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from models.arrivals import MmppArrivals, SinusoidArrivals, TraceArrivals, TraceSpec
from models.budget.sizes import round_up, timeseries_samples
from models.budget.steps import Cost, Walker
from models.budget.topics import solve_topic_events, topic_graph
from models.errors import Problem
from models.faults import Crash
from models.schema import (
    ConstantArrivals,
    InterarrivalArrivals,
    PoissonArrivals,
    ProfileArrivals,
    Scenario,
)

DEFAULT_MAX_EVENTS = 200_000_000
"""Simulation events one replication may take (`--max-events`): at a few microseconds an
event, about ten minutes of CPU."""
SECONDS_PER_EVENT = 3e-6
"""Roughly what an event costs on a laptop core (for the messages only)."""


@dataclass(frozen=True)
class FlowLoad:
    """A flow's share of the events of one replication."""

    requests: float
    """Expected requests in one replication (warm-up included)."""
    per_request: float
    """Events per request: its arrival (or think time), its timed steps and those of the
    messages it causes, transitively."""
    arrival_events: float = 0.0
    """Events of the arrival process not counted per request (thinning candidates)."""

    @property
    def events(self) -> float:
        """The flow's expected events in one replication."""
        return self.requests * self.per_request + self.arrival_events


@dataclass(frozen=True)
class EventEstimate:
    """The expected simulation events of one replication."""

    flows: dict[str, FlowLoad]
    other: float
    """Time-series samples, autoscaler decisions, crashes and repairs."""
    end: float
    """Simulated seconds (warm-up and duration)."""

    @property
    def total(self) -> float:
        """Every event of one replication."""
        return self.other + sum(flow.events for flow in self.flows.values())


def estimate_events(scenario: Scenario) -> EventEstimate:
    """The expected number of simulation events of one replication of `scenario` (module
    docstring): exact for open flows in the engine's own terms when nothing fails or waits
    for a retry, an upper bound for closed flows (their throughput bounded by their clients
    and by the busiest service's workers)."""
    walker = Walker(scenario)
    settings = scenario.simulation
    end = settings.warmup + settings.duration
    bodies = {
        name: walker.steps(flow.body(), f"workload.{name}.steps")
        for name, flow in scenario.workload.items()
    }
    graph = topic_graph(scenario, walker, bodies.values())
    per_message = solve_topic_events(graph)
    flows = {}
    for name, body in bodies.items():
        per_request = 1.0 + body.events
        for topic, count in body.publishes.items():
            if count > 0:
                per_request += count * per_message.get(topic, 0.0)
        requests, arrival_events = _requests(scenario, name, body, end)
        flows[name] = FlowLoad(requests, per_request, arrival_events)
    other = float(timeseries_samples(scenario))
    for service in scenario.services.values():
        if service.autoscale is not None:
            other += end / service.autoscale.interval
    for spec in scenario.topics.values():
        for subscriber in spec.subscribers.values():
            if subscriber.autoscale is not None:
                other += end / subscriber.autoscale.interval
    for fault in scenario.faults:
        if isinstance(fault, Crash):
            cycle = fault.mtbf.mean + fault.mttr.mean
            replicas = scenario.services[fault.service].replicas
            other += replicas * 2 * end / cycle if cycle > 0 else math.inf
    return EventEstimate(flows, other, end)


def _requests(scenario: Scenario, name: str, body: Cost, end: float) -> tuple[float, float]:
    """The expected requests of flow `name` in [0, end), and the arrival process's events
    besides them."""
    flow = scenario.workload[name]
    arrivals = flow.arrivals
    if flow.clients is not None:
        return end * _closed_throughput(scenario, flow.clients, flow.think_time, body), 0.0
    if isinstance(arrivals, PoissonArrivals):
        return arrivals.poisson * end, 0.0
    if isinstance(arrivals, ConstantArrivals):
        return float(math.floor(arrivals.constant * end)), 0.0
    if isinstance(arrivals, InterarrivalArrivals):
        mean = arrivals.interarrival.mean
        return (end / mean if mean > 0 else math.inf), 0.0
    if isinstance(arrivals, ProfileArrivals):
        total = 0.0
        changes = arrivals.profile
        for position, change in enumerate(changes):
            stop = changes[position + 1].at if position + 1 < len(changes) else end
            total += change.rate * max(min(stop, end) - min(change.at, end), 0.0)
        return total, 0.0
    if isinstance(arrivals, MmppArrivals):
        return arrivals.mmpp.mean_rate * end, 0.0
    if isinstance(arrivals, TraceArrivals):
        return _trace_count(arrivals.trace, end), 0.0
    if isinstance(arrivals, SinusoidArrivals):
        spec = arrivals.sinusoid
        requests = spec.integral(0.0, end)
        return requests, max((spec.mean + spec.amplitude) * end - requests, 0.0)
    raise TypeError(f"unknown arrivals {type(arrivals).__name__}")


def _trace_count(trace: TraceSpec, end: float) -> float:
    """Arrivals a trace replays in [0, end) (pure Python: `TraceSpec.count_between` without
    numpy)."""
    times = [time / trace.speed for time in trace.times]
    within = bisect.bisect_left(times, end)
    if not trace.repeat:
        return float(within)
    length = times[-1]
    loops = math.floor(end / length)
    rest = end - loops * length
    return float(loops * len(times) + bisect.bisect_left(times, rest))


def _closed_throughput(scenario: Scenario, clients: int, think: object, body: Cost) -> float:
    """An upper bound of a closed flow's throughput: clients / (think time + the body's time
    without waiting), and workers / demand at every blocking service it holds."""
    think_mean = getattr(think, "mean", 0.0) if think is not None else 0.0
    cycle = think_mean + body.time
    bound = clients / cycle if cycle > 0 else math.inf
    for service_name, demand in body.demand.items():
        service = scenario.services[service_name]
        if demand <= 0 or isinstance(service.workers, str):
            continue
        replicas = service.autoscale.max if service.autoscale is not None else service.replicas
        bound = min(bound, replicas * service.workers / demand)
    return bound


def event_problems(scenario: Scenario, estimate: EventEstimate, limit: int) -> list[Problem]:
    """The event load against the budget: one problem, at the flow that makes the most."""
    total = estimate.total
    if total <= limit:
        return []
    busiest = max(estimate.flows.items(), key=lambda item: item[1].events, default=None)
    if busiest is None or estimate.other >= busiest[1].events:
        path = "simulation.sample_interval"
        detail = (
            f"{_count(estimate.other)} of them sampling the time series, deciding "
            f"autoscaling and crashing replicas"
        )
    else:
        name, load = busiest
        path = f"workload.{name}"
        detail = (
            f"this flow makes about {_count(load.requests)} requests in {estimate.end:g} s "
            f"(warm-up and duration), each about {load.per_request:.3g} events (its arrival, "
            f"its steps that take time and those of the messages it causes)"
        )
    raise_to = int(float(round_up(total * 1.5))) if math.isfinite(total) else 0
    return [
        Problem(
            path,
            f"the run would take about {_count(total)} simulation events per replication "
            f"({_cpu(total)} of CPU), more than the event budget of {limit:,}: {detail}; "
            f"shorten simulation.duration or lower the load, or raise the budget at run time "
            f"with --max-events {raise_to} (0: no limit)",
        )
    ]


def _count(value: float) -> str:
    """A large expected count for a person: three significant digits, with separators.

    >>> _count(60_012_345.6), _count(1234.5), _count(3.2e21)
    ('60,000,000', '1,230', '3.2e+21')
    """
    if not math.isfinite(value):
        return "infinitely many"
    if value >= 1e15:
        return f"{value:.3g}"
    return f"{round(float(f'{value:.3g}')):,}"


def _cpu(events: float) -> str:
    """Roughly how long `events` take, for a person."""
    if not math.isfinite(events):
        return "for ever"
    seconds = events * SECONDS_PER_EVENT
    if seconds < 1:
        return "under a second"
    if seconds < 120:
        return f"about {seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"about {seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"about {seconds / 3600:.0f} h"
    return f"about {seconds / 86400:.0f} days"
