"""Calls that may fail and be retried: timeouts, retries with backoff, circuit breakers,
bulkheads (docs/scenario-language.md, "Failures and resilience").

A `CallEdge` is what a calling service (or a flow's client) shares for one callee
operation: one circuit breaker, one bulkhead, and the counts of the results' `calls` table.
A `ResilientCall` is one call made through it: attempts, each of which may be refused at
once (`circuit_open` by the breaker, `rejected` by the bulkhead) or sent to the callee and
answered, timed out, dropped, refused...; a failed attempt is retried (any reason but
`circuit_open`) while retries remain, after the backoff's wait. Semantics of resilience4j:
the retry wraps the breaker and the bulkhead, so every attempt passes through them. A retry
without a wait schedules no event: it counts as one towards the run's budgets
(`sim.engine.budget.InstantWork`).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

import simpy

from models.resilience import REASONS, Backoff, CircuitBreaker
from sim.engine.budget import InstantWork
from sim.engine.jobs import CallTarget, CompiledStep, Frame, Job, Outcome

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class BreakerState:
    """One circuit breaker's state machine (`models.resilience.CircuitBreaker`).

    Closed: outcomes of the last `window` seconds are kept; when at least `min_calls` of
    them are in and the failed fraction is >= `failure_rate`, it opens. Open: every attempt
    is refused until `open_for` has passed; then it is half-open: `half_open_calls` trial
    attempts pass (others are refused); all succeed -> closed (window cleared), any fails ->
    open again. Time open is summed over [measure_from, end] for `open_fraction`.
    """

    def __init__(self, spec: CircuitBreaker, measure_from: float, end: float) -> None:
        self.spec = spec
        self.state = CLOSED
        self.outcomes: collections.deque[tuple[float, bool]] = collections.deque()
        self.failures = 0
        self.open_until = 0.0
        self.trials_left = 0
        self.trial_successes = 0
        self.measure_from = measure_from
        self.end = end
        self.open_time = 0.0

    def allow(self, now: float) -> bool | None:
        """Whether an attempt may pass now: True (closed), None (passes as a half-open
        trial), or False (refused)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now < self.open_until:
                return False
            self.state = HALF_OPEN
            self.trials_left = self.spec.half_open_calls
            self.trial_successes = 0
        if self.trials_left > 0:
            self.trials_left -= 1
            return None
        return False

    def record(self, now: float, succeeded: bool, trial: bool) -> None:
        """An attempt that passed has finished (`trial`: it passed as a half-open trial)."""
        if self.state == HALF_OPEN:
            if not trial:
                return  # (a call started before the breaker opened)
            if not succeeded:
                self._open(now)
                return
            self.trial_successes += 1
            if self.trial_successes >= self.spec.half_open_calls:
                self.state = CLOSED
                self.outcomes.clear()
                self.failures = 0
            return
        if self.state == OPEN:
            return
        outcomes = self.outcomes
        outcomes.append((now, succeeded))
        self.failures += not succeeded
        horizon = now - self.spec.window
        while outcomes and outcomes[0][0] < horizon:
            self.failures -= not outcomes.popleft()[1]
        if len(outcomes) >= self.spec.min_calls and self.failures >= self.spec.failure_rate * len(
            outcomes
        ):
            self._open(now)

    def _open(self, now: float) -> None:
        self.state = OPEN
        self.open_until = now + self.spec.open_for
        self.outcomes.clear()
        self.failures = 0
        overlap = min(self.open_until, self.end) - max(now, self.measure_from)
        if overlap > 0:
            self.open_time += overlap

    def level(self, now: float) -> float:
        """1 while open, 0.5 while half-open (or due to be), 0 while closed."""
        if self.state == CLOSED:
            return 0.0
        if self.state == OPEN and now < self.open_until:
            return 1.0
        return 0.5

    def reset(self, now: float) -> None:
        """End of warm-up: count time open from `now` on (the state is kept)."""
        self.measure_from = now
        self.open_time = 0.0
        if self.state == OPEN and self.open_until > now:
            self.open_time = min(self.open_until, self.end) - now


class EdgeStats:
    """The counts of one row of the `calls` table, from the end of warm-up."""

    def __init__(self) -> None:
        self.calls = 0
        self.attempts = 0
        self.retries = 0
        self.short_circuited = 0
        self.fallbacks = 0
        self.failures = dict.fromkeys(REASONS, 0)


