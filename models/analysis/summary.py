"""What walking one operation yields and what it reads: its summary (`OperationSummary`,
everything the traffic equations and the stations need), the summary of a part of its steps
(`Part`), its resilient calls per called operation (`CallTally`), the view of a station it is
computed from (`StationView`), and the Poisson flags of its emissions.

The walk itself is `models.analysis.operations` (what failures do to it:
`models.analysis.operation_failures`).

Each emission (call or publish) carries a *Poisson flag*, used to decide where a formula is
exact: 2 = the stream is Poisson and independent of other streams; 1 = Poisson, but a copy
of another stream (a fork or a topic fan-out); 0 = not Poisson. A Poisson stream stays
Poisson through i.i.d. delays on a contention-free server (displacement theorem), through
exact M/M/c and M/G/inf stations (Burke's theorem, for departures), and through random
splitting; it does not survive a queueing server's start of service, finite waiting rooms,
timeouts, joins or batches.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from copy import copy
from dataclasses import dataclass, field
from typing import Any

from models.analysis.graph import OpKey, StationId, station_of
from models.analysis.moments import INFINITE, ZERO, Moments, mixture, second_moment, weighted
from models.analysis.value_types import value_type
from models.distributions import Distribution
from models.schema import Scenario

POISSON, COPY, NOT_POISSON = 2, 1, 0
Target = OpKey | str
"""Where an emission goes: a called operation, or a topic (by name)."""


@value_type
class StationView:
    """What an operation needs to know about a station (from the previous iteration)."""

    waiting: Mapping[int, Moments] = field(default_factory=dict)
    """Waiting time per priority class for one acquisition of a worker (missing: none)."""
    loss: float = 0.0
    """Probability that a fresh arrival is dropped (full waiting room)."""
    exact: bool = True
    """Whether the waiting-time mean is exact."""
    method: str = ""
    """The station's model, e.g. ``"M/M/c (Erlang C)"``."""
    input_flag: int = POISSON
    """Poisson flag of the station's arrivals."""
    departure_flag: int = POISSON
    """Poisson flag of its departures (exact M/M/c and M/G/inf stations only)."""
    utilization: float = 0.0
    """Busy fraction of its servers."""
    p_wait: float = 0.0
    """Probability that an arrival waits for a server."""
    arrival_rate: float = 0.0
    """Arrival rate at one server pool (one replica unless pooled)."""
    mm1: bool = False
    """True for an exact M/M/1 station (FIFO, Poisson arrivals, exponential service)."""
    callee_waiting: Mapping[StationId, float] = field(default_factory=dict)
    """For a thread pool solved with its callees (`models.analysis.layers`): the waiting
    per call its requests see at each callee, instead of the callee's open-model wait."""
    rejected: float = 0.0
    """Probability that an arrival is rejected by the service's rate limit."""
    caller_waiting: tuple[tuple[tuple[str, str], ...], float, float] | None = None
    """Where bounded callers' requests wait otherwise than the rest (the two-class station,
    `models.analysis.mixed_source`): (those callers, their wait, everyone else's)."""
    arrival_scv: float = 1.0
    """What its operations' calls carry (`models.analysis.streams`): the SCV of its
    arrivals at a contention-free station, the flows' own SCVs at a queueing one."""
    departure_scv: float = 1.0
    """SCV of the times between its departures (`streams.departure_scv`; 1 where no
    emission carries it)."""
    servers: int | None = None
    """Its servers, where a call with a timeout reaches it and `laws` are known."""
    laws: tuple[tuple[float, Distribution], ...] | None = None
    """(acquisitions per second, law) of the work of each of its operations, where a call
    with a timeout reaches it, it is one FCFS pool without a waiting-room limit and every
    operation is one `work` step (`models.analysis.response_tail`); None elsewhere."""
    served: Mapping[int, float] = field(default_factory=dict)
    """Per priority class, the share of its admitted arrivals it serves in the long run
    where it saturates with an unbounded waiting room (`models.analysis.throttle`): what
    its operations send on goes at that share. Empty: all of them."""

    def __eq__(self, other: object) -> bool:
        """Field by field, as the dataclass's own comparison (each field the same object or
        equal), without building a tuple of the 18 fields of each: the memo compares the
        views a summary was computed from every round, some 7,000 times per analysis of
        the 100 generated services (`operations.Evaluator.inputs`). Its instance
        dictionary holds its fields and nothing else (`__init__`)."""
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__dict__ == other.__dict__

    def served_share(self, priority: int) -> float:
        """The share of `priority`'s admitted arrivals served (`served`)."""
        return self.served.get(priority, 1.0)

    def wait_seen_by(self, caller: tuple[str, str]) -> float | None:
        """The mean wait that `caller`'s (kind, name) requests see at a two-class station;
        None at any other (they see `waiting`)."""
        if self.caller_waiting is None:
            return None
        bounded, own, others = self.caller_waiting
        return own if caller in bounded else others

    def wait_for(
        self, station: StationId, pool: StationView | None, caller: tuple[str, str], priority: int
    ) -> Moments:
        """The wait `caller`'s (kind, name) requests of `priority` see at this station,
        `station`: as the caller's `pool` sees its callees (`callee_waiting`), or as a
        two-class station tells its callers apart (`wait_seen_by`), else its own."""
        seen = self.seen_mean(station, pool, caller)
        wait = self.waiting.get(priority, ZERO)
        return wait if seen is None else Moments(seen, wait.variance)

    def seen_mean(
        self, station: StationId, pool: StationView | None, caller: tuple[str, str]
    ) -> float | None:
        """`wait_for`'s mean where `caller` sees a wait of its own here (through its pool,
        or apart at a two-class station); None where it sees the station's own."""
        seen = None if pool is None else pool.callee_waiting.get(station)
        return self.wait_seen_by(caller) if seen is None else seen


