"""The `parallel` step: mean time from fork to join of branches that run at once.

Exact for two identical M/M/1 branches fed only by the fork (Flatto-Hahn); Nelson-Tantawi
for k identical M/M/1 branches; otherwise the maximum of independent branches (each a gamma
law with the branch's mean and variance) scaled by the Nelson-Tantawi correlation factor,
which accounts for the branches' queues filling together because every job forks into all.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.analysis.group_overlap import overlap
from models.analysis.moments import Moments, expected_maximum
from models.theory import fork_join_nelson_tantawi, fork_join_two_mm1

SAME = 1e-9
"""Relative tolerance for "the same rate" when recognising identical branches."""


@dataclass(frozen=True)
class Branch:
    """One branch of a parallel step, as far as the fork-join formulas need it."""

    time: Moments
    """Time from the fork to the end of the branch (given success)."""
    utilization: float
    """Highest utilization of a station the branch queues at directly (0 if none)."""
    mm1: tuple[float, float] | None
    """(arrival rate, service rate) when the branch is one call to an exact M/M/1 station."""
    exact: bool
    """Whether the branch's own mean is exact."""
    meets: Meeting | None = None
    """The pool the branch calls first, at once, where it may meet the other branches'
    calls (`meetings.meeting`)."""
    later: Meeting | None = None
    """The pool it calls after some work of the pool it opens with, where the others'
    calls may meet it spread by that work (`meetings.later_meeting`)."""


@dataclass(frozen=True)
class Meeting:
    """A branch's call, made always, to a pool that can make it wait."""

    service: str
    wait: Moments
    """The wait there (each member's of the groups its siblings' calls arrive in)."""
    spread: float = 0.0
    """The mean time before the call (0: at once)."""
    holding: float = 0.0
    """The pool's mean holding time (where `spread` is not 0)."""


def _at_one_pool(branches: Sequence[Branch], fork_rate: float) -> tuple[list[Branch], bool]:
    """The branches with those whose calls meet at one pool merged into one (and whether
    any were): those whose first calls, made at once, reach one pool; then, of the rest,
    those that reach one pool, at once or after some work of the pool they open with
    (`Branch.later`). Where they meet they wait in one queue, so they wait alike, where
    independent branches would each draw a wait of their own and the largest of them
    count. Together, the merged branch is the wait W there, once, then the largest of
    what each branch takes after it, T_i − W, taken as independent (gamma fits of its
    mean and variance less W's). On one server of exponential work that is exact in the
    mean: a pair at once ends at W₀ + S₁ + S₂, where W is the pair's average member's
    W₀ + S/2 (M^X) and the larger of two services 3S/2. A page reading a one-server
    database twice at once, 70% busy: 13.95 ms as independent branches, 11.01 ms
    (10.66-11.37) simulated, now 11.00 ms. Calls spread by some work of mean w meet as
    often as one is still held when the other comes, `fan_out.overlap` (S / (S + w), as
    their arrivals' groups count), and as below otherwise (independent, with the
    Nelson-Tantawi factor): the merged mean is that mixture (a page whose two branches
    read a one-server database after 0.5 and 1-3 ms of work elsewhere: 14.32 ms as
    independent branches, 12.41 ms (12.02-12.80) simulated, now 12.47 ms)."""
    rest, at_once = _merged(branches, lambda b: b.meets, fork_rate)
    rest, spread = _merged(rest, lambda b: b.later or b.meets, fork_rate)
    return rest + at_once + spread, bool(at_once or spread)


def _merged(
    branches: Sequence[Branch], where: Callable[[Branch], Meeting | None], fork_rate: float
) -> tuple[list[Branch], list[Branch]]:
    """The branches that meet no other at one pool (`where`), and those that do, merged
    one per pool (`_at_one_pool`)."""
    clusters: dict[str, list[Branch]] = {}
    for branch in branches:
        meets = where(branch)
        if meets is not None:
            clusters.setdefault(meets.service, []).append(branch)
    merged = {service for service, members in clusters.items() if len(members) > 1}
    if not merged:
        return list(branches), []
    chosen = {id(b) for service in merged for b in clusters[service]}
    rest = [b for b in branches if id(b) not in chosen]
    joined = []
    for service in merged:
        members = clusters[service]
        meetings = [m for b in members if (m := where(b)) is not None]
        wait = meetings[0].wait
        after = [
            Moments(max(b.time.mean - wait.mean, 0.0), max(b.time.variance - wait.variance, 0.0))
            for b in members
        ]
        last = expected_maximum([(1.0, time) for time in after])
        time = Moments(wait.mean + last.mean, wait.variance + last.variance)
        spreads = [m.spread for m in meetings if m.spread > 0]
        if spreads:  # (apart: as below, the fork's correlation in the Nelson-Tantawi factor)
            alone = [dataclasses.replace(b, meets=None, later=None) for b in members]
            apart, _, _ = fork_join(alone, fork_rate)
            holding = max(m.holding for m in meetings)
            meet = overlap(holding, math.fsum(spreads) / len(spreads))
            time = Moments(
                meet * time.mean + (1.0 - meet) * apart.mean,
                meet * time.variance + (1.0 - meet) * apart.variance,
            )
        joined.append(Branch(time, max(b.utilization for b in members), None, False))
    return rest, joined


