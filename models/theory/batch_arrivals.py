"""Arrivals in groups: the M^X/M/c queue (batch Poisson arrivals, exponential servers).

Assumptions: groups arrive as a Poisson process at `group_rate` (per second); a group
holds X customers, X independent of everything with P(X = k) = `sizes[k]` (k >= 1); c
identical exponential servers (mu each); FCFS, the members of a group in random order;
unbounded waiting room. Unstable when a = lambda E[X] / mu >= c.

This is what a `parallel` step whose branches call the same service at once sends it: the
calls arrive at the same instant, and the later ones in line wait for the earlier ones
where a pool of few servers is busy; the Poisson formulas (Erlang C) miss it.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Mapping, Sequence

from models.theory._checks import require_count, require_nonnegative, require_positive
from models.theory.prediction import StationPrediction, stable_station, unstable_or_idle

TAIL = 1e-14
"""The chain is followed until the states beyond it hold less than this probability, or
until its tail is geometric (`_states`)."""
MAX_STATES = 1_000_000
"""At most this many states are followed (the tail beyond is taken as geometric)."""


def mxmc(
    group_rate: float, sizes: Mapping[int, float], service_rate: float, servers: int
) -> StationPrediction:
    """Steady-state means of the M^X/M/c queue (customers arriving in groups).

    Formula: the number in system n is a Markov chain that goes up by k at rate
    Lambda P(X = k) and down by one at rate mu min(n, c). It is skip-free downwards, so
    the balance of the cut between n and n + 1 gives each probability from the ones
    below it: pi(n + 1) mu min(n + 1, c) = Lambda sum_{m <= n} pi(m) P(X > n - m). Above
    c + max X the recursion has constant coefficients and its solution becomes geometric
    (the dominant root): it is followed until the ratio settles, and the rest summed in
    closed form, so the cost does not grow as the load nears c.
    Groups see the time-average state (PASTA), and the member in position j of a group
    arriving to n present finds n + j - 1 ahead of it: it waits if n + j - 1 >= c, for
    (n + j - c) services of the full pool, each of mean 1 / (c mu). So, over customers,
    W = sum_j P(X >= j) sum_n pi(n) (n + j - c)+ / (c mu E[X]) and
    P(wait) = sum_j P(X >= j) P(n >= c - j + 1) / E[X]. With X = 1 this is Erlang C.
    For one server it agrees with the M^X/G/1 formula
    W = rho E[S] / (1 - rho) + E[X(X - 1)] E[S] / (2 E[X] (1 - rho)).

    Source: Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 3.1 (bulk
    input, M^[X]/M/1) and the cut equations of sec. 2.1; Cromie, Chaudhry & Grassmann,
    "Further results for the queueing system M^X/M/c", J. Oper. Res. Soc. 30(8), 1979.

    >>> station = mxmc(1.0, {1: 1.0}, 1.0, 2)  # single arrivals: M/M/2 at a = 1
    >>> round(station.p_wait, 6), round(station.mean_waiting_time, 6)
    (0.333333, 0.333333)
    >>> round(mxmc(0.25, {2: 1.0}, 1.0, 1).mean_waiting_time, 6)  # M^2/M/1, rho 0.5: 1 + 1
    2.0
    """
    rate = require_nonnegative("group_rate", group_rate)
    mu = require_positive("service_rate", service_rate)
    count = require_count("servers", servers)
    pmf = _sizes(sizes)
    mean_size = math.fsum(k * p for k, p in pmf.items())
    customers = rate * mean_size
    method = "M^X/M/c (arrivals in groups)"
    trivial = unstable_or_idle(method, customers, mu, count)
    if trivial is not None:
        return trivial
    largest = max(pmf)
    beyond = [math.fsum(p for k, p in pmf.items() if k > j) for j in range(largest + 1)]
    states, ratio = _states(rate, beyond, mu, count)
    last = len(states) - 1  # (beyond it: states[last] x ratio^m, m = 1, 2, ...)
    tail = states[last] * ratio / (1.0 - ratio)
    # suffix sums over the states given: at_least[k] = P(k <= n <= last), and moment[k] =
    # the same of n pi(n), so that each position's sums below take O(1)
    at_least = [*itertools.accumulate(reversed(states))][::-1]
    at_least.append(0.0)
    weighted = [n * p for n, p in enumerate(states)]
    moment = [*itertools.accumulate(reversed(weighted))][::-1]
    moment.append(0.0)
    waiting_sum = 0.0
    waiting_share = 0.0
    for j in range(1, largest + 1):  # the member in position j of its group, if there is one
        weight = beyond[j - 1]
        first = min(max(count - j + 1, 0), last + 1)  # the fewest present that make it wait
        ahead = moment[first] + (j - count) * at_least[first]  # sum of (n + j - c) pi(n)
        ahead += tail * (last + j - count) + tail / (1.0 - ratio)
        waiting_sum += weight * ahead
        waiting_share += weight * (at_least[first] + tail)
    return stable_station(
        method=method,
        exact=True,
        arrival_rate=customers,
        mean_service_time=1.0 / mu,
        servers=count,
        mean_waiting_time=waiting_sum / (count * mu * mean_size),
        p_wait=min(waiting_share / mean_size, 1.0),
    )


def _sizes(sizes: Mapping[int, float]) -> dict[int, float]:
    """The group-size distribution, checked and normalised (sizes >= 1, total > 0)."""
    pmf: dict[int, float] = {}
    for size, probability in sizes.items():
        require_count("group size", size)
        pmf[size] = pmf.get(size, 0.0) + require_nonnegative("group size probability", probability)
    total = math.fsum(pmf.values())
    if not total > 0.0:
        raise ValueError(f"'sizes' must give some size a positive probability (got {sizes!r})")
    return {k: p / total for k, p in sorted(pmf.items()) if p > 0.0}


def _states(
    rate: float, beyond: Sequence[float], mu: float, servers: int
) -> tuple[list[float], float]:
    """The stationary distribution of the number in system by the cut equations (`beyond`:
    P(X > j) for j = 0 .. max X), as far as needed, and the geometric rate r of the rest:
    beyond the last state n given, the chain
    has the probabilities p(n) r^m (m = 1, 2, ...). Above c + max X every server is busy
    and the recursion has constant coefficients, so the ratio of successive probabilities
    settles on the dominant root of its characteristic equation: the recursion stops once
    that ratio has not moved (relative 1e-13) for max X + 1 steps, or once the tail left is
    below `TAIL` (`MAX_STATES` at most). The probabilities include the tail's mass."""
    largest = len(beyond) - 1
    reversed_beyond = beyond[largest - 1 :: -1] if largest > 0 else []  # P(X > j), j = L-1 .. 0
    states = [1.0]
    total = 1.0
    steady = 0
    ratio = 0.0
    while len(states) < MAX_STATES:
        n = len(states) - 1
        low = max(0, n - largest + 1)  # sum of states[m] P(X > n - m), m = low .. n
        pairs = zip(states[low : n + 1], reversed_beyond[largest - 1 - n + low :], strict=True)
        upward = sum(itertools.starmap(operator.mul, pairs))
        following = rate * upward / (mu * min(n + 1, servers))
        states.append(following)
        total += following
        previous, ratio = ratio, min(following / states[-2], 1.0 - 1e-12)
        if n + 1 <= servers + largest:
            continue
        steady = steady + 1 if abs(ratio - previous) <= 1e-13 * ratio else 0
        if steady > largest or following < TAIL * total * (1.0 - ratio):
            break
    tail = states[-1] * ratio / (1.0 - ratio)
    return [p / (total + tail) for p in states], ratio
