"""What a call's failures do to the operation that makes it (with failures reported,
`models.analysis.failures`): each call step is accounted for — its first attempts, its row
of the `calls` table (`CallTally`), the feedback of its retries into the callee, whether its
failure probability and times are exact — and a call with a `fallback` runs the fallback's
steps when it finally fails.

`FailureWalker` is that side of the walk of one operation: the state it accumulates (whether
the operation's failure probability and holding-time moments are exact, whether an execution
may end before some of its time, the tallies and feedback per called operation) and the two
steps above. It is the base of the walker of `models.analysis.operations`, which walks the
steps (a fallback's included) and calls them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from models.analysis.calls import CallOutcome
from models.analysis.graph import OpKey
from models.analysis.moments import ZERO, Moments, mixture, weighted
from models.analysis.response_tail import ResponseLaw
from models.analysis.summary import NOT_POISSON, CallTally, OperationSummary, Part, StationView
from models.schema import CallSpec, Scenario, Step


class FailureWalker:
    """The failure side of walking the steps of one node (the walker's base)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.fail_exact = True
        self.early = False
        self.moments_exact = True
        self.feedback: dict[OpKey, int] = {}
        self.tallies: dict[OpKey, CallTally] = {}
        self.first_calls: dict[OpKey, float] = defaultdict(float)
        self.refused_again: dict[OpKey, float] = defaultdict(float)
        """Per callee, attempts refused on the spot after a refusal (`calls`), per run."""

    def walk(self, steps: Sequence[Step], reach: float, flag: int, copy: bool, root: bool) -> Part:
        """Walk `steps`, reached with probability `reach`, starting with Poisson flag `flag`
        (done by the walker, `models.analysis.operations`)."""
        raise NotImplementedError

    def account(
        self,
        spec: CallSpec,
        target: OpKey,
        summary: OperationSummary,
        view: StationView,
        reach: float,
        outcome: CallOutcome,
        loss: float,
        law: ResponseLaw | None = None,
    ) -> bool:
        """Record what failures do to a call (with failures reported): first attempts,
        the calls table, feedback of retries into the callee, and whether the call's
        failure probability is exact (`law`: the callee's response law its timeout used,
        if any). Returns whether its time given success is exact."""
        made = reach * spec.probability
        self.first_calls[target] += made
        callee_spec = self.scenario.services[spec.service]
        modelled = spec.circuit_breaker is None and spec.bulkhead is None
        untimed = spec.timeout is None or (law is not None and law.exact)
        independent = untimed and loss == 0.0 and modelled
        failure_exact = (
            independent
            and callee_spec.rate_limit is None
            and callee_spec.queue_timeout is None
            and summary.fail_exact
        ) or (
            untimed
            and modelled
            and loss == view.loss
            and exact_refusals(spec, summary, view)
            and callee_spec.rate_limit is None
            and callee_spec.queue_timeout is None
            and summary.fail_exact
        )
        if made > 0 and not failure_exact:
            self.fail_exact = False
        if spec.retries and outcome.fresh > 1.0:  # (retries that reach the callee anew)
            kind = 1 if independent else 2
            self.feedback[target] = max(self.feedback.get(target, 0), kind)
        alike = self._failed_times(spec, summary, made, outcome, loss)
        if spec.retries and outcome.attempt_fail > 0 and not alike:
            independent = False  # (failed attempts take another time than successful ones)
        if spec.resilient:
            tally = self._row(spec, target, made, outcome, failure_exact, law)
            if spec.fallback is not None:
                tally.fallbacks += made * outcome.fail
            if spec.circuit_breaker is not None:
                tally.notes.add("circuit breaker not modelled (as if always closed)")
            if spec.bulkhead is not None:
                tally.notes.add("bulkhead not modelled")
            _note_refusals(tally, loss, spec)
        return independent

    def _failed_times(
        self,
        spec: CallSpec,
        summary: OperationSummary,
        made: float,
        outcome: CallOutcome,
        loss: float,
    ) -> bool:
        """Whether a failed attempt lasts like a successful one: only when the callee's
        failures come at the end of its time (nothing refused or timed out). A failed call
        lasts like a successful one only if, besides, one attempt is made and no fallback
        runs; where not, the caller's time over every outcome is approximate (and its
        failed executions take another time)."""
        alike = loss == 0.0 and spec.timeout is None and not summary.early
        differs = not alike or spec.retries > 0 or spec.fallback is not None
        if made > 0 and outcome.attempt_fail > 0 and differs:
            self.moments_exact = False
            if outcome.fail > 0:
                self.early = True
        return alike

    def tally(
        self,
        spec: CallSpec,
        target: OpKey,
        reach: float,
        outcome: CallOutcome,
        summary: OperationSummary,
        view: StationView,
        law: ResponseLaw | None = None,
    ) -> None:
        """A call without failures reported (timeouts and retries alone: the walk is the
        one the prediction has always made, `calls.call_outcome`): whether its failure
        probability is exact (`exact_refusals`, no timeout, the callee's own failures
        exact), and for a resilient call its row of the `calls` table."""
        made = reach * spec.probability
        untimed = spec.timeout is None or (law is not None and law.exact)
        exact = untimed and exact_refusals(spec, summary, view) and summary.fail_exact
        self._failed_times(spec, summary, made, outcome, view.loss)
        if made > 0 and not exact:
            self.fail_exact = False
        if not spec.resilient:
            return
        _note_refusals(self._row(spec, target, made, outcome, exact, law), view.loss, spec)

    def refused_on_the_spot(self, target: OpKey, made: float, outcome: CallOutcome) -> None:
        """Count the attempts of `made` calls refused on the spot (`calls`): the callee
        counts them, its queue never sees them."""
        if outcome.attempts > outcome.fresh:
            self.refused_again[target] += made * (outcome.attempts - outcome.fresh)

    def _row(
        self,
        spec: CallSpec,
        target: OpKey,
        made: float,
        outcome: CallOutcome,
        exact: bool,
        law: ResponseLaw | None,
    ) -> CallTally:
        """Add `made` calls of `spec` to the row of `target` (`exact`: whether `outcome`'s
        probabilities are)."""
        tally = self.tallies.setdefault(target, CallTally())
        tally.calls += made
        tally.attempts += made * outcome.attempts
        tally.failed += made * outcome.fail
        tally.attempt_fail = outcome.attempt_fail
        for reason, count in outcome.failed.items():
            tally.failures[reason] = tally.failures.get(reason, 0.0) + made * count
        tally.exact = tally.exact and exact
        if spec.timeout is not None:
            tally.notes.add(_timeout_note(spec.timeout, law))
            tally.timed_calls += made
            tally.timed += made * (spec.retries + 1)
            tally.timed_attempts += made * outcome.fresh
            tally.timeout = min(tally.timeout or spec.timeout, spec.timeout)
        if outcome.behind:
            tally.notes.add(BEHIND_NOTE)
        return tally

    def fallback(
        self,
        spec: CallSpec,
        reach: float,
        time: Moments,
        outcome: CallOutcome,
        exact: bool,
        view: StationView,
        unlimited: bool,
    ) -> Part:
        """A call with a `fallback`: when it finally fails its fallback's steps run instead
        (their own failures then fail the step)."""
        made = spec.probability
        failed = made * outcome.fail
        steps = spec.fallback or []
        backup = self.walk(steps, reach * failed, NOT_POISSON, False, False)
        if failed > 0 and backup.time.mean > 0:
            self.early = True
            self.moments_exact = False
        options = [
            (made * (1.0 - outcome.fail), time),
            (failed * (1.0 - backup.fail), Moments(outcome.failed_time) + backup.time),
            (1.0 - made, ZERO),
        ]
        spent = weighted(made * (1.0 - outcome.fail), time.mean) + weighted(
            failed, outcome.failed_time + backup.mean_spent
        )
        return Part(
            time=mixture(options) if any(w > 0 for w, _ in options) else ZERO,
            fail=failed * backup.fail,
            flag=NOT_POISSON,
            exact=exact and (failed == 0 or backup.exact),
            utilization=max(0.0 if unlimited else view.utilization, backup.utilization),
            spent=spent,
        )


BEHIND_NOTE = "except a retry on the spot after a timeout: queued behind its abandoned attempt"
"""The calls table's note where `calls.CallOutcome.behind` (`models.analysis.timeout_retries`):
the attempts are a chain, not the independent ones the method's first words name."""


def exact_refusals(spec: CallSpec, summary: OperationSummary, view: StationView) -> bool:
    """Whether a call's refusals (attempts dropped by a full waiting room) are counted
    exactly: none; or the callee's exact loss (Poisson arrivals) met once — no retry, or
    retries on the spot, which a refusal ends (`calls`), with no other failure to retry."""
    if view.loss == 0.0 or spec.retries == 0:
        return view.loss == 0.0 or view.exact
    return spec.backoff is None and spec.timeout is None and summary.fail == 0.0 and view.exact


def _note_refusals(tally: CallTally, loss: float, spec: CallSpec) -> None:
    """Refused attempts (dropped by a full waiting room, rejected, no replica up) retried
    after a backoff are taken as independent of each other: an approximation the row names
    (on the spot, they are refused again: `calls`)."""
    if loss > 1e-9 and spec.retries and spec.backoff is not None:
        tally.notes.add("refusals (drops, rate limit, no replica up) approximated")


def _timeout_note(timeout: float, law: ResponseLaw | None) -> str:
    """How P(response > timeout) was found (`calls.timed_out`)."""
    if law is None or law.truncated(timeout) is None:
        return "timeout: P(response > timeout) of a gamma fit"
    if law.p_wait <= 0:
        return "timeout: P(response > timeout) of the work's law"
    return "timeout: P(response > timeout) of the wait and the work's law"
