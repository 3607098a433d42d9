"""A synchronous call as the caller sees it: drops, timeouts, retries.

One attempt is dropped with the callee's loss probability (at once; the caller's frame then
fails), times out when the callee's response exceeds the timeout — the response time is
fitted by a gamma law with its mean and variance (a two-moment approximation) — fails when
the callee's operation fails, and succeeds otherwise. `retries` more attempts follow a
failure; every attempt reaches the callee (a timed-out callee still does the work).
"""

from __future__ import annotations

import math

from models.analysis.moments import Moments, truncated, weighted
from models.schema import CallSpec


def call_outcome(
    spec: CallSpec, response: Moments, callee_fail: float, loss: float
) -> tuple[Moments, float, float]:
    """(time given success, failure probability, expected attempts) of one call step made.

    One attempt is dropped with probability `loss` (at once), times out when the callee's
    response exceeds the timeout (two-moment gamma fit of the response time), fails when the
    callee fails, and succeeds otherwise; `retries` more attempts follow a failure. Given
    success after k failed attempts, the caller waited k mean failed attempts plus one
    successful one.

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
        late, below = truncated(response, spec.timeout)
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
