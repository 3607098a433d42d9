"""Requests that arrive together: parallel calls to one service, messages published at once.

A `parallel` step starts all its branches at the same instant, so branches that begin with a
call to the same service (publishes before it take no time) send that service a group of
requests at once: a scatter-gather over one database, a page that fetches three items from
one store. Where the service's pool has few servers, the later ones in line wait for the
earlier ones, which Poisson arrivals at the same rate never do (`models.theory.mxmc`).

Publishing takes no time either: a `publish` step with `count: 3`, or publishes to one
topic one after the other, put their messages on the topic at the same instant; so does a
callee whose operation ends by publishing one message, and a caller held through the call
that publishes to that topic as the reply comes (`_last_message`).

What is found: for each service (`fan_outs`), every operation with a `parallel` step among
its own steps (not under a `branch`) whose branches open with calls to it, two at least,
the group's size the sum of the branches' draws (each call made with its probability); for
each topic (`publish_groups`), every run of publishes to it among an operation's own steps
with nothing that takes time between them, two messages or more, each step putting its
`count` with its probability. What is built from it (`arrival_groups`): the sizes of the
groups a pool's requests arrive in, and how often each size comes, every other request
arriving alone. Assumptions: a group stays whole only in one pool (one replica, or shared
balancing; a queue topic's consumers, with no random delivery latency), or part of it
where each member goes its own way (replicas picked at random, partitions drawn); a branch's
opening call passes through services with unlimited workers to the call they open with; a
call made after some work, or through a pool that can make it wait, arrives on its own
(the work or the wait spreads the group out: not counted); the groups are as Poisson only
where the executions sending them seldom reach their bound (`seldom_bound`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from models.analysis.bounds import CallerBounds
from models.analysis.graph import OpKey, fixed_partition, steps_of
from models.analysis.summary import OperationSummary
from models.analysis.traffic import default_partition_shares
from models.schema import CallStep, ParallelStep, PublishStep, Scenario, Step, WorkStep
from models.theory import erlang_b

BOUND_REACHED = 1e-3
"""A fan-out's groups count where the executions sending them reach their bound less often
than this (`seldom_bound`)."""


@dataclass(frozen=True)
class FanOut:
    """Requests that one execution of operation `source` sends at once: the distribution of
    their number, (size, probability) for each size (0: none sent)."""

    source: OpKey
    sizes: tuple[tuple[int, float], ...]
    key: str | int | None = None
    """Messages: the fixed key they all carry (one partition); None: each draws its own."""
    spread: float = 0.0
    """The mean work each member does elsewhere before it arrives (0: all at once;
    `spread_calls`)."""


@dataclass(frozen=True)
class Senders:
    """Every place that sends groups at once: per service (`fan_outs`) and per topic
    (`publish_groups`)."""

    services: dict[str, tuple[FanOut, ...]]
    topics: dict[str, tuple[FanOut, ...]]


def senders(scenario: Scenario, keys: Sequence[OpKey]) -> Senders:
    """`fan_outs` and `publish_groups` of the operations `keys`."""
    return Senders(fan_outs(scenario, keys), publish_groups(scenario, keys))


def fan_outs(scenario: Scenario, keys: Sequence[OpKey]) -> dict[str, tuple[FanOut, ...]]:
    """Per called service, the parallel steps that call it with two branches or more."""
    found: dict[str, list[FanOut]] = defaultdict(list)
    for key in keys:
        for step in steps_of(scenario, key):
            if not isinstance(step, ParallelStep):
                continue
            openings: dict[str, list[float]] = defaultdict(list)
            for branch in step.parallel:
                opening = _opening_call(scenario, branch)
                if opening is not None:
                    openings[opening[0]].append(opening[1])
            for service, probabilities in openings.items():
                if len(probabilities) >= 2:
                    draws = [_bernoulli(p) for p in probabilities]
                    found[service].append(FanOut(key, _sum_of(draws)))
            for service, spread in spread_calls(scenario, step.parallel).items():
                if len(spread) >= 2:
                    draws = [_bernoulli(p) for p, _ in spread]
                    mean = math.fsum(w for _, w in spread) / len(spread)
                    found[service].append(FanOut(key, _sum_of(draws), spread=mean))
    return {service: tuple(steps) for service, steps in found.items()}


def spread_calls(
    scenario: Scenario, branches: Sequence[Sequence[Step]]
) -> dict[str, list[tuple[float, float]]]:
    """Per service, (probability, mean work) of the branches whose opening call reaches an
    operation that works once and then calls that service: the branches' requests start
    their work together (where the pool they open with has a worker free) and arrive there
    spread by it (a page asking a user service for three records, each a little work and a
    read of one database)."""
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for branch in branches:
        opening = _opening_step(scenario, branch)
        if opening is None:
            continue
        called, probability = opening
        operation, _ = scenario.operation(called.call.service, called.call.operation)
        steps = scenario.services[called.call.service].operations[operation]
        if (
            len(steps) >= 2
            and isinstance(steps[0], WorkStep)
            and isinstance(steps[1], CallStep)
            and not scenario.services[steps[1].call.service].unlimited
        ):
            made = probability * steps[1].call.probability
            found[steps[1].call.service].append((made, steps[0].work.mean))
    return found


def publish_groups(scenario: Scenario, keys: Sequence[OpKey]) -> dict[str, tuple[FanOut, ...]]:
    """Per topic, the runs of publishes to it that put two messages or more on it at once."""
    found: dict[str, list[FanOut]] = defaultdict(list)
    for key in keys:
        run: dict[tuple[str, str | int | None], list[dict[int, float]]] = defaultdict(list)
        blocking = key.kind != "service" or scenario.services[key.name].blocking_calls
        for step in [*steps_of(scenario, key), None]:  # (None: the end closes the last run)
            if isinstance(step, PublishStep):
                spec = step.publish
                draw = {0: 1.0 - spec.probability, spec.count: spec.probability}
                run[(spec.topic, spec.key)].append(draw)
                continue
            for (topic, message_key), draws in run.items():
                sizes = _sum_of(draws)
                if any(size > 1 for size, _ in sizes):
                    found[topic].append(FanOut(key, sizes, message_key))
            run.clear()
            last = _last_message(scenario, step) if blocking else None
            if last is not None:  # (published as the call returns: the run starts with it)
                where, probability = last
                run[where].append({0: 1.0 - probability, 1: probability})
    return {topic: tuple(groups) for topic, groups in found.items()}


def _last_message(
    scenario: Scenario, step: Step | None
) -> tuple[tuple[str, str | int | None], float] | None:
    """((topic, key), probability) of the one message that a plain call `step` (no timeout,
    retries or fallback) publishes as it returns: its operation's last step publishes one
    message and no other message comes with it (through a call that step ends, in turn);
    a caller held through the call goes on at that very instant, so the message and the
    caller's next publishes to that topic arrive together (a service writing an event after
    the callee that wrote one: `tests/unit/test_batch_arrivals.py`). None otherwise."""
    if not isinstance(step, CallStep):
        return None
    call = step.call
    if call.timeout is not None or call.retries or call.fallback is not None:
        return None
    service = scenario.services[call.service]
    operation, _ = scenario.operation(call.service, call.operation)
    steps = service.operations[operation]
    if not steps or not isinstance(steps[-1], PublishStep):
        return None
    if len(steps) >= 2 and isinstance(steps[-2], PublishStep | CallStep):
        return None  # (several messages at the end: a group of its own, counted there)
    spec = steps[-1].publish
    if spec.count != 1:
        return None
    return (spec.topic, spec.key), call.probability * spec.probability


def consumer_fans(
    scenario: Scenario, topic: str, fans: Sequence[FanOut], consumer: int, consumers: int
) -> list[FanOut]:
    """The part of the message groups `fans` that consumer `consumer` of a log topic gets
    (it owns partitions consumer, consumer + consumers, ...): a group with a fixed key whole
    or not at all; of messages that each draw their partition, as many as fall on its
    partitions, each independently with their share of the topic's rule (a binomial
    thinning); nothing with round robin, which deals a group out over the partitions."""
    spec = scenario.topics[topic]
    share = float(default_partition_shares(spec)[consumer::consumers].sum())
    found = []
    for fan in fans:
        if fan.key is not None:
            partition = fixed_partition(scenario, topic, fan.key)
            if partition is not None and partition % consumers == consumer:
                found.append(fan)
        elif spec.partitioning != "round_robin":
            found.extend(thinned([fan], share))
    return found


def thinned(fans: Sequence[FanOut], share: float) -> list[FanOut]:
    """The groups `fans` where each member goes its own way, here with probability `share`
    (a replica picked at random, a partition drawn): how many of each group arrive here
    (binomial)."""
    return [FanOut(fan.source, _thinned(fan.sizes, share), fan.key) for fan in fans]


def _thinned(sizes: Sequence[tuple[int, float]], share: float) -> tuple[tuple[int, float], ...]:
    """The distribution of how many of a group of the given sizes are kept, each member
    independently with probability `share` (binomial)."""
    kept: dict[int, float] = defaultdict(float)
    for size, p in sizes:
        for taken, q in _sum_of([_bernoulli(share)] * size):
            kept[taken] += p * q
    return tuple(sorted((taken, p) for taken, p in kept.items() if p > 0.0))


def _bernoulli(probability: float) -> dict[int, float]:
    """One member of a group, there with `probability`: {0: 1 - p, 1: p}."""
    return {0: 1.0 - probability, 1: probability}


def _opening_call(scenario: Scenario, branch: Sequence[Step]) -> tuple[str, float] | None:
    """(service, probability) where the call a branch starts with (after publishes) first
    meets a pool that can make it wait, if it does at once: through a service with
    `workers: unlimited` (which starts every request at once) to the call its operation
    starts with, and so on (the probabilities multiplied)."""
    found = _opening_step(scenario, branch)
    return None if found is None else (found[0].call.service, found[1])


def _opening_step(scenario: Scenario, branch: Sequence[Step]) -> tuple[CallStep, float] | None:
    """`_opening_call`'s call step itself, and its probability."""
    probability = 1.0
    steps: Sequence[Step] = branch
    for _ in range(len(scenario.services) + 1):  # (calls do not loop: a bound to be sure)
        call = next((step for step in steps if not isinstance(step, PublishStep)), None)
        if not isinstance(call, CallStep):
            return None
        probability *= call.call.probability
        service = scenario.services[call.call.service]
        if not service.unlimited:
            return call, probability
        operation, _ = scenario.operation(call.call.service, call.call.operation)
        steps = service.operations[operation]
    return None


