"""A synchronous call as the caller sees it: drops, timeouts, retries, backoff.

One attempt is dropped with the callee's loss probability (at once; the caller's frame then
fails), times out when the callee's response exceeds the timeout — the response time's law
from its wait and the law of its work where they are known (`response_tail.ResponseLaw`),
else a gamma law fitted to its mean and variance (a two-moment approximation) — fails when
the callee's operation fails, and succeeds otherwise. `retries` more attempts follow a
failure; every attempt reaches the callee (a timed-out callee still does the work).

With independent attempts that each fail with probability q, a call with r retries makes
E[attempts] = sum_{k=0..r} q^k = (1 - q^(r+1)) / (1 - q) attempts (a truncated geometric
series) and fails with probability q^(r+1); given success after k failed attempts the
caller waited k failed attempts, the backoffs before retries 1..k and the successful one.
`call_outcome` is the form the prediction has always used; `resilient_outcome` adds the
backoff waits and the time of a call that finally fails (for fallbacks and for the mean
holding time over every outcome).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.analysis.moments import Moments, truncated, weighted
from models.analysis.response_tail import ResponseLaw
from models.resilience import Backoff
from models.schema import CallSpec

JITTER_MEAN = {"none": 1.0, "full": 0.5, "equal": 0.75}
"""Mean of the drawn wait relative to the backoff's wait: full jitter draws uniformly in
(0, w), equal jitter w/2 plus a uniform draw in (0, w/2)."""


def call_outcome(
    spec: CallSpec,
    response: Moments,
    callee_fail: float,
    loss: float,
    law: ResponseLaw | None = None,
) -> tuple[Moments, float, float]:
    """(time given success, failure probability, expected attempts) of one call step made.

    One attempt is dropped with probability `loss` (at once), times out when the callee's
    response exceeds the timeout (`law`, if given and it applies, else a two-moment gamma
    fit of the response time: `timed_out`), fails when the callee fails, and succeeds
    otherwise; `retries` more attempts follow a failure. Given success after k failed
    attempts, the caller waited k mean failed attempts plus one successful one.

    >>> time, fail, attempts = call_outcome(CallSpec(service="s"), Moments(1.0, 1.0), 0.0, 0.5)
    >>> time.mean, fail, attempts
    (1.0, 0.5, 1.0)
    >>> time, fail, attempts = call_outcome(
    ...     CallSpec(service="s", retries=1), Moments(1.0, 1.0), 0.0, 0.5)
    >>> fail, attempts   # two tries, each dropped with probability 1/2
    (0.25, 1.5)
    """
    admitted = 1.0 - loss
    if spec.timeout is None:
        success, success_mean = admitted * (1.0 - callee_fail), response.mean
        failed_time = weighted(admitted * callee_fail, response.mean)
        success_variance = response.variance
    else:
        late, below = timed_out(response, spec.timeout, law)
        success = admitted * (1.0 - late) * (1.0 - callee_fail)
        success_mean = below
        failed_time = admitted * late * spec.timeout + weighted(
            admitted * (1.0 - late) * callee_fail, below
        )
        ratio = below / response.mean if response.finite and response.mean > 0 else 0.0
        success_variance = response.variance * ratio**2 if response.finite else 0.0
    attempt_fail = min(max(1.0 - success, 0.0), 1.0)
    mean_failed = failed_time / attempt_fail if attempt_fail > 0 else 0.0
    tries = [attempt_fail**k for k in range(spec.retries + 1)]
    attempts = math.fsum(tries)
    failed_before = math.fsum(k * w for k, w in enumerate(tries)) / attempts
    time = Moments(success_mean + weighted(failed_before, mean_failed), success_variance)
    return time, attempt_fail ** (spec.retries + 1), attempts


def timed_out(
    response: Moments, timeout: float, law: ResponseLaw | None = None
) -> tuple[float, float]:
    """(P(R > timeout), E[R | R <= timeout]) of the response R: from `law` where it applies,
    else from a gamma law with R's mean and variance (`moments.truncated`)."""
    found = None if law is None else law.truncated(timeout)
    return truncated(response, timeout) if found is None else found