IDLE = StationView()
"""The view of a station not solved yet (the first round's): no wait, exact."""


@dataclass
class CallTally:
    """One caller's resilient calls to one operation, per execution of the caller."""

    calls: float = 0.0
    """Call steps made (first attempts)."""
    attempts: float = 0.0
    """Attempts, retries included."""
    failed: float = 0.0
    """Calls that finally failed (their fallback, if any, ran)."""
    fallbacks: float = 0.0
    """Fallbacks run."""
    attempt_fail: float = 0.0
    """Probability that one attempt fails (the last call step seen)."""
    exact: bool = True
    notes: set[str] = field(default_factory=set)
    """What is approximated or left out (timeouts, circuit breakers, bulkheads)."""
    timed_calls: float = 0.0
    """Of `calls`, those with a timeout."""
    timed: float = 0.0
    """Of `calls`, those with a timeout, weighted by their attempts when every attempt
    times out (r + 1): what the callee would see if its backlog made every attempt late."""
    timed_attempts: float = 0.0
    """The attempts those calls send the callee in the steady state (`CallOutcome.fresh`:
    the calm timeouts' retries included), which its offered load counts."""
    timeout: float | None = None
    """The shortest timeout of these calls."""
    failures: dict[str, float] = field(default_factory=dict)
    """Failed attempts by reason (`calls.CallOutcome.failed`)."""


