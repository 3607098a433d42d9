"""A thread pool whose callees are its own, solved from the open model's population below
it (`models.analysis.excess`): which pools qualify, their population, and the waiting it
gives the pool and each callee.

A pool qualifies when the flow-equivalent server applies to it (`models.analysis.pools`),
it has more than one worker (one worker is an M/G/1 queue exactly, solved there), it is
one pool (one replica, or replicas sharing their workers), and every callee is eligible
there, one pool too, and called by this service alone (all its arrivals come from the
pool's calls). Replicas each with its own queue are left to the flow-equivalent server:
counted as one pool they wait too little (the three tiers of the regression set at 60%:
app's two random-balanced pools of 6, -50%), and a callee's queue shared by two of them
is not the open model's of either.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from models.analysis.excess import (
    Population,
    capped_wait,
    pool_population,
    queue_population,
)
from models.analysis.graph import StationId
from models.analysis.layers import METHOD, Found
from models.analysis.loads import ServiceStation
from models.analysis.moments import mixture, waiting_moments
from models.analysis.stations import StationLoad, StationSolution

EXCESS_METHOD = f"{METHOD}, waiting from the open model's population below it"
CALLEE_METHOD = "waiting capped by its caller's thread pool (open model's population)"


@dataclass(frozen=True)
class _Callee:
    """A callee as the pool sees it: its population in the open model, per pool of it."""

    name: str
    visits: float
    population: Population
    servers: int | None


@dataclass(frozen=True)
class Populations:
    """What the pools solved here leave for their callers, in one round."""

    found: dict[str, Population]
    """Each pool's population below it (unlimited threads)."""
    opened: dict[str, StationSolution]
    """Every service's open-model solution, before any pool replaced it."""


@dataclass(frozen=True)
class Below:
    """What is below a qualifying pool: its population (unlimited threads) and callees."""

    population: Population
    threads: int
    callees: tuple[_Callee, ...]


def population_below(
    load: StationLoad,
    station: ServiceStation,
    found: Found,
    services: Mapping[str, ServiceStation],
    populations: Populations,
) -> Below | None:
    """The population below `station`'s pool, if it qualifies (module docstring)."""
    visits, times, every_callee_eligible = found
    if not every_callee_eligible or load.servers is None:
        return None
    threads = load.servers
    rate = station.solution.arrival_rate
    if station.pools != 1 or threads <= 1 or rate <= 0:
        return None
    holding = mixture((c.arrival_rate, c.holding) for c in load.classes if c.arrival_rate)
    delay = max(holding.mean - math.fsum(times.values()), 0.0)
    callees = []
    for name, count in visits.items():
        callee = services[name]
        solution = populations.opened[name]
        waits = list(solution.waiting.values())
        if (
            not solution.stable
            or callee.pools != 1
            or len(waits) != 1
            or not waits[0].finite
            or not math.isclose(solution.arrival_rate * callee.pools, rate * count, rel_tol=1e-6)
        ):
            return None
        if name in populations.found:  # a pool solved here
            callees.append(_Callee(name, count, populations.found[name], callee.load.servers))
            continue
        one = queue_population(
            callee.load.servers,
            solution.arrival_rate,
            solution.offered_load / solution.arrival_rate,
            waits[0].mean,
        )
        callees.append(_Callee(name, count, one, callee.load.servers))
    population = pool_population(rate, delay, [(c.population, c.visits) for c in callees])
    return Below(population, threads, tuple(callees))


def apply_excess(
    station: ServiceStation,
    below: Below,
    services: dict[str, ServiceStation],
    populations: Populations,
) -> dict[StationId, float] | None:
    """Set the pool's waiting and its callees' from the population below it (remembered in
    `populations` for its callers, which cap it in turn) and return the waiting its
    requests see at each callee; None, leaving the flow-equivalent server's solution, when
    that has the pool wait longer.

    Each model has one of the two reasons a pool's requests wait: the flow-equivalent
    server the pool's own limit (its capacity X(c) of the closed subnetwork: the limit
    when its threads spend much of their time outside the callees' queues, which the
    conservation argument does not see), the population the slow excursions of a queue
    below (which the flow-equivalent server averages away). Neither misses waiting that
    is there for its own reason, so the one that finds more is the one whose reason
    dominates, and all of its waiting is taken, the callees' included (a pool of 4 held
    20 ms + an M/M/1 database of 10 ms at 88/s: waits of 216 ms vs 64 ms, simulated 297 ms;
    the database's 13.8 ms vs 10.7 ms, simulated 13.8 ms; at 60/s 5.7 ms vs 7.2 ms,
    simulated 8.3 ms)."""
    population = below.population
    populations.found[station.name] = population
    wait = capped_wait(population, below.threads, math.inf)
    solution = station.solution
    if max((w.mean for w in solution.waiting.values()), default=0.0) >= wait:
        return None
    p_wait = population.at_least(below.threads)
    station.solution = dataclasses.replace(
        solution,
        method=EXCESS_METHOD,
        p_wait=p_wait,
        waiting={priority: waiting_moments(wait, p_wait) for priority in solution.waiting},
    )
    seen: dict[StationId, float] = {}
    for callee in below.callees:
        cap = below.threads - (population.mean - callee.population.mean)  # those elsewhere
        if callee.servers is None:
            callee_wait = 0.0
        else:
            callee_wait = capped_wait(callee.population, callee.servers, cap)
        target = services[callee.name]
        p_callee = target.solution.p_wait if target.solution.p_wait is not None else 1.0
        target.solution = dataclasses.replace(
            target.solution,
            method=_capped_method(target.solution.method),
            exact=False,
            waiting={p: waiting_moments(callee_wait, p_callee) for p in target.solution.waiting},
        )
        seen[StationId("service", callee.name)] = callee_wait
    return seen


def _capped_method(method: str) -> str:
    base = method.split(", waiting seen through")[0]
    return base if CALLEE_METHOD in base else f"{base}, {CALLEE_METHOD}"
