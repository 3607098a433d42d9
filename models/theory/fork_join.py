"""Fork-join of homogeneous M/M/1 branches: Flatto-Hahn (exact, 2 branches) and
Nelson-Tantawi (approximation, any number of branches).

Every job splits into one task per branch; each branch is an FCFS exponential server; the job
leaves when its last task finishes (the join itself takes no time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.theory._checks import require_count, require_nonnegative, require_positive


@dataclass(frozen=True, kw_only=True)
class ForkJoinPrediction:
    """Mean response time of a fork-join station of identical M/M/1 branches."""

    method: str
    """The model used, e.g. ``"Flatto-Hahn fork-join"``."""
    exact: bool
    """True for 1 or 2 branches (exact), False for the Nelson-Tantawi approximation."""
    arrival_rate: float
    """Job arrival rate (per second); every branch receives one task per job."""
    branches: int
    """Number of parallel branches."""
    utilization: float
    """Busy fraction of each branch's server, rho = lambda / mu (capped at 1)."""
    stable: bool
    """Whether a steady state exists (rho < 1)."""
    mean_branch_response_time: float
    """Mean response time of one branch alone, 1 / (mu - lambda)."""
    mean_response_time: float
    """Mean time from fork to join (the slowest of the job's tasks)."""
    mean_in_system: float
    """Mean number of jobs forked and not yet joined (Little: lambda x mean response time)."""


def _harmonic(count: int) -> float:
    """The harmonic number H_n = 1 + 1/2 + ... + 1/n."""
    return math.fsum(1.0 / i for i in range(1, count + 1))


def _validated(arrival_rate: float, service_rate: float) -> tuple[float, float, float]:
    rate = require_nonnegative("arrival_rate", arrival_rate)
    mu = require_positive("service_rate", service_rate)
    return rate, mu, rate / mu


def _prediction(
    method: str, exact: bool, rate: float, mu: float, branches: int, factor: float
) -> ForkJoinPrediction:
    """Assemble the result; `factor` scales the two-branch response (12 - rho)/8/(mu - lambda)."""
    load = rate / mu
    if load >= 1.0:
        return ForkJoinPrediction(
            method=method,
            exact=exact,
            arrival_rate=rate,
            branches=branches,
            utilization=1.0,
            stable=False,
            mean_branch_response_time=math.inf,
            mean_response_time=math.inf,
            mean_in_system=math.inf,
        )
    branch = 1.0 / (mu - rate)
    response = branch if branches == 1 else factor * (12.0 - load) / 8.0 * branch
    return ForkJoinPrediction(
        method=method,
        exact=exact,
        arrival_rate=rate,
        branches=branches,
        utilization=load,
        stable=True,
        mean_branch_response_time=branch,
        mean_response_time=response,
        mean_in_system=rate * response,
    )


def fork_join_two_mm1(arrival_rate: float, service_rate: float) -> ForkJoinPrediction:
    """Exact mean response time of a fork-join over two identical M/M/1 branches.

    Assumptions: Poisson job arrivals (lambda); each job forks one task to each of two FCFS
    exponential servers (mu each); it leaves when both tasks are done. Unstable when
    rho = lambda / mu >= 1.

    Formula: E[T_2] = (12 - rho) / 8 * 1 / (mu - lambda), i.e. between 1.375 and 1.5 times
    the response time of one branch.

    Source: Flatto & Hahn, "Two parallel queues created by arrivals with two demands I",
    SIAM J. Appl. Math. 44 (1984); as used by Nelson & Tantawi (1988).

    >>> fork_join_two_mm1(0.5, 1.0).mean_response_time
    2.875
    """
    rate, mu, _ = _validated(arrival_rate, service_rate)
    return _prediction("Flatto-Hahn fork-join", True, rate, mu, 2, 1.0)


def fork_join_nelson_tantawi(
    arrival_rate: float, service_rate: float, branches: int
) -> ForkJoinPrediction:
    """Approximate mean response time of a fork-join over k identical M/M/1 branches.

    Assumptions: as `fork_join_two_mm1` with k = `branches` >= 1 branches. Exact for k = 1
    (M/M/1) and k = 2 (Flatto-Hahn); within a few percent for k <= 32 in the authors'
    simulations (an approximation, `exact=False`, for k > 2).

    Formula: E[T_k] ~ [H_k / H_2 + (4/11) (1 - H_k / H_2) rho] E[T_2], with
    E[T_2] = (12 - rho) / 8 * 1 / (mu - lambda) and H_k the k-th harmonic number
    (at light load, H_k / mu: the mean of the largest of k exponentials).

    Source: Nelson & Tantawi, "Approximate analysis of fork/join synchronization in parallel
    queues", IEEE Trans. Computers 37(6) (1988).

    >>> round(fork_join_nelson_tantawi(0.5, 1.0, 4).mean_response_time, 6)
    3.789773
    >>> fork_join_nelson_tantawi(0.5, 1.0, 2).mean_response_time  # Flatto-Hahn
    2.875
    """
    rate, mu, load = _validated(arrival_rate, service_rate)
    count = require_count("branches", branches)
    ratio = _harmonic(count) / _harmonic(2)
    factor = ratio + (4.0 / 11.0) * (1.0 - ratio) * load
    return _prediction("Nelson-Tantawi fork-join", count <= 2, rate, mu, count, factor)