def _harmonic(count: int) -> float:
    return math.fsum(1.0 / i for i in range(1, count + 1))


_HARMONIC_TWO = _harmonic(2)
"""H_2 = 1.5."""


def nelson_tantawi_factor(branches: int, utilization: float) -> float:
    """E[T_k] / (H_k E[T_1]) for k identical M/M/1 branches (Nelson & Tantawi 1988).

    The ratio of the fork-join response time to the maximum of k independent exponential
    branch times; 1 at light load, (12 - rho) / 12 for two branches.

    >>> nelson_tantawi_factor(2, 0.0), round(nelson_tantawi_factor(2, 0.6), 6)
    (1.0, 0.95)
    """
    rho = min(max(utilization, 0.0), 0.999999)
    harmonic = _harmonic(branches)
    ratio = harmonic / _HARMONIC_TWO
    return (ratio + (4.0 / 11.0) * (1.0 - ratio) * rho) * (12.0 - rho) / (8.0 * harmonic)


def _identical_mm1(branches: Sequence[Branch], fork_rate: float) -> tuple[float, float] | None:
    """(lambda, mu) when every branch is one call to its own M/M/1 station with the same
    rates, each fed only by this fork (its arrival rate is the fork's rate)."""
    first = branches[0].mm1
    if first is None:
        return None
    for branch in branches:
        if branch.mm1 is None:
            return None
        if any(
            not math.isclose(a, b, rel_tol=SAME) for a, b in zip(branch.mm1, first, strict=True)
        ):
            return None
    if not math.isclose(first[0], fork_rate, rel_tol=SAME):
        return None
    return first


def fork_join(branches: Sequence[Branch], fork_rate: float) -> tuple[Moments, str, bool]:
    """Moments of the fork-to-join time, the method, and whether its mean is exact.

    >>> exponential = Branch(Moments(2.0, 4.0), 0.5, (0.5, 1.0), True)
    >>> time, method, exact = fork_join([exponential, exponential], fork_rate=0.5)
    >>> time.mean, method, exact   # Flatto-Hahn: (12 - rho) / 8 / (mu - lambda)
    (2.875, 'Flatto-Hahn fork-join', True)
    """
    branches, together = _at_one_pool(branches, fork_rate)
    if together:
        time, method, _ = fork_join(branches, fork_rate)
        if len(branches) == 1:
            return time, "fork-join of branches that meet at one pool", False
        return time, f"{method}, branches that meet at one pool together", False
    if len(branches) == 1:
        return branches[0].time, "sequential", branches[0].exact
    independent = expected_maximum([(1.0, b.time) for b in branches])
    if not independent.finite:
        return independent, "fork-join (unstable branch)", False
    identical = _identical_mm1(branches, fork_rate)
    if identical is not None:
        arrival_rate, service_rate = identical
        if len(branches) == 2:
            prediction = fork_join_two_mm1(arrival_rate, service_rate)
        else:
            prediction = fork_join_nelson_tantawi(arrival_rate, service_rate, len(branches))
        scale = prediction.mean_response_time / independent.mean if independent.mean else 1.0
        moments = Moments(prediction.mean_response_time, independent.variance * scale**2)
        return moments, prediction.method, prediction.exact
    rho = min(b.utilization for b in branches)
    factor = nelson_tantawi_factor(len(branches), rho)
    # (never below the longest branch's mean: E[max] >= max E[X_i], whatever the correlation)
    factor = max(factor, max(b.time.mean for b in branches) / independent.mean)
    moments = Moments(independent.mean * factor, independent.variance * factor**2)
    method = "Nelson-Tantawi fork-join (max of independent gamma-fitted branches)"
    return moments, method, False
