"""One server pool's backlog over rate pieces or MMPP phases, as a fluid: what
`models.analysis.carry_over` (consumer groups) and `models.analysis.backlogs`
(services) add up.

A pool of c servers that serves mu requests per second flat out, offered lambda > mu,
piles up a backlog at lambda - mu and drains it at mu - lambda once offered less, serving
flat out until it is empty (the deterministic fluid approximation of a queue: Newell,
"Applications of Queueing Theory", 2nd ed. (1982), ch. 2). Where the pool has no backlog
it is in the steady state of the piece or phase it is in. Over a measured period of
length T the totals are:

- `area`: the integral of the backlog (requests or messages waiting beyond the steady
  state's), `flat_out`: the time with a backlog (every server busy, every arrival waits);
- `steady_present` and `steady_queue`: the integrals of the steady state's requests present
  and waiting over the time without a backlog; `busy` and `waited` likewise, plus the time
  and the arrivals with one;
- `published`: what arrived, `backlog`: what is left at the end.

Over rate pieces (`Pool.piece`, in order) the backlog's area is its triangles and
trapezoids. Over the phases of an MMPP (`phases`) the totals are expectations
per unit of time (T = 1): the backlog is the queue's heavy-traffic limit, a Markov-
modulated reflected Brownian motion (`models.theory.fluid_queue.brownian_queue`:
Karandikar & Kulkarni 1995), and who waits is read off the fluid queue of the same drifts
(Anick, Mitra & Sondhi 1982: every arrival while its buffer is not empty).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from models.analysis.moments import ZERO, mixture
from models.analysis.station_load import StationLoad, StationSolution
from models.theory.fluid_queue import brownian_queue_by_phase, fluid_queue

AT_CAPACITY = 1e-9
"""A phase offered within this fraction of a pool's capacity is at its capacity (the
capacity of a pool solved with its callees comes out of a fixed point, not exactly)."""


class Steady(NamedTuple):
    """A pool's steady state in a piece or phase (0s where it has none: overloaded)."""

    present: float
    """Requests present: waiting, in service (and, for a consumer, in delivery)."""
    queue: float
    """Requests waiting for a server."""
    utilization: float
    p_wait: float


def steady_of(load: StationLoad, solution: StationSolution, delay: float = 0.0) -> Steady:
    """The steady state of a pool solved as `solution` (Little's law on its waiting and
    holding times; `delay`: a time each request spends before it, a message's delivery)."""
    if not solution.stable or solution.arrival_rate <= 0:
        return Steady(0.0, 0.0, 0.0, 0.0)
    rate = solution.arrival_rate
    waiting = mixture(
        (c.arrival_rate, solution.waiting.get(c.priority, ZERO)) for c in load.classes
    )
    holding = mixture((c.arrival_rate, c.holding) for c in load.classes)
    return Steady(
        present=rate * (delay + waiting.mean + holding.mean),
        queue=rate * waiting.mean,
        utilization=solution.utilization,
        p_wait=solution.p_wait or 0.0,
    )


@dataclass
class Pool:
    """One pool's totals over the measured period (module docstring)."""

    servers: int
    capacity: float
    backlog: float = 0.0
    area: float = 0.0
    flat_out: float = 0.0
    steady_present: float = 0.0
    steady_queue: float = 0.0
    busy: float = 0.0
    """Integral of the busy fraction of its servers over time."""
    waited: float = 0.0
    """Arrivals that waited for a server (every one while flat out)."""
    published: float = 0.0
    by_phase: tuple[float, ...] = ()
    """Over an MMPP's phases (`phases`): the backlog's mean in each, E[X; phase i] (their
    sum is `area`); empty where not known (over rate pieces, or the fluid queue's)."""

    def piece(self, length: float, arrival: float, steady: Steady) -> None:
        """Advance over a piece of `length` s with `arrival` requests/s; `steady`: the
        piece's steady state where it leaves the pool alone (unused where it overloads
        it)."""
        self.published += arrival * length
        growth = arrival - self.capacity
        if growth >= 0.0:  # (overloaded: it piles up)
            after = self.backlog + growth * length
            self.area += (self.backlog + after) / 2 * length
            self.backlog = after
            self.flat_out += length
            self.busy += length
            self.waited += arrival * length
            return
        draining = min(length, self.backlog / -growth) if self.backlog > 0 else 0.0
        self.area += self.backlog * draining / 2
        self.backlog = max(self.backlog + growth * length, 0.0)
        self.flat_out += draining
        self.busy += draining
        self.waited += arrival * draining
        self._steady(length - draining, arrival, steady)

    def _steady(self, time: float, arrival: float, steady: Steady) -> None:
        self.steady_present += steady.present * time
        self.steady_queue += steady.queue * time
        self.busy += steady.utilization * time
        self.waited += steady.p_wait * arrival * time

    @property
    def present(self) -> float:
        """Integral of the requests present: the backlog, the servers while flat out, the
        steady state's otherwise."""
        return self.area + self.flat_out * self.servers + self.steady_present

    @property
    def queue(self) -> float:
        """Integral of the requests waiting for a server."""
        return self.area + self.steady_queue


