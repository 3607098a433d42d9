"""Replicas under `balancing: least_outstanding`: join the shortest queue.

A request goes to the replica with the fewest requests present and stays there. The
replicas are built as one pool of replicas x workers (`loads.LoadBuilder`), which is a
lower bound of their wait: a request queued behind a slow one does not move to a replica
that has just emptied. Simulated, that one pool was 12-30% under for replicas of one
worker (3 x 1 at 60%: -29%; 4 x 1 at 80%: -23%) and 7% under for 2 x 4 at 80%.

Where the pool's formula is an open FIFO one, its wait is scaled by what the replicas
add for exponential servers at the same load: the join-the-shortest-queue chain
(`models.theory.shortest_queue.jsq_mmc`) over M/M/c of the whole pool. For Poisson
arrivals and exponential work that is the chain itself. For other work it is an
approximation, the same ratio taken for every law (simulated: 3 x 1 at 60% with lognormal
work of cv 1.5, and at 70% with constant work; docs/analysis.md sec. 3).
"""

from __future__ import annotations

import dataclasses
import functools

from models.analysis.moments import Moments
from models.analysis.station_load import PoolMix, StationLoad, StationSolution
from models.theory import mmc
from models.theory.prediction import StationPrediction, stable_station
from models.theory.shortest_queue import LARGEST_REPLICAS, jsq_mmc

SCALED = "x join the shortest queue over M/M/c"
"""What a pool's method adds where its wait is scaled for its replicas."""
POOLED = "pooled approximation of least-outstanding balancing"
"""The note of a pool of least-outstanding replicas solved as one pool."""


def joins_shortest(replicas: int, servers: int) -> bool:
    """Whether the pool of `servers` split over `replicas` is solved as replicas that
    requests join the shortest of (up to `LARGEST_REPLICAS`; else one pool)."""
    return 1 < replicas <= LARGEST_REPLICAS and servers % replicas == 0


def shortest_queue(
    prediction: StationPrediction, mix: PoolMix, servers: int, replicas: int
) -> StationPrediction:
    """`prediction` of the whole pool of `servers`, its wait and probability of waiting
    scaled by what `replicas` that each request joins the shortest of add (`_ratios`); the
    chain itself for Poisson arrivals and one exponential mean."""
    mu = 1.0 / mix.holding.mean
    if mix.poisson and mix.exponential:
        joined = jsq_mmc(mix.rate, mu, servers // replicas, replicas)
        return joined if joined.stable else prediction
    wait_ratio, p_wait_ratio = _ratios(mix.rate / mu / servers, servers, replicas)
    return stable_station(
        method=f"{prediction.method} {SCALED}",
        exact=False,
        arrival_rate=mix.rate,
        mean_service_time=mix.holding.mean,
        servers=servers,
        mean_waiting_time=prediction.mean_waiting_time * wait_ratio,
        p_wait=min(prediction.p_wait * p_wait_ratio, 1.0),
    )


def joined_solution(solution: StationSolution, load: StationLoad) -> StationSolution:
    """A thread pool's `solution` as one pool (its flow-equivalent server's), its waits
    scaled by what the replicas of `load` add at its utilization (`_ratios`), its waits'
    SCV kept. Simulated (6 x 300 s): 3 replicas of one worker, 4 ms of work and a call to
    a database of 2 (3 ms), at 72%: 4.36 ms of waiting, where the one pool said 3.47 ms."""
    replicas, servers = load.least_outstanding, load.servers
    if servers is None or not solution.stable or not joins_shortest(replicas, servers):
        return solution
    wait_ratio, p_wait_ratio = _ratios(solution.utilization, servers, replicas)
    waiting = {
        priority: Moments(wait.mean * wait_ratio, wait.variance * wait_ratio**2)
        for priority, wait in solution.waiting.items()
    }
    p_wait = None if solution.p_wait is None else min(solution.p_wait * p_wait_ratio, 1.0)
    return dataclasses.replace(
        solution,
        method=f"{solution.method} {SCALED}",
        exact=False,
        waiting=waiting,
        p_wait=p_wait,
    )


RESOLVED = 1e-8
"""The pooled probability of waiting below which the chain's wait, for replicas of several
servers, can be rounding (the levels below c hold it): its ratio is taken where that
probability is `RESOLVED` (`_resolved_load`). Below, a change of 1e-16 in the load moved
the ratio by 5% (3 x 8 threads at 11%: 2.80 or 2.68, and by 1.2e-10 for 2 x 4 at 10%; one
server a replica, to 1e-15 everywhere), and a pool whose wait the population model had
at 6 us went back and forth for 300 rounds (fuzz seed 3434 at 70%)."""


@functools.lru_cache(maxsize=64)
def _resolved_load(servers: int) -> float:
    """The load (Erlangs) at which M/M/`servers` waits with probability `RESOLVED`
    (bisection: the probability rises with the load)."""
    low, high = 0.0, float(servers)
    for _ in range(80):
        middle = (low + high) / 2
        low, high = (middle, high) if mmc(middle, 1.0, servers).p_wait < RESOLVED else (low, middle)
    return high


def _ratios(utilization: float, servers: int, replicas: int) -> tuple[float, float]:
    """How many times the wait and the probability of waiting of one pool of `servers`
    exponential servers at `utilization` are those of `replicas` of them that each request
    joins the shortest of (`jsq_mmc` over `mmc`), for replicas of several servers at a load
    no lower than where the chain resolves them (`RESOLVED`); (1, 1) where the pool never
    waits."""
    load = utilization * servers
    several = servers > replicas
    if several and load > 0.0 and mmc(load, 1.0, servers).p_wait < RESOLVED:
        load = max(load, _resolved_load(servers))
    joined = jsq_mmc(load, 1.0, servers // replicas, replicas)
    pooled = mmc(load, 1.0, servers)
    if not (joined.stable and pooled.mean_waiting_time > 0 and pooled.p_wait > 0):
        return 1.0, 1.0
    return (
        float(joined.mean_waiting_time / pooled.mean_waiting_time),
        float(joined.p_wait / pooled.p_wait),
    )


def without_pooled(note: str) -> str:
    """`note` less `POOLED`, which `LoadBuilder` puts first (the replicas solved as such)."""
    return note.removeprefix(POOLED).removeprefix(", ")
