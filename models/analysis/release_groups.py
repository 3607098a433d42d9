"""Requests that an async-I/O pool lets go together: resumes that waited for a worker.

A service with `blocking_calls: false` gives its worker back while it waits for a reply and
queues for one again when the reply comes (`sim.engine.jobs.AsyncJob`; a call in tail
position passes its reply on without a worker). Where nothing that takes time comes between
the reply and the next call (or the end of the operation: its own reply), the resumed request
holds the worker for no time at all. While every worker is busy such resumes wait in the
FIFO queue; when a worker frees, the resumes at the head of the queue all go through at that
instant, up to the first request with work to do, and whatever they do next arrives
downstream together: a group. In the DeathStarBench-like hotel reservation at 60% load,
3.6% of the arrivals at `rate` come at the same instant as another (`search` resumes after
its call to `geo` and calls `rate` at once), and so do 3.5% of those at `reservation`, the
replies `rate` lets go passing through `search` (a tail call) and `frontend` (a worker free)
in no time (docs/analysis.md §3, arrivals in groups).

Model, for a pool P of c workers with one FIFO queue (one replica, or shared balancing),
from the traffic equations' rates: requests whose next segment has work arrive at λ_w, and
resumes (and arrivals) with none at λ_0. A resume waits when it finds every worker busy,
with the probability P(wait) of P's own solution. The waiting resumes form runs, between
two requests with work in arrival order, cut also by a worker freeing while nothing with
work waits. In the full states with nothing with work waiting (a share 1 - rho of them, as
in M/M/c at P's utilization rho), a run grows by a resume at rate λ_0 and is cut at
λ_w + c/E[S] (an arrival with work, a worker freeing; c/E[S] = λ_w/rho); with work waiting
(rho) only at λ_w. So a run's length K is geometric in each regime,
P(K = k) = (1 - r) r^(k-1) with r = λ_0 / (λ_0 + λ_w + λ_w/rho) or λ_0 / (λ_0 + λ_w),
mixed (1 - rho) : rho. Runs leave at λ_0 P(wait) / E[K] per second, each at the instant
the work of another request ends (its worker frees). Each member then goes its own way and
reaches pool D at once with probability s_D (its next call, or its reply and whatever its
caller does next in no time, `Reach`), and the request whose work ended with probability
a_D: D receives Bern(a_D) + Bin(K, s_D) requests at once. Thinning a geometric K keeps it
geometric (its generating function), so the sizes are in closed form.

Assumptions: a group passes a blocking caller whole (its thread goes on at once), and an
async caller whole with the probability that a worker is free there (1 - P(wait)); groups
that already arrive together are counted one by one in P's runs; exponential-like work
(the regimes' shares are M/M/c's). Not followed: calls inside `parallel` steps (their join
is `models.analysis.fan_out`'s), calls with timeouts or retries, messages.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from models.analysis.graph import OpKey, StationId, callee, one_queue, steps_of, workers_of
from models.analysis.loads import LoadBuilder
from models.analysis.station_load import ServiceStation
from models.analysis.summary import StationView
from models.schema import (
    BranchStep,
    CallStep,
    DelayStep,
    FailStep,
    PublishStep,
    Scenario,
    Step,
    WorkStep,
)

SETTLE_ROUNDS = 8
"""Most re-solves of the pools that release groups reach, in one round (`settle_releases`)."""
SETTLED = 1e-9
"""Relative change of every group rate below which the groups have settled."""
LARGEST_GROUP = 24
"""The largest group size kept."""
TAIL = 1e-6
"""Group sizes less likely than this are dropped (the geometric tail: a 24-long run of
resumes, or a size below this, is one release in a million)."""


@dataclass(frozen=True)
class Reach:
    """Where a request goes from a point of an operation without any time passing: per
    service, the probability that its next call arrives there at once, and the probability
    that the operation ends at once (its reply goes to its caller)."""

    calls: tuple[tuple[str, float], ...] = ()
    reply: float = 0.0

    @property
    def instant(self) -> float:
        """The probability that nothing that takes time comes first."""
        return math.fsum(p for _, p in self.calls) + self.reply


@dataclass(frozen=True)
class Site:
    """A call from operation `caller` (made `per_execution` times per execution of it)."""

    caller: OpKey
    per_execution: float
    tail: bool
    """The last step of the caller's own steps: its reply passes on without a worker."""
    after: Reach
    """Where the caller goes at once after the reply."""


