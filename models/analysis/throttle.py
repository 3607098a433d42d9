"""What a saturated station lets through: the share of its arrivals it serves in the long run.

A server pool with an unbounded waiting room whose load ratio ρ (offered load over servers,
or, for a thread pool solved with its callees, arrival rate over its flow-equivalent
capacity X(c)) is above 1 has no steady state: its queue grows without end. Its servers are
then busy all the time, so it completes requests at its capacity, λ / ρ per second, and what
its operations send on (calls, publishes) goes at that rate, not at the offered one: the
stations behind it see its throughput (an API pool of 2 workers holding 15 ms per request,
offered 150/s, completes 133.3/s, and the database it calls gets 133.3 calls per second).

- An order blind to the class (FIFO) serves the classes in the proportions they arrive in:
  every class gets the share 1 / ρ of its arrivals.
- `discipline: priority` (non-preemptive, lower number first) serves the classes in
  priority order: each class gets what the classes before it leave of the servers, all of
  its arrivals if that covers its load, a part of them at the class that crosses the
  servers, none below it (the long-run rates of a priority queue whose servers never idle).
- For exponential holding times the departures of c servers that never idle are Poisson of
  rate c / E[S] (c independent Poisson streams superposed), so behind a saturated M/M/c
  station a pool sees Poisson arrivals at its capacity exactly.

A pool whose load ratio is infinite (its workers held by a callee that never answers within
the model: a saturated callee's wait is infinite) has no capacity to tell: it passes its
offered rate on, unless it is an entry service that in fact shields that callee, whose
share is then pinned (`Throttle.pinned`, `models.analysis.shielding`). A call to a
saturated station answers only its share per unit of time, so the caller's later steps,
and the rate of a flow's completed requests, are weighted by it
(`OperationSummary.passed`, `models.analysis.operations`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from models.analysis.graph import OpKey, StationId, reachable_from, station_of
from models.analysis.station_load import GroupStation, ServiceStation, StationLoad, StationSolution
from models.analysis.summary import StationView
from models.schema import Scenario


@dataclass(frozen=True)
class Throttle:
    """How a solve throttles its saturated stations: each by its load ratio
    (`served_shares`), except the services in `pinned`, which pass on the given share of
    their arrivals whatever their ratio (a pool that shields its callees, at what the
    capacity search finds it serves flat out: `models.analysis.shielding`)."""

    pinned: Mapping[str, float] = field(default_factory=dict)

    def service(self, name: str, load: StationLoad, solution: StationSolution) -> dict[int, float]:
        """Service `name`'s served shares by priority class."""
        share = self.pinned.get(name)
        if share is None:
            return served_shares(load, solution)
        return {c.priority: share for c in load.classes if c.arrival_rate > 0}


def saturated_pool(load: StationLoad, solution: StationSolution) -> bool:
    """Whether the pool (a worker limit, an unbounded waiting room) has no steady state: its
    queue grows without end."""
    return not solution.stable and load.room is None and load.servers is not None


def held_forever(load: StationLoad, solution: StationSolution) -> bool:
    """Whether the pool is saturated because a callee never answers within the model (its
    load ratio is infinite: a saturated callee's wait is): no capacity to tell."""
    return saturated_pool(load, solution) and not math.isfinite(
        solution.load_ratio(load.servers or 1)
    )