class Phase(NamedTuple):
    """A pool in one phase of an MMPP (`phases`)."""

    share: float
    """The phase's stationary share of the time."""
    arrival: float
    """Requests per second offered to the pool."""
    steady: Steady
    arrival_scv: float
    """The SCV of the time between its arrivals."""


def phase_of(
    share: float, load: StationLoad, solution: StationSolution, delay: float = 0.0
) -> Phase:
    """A pool solved as `solution` in a phase of `share`, as `phases` takes it."""
    return Phase(share, solution.arrival_rate, steady_of(load, solution, delay), load.arrival_scv)


def holding_scv(loads: Sequence[StationLoad]) -> float:
    """The SCV of a pool's holding time, from the first of `loads` with arrivals (1 if
    none has)."""
    for load in loads:
        holding = mixture((c.arrival_rate, c.holding) for c in load.classes if c.arrival_rate)
        if holding.finite and holding.mean > 0:
            return holding.scv
    return 1.0


def phases(
    servers: int,
    capacity: float,
    generator: np.ndarray,
    inputs: Sequence[Phase],
    service_scv: float,
    delay: float = 0.0,
) -> Pool | None:
    """A pool's totals per unit of time over the phases of an MMPP whose phases change as
    `generator` says (module docstring); `service_scv`: the SCV of its holding time;
    `delay`: a time each request spends before it (a message's delivery). None where the
    pool is overloaded on average (or at its capacity).

    Its backlog is the Markov-modulated reflected Brownian motion of the queue's heavy-
    traffic limit (`fluid_queue.brownian_queue`): in phase i drift r_i - mu and variance
    r_i c_a,i^2 + mu c_s^2 per second (the arrivals' and, all servers busy, the departures'
    counts: Iglehart & Whitt, "Multiple channel queues in heavy traffic", Adv. Appl. Prob.
    2, 1970); it also takes a phase exactly at capacity. Requests present: that backlog
    plus the servers busy on average (utilization r / mu, by the conservation of work),
    plus those in `delay`. Requests that wait: every one in a phase at or above capacity,
    and where the fluid queue applies (no phase exactly at capacity) every one while its
    buffer is not empty, the steady state's share otherwise. Where a variance is 0
    (constant arrivals and work), the fluid's backlog is taken instead."""
    drifts = [phase.arrival - capacity for phase in inputs]
    mean_drift = math.fsum(phase.share * d for phase, d in zip(inputs, drifts, strict=True))
    if mean_drift >= -AT_CAPACITY * capacity:
        return None
    variances = [phase.arrival * phase.arrival_scv + capacity * service_scv for phase in inputs]
    at_capacity = [abs(d) <= AT_CAPACITY * capacity for d in drifts]
    fluid = None if any(at_capacity) else fluid_queue(generator, drifts)
    by_phase: tuple[float, ...] = ()
    if min(variances) > 0.0:
        by_phase = tuple(
            brownian_queue_by_phase(
                generator,
                [0.0 if a else d for a, d in zip(at_capacity, drifts, strict=True)],
                variances,
            )
        )
        backlog = math.fsum(by_phase)
    elif fluid is not None:
        backlog = fluid.mean_content
    else:
        return None
    pool = Pool(servers, capacity, area=backlog, by_phase=by_phase)
    pool.published = math.fsum(phase.share * phase.arrival for phase in inputs)
    pool.busy = pool.published / capacity
    pool.steady_present = servers * pool.busy + pool.published * delay
    for index, phase in enumerate(inputs):
        if fluid is not None:
            empty = fluid.empty[index]
            waits = (phase.share - empty) + empty * phase.steady.p_wait
        else:
            flat_out = at_capacity[index] or drifts[index] > 0.0
            waits = phase.share * (1.0 if flat_out else phase.steady.p_wait)
        pool.waited += waits * phase.arrival
    return pool
