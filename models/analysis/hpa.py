"""A service's replicas over a run under its HPA rule and a known load: a fluid replay of
the autoscaler's decisions.

The rule (models/autoscale.py, as the simulator runs it: sim/engine/autoscaling.py) decides
every `interval` from time `interval` on: desired = ceil(busy workers averaged over the
last interval / (workers per replica x target)) within [min, max] on `utilization`, and
ceil(requests waiting (`queue_length`), or waiting and in service (`in_system`), averaged
over the last interval / target) on the lengths; a scale-up adds the
replicas at once and each serves after `startup`; a scale-down goes to the largest
desired count of the last `stabilization` (the starting count is the first
recommendation, at time 0) and removes the newest replicas: one that has not started yet
goes at once, a serving one takes nothing new and leaves when its work is done (with
`balancing: shared` its workers leave the pool at once).

The load is a fluid (Newell, "Applications of Queueing Theory", 2nd ed. (1982), ch. 2): the
service is offered `demand` busy workers (arrival rate x holding time, its steady state's
offered load; piecewise constant under a rate profile), spread over the serving replicas
(with `balancing: round_robin` or `random` each replica keeps its own backlog; `shared` and
`least_outstanding` serve one pool). A replica (or the pool) offered more than it serves
flat out is busy with all its workers and piles the rest up; with a backlog it stays fully
busy until the backlog is gone. It serves flat out its workers' worth of work, or, given
`serves`, its flat-out rate: a blocking pool's callees are loaded flat out by what it
sends, not by the steady state's arrivals, and a callee that saturates first holds its
workers back (a database: its workers all held, waiting). So a service
that starts saturated (or that a spike saturates) sees its utilization at 1 while the
backlog drains and asks for more than its steady state needs (ceil(current / target)):
the overshoot that the stabilization window then holds for its length.

The lengths add to the busy workers (a request in service holds one) the requests waiting:
the fluid backlog, as requests (its work over a request's holding time), while there is
one, else the steady state's mean queue at the serving count (`Lengths`). That queue
shrinks as the count grows, so such a rule can ask for fewer replicas than it runs and,
once the window lets it, come back: the replay follows that cycle.

What the fluid leaves out: the noise of the observed averages (a load next to a step of
the ceiling makes the simulation ask for one more some of the time) and the queueing of a
steady state (a busy pool's utilization is its demand over its workers, exactly as the
mean). Pure and deterministic.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from models.autoscale import ServiceAutoscale

EMPTY = 1e-9
"""A backlog below this many seconds of a replica's (or the pool's) work is gone (the
rounding of the step that empties it)."""


@dataclass(frozen=True)
class Stretch:
    """A stretch of the run in which the service's replicas do not change."""

    start: float
    end: float
    serving: int
    """Replicas that take requests (started, not removed)."""
    provisioned: int
    """Replicas counted by the simulation's `replicas`: starting, serving and draining."""
    backlog: bool
    """Whether work piles up or drains beyond the steady state's (a fluid backlog)."""
    backlog_area: float = 0.0
    """The integral of the backlog over the stretch (worker-seconds x seconds)."""
    busy_area: float = 0.0
    """Busy worker-seconds."""
    worker_area: float = 0.0
    """Worker-seconds of the replicas started and not gone (the simulation's denominator of
    an autoscaled service's utilization)."""
    start_backlog: float = 0.0
    """The backlog at the stretch's start (worker-seconds of work)."""
    start_backlog_workers: float = 0.0
    """What the parts that hold it then serve flat out, in workers' worth of work."""


@dataclass
class _Replica:
    ready_at: float
    removed: bool = False
    gone: bool = False
    backlog: float = 0.0
    """Work waiting, in worker-seconds."""


Serves = Callable[[float, int], float]
"""What a pool of n serving replicas serves flat out at time t, in the units of the demand
(busy workers at the steady state's holding time)."""


@dataclass
class _Part:
    """A part that serves: the pool (no replica), or one replica."""

    replica: _Replica | None
    backlog: float
    demand: float
    workers: float
    """Its workers, all held while it has a backlog."""
    serves: float
    """The work it serves flat out per second, in the units of `demand` (its workers,
    with the holding time of the demand's steady state; more where its callees are less
    loaded flat out than there, less where they hold it back)."""