def retry_attempts(attempt_fail: float, retries: int) -> float:
    """E[attempts] = (1 - q^(r+1)) / (1 - q) = sum_{k=0..r} q^k for attempts failing
    independently with probability q (r + 1 when q = 1).

    >>> round(retry_attempts(0.2, 2), 12)   # 1 + 0.2 + 0.04
    1.24
    """
    return math.fsum(attempt_fail**k for k in range(retries + 1))


def backoff_waits(backoff: Backoff | None, retries: int) -> list[float]:
    """Mean wait before retry 1..r: the backoff's wait times the jitter's mean factor.

    >>> backoff_waits(Backoff(initial=0.1, jitter="full"), 3)
    [0.05, 0.1, 0.2]
    """
    if backoff is None:
        return [0.0] * retries
    factor = JITTER_MEAN[backoff.jitter]
    return [backoff.wait(k) * factor for k in range(1, retries + 1)]


@dataclass(frozen=True)
class CallOutcome:
    """One call step made, with every outcome (`resilient_outcome`)."""

    time: Moments
    """Time of the call given that it succeeds (failed attempts and backoffs included)."""
    fail: float
    """Probability that the call finally fails, q^(r+1)."""
    attempts: float
    """Expected attempts, (1 - q^(r+1)) / (1 - q)."""
    attempt_fail: float
    """q: the probability that one attempt fails."""
    failed_time: float
    """Mean time of a call that finally fails: r + 1 failed attempts and r backoffs."""

    @property
    def spent(self) -> float:
        """Mean time of the call over every outcome."""
        return weighted(1.0 - self.fail, self.time.mean) + weighted(self.fail, self.failed_time)


def resilient_outcome(
    spec: CallSpec,
    response: Moments,
    callee_fail: float,
    loss: float,
    law: ResponseLaw | None = None,
) -> CallOutcome:
    """`call_outcome` with the backoff's mean waits and the time of a call that fails.

    >>> outcome = resilient_outcome(
    ...     CallSpec(service="s", retries=2), Moments(1.0, 1.0), 0.2, 0.0)
    >>> round(outcome.attempts, 12), round(outcome.fail, 12), round(outcome.failed_time, 12)
    (1.24, 0.008, 3.0)
    """
    time, fail, attempts = call_outcome(spec, response, callee_fail, loss, law)
    attempt_fail = attempt_failure(spec, response, callee_fail, loss, law)
    waits = backoff_waits(spec.backoff, spec.retries)
    cumulative = [math.fsum(waits[:k]) for k in range(spec.retries + 1)]
    tries = [attempt_fail**k for k in range(spec.retries + 1)]
    if spec.backoff is not None and attempts > 0:
        waited = math.fsum(w * c for w, c in zip(tries, cumulative, strict=True)) / attempts
        time = Moments(time.mean + waited, time.variance)
    failed_attempt = _mean_failed_attempt(spec, response, callee_fail, loss, attempt_fail, law)
    failed_time = (spec.retries + 1) * failed_attempt + cumulative[-1]
    return CallOutcome(time, fail, attempts, attempt_fail, failed_time)


def attempt_failure(
    spec: CallSpec,
    response: Moments,
    callee_fail: float,
    loss: float,
    law: ResponseLaw | None = None,
) -> float:
    """q: the probability that one attempt fails (dropped, timed out or failed)."""
    admitted = 1.0 - loss
    if spec.timeout is None:
        success = admitted * (1.0 - callee_fail)
    else:
        late, _ = timed_out(response, spec.timeout, law)
        success = admitted * (1.0 - late) * (1.0 - callee_fail)
    return min(max(1.0 - success, 0.0), 1.0)


def _mean_failed_attempt(
    spec: CallSpec,
    response: Moments,
    callee_fail: float,
    loss: float,
    attempt_fail: float,
    law: ResponseLaw | None = None,
) -> float:
    """Mean time of a failed attempt (a drop takes none, a timeout the timeout, a callee's
    failure its response)."""
    if attempt_fail <= 0:
        return 0.0
    admitted = 1.0 - loss
    if spec.timeout is None:
        failed_time = weighted(admitted * callee_fail, response.mean)
    else:
        late, below = timed_out(response, spec.timeout, law)
        failed_time = admitted * late * spec.timeout + weighted(
            admitted * (1.0 - late) * callee_fail, below
        )
    return failed_time / attempt_fail