@dataclass(frozen=True)
class Segments:
    """The points of an async pool's operations where a request needs a worker."""

    resumes: tuple[tuple[OpKey, float, Reach], ...]
    """(operation, per execution, where it goes at once): its start and after each call
    that is not in tail position."""
    ends: tuple[tuple[OpKey, float, Reach], ...]
    """(operation, per execution, where it goes at once) at the end of each work or delay."""


@dataclass(frozen=True)
class Releases:
    """The structure of a scenario that release groups follow (found once)."""

    pools: dict[str, Segments]
    """Per async service with one FIFO pool of finite workers."""
    sites: dict[OpKey, tuple[Site, ...]]
    """Per operation, the calls that reach it."""
    asynchronous: frozenset[str]
    """Services with `blocking_calls: false`."""


def releases(scenario: Scenario, keys: Sequence[OpKey]) -> Releases:
    """The pools that can let resumes go together, and the call sites replies pass."""
    pools: dict[str, tuple[list[tuple[OpKey, float, Reach]], list[tuple[OpKey, float, Reach]]]]
    pools = {}
    sites: dict[OpKey, list[Site]] = defaultdict(list)
    asynchronous = frozenset(
        name for name, spec in scenario.services.items() if not spec.blocking_calls
    )
    for key in keys:
        finder = _SiteFinder(scenario, key, sites)
        steps = steps_of(scenario, key)
        finder.walk(steps, 1.0, (), root=True)
        if key.kind == "service" and _one_fifo_pool(scenario, key.name):
            resumes, ends = pools.setdefault(key.name, ([], []))
            resumes.append((key, 1.0, reach_from(((steps, 0),))))
            resumes.extend(finder.resumes)
            ends.extend(finder.ends)
    return Releases(
        {name: Segments(tuple(r), tuple(e)) for name, (r, e) in pools.items()},
        {key: tuple(found) for key, found in sites.items()},
        asynchronous,
    )


def _one_fifo_pool(scenario: Scenario, name: str) -> bool:
    spec = scenario.services[name]
    return (
        not spec.blocking_calls
        and workers_of(spec) is not None
        and one_queue(spec)
        and spec.discipline == "fifo"
    )


Frames = tuple[tuple[Sequence[Step], int], ...]
"""Where a request is: each frame's steps and the index of the next, innermost first."""


@dataclass
class _SiteFinder:
    """Walks one operation's steps (not inside `parallel`), noting its call sites, the
    points where it resumes after a reply and the ends of its work."""

    scenario: Scenario
    key: OpKey
    sites: dict[OpKey, list[Site]]
    resumes: list[tuple[OpKey, float, Reach]] = field(default_factory=list)
    ends: list[tuple[OpKey, float, Reach]] = field(default_factory=list)

    def walk(self, steps: Sequence[Step], reach: float, outer: Frames, root: bool) -> None:
        for index, step in enumerate(steps):
            after: Frames = ((steps, index + 1), *outer)
            if isinstance(step, CallStep):
                made = reach * step.call.probability
                tail = root and index == len(steps) - 1
                going = reach_from(after)
                target = callee(self.scenario, step, self.key.priority)
                self.sites[target].append(Site(self.key, made, tail, going))
                if not tail:
                    self.resumes.append((self.key, made, going))
            elif isinstance(step, WorkStep | DelayStep):
                self.ends.append((self.key, reach, reach_from(after)))
            elif isinstance(step, BranchStep):
                for option in step.branch:
                    self.walk(option.steps, reach * option.probability, after, root=False)
            elif isinstance(step, FailStep):
                reach *= 1.0 - step.fail