@dataclass
class _Fleet:
    """The replicas and their backlogs (one pool's when `pooled`)."""

    workers: int
    demand: float
    pooled: bool
    replicas: list[_Replica] = field(default_factory=list)
    pool_backlog: float = 0.0
    serves: Serves | None = None

    def serving(self, now: float) -> list[_Replica]:
        return [r for r in self.replicas if not r.removed and r.ready_at <= now]

    def provisioned(self) -> int:
        return sum(not r.gone for r in self.replicas)

    def parts(self, now: float) -> list[_Part]:
        """Each part that serves: the pool, or each replica that serves or drains."""
        serving = len(self.serving(now))
        total = float(serving * self.workers)
        flat_out = total if self.serves is None or not serving else self.serves(now, serving)
        if self.pooled:
            return [_Part(None, self.pool_backlog, self.demand, total, flat_out)]
        share = self.demand / serving if serving else 0.0
        each = flat_out / serving if serving else 0.0
        return [
            _Part(r, r.backlog, 0.0 if r.removed else share, float(self.workers), each)
            for r in self.replicas
            if not r.gone and (r.removed or r.ready_at <= now)
        ]

    def emptied_in(self, now: float) -> float:
        """Time until the first draining backlog is gone (inf: none drains)."""
        times = [
            p.backlog / (p.serves - p.demand)
            for p in self.parts(now)
            if p.backlog > 0 and p.serves > p.demand
        ]
        return min(times, default=math.inf)

    def advance(self, now: float, step: float) -> tuple[float, bool, float]:
        """Move `step` seconds on (no backlog empties inside it): the busy worker-seconds,
        whether any part holds a backlog or piles one up, and the backlog's integral."""
        busy, piling, area = 0.0, False, 0.0
        for part in self.parts(now):
            backlog = part.backlog
            if backlog > 0 or part.demand > part.serves:
                busy += part.workers * step  # (all held, those its callees hold back too)
                backlog += (part.demand - part.serves) * step
                backlog = backlog if backlog > EMPTY * part.workers else 0.0
                area += (part.backlog + backlog) / 2 * step  # (linear within the step)
                piling = True
            else:
                busy += part.demand * step
            if part.replica is None:
                self.pool_backlog = backlog
            else:
                part.replica.backlog = backlog
                if part.replica.removed and backlog == 0.0:
                    part.replica.gone = True
        return busy, piling, area


Demand = float | Sequence[tuple[float, float]]
"""Busy workers offered: steady, or (from this time on, this many) in time order from 0."""


@dataclass(frozen=True)
class Lengths:
    """What a rule on `queue_length` or `in_system` observes besides the busy workers."""

    waiting: Callable[[float, int], float]
    """The requests waiting for a worker on average (all replicas together) in the steady
    state of the load at time t with n serving replicas (inf: no steady state)."""
    holding: Callable[[float], float]
    """The seconds of a worker a request holds at time t (the steady state's): a fluid
    backlog of work over it is requests."""


def _waited(
    lengths: Lengths | None, now: float, until: float, serving: int, piling: bool, area: float
) -> float:
    """The integral of the requests waiting over [now, until] (module docstring)."""
    if lengths is None or until <= now:
        return 0.0
    if piling:
        return area / lengths.holding(now)
    return lengths.waiting(now, serving) * (until - now) if serving else 0.0


def _asks(rule: ServiceAutoscale, workers: int, busy: float, waited: float) -> int:
    """The desired count from an interval's busy worker-seconds and waiting
    request-seconds (module docstring), within [min, max]."""
    if rule.metric == "utilization":
        observed = busy / rule.interval / (workers * rule.target)
    else:
        present = waited + (busy if rule.metric == "in_system" else 0.0)
        observed = present / rule.interval / rule.target
    desired = math.ceil(observed - 1e-9) if math.isfinite(observed) else rule.max
    return min(max(desired, rule.min), rule.max)