@dataclass
class OperationSummary:
    """Everything the traffic equations and the stations need to know about one node."""

    key: OpKey
    calls: dict[OpKey, float]
    """Expected call attempts per execution, per called operation (retries included)."""
    publishes: dict[tuple[str, int | None], float]
    """Expected messages per execution, per (topic, fixed partition or None)."""
    publish_events: dict[str, float]
    """Expected publish steps taken per execution, per topic (messages / events = batch)."""
    flags: dict[Target, int]
    """Poisson flag of each emission target."""
    fail: float
    """Probability that the operation fails (a call dropped or timed out, after retries)."""
    acquisitions: float
    """Worker acquisitions per execution (1, plus reacquisitions after non-blocking calls)."""
    waits: float
    """Of those, the waits that add up in the response: a parallel step's branches
    reacquire side by side, and the join waits for the longest of them (`Walker.parallel`):
    `acquisitions` otherwise."""
    own: Moments
    """Time on the operation's own `work` and `delay` steps per execution (no calls)."""
    holding: Moments
    """Worker holding time per execution (blocking: including calls; else own steps only)."""
    execution: Moments
    """From the start of service to the end, given success (reacquisition waits included)."""
    response: Moments
    """From arrival at the station (or start, for a client or handler) to the end."""
    exact: bool
    """Whether the mean `response` is exact."""
    holding_exact: bool
    """Whether the mean `holding` is exact."""
    iid: bool
    """Whether holding times are i.i.d. and independent of the queue (M/G/1 exactness)."""
    exponential_mean: float | None
    """The mean, when the whole holding time is one exponential `work` or `delay` step."""
    end_flag: int
    """Poisson flag of the stream of this operation's ends (its departures)."""
    marginal: dict[Target, int]
    """Emissions with flag 1 per target (two copies of one stream merging are not Poisson)."""
    concurrency: dict[Target, int]
    """For each target, the most emissions one execution can have in progress at once where
    one is to it, counted where a request can queue at several places at once: its own,
    and beside them in a parallel step those to services of limited workers
    (`side_by_side`; 1 for sequential steps)."""
    call_times: dict[OpKey, float]
    """Expected time per execution spent waiting for each called operation."""
    irregular: set[OpKey]
    """Called operations reached by calls with a timeout or retries."""
    methods: set[str]
    """Models used along the way (stations called, fork-joins)."""
    spent: float = 0.0
    """Mean time from arrival to the end over every outcome (an execution that fails early
    takes less): the mean response time of every admitted execution."""
    fail_exact: bool = True
    """Whether `fail` is exact (independent failures only on the way: `fail` steps, drops
    at exact stations without retries)."""
    feedback: dict[OpKey, int] = field(default_factory=dict)
    """Called operations that get attempts again after a failure: 1 when the failures are
    the callee's own (independent of its queue, a product-form feedback), 2 otherwise
    (timeouts, drops, rejections: not product-form)."""
    tallies: dict[OpKey, CallTally] = field(default_factory=dict)
    """Resilient calls (timeout, retries or a pattern) per called operation."""
    refused_again: dict[OpKey, float] = field(default_factory=dict)
    """Per callee, attempts per run refused at the instant of a refusal (retries without
    a backoff, `models.analysis.calls`): counted by the callee, never in its queue."""
    first_calls: dict[OpKey, float] = field(default_factory=dict)
    """Call steps made per execution, per called operation (first attempts only)."""
    early: bool = False
    """Whether an execution may end (fail) before some of its time: failed executions then
    take less than successful ones."""
    scvs: dict[Target, float] = field(default_factory=dict)
    """SCV of the stream of each emission target's emissions (`models.analysis.streams`):
    a queueing station's departures, or along a contention-free operation the stream its
    steps reach (its arrivals, then each called station's replies)."""
    end_scv: float = 1.0
    """SCV of the stream of its ends (for a contention-free operation: its replies)."""
    end_origins: frozenset[StationId] = frozenset()
    """Stations whose departures' SCV `end_scv` carries."""
    scv_reads: frozenset[StationId] = frozenset()
    """Stations whose departures' SCV its emissions carry: the only ones a station's view
    needs (`models.analysis.network`)."""
    passed: float = 1.0
    """The share of its executions that complete per unit of time: 1 unless a saturated
    station on its synchronous path serves only a share (`Part.passed`); its later steps
    are weighted by it (a request held up there does not reach them)."""
    rate_dependent: bool = False
    """Whether the summary depends on the operation's own arrival rate (a fork-join of
    several branches: `forkjoin.fork_join` tells identical M/M/1 branches by it; a
    contention-free operation's calls: its share of the callee's replies); otherwise a
    summary is reused at another rate (`Evaluator.inputs`)."""

    def reads_alike(self, other: OperationSummary) -> bool:
        """Whether `operations.Evaluator.inputs` reads the same of `other`, another summary
        of the same node, as of this one (the callees, in the same order, and the rate or
        not): in one round (the same views, rates and callees' summaries), the inputs
        found for one are the other's too."""
        return self.rate_dependent == other.rate_dependent and list(self.calls) == list(other.calls)


