"""A synchronous call as the caller sees it: drops, timeouts, retries, backoff.

One attempt is refused at once with the callee's loss probability d (a full waiting room;
with failures also a rate limit or no replica up: the caller's frame then fails), times out
when the callee's response exceeds the timeout — the response time's law from its wait and
the law of its work where they are known (`response_tail.ResponseLaw`), else a gamma law
fitted to its mean and variance (a two-moment approximation) — fails when the callee's
operation fails, and succeeds otherwise. `retries` more attempts follow a failure; every
attempt sent reaches the callee (a timed-out callee still does the work).

A retry sent on the spot after a timeout queues behind its abandoned attempt and times
out more often (`models.analysis.timeout_retries`): where the caller gives the callee's
queue (`QueueAhead`), the attempts are a chain of two states (`_chained`). Otherwise, and
with a backoff, the attempts are taken as independent, each failing with probability q: a
call with r retries makes E[attempts] = sum_{k=0..r} q^k = (1 - q^(r+1)) / (1 - q) of
them (a truncated geometric series) and fails with probability q^(r+1); given success
after k failed attempts the caller waited k failed attempts, the backoffs before retries
1..k and the successful one.

Without a backoff a retry is made at the instant of the failure (the simulator schedules
nothing in between: `sim.engine.calls`), so a refused attempt's retry finds the callee as
its attempt did — the room still full, the bucket still empty, no replica up — and is
refused too: a refusal ends the call, its remaining attempts refused on the spot, and only
failures that take time (a timeout, the callee's error) let a retry see the callee anew.
With t = (1 - d) P(timeout or error) the failures a retry survives and s the success of
one attempt, the call succeeds with s sum_{k=0..r} t^k, makes sum_{k<=r} t^k attempts that
reach the callee's queue (fresh: `CallOutcome.fresh`, the traffic equations count these)
and d sum_k t^k (r - k) more that are refused at once (the calls table counts them: the
simulator does). `retries: 1` into a full room is no second chance (a flow of Poisson calls
into an M/M/c/K room with no other failure succeeds with 1 - P(full), not 1 - P(full)^2).
`call_outcome` is the form without the backoff's waits; `resilient_outcome` adds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from models.analysis.moments import Moments, truncated, weighted
from models.analysis.response_tail import ResponseLaw
from models.analysis.timeout_retries import QueueAhead, behind
from models.analysis.value_types import value_type
from models.resilience import Backoff
from models.schema import CallSpec

JITTER_MEAN = {"none": 1.0, "full": 0.5, "equal": 0.75}
"""Mean of the drawn wait relative to the backoff's wait: full jitter draws uniformly in
(0, w), equal jitter w/2 plus a uniform draw in (0, w/2)."""


@value_type
class CallOutcome:
    """One call step made, with every outcome (`call_outcome`, `resilient_outcome`)."""

    time: Moments
    """Time of the call given that it succeeds (failed attempts and backoffs included)."""
    fail: float
    """Probability that the call finally fails."""
    attempts: float
    """Expected attempts, refused ones included."""
    attempt_fail: float
    """The share of the attempts that fail (q, with independent attempts)."""
    failed_time: float
    """Mean time of a call that finally fails (its failed attempts and backoffs)."""
    fresh: float
    """Expected attempts that reach the callee as a new arrival (all of them, but those
    refused at the instant of a refusal: module docstring)."""
    failed: dict[str, float] = field(default_factory=dict)
    """Expected failed attempts by reason (`models.resilience.REASONS`: `timeout`,
    `error`, and the refusals' `dropped`, `rejected`, `unavailable`), those refused on the
    spot for the reason of the refusal before them."""
    behind: bool = False
    """Whether a retry after a timeout was taken as queued behind its abandoned attempt
    (`models.analysis.timeout_retries`), not as a fresh one."""
    first_success: float | None = None
    """With `behind`: the probability that the first attempt succeeds (else it is the
    independent attempts' `1 / fresh` of the call's success)."""

    @property
    def retried_given_success(self) -> float:
        """P(an attempt before the successful one | the call succeeds): 1 - 1 / fresh for
        independent attempts (P(k = 0 | success) = 1 / sum t^k), else from the first
        attempt's success."""
        if self.first_success is not None and self.fail < 1.0:
            return max(1.0 - self.first_success / (1.0 - self.fail), 0.0)
        return max(1.0 - 1.0 / self.fresh, 0.0) if self.fresh > 0 else 0.0

    @property
    def spent(self) -> float:
        """Mean time of the call over every outcome."""
        return weighted(1.0 - self.fail, self.time.mean) + weighted(self.fail, self.failed_time)


@dataclass(frozen=True)
class _Attempt:
    """One attempt's outcomes."""

    refused: float
    """d: refused at once (no time)."""
    late: float
    """Admitted and then failed: timed out or the callee's error."""
    timed_out: float
    """Of `late`, the attempts that time out."""
    late_time: float
    """E[time; admitted and failed]: the timeout, or the callee's time to its error."""
    success: Moments
    """Its time given success."""


def _attempt(
    spec: CallSpec, response: Moments, callee_fail: float, loss: float, law: ResponseLaw | None
) -> _Attempt:
    if spec.timeout is None:
        late = (1.0 - loss) * callee_fail
        return _Attempt(loss, late, 0.0, weighted(late, response.mean), response)
    over, below = timed_out(response, spec.timeout, law)
    return _timed(spec.timeout, response, over, below, callee_fail, loss)


def _timed(
    timeout: float, response: Moments, over: float, below: float, callee_fail: float, loss: float
) -> _Attempt:
    """An attempt with a timeout that is refused with probability `loss`, times out with
    `over` once admitted, else takes `below` (E[R | R <= T]) and fails as the callee does;
    its time given success keeps the response's variance relative to its mean."""
    admitted = 1.0 - loss
    erred = admitted * (1.0 - over) * callee_fail
    late_time = admitted * over * timeout + weighted(erred, below)
    ratio = below / response.mean if response.finite and response.mean > 0 else 0.0
    variance = response.variance * ratio**2 if response.finite else 0.0
    late = admitted * over + erred
    return _Attempt(loss, late, admitted * over, late_time, Moments(below, variance))


def call_outcome(
    spec: CallSpec,
    response: Moments,
    callee_fail: float,
    loss: float,
    law: ResponseLaw | None = None,
    refusals: Mapping[str, float] | None = None,
    ahead: QueueAhead | None = None,
) -> CallOutcome:
    """One call step made, without the backoff's waits (`resilient_outcome` adds them).
    `refusals`: `loss` by reason, summing to it (default: all of it `dropped`). `ahead`:
    the callee's queue, where a retry on the spot after a timeout queues behind its
    abandoned attempt (`models.analysis.timeout_retries`; None: attempts independent).

    One attempt is refused with probability `loss` (at once), times out when the callee's
    response exceeds the timeout (`law`, if given and it applies, else a two-moment gamma
    fit of the response time: `timed_out`), fails when the callee fails, and succeeds
    otherwise; `retries` more attempts follow a failure (module docstring: refusals
    retried on the spot, without a backoff, are refused again).

    >>> outcome = call_outcome(CallSpec(service="s"), Moments(1.0, 1.0), 0.0, 0.5)
    >>> outcome.time.mean, outcome.fail, outcome.attempts
    (1.0, 0.5, 1.0)
    >>> outcome = call_outcome(CallSpec(service="s", retries=1), Moments(1.0, 1.0), 0.5, 0.0)
    >>> outcome.fail, outcome.attempts   # two tries, each failing with probability 1/2
    (0.25, 1.5)
    >>> outcome = call_outcome(CallSpec(service="s", retries=1), Moments(1.0, 1.0), 0.0, 0.5)
    >>> outcome.fail, outcome.attempts, outcome.fresh   # a dropped try's retry: dropped too
    (0.5, 1.5, 1.0)
    """
    if spec.timeout is None and spec.retries == 0:  # (one attempt, untimed: most calls)
        return _single(spec, response, callee_fail, loss, refusals)
    one = _attempt(spec, response, callee_fail, loss, law)
    retries = spec.retries
    success = 1.0 - one.refused - one.late
    on_the_spot = spec.backoff is None and retries > 0
    if on_the_spot and ahead is not None and spec.timeout is not None and one.timed_out > 0:
        admitted = 1.0 - loss
        over = one.timed_out / admitted
        below = one.success.mean
        found = behind(response, spec.timeout, over, below, ahead)
        if found is not None:  # (the attempts after a timeout: `found`'s P(R' > T), E[R' | ..])
            after = _timed(spec.timeout, response, *found, callee_fail, loss)
            return _chained(spec, one, after, loss, refusals)
    again = one.late if on_the_spot else one.refused + one.late
    # (again: the failures after which the next attempt sees the callee anew)
    tries = [again**k for k in range(retries + 1)]
    fresh = math.fsum(tries)
    succeeded = min(max(success, 0.0) * fresh, 1.0)
    mean_failed = one.late_time / again if again > 0 else 0.0
    failed_before = math.fsum(k * w for k, w in enumerate(tries)) / fresh
    time = Moments(one.success.mean + weighted(failed_before, mean_failed), one.success.variance)
    refused_after = 0.0  # (attempts refused on the spot after a refusal)
    failed_time = (retries + 1) * mean_failed  # (independent attempts: q^(r+1) of them)
    if on_the_spot and one.refused > 0:
        refused_after = one.refused * math.fsum(w * (retries - k) for k, w in enumerate(tries))
        ended = math.fsum(w * k for k, w in enumerate(tries)) * one.refused  # (k late ones)
        fail = 1.0 - succeeded
        endless = tries[-1] * again * (retries + 1)
        failed_time = (ended + endless) * mean_failed / fail if fail > 0 else 0.0
    attempts = fresh + refused_after
    attempt_fail = max(attempts - succeeded, 0.0) / attempts
    failed = {}
    if spec.resilient:  # (the calls table's failures by reason)
        failed = _by_reason(loss, refusals, one.timed_out, one.late - one.timed_out)
        failed = {reason: p * fresh for reason, p in failed.items()}
        for reason, share in (refusals or {"dropped": loss}).items():
            if share > 0:  # (refused on the spot for the reason of the refusal before)
                failed[reason] += refused_after * share / loss
    return CallOutcome(time, 1.0 - succeeded, attempts, attempt_fail, failed_time, fresh, failed)


def _chained(
    spec: CallSpec,
    first: _Attempt,
    after: _Attempt,
    loss: float,
    refusals: Mapping[str, float] | None,
) -> CallOutcome:
    """`call_outcome` of retries on the spot where an attempt after a timeout is `after`
    and any other (the first, one after the callee's error) is `first`: the attempts as a
    chain of two states, summed over the r + 1 attempts. A refusal ends the call (its
    retries refused on the spot)."""
    retries, timeout = spec.retries, spec.timeout or 0.0
    alive = {"fresh": 1.0, "behind": 0.0}  # P(attempt k is made, in that state)
    elapsed = {"fresh": 0.0, "behind": 0.0}  # E[time so far; attempt k made in that state]
    attempt_of = {"fresh": first, "behind": after}
    made = succeeded = success_time = 0.0
    failed_mass = failed_time = refused_after = 0.0
    timed_out = erred = refused = 0.0
    for k in range(retries + 1):
        nxt = {"fresh": 0.0, "behind": 0.0}
        nxt_elapsed = {"fresh": 0.0, "behind": 0.0}
        for state, mass in alive.items():
            if mass <= 0.0:
                continue
            attempt, so_far = attempt_of[state], elapsed[state]
            made += mass
            win = 1.0 - attempt.refused - attempt.late
            succeeded += mass * win
            success_time += so_far * win + mass * win * attempt.success.mean
            refused += mass * attempt.refused
            refused_after += mass * attempt.refused * (retries - k)
            failed_mass += mass * attempt.refused
            failed_time += so_far * attempt.refused
            out, err = attempt.timed_out, attempt.late - attempt.timed_out
            timed_out += mass * out
            erred += mass * err
            out_time = out * timeout
            err_time = attempt.late_time - out_time
            if k < retries:
                nxt["behind"] += mass * out
                nxt_elapsed["behind"] += so_far * out + mass * out_time
                nxt["fresh"] += mass * err
                nxt_elapsed["fresh"] += so_far * err + mass * err_time
            else:
                failed_mass += mass * attempt.late
                failed_time += so_far * attempt.late + mass * attempt.late_time
        alive, elapsed = nxt, nxt_elapsed
    succeeded = min(max(succeeded, 0.0), 1.0)
    mean = success_time / succeeded if succeeded > 0 else first.success.mean
    time = Moments(mean, first.success.variance)
    attempts = made + refused_after
    attempt_fail = max(attempts - succeeded, 0.0) / attempts
    failed: dict[str, float] = {}
    if spec.resilient:  # (the calls table's failures by reason)
        failed = _by_reason(loss, refusals, timed_out, erred)
        for reason, share in (refusals or {"dropped": loss}).items():
            if share > 0:  # (refused, then refused on the spot for the same reason)
                failed[reason] = (refused + refused_after) * share / loss
    mean_failed = failed_time / failed_mass if failed_mass > 0 else 0.0
    won = 1.0 - first.refused - first.late
    return CallOutcome(
        time, 1.0 - succeeded, attempts, attempt_fail, mean_failed, made, failed, True, won
    )


def _by_reason(
    loss: float, refusals: Mapping[str, float] | None, timed_out: float, erred: float
) -> dict[str, float]:
    """One attempt's failure probabilities by reason: the refusals (`loss`, all `dropped`
    unless `refusals` splits it), `timeout` and the callee's `error`; those above 0."""
    reasons = {**(refusals or {"dropped": loss}), "timeout": timed_out, "error": erred}
    return {reason: p for reason, p in reasons.items() if p > 0}


def _single(
    spec: CallSpec,
    response: Moments,
    callee_fail: float,
    loss: float,
    refusals: Mapping[str, float] | None,
) -> CallOutcome:
    """`call_outcome` of one attempt without a timeout (refused, the callee's error, or
    its response): the general form with no retry, spared its sums on the hot path (most
    calls are these)."""
    admitted = 1.0 - loss
    fail = 1.0 - admitted * (1.0 - callee_fail)
    if fail < 0.0:  # (`min(max(fail, 0.0), 1.0)` as comparisons: the same value)
        fail = 0.0
    elif fail > 1.0:
        fail = 1.0
    erred = admitted * callee_fail
    failed_time = weighted(erred, response.mean) / fail if fail > 0 else 0.0
    failed = _by_reason(loss, refusals, 0.0, erred) if spec.resilient else {}
    return CallOutcome(response, fail, 1.0, fail, failed_time, 1.0, failed)


def timed_out(
    response: Moments, timeout: float, law: ResponseLaw | None = None
) -> tuple[float, float]:
    """(P(R > timeout), E[R | R <= timeout]) of the response R: from `law` where it applies,
    else from a gamma law with R's mean and variance (`moments.truncated`)."""
    found = None if law is None else law.truncated(timeout)
    return truncated(response, timeout) if found is None else found


def refusals(loss: float, rejected: float, unavailable: float) -> tuple[float, dict[str, float]]:
    """The probability that an attempt is refused at once, and by reason: `rejected` by a
    rate limit, else `unavailable` (no replica up), else `dropped` by a full waiting room
    (`loss`, the callee's).

    >>> refusals(0.5, 0.0, 0.5)
    (0.75, {'rejected': 0.0, 'unavailable': 0.5, 'dropped': 0.25})
    """
    let_in = (1.0 - rejected) * (1.0 - unavailable)
    refused = 1.0 - let_in
    total = 1.0 - (1.0 - refused) * (1.0 - loss) if refused > 0 else loss
    reasons = {
        "rejected": rejected,
        "unavailable": (1.0 - rejected) * unavailable,
        "dropped": let_in * loss,
    }
    return total, reasons


def backoff_waits(backoff: Backoff | None, retries: int) -> list[float]:
    """Mean wait before retry 1..r: the backoff's wait times the jitter's mean factor.

    >>> backoff_waits(Backoff(initial=0.1, jitter="full"), 3)
    [0.05, 0.1, 0.2]
    """
    if backoff is None:
        return [0.0] * retries
    factor = JITTER_MEAN[backoff.jitter]
    return [backoff.wait(k) * factor for k in range(1, retries + 1)]


def resilient_outcome(
    spec: CallSpec,
    response: Moments,
    callee_fail: float,
    loss: float,
    law: ResponseLaw | None = None,
    refusals: Mapping[str, float] | None = None,
    ahead: QueueAhead | None = None,
) -> CallOutcome:
    """`call_outcome` with the backoff's mean waits (in the time given success and in the
    time of a call that finally fails: r + 1 failed attempts and r backoffs).

    >>> outcome = resilient_outcome(
    ...     CallSpec(service="s", retries=2), Moments(1.0, 1.0), 0.2, 0.0)
    >>> round(outcome.attempts, 12), round(outcome.fail, 12), round(outcome.failed_time, 12)
    (1.24, 0.008, 3.0)
    """
    outcome = call_outcome(spec, response, callee_fail, loss, law, refusals, ahead)
    if spec.backoff is None:
        return outcome
    waits = backoff_waits(spec.backoff, spec.retries)
    cumulative = [math.fsum(waits[:k]) for k in range(spec.retries + 1)]
    q = outcome.attempt_fail
    tries = [q**k for k in range(spec.retries + 1)]
    time = outcome.time
    if outcome.attempts > 0:
        waited = math.fsum(w * c for w, c in zip(tries, cumulative, strict=True))
        time = Moments(time.mean + waited / outcome.attempts, time.variance)
    failed_time = outcome.failed_time + cumulative[-1]
    return CallOutcome(
        time,
        outcome.fail,
        outcome.attempts,
        q,
        failed_time,
        outcome.fresh,
        outcome.failed,
        outcome.behind,
        outcome.first_success,
    )