def reach_from(frames: Frames) -> Reach:
    """`Reach` from the point `frames` (the steps left in each frame, innermost first)."""
    calls: dict[str, float] = defaultdict(float)
    reply = _walk_instant(frames, 1.0, calls)
    return Reach(tuple(sorted((s, p) for s, p in calls.items() if p > 0.0)), reply)


def _walk_instant(frames: Frames, mass: float, calls: dict[str, float]) -> float:
    """Add to `calls` where `mass` of the requests at `frames` call at once; return the
    mass that ends the operation at once (reaches the end, or fails)."""
    reply = 0.0
    for depth, (steps, start) in enumerate(frames):
        for index in range(start, len(steps)):
            step = steps[index]
            if isinstance(step, PublishStep):
                continue
            if isinstance(step, FailStep):
                reply += mass * step.fail
                mass *= 1.0 - step.fail
                continue
            if isinstance(step, CallStep):
                spec = step.call
                if spec.timeout is not None or spec.retries or spec.fallback is not None:
                    return reply
                calls[spec.service] += mass * spec.probability
                mass *= 1.0 - spec.probability
                continue
            if isinstance(step, BranchStep):
                rest: Frames = ((steps, index + 1), *frames[depth + 1 :])
                for option in step.branch:
                    inner: Frames = ((option.steps, 0), *rest)
                    reply += _walk_instant(inner, mass * option.probability, calls)
                return reply
            return reply  # work, delay or parallel: time passes
    return reply + mass


@dataclass
class _Replies:
    """One round's resolution of replies into the calls they lead to at once."""

    releases: Releases
    rates: Mapping[OpKey, float]
    views: Mapping[StationId, StationView]
    replies: dict[OpKey, dict[str, float]] = field(default_factory=dict)

    def resolve(self, reach: Reach, key: OpKey) -> dict[str, float]:
        """Per service, the probability of arriving there at once from `reach` in `key`."""
        found = dict(reach.calls)
        if reach.reply > 0.0:
            for service, p in self.reply(key).items():
                found[service] = found.get(service, 0.0) + reach.reply * p
        return found

    def reply(self, key: OpKey) -> dict[str, float]:
        """Where the reply of an execution of `key` leads at once, by the share of its
        executions each call site makes."""
        known = self.replies.get(key)
        if known is not None:
            return known
        self.replies[key] = {}  # (calls do not loop; a guard all the same)
        found: dict[str, float] = defaultdict(float)
        total = self.rates.get(key, 0.0)
        for site in self.releases.sites.get(key, ()) if total > 0 else ():
            share = self.rates.get(site.caller, 0.0) * site.per_execution / total
            caller = site.caller
            if share <= 0.0 or caller.kind == "flow":
                continue
            if caller.kind == "service" and caller.name in self.releases.asynchronous:
                if site.tail:
                    going = self.reply(caller)
                else:
                    share *= 1.0 - self._p_wait(caller.name)
                    going = self.resolve(site.after, caller)
            else:  # (a blocking worker or a consumer thread goes on at once)
                going = self.resolve(site.after, caller)
            for service, p in going.items():
                found[service] += share * p
        self.replies[key] = dict(found)
        return self.replies[key]

    def _p_wait(self, service: str) -> float:
        view = self.views.get(StationId("service", service))
        return 0.0 if view is None else min(max(view.p_wait, 0.0), 1.0)


def released_groups(
    found: Releases, rates: Mapping[OpKey, float], views: Mapping[StationId, StationView]
) -> dict[str, tuple[tuple[int, float], ...]]:
    """Per service, (group size, groups per second) of the requests that async pools let go
    together (module docstring), from the pools' waiting and utilization in `views` (the
    round before); sizes of 1 are included (the arrival with no company)."""
    resolver = _Replies(found, rates, views)
    sent = {pool: _sent(resolver, pool, views) for pool in found.pools}
    return _arriving(sent)


