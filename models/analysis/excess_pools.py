"""A thread pool whose callees are its own, solved from the open model's population below
it (`models.analysis.excess`): which pools qualify, their population, and the waiting it
gives the pool and each callee.

A pool qualifies when the flow-equivalent server applies to it (`models.analysis.pools`),
it is not a single worker (one worker is an M/G/1 queue exactly, solved there), and every
callee is eligible there and called by this service alone (all its arrivals come from
its calls). A service's replicas, each with its own queue, split its population: each
request is in one of them at random (a binomial thinning; exact for random balancing,
an approximation for round robin, whose arrivals are smoother).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from models.analysis.excess import HeadCache, Population, pool_population, queue_population
from models.analysis.graph import StationId
from models.analysis.layers import METHOD, Found
from models.analysis.moments import Moments, mixture, waiting_moments
from models.analysis.revised import revised
from models.analysis.smooth_arrivals import calm, round_robin_scale
from models.analysis.station_load import ServiceStation, StationLoad, StationSolution

EXCESS_METHOD = f"{METHOD}, waiting from the open model's population below it"
CALLEE_METHOD = "waiting capped by its caller's thread pool (open model's population)"
NEGLIGIBLE = 1e-12
"""A wait (seconds) below which the population's is rounding, not waiting."""


@dataclass(frozen=True)
class _Callee:
    """A callee as the pool sees it: its population in the open model, all its pools."""

    name: str
    visits: float
    population: Population
    servers: int | None
    queue: float
    """Its requests waiting for its servers or threads with nothing above capping them."""
    pool: bool
    """A pool solved here (else a queue)."""


@dataclass
class BelowMemo:
    """What the populations below the pools gave, by their inputs, kept from round to
    round and from solve to solve (`SolveMemo.below`): as the iteration settles, the
    rounds meet the same populations again (100 generated services: 2,220 heads of 645
    populations, 1,253 callees held back of 382)."""

    heads: HeadCache = dataclasses.field(default_factory=dict)
    """The populations' heads (`excess.HeadCache`)."""
    held: dict[tuple[Population, int, float], float] = dataclasses.field(default_factory=dict)
    """`Below.held_back`'s, by (population, pools, level)."""

    def copy(self) -> BelowMemo:
        """Another memo that starts from what this one holds."""
        return BelowMemo(dict(self.heads), dict(self.held))


@dataclass(frozen=True)
class Populations:
    """What the pools solved here leave for their callers, in one round."""

    opened: dict[str, StationSolution]
    """Every service's open-model solution, before any pool replaced it."""
    found: dict[str, Population] = dataclasses.field(default_factory=dict)
    """Each qualifying pool's population below it (unlimited threads)."""
    queues: dict[str, float] = dataclasses.field(default_factory=dict)
    """The requests waiting for each of those pools' threads when nothing above caps them."""
    memo: BelowMemo = dataclasses.field(default_factory=BelowMemo)
    """What the populations below gave so far (the solve's, kept from round to round)."""


@dataclass(frozen=True)
class Below:
    """What is below a qualifying service: its population (unlimited threads), its pools
    of `threads` threads each, and its callees."""

    population: Population
    threads: int
    pools: int
    callees: tuple[_Callee, ...]
    holding: Moments
    """The service's holding time (its classes' with arrivals, mixed by their rates)."""

    def held_back(self, part: Population, level: float, memo: BelowMemo | None = None) -> float:
        """Requests of `part` (a population below, all of this service's requests) that its
        pools cannot let below `level` (each request in one pool at random); `memo`: what
        the populations below gave before (`BelowMemo`)."""
        key = (part, self.pools, level)
        found = None if memo is None else memo.held.get(key)
        if found is None:
            one = part.thinned(1.0 / self.pools) if self.pools > 1 else part
            found = self.pools * one.excess(level, known=None if memo is None else memo.heads)
            if memo is not None:
                memo.held[key] = found
        return found


