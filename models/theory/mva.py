"""Mean Value Analysis of a closed, single-class, product-form queueing network.

The network is N customers cycling between a think (delay) stage of mean Z and a set of
stations, each described by its service demand D_m = visits x mean service time per visit
(seconds per interaction). Stations are single-server (load-independent), multi-server
(c servers) or delay (infinite servers). Product form needs FCFS stations to have exponential
service; processor-sharing and delay stations may have any service distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.theory._checks import require_count, require_lengths, require_nonnegative
from models.theory.convolution import closed_network_by_convolution


@dataclass(frozen=True, kw_only=True)
class MVAResult:
    """Steady-state means of a closed network with `population` customers."""

    method: str
    """The algorithm used, e.g. ``"exact MVA"``."""
    exact: bool
    """True for exact MVA, False for the Schweitzer (and Seidmann) approximations."""
    population: int
    """Number of customers N circulating (users, connections, in-flight requests)."""
    think_time: float
    """Mean think time Z between a response and the next request (seconds)."""
    throughput: float
    """Interactions completed per second, X = N / (Z + R)."""
    response_time: float
    """Mean time from request to response, R = sum of residence times (think excluded)."""
    station_residence_times: tuple[float, ...]
    """Per station: mean total time a request spends there, all visits together (seconds)."""
    station_queue_lengths: tuple[float, ...]
    """Per station: mean number of customers there, waiting or in service."""
    station_utilizations: tuple[float, ...]
    """Per station: busy fraction of each server, X D / c (0 for a delay station)."""


def _validated(
    service_demands: Sequence[float],
    think_time: float,
    population: int,
    servers: Sequence[int | None] | None,
) -> tuple[list[float], float, int, list[int | None]]:
    """Check the arguments; return demands, think time, population and servers per station."""
    demands = [
        require_nonnegative(f"service_demands[{m}]", d) for m, d in enumerate(service_demands)
    ]
    think = require_nonnegative("think_time", think_time)
    customers = require_count("population", population)
    if servers is None:
        pools: list[int | None] = [1] * len(demands)
    else:
        require_lengths(len(demands), servers=servers)
        pools = [
            None if count is None else require_count(f"servers[{m}]", count)
            for m, count in enumerate(servers)
        ]
    if think == 0.0 and not any(demands):
        raise ValueError(
            "'service_demands' and 'think_time' must not all be 0 (got all 0: the "
            "throughput would be infinite)"
        )
    return demands, think, customers, pools


def _result(
    method: str,
    exact: bool,
    demands: list[float],
    pools: list[int | None],
    think: float,
    population: int,
    throughput: float,
    residence: list[float],
) -> MVAResult:
    utilizations = tuple(
        0.0 if pool is None else throughput * demand / pool
        for demand, pool in zip(demands, pools, strict=True)
    )
    return MVAResult(
        method=method,
        exact=exact,
        population=population,
        think_time=think,
        throughput=throughput,
        response_time=math.fsum(residence),
        station_residence_times=tuple(residence),
        station_queue_lengths=tuple(throughput * r for r in residence),
        station_utilizations=utilizations,
    )


def mva_exact(
    service_demands: Sequence[float],
    think_time: float,
    population: int,
    servers: Sequence[int | None] | None = None,
) -> MVAResult:
    """Exact MVA: throughput, response time and per-station means for N customers.

    Assumptions: closed product-form network, one customer class; station m has service
    demand D_m and `servers[m]` servers (default 1; `None` = delay station, infinite
    servers); think time Z >= 0 at the terminals. A station with c >= N servers never queues
    and is solved as a delay station.

    Formula (single-server and delay stations; n = 1..N, Q_m(0) = 0, Arrival Theorem):
    delay: R_m(n) = D_m; single server: R_m(n) = D_m (1 + Q_m(n-1));
    X(n) = n / (Z + sum_m R_m(n)); Q_m(n) = X(n) R_m(n).
    Multi-server stations (1 < c < N) are load-dependent (rate min(j, c) / D_m with j
    present). Their MVA recursion through marginal probabilities, p_m(0 | n) =
    1 - sum_{j>=1} p_m(j | n), is numerically unstable (rounding errors grow exponentially
    with n once another station saturates: 36 % off at N = 300 in a test network), so such
    networks are solved by the equivalent exact convolution algorithm in log space
    (`models.theory.convolution`, O(M N^2)); the results are the same exact values.

    Source: Reiser & Lavenberg, "Mean-value analysis of closed multichain queuing networks",
    JACM 27(2) (1980); Lazowska et al., "Quantitative System Performance" (1984), ch. 6
    (MVA) and ch. 20 (load-dependent stations, convolution); Buzen, CACM 16(9) (1973).

    >>> result = mva_exact([1.0, 1.0], 0.0, 2)  # balanced: X(N) = N / (D (M + N - 1))
    >>> round(result.throughput, 6), round(result.response_time, 6)
    (0.666667, 3.0)
    >>> mva_exact([0.2, 0.5], 1.0, 1).response_time  # one customer never waits
    0.7
    """
    demands, think, customers, pools = _validated(service_demands, think_time, population, servers)
    if any(pool is not None and 1 < pool < customers for pool in pools):
        throughput, queues = closed_network_by_convolution(demands, pools, think, customers)
        residence = [queue / throughput for queue in queues]
        return _result(
            "exact MVA (load-dependent, by convolution)",
            True,
            demands,
            pools,
            think,
            customers,
            throughput,
            residence,
        )
    queue = [0.0] * len(demands)
    throughput = 0.0
    residence = [0.0] * len(demands)
    for n in range(1, customers + 1):
        for m, (demand, pool) in enumerate(zip(demands, pools, strict=True)):
            if pool is None or pool >= customers:  # never more customers than servers
                residence[m] = demand
            else:
                residence[m] = demand * (1.0 + queue[m])
        throughput = n / (think + math.fsum(residence))
        queue = [throughput * r for r in residence]
    return _result("exact MVA", True, demands, pools, think, customers, throughput, residence)


def mva_schweitzer(
    service_demands: Sequence[float],
    think_time: float,
    population: int,
    servers: Sequence[int | None] | None = None,
    tolerance: float = 1e-10,
    max_iterations: int = 100_000,
) -> MVAResult:
    """Approximate MVA (Bard-Schweitzer) for large populations: one fixed point, not N steps.

    Assumptions: as `mva_exact`. Multi-server stations use Seidmann's approximation: a
    c-server station of demand D becomes a single server of demand D / c in series with a
    delay of D (c - 1) / c. Typical errors are a few percent on throughput and response time,
    and vanish as N grows past the saturation point (`exact=False`).

    Formula: Q_m(N - 1) ~ (N - 1) / N Q_m(N); iterate R_m = D_m (1 + (N - 1) / N Q_m) (delay:
    R_m = D_m), X = N / (Z + sum R_m), Q_m = X R_m until max |change in Q_m| < tolerance * N.

    Source: Schweitzer, "Approximate analysis of multiclass closed networks of queues" (1979);
    Bard (1979); Lazowska et al., "Quantitative System Performance" (1984), sec. 6.4.2;
    Seidmann, Schweitzer & Shalev-Oren, "Computerized closed queueing network models of
    flexible manufacturing systems", Large Scale Systems 12 (1987).

    >>> result = mva_schweitzer([0.05, 0.02], 0.0, 200)  # far past saturation: X -> 1 / D_max
    >>> round(result.throughput, 3)
    20.0
    """
    demands, think, customers, pools = _validated(service_demands, think_time, population, servers)
    require_count("max_iterations", max_iterations)
    if not tolerance > 0:
        raise ValueError(f"'tolerance' must be > 0 (got {tolerance!r})")
    queueing = np.array(
        [
            0.0 if pool is None else demand / pool
            for demand, pool in zip(demands, pools, strict=True)
        ]
    )
    fixed = np.array(demands) - queueing  # delay part: whole demand, or D (c - 1) / c
    stations = len(demands)
    queue = np.full(stations, customers / stations)
    fraction = (customers - 1) / customers
    for _ in range(max_iterations):
        residence = queueing * (1.0 + fraction * queue) + fixed
        throughput = customers / (think + float(np.sum(residence)))
        updated = throughput * queueing * (1.0 + fraction * queue)
        converged = float(np.max(np.abs(updated - queue), initial=0.0)) < tolerance * customers
        queue = updated
        if converged:
            break
    else:
        raise RuntimeError(f"Schweitzer MVA did not converge in {max_iterations} iterations")
    residence = queueing * (1.0 + fraction * queue) + fixed
    throughput = customers / (think + float(np.sum(residence)))
    method = "Schweitzer approximate MVA"
    if any(pool is not None and pool > 1 for pool in pools):
        method += " (Seidmann multi-server)"
    return _result(
        method, False, demands, pools, think, customers, throughput, [float(r) for r in residence]
    )
