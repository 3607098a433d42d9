"""A station fed by a finite population: the machine-repairman model M/M/c//M.

When every request reaching a station comes from a bounded set of sources — the workers of
services that hold them during the call, the clients of a closed flow — no more than M
requests can ever be there, however long its queue would grow under open (Poisson) arrivals.
This is the lower layer of the method of layers: the callers' M threads are the customers of
a closed system, each spending a mean `think` time elsewhere between visits (its own work,
other calls, being idle). Given the station's throughput, the think time is solved for, and
the waiting time read off the birth-death chain.

Formula: with n at the station, arrivals at rate (M - n) / Z and departures at
min(n, c) / S; p_n ∝ prod_{k=1..n} ((M - k + 1) / Z) / (min(k, c) / S); throughput
X = sum p_n min(n, c) / S; R = L / X (Little); an arrival sees the chain with M - 1 sources
(arrival theorem), so P(wait) = sum_{n >= c} (M - n) p_n / sum (M - n) p_n.

Source: Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 2.8 (finite source
queues); Kleinrock, "Queueing Systems" Vol. 1, sec. 3.8; Rolia & Sevcik, "The method of
layers", IEEE TSE 21(8) (1995).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.analysis.think_roots import brent_root


@dataclass(frozen=True)
class FiniteSource:
    """Steady state of M/M/c//M at a given throughput."""

    think_time: float
    """Mean time a source spends away between visits (solved for)."""
    mean_waiting_time: float
    p_wait: float


RESCALE = 1e150
"""Where `_weights`'s running weights are scaled down (each level multiplies them by at
most M S / Z, far below 1e150 on any bracket `finite_source` searches)."""


def _levels(servers: int, population: int) -> list[tuple[float, float]]:
    """Each level n = 1..M's (M - n + 1, min(n, c)): the sources that may arrive from the
    level below, and the servers busy at n (once per call; the root search reads them at
    every trial)."""
    return [
        (float(population - present + 1), float(present if present < servers else servers))
        for present in range(1, population + 1)
    ]


def _weights(levels: list[tuple[float, float]], mean_service: float, think: float) -> list[float]:
    """Unnormalised stationary weights of the birth-death chain, p_0..p_M up to a factor,
    built up one level at a time (module docstring; `levels` from `_levels`; plain floats:
    the root search evaluates it six to ten times for a population of a few dozen at
    most, where numpy's per-call cost dominated)."""
    step = mean_service / think
    weights = [1.0]
    last = 1.0  # (weights[-1], held in a local: the root search's inner loop)
    for arriving, busy in levels:
        last = last * arriving * step / busy
        weights.append(last)
        if last > RESCALE:
            weights = [weight / RESCALE for weight in weights]
            last = weights[-1]
    return weights


def _chain(levels: list[tuple[float, float]], mean_service: float, think: float) -> list[float]:
    """Stationary probabilities p_0..p_M of the birth-death chain (`_weights`, normalised)."""
    weights = _weights(levels, mean_service, think)
    total = sum(weights)
    return [weight / total for weight in weights]


def _throughput(
    levels: list[tuple[float, float]], busy: list[float], mean_service: float, think: float
) -> float:
    """X(Z) = sum p_n min(n, c) / S (p_n = `_chain`'s, each normalised as it is taken;
    `busy` the min(n, c), n = 0..M)."""
    weights = _weights(levels, mean_service, think)
    total = sum(weights)
    pairs = zip(weights, busy, strict=True)
    return sum([weight / total * serving for weight, serving in pairs]) / mean_service


def finite_source(
    arrival_rate: float, mean_service: float, servers: int, population: int
) -> FiniteSource | None:
    """M/M/c//M with throughput `arrival_rate`; None when that is beyond its capacity.

    >>> result = finite_source(0.8, 1.0, 1, 2)   # p = (0.2, 0.4, 0.4) at Z = 1
    >>> round(result.think_time, 6), round(result.mean_waiting_time, 6), round(result.p_wait, 6)
    (1.0, 0.5, 0.5)
    >>> finite_source(3.0, 1.0, 2, 5) is None   # at most 2 served per unit of time
    True
    """
    if population <= servers or arrival_rate <= 0:
        return FiniteSource(math.inf, 0.0, 0.0)
    capacity = servers / mean_service
    if arrival_rate >= capacity * (1.0 - 1e-12):
        return None
    # X(Z) = M / (Z + R(Z)) with S <= R(Z) <= M S / c (all M at the station): Z = M / lambda
    # - S gets at most lambda through, Z = M / lambda - M S / c at least
    high = math.log(population / arrival_rate - mean_service)
    fewest = population / arrival_rate - population * mean_service / servers
    low = math.log(fewest) if fewest > 0 else math.log(mean_service * 1e-12)
    levels = _levels(servers, population)
    busy = [0.0, *[serving for _, serving in levels]]
    known: dict[float, float] = {}  # (brentq asks again for the ends of the bracket)

    def excess(log_think: float) -> float:
        if log_think not in known:
            throughput = _throughput(levels, busy, mean_service, math.exp(log_think))
            known[log_think] = throughput - arrival_rate
        return known[log_think]

    if excess(high) >= 0:  # (R = S to rounding: next to no waiting)
        high = math.log(2.0 * population / arrival_rate)  # throughput <= M / Z = lambda / 2
    while excess(low) < 0:
        low -= 10.0
    think = math.exp(brent_root(excess, low, high, 1e-14, 1e-13))
    p = np.asarray(_chain(levels, mean_service, think))
    throughput = float(np.dot(p, np.asarray(busy))) / mean_service
    # W = Lq / X (Little), Lq summed directly: L / X - S cancels where next to nothing
    # waits, and a rounding-level wait over a P(wait) of 1e-34 made a conditional wait of
    # 8e14 s, whose variance (std 19 ms) a fork-join above it took as real (fuzz seed 1537)
    queued = np.arange(1.0, population - servers + 1.0)  # (n - c at n = c + 1..M)
    waiting = float(np.dot(p[servers + 1 :], queued)) / throughput
    sources = np.arange(float(population), -1.0, -1.0) * p  # ((M - n) p_n)
    p_wait = float(sources[servers:].sum() / sources.sum())
    return FiniteSource(think, waiting, p_wait)