@dataclass(slots=True)
class SummaryDraft:
    """What the walk of one node yields besides its summary: what the summary's last five
    fields (`finish`) were found from, and what the walk read of its own station's view
    (`reads`). From one round to the next a station's wait changes more often than
    anything else: where nothing else the walk read has changed (its callees' views and
    summaries, its rate if it reads it, and `reads`), the walk would find the same values
    again, and the summary is the one of the draft (`summary`) with these fields found
    anew (`operations.Evaluator.summary`: some 950 of 2,500 walks per analysis of the 100
    generated services)."""

    time: Moments
    """The time of its steps (`Part.time`)."""
    mean_spent: float
    """Their mean time over every outcome (`Part.mean_spent`)."""
    exact: bool
    """Whether their mean time is exact (`Part.exact`)."""
    acquisitions: float
    waits: float
    """`OperationSummary.acquisitions` and `waits`."""
    methods: set[str]
    """The models along its steps (its station's not added)."""
    priority: int | None
    """The class whose wait at its station it sees: a service's node's; None for a
    handler's or a flow's (their station's wait is not part of their response)."""
    reading: tuple[bool, bool, bool] | None
    """(contention-free, one exponential step, blocking): which fields of its station's
    view the walk reads (`reads_of`); None for a flow (no station)."""
    reads: tuple[object, ...] = ()
    """What the walk read of its station's view (`reads_of`)."""
    summary: OperationSummary | None = None
    """The summary finished from it first."""

    @staticmethod
    def of(
        part: Part,
        acquisitions: float,
        waits: float,
        methods: set[str],
        key: OpKey,
        reading: tuple[bool, bool, bool],
        view: StationView | None,
    ) -> SummaryDraft:
        """The draft of a walk of node `key` that found `part` for its steps, read
        `reading` of its station's view `view` (None: a flow's, of no station), and found
        the other arguments."""
        priority = key.priority if key.kind == "service" else None
        draft = SummaryDraft(
            part.time, part.mean_spent, part.exact, acquisitions, waits, methods, priority, None
        )
        if view is not None:
            draft.reading, draft.reads = reading, SummaryDraft.reads_of(view, reading)
        return draft

    @staticmethod
    def reads_of(view: StationView, reading: tuple[bool, bool, bool]) -> tuple[object, ...]:
        """The fields of `view` the walk of a node reads of its own station, besides what
        `finish` does (`operations._Walker`: its start and departure flags, its streams,
        its callees' waits as its pool sees them and the share it serves)."""
        contention_free, exponential, blocking = reading
        return (
            view.input_flag if contention_free else None,
            view.departure_flag if exponential else None,
            None if contention_free else view.departure_scv,
            view.arrival_scv,
            view.callee_waiting,
            None if blocking else view.served,
        )

    def finish(self, view: StationView | None) -> tuple[set[str], Moments, Moments, bool, float]:
        """The summary's `methods`, `execution`, `response`, `exact` and `spent`, given the
        view of its station: a service's node's wait there, once per `waits`, precedes
        its steps' time."""
        waiting = ZERO
        station_exact = True
        methods = self.methods
        if self.priority is not None:
            assert view is not None
            waiting = view.waiting.get(self.priority, ZERO)
            station_exact = view.exact
            if view.method:
                methods = {*methods, view.method}
        queued = waiting.times(self.waits)
        response = queued + self.time
        if not response.finite:
            response = INFINITE
        return (
            methods,
            self.time + waiting.times(self.waits - 1.0),
            response,
            self.exact and station_exact and self.acquisitions == 1.0,
            queued.mean + self.mean_spent if response.finite else math.inf,
        )

    def again(self, inputs: tuple[Any, ...], was: tuple[Any, ...]) -> OperationSummary | None:
        """Its summary finished with the view of `inputs` (`operations.Evaluator.inputs`),
        where they differ from `was`, the draft's, in that view alone, in none of the fields
        the walk read of it (`reads`); else None. (The callees, whose views are compared
        field by field, last.)"""
        view, rate, callees = inputs
        if self.reading is None or rate != was[1]:
            return None
        if self.reads_of(view, self.reading) != self.reads or callees != was[2]:
            return None
        return self.finished(view)

    def finished(self, view: StationView) -> OperationSummary:
        """A copy of the draft's summary with the fields `finish` finds from `view` (a
        shallow copy, as `dataclasses.replace` makes, in a third of its time: the summary's
        other fields are not changed after it is made, here or by its readers)."""
        assert self.summary is not None
        summary = copy(self.summary)
        (summary.methods, summary.execution, summary.response, summary.exact, summary.spent) = (
            self.finish(view)
        )
        return summary


