"""The backlog a rate piece leaves at a consumer group, carried into the next pieces (a
fluid model), for `models.analysis.pointwise`.

A piece whose rate overloads consumers of a group has no steady state:
each overloaded consumer j (a pool of c_j threads that serves mu_j messages per second,
its partitions' share of the group's on a log topic) piles up B_j at lambda_j - mu_j while
the rate lasts, and drains it at mu_j - lambda_j in the pieces after, serving flat out until
it is empty (the deterministic fluid approximation of a queue: Newell, "Applications of
Queueing Theory", 2nd ed. (1982), ch. 2; the same as the fault windows' in
`models.analysis.outages`). Over the measured period of length T:

- the lag: the backlog's area (its triangles and trapezoids) plus c_j while the consumer is
  flat out, plus the steady state's lag (messages in delivery, waiting or in service) in
  the time each piece leaves it alone;
- the sojourn by Little's law: the mean lag over the published rate;
- the utilization: flat out (1) while it drains, the steady state's otherwise;
- the throughput: what was published less what is still piled up at the end.

Messages the consumers publish or call on are taken at the rates published to them (the
flat-out consumers' cap on them is left out), and groups whose handler fails and retries
are not carried over (the pieces then keep the flows' average rate). A group fed through an
entry service that the pieces overload too is offered what that service sends
(`models.analysis.tandem`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from models.analysis.fluid_pools import Pool, Steady, holding_scv, phase_of, steady_of
from models.analysis.fluid_pools import phases as fluid_phases
from models.analysis.moments import mixture
from models.analysis.network import NetworkSolution
from models.analysis.prediction import PredictedGroup
from models.analysis.station_load import GroupStation
from models.analysis.stations import solve_station
from models.schema import Scenario

GroupKey = tuple[str, str]
"""(topic, group)."""


def carriable(scenario: Scenario, average: NetworkSolution, key: GroupKey) -> bool:
    """Whether the backlog that a piece or a phase leaves at group `key` is carried over:
    the group drains at the average rate (stable in the network `average` solved at it),
    does not autoscale (not predicted) and its handler does not retry."""
    topic, group = key
    subscriber = scenario.topics[topic].subscribers[group]
    scaled = subscriber.autoscale or scenario.services[group].autoscale
    return subscriber.max_attempts == 1 and not scaled and average.groups[key].stable()


def _steady(
    station: GroupStation, index: int, factor: float = 1.0, capacity: float = math.inf
) -> Steady:
    """Consumer `index`'s steady state (its lag: in delivery, waiting or in service), at
    `factor` times its arrivals (its pool solved again at that rate where it is below the
    consumer's `capacity`; unused above it)."""
    load, result = station.consumers[index]
    if factor == 1.0:
        return steady_of(load, result, station.delivery.mean)
    if result.arrival_rate * factor >= capacity:
        return Steady(0.0, 0.0, 0.0, 0.0)
    scaled = dataclasses.replace(
        load,
        classes=tuple(
            dataclasses.replace(
                c, arrival_rate=c.arrival_rate * factor, fresh_rate=c.fresh_rate * factor
            )
            for c in load.classes
        ),
        interarrival=None,
        bounded=None,
    )
    return steady_of(scaled, solve_station(scaled), station.delivery.mean)


def carry_over(
    key: GroupKey,
    pieces: Sequence[tuple[float, NetworkSolution]],
    length: float,
    shape: Sequence[Sequence[tuple[float, float]]] | None = None,
) -> PredictedGroup | None:
    """The group `key`'s means over the measured period (of `length` s) cut into `pieces`
    (share, solution), its backlog carried over (module docstring), as a document whose
    lag, sojourn and waiting times, throughput, utilization and P(wait) replace the
    pieces' average; None where a consumer's capacity is not known, or nothing is
    published. `shape`, if given, cuts each piece in parts (fraction of the piece, factor):
    in each, every consumer is offered its piece's rate times the factor
    (`models.analysis.tandem`)."""

    consumers: list[Pool] = []
    first = pieces[0][1].groups[key]
    for index, (load, _) in enumerate(first.consumers):
        capacity = _capacity(pieces, key, index)
        if load.servers is None or capacity is None:
            return None
        consumers.append(Pool(load.servers, capacity))
    handled = 0.0
    for number, (share, solution) in enumerate(pieces):
        station = solution.groups[key]
        parts = [(1.0, 1.0)] if shape is None else shape[number]
        for index, consumer in enumerate(consumers):
            _, result = station.consumers[index]
            for fraction, factor in parts:
                steady = _steady(station, index, factor, consumer.capacity)
                consumer.piece(fraction * share * length, result.arrival_rate * factor, steady)
        handled += share * length * _handler_time(station)
    return _document(consumers, handled, length)


def markov_carry_over(
    key: GroupKey,
    phases: Sequence[tuple[float, NetworkSolution]],
    consumers: Sequence[Pool] | None,
) -> PredictedGroup | None:
    """The group `key`'s means where `phases` (stationary share, solution) are the phases
    of an MMPP (or of several superposed), from its `consumers` over them
    (`markov_consumers`: each one's backlog a Markov-modulated Brownian queue); None where
    there are none (a consumer's capacity not known, or one overloaded on average)."""
    if consumers is None:
        return None
    handled = math.fsum(share * _handler_time(solution.groups[key]) for share, solution in phases)
    return _document(consumers, handled, 1.0)


def markov_consumers(
    key: GroupKey,
    phases: Sequence[tuple[float, NetworkSolution]],
    generator: np.ndarray,
) -> list[Pool] | None:
    """The group `key`'s consumers where `phases` (stationary share, solution) are the
    phases of an MMPP (or of several superposed) whose phases change as `generator` says,
    each a pool whose backlog is a Markov-modulated Brownian queue (`fluid_pools.phases`);
    None where a consumer's capacity is not known, or one is overloaded on average."""
    first = phases[0][1].groups[key]
    consumers: list[Pool] = []
    for index, (load, _) in enumerate(first.consumers):
        capacity = _capacity(phases, key, index)
        if load.servers is None or capacity is None:
            return None
        stations = [(share, solution.groups[key]) for share, solution in phases]
        delay = stations[0][1].delivery.mean
        inputs = [phase_of(share, *group.consumers[index], delay) for share, group in stations]
        loads = [group.consumers[index][0] for _, group in stations]
        pool = fluid_phases(load.servers, capacity, generator, inputs, holding_scv(loads), delay)
        if pool is None:
            return None
        consumers.append(pool)
    return consumers


def _document(consumers: Sequence[Pool], handled: float, length: float) -> PredictedGroup | None:
    """A group's means from its consumers' totals over `length` s (`Pool`) and the
    handler time summed over it (`handled`); None if nothing is published."""
    published = math.fsum(c.published for c in consumers)
    if published <= 0:
        return None
    lag = math.fsum(c.present for c in consumers) / length
    sojourn = lag * length / published
    handler = handled / length
    threads = sum(c.servers for c in consumers)
    return PredictedGroup(
        throughput=(published - math.fsum(c.backlog for c in consumers)) / length,
        utilization=math.fsum(c.busy * c.servers for c in consumers) / (threads * length),
        p_wait=math.fsum(c.waited for c in consumers) / published,
        lag={"mean": lag},
        waiting_time={"mean": max(sojourn - handler, 0.0)},
        sojourn_time={"mean": sojourn},
        max_partition_utilization=max(c.busy / length for c in consumers),
        consumers=len(consumers),
        method="",
        exact=False,
        stable=True,
    )


def _capacity(
    pieces: Sequence[tuple[float, NetworkSolution]], key: GroupKey, index: int
) -> float | None:
    """Messages per second consumer `index` serves flat out (`StationSolution.capacity`,
    from a piece where it has arrivals)."""
    for _, solution in pieces:
        load, result = solution.groups[key].consumers[index]
        capacity = result.capacity(load.servers)
        if result.arrival_rate > 0 and math.isfinite(capacity):
            return capacity
    return None


def _handler_time(station: GroupStation) -> float:
    """The mean handler time of a group's messages (0 without any)."""
    classes = (c for load, _ in station.consumers for c in load.classes)
    return mixture((c.arrival_rate, c.holding) for c in classes).mean


CARRIED = (
    "throughput",
    "utilization",
    "p_wait",
    "lag",
    "waiting_time",
    "sojourn_time",
    "max_partition_utilization",
)
"""A group's means that the carried backlog gives (`carry_over`)."""
