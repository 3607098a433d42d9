"""A retry sent on the spot after a timeout: it queues behind its own abandoned attempt.

A call that times out does not withdraw its attempt: the callee still serves it (the
simulator's semantics, `sim.engine.calls`). A retry sent at the instant of the timeout
(no `backoff`) joins the callee's queue behind that abandoned attempt, which has waited T
already and is still there, and behind everything that arrived while the caller waited.
So it times out far more often than a fresh attempt, and the attempts of one call are not
independent. An API of 4 workers calling a one-server database (exponential 10 ms, 50 ms
timeout, one retry) at 40/s: 6% of the first attempts time out, and 47% of the retries
(simulated); taken as independent, 5.6% of the retries would, so that 0.31% of the calls
would fail where 2.8-3.0% do (`tests/theory/test_timeout_retries.py`).

At one FCFS server with Poisson arrivals the retry's response is, exactly,

    R' = (R - T | R > T) + A(T) + S'

the time the abandoned attempt still needs to leave (all the work ahead of it and its
own), the work A(T) that arrived in the T the caller waited (all of it behind the
abandoned attempt, none of it started), and the retry's own work S'. The three are
independent: the arrivals after the first attempt do not depend on what was ahead of it.
Here (`behind`):

- the residual R - T | R > T is taken as a gamma law with its exact mean,
  E[R - T | R > T] = (E[R] - E[R | R <= T] P(R <= T)) / P(R > T) - T, from the same law
  (or gamma fit) that gave P(R > T) (`calls.timed_out`), and the SCV of R where that is
  below 1, else 1 (exponential): exact for M/M/1, whose response is exponential, and the
  wait's tail is exponential for any light-tailed work (the Cramér-Lundberg
  approximation, Asmussen, *Applied Probability and Queues*, 2nd ed. 2003, XIII.5); a
  steadier response leaves a steadier residual (a standing backlog: nearly none of it
  below T, where an exponential residual of the same mean would put a quarter);
- A(T) + S' is fitted by a gamma law with its mean and variance: A(T), the compound
  Poisson work of the lambda T arrivals, has mean lambda T E[S] = rho T and variance
  lambda T E[S^2] (on c servers A(T) / c: mean rho T, variance lambda T E[S^2] / c^2);
- P(R' <= T) = int_0^T F_Y(T - r) dF_res(r), and E[R'; R' <= T] the same with r + E[Y; Y
  <= T - r], by 64-point Gauss-Legendre quadrature.

On c servers the retry waits only where all of them are busy. Where the abandoned attempt
was still waiting at T (probability P(W > T) / P(R > T)), they have been busy all along,
everything that arrived since queues behind it, and the retry waits for it to start and
for those to start, R' ~ (W - T | W > T) + A(T) / c + S' (for M/M/c the wait given that
it waits is exponential, so its residual is the same law, and the busy servers' starts
are Poisson at c mu, so that A(T) / c has the right mean rho T); the wait given that it
waits is taken as exponential with the pool's mean. Where the abandoned attempt was in
service at T (its own work was long), the queue need not be long, and the retry is taken
as a fresh attempt.

Replicas each their own queue (dealt at random or in turn) send the retry back to the
abandoned attempt's only 1 time in r, else to another, as a fresh attempt
(`same_pool_share`).

With a backoff the retry is taken as independent of the attempt before (as before: the
queue may have drained in the wait), and at a delay station (no queue) it is.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from models.analysis.moments import Moments

NODES = 64
"""Gauss-Legendre nodes of the integral over the residual."""
SMALLEST_SCV = 1e-3
"""The least SCV the residual is given (a shape of 1,000: nearly a constant)."""
SMALLEST_TIMEOUT_SHARE = 1e-9
"""Below this P(R > T) the retries are too rare to matter, and the residual's mean (a
difference of nearly equal numbers) is not known: the attempts are taken as independent."""


@dataclass(frozen=True)
class QueueAhead:
    """What a retry on the spot finds at the callee, besides the abandoned attempt: the
    callee's pool (`servers`, their `utilization`, the probability `p_wait` that a request
    waits and its mean wait `wait`) and the work of its requests."""

    servers: int
    utilization: float
    work: Moments
    p_wait: float = 0.0
    wait: float = 0.0
    same_pool: float = 1.0
    """The probability that the retry joins the abandoned attempt's pool (replicas each
    their own pool: `same_pool_share`), else it is a fresh attempt at another."""


@functools.cache
def _nodes() -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(NODES)
    return nodes, weights


def behind(
    response: Moments, timeout: float, over: float, below: float, ahead: QueueAhead
) -> tuple[float, float] | None:
    """(P(R' > T), E[R' | R' <= T]) of an attempt sent on the spot after one that timed
    out (module docstring), where the first attempt's response R has mean `response.mean`,
    P(R > T) = `over` and E[R | R <= T] = `below`; None where the attempts are taken as
    independent (a timeout almost never reached, no residual). Continuous in what it reads,
    up to a utilization of 1 (a finite room's, its losses aside): where a window's rounds
    switched to independent attempts at a utilization of 1, they never settled.

    >>> late, _ = behind(Moments(0.025, 0.025**2), 0.05, math.exp(-2), 0.0172, QueueAhead(
    ...     1, 0.6, Moments(0.01, 0.0001)))   # M/M/1 at 60%: 13.5% time out, then 60%
    >>> round(late, 2)
    0.6
    """
    if not SMALLEST_TIMEOUT_SHARE < over < 1.0:
        return None
    rho = min(max(ahead.utilization, 0.0), 1.0)  # (a full finite room: busy throughout)
    if not (response.finite and ahead.work.finite and ahead.work.mean > 0):
        return None
    servers = max(ahead.servers, 1)
    square = ahead.work.variance + ahead.work.mean**2
    mean = rho * timeout + ahead.work.mean  # A(T) / c + S'
    variance = rho * timeout * square / (servers * ahead.work.mean) + ahead.work.variance
    shape = 1.0 / min(max(response.scv, SMALLEST_SCV), 1.0)  # (the residual's gamma shape)
    if servers == 1:  # (the abandoned attempt's whole residual response is ahead)
        residual = (response.mean - below * (1.0 - over)) / over - timeout
        if not (math.isfinite(residual) and residual > 0):
            return None
        still = ahead.same_pool
    else:
        if not (ahead.p_wait > 0 and ahead.wait > 0):
            return None
        residual = ahead.wait / ahead.p_wait  # E[W | W > 0], its residual too (exponential)
        still = min(ahead.p_wait * math.exp(-timeout / residual) / over, 1.0)  # P(W > T | R > T)
        still *= ahead.same_pool
    if not still > SMALLEST_TIMEOUT_SHARE:
        return None
    late, spent = _behind(residual, shape, mean, variance, timeout)
    if still == 1.0:
        return late, spent
    return still * late + (1.0 - still) * over, _mixed_time(still, late, spent, over, below)


def same_pool_share(replicas: int, balancing: str) -> float:
    """The probability that a retry sent on the spot finds the queue its abandoned attempt
    waits in: 1 for one pool (one replica, or replicas sharing a waiting room), and for
    replicas dealt to the least outstanding (the shortest queue, which a timeout finds
    about as long as the one it left: they move together), 1 / r for r replicas dealt at
    random or in turn (the others' requests dealt in the T the caller waited leave the turn
    anywhere; the other replicas' queues are independent of the one that was late). An API
    calling 3 replicas of one worker (exponential 10 ms, 42% busy) with a 50 ms timeout
    and a retry: failed calls 0.31% predicted, 0.31% simulated in turn (0.81% with the
    retry always behind), 0.95% and 1.56% at random (2.23% behind), 0.047% and 0.050% to
    the least outstanding (`tests/theory/test_timeout_retries.py`)."""
    if replicas <= 1 or balancing in ("shared", "least_outstanding"):
        return 1.0
    return 1.0 / replicas


def _mixed_time(still: float, late: float, spent: float, over: float, below: float) -> float:
    """E[R' | R' <= T] of the mixture: behind a waiting attempt with probability `still`
    (`late`, `spent`), else a fresh attempt (`over`, `below`)."""
    within = still * (1.0 - late) + (1.0 - still) * (1.0 - over)
    if within <= 0.0:
        return 0.0
    return (still * (1.0 - late) * spent + (1.0 - still) * (1.0 - over) * below) / within


@functools.lru_cache(maxsize=1024)
def _behind(
    residual: float, shape: float, mean: float, variance: float, timeout: float
) -> tuple[float, float]:
    """P(X + Y > T) and E[X + Y | X + Y <= T] for X gamma of mean `residual` and `shape`
    (>= 1: exponential at 1) and Y gamma of `mean` and `variance` (a constant where
    `variance` is 0)."""
    from scipy.special import gammainc, gammaln  # (here: start-up time, test_startup.py)

    nodes, weights = _nodes()
    times = (nodes + 1.0) * timeout / 2  # r in (0, T)
    scale = residual / shape
    log_density = (shape - 1.0) * np.log(times / scale) - times / scale - gammaln(shape)
    density = np.exp(log_density) / scale * weights * timeout / 2
    left = timeout - times  # y <= T - r
    if variance <= 0.0:
        within = np.asarray(left >= mean, dtype=float)
        partial = within * mean
    else:
        shape, rate = mean * mean / variance, mean / variance
        within = gammainc(shape, rate * left)
        partial = mean * gammainc(shape + 1.0, rate * left)  # E[Y; Y <= T - r]
    below = float(np.dot(density, within))
    if below <= 0.0:
        return 1.0, 0.0
    spent = float(np.dot(density, times * within + partial))
    return min(max(1.0 - below, 0.0), 1.0), min(spent / below, timeout)