def arrival_groups(
    arrivals: float,
    fans: Sequence[FanOut],
    rates: Mapping[OpKey, float],
    released: Sequence[tuple[int, float]] = (),
    holding: float = 0.0,
) -> tuple[tuple[int, float], ...] | None:
    """(group size, groups per second) of a pool's `arrivals` per second: the groups that
    the fan-outs `fans` send (their operations running at `rates`, each branch's call made
    with its probability: the size is a sum of independent Bernoulli draws) and those of
    `released` (size, groups per second: `models.analysis.release_groups`), every other
    arrival alone; None when no group of two or more ever comes.

    A group whose members arrive spread by some work (`FanOut.spread`, mean w) counts as
    whole with the probability `overlap(holding, w)` that a member's sibling is still held
    when it arrives, its members alone otherwise (so that the pairs of siblings that meet
    are counted, not more: the group term of M^X/G/1 is linear in them)."""
    by_size: dict[int, float] = defaultdict(float)
    grouped = 0.0
    for size, rate in released:
        by_size[size] += rate
        grouped += size * rate
    for fan in fans:
        rate = rates.get(fan.source, 0.0) * (overlap(holding, fan.spread) if fan.spread else 1.0)
        if rate <= 0.0:
            continue
        for size, probability in fan.sizes:
            if size > 0 and probability > 0.0:
                by_size[size] += rate * probability
                grouped += size * rate * probability
    if not any(size > 1 for size in by_size):
        return None
    alone = arrivals - grouped
    if alone < -1e-9 * arrivals:
        return None  # (the rates disagree: the calls do not all reach this pool)
    by_size[1] += max(alone, 0.0)
    return tuple(sorted((size, rate) for size, rate in by_size.items() if rate > 0.0))