def _sent(
    resolver: _Replies, pool: str, views: Mapping[StationId, StationView]
) -> dict[str, dict[int, float]]:
    """Per service, (size: groups per second) of the groups that `pool` lets go to it."""
    view = views.get(StationId("service", pool))
    if view is None or not 0.0 < view.utilization < 1.0 or view.p_wait <= 0.0:
        return {}
    segments, rates = resolver.releases.pools[pool], resolver.rates
    zero = math.fsum(rates.get(k, 0.0) * w * r.instant for k, w, r in segments.resumes)
    work = math.fsum(rates.get(k, 0.0) * w for k, w, _ in segments.ends)
    if zero <= 0.0 or work <= 0.0:
        return {}
    members = _shares(resolver, segments.resumes, zero)
    enders = _shares(resolver, segments.ends, work)
    rho = view.utilization
    ratios = (zero / (zero + work + work / rho), zero / (zero + work))
    weights = (1.0 - rho, rho)
    mean_run = math.fsum(w / (1.0 - r) for w, r in zip(weights, ratios, strict=True))
    runs = zero * min(view.p_wait, 1.0) / mean_run
    sent: dict[str, dict[int, float]] = {}
    for service in sorted(set(members) | set(enders)):
        if service != pool:
            member, ender = members.get(service, 0.0), enders.get(service, 0.0)
            sizes = _group_sizes(ratios, weights, member, ender)
            sent[service] = {size: runs * p for size, p in sizes.items()}
    return sent


def _arriving(
    sent: Mapping[str, Mapping[str, Mapping[int, float]]],
) -> dict[str, tuple[tuple[int, float], ...]]:
    """The groups each service receives from all the pools' `sent`, where some are of two
    or more."""
    arriving: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for groups in sent.values():
        for service, sizes in groups.items():
            for size, rate in sizes.items():
                arriving[service][size] += rate
    return {
        service: tuple(sorted((n, rate) for n, rate in sizes.items() if rate > 0.0))
        for service, sizes in arriving.items()
        if any(n > 1 and rate > 0.0 for n, rate in sizes.items())
    }


def _shares(
    resolver: _Replies, points: Sequence[tuple[OpKey, float, Reach]], total: float
) -> dict[str, float]:
    """Per service, the probability that a request leaving one of `points` (weighted by
    their rates, `total` in all) arrives there at once."""
    shares: dict[str, float] = defaultdict(float)
    for key, per_execution, reach in points:
        rate = resolver.rates.get(key, 0.0) * per_execution
        if rate > 0.0 and reach.instant > 0.0:
            for service, p in resolver.resolve(reach, key).items():
                shares[service] += rate * p / total
    return shares


def _group_sizes(
    ratios: Sequence[float], weights: Sequence[float], member: float, ender: float
) -> dict[int, float]:
    """The distribution of Bern(ender) + Bin(K, member), K a mixture of geometric run
    lengths on 1, 2, ... (P(K = k) = (1 - r) r^(k-1), `ratios` r mixed by `weights`), sizes
    of 1 to `LARGEST_GROUP` at least `TAIL` likely.

    Bin(K, s) of such a K has the generating function (1 - r)(1 - s + s z) / (1 - r(1 - s)
    - r s z), so P(N = 0) = A (1 - s) and P(N = n) = A ((1 - s) t^n + s t^(n-1)) for n >= 1,
    A = (1 - r) / (1 - r(1 - s)), t = r s / (1 - r(1 - s))."""
    thinned = [0.0] * (LARGEST_GROUP + 1)
    for r, weight in zip(ratios, weights, strict=True):
        if weight <= 0.0:
            continue
        denominator = 1.0 - r * (1.0 - member)
        a, t = (1.0 - r) / denominator, r * member / denominator
        thinned[0] += weight * a * (1.0 - member)
        power = 1.0  # t^(n-1)
        for n in range(1, LARGEST_GROUP + 1):
            thinned[n] += weight * a * ((1.0 - member) * power * t + member * power)
            power *= t
    sizes: dict[int, float] = {}
    for n in range(LARGEST_GROUP + 1):
        p = (1.0 - ender) * thinned[n] + (ender * thinned[n - 1] if n > 0 else 0.0)
        if n > 0 and p >= TAIL:
            sizes[n] = p
    return sizes


