"""GI/M/c: renewal arrivals at c exponential servers, exact from the interarrival transform.

The case that matters here is D/M/c, a load generator that sends requests at a constant
rate into a pool: Allen-Cunneen with ca² = 0 over-predicts its wait (at ρ = 0.75 on two
servers, 0.643 ms for 0.472 ms simulated). The chain embedded at arrival instants is solved
exactly; every quantity comes from A*(s) = E[exp(-s T)], the Laplace-Stieltjes transform of
the interarrival time T (exp(-s T) for a constant T, λ / (λ + s) for Poisson arrivals, which
gives Erlang C back: the tests check it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from models.theory._checks import require_count, require_nonnegative, require_positive
from models.theory.prediction import StationPrediction, stable_station, unstable_or_idle

LARGEST_POOL = 16
"""The most servers solved: the binomial expansions below alternate in sign, and beyond
this their terms (up to 2^c C(c, c/2)) would cost more digits than a double holds."""


def gi_m_c(
    transform: Callable[[float], float],
    arrival_rate: float,
    service_rate: float,
    servers: int,
    name: str = "GI/M/c",
) -> StationPrediction:
    """Steady-state means of the GI/M/c queue (FCFS, unbounded queue).

    Assumptions: interarrival times i.i.d. with mean 1 / `arrival_rate` and transform
    `transform`(s) = E[exp(-s T)]; c = `servers` exponential servers of rate mu; at most
    `LARGEST_POOL` servers.

    Formula: the number found by an arrival is a Markov chain. Above c - 1 it is geometric,
    pi(n) = pi(c - 1) sigma^(n - c + 1), sigma the root in (0, 1) of
    sigma = A*(c mu (1 - sigma)). Below c, with k + 1 <= c present after an arrival, each
    of them is still there at the next arrival with probability exp(-mu T):
    p(i, j) = E[C(i + 1, j) e^(-j mu T) (1 - e^(-mu T))^(i + 1 - j)]. From c + m present
    (m >= 0), m departures at rate c mu come first; summed over the geometric tail
    (sum_m sigma^m of the Erlang(m, c mu) densities is sigma c mu e^(-c mu (1 - sigma) u)),
    pi(c - 1) S_j flows into j < c, S_j = E[b_j(T)] + sigma c mu
    E[int_0^T e^(-c mu (1 - sigma) u) b_j(T - u) du], b_j(t) = C(c, j) e^(-j mu t)
    (1 - e^(-mu t))^(c - j). Expanding the binomials turns every expectation into values
    of A*. The balance of states 1 .. c - 1 and the total probability give pi(0 .. c - 1).
    An arrival waits when it finds c or more: P(wait) = pi(c - 1) sigma / (1 - sigma), and
    then for an exponential time of rate c mu (1 - sigma): Wq = P(wait) / (c mu (1 - sigma)).

    Source: Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 6.3 (GI/M/c);
    Takacs, "Introduction to the Theory of Queues" (1962), ch. 4.

    >>> station = gi_m_c(lambda s: 1.0 / (1.0 + s), 1.0, 1.0, 2)  # Poisson: M/M/2 at a = 1
    >>> round(station.p_wait, 9), round(station.mean_waiting_time, 9)
    (0.333333333, 0.333333333)
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    mu = require_positive("service_rate", service_rate)
    count = require_count("servers", servers)
    if count > LARGEST_POOL:
        raise ValueError(f"'servers' must be at most {LARGEST_POOL} (got {servers})")
    method = f"{name[:-1]}{count}" if name.endswith("/c") else name
    load = rate / mu
    trivial = unstable_or_idle(method, rate, mu, count)
    if trivial is not None:
        return trivial
    sigma = _root(transform, count * mu, load / count)
    found = _below(transform, mu, count, sigma)
    p_wait = found * sigma / (1.0 - sigma)
    return stable_station(
        method=method,
        exact=True,
        arrival_rate=rate,
        mean_service_time=1.0 / mu,
        servers=count,
        mean_waiting_time=p_wait / (count * mu * (1.0 - sigma)),
        p_wait=min(max(p_wait, 0.0), 1.0),
    )


def d_m_c(arrival_rate: float, service_rate: float, servers: int) -> StationPrediction:
    """`gi_m_c` for a constant time 1 / `arrival_rate` between arrivals: D/M/c.

    >>> round(d_m_c(0.5, 1.0, 1).p_wait, 6)  # D/M/1: sigma = exp(-2 (1 - sigma))
    0.203188
    """
    rate = require_positive("arrival_rate", arrival_rate)
    gap = 1.0 / rate
    return gi_m_c(lambda s: math.exp(-s * gap), rate, service_rate, servers, "D/M/c")


def _root(transform: Callable[[float], float], pool_rate: float, rho: float) -> float:
    """sigma in (0, 1) with sigma = A*(c mu (1 - sigma)) (rho < 1): bisection on
    f(sigma) = A*(c mu (1 - sigma)) - sigma, positive at 0 and negative just below 1 (its
    slope there is c mu E[T] - 1 = 1 / rho - 1 > 0 from the left)."""
    low, high = 0.0, 1.0 - min(1e-3, (1.0 - rho) / 4)
    while transform(pool_rate * (1.0 - high)) - high >= 0.0 and high < 1.0 - 1e-15:
        high = 1.0 - (1.0 - high) / 16  # (closer to 1 until f turns negative)
    for _ in range(200):
        middle = (low + high) / 2
        if transform(pool_rate * (1.0 - middle)) - middle > 0.0:
            low = middle
        else:
            high = middle
        if high - low <= 1e-15:
            break
    return (low + high) / 2


def _below(transform: Callable[[float], float], mu: float, servers: int, sigma: float) -> float:
    """pi(c - 1), the probability that an arrival finds c - 1 present (`gi_m_c`)."""
    c = servers
    if c == 1:
        return 1.0 - sigma
    tail_rate = c * mu * (1.0 - sigma)

    def kept(present: int, left: int) -> float:
        """E[C(present, left) e^(-left mu T) (1 - e^(-mu T))^(present - left)]."""
        gone = present - left
        return math.comb(present, left) * math.fsum(
            math.comb(gone, k) * (-1) ** k * transform((left + k) * mu) for k in range(gone + 1)
        )

    def from_tail(left: int) -> float:
        """S_j for j = `left`: from c + m present (geometric in m) down to j."""
        gone = c - left
        total = []
        for k in range(gone + 1):
            rate = (left + k) * mu
            coefficient = math.comb(c, left) * math.comb(gone, k) * (-1) ** k
            at_once = transform(rate)
            if math.isclose(rate, tail_rate, rel_tol=1e-12):  # E[T e^(-rate T)] = -A*'(rate)
                step = 1e-6 * rate
                later = (transform(rate - step) - transform(rate + step)) / (2 * step)
            else:
                later = (sigma - at_once) / (rate - tail_rate)
            total.append(coefficient * (at_once + sigma * c * mu * later))
        return math.fsum(total)

    # unknowns pi(0) .. pi(c - 1); rows: balance of states 1 .. c - 1, then the total
    matrix = np.zeros((c, c))
    rhs = np.zeros(c)
    for j in range(1, c):
        matrix[j - 1, j] += 1.0
        for i in range(j - 1, c - 1):
            matrix[j - 1, i] -= kept(i + 1, j)
        matrix[j - 1, c - 1] -= from_tail(j)
    matrix[c - 1, : c - 1] = 1.0
    matrix[c - 1, c - 1] = 1.0 / (1.0 - sigma)
    rhs[c - 1] = 1.0
    solution = np.linalg.solve(matrix, rhs)
    return float(solution[c - 1])