class CallEdge:
    """What a caller shares for one callee operation: breaker, bulkhead, counts."""

    def __init__(
        self,
        label: str,
        breaker: CircuitBreaker | None,
        bulkhead: int | None,
        measure_from: float,
        end: float,
    ) -> None:
        self.label = label
        self.breaker = BreakerState(breaker, measure_from, end) if breaker else None
        self.bulkhead = bulkhead
        self.in_progress = 0
        self.stats = EdgeStats()

    def reset(self, now: float) -> None:
        """End of warm-up: count afresh (the breaker's state and the bulkhead are kept)."""
        self.stats = EdgeStats()
        if self.breaker is not None:
            self.breaker.reset(now)


class CallPolicy:
    """Everything a resilient call step needs: its callee, edge, timeout, retries, backoff,
    and the replication's count of attempts retried at once (`instant`)."""

    def __init__(
        self,
        env: simpy.Environment,
        service: CallTarget,
        operation: Sequence[CompiledStep],
        edge: CallEdge,
        timeout: float | None,
        retries: int,
        backoff: Backoff | None,
        uniform: Callable[[], float],
        instant: InstantWork | None = None,
    ) -> None:
        self.env = env
        self.service = service
        self.operation = operation
        self.edge = edge
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.uniform = uniform
        self.instant = instant if instant is not None else InstantWork(env)

    def wait_before(self, retry: int) -> float:
        """The backoff's wait before retry number `retry` (1, 2, ...), jitter drawn."""
        backoff = self.backoff
        if backoff is None:
            return 0.0
        wait = backoff.wait(retry)
        if backoff.jitter == "full":
            return wait * self.uniform()
        if backoff.jitter == "equal":
            return wait / 2 + wait / 2 * self.uniform()
        return wait


class ResilientCall:
    """One call through a `CallPolicy`: its attempts, until one succeeds or none remain.

    Each attempt sent to the callee counts as pending work of the request from submission to
    the callee's reply, because after a timeout the callee goes on without its caller.
    """

    __slots__ = ("answered", "attempt", "frame", "policy", "retries_done", "trial")

    def __init__(self, policy: CallPolicy, frame: Frame) -> None:
        self.policy = policy
        self.frame = frame
        self.retries_done = 0
        self.attempt = 0  # the number of the attempt in progress (replies of others are late)
        self.answered = True
        self.trial = False

    def start(self) -> None:
        """Make the call: its first attempt."""
        self.policy.edge.stats.calls += 1
        self._try()

    def _try(self, _event: object = None) -> None:
        if self.frame.job.dead:  # the caller's replica went down while it waited to retry
            return
        policy, edge = self.policy, self.policy.edge
        stats = edge.stats
        stats.attempts += 1
        self.attempt += 1
        now = policy.env.now
        if edge.breaker is not None:
            allowed = edge.breaker.allow(now)
            if allowed is False:
                stats.short_circuited += 1
                self._failed("circuit_open")
                return
            self.trial = allowed is None
        if edge.bulkhead is not None and edge.in_progress >= edge.bulkhead:
            if self.trial and edge.breaker is not None:
                edge.breaker.trials_left += 1  # (a refused trial gives its slot back)
                self.trial = False
            self._failed("rejected")
            return
        edge.in_progress += 1
        self.answered = False
        request = self.frame.job.request
        request.pending += 1
        attempt = self.attempt
        callee = policy.service.new_job(
            request, policy.operation, lambda job, outcome: self._replied(job, outcome, attempt)
        )
        if policy.timeout is not None:
            policy.env.timeout(policy.timeout).callbacks.append(
                lambda _event: self._timed_out(attempt)
            )
        policy.service.submit(callee)

    def _replied(self, callee: Job, outcome: Outcome, attempt: int) -> None:
        if attempt == self.attempt and not self.answered:  # else: late, after a timeout
            self._settle(outcome)
        callee.request.work_ended(self.policy.env.now)

    def _timed_out(self, attempt: int) -> None:
        if attempt == self.attempt and not self.answered:
            self._settle("timeout")

    def _settle(self, outcome: Outcome) -> None:
        """The attempt in progress has its answer."""
        self.answered = True
        edge = self.policy.edge
        edge.in_progress -= 1
        if edge.breaker is not None:
            edge.breaker.record(self.policy.env.now, outcome is None, self.trial)
        if outcome is None:
            self.frame.job.call_returned(self.frame, None)
        else:
            self._failed(outcome)

    def _failed(self, outcome: str) -> None:
        """An attempt failed: retry (after the backoff) while retries remain, else fail."""
        policy = self.policy
        policy.edge.stats.failures[outcome] += 1
        if outcome != "circuit_open" and self.retries_done < policy.retries:
            self.retries_done += 1
            policy.edge.stats.retries += 1
            wait = policy.wait_before(self.retries_done)
            if wait > 0:
                policy.env.timeout(wait).callbacks.append(self._try)
            else:
                policy.instant.add()  # (no event of its own: counted as one)
                self._try()
            return
        self.frame.job.call_returned(self.frame, outcome)
