"""Requests that arrive together: parallel calls to one service, messages published at once.

A `parallel` step starts all its branches at the same instant, so branches that begin with a
call to the same service (publishes before it take no time) send that service a group of
requests at once: a scatter-gather over one database, a page that fetches three items from
one store. Where the service's pool has few servers, the later ones in line wait for the
earlier ones, which Poisson arrivals at the same rate never do (`models.theory.mxmc`).

Publishing takes no time either: a `publish` step with `count: 3`, or publishes to one
topic one after the other, put their messages on the topic at the same instant; so does a
callee whose operation ends by publishing one message, and a caller held through the call
that publishes to that topic as the reply comes. Messages one execution publishes some time
apart are runs (`models.analysis.message_runs`), counted with `run_overlap`.

What is found: for each service (`fan_outs`), every operation with a `parallel` step among
its own steps (not under a `branch`) whose branches open with calls to it, two at least,
the group's size the sum of the branches' draws (each call made with its probability); for
each topic (`message_runs.publish_groups`), every run of two messages or more that one
execution publishes to it, each step putting its `count` with its probability, at once or
one after the other. What is built from it (`arrival_groups`): the sizes of the
groups a pool's requests arrive in, and how often each size comes, every other request
arriving alone. Assumptions: a group stays whole only in one pool (one replica, or shared
balancing; a queue topic's consumers, with no random delivery latency), or part of it
where each member goes its own way (replicas picked at random, partitions drawn); a branch's
opening call passes through services with unlimited workers to the call they open with; a
call made after some work (of the pool a branch opens with, before its first call or a
`branch` that makes it; or on the way through services of unlimited workers) arrives
spread by it (`spread_calls`) and by its wait for that pool, read each round
(`group_overlap.waits_on_the_way`; taken as none until 2026-12-07: fuzz seed 2603 deep,
whose one-worker pool on the way waited 51 ms, predicted its callee's wait +122%); any
other call arrives on its own; the groups are as Poisson only where the executions
sending them seldom reach their bound (`seldom_bound`).
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from models.analysis.bounds import CallerBounds
from models.analysis.fading import faded
from models.analysis.graph import OpKey, callee, fixed_partition, steps_of
from models.analysis.group_overlap import Path, overlap, run_overlap, waits_on_the_way
from models.analysis.summary import OperationSummary
from models.analysis.traffic import default_partition_shares
from models.schema import (
    BranchStep,
    CallStep,
    DelayStep,
    ParallelStep,
    PublishStep,
    Scenario,
    Step,
    WorkStep,
)
from models.theory import erlang_b

BOUND_REACHED = 1e-3
"""A fan-out's groups count where the executions sending them reach their bound less often
than this (`seldom_bound`), fading out over a factor `BOUND_BAND` either side of it."""
BOUND_BAND = 2.0
"""(A hard threshold cycled: fuzz seed 1436 at 30% of its load x 3.3, its sender's Erlang B
0.9-1.0e-3, its callee's groups on and off for 300 rounds: capacity 189/s for 229/s.)"""


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
    via: tuple[OpKey | None, ...] = ()
    """For each member spread by work, the operation of the pool it does that work in
    (None: on the way through unlimited services): its wait there, read from each round's
    summaries, spreads the member too (`_together`)."""
    paths: tuple[Path, ...] = ()
    """Messages one execution publishes one after the other: the stretches of time from
    its start to each, in order (`models.analysis.message_runs`; none: all at once)."""
    messages: bool = False
    """Messages to a topic (else calls to a service): their senders' bound does not
    thin them (`pool_groups`)."""


@dataclass(frozen=True)
class Senders:
    """Every place that sends groups at once: per service (`fan_outs`) and per topic
    (`publish_groups`)."""

    services: dict[str, tuple[FanOut, ...]]
    topics: dict[str, tuple[FanOut, ...]]


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
                    draws = [bernoulli(p) for p in probabilities]
                    found[service].append(FanOut(key, sum_of(draws)))
            for service, members in _spread_members(scenario, step.parallel).items():
                at_once = openings.get(service, [])
                if len(at_once) == 1:  # (one at once, the others after their work)
                    members = [(at_once[0], 0.0, None), *members]
                if len(members) >= 2:
                    draws = [bernoulli(p) for p, _, _ in members]
                    spread = [(w, pool) for _, w, pool in members if w > 0.0]
                    mean = math.fsum(w for w, _ in spread) / len(spread)
                    via = tuple(
                        None if pool is None else callee(scenario, pool, key.priority)
                        for _, pool in spread
                    )
                    found[service].append(FanOut(key, sum_of(draws), spread=mean, via=via))
    return {service: tuple(steps) for service, steps in found.items()}


def spread_calls(
    scenario: Scenario, branches: Sequence[Sequence[Step]]
) -> dict[str, list[tuple[float, float]]]:
    """Per service, (probability, mean time) of the branches that reach it after some work
    (`_spread_members`, without the pools they work in)."""
    return {
        service: [(probability, time) for probability, time, _ in members]
        for service, members in _spread_members(scenario, branches).items()
    }


def _spread_members(
    scenario: Scenario, branches: Sequence[Sequence[Step]]
) -> dict[str, list[tuple[float, float, CallStep | None]]]:
    """Per service, (probability, mean time) of the branches whose opening call reaches an
    operation that works (or waits: `work` and `delay` steps) and then calls that
    service: the branches' requests start their work together (where the pool they open
    with has a worker free) and arrive there spread by it (a page asking a user service
    for three records, each a little work and a read of one database; with a branch that
    reads that database at once, the pair `fan_outs` counts: fuzz seeds 674 and 675, whose
    one-worker callee waited 43-52% less than simulated without it); with, for each, the
    call into the pool it works in (None: through unlimited services)."""
    found: dict[str, list[tuple[float, float, CallStep | None]]] = defaultdict(list)
    for branch in branches:
        opening = _opening_step(scenario, branch)
        if opening is None:
            late = _after_work(scenario, branch)
            if late is not None:
                found[late[0]].append((late[1], late[2], None))
            continue
        called, probability = opening
        operation, _ = scenario.operation(called.call.service, called.call.operation)
        steps = scenario.services[called.call.service].operations[operation]
        lead = 0
        while lead < len(steps) and isinstance(steps[lead], WorkStep | DelayStep):
            lead += 1
        if lead == 0 or lead == len(steps):
            continue
        time = math.fsum(_own_mean(step) for step in steps[:lead])
        for service, made, later in _next_calls(scenario, steps[lead:]):
            found[service].append((probability * made, time + later, called))
    return found


def _next_calls(scenario: Scenario, steps: Sequence[Step]) -> list[tuple[str, float, float]]:
    """(service, probability, mean time until it) of the first call of `steps` where it is
    the first step, or, where the first is a `branch`, of each option's first call to a
    pool (after the option's own work, or the step after the branch where the option
    calls nothing), per service the options added up, their times averaged by
    probability (a service whose requests call a database at once in one option and
    after some work in the other: fuzz seed 976)."""
    first = steps[0] if steps else None
    if isinstance(first, CallStep):
        unlimited = scenario.services[first.call.service].unlimited
        return [] if unlimited else [(first.call.service, first.call.probability, 0.0)]
    if not isinstance(first, BranchStep):
        return []
    found: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for option in first.branch:
        lead = 0
        while lead < len(option.steps) and isinstance(option.steps[lead], WorkStep | DelayStep):
            lead += 1
        time = math.fsum(_own_mean(step) for step in option.steps[:lead])
        rest = option.steps[lead:] if lead < len(option.steps) else steps[1:2]
        if rest and isinstance(rest[0], CallStep):
            for service, made, later in _next_calls(scenario, rest[:1]):
                found[service][0] += option.probability * made
                found[service][1] += option.probability * made * (time + later)
    return [(service, made, total / made) for service, (made, total) in found.items() if made > 0]


def _after_work(scenario: Scenario, branch: Sequence[Step]) -> tuple[str, float, float] | None:
    """(service, probability, mean time) where a branch reaches a pool only after some work
    or delay of its own or of services with unlimited workers, which start every request at
    once (a page calling a user service of unlimited workers that works, then reads a
    database: fuzz seed 835, whose database of 2, read at once by another branch too,
    waited 61% less than simulated without the pair); None if it reaches none, or at once
    (`_opening_call`)."""
    found = first_pool_call(scenario, branch)
    if found is None or not found[3] or not found[2] > 0.0:
        return None
    return found[0].call.service, found[1], found[2]


def _own_mean(step: Step) -> float:
    """The mean time of a `work` or `delay` step (0 for any other)."""
    if isinstance(step, WorkStep):
        return step.work.mean
    return step.delay.mean if isinstance(step, DelayStep) else 0.0


def consumer_fans(
    scenario: Scenario, topic: str, fans: Sequence[FanOut], consumer: int, consumers: int
) -> list[FanOut]:
    """The part of the message groups `fans` that consumer `consumer` of a log topic gets
    (it owns partitions consumer, consumer + consumers, ...): a group with a fixed key whole
    or not at all; of messages that each draw their partition, as many as fall on its
    partitions, each independently with their share of the topic's rule (a binomial
    thinning); nothing with round robin, which deals a group out over the partitions."""
    if not fans:
        return []  # (most topics send no groups: no partitions' share to find)
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
    return [dataclasses.replace(fan, sizes=_thinned(fan.sizes, share)) for fan in fans]


def _thinned(sizes: Sequence[tuple[int, float]], share: float) -> tuple[tuple[int, float], ...]:
    """The distribution of how many of a group of the given sizes are kept, each member
    independently with probability `share` (binomial)."""
    kept: dict[int, float] = defaultdict(float)
    for size, p in sizes:
        for taken, q in sum_of([bernoulli(share)] * size):
            kept[taken] += p * q
    return tuple(sorted((taken, p) for taken, p in kept.items() if p > 0.0))


def bernoulli(probability: float) -> dict[int, float]:
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
    found = first_pool_call(scenario, branch)
    return None if found is None or found[3] else (found[0], found[1])


def first_pool_call(
    scenario: Scenario, branch: Sequence[Step]
) -> tuple[CallStep, float, float, bool] | None:
    """The call by which a branch first meets a pool that can make it wait, through
    services with `workers: unlimited` (which start every request at once) to the call
    their operation makes first, and so on: that call step, its probability (the calls'
    multiplied), the mean time of the `work` and `delay` steps before it on the way, and
    whether there are any (publishes take no time); None where the way meets no call."""
    probability, time, timed = 1.0, 0.0, False
    steps: Sequence[Step] = branch
    for _ in range(len(scenario.services) + 1):  # (calls do not loop: a bound to be sure)
        index = 0
        while index < len(steps) and isinstance(steps[index], WorkStep | DelayStep | PublishStep):
            timed = timed or not isinstance(steps[index], PublishStep)
            time += _own_mean(steps[index])
            index += 1
        call = steps[index] if index < len(steps) else None
        if not isinstance(call, CallStep):
            return None
        probability *= call.call.probability
        service = scenario.services[call.call.service]
        if not service.unlimited:
            return call, probability, time, timed
        operation, _ = scenario.operation(call.call.service, call.call.operation)
        steps = service.operations[operation]
    return None


def arrival_groups(
    arrivals: float,
    fans: Sequence[FanOut],
    rates: Mapping[OpKey, float],
    released: Sequence[tuple[int, float]] = (),
    holding: float = 0.0,
    summaries: Mapping[OpKey, OperationSummary] | None = None,
    weights: Sequence[float] = (),
) -> tuple[tuple[int, float], ...] | None:
    """(group size, groups per second) of a pool's `arrivals` per second: the groups that
    the fan-outs `fans` send (their operations running at `rates`, each branch's call made
    with its probability: the size is a sum of independent Bernoulli draws) and those of
    `released` (size, groups per second: `models.analysis.release_groups`), every other
    arrival alone; None when no group of two or more ever comes.

    A group whose members arrive spread by some work (`FanOut.spread`, mean w) counts as
    whole with the probability `overlap(holding, w)` that a member's sibling is still held
    when it arrives, its members alone otherwise (so that the pairs of siblings that meet
    are counted, not more: the group term of M^X/G/1 is linear in them); messages published
    one after the other (`FanOut.paths`) with `run_overlap`, read with this round's
    `summaries`. `weights`, if given, scale how often each fan's groups count whole
    (`pool_groups`)."""
    by_size: dict[int, float] = defaultdict(float)
    grouped = 0.0
    for size, rate in released:
        by_size[size] += rate
        grouped += size * rate
    for index, fan in enumerate(fans):
        weight = weights[index] if weights else 1.0
        rate = rates.get(fan.source, 0.0) * weight * _together(fan, holding, summaries or {})
        if not rate > 0.0:
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


def _together(fan: FanOut, holding: float, summaries: Mapping[OpKey, OperationSummary]) -> float:
    """The probability a group counts whole (`arrival_groups`): 1 at once; for calls
    spread by work, `overlap`; for messages one after the other, `run_overlap`."""
    if fan.spread:
        return overlap(holding, fan.spread + waits_on_the_way(fan.via, summaries))
    if not fan.paths:
        return 1.0
    return run_overlap(fan.paths, holding, summaries)


def pool_groups(
    fans: Sequence[FanOut],
    arrivals: float,
    populations: CallerBounds,
    rates: Mapping[OpKey, float],
    summaries: Mapping[OpKey, OperationSummary],
    released: Sequence[tuple[int, float]] = (),
    holding: float = 0.0,
    topic: str | None = None,
) -> tuple[tuple[int, float], ...] | None:
    """`arrival_groups` of a pool's `arrivals` (held `holding` on average) from the
    senders `fans` of messages (to `topic`, for a consumer group), those of calls whose
    executions seldom fill their bound (`seldom_bound`), and the groups `released`.

    A bound on the callers keeps few of their calls at the callee at once, which the
    groups' queueing (unbounded) does not see; messages wait on their topic whatever their
    senders do, and the messages one execution publishes at once arrive together however
    often its pool is full (fuzz seed 704: a pool of 8 threads, full 0.4% of the time at
    60% and 1.5% at 80%, publishing pairs to 2 consumers: 1.275 and 3.507 ms predicted
    with the pairs, 1.288 and 3.507 ms simulated, 0.732 and 2.277 ms without them).
    Messages one after the other (runs) from a sender often full come as its departures
    do, more evenly than Poisson: their groups count in proportion to the SCV c² of the
    sender's stream into the topic (`OperationSummary.scvs`, at most 1). Groups of X
    members sent as a renewal stream of SCV c² bring messages whose counts have the index
    of dispersion c² E[X] + Var(X) / E[X]; the members' own stream is counted at the
    station (c² of its arrivals), so what the groups add is c² (E[X] - 1) + Var(X) / E[X],
    c² times the Poisson groups' E[X] - 1 for groups of one size (their M^X excess, linear
    in the pairs counted). Runs from a sender often full were left out before: on the 19
    of `bench/analysis_fuzz.py`'s seeds 400-1120 at 70% that this moves, its disagreements
    went from 22 to 13 (seed 1088's consumer -74% -> -44%, 1072's -49% -> -11%, 657's
    -32% -> +42%, 1008's +18% -> +82%: one sender of one worker)."""
    free: list[FanOut] = []
    weights: list[float] = []
    for fan in fans:
        weight = 1.0
        if fan.paths or not fan.messages:  # (between the two where the bound is near)
            seldom = seldom_bound(fan.source, populations, rates, summaries)
            scv = summaries[fan.source].scvs.get(topic, 1.0) if topic is not None else 0.0
            runs = min(max(scv, 0.0), 1.0) if fan.messages else 0.0
            weight = seldom + (1.0 - seldom) * runs
        if weight > 0.0:
            free.append(fan)
            weights.append(weight)
    if not free and not released:
        return None
    return arrival_groups(arrivals, free, rates, released, holding, summaries, weights)


def seldom_bound(
    key: OpKey,
    populations: CallerBounds,
    rates: Mapping[OpKey, float],
    summaries: Mapping[OpKey, OperationSummary],
) -> float:
    """How far the executions of `key` start as a Poisson stream would, from 1 (unbounded,
    or their bound N, `CallerBounds.node`, reached with a probability B below
    `BOUND_REACHED`: Erlang B at their offered load, an M/G/N/N loss system) to 0 (reached
    more often: the bound smooths the groups away; 10 threads sending 589 pairs/s, j5's
    entry-1 at 95%: a database of 9 waits 0.052 ms simulated, M^X/M/c 0.141, M/M/c 0.041),
    log-linear in B over a factor `BOUND_BAND` either side of `BOUND_REACHED`."""
    bound, _ = populations.node(key)
    if bound is None:
        return 1.0
    offered = rates.get(key, 0.0) * summaries[key].holding.mean
    if not math.isfinite(offered):
        return 0.0
    return faded(erlang_b(bound, offered), BOUND_REACHED, BOUND_BAND)


def sum_of(draws: Sequence[Mapping[int, float]]) -> tuple[tuple[int, float], ...]:
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