def served_shares(load: StationLoad, solution: StationSolution) -> dict[int, float]:
    """Per priority class, the share of its arrivals the pool serves in the long run: empty
    (every arrival is served) unless the pool saturates with an unbounded waiting room and a
    finite load ratio.

    A pool whose requests take a worker again after a call (`blocking_calls: false`) has
    its resumes queue behind the growing backlog too: each of them is served the same share
    s, so a request's k-th segment runs at s^k of its arrivals (its walk weights its later
    steps by s, `models.analysis.operations`), and the load ratio is then λ (h_1 + s h_2 +
    ...) / c. Its fixed point s = 1 / ratio is FIFO's long-run share (2 workers, 10 ms
    before a call and 2 ms after it, offered 250/s: s² 2 ms + s 10 ms = 8 ms, s = 0.70:
    175/s start and 123/s finish)."""
    if not saturated_pool(load, solution):
        return {}
    ratio = solution.load_ratio(load.servers or 1)
    if not (math.isfinite(ratio) and ratio > 1.0):
        return {}
    classes = [c for c in load.classes if c.arrival_rate > 0]
    priorities = sorted({c.priority for c in classes})
    if not load.priority or solution.pressure is not None or len(priorities) < 2:
        return dict.fromkeys(priorities, 1.0 / ratio)
    work = {p: 0.0 for p in priorities}
    for c in classes:
        work[c.priority] += c.arrival_rate * c.holding.mean
    total = math.fsum(work.values())
    shares: dict[int, float] = {}
    left = 1.0  # the servers' share the classes before this one leave
    for priority in priorities:
        need = ratio * work[priority] / total  # (this class's load over the servers)
        shares[priority] = min(1.0, left / need) if need > 0 else 1.0
        left = max(0.0, left - need)
    return shares


def served_by_operation(
    keys: Iterable[OpKey], views: Mapping[StationId, StationView]
) -> dict[OpKey, float]:
    """Each service operation's and handler's share served where its station saturates
    (`served_shares`, `group_served`, as the stations' `views` carry it); those served
    whole are left out."""
    found: dict[OpKey, float] = {}
    for key in keys:
        view = None
        if key.kind == "service":
            view = views.get(StationId("service", key.name))
        elif key.kind == "handler":
            view = views.get(StationId("group", key.name, key.operation))
        if view is not None and view.served:
            found[key] = view.served_share(key.priority)
    return found


def group_served(station: GroupStation) -> dict[int, float]:
    """A consumer group's `served_shares`, its consumers weighted by their shares of the
    messages (a hot partition's consumer can saturate alone)."""
    per_consumer = [served_shares(load, solution) for load, solution in station.consumers]
    priorities = {p for shares in per_consumer for p in shares}
    return {
        p: math.fsum(
            weight * shares.get(p, 1.0)
            for weight, shares in zip(station.shares, per_consumer, strict=True)
        )
        for p in sorted(priorities)
    }


def unthrottled(views: Mapping[StationId, StationView]) -> dict[StationId, StationView]:
    """`views` with every station passing on all it is offered (no `served` shares)."""
    return {
        station: dataclasses.replace(view, served={}) if view.served else view
        for station, view in views.items()
    }


def overstated(
    scenario: Scenario,
    keys: Iterable[OpKey],
    services: Mapping[str, ServiceStation],
    groups: Mapping[tuple[str, str], GroupStation],
) -> tuple[list[StationId], frozenset[StationId]]:
    """The saturated stations held forever (`held_forever`: they pass on all they are
    offered, having no capacity to tell), and every station behind them, which is then
    predicted at more load than it gets (its values are not exact, whatever their
    formula)."""
    held = [
        StationId("service", name)
        for name, station in services.items()
        if held_forever(station.load, station.solution)
    ]
    held.extend(
        StationId("group", topic, group)
        for (topic, group), station in groups.items()
        if any(held_forever(load, solution) for load, solution in station.consumers)
    )
    origins = [key for key in keys if station_of(key) in held]
    reached = reachable_from(scenario, origins) if origins else []
    behind = {station_of(key) for key in reached if key not in origins}
    return held, frozenset(place for place in behind if place is not None)


def overstated_warning(stations: Iterable[StationId]) -> str:
    """What `overstated` found, said once."""
    names = [
        f"service '{s.name}'"
        if s.kind == "service"
        else f"consumer group '{s.group}' on topic '{s.name}'"
        for s in stations
    ]
    return (
        f"{', '.join(names)} saturated, and what it passes on is not modelled (its workers "
        "are held by a saturated callee): the stations behind it are predicted at the load "
        "offered to it, more than they get (not exact)"
    )
