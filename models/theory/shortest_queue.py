"""Join the shortest queue: Poisson arrivals sent to the replica with the fewest present.

Assumptions: `replicas` identical replicas, each a FIFO pool of `servers` exponential
servers (rate mu each) with an unbounded waiting room; Poisson arrivals at rate lambda;
each arrival joins a replica with the fewest requests present (waiting or in service) and
stays there. Ties may go anywhere: the replicas are alike, so the means do not depend on it.

This is `balancing: least_outstanding`. One pool of replicas x servers (M/M/rc) is a lower
bound of its wait: a request queued behind a slow one at its replica does not move to a
replica that has just emptied.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from models.theory._checks import require_count, require_nonnegative, require_positive
from models.theory.prediction import StationPrediction, stable_station, unstable_or_idle

METHOD = "join the shortest queue (M/M/c replicas, matrix-geometric)"
LARGEST_EXCESS = 8
"""The most requests a replica is followed holding above the shortest one (fewer for many
replicas: `_largest_excess`). A departure that would take the spread beyond it is taken as
leaving from a longest replica instead (the spread beyond it is rare: with 3 replicas of
one server at 95%, the states at the bound hold less than 1e-6 of the time)."""
MAX_PHASES = 150
"""At most this many spreads (sorted excess vectors) per level."""
LARGEST_REPLICAS = 16
"""The most replicas solved (136 spreads of at most 2 per level: about 30 ms a solve)."""
REDUCTION_STEPS = 60
"""Steps of the logarithmic reduction (each doubles the levels it spans)."""


def jsq_mmc(
    arrival_rate: float, service_rate: float, servers: int, replicas: int
) -> StationPrediction:
    """Steady-state means of join-the-shortest-queue over `replicas` M/M/`servers` pools.

    Formula: the state is the smallest number present at any replica, the level m, and the
    sorted excesses of the others over it (the phase; replicas are alike, so sorting loses
    nothing). An arrival joins a replica at the level: if it was the only one there, the
    level rises by one and the excesses of the others fall by one. A departure from a
    replica at the level lowers it by one (raising the others' excesses); one from above the
    level lowers that replica's excess. A replica of n present serves at mu min(n, c), so
    from level c up the transitions no longer depend on the level: a quasi-birth-death
    process whose levels from c on are pi(c) R^k, R the minimal solution of
    A0 + R A1 + R^2 A2 = 0, found by logarithmic reduction (Latouche & Ramaswami,
    "Introduction to Matrix Analytic Methods in Stochastic Modeling", SIAM 1999, sec. 8.4;
    R = A0 (-A1 - A0 G)^-1, thm. 6.4.1), the levels below c from their balance equations.
    The mean number waiting Lq follows, and by Little's law W = Lq / lambda; the
    probability of waiting is the share of arrivals that find every server of the replica
    they join busy (PASTA: the level is at least c). Excesses are followed up to
    `LARGEST_EXCESS` (see there); with one replica this is M/M/c exactly.

    >>> round(jsq_mmc(0.5, 1.0, 1, 1).mean_waiting_time, 9)  # M/M/1 at 0.5: rho/(mu - lambda)
    1.0
    >>> round(jsq_mmc(1.5, 1.0, 1, 2).mean_waiting_time, 4)  # two single servers at 75%
    1.448
    >>> # (above one pool of 2, M/M/2: 1.286; below two M/M/1 at random: 3.0)
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    mu = require_positive("service_rate", service_rate)
    c = require_count("servers", servers)
    r = require_count("replicas", replicas)
    if r > LARGEST_REPLICAS:
        raise ValueError(f"replicas must be at most {LARGEST_REPLICAS}, got {r}")
    total = c * r
    trivial = unstable_or_idle(METHOD, rate, mu, total)
    if trivial is not None:
        return trivial
    chain = _chain(r, _largest_excess(r))
    blocks = [chain.blocks(level, rate, mu, c) for level in range(c + 1)]
    up, local, down = blocks[c]
    g = _g_matrix(up, local, down)
    rr = up @ np.linalg.inv(-local - up @ g)
    levels = _boundary(blocks, rr)
    ones = np.ones(len(chain.excess))
    tail_sum = np.linalg.inv(np.eye(len(ones)) - rr)
    queued = 0.0  # requests waiting, summed directly (L / lambda - 1 / mu would cancel)
    for level, pi in enumerate(levels[:-1]):
        queued += float(pi @ np.maximum(level + chain.spreads - c, 0).sum(axis=1))
    top = levels[-1]
    beyond = top @ tail_sum  # sum over k >= 0 of pi(c) R^k
    queued += float(beyond @ chain.excess)  # (from level c: each replica waits its excess + k)
    queued += r * float(top @ rr @ tail_sum @ tail_sum @ ones)  # sum k pi(c) R^k 1, times r
    wait = queued / rate
    waiting = float(beyond @ ones)  # level >= c: the shortest replica's servers all busy
    return stable_station(
        method=METHOD,
        exact=r == 1,
        arrival_rate=rate,
        mean_service_time=1.0 / mu,
        servers=total,
        mean_waiting_time=wait,
        p_wait=waiting,
    )


def _largest_excess(replicas: int) -> int:
    """`LARGEST_EXCESS`, lowered until the spreads fit in `MAX_PHASES`, but never below 2
    (with a spread of 1 at most, a replica never holds a request while another is empty:
    the one pool)."""
    excess = LARGEST_EXCESS
    while excess > 2 and math.comb(excess + replicas - 1, replicas - 1) > MAX_PHASES:
        excess -= 1
    return excess


@dataclass(frozen=True)
class _Chain:
    """The level-free structure of the chain for some replicas and largest excess: its
    phases (the sorted excesses, `spreads`, one row each) and every transition out of each,
    where it goes and by how many levels; the rates are set per level (`blocks`)."""

    spreads: np.ndarray
    excess: np.ndarray
    """Each phase's excesses summed."""
    sources: np.ndarray
    """Per transition: the phase it leaves (arrivals first, one a phase)."""
    targets: np.ndarray
    shifts: np.ndarray
    """Per transition: the level it moves by (-1, 0 or 1)."""
    departing: np.ndarray
    """Per transition: the excess of the replica a departure leaves (-1: an arrival)."""

    def blocks(
        self, level: int, rate: float, mu: float, servers: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The generator's blocks at `level`: up (to level + 1), local, down (to level - 1).
        A replica of n = level + e present serves at mu min(n, c) (none when empty)."""
        present = level + self.departing
        rates = np.where(self.departing < 0, rate, mu * np.minimum(present, servers))
        size = len(self.excess)
        up, local, down = (np.zeros((size, size)) for _ in range(3))
        for block, shift in ((up, 1), (local, 0), (down, -1)):
            chosen = self.shifts == shift
            np.add.at(block, (self.sources[chosen], self.targets[chosen]), rates[chosen])
        np.subtract.at(local, (self.sources, self.sources), rates)
        return up, local, down


@functools.lru_cache(maxsize=32)
def _chain(replicas: int, largest: int) -> _Chain:
    """`_Chain` for `replicas` whose excesses are followed up to `largest`: an arrival joins
    a replica at the level (the first, phases being sorted); a departure leaves any replica
    with someone present, and one that would spread them beyond `largest` is taken from a
    longest one instead (`LARGEST_EXCESS`)."""
    rest = itertools.combinations_with_replacement(range(largest + 1), replicas - 1)
    phases = [(0, *tail) for tail in rest]
    index = {phase: i for i, phase in enumerate(phases)}
    sources, targets, shifts, departing = [], [], [], []

    def add(source: int, counts: list[int], excess: int) -> None:
        shift = min(counts)
        sources.append(source)
        targets.append(index[tuple(sorted(n - shift for n in counts))])
        shifts.append(shift)
        departing.append(excess)

    for i, phase in enumerate(phases):
        base = 1  # (counts from one above the level, so a departure at it stays >= 0)
        joined = [base + e for e in phase]
        joined[0] += 1
        add(i, [n - base for n in joined], -1)
        for k, e in enumerate(phase):
            left = [base + x for x in phase]
            left[k] -= 1
            if max(left) - min(left) > largest:  # (beyond the spread followed)
                left = [base + x for x in phase]
                left[left.index(max(left))] -= 1
            add(i, [n - base for n in left], e)
    return _Chain(
        spreads=np.array(phases, dtype=float),
        excess=np.array([float(sum(phase)) for phase in phases]),
        sources=np.array(sources),
        targets=np.array(targets),
        shifts=np.array(shifts),
        departing=np.array(departing),
    )


def _g_matrix(up: np.ndarray, local: np.ndarray, down: np.ndarray) -> np.ndarray:
    """G, the minimal solution of A2 + A1 G + A0 G^2 = 0, by logarithmic reduction
    (Latouche & Ramaswami 1999, algorithm 8.1, for a continuous-time QBD)."""
    size = len(local)
    inverse = np.linalg.inv(-local)
    b_up, b_down = inverse @ up, inverse @ down
    g: np.ndarray = b_down.copy()
    t: np.ndarray = b_up.copy()
    eye = np.eye(size)
    for _ in range(REDUCTION_STEPS):
        u = b_up @ b_down + b_down @ b_up
        solve = np.linalg.inv(eye - u)
        b_up, b_down = solve @ (b_up @ b_up), solve @ (b_down @ b_down)
        g = g + t @ b_down
        t = t @ b_up
        if float(np.max(np.abs(1.0 - g.sum(axis=1)))) < 1e-12 or float(np.max(t)) < 1e-16:
            break  # (G stochastic to rounding, or nothing left to add to it)
    return g


def _boundary(
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], rr: np.ndarray
) -> list[np.ndarray]:
    """The stationary vectors of levels 0..c by linear level reduction (Latouche &
    Ramaswami 1999, sec. 10.2): pi(m + 1) = pi(m) R_m, with R_c = R and
    R_m = -A0(m) (A1(m + 1) + R_(m + 1) A2(m + 2))^-1 (level c + 1's down block the
    repeating one); pi(0) (A1(0) + R_0 A2(1)) = 0, normalised so that the levels below c
    and pi(c) (I - R)^-1 sum to one."""
    top = len(blocks) - 1
    size = len(rr)
    factors = [rr]  # R_(top - 1), ..., R_0 after the loop, reversed
    above = rr @ blocks[top][2]  # R_(m + 1) A2(m + 2), from m + 1 = top
    for level in range(top - 1, -1, -1):
        step = -blocks[level][0] @ np.linalg.inv(blocks[level + 1][1] + above)
        factors.append(step)
        above = step @ blocks[level + 1][2]
    factors.reverse()  # R_0, ..., R_(top - 1), R
    system = (blocks[0][1] + above).T.copy()
    products = [np.eye(size)]  # pi(m) = pi(0) R_0 ... R_(m - 1)
    for step in factors[:-1]:
        products.append(products[-1] @ step)
    norm = sum(products[:-1], np.zeros((size, size))) + products[-1] @ np.linalg.inv(
        np.eye(size) - rr
    )
    system[0, :] = norm @ np.ones(size)
    rhs = np.zeros(size)
    rhs[0] = 1.0
    first = np.linalg.solve(system, rhs)
    return [first @ product for product in products]
