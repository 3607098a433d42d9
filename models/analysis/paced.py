"""Consumer groups that never wait because one server paces what they receive.

A pool of one server holds one request at a time. If each of its requests spends at least
g seconds of its hold before it publishes to a topic (and publishes there at most once per
hold), two messages of that topic are at least g apart: the second request's hold starts
after the first one's ends. Any subsequence of such a stream (a log topic's partitions, a
consumer's share of them, the messages a `probability` lets through) is as far apart, and a
constant delivery latency shifts every message alike. A pool of k servers whose every hold
lasts at most k g then never has a request waiting: when message n arrives, message n - k
arrived at least k g before and has left (by induction, nobody waited), so at most k - 1
are in service (a sample-path argument, for any law, load or order of service; Loynes's
construction of the G/G/c queue, Loynes (1962), or the deterministic tandem of Friedman
(1965), "Reduction methods for tandem queuing systems", Oper. Res. 13(1)). With the
station's work constant, the two-moment formulas miss it: the departures of a single
server with constant work of 8 ms at 80% carry QNA's SCV of 0.36, and Allen-Cunneen gives
a second stage as fast 5.8 ms of waiting where it has none.

Where it applies (`paced_groups`), else the group's pool keeps its formula:

- the topic's messages all come from one pool of one server: a service with one replica
  and one worker (not autoscaled), or a consumer group of one consumer (not autoscaled);
  or from one flow's own steps, once per request, whose arrivals come at least some time
  apart (`constant`, or `interarrival` with a law whose lower end is above 0): then g is
  that time less how much the `work` and `delay` steps before the publish can vary (a
  load generator at a fixed rate publishing at once: g = 1 / rate);
- no step publishes more than one message (`count`), none inside a `parallel` step or a
  call's `fallback`, and the topic is no group's `dead_letter` topic;
- the gap g is the least time a hold spends before each publish to the topic, from the
  hold's start or the last publish to it: the lower ends of the `work` and `delay` laws
  before it (constant, uniform, Pareto and empirical laws have one above 0). A call lets
  the worker go where calls do not block (and is taken so for a consumer group), which
  starts a new hold;
- the topic's delivery latency is none or constant;
- the group's handler holds its consumer for at most k g (k its pool's servers: its
  threads on a queue topic, one per consumer on a log topic): `work`, `delay`, `publish`
  and `fail` steps and branches of them, whose laws have an upper end (constant, uniform,
  empirical); a failed message is not redelivered (`max_attempts: 1` or no `fail` step);
- the scenario has no faults (an outage or a slowdown piles messages up) and the group is
  not autoscaled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def publish_gaps(
    steps: Sequence[Step], topic: str, calls_release: bool, since: float = 0.0
) -> tuple[list[float], float] | None:
    """The least time since the hold's start or the last publish to `topic` at each publish
    to it in `steps`, and that time at their end, starting from `since`; None where the
    topic is published in a way that is not paced (several messages at once, in parallel)."""
    gaps: list[float] = []
    for step in steps:
        if isinstance(step, WorkStep):
            since += support(step.work)[0]
        elif isinstance(step, DelayStep):
            since += support(step.delay)[0]
        elif isinstance(step, CallStep):
            if step.call.fallback is not None and _publishes(step.call.fallback, topic):
                return None  # (published when the call fails: at any time)
            since = 0.0 if calls_release else since
        elif isinstance(step, PublishStep):
            if step.publish.topic == topic:
                if step.publish.count != 1:
                    return None
                gaps.append(since)
                since = 0.0
        elif isinstance(step, BranchStep):
            ends = []
            for option in step.branch:
                found = publish_gaps(option.steps, topic, calls_release, since)
                if found is None:
                    return None
                gaps.extend(found[0])
                ends.append(found[1])
            since = min(ends)
        elif isinstance(step, ParallelStep):
            if any(_publishes(branch, topic) for branch in step.parallel):
                return None
            since = 0.0 if calls_release else since
    return gaps, since


def _publishes(steps: list[Step], topic: str) -> bool:
    """Whether `steps` (nested ones and call fallbacks included) publish to `topic`."""
    return any(
        isinstance(step, PublishStep) and step.publish.topic == topic
        for _, step in walk_steps(steps, "")
    )


def longest_hold(steps: Sequence[Step]) -> tuple[float, bool]:
    """The longest a handler's `steps` hold its consumer (inf where a step has no bound: a
    call, a parallel step, an unbounded law), and whether they can fail."""
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


def flow_gap(flow: Flow, steps: list[Step], topic: str) -> float:
    """The least time between two messages of `topic` that a flow's own `steps` publish,
    one per request (0 where nothing paces them): the least time between its arrivals
    (`constant`: 1 / rate; `interarrival`: its law's lower end), less how much the time
    before the publish can vary (`work` and `delay` steps before it)."""
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
        elif isinstance(step, PublishStep) and step.publish.topic == topic:
            if step.publish.count != 1 or _publishes(steps[index + 1 :], topic):
                return 0.0
            return max(least - (longest - shortest), 0.0)
        elif not isinstance(step, PublishStep):
            return 0.0  # (a call, branch, parallel or fail step before it)
    return 0.0


def _single_server(scenario: Scenario, station: StationId) -> bool:
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


def topic_gap(scenario: Scenario, keys: Sequence[OpKey], topic: str) -> float:
    """The least time between two messages of `topic` (0 where nothing paces them)."""
    latency = scenario.topics[topic].delivery_latency
    if latency is not None and not isinstance(latency, Constant):
        return 0.0
    for spec in scenario.topics.values():
        if any(subscriber.dead_letter == topic for subscriber in spec.subscribers.values()):
            return 0.0  # (a group's failed messages come too, at any time)
    publishing = [key for key in keys if _publishes(steps_of(scenario, key), topic)]
    if len(publishing) == 1 and publishing[0].kind == "flow":
        (key,) = publishing
        return flow_gap(scenario.workload[key.name], steps_of(scenario, key), topic)
    publishers: set[StationId] = set()
    gap = math.inf
    for key in publishing:
        steps = steps_of(scenario, key)
        station = station_of(key)
        if station is None:
            return 0.0  # a flow's own steps beside a pool's: nothing paces the two together
        publishers.add(station)
        blocking = station.kind == "service" and scenario.services[station.name].blocking_calls
        found = publish_gaps(steps, topic, calls_release=not blocking)
        if found is None:
            return 0.0
        gap = min(gap, *found[0])
    if len(publishers) != 1 or not _single_server(scenario, next(iter(publishers))):
        return 0.0
    return gap if math.isfinite(gap) else 0.0


def paced_groups(scenario: Scenario, keys: Sequence[OpKey]) -> frozenset[tuple[str, str]]:
    """The (topic, group) pairs whose pools never have a message waiting (module
    docstring); `keys`: the nodes the flows reach (`graph.reachable`)."""
    if scenario.faults:
        return frozenset()
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
            gap = topic_gap(scenario, keys, topic_name) if gap is None else gap
            if gap > 0 and longest <= servers * gap:
                paced.add((topic_name, group))
    return frozenset(paced)