def population_below(
    load: StationLoad,
    station: ServiceStation,
    found: Found,
    services: Mapping[str, ServiceStation],
    populations: Populations,
    holding: Moments | None = None,
) -> Below | None:
    """The population below `station`'s pools, if they qualify (module docstring);
    `holding`: their holding time, if already found (`Below.holding`)."""
    visits, times, every_callee_eligible = found
    threads = load.servers
    if not visits or not every_callee_eligible or threads is None or threads * station.pools <= 1:
        return None
    rate = station.solution.arrival_rate * station.pools
    if rate <= 0:
        return None
    callees = []  # (its holding time only once every callee qualifies: most do not)
    found_below = populations.found
    for name, count in visits.items():
        callee = services[name]
        pools = callee.pools
        solution = populations.opened[name]
        waits = solution.waiting
        if (
            not solution.stable
            or len(waits) != 1
            or not math.isclose(solution.arrival_rate * pools, rate * count, rel_tol=1e-6)
        ):
            return None
        (wait,) = waits.values()
        if not wait.finite:
            return None
        servers = callee.load.servers
        below = found_below.get(name)
        if below is not None:  # a pool solved here
            queue = populations.queues[name]
            callees.append(_Callee(name, count, below, servers, queue, pool=True))
            continue
        one = queue_population(
            servers,
            solution.arrival_rate,
            solution.offered_load / solution.arrival_rate,
            wait.mean,
        )
        every = one  # (all its pools: one's times 1 are one's to the bit)
        if pools != 1:
            every = Population(
                one.delay * pools, one.queues * pools, one.waiting * pools, one.tail_rate * pools
            )
        callees.append(_Callee(name, count, every, servers, every.waiting, pool=False))
    if holding is None:
        holding = mixture([(c.arrival_rate, c.holding) for c in load.classes if c.arrival_rate])
    delay = max(holding.mean - math.fsum(times.values()), 0.0)
    population = pool_population(rate, delay, [(c.population, c.visits) for c in callees])
    return Below(population, threads, station.pools, tuple(callees), holding)


