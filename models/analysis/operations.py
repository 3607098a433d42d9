"""One operation, step by step: what it calls and publishes, how long it holds its server,
how long it takes, and how likely it fails — given what is known about the stations.

Semantics follow the simulator (docs/scenario-language.md): `work` and `delay` hold the
server; a `call` holds it until the reply when calls block (thread-per-request; consumer
threads always block), and releases it otherwise, queueing for a worker again when the reply
comes (a call that is the operation's last step needs no worker again); `publish` takes no
time; a `parallel` step ends with its slowest branch; a `branch` runs one option. A dropped
or timed-out call fails its frame: the remaining steps are skipped and the caller's call
fails. A `fail: p` step ends the operation with an error with probability p; a call that
finally fails runs its `fallback` steps instead, when it has one. A call to a saturated
station answers only its share per unit of time, and a saturated async-I/O pool serves only
its share of the resumes too: the later steps are weighted by both (`throttle`).

With failures reported (`models.analysis.failures`), an operation of a service with an
`errors` fault fails with that fault's time-averaged probability as well, a call is refused
at once when the callee finds no replica up or its rate limit rejects it, retries wait for
the backoff, and the worker's mean holding time counts every outcome (an execution that
fails early holds it for less); without them nothing changes. Each call's failures and
the `fallback` steps are accounted in `models.analysis.operation_failures` (the base);
`branch` and `parallel` steps are walked in `models.analysis.operation_forks`.

Each emission (call or publish) also carries a *Poisson flag*, which says where a formula
is exact (`models.analysis.summary`: the summary the walk yields, the views it reads).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from models.analysis.calls import CallOutcome, call_outcome, refusals, resilient_outcome
from models.analysis.failures import NONE, FailureInputs
from models.analysis.graph import OpKey, StationId, fixed_partition
from models.analysis.moments import (
    ZERO,
    Moments,
    mixture,
    second_moment,
    weighted,
)
from models.analysis.node_shapes import NodeShapes
from models.analysis.operation_forks import ForkWalker
from models.analysis.response_tail import timed_call
from models.analysis.segments import Segments
from models.analysis.streams import StreamTracker
from models.analysis.summary import (
    COPY,
    IDLE,
    NOT_POISSON,
    POISSON,
    OperationSummary,
    Part,
    StationView,
    SummaryDraft,
    Target,
)
from models.schema import (
    BranchStep,
    CallStep,
    DelayStep,
    FailStep,
    ParallelStep,
    PublishStep,
    Scenario,
    Step,
    WorkStep,
)

Remembered = dict[OpKey, tuple[tuple[Any, ...], OperationSummary, SummaryDraft]]
"""Summaries of a round, each with the inputs it was computed from (`Evaluator.inputs`) and
what its walk found it from (`SummaryDraft`)."""


class Evaluator:
    """Summaries of every node, given the station views of the previous iteration.

    `remembered` are summaries computed before, with their inputs, most likely first (the
    same round of the solve before, then the round before): a node whose inputs have not
    changed (its station's view, its rate, and its callees' views and summaries) keeps its
    summary instead of being walked again — as the iteration settles, most do.
    """

    def __init__(
        self,
        scenario: Scenario,
        views: Mapping[StationId, StationView],
        rates: Mapping[OpKey, float],
        flow_flags: Mapping[str, int],
        failures: FailureInputs = NONE,
        remembered: Sequence[Remembered] = (),
        flow_scvs: Mapping[str, float] | None = None,
        shapes: NodeShapes | None = None,
    ) -> None:
        self.scenario = scenario
        self.shapes = NodeShapes(scenario) if shapes is None else shapes
        """The scenario's structure (`models.analysis.node_shapes`), found once per
        analysis when the solve's memo keeps it."""
        self.views = views
        self.rates = rates
        self.flow_flags = flow_flags
        self.flow_scvs = flow_scvs or {}
        """Each flow's interarrival SCV (`models.analysis.streams`)."""
        self.failures = failures
        self.summaries: dict[OpKey, OperationSummary] = {}
        self.remembered = remembered
        self.computed: Remembered = {}
        """This round's summaries with their inputs (the next round's `remembered`)."""

    def view(self, station: StationId) -> StationView:
        """The view of `station` (an idle, exact one before the first iteration)."""
        return self.views.get(station) or IDLE  # (a view is always true)

    def summary(self, key: OpKey) -> OperationSummary:
        """The summary of node `key` (memoised; the synchronous call graph is acyclic):
        one remembered whose inputs are the same, else one remembered whose inputs differ
        in its station's view alone, in none of the fields its walk reads of it, finished
        with this view (`SummaryDraft`), else walked."""
        known = self.summaries.get(key)
        if known is not None:
            return known
        tried = basis = None
        found: tuple[Any, ...] = ()
        near = []  # (the inputs found, the remembered they differ from)
        for remembered in self.remembered:
            before = remembered.get(key)
            if before is None or before is tried:
                continue
            tried = before
            if basis is None or not basis.reads_alike(before[1]):  # (else `found` again)
                found, basis = self.inputs(key, before[1]), before[1]
            if found == before[0]:
                self.summaries[key], self.computed[key] = before[1], before
                return before[1]
            near.append((found, before))
        for inputs, (was, _, draft) in near:
            again = draft.again(inputs, was)
            if again is not None:
                self.summaries[key], self.computed[key] = again, (inputs, again, draft)
                return again
        known, draft = _Walker(self, key).run()
        self.summaries[key] = known
        if basis is None or not basis.reads_alike(known):
            found = self.inputs(key, known)
        self.computed[key] = (found, known, draft)
        return known

    def inputs(self, key: OpKey, summary: OperationSummary) -> tuple[Any, ...]:
        """What the summary of `key` is computed from, besides the scenario and the failure
        constants: its station's view, its rate if it depends on it
        (`OperationSummary.rate_dependent`: a capacity trial's first round finds the
        summaries of the trial before, at another rate, again), and each callee's view and
        summary (the object itself: a callee that was walked again counts as changed)."""
        views, station_of, summary_of = self.views, self.shapes.station, self.summary
        known, stations = self.summaries.get, self.shapes.stations  # (first looks, inlined)
        found = []  # (a loop: a comprehension is a call of its own before Python 3.12)
        for target in summary.calls:
            view = views.get(stations.get(target) or station_of(target))  # type: ignore[arg-type]
            found.append((target, view, id(known(target) or summary_of(target))))
        callees = tuple(found)
        station = station_of(key)
        own = (views.get(station) or IDLE) if station is not None else None  # (`view`)
        rate = self.rates.get(key, 0.0) if summary.rate_dependent else None
        return (own, rate, callees)


