"""Stations that never wait because one server (or a flow at a fixed pace) paces what
they receive.

A pool of one server holds one request at a time. If each of its requests spends at least
g seconds of its hold before it sends to a receiver (publishes to a topic, or calls a
service), once per hold, two sends are at least g apart: the second request's hold starts
after the first one's ends. Any part of such a stream (a log topic's partitions, a
consumer's share of them, a replica's share of the calls, what a `probability` lets
through) is as far apart, and a constant delivery latency shifts every message alike. A
pool of k servers whose every hold lasts at most k g then never has a request waiting:
when request n arrives, request n - k arrived at least k g before and has left (by
induction, nobody waited), so at most k - 1 are in service (a sample-path argument, for
any law, load or order of service; Loynes's construction of the G/G/c queue, Loynes
(1962), or the deterministic tandem of Friedman (1965), "Reduction methods for tandem
queuing systems", Oper. Res. 13(1)). With the station's work constant, the two-moment
formulas miss it: the departures of a single server with constant work of 8 ms at 80%
carry QNA's SCV of 0.36, and Allen-Cunneen gives a second stage as fast 5.8 ms of waiting
where it has none.

Where it applies (`pacing`), else the station keeps its formula:

- every send to the receiver comes from one pool of one server: a service with one replica
  and one worker (not autoscaled), or a consumer group of one consumer (not autoscaled);
  or from one flow's own steps (its `entry` call included), once per request, whose
  arrivals come at least some time apart (`constant`, or `interarrival` with a law whose
  lower end is above 0): then g is that time less how much the `work` and `delay` steps
  before the send can vary (a load generator at a fixed rate: g = 1 / rate);
- the gap g of a pool is the least time a hold spends before each send, from the hold's
  start or the last send: the lower ends of the `work` and `delay` laws before it
  (constant, uniform, Pareto and empirical laws have one above 0). A call lets the
  worker go where calls do not block (an event loop: `blocking_calls: false`; taken so
  for a consumer group too), which starts a new hold;
- every send is one: no `count` above 1, no retries, none inside a `parallel` step or a
  call's `fallback` (which runs when a call fails: at any time); the topic is no group's
  `dead_letter` topic and its delivery latency is none or constant;
- the station holds a server for at most k g (k its pool's servers: a consumer group's
  threads on a queue topic, one per consumer on a log topic; a service's workers, per
  replica unless `balancing: shared`): `work`, `delay`, `publish` and `fail` steps and
  branches of them, whose laws have an upper end (constant, uniform, empirical); a failed
  message is not redelivered (`max_attempts: 1` or no `fail` step);
- the scenario has no faults (an outage or a slowdown piles requests up) and the station
  is not autoscaled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from models.analysis.graph import (
    OpKey,
    StationId,
    consumer_count,
    consumer_threads,
    station_of,
    steps_of,
)
from models.distributions import Constant, Distribution, Pareto, Uniform
from models.empirical import Empirical
from models.references import walk_steps
from models.schema import (
    BranchStep,
    CallStep,
    ConstantArrivals,
    DelayStep,
    FailStep,
    Flow,
    InterarrivalArrivals,
    ParallelStep,
    PublishStep,
    Scenario,
    Step,
    WorkStep,
)


@dataclass(frozen=True)
class Receiver:
    """Where a stream goes: a topic (its messages) or a service (the calls to it); not
    `summary.Target`, which names one operation."""

    kind: Literal["topic", "service"]
    name: str


def support(law: Distribution) -> tuple[float, float]:
    """The least and the greatest value `law` takes (0 and inf where it has no bound)."""
    if isinstance(law, Constant):
        return law.value, law.value
    if isinstance(law, Uniform):
        return law.low, law.high
    if isinstance(law, Empirical):
        return min(law.values), max(law.values)
    if isinstance(law, Pareto):
        return law.scale, math.inf
    return 0.0, math.inf


def _sends(step: Step, receiver: Receiver) -> bool:
    """Whether `step` itself sends to `receiver` (a publish to the topic, a call to the
    service)."""
    if receiver.kind == "topic":
        return isinstance(step, PublishStep) and step.publish.topic == receiver.name
    return isinstance(step, CallStep) and step.call.service == receiver.name


def _one_at_a_time(step: Step) -> bool:
    """Whether a sending step sends once: one message (`count`), one attempt (no
    retries)."""
    if isinstance(step, PublishStep):
        return step.publish.count == 1
    assert isinstance(step, CallStep)
    return step.call.retries == 0


def sends_to(steps: list[Step], receiver: Receiver, beyond: Step | None = None) -> bool:
    """Whether `steps` (nested ones and call fallbacks included) send to `receiver`, the
    step `beyond` itself not counted."""
    return any(_sends(step, receiver) for _, step in walk_steps(steps, "") if step is not beyond)


def topics_sent(steps: list[Step]) -> frozenset[str]:
    """The topics `steps` (nested ones and call fallbacks included) publish to: `sends_to`
    for every topic at once (`Receiver("topic", name)` is sent to exactly when its name is
    in it)."""
    return frozenset(
        step.publish.topic for _, step in walk_steps(steps, "") if isinstance(step, PublishStep)
    )


def send_gaps(
    steps: list[Step], receiver: Receiver, calls_release: bool, since: float = 0.0
) -> tuple[list[float], float] | None:
    """The least time since the hold's start or the last send to `receiver` at each send to
    it in `steps`, and that time at their end, starting from `since`; None where `receiver`
    gets sends that are not paced (several at once, in parallel, retried, from a
    fallback, which runs when a call fails: at any time)."""
    gaps: list[float] = []
    for step in steps:
        fallback = step.call.fallback if isinstance(step, CallStep) else None
        if fallback is not None and sends_to(fallback, receiver):
            return None
        if isinstance(step, WorkStep):
            since += support(step.work)[0]
        elif isinstance(step, DelayStep):
            since += support(step.delay)[0]
        elif _sends(step, receiver):
            if not _one_at_a_time(step):
                return None
            gaps.append(since)
            since = 0.0
        elif isinstance(step, CallStep):
            since = 0.0 if calls_release else since
        elif isinstance(step, BranchStep):
            ends = []
            for option in step.branch:
                found = send_gaps(option.steps, receiver, calls_release, since)
                if found is None:
                    return None
                gaps.extend(found[0])
                ends.append(found[1])
            since = min(ends)
        elif isinstance(step, ParallelStep):
            if any(sends_to(branch, receiver) for branch in step.parallel):
                return None
            since = 0.0 if calls_release else since
    return gaps, since


def longest_hold(steps: Sequence[Step]) -> tuple[float, bool]:
    """The longest `steps` hold a server (inf where a step has no bound: a call, a parallel
    step, an unbounded law), and whether they can fail."""
    total, fails = 0.0, False
    for step in steps:
        if isinstance(step, WorkStep):
            total += support(step.work)[1]
        elif isinstance(step, DelayStep):
            total += support(step.delay)[1]
        elif isinstance(step, FailStep):
            fails = fails or step.fail > 0
        elif isinstance(step, BranchStep):
            options = [longest_hold(option.steps) for option in step.branch]
            total += max(longest for longest, _ in options)
            fails = fails or any(fail for _, fail in options)
        elif not isinstance(step, PublishStep):
            return math.inf, fails
    return total, fails


def flow_gap(flow: Flow, steps: list[Step], receiver: Receiver) -> float:
    """The least time between two sends to `receiver` from a flow's own `steps`, one per
    request (0 where nothing paces them): the least time between its arrivals (`constant`:
    1 / rate; `interarrival`: its law's lower end), less how much the time before the send
    can vary (`work` and `delay` steps before it)."""
    arrivals = flow.arrivals
    if isinstance(arrivals, ConstantArrivals):
        least = 1.0 / arrivals.constant
    elif isinstance(arrivals, InterarrivalArrivals):
        least = support(arrivals.interarrival)[0]
    else:
        return 0.0
    shortest = longest = 0.0
    for index, step in enumerate(steps):
        if isinstance(step, WorkStep | DelayStep):
            low, high = support(step.work if isinstance(step, WorkStep) else step.delay)
            shortest, longest = shortest + low, longest + high
        elif _sends(step, receiver):
            if not _one_at_a_time(step) or sends_to(steps[index:], receiver, beyond=step):
                return 0.0  # (several a request: another step, or its own fallback)
            return max(least - (longest - shortest), 0.0)
        elif not isinstance(step, PublishStep):
            return 0.0  # (a call, branch, parallel or fail step before it)
    return 0.0


def single_server(scenario: Scenario, station: StationId) -> bool:
    """Whether `station` is one server that the scenario never scales."""
    if station.kind == "service":
        service = scenario.services[station.name]
        return service.replicas == 1 and service.workers == 1 and service.autoscale is None
    subscriber = scenario.topics[station.name].subscribers[station.group]
    if subscriber.autoscale is not None or scenario.services[station.group].autoscale:
        return False
    return consumer_count(scenario, station.name, station.group) == 1 and (
        consumer_threads(scenario, station.name, station.group) == 1
        or scenario.topics[station.name].type == "log"
    )


def stream_gap(scenario: Scenario, keys: Sequence[OpKey], receiver: Receiver) -> float:
    """The least time between two sends to `receiver` (0 where nothing paces them)."""
    if receiver.kind == "topic":
        latency = scenario.topics[receiver.name].delivery_latency
        if latency is not None and not isinstance(latency, Constant):
            return 0.0
        for spec in scenario.topics.values():
            if any(group.dead_letter == receiver.name for group in spec.subscribers.values()):
                return 0.0  # (a group's failed messages come too, at any time)
    sending = [key for key in keys if sends_to(steps_of(scenario, key), receiver)]
    if len(sending) == 1 and sending[0].kind == "flow":
        (key,) = sending
        return flow_gap(scenario.workload[key.name], steps_of(scenario, key), receiver)
    senders: set[StationId] = set()
    gap = math.inf
    for key in sending:
        station = station_of(key)
        if station is None:
            return 0.0  # a flow's own steps beside a pool's: nothing paces the two together
        senders.add(station)
        blocking = station.kind == "service" and scenario.services[station.name].blocking_calls
        found = send_gaps(steps_of(scenario, key), receiver, calls_release=not blocking)
        if found is None:
            return 0.0
        gap = min(gap, *found[0])
    if len(senders) != 1 or not single_server(scenario, next(iter(senders))):
        return 0.0
    return gap if math.isfinite(gap) else 0.0


ROUNDING = 1e-9
"""Relative slack of `keeps_up`: a hold equal to the gap, as sums of times in floating
point (1 / 266.67 less 1.25 ms against 2.5 ms) that differ in the last digits."""


def keeps_up(longest: float, servers: int, gap: float) -> bool:
    """Whether `servers` whose every hold lasts at most `longest` keep up with arrivals at
    least `gap` apart (module docstring), to `ROUNDING`."""
    return gap > 0 and longest <= servers * gap * (1.0 + ROUNDING)


@dataclass(frozen=True)
class Pacing:
    """The stations that one server (or a flow at a fixed pace) paces."""

    groups: frozenset[tuple[str, str]] = frozenset()
    """(topic, group) pairs that never have a message waiting."""
    services: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Per service whose calls are paced: (the least time between them, its longest hold)."""

    def paces(self, service: str, servers: int | None) -> bool:
        """Whether a pool of `servers` of `service` never has a request waiting."""
        bound = self.services.get(service)
        return bound is not None and servers is not None and keeps_up(bound[1], servers, bound[0])


def pacing(scenario: Scenario, keys: Sequence[OpKey]) -> Pacing:
    """What one server paces (module docstring); `keys`: the nodes the flows reach
    (`graph.reachable`)."""
    if scenario.faults:
        return Pacing()
    return Pacing(_paced_groups(scenario, keys), _paced_services(scenario, keys))


def _paced_groups(scenario: Scenario, keys: Sequence[OpKey]) -> frozenset[tuple[str, str]]:
    paced: set[tuple[str, str]] = set()
    for topic_name, topic in scenario.topics.items():
        gap: float | None = None  # (found for the first group that could use it)
        for group, subscriber in topic.subscribers.items():
            handler = OpKey("handler", topic_name, group, 0)
            longest, fails = longest_hold(steps_of(scenario, handler))
            if fails and subscriber.max_attempts > 1:
                continue
            if subscriber.autoscale is not None or scenario.services[group].autoscale:
                continue
            servers = consumer_threads(scenario, topic_name, group) if topic.type == "queue" else 1
            if not math.isfinite(longest):
                continue
            if gap is None:
                gap = stream_gap(scenario, keys, Receiver("topic", topic_name))
            if gap > 0 and keeps_up(longest, servers, gap):
                paced.add((topic_name, group))
    return frozenset(paced)


def _paced_services(scenario: Scenario, keys: Sequence[OpKey]) -> dict[str, tuple[float, float]]:
    paced: dict[str, tuple[float, float]] = {}
    for name, service in scenario.services.items():
        if service.autoscale is not None or service.workers == "unlimited":
            continue
        longest = max(longest_hold(steps)[0] for steps in service.operations.values())
        if not math.isfinite(longest):
            continue
        gap = stream_gap(scenario, keys, Receiver("service", name))
        if gap > 0:
            paced[name] = (gap, longest)
    return paced
