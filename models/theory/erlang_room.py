"""M/E_k/c/K: several servers, a finite waiting room, service in Erlang phases.

Two phases cannot have an SCV below 1/2 (Erlang-2), so `finite_room.mph2ck` overstates
the waiting and the losses of steadier work on several servers: 2 workers, constant 20 ms,
a room of 6 at 90/s, 22.1 ms and 5.7% against 20.1 ms and 3.4% simulated. Here the
service is a mixture of Erlang-(k-1) and Erlang-k with one phase rate, which has any SCV
in [1/k, 1/(k-1)] (`mixed_erlang_fit`), and the chain follows each busy server's
remaining phases. It is exact for Erlang-k service (p = 0) and a two-moment fit of any
other law. Its states grow fast with the phases (each busy server's remaining ones): where
the phases a law needs do not fit `MAX_ERLANG_STATES` (a constant needs infinitely many),
`merlang_ck_extrapolated` solves the chain for the most Erlang phases that fit and
extrapolates to the law's SCV.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from models.theory._checks import require_count, require_nonnegative, require_positive
from models.theory.finite_room import (
    idle_room,
    likely_state,
    prediction_from_present,
    stationary,
)
from models.theory.prediction import StationPrediction

MAX_ERLANG_STATES = 1_000
"""The most states `merlang_ck` solves (each busy server's remaining phases, at every
number present). The sparse LU fills in fast as they grow: 4 workers and a room of 4 take
0.01 s at 714 states (6 phases), 0.5 s at 3,861 (10); the analysis solves a pool's chain
in every round of its iteration and of each capacity search."""
ENOUGH_PHASES = 10_000
"""More phases than any chain within `MAX_ERLANG_STATES` holds (one server, no room: k + 1
states): a law of SCV below 1 / `ENOUGH_PHASES` (a constant) is always extrapolated to."""
EXTRAPOLATION_POINTS = 3
"""How many Erlang-k chains `merlang_ck_extrapolated` extrapolates from (the largest k
that fit): a polynomial of degree 2 in the SCV."""
STRUCTURES_KEPT = 16 * EXTRAPOLATION_POINTS
"""How many chains' transitions `_structure` keeps (up to 160 KB each, 2-14 ms to build
at 200-1,000 states): the extrapolation's three for each of 16 pools. With 16, seven
pools of steady work rebuilt 105 of the 147 they asked for, one analysis round after
another."""


def mixed_erlang_fit(mean: float, scv: float) -> tuple[int, float, float]:
    """(k, p, mu): with probability p, k - 1 phases, else k, each exponential of rate mu,
    with this mean and SCV in (0, 1): k = ceil(1 / SCV), p = (k SCV - sqrt(k (1 + SCV)
    - k² SCV)) / (1 + SCV), mu = (k - p) / mean (Tijms, "A First Course in Stochastic
    Models" (2003), sec. 2.5; Erlang-k itself at SCV = 1/k).

    >>> mixed_erlang_fit(1.0, 1 / 3)
    (3, 0.0, 3.0)
    """
    require_positive("mean", mean)
    if not 0.0 < scv < 1.0:
        raise ValueError(f"scv must be between 0 and 1 for Erlang phases, got {scv!r}")
    k = max(math.ceil(1.0 / scv - 1e-9), 2)
    p = (k * scv - math.sqrt(max(k * (1.0 + scv) - k * k * scv, 0.0))) / (1.0 + scv)
    p = min(max(p, 0.0), 1.0)
    return k, p, (k - p) / mean


def phase_states(phases: int, servers: int, capacity: int) -> int:
    """The states of the chain: at each number present n = 0 .. K, the ways min(n, c)
    busy servers can have 1 .. k phases left."""
    return sum(math.comb(min(n, servers) + phases - 1, phases - 1) for n in range(capacity + 1))


@functools.lru_cache(maxsize=STRUCTURES_KEPT)
def phase_count(servers: int, capacity: int, most: int) -> int | None:
    """The most phases, up to `most`, whose chain has at most `MAX_ERLANG_STATES` states;
    None if not even three (the states grow with the phases: a bisection, 40 us; kept,
    as a pool's solve asks for it twice in every round: `finite_rooms._erlang_room` and
    `merlang_ck_extrapolated`)."""
    if most < 3 or phase_states(3, servers, capacity) > MAX_ERLANG_STATES:
        return None
    low, high = 3, most
    while low < high:
        middle = (low + high + 1) // 2
        if phase_states(middle, servers, capacity) <= MAX_ERLANG_STATES:
            low = middle
        else:
            high = middle - 1
    return low


@functools.lru_cache(maxsize=STRUCTURES_KEPT)
def _structure(
    phases: int, servers: int, capacity: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The chain's transitions for k = `phases`, as arrays: source, target, whether an
    arrival (else a phase completion), the number of servers completing a phase (1 for an
    arrival), the share of it as w0 + w1 p (p: the probability of k - 1 phases), and each
    state's number present. A pure function of its arguments, so kept (the rates enter
    only through `merlang_ck`)."""
    index: dict[tuple[int, tuple[int, ...]], int] = {}
    present: list[int] = []
    for n in range(capacity + 1):
        for picked in itertools.combinations_with_replacement(range(phases), min(n, servers)):
            counts = tuple(picked.count(r) for r in range(phases))  # (phases left - 1)
            index[(n, counts)] = len(present)
            present.append(n)
    rows: list[tuple[int, int, int, int, float, float]] = []

    def starting(occupancy: list[int]) -> tuple[list[int], list[int]]:
        """`occupancy` and a service starting: k - 1 phases left (probability p), or k."""
        fewer, more = list(occupancy), list(occupancy)
        fewer[phases - 2] += 1
        more[phases - 1] += 1
        return fewer, more

    for (n, counts), state in index.items():
        if n < capacity:  # an arrival
            if n < servers:
                fewer, more = starting(list(counts))
                rows.append((state, index[(n + 1, tuple(fewer))], 1, 1, 0.0, 1.0))
                rows.append((state, index[(n + 1, tuple(more))], 1, 1, 1.0, -1.0))
            else:
                rows.append((state, index[(n + 1, counts)], 1, 1, 1.0, 0.0))
        for left, busy in enumerate(counts):  # (left: phases left - 1)
            if busy == 0:
                continue
            occupancy = list(counts)
            occupancy[left] -= 1
            if left > 0:  # a phase done, more to go
                occupancy[left - 1] += 1
                rows.append((state, index[(n, tuple(occupancy))], 0, busy, 1.0, 0.0))
            elif n > servers:  # a departure, and the next waiting request starts
                fewer, more = starting(occupancy)
                rows.append((state, index[(n - 1, tuple(fewer))], 0, busy, 0.0, 1.0))
                rows.append((state, index[(n - 1, tuple(more))], 0, busy, 1.0, -1.0))
            else:
                rows.append((state, index[(n - 1, tuple(occupancy))], 0, busy, 1.0, 0.0))
    table = np.array(rows, dtype=float)
    return (
        table[:, 0].astype(int),
        table[:, 1].astype(int),
        table[:, 2] > 0,
        table[:, 3],
        table[:, 4],
        table[:, 5],
        np.array(present, dtype=int),
    )


def merlang_ck(
    arrival_rate: float,
    mean_service_time: float,
    phases: int,
    fewer: float,
    servers: int,
    capacity: int,
    method: str = "M/E_k/c/K",
) -> StationPrediction | None:
    """Steady state of c servers with room for K - c waiting (K = `capacity`), Poisson
    arrivals, and a service of k = `phases` exponential phases of one rate, k - 1 of them
    with probability `fewer` (`mixed_erlang_fit`); None above `MAX_ERLANG_STATES`.

    Formula: the chain on (n present, how many busy servers have 1 .. k phases left): an
    arrival is let in below K and starts a service at once below c; a server finishes a
    phase at rate mu = (k - p) / E[S], and its last one ends the service, the next waiting
    request then starting its own. Solved as p Q = 0, sum p = 1 (sparse LU); P(loss) = p_K
    (PASTA), L = sum n p_n, W = L / (lambda (1 - p_K)) (Little), Wq = W - E[S]. The
    finite M/PH/c queue of Neuts, "Matrix-Geometric Solutions in Stochastic Models"
    (1981), ch. 3, with Erlang phases (Tijms (2003), sec. 2.5 and 5.6).

    >>> station = merlang_ck(1.0, 1.0, 3, 1.0, 1, 1)  # Erlang B, one server: 1/2 lost
    >>> round(station.loss_probability, 9)
    0.5
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    service = require_positive("mean_service_time", mean_service_time)
    count = require_count("servers", servers)
    limit = require_count("capacity", capacity, minimum=count)
    k = require_count("phases", phases, minimum=2)
    if not 0.0 <= fewer <= 1.0:
        raise ValueError(f"fewer must be a probability, got {fewer!r}")
    if phase_states(k, count, limit) > MAX_ERLANG_STATES:
        return None
    if rate == 0.0:
        return idle_room(method, service, count)
    return prediction_from_present(
        method, rate, service, count, _by_present(rate, service, k, fewer, count, limit)
    )


def _by_present(
    rate: float, service: float, phases: int, fewer: float, servers: int, capacity: int
) -> np.ndarray:
    """p_0 .. p_K of the number present in the chain of `merlang_ck` (rate > 0)."""
    source, target, arrival, busy, constant, slope, present = _structure(phases, servers, capacity)
    speed = (phases - fewer) / service
    value = np.where(arrival, rate, busy * speed) * (constant + slope * fewer)
    keep = value > 0.0
    likely = likely_state(rate * service, servers, present)
    solution = stationary(len(present), source[keep], target[keep], value[keep], likely)
    return np.bincount(present, weights=solution, minlength=capacity + 1)


def merlang_ck_extrapolated(
    arrival_rate: float,
    mean_service_time: float,
    service_scv: float,
    servers: int,
    capacity: int,
    method: str = "M/E_k/c/K, extrapolated",
) -> tuple[StationPrediction, tuple[int, ...]] | None:
    """`merlang_ck` for a service of SCV below 1/k, k being the most phases whose chain
    fits `MAX_ERLANG_STATES`, and the phase counts it used; None where not even three
    fit.

    Formula: p_0 .. p_K of the number present are solved exactly for Erlang-k service at
    the `EXTRAPOLATION_POINTS` largest k that fit (SCV 1/k; k >= 2), and each p_n is
    extrapolated to the SCV asked by the polynomial through them in the SCV (Lagrange;
    Richardson's "deferred approach to the limit", Phil. Trans. R. Soc. A 226 (1927),
    with the SCV as the step). Negative extrapolations are set to 0 and the rest
    renormalised; loss, L, W and Wq follow as in `merlang_ck`. An approximation: 2
    workers, a room of 6 and constant service at 90% load wait 1.0046 E[S] and lose 3.44%
    (from 14, 15 and 16 phases), simulated 1.0039 E[S] +- 0.0014 and 3.40% +- 0.02% (4
    million arrivals); 16 phases alone say 1.021 E[S] and 3.74%.

    >>> station, used = merlang_ck_extrapolated(1.0, 1.0, 0.0, 2, 2)  # Erlang B: any law
    >>> round(station.loss_probability, 9), used[-1]
    (0.2, 43)
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    service = require_positive("mean_service_time", mean_service_time)
    count = require_count("servers", servers)
    limit = require_count("capacity", capacity, minimum=count)
    scv = require_nonnegative("service_scv", service_scv)
    most = phase_count(count, limit, ENOUGH_PHASES)
    if most is None:
        return None
    used = tuple(range(max(2, most - EXTRAPOLATION_POINTS + 1), most + 1))
    if rate == 0.0:
        return idle_room(method, service, count), used
    steps = [1.0 / k for k in used]
    extrapolated = np.zeros(limit + 1)
    for k, step in zip(used, steps, strict=True):
        weight = math.prod((scv - other) / (step - other) for other in steps if other != step)
        extrapolated += weight * _by_present(rate, service, k, 0.0, count, limit)
    extrapolated = np.maximum(extrapolated, 0.0)
    by_present = extrapolated / extrapolated.sum()
    return prediction_from_present(method, rate, service, count, by_present), used
