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

import itertools
import math

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
    phases = _phases(r, _largest_excess(r))
    index = {phase: i for i, phase in enumerate(phases)}
    blocks = [_blocks(level, phases, index, rate, mu, c) for level in range(c + 1)]
    up, local, down = blocks[c]
    g = _g_matrix(up, local, down)
    rr = up @ np.linalg.inv(-local - up @ g)
    levels = _boundary(blocks, rr, len(phases))
    ones = np.ones(len(phases))
    excess = np.array([float(sum(phase)) for phase in phases])
    tail_sum = np.linalg.inv(np.eye(len(phases)) - rr)
    queued = 0.0  # requests waiting, summed directly (L / lambda - 1 / mu would cancel)
    for level, pi in enumerate(levels[:-1]):
        queued += sum(p * _waiting(level, phase, c) for p, phase in zip(pi, phases, strict=True))
    top = levels[-1]
    beyond = top @ tail_sum  # sum over k >= 0 of pi(c) R^k
    queued += float(beyond @ excess)  # (from level c: each replica waits its excess + k)
    queued += r * float(top @ rr @ tail_sum @ tail_sum @ ones)  # sum k pi(c) R^k 1, times r
    wait = float(queued) / rate
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


def _waiting(level: int, phase: tuple[int, ...], servers: int) -> float:
    """Requests waiting in a state below the repeating levels."""
    return float(sum(max(level + e - servers, 0) for e in phase))


def _largest_excess(replicas: int) -> int:
    """`LARGEST_EXCESS`, lowered until the spreads fit in `MAX_PHASES`, but never below 2
    (with a spread of 1 at most, a replica never holds a request while another is empty:
    the one pool)."""
    excess = LARGEST_EXCESS
    while excess > 2 and math.comb(excess + replicas - 1, replicas - 1) > MAX_PHASES:
        excess -= 1
    return excess


def _phases(replicas: int, largest: int) -> list[tuple[int, ...]]:
    """Every sorted excess vector (first 0, each at most `largest`)."""
    rest = itertools.combinations_with_replacement(range(largest + 1), replicas - 1)
    return [(0, *tail) for tail in rest]


def _normal(counts: list[int]) -> tuple[int, tuple[int, ...]]:
    """(level, phase) of the numbers present at each replica."""
    level = min(counts)
    return level, tuple(sorted(n - level for n in counts))


def _blocks(
    level: int,
    phases: list[tuple[int, ...]],
    index: dict[tuple[int, ...], int],
    rate: float,
    mu: float,
    servers: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The generator's blocks at `level`: up (to level + 1), local, down (to level - 1)."""
    size = len(phases)
    largest = max(max(phase) for phase in phases)
    up, local, down = (np.zeros((size, size)) for _ in range(3))
    for i, phase in enumerate(phases):
        counts = [level + e for e in phase]
        moves: list[tuple[float, list[int]]] = []
        joined = list(counts)
        joined[0] += 1  # (a replica at the level: the first, phases being sorted)
        moves.append((rate, joined))
        for k, n in enumerate(counts):
            if n == 0:
                continue
            left = list(counts)
            left[k] -= 1
            if max(left) - min(left) > largest:  # (beyond the spread followed)
                left = list(counts)
                left[counts.index(max(counts))] -= 1
            moves.append((mu * min(n, servers), left))
        for weight, after in moves:
            new_level, new_phase = _normal(after)
            j = index[new_phase]
            block = up if new_level > level else down if new_level < level else local
            block[i, j] += weight
            local[i, i] -= weight
    return up, local, down


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
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], rr: np.ndarray, size: int
) -> list[np.ndarray]:
    """The stationary vectors of levels 0..c: their balance equations (level c's local
    block plus R times the down block, for the levels above it), normalised so that
    the levels below c and pi(c) (I - R)^-1 sum to one."""
    top = len(blocks) - 1
    n = size * (top + 1)
    matrix = np.zeros((n, n))
    for level, (up, local, down) in enumerate(blocks):
        rows = slice(level * size, (level + 1) * size)
        own = local + (rr @ blocks[top][2] if level == top else 0.0)
        matrix[rows, rows] = own
        if level < top:
            matrix[rows, (level + 1) * size : (level + 2) * size] = up
        if level > 0:
            matrix[rows, (level - 1) * size : level * size] = down
    weights = np.ones(n)
    weights[top * size :] = np.linalg.inv(np.eye(size) - rr) @ np.ones(size)
    system = matrix.T.copy()
    system[0, :] = weights  # (one balance equation is redundant: normalise instead)
    rhs = np.zeros(n)
    rhs[0] = 1.0
    solution = np.linalg.solve(system, rhs)
    return [solution[level * size : (level + 1) * size] for level in range(top + 1)]