def overlap(holding: float, spread: float) -> float:
    """The probability that of two members of a group, each arriving after its own work of
    mean `spread` (exponential), the first is still held (for a time of mean `holding`,
    exponential) when the second arrives: the gap between them is exponential of mean
    `spread`, so E[exp(-gap / holding)] = holding / (holding + spread)."""
    return holding / (holding + spread) if holding > 0.0 else 0.0


def pool_groups(
    fans: Sequence[FanOut],
    arrivals: float,
    populations: CallerBounds,
    rates: Mapping[OpKey, float],
    summaries: Mapping[OpKey, OperationSummary],
    released: Sequence[tuple[int, float]] = (),
    holding: float = 0.0,
) -> tuple[tuple[int, float], ...] | None:
    """`arrival_groups` of a pool's `arrivals` (held `holding` on average) from those of
    the senders `fans` whose executions seldom fill their bound (`seldom_bound`), and the
    groups `released`."""
    free = [fan for fan in fans if seldom_bound(fan.source, populations, rates, summaries)]
    if not free and not released:
        return None
    return arrival_groups(arrivals, free, rates, released, holding)


def seldom_bound(
    key: OpKey,
    populations: CallerBounds,
    rates: Mapping[OpKey, float],
    summaries: Mapping[OpKey, OperationSummary],
) -> bool:
    """Whether the executions of `key` start as a Poisson stream would: unbounded, or their
    bound N (`CallerBounds.node`: a pool's threads, a flow's clients) reached with a
    probability below `BOUND_REACHED` (Erlang B at their offered load, the executions as an
    M/G/N/N loss system). Where it is reached more often, the bound smooths the groups away
    (10 threads sending 589 pairs/s, j5's entry-1 at 95%: a database of 9 waits 0.052 ms
    simulated, where M^X/M/c says 0.141 and M/M/c 0.041)."""
    bound, _ = populations.node(key)
    if bound is None:
        return True
    offered = rates.get(key, 0.0) * summaries[key].holding.mean
    return math.isfinite(offered) and erlang_b(bound, offered) < BOUND_REACHED


def _sum_of(draws: Sequence[Mapping[int, float]]) -> tuple[tuple[int, float], ...]:
    """The distribution of the sum of independent draws, each given as {value: probability}
    (parallel calls: 0 or 1 each, the Poisson binomial), by convolution."""
    total: dict[int, float] = {0: 1.0}
    for draw in draws:
        following: dict[int, float] = defaultdict(float)
        for value, p in total.items():
            for step, q in draw.items():
                following[value + step] += p * q
        total = following
    mass = math.fsum(total.values())
    return tuple(sorted((value, p / mass) for value, p in total.items() if p > 0.0))