class _Walker(ForkWalker):
    """Walks the steps of one node, accumulating its summary."""

    evaluator: Evaluator

    def __init__(self, evaluator: Evaluator, key: OpKey) -> None:
        super().__init__(evaluator.scenario)
        self.evaluator = evaluator
        self.key = key
        self.shapes = evaluator.shapes
        shape = self.shapes.node(key)
        self.steps = shape.steps
        self.station = shape.station
        self.rate = evaluator.rates.get(key, 0.0)
        self.calls: dict[OpKey, float] = defaultdict(float)
        self.publishes: dict[tuple[str, int | None], float] = defaultdict(float)
        self.publish_events: dict[str, float] = defaultdict(float)
        self.flags: dict[Target, int] = {}
        self.marginal: dict[Target, int] = defaultdict(int)
        self.methods: set[str] = set()
        self.concurrency: dict[Target, int] = {}
        self.call_times: dict[OpKey, float] = defaultdict(float)
        self.irregular: set[OpKey] = set()
        self.reports = evaluator.failures.reports
        self.spends = evaluator.failures.spends
        """Whether failed executions' times count (`FailureInputs.spends`)."""
        self.own_mean = 0.0
        self.own_variance = 0.0
        self.reacquisitions = 0.0
        self.serial = 0.0  # (the reacquisitions whose waits add up: `OperationSummary.waits`)
        self.segments = Segments()
        """Own work between an async-I/O worker's acquisitions (`models.analysis.segments`):
        the holding time per acquisition is a mixture of the segments (zero-length ones
        included), not the mean of the parts."""
        self.iid = True
        self.rate_read = False
        """Whether the walk used `rate` (`OperationSummary.rate_dependent`)."""
        self.exponential_mean = shape.exponential_mean
        self.slowdown = 1.0
        self.faulty = shape.faulty
        if self.reports and self.faulty is not None:
            self.slowdown = evaluator.failures.of(self.faulty).slowdown
            if self.slowdown != 1.0:
                self.exponential_mean = None  # (solving a slowdown window: approximate)
        self.contention_free, self.blocking = shape.contention_free, shape.blocking
        self.own_view: StationView | None = None  # (its station's: `ForkWalker.wait_at`)
        self.who = (key.kind, key.name)
        if key.kind == "flow":
            self.start_flag = evaluator.flow_flags.get(key.name, NOT_POISSON)
            self.departure_flag = self.start_flag
            self.streams = StreamTracker(evaluator.flow_scvs.get(key.name, 1.0), None, None)
        else:
            assert self.station is not None
            view = self.own_view = evaluator.view(self.station)
            self.start_flag = view.input_flag if self.contention_free else NOT_POISSON
            self.departure_flag = view.departure_flag if self.exponential_mean else NOT_POISSON
            leaving = None if self.contention_free else view.departure_scv
            self.streams = StreamTracker(view.arrival_scv, leaving, self.station)

    # ------------------------------------------------------------------ driver

    def run(self) -> tuple[OperationSummary, SummaryDraft]:
        """The node's summary, and what it was found from (`SummaryDraft`)."""
        part = self.walk(self.steps, 1.0, self.start_flag, copy=False, root=True)
        own = Moments(self.own_mean, self.own_variance)
        acquisitions = 1.0 + (0.0 if self.blocking else self.reacquisitions)
        waits = 1.0 + (0.0 if self.blocking else self.serial)
        holding = part.time if self.blocking else own
        if not self.blocking and acquisitions > 1.0:
            # per acquisition (`LoadBuilder.classes` divides by `acquisitions`): mean
            # own / a, second moment the segments' E[sum of T²] / a
            spread = self.segments.total() - self.own_mean**2 / acquisitions
            holding = Moments(self.own_mean, max(spread, 0.0))
        errors = 0.0
        if self.reports and self.faulty is not None:
            errors = self.evaluator.failures.of(self.faulty).errors
            if errors > 0:
                part.fail = 1.0 - (1.0 - part.fail) * (1.0 - errors)
                self.fail_exact = False
        if self.spends and self.key.kind != "flow" and self.blocking and part.time.finite:
            second = part.second_spent  # (a thread is held through failed calls too)
            variance = max(second - part.mean_spent**2, 0.0) if math.isfinite(second) else 0.0
            holding = Moments(part.mean_spent, variance)
        reading = (self.contention_free, bool(self.exponential_mean), self.blocking)
        draft = SummaryDraft.of(
            part, acquisitions, waits, self.methods, self.key, reading, self.own_view
        )
        methods, execution, response, exact, spent = draft.finish(self.own_view)
        marginal = self.marginal
        if marginal and max(marginal.values()) > 1:
            flags = {
                target: (NOT_POISSON if marginal.get(target, 0) > 1 else flag)
                for target, flag in self.flags.items()
            }
        else:  # (the common case: no target is emitted to twice as a copy)
            flags = dict(self.flags)
        holding_exact = part.exact and not (self.spends and not self.moments_exact)
        draft.summary = OperationSummary(
            key=self.key,
            calls=dict(self.calls),
            publishes=dict(self.publishes),
            publish_events=dict(self.publish_events),
            flags=flags,
            fail=part.fail,
            acquisitions=acquisitions,
            waits=waits,
            own=own,
            holding=holding,
            execution=execution,
            response=response,
            exact=exact,
            holding_exact=holding_exact,
            iid=self.iid and acquisitions == 1.0,
            exponential_mean=self.exponential_mean,
            end_flag=part.flag,
            marginal=dict(self.marginal),
            concurrency=self.concurrency,
            call_times=dict(self.call_times),
            irregular=self.irregular,
            methods=methods,
            spent=spent,
            fail_exact=self.fail_exact,
            feedback=self.feedback,
            tallies=self.tallies,
            refused_again=dict(self.refused_again),
            first_calls=dict(self.first_calls),
            early=self.early,
            rate_dependent=self.rate_read,
            passed=part.passed,
            **self.streams.fields(),
        )
        return draft.summary, draft

    def emit(self, target: Target, flag: int, copy: bool, weight: float = 0.0) -> None:
        """Record the Poisson flag of an emission to `target`, and the SCV of the stream
        it is part of, for `weight` emissions per execution."""
        self.streams.emitted(target, weight)
        if copy and flag > COPY:  # (`min` and `max` as comparisons: the same values)
            flag = COPY
        if flag == COPY:
            self.marginal[target] += 1
        if self.concurrency.get(target, 0) < 1:
            self.concurrency[target] = 1
        self.flags[target] = min(self.flags.get(target, POISSON), flag)

    # ------------------------------------------------------------------ steps

    def walk(
        self,
        steps: Sequence[Step],
        reach: float,
        flag: int,
        copy: bool,
        root: bool,
        option: bool = False,
    ) -> Part:
        """Walk `steps`, reached with probability `reach`, starting with Poisson flag `flag`
        (`option`: a branch's option, whose first call follows the step before the branch)."""
        result = Part(flag=flag)
        survival = passing = 1.0  # (`passing`: what its saturated callees let through)
        spent = 0.0
        square = 0.0  # E[T²] over every outcome
        alive_time = 0.0  # E[T; still running]
        # (the part's running values as locals, `weighted` and `Part.mean_spent`,
        # `second_spent` inlined: the same operations in the same order)
        time_mean = time_variance = utilization = 0.0
        exact = True
        streams, last = self.streams, len(steps) - 1 if root else -1
        resumes = option  # (whether the step before was a call or a branch)
        isfinite = math.isfinite
        for index, step in enumerate(steps):
            if not resumes:
                streams.recent = None  # (no re-entry: `StreamTracker.called`)
            kind = type(step)  # (the schema's step types have no subclasses)
            if kind is CallStep:
                part = self.call(step, reach * survival * passing, flag, copy, index == last)  # type: ignore[arg-type]
                resumes = True
            else:
                part = self.step(step, reach * survival * passing, flag, copy)
                resumes = kind is BranchStep
            passing *= part.passed
            time = part.time
            step_mean = time.mean
            if survival < 1.0 and step_mean > 0:
                self.early = True  # an execution may end before this step's time
            mean = step_mean if part.spent is None else part.spent
            second = part.spent_square
            if second is None:
                second = time.variance + step_mean**2 if isfinite(step_mean) else math.inf
            # T' = T + 1{running} X, a step's outcome independent of the time so far
            ran = 0.0 if survival == 0 else survival * mean
            square += (0.0 if survival == 0 else survival * second) + 2.0 * (
                0.0 if alive_time == 0 else alive_time * mean
            )
            spent += ran
            kept = 1.0 - part.fail  # (the share still running after it)
            alive_time = (alive_time + ran) * kept
            time_mean, time_variance = time_mean + step_mean, time_variance + time.variance
            flag = part.flag
            exact = exact and part.exact
            if part.utilization > utilization:  # (`max`, which keeps the first unless larger)
                utilization = part.utilization
            survival *= kept
        if steps:
            result.time = Moments(time_mean, time_variance)
            result.flag, result.exact, result.utilization = flag, exact, utilization
            if len(steps) == 1:
                result.mm1 = part.mm1
        result.fail, result.passed = 1.0 - survival, passing
        if self.spends:
            result.spent = spent
            result.spent_square = square if isfinite(spent) else math.inf
        return result

    def step(self, step: Step, reach: float, flag: int, copy: bool) -> Part:
        """Any step but a call (`walk` calls `call`)."""
        kind = type(step)  # (`is`, not `isinstance`: no subclasses, and a step per step)
        work = kind is WorkStep
        if work or kind is DelayStep:
            moments = self.shapes.moments(step)  # type: ignore[arg-type]
            if work and self.slowdown != 1.0:
                factor = self.slowdown
                moments = Moments(moments.mean * factor, moments.variance * factor**2)
            self.own_mean += weighted(reach, moments.mean)
            self.own_variance += weighted(reach, moments.variance)
            self.segments.work(moments)
            if not self.contention_free:
                flag = self.departure_flag
            return Part(time=moments, flag=flag)
        if kind is FailStep:
            fail = step.fail  # type: ignore[union-attr]
            self.segments.end(fail)
            return Part(fail=fail, flag=flag, spent=0.0, spent_square=0.0)
        if kind is PublishStep:
            spec = step.publish  # type: ignore[union-attr]
            fixed = fixed_partition(self.scenario, spec.topic, spec.key)
            self.publishes[(spec.topic, fixed)] += reach * spec.probability * spec.count
            self.publish_events[spec.topic] += reach * spec.probability
            events = reach * spec.probability
            self.emit(spec.topic, flag if spec.count == 1 else NOT_POISSON, copy, events)
            return Part(flag=flag)
        if kind is BranchStep:
            return self.branch(step, reach, flag, copy)  # type: ignore[arg-type]
        if kind is ParallelStep:
            return self.parallel(step, reach, flag)  # type: ignore[arg-type]
        raise TypeError(f"unknown step type {type(step).__name__}")

    def call(self, step: CallStep, reach: float, flag: int, copy: bool, tail: bool) -> Part:
        spec = step.call
        priority, evaluator = self.key.priority, self.evaluator
        target, station, unlimited = self.shapes.call(step, priority)
        summary = evaluator.summary(target)
        view = evaluator.view(station)
        response = summary.response
        own = self.own_view
        open_wait = view.waiting.get(priority, ZERO).mean
        seen = view.seen_mean(station, own, self.who)  # (`wait_at`'s mean)
        wait = open_wait if seen is None else seen
        if wait != open_wait and response.finite:  # (seen through a pool: `wait_at`)
            response = Moments(max(response.mean - open_wait + wait, 0.0), response.variance)
        loss = view.loss
        outcome: CallOutcome | None = None
        law, ahead = timed_call(self.scenario, spec, target, summary, view, response)
        if self.reports:
            unavailable = evaluator.failures.of(spec.service).unavailable
            loss, why = refusals(view.loss, view.rejected, unavailable)  # (by reason)
            tried = outcome = resilient_outcome(spec, response, summary.fail, loss, law, why, ahead)
        else:
            tried = call_outcome(spec, response, summary.fail, view.loss, law, ahead=ahead)
            self.tally(spec, target, reach, tried, summary, view, law)
        time, fail, attempts = tried.time, tried.fail, tried.fresh
        made = spec.probability
        self.refused_on_the_spot(target, reach * made, tried)
        self.calls[target] += reach * made * attempts
        self.call_times[target] += weighted(reach * made, time.mean)
        if spec.timeout is not None or spec.retries:
            self.irregular.add(target)
        self.emit(target, flag, copy, reach * made * attempts)
        through = view.served_share(target.priority) * summary.passed  # (module docstring)
        self.streams.called(station, made * through if self.blocking else 0.0, summary.holding)
        if not self.blocking and not tail:
            self.reacquisitions += reach * made * through
            self.serial += reach * made * through
            self.segments.release(made, through)
            through *= 1.0 if own is None else own.served_share(priority)
        self.methods.update(summary.methods)
        if self.blocking and not (unlimited and summary.iid):
            self.iid = False
        plain = spec.timeout is None and (spec.retries == 0 or fail == 0.0)
        after = min(flag, summary.end_flag) if plain and view.loss == 0.0 else NOT_POISSON
        if self.contention_free and plain and view.loss == 0.0:
            self.rate_read = True  # (its share of the callee's replies)
            share = 1.0  # (no rate known yet: the first round)
            if self.rate > 0 and view.arrival_rate > 0:
                share = self.rate * reach * made / view.arrival_rate
            self.streams.replied(summary, view, station, unlimited, share)
        exact = summary.exact and plain
        spent: float | None = None
        square: float | None = None
        if outcome is not None:
            exact = self.account(spec, target, summary, view, reach, outcome, loss, law)
            exact = exact and summary.exact
            if loss > 0:
                self.irregular.add(target)
                after = NOT_POISSON
        if self.spends:  # (every outcome's time: failed calls hold their caller too)
            spent = weighted(made, tried.spent)
            square = weighted(
                made,
                weighted(1.0 - tried.fail, second_moment(time))
                + weighted(tried.fail, tried.failed_time**2),
            )
        if spec.fallback is not None and outcome is not None:
            return self.fallback(spec, reach, time, outcome, exact, view, unlimited)
        if made < 1.0:
            time = mixture([(made * (1.0 - fail), time), (1.0 - made, ZERO)])
        mm1 = None
        if view.mm1 and made == 1.0 and plain and summary.exponential_mean:
            mm1 = (view.arrival_rate, 1.0 / summary.exponential_mean)
        return Part(
            time=time,
            fail=made * fail,
            passed=1.0 - made * (1.0 - through),
            flag=after,
            exact=exact,
            utilization=0.0 if unlimited else view.utilization,
            mm1=mm1,
            spent=spent,
            spent_square=square,
        )