@dataclass(slots=True)
class Part:
    """The summary of a part of an operation: the result of walking a list of its steps."""

    time: Moments = ZERO
    fail: float = 0.0
    flag: int = POISSON
    exact: bool = True
    utilization: float = 0.0
    mm1: tuple[float, float] | None = None
    spent: float | None = None
    """Mean time over every outcome (None: the same as `time.mean`)."""
    spent_square: float | None = None
    """Second moment of the time over every outcome (None: that of `time`)."""
    passed: float = 1.0
    """The share of the runs that reach it that get through it per unit of time (a
    saturated callee answers only its share: `models.analysis.throttle`)."""

    @staticmethod
    def chosen(options: list[tuple[float, Part]], spends: bool) -> Part:
        """A `branch` step's part: one of `options` (its probability, its part) taken
        (`spends`: whether to keep the means over every outcome, `spent`)."""
        ran = [(p * (1.0 - part.fail), part.time) for p, part in options]
        return Part(
            time=mixture(ran) if any(p > 0 for p, _ in ran) else ZERO,
            fail=math.fsum(p * part.fail for p, part in options),
            passed=1.0 - math.fsum(p * (1.0 - part.passed) for p, part in options),
            flag=min(part.flag for _, part in options),
            exact=all(part.exact for _, part in options),
            utilization=max(part.utilization for _, part in options),
            spent=math.fsum(weighted(p, part.mean_spent) for p, part in options)
            if spends
            else None,
            spent_square=math.fsum(weighted(p, part.second_spent) for p, part in options)
            if spends
            else None,
        )

    @property
    def mean_spent(self) -> float:
        """Mean time over every outcome, failures included."""
        return self.time.mean if self.spent is None else self.spent

    @property
    def second_spent(self) -> float:
        """E[time²] over every outcome, failures included."""
        if self.spent_square is not None:
            return self.spent_square
        return second_moment(self.time)


def combined_flag(flags: Iterable[int]) -> int:
    """Poisson flag of merged streams: the weakest; two copies of one stream make none."""
    # (one loop, not a list, a count and `min`: some 6,500 merges per analysis of the 100
    # generated services; the same answer)
    weakest: int | None = None
    copies = 0
    for flag in flags:
        if flag == COPY:
            copies += 1
        if weakest is None or flag < weakest:
            weakest = flag
    if weakest is None:
        return POISSON
    return NOT_POISSON if copies > 1 else weakest


def emission_flags(
    summaries: Mapping[OpKey, OperationSummary], rates: Mapping[OpKey, float]
) -> tuple[dict[StationId, list[int]], dict[str, list[int]]]:
    """The flags of every positive-rate stream into each service station and topic."""
    stations: dict[StationId, list[int]] = defaultdict(list)
    topics: dict[str, list[int]] = defaultdict(list)
    where: dict[OpKey, list[int]] = {}
    """Each called node's station's list (`station_of` found once per node, not per
    emission: about 100 emissions a round reach some 40 nodes)."""
    for source, summary in summaries.items():
        if rates.get(source, 0.0) <= 0:
            continue
        for target, flag in summary.flags.items():
            if isinstance(target, str):
                topics[target].append(flag)
                continue
            into = where.get(target)
            if into is None:
                station = station_of(target)
                assert station is not None
                into = where[target] = stations[station]
            into.append(flag)
    return stations, topics


def side_by_side(
    scenario: Scenario, before: Mapping[Target, int], branches: Sequence[Mapping[Target, int]]
) -> dict[Target, int]:
    """`before` (each target's most calls in progress at once, `OperationSummary.concurrency`,
    before a parallel step) with the parallel step's, whose branches have `branches` (each
    target's most at once in that branch), counted where a request can
    queue for several at once: its own branch's calls to it, plus each other branch's
    most calls in progress to a service of limited workers (a branch that only calls
    services of unlimited workers is a delay beside it: the request queues at one station
    at a time, as a flow-equivalent server takes it, `pools.find_callees`)."""

    def queues(target: Target) -> bool:
        return (
            isinstance(target, OpKey)
            and target.kind == "service"
            and not scenario.services[target.name].unlimited
        )

    queued = [max((n for t, n in seen.items() if queues(t)), default=0) for seen in branches]
    found, total = dict(before), sum(queued)
    for seen, own in zip(branches, queued, strict=True):
        for target, most in seen.items():
            found[target] = max(found.get(target, 0), most + total - own)
    return found