def apply_excess(
    station: ServiceStation,
    below: Below,
    services: dict[str, ServiceStation],
    populations: Populations,
    layered: Mapping[StationId, float] | None = None,
    queued: float = 0.0,
) -> dict[StationId, float]:
    """Set the pool's waiting and its callees' from the population below it and the model
    the pool has so far (the flow-equivalent server's, or the open model's); remember the
    population and the pool's queue in `populations` for its callers, which cap it in
    turn; return the waiting its requests see at each callee. `layered`: the waiting the
    flow-equivalent server had the pool's requests see at each callee, if it applied.
    `queued`: how often the pool's threads queue at a one-server callee of their own
    (`layers.own_server_pacing`); the population's wait beyond the flow-equivalent
    server's counts that much less there, as it takes the calls to that server as Poisson
    where a thread's next call follows its reply (3 threads calling an exponential server
    twice at 80%: 40.5 ms, the flow-equivalent server 30.9 ms, 31.6 ms simulated).

    Each model has one of the two reasons a pool's requests wait: the flow-equivalent
    server the pool's own limit (its capacity X(c) of the closed subnetwork: the limit
    when its threads spend much of their time outside the callees' queues, which the
    conservation argument does not see), the population the slow excursions of a queue
    below (which the flow-equivalent server averages away). Neither misses waiting that
    is there for its own reason, so the pool waits the longer of the two, and its callees
    as the model that finds more has them wait (a pool of 4 held 20 ms + an M/M/1 database
    of 10 ms at 88/s: waits of 216 ms vs 64 ms, simulated 297 ms; the database's 13.8 ms vs
    10.7 ms, simulated 13.8 ms; at 60/s 5.7 ms vs 7.2 ms, simulated 8.3 ms) — weighted by
    w = W_other^4 / (W_other^4 + W_population^4), not switched, so that a pool whose two
    waits are close cannot flip from one to the other between rounds of the iteration (it
    did: a 2-cycle that never settled). A callee queue's (not a pool's) waiting, capped by
    the pool, is the shorter of the two models': truncating the population at the cap
    misses that a capped population arrives more smoothly when many are below (the
    finite-source effect the closed subnetwork sees: three tiers at 60%, the database
    0.83 ms vs 0.77 ms, simulated 0.69 ms); the flow-equivalent server scales a capped
    queue by the callee's variability as if it were open (two classes at 95%: 36.2 ms vs
    27.8 ms, simulated 25.9 ms)."""
    population = below.population
    populations.found[station.name] = population
    one = population.thinned(1.0 / below.pools) if below.pools > 1 else population
    head = one.head(below.threads + 2, populations.memo.heads)
    # (pools x E[(N_one - c)^+]: what they hold back at their threads, remembered by value)
    own = below.held_back(population, below.threads, populations.memo) / population.tail_rate
    if own < NEGLIGIBLE:  # (rounding: E[N] less the head's mean)
        own = 0.0
    solution = station.solution
    others = list(solution.waiting.values())
    other = max((w.mean for w in others), default=0.0)
    if own > other:  # (where the threads queue at a server of their own: `queued`)
        own = (1.0 - queued) * own + queued * other
    weight = _weight(other, own)
    wait = max(other, own)
    share = calm(population.waiting, population.mean)
    if own > other and share > 0.0:  # (the pool's own wait only: its callees' waits
        dealt = _dealt(station, below.holding)  # blend as before)
        wait = max(other, own * (share * dealt + 1.0 - share))
    populations.queues[station.name] = wait * population.tail_rate
    p_own = max(1.0 - float(np.add.reduce(head[: below.threads])), 0.0)  # (`ndarray.sum`)
    p_other = solution.p_wait if solution.p_wait is not None else p_own
    # the second moments blended as the waits are (each model's own: waiting_moments)
    second = weight * max((w.variance + w.mean**2 for w in others), default=0.0)
    second += (1.0 - weight) * (2.0 * own**2 / p_own if own > 0 and p_own > 0 else 0.0)
    station.solution = revised(
        solution,
        method=solution.method if weight >= 0.5 else EXCESS_METHOD,
        p_wait=weight * p_other + (1.0 - weight) * p_own,
        waiting={p: Moments(wait, max(second - wait**2, 0.0)) for p in solution.waiting},
    )
    seen: dict[StationId, float] = {}
    everyone = population.mean
    for callee in below.callees:
        station_id = StationId("service", callee.name)
        target = services[callee.name]
        before = layered.get(station_id) if layered is not None else None
        if before is None:  # (the open model's)
            opened = populations.opened[callee.name].waiting.values()
            before = max((w.mean for w in opened), default=0.0)
        callee_wait = 0.0
        if callee.servers is not None and callee.population.tail_rate > 0:
            elsewhere = (everyone - callee.population.mean) / below.pools
            held = below.held_back(callee.population, below.threads - elsewhere, populations.memo)
            callee_wait = max(callee.queue - held, 0.0) / callee.population.tail_rate
        if not callee.pool:
            callee_wait = min(callee_wait, before)
        callee_wait = weight * before + (1.0 - weight) * callee_wait
        target.solution = revised(  # (exponential-like, as layers.py has it)
            target.solution,
            method=_capped_method(target.solution.method),
            exact=False,
            waiting={p: waiting_moments(callee_wait, 1.0) for p in target.solution.waiting},
        )
        seen[station_id] = callee_wait
    return seen


def _dealt(station: ServiceStation, holding: Moments) -> float:
    """For replicas dealt every k-th of a Poisson stream (round robin), how much less they
    wait than with Poisson arrivals: the flow-equivalent server's scale for them
    (`smooth_arrivals.round_robin_scale`) over its Poisson one, (1 + cs²)/2 (the
    population counts requests as a Poisson stream brings them); 1 otherwise. Only where
    next to nothing waits below (`CALM_BELOW`): the pool's own excess then comes from its
    arrivals; where a queue below is long, from that queue's slow excursions, which the
    arrivals' smoothness at the top does not shorten (the open three tiers at 95% of §11.1,
    its web tier of 2 replicas dealt in turn over a database at 91%: 4.3% mean error, 18.1%
    with the scale). `holding`: its holding time (`Below.holding`)."""
    dealt = round_robin_scale(station.load, station.solution.arrival_rate, holding)
    return 1.0 if dealt is None else dealt / ((1.0 + min(holding.scv, 1e6)) / 2.0)


def _weight(other: float, own: float) -> float:
    """How much the other model's waits count: W_other^4 / (W_other^4 + W_own^4)."""
    if other <= 0.0 and own <= 0.0:
        return 1.0
    largest = max(other, own)
    return (other / largest) ** 4 / ((other / largest) ** 4 + (own / largest) ** 4)


def _capped_method(method: str) -> str:
    base = method.split(", waiting seen through")[0]
    return base if CALLEE_METHOD in base else f"{base}, {CALLEE_METHOD}"
