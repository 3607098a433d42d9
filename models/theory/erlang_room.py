"""M/E_k/c/K: several servers, a finite waiting room, service in Erlang phases.

Two phases cannot have an SCV below 1/2 (Erlang-2), so `finite_room.mph2ck` overstates
the waiting and the losses of steadier work on several servers: 2 workers, constant 20 ms,
a room of 6 at 90/s, 22.1 ms and 5.7% against 20.1 ms and 3.4% simulated. Here the
service is a mixture of Erlang-(k-1) and Erlang-k with one phase rate, which has any SCV
in [1/k, 1/(k-1)] (`mixed_erlang_fit`), and the chain follows each busy server's
remaining phases. It is exact for Erlang-k service (p = 0) and a two-moment fit of any
other law; a constant is the most phases the chain can hold (`phase_count`).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from models.theory._checks import require_count, require_nonnegative, require_positive
from models.theory.finite_room import idle_room, prediction_from_present, stationary
from models.theory.prediction import StationPrediction

MAX_ERLANG_STATES = 5_000
"""The most states `merlang_ck` solves (each busy server's remaining phases, at every
number present)."""


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


def phase_count(servers: int, capacity: int, most: int) -> int | None:
    """The most phases, up to `most`, whose chain has at most `MAX_ERLANG_STATES` states;
    None if not even three (the states grow with the phases: a bisection)."""
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


@functools.lru_cache(maxsize=16)
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
    source, target, arrival, busy, constant, slope, present = _structure(k, count, limit)
    speed = (k - fewer) / service
    value = np.where(arrival, rate, busy * speed) * (constant + slope * fewer)
    keep = value > 0.0
    solution = stationary(len(present), source[keep], target[keep], value[keep])
    by_present = np.bincount(present, weights=solution, minlength=limit + 1)
    return prediction_from_present(method, rate, service, count, by_present)