def settle_releases(
    builder: LoadBuilder,
    found: Releases,
    services: dict[str, ServiceStation],
    keys_of: Mapping[str, Sequence[OpKey]],
) -> None:
    """Re-solve the services that release groups reach so that the groups agree with the
    async pools' solutions of this round (`services`, solved with `builder.released`, the
    groups of the round before): an async pool's load does not depend on its callees'
    waiting, so its groups can settle within the round, where following them from round to
    round would take the network several rounds more. The pools are taken senders first
    (each re-solved once, after every pool that sends to it), which settles the groups in
    one pass where no pool's groups come back to it; otherwise the pass is repeated until
    they agree (`SETTLED`), at most `SETTLE_ROUNDS` times."""
    if not found.pools:
        return
    rates = builder.traffic.rates
    views = {StationId("service", name): _view(station) for name, station in services.items()}
    for _ in range(SETTLE_ROUNDS):
        resolver = _Replies(found, rates, views)
        sent = {pool: _sent(resolver, pool, views) for pool in found.pools}
        order, acyclic = _senders_first(sent)
        for name in order:
            received = _arriving({pool: sent[pool] for pool in sent if name in sent[pool]})
            groups = received.get(name, ())
            if not _same(groups, builder.released.get(name, ())):
                builder.released = {**builder.released, name: groups}
                pools, load = builder.service(name, keys_of.get(name, []))
                services[name] = ServiceStation(name, pools, load, builder.solve(load))
                views[StationId("service", name)] = _view(services[name])
                if name in sent:  # (what it sends follows its new solution)
                    sent[name] = _sent(_Replies(found, rates, views), name, views)
        if acyclic:
            return
        resolver = _Replies(found, rates, views)
        final = _arriving({pool: _sent(resolver, pool, views) for pool in found.pools})
        if all(
            _same(final.get(name, ()), builder.released.get(name, ()))
            for name in set(final) | set(builder.released)
        ):
            return


def _view(station: ServiceStation) -> StationView:
    """What release groups read of a service's solution: its utilization and P(wait)."""
    solution = station.solution
    return StationView(utilization=solution.utilization, p_wait=solution.p_wait or 0.0)


def _senders_first(
    sent: Mapping[str, Mapping[str, Mapping[int, float]]],
) -> tuple[list[str], bool]:
    """Every pool and every service that receives groups, each after the pools that send
    to it, and whether that was possible (a cycle is broken where it is met)."""
    nodes = sorted(set(sent) | {service for groups in sent.values() for service in groups})
    incoming: dict[str, set[str]] = {node: set() for node in nodes}
    for pool, groups in sent.items():
        for service in groups:
            incoming[service].add(pool)
    order: list[str] = []
    placed: set[str] = set()
    acyclic = True
    while len(order) < len(nodes):
        ready = [n for n in nodes if n not in placed and incoming[n] <= placed]
        if not ready:  # a cycle: take the first left
            ready, acyclic = [next(n for n in nodes if n not in placed)], False
        for node in ready:
            order.append(node)
            placed.add(node)
    return order, acyclic


def _same(a: Sequence[tuple[int, float]], b: Sequence[tuple[int, float]]) -> bool:
    """Whether two lists of (size, groups per second) agree to `SETTLED` (relative)."""
    return len(a) == len(b) and all(
        n == m and abs(x - y) <= SETTLED * max(abs(x), abs(y))
        for (n, x), (m, y) in zip(a, b, strict=True)
    )