def replay(
    rule: ServiceAutoscale,
    starting: int,
    workers: int,
    demand: Demand,
    pooled: bool,
    horizon: float,
    cuts: tuple[float, ...] = (),
    serves: Serves | None = None,
    lengths: Lengths | None = None,
) -> list[Stretch]:
    """The stretches of [0, `horizon`] (cut also at `cuts`, e.g. the end of the warm-up,
    and where the demand changes): `starting` replicas of `workers` at time 0, offered
    `demand` busy workers (module docstring); `serves`: what the serving replicas serve
    flat out, where their callees hold them back (None: their workers); `lengths`: what a
    rule on the lengths observes (required for those)."""
    if rule.metric != "utilization" and lengths is None:
        raise ValueError(f"a rule on {rule.metric} needs the lengths it observes")
    changes = [(0.0, demand)] if isinstance(demand, float | int) else list(demand)
    cuts = (*cuts, *(at for at, _ in changes[1:]))
    replicas = [_Replica(0.0) for _ in range(starting)]
    fleet = _Fleet(workers, changes[0][1], pooled, replicas, serves=serves)
    recommendations = collections.deque([(0.0, starting)])
    target_count = starting
    decision = rule.interval
    busy_since_decision = waited_since_decision = 0.0
    stretches: list[Stretch] = []
    now = 0.0
    while now < horizon:
        fleet.demand = next(d for at, d in reversed(changes) if at <= now)
        events = [decision, horizon, *(c for c in cuts if c > now)]
        events += [r.ready_at for r in fleet.replicas if r.ready_at > now and not r.removed]
        until = min(min(events), now + fleet.emptied_in(now))
        serving, provisioned = len(fleet.serving(now)), fleet.provisioned()
        started = sum(not r.gone and r.ready_at <= now for r in fleet.replicas)
        held = [(p.backlog, p.serves) for p in fleet.parts(now) if p.backlog > 0]
        backlog_then = (math.fsum(q for q, _ in held), math.fsum(c for _, c in held))
        busy, piling, area = fleet.advance(now, until - now)
        busy_since_decision += busy
        waited_since_decision += _waited(lengths, now, until, serving, piling, area)
        areas = (area, busy, started * workers * (until - now))
        stretch = Stretch(now, until, serving, provisioned, piling, *areas, *backlog_then)
        _append(stretches, stretch, merge=now not in cuts)
        now = until
        if now >= decision and now < horizon:
            desired = _asks(rule, workers, busy_since_decision, waited_since_decision)
            busy_since_decision = waited_since_decision = 0.0
            recommendations.append((now, desired))
            while recommendations[0][0] < now - rule.stabilization:  # (the window's)
                recommendations.popleft()
            stable = max(n for _, n in recommendations)
            if desired > target_count:
                for _ in range(desired - target_count):
                    fleet.replicas.append(_Replica(now + rule.startup))
                target_count = desired
            elif stable < target_count:
                for _ in range(target_count - stable):
                    _remove_newest(fleet, now)
                target_count = stable
            decision += rule.interval
    return stretches


def _remove_newest(fleet: _Fleet, now: float) -> None:
    """Remove the newest replica not already leaving: one not started yet goes at once, a
    serving one drains its own backlog (with a pool, its workers leave at once)."""
    for replica in reversed(fleet.replicas):
        if not replica.removed:
            replica.removed = True
            if fleet.pooled or replica.ready_at > now or replica.backlog <= 0:
                replica.gone, replica.backlog = True, 0.0
            return


def _append(stretches: list[Stretch], stretch: Stretch, merge: bool) -> None:
    """Add `stretch`, merged with the last one when nothing differs (and `merge`)."""
    if stretch.end <= stretch.start:
        return
    if stretches and merge:
        last = stretches[-1]
        same = (last.serving, last.provisioned, last.backlog)
        if same == (stretch.serving, stretch.provisioned, stretch.backlog):
            areas = (
                last.backlog_area + stretch.backlog_area,
                last.busy_area + stretch.busy_area,
                last.worker_area + stretch.worker_area,
            )
            then = (last.start_backlog, last.start_backlog_workers)
            stretches[-1] = Stretch(last.start, stretch.end, *same, *areas, *then)
            return
    stretches.append(stretch)
