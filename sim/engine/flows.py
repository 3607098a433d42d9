"""Flows: a class of traffic that makes requests, runs their body and records the outcome.

The external client runs the flow's body without contention. Where the requests come from
(open arrivals or closed clients) is `sim.engine.arrivals`.

Counting (docs/results.md): a flow counts the requests that arrive after warm-up (a cohort), so that
arrived = completed + dropped + failed + in flight holds exactly at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import simpy

from models import schema
from models.arrivals import MmppArrivals, SinusoidArrivals, TraceArrivals
from models.resilience import REASONS
from models.results import Failures, FlowResults, WorstInterval
from sim.engine.jobs import CallTarget, CompiledStep, Frame, Hold, Job, Outcome, Request
from sim.engine.metrics import FLUSH_SIZE, Tally


class FlowStats:
    """The counts and latencies of one flow's measured requests.

    Latencies are buffered (`Tally.record`) and binned every `FLUSH_SIZE` responses. A
    completion time is recorded when the last work of a responded request ends, so the
    completion buffer holds at most `FLUSH_SIZE` plus the requests still running.
    """

    def __init__(self) -> None:
        self.arrived = 0
        self.completed = 0
        self.dropped = 0
        self.failed = 0
        self.failures = dict.fromkeys(REASONS, 0)  # by reason, `dropped` included
        self.response_time = Tally()
        self.completion_time = Tally()

    def flush(self) -> None:
        """Bin the buffered latencies."""
        self.response_time.flush()
        self.completion_time.flush()


class FlowRuntime:
    """One flow during a replication: makes requests, runs their body, records outcomes."""

    def __init__(
        self,
        name: str,
        env: simpy.Environment,
        priority: int,
        measure_from: float,
    ) -> None:
        self.name = name
        self.env = env
        self.priority = priority
        self.measure_from = measure_from
        self.body: Sequence[CompiledStep] = ()  # set once the operations are compiled
        # A flow whose body is one plain call to its entry submits straight to the service
        # (the same behaviour without the client's job: this is the hot path of most flows).
        self.entry: tuple[CallTarget, Sequence[CompiledStep]] | None = None
        # A flow whose body is one plain call to a leaf operation: the request visits it.
        self.entry_visit: tuple[CallTarget, Hold] | None = None
        # A flow whose body only publishes: the client publishes and has its response.
        self.entry_publishes: Sequence[Callable[[Request], None]] | None = None
        self.stats = FlowStats()
        self.in_flight = 0
        self.interval_responses: list[float] = []  # successful responses since the last sample
        self.interval_failures = 0  # failed responses since the last sample
        self.reports_failures = False  # the scenario uses failures: report them by reason
        self.varying = False  # time-varying load (`varying_load`): report the worst interval
        self.worst_interval: tuple[float, float] | None = None  # (end, p99), after warm-up
        self.on_response: Callable[[], None] | None = None  # closed flows: the client thinks

    def arrive(self, _event: object = None) -> None:
        """A new request arrives now and the client starts running the flow's body."""
        now = self.env._now
        measured = now >= self.measure_from
        request = Request(self, now, measured, self.priority)
        if measured:
            self.stats.arrived += 1
            self.in_flight += 1
        if self.entry_visit is not None:
            service, hold = self.entry_visit
            service.visit(hold, request)
        elif self.entry is not None:
            service, operation = self.entry
            service.submit(service.new_job(request, operation, self._entry_replied))
        elif self.entry_publishes is not None:
            for publish in self.entry_publishes:
                publish(request)
            self.respond(request, None)
        else:
            Job(request, None, self.body, self._responded, _no_reply).advance()

    def _entry_replied(self, job: Job, outcome: Outcome) -> None:
        self.respond(job.request, outcome)

    def _responded(self, frame: Frame, outcome: Outcome) -> None:
        self.respond(frame.job.request, outcome)

    def respond(self, request: Request, outcome: Outcome) -> None:
        """The client has the response to `request` (success if `outcome` is None)."""
        now = self.env._now
        request.outcome = outcome
        if outcome is None:
            response = now - request.arrival_time
            self.interval_responses.append(response)
            if request.measured:
                stats = self.stats
                stats.completed += 1
                stats.response_time.record(response)
                if not stats.completed % FLUSH_SIZE:
                    stats.flush()
                self.in_flight -= 1
        else:
            self.interval_failures += 1
            if request.measured:
                stats = self.stats
                if outcome == "dropped":
                    stats.dropped += 1
                else:
                    stats.failed += 1
                stats.failures[outcome] += 1
                self.in_flight -= 1
        if self.on_response is not None:
            self.on_response()
        request.pending -= 1  # (`Request.work_ended`, inlined)
        if not request.pending:
            self.completed(request, now)

    def completed(self, request: Request, now: float) -> None:
        """The last work caused by `request` has ended (called by the request)."""
        if request.measured and request.outcome is None:
            self.stats.completion_time.record(now - request.arrival_time)

    def summary(self, duration: float) -> FlowResults:
        """The flow's statistics (docs/results.md) over the measured `duration`."""
        stats = self.stats
        return FlowResults(
            arrived=stats.arrived,
            completed=stats.completed,
            dropped=stats.dropped,
            failed=stats.failed,
            in_flight=self.in_flight,
            throughput=stats.completed / duration,
            response_time=stats.response_time.summary(),
            completion_time=stats.completion_time.summary(),
            **(self._failure_summary() if self.reports_failures else {}),
            **({"worst_interval": self._worst_summary()} if self.varying else {}),
        )

    def interval_ended(self, end: float, p99: float) -> None:
        """A sample interval after warm-up ended at `end` with this p99 of its responses (NaN
        without any; `sim.engine.timeseries`): keep the worst, the first of equals."""
        worst = self.worst_interval
        if p99 == p99 and (worst is None or p99 > worst[1]):
            self.worst_interval = (end, p99)

    def _worst_summary(self) -> WorstInterval:
        """The sample interval after warm-up with the highest p99 (None: no responses)."""
        if self.worst_interval is None:
            return WorstInterval(time=None, p99=None)
        end, p99 = self.worst_interval
        return WorstInterval(time=end, p99=p99)

    def _failure_summary(self) -> dict[str, object]:
        """Failures by reason and the success rate (docs/results.md)."""
        stats = self.stats
        answered = stats.completed + stats.dropped + stats.failed
        return {
            "failures": Failures(**stats.failures),
            "success_rate": stats.completed / answered if answered else None,
        }


def varying_load(scenario: schema.Scenario) -> bool:
    """Whether the load of `scenario` changes over time (its flows then report their worst
    interval): a rate profile, mmpp, trace or sinusoid arrivals, or faults."""
    varying = (schema.ProfileArrivals, MmppArrivals, TraceArrivals, SinusoidArrivals)
    return bool(scenario.faults) or any(
        isinstance(flow.arrivals, varying) for flow in scenario.workload.values()
    )


def _no_reply(_job: Job, _outcome: Outcome) -> None:
    """The external client's job replies to nobody."""
