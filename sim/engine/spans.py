"""Spans of sampled requests, recorded during one replication (`archsim run --trace-out`).

A traced replication (`Replication(..., tracing=TraceOptions(...))`) samples each request
that arrives in the measured period (from the end of warm-up) with probability `sample` and
records, for a sampled request, one span per piece of its work (docs/traces.md, "Traces
out"): the flow's root span (INTERNAL, of the pseudo-service ``client:FLOW``), a SERVER span
per execution of a called operation (from the moment a worker takes the request to the end
of the operation: its wait in the waiting room is the attribute ``archsim.wait``), a CLIENT
span per call attempt in the caller, a PRODUCER span per published message and a CONSUMER
span per attempt of each consumer group to handle it (parent and link: its PRODUCER span).
Which engine objects call this module is `sim.engine.traced`.

Assumptions that keep a traced run's simulation that of an untraced one: the sampling draws
come from a stream of their own (``tracing.sample``), the span ids from another one
(``tracing.ids``, so that the same seed gives the same ids), and nothing here schedules an
event. Times are the simulation's seconds; `sim.experiments.otlp_export` turns them into Unix
nanoseconds. Memory: the records of at most about `max_spans` spans (the traces started
before the limit is reached are completed; later requests are not sampled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from models.traces.conventions import (
    ARCHSIM_ATTEMPT,
    ARCHSIM_CLIENT_PREFIX,
    ARCHSIM_FLOW,
    ARCHSIM_OPERATION,
    ARCHSIM_SAMPLE,
    ARCHSIM_WAIT,
    MESSAGING_CONSUMER_GROUP,
    MESSAGING_DESTINATION,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_PARTITION,
    MESSAGING_SYSTEM,
    PEER_SERVICE,
    SpanKind,
)
from sim.engine.jobs import FlowSink, Job, Request
from sim.engine.streams import Streams, draws_in_blocks

if TYPE_CHECKING:
    import simpy

    from models.schema import Scenario

DEFAULT_MAX_SPANS = 100_000
"""The spans a traced replication records at most (about 50 MB of OTLP JSON, 500 bytes a
span): once reached, later requests are not sampled (`RecordedTrace.limit_reached_at`)."""

AttributeValue = str | int | float | bool


@dataclass(frozen=True)
class TraceOptions:
    """What to trace: the fraction `sample` of requests (0 < sample <= 1), and at most about
    `max_spans` spans."""

    sample: float = 1.0
    max_spans: int = DEFAULT_MAX_SPANS

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample", float(self.sample))  # (written as a double)
        if not 0.0 < self.sample <= 1.0:
            raise ValueError(f"the trace sample must be > 0 and <= 1 (got {self.sample:g})")
        if self.max_spans < 1:
            raise ValueError(f"the span limit must be >= 1 (got {self.max_spans})")


@dataclass(slots=True)
class SpanRecord:
    """One span as recorded: times in simulation seconds, `end` None while it runs,
    `resource` an index into `RecordedTrace.resources`, `outcome` why it failed (None:
    it succeeded, or still runs). `unfinished`: the span still ran at the end of the run
    (it ends there), or it is the root span of a request whose work had not all finished
    (a message waiting in a topic, a call still running)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    kind: SpanKind
    name: str
    resource: int
    start: float
    attributes: dict[str, AttributeValue]
    links: tuple[tuple[str, str], ...] = ()
    end: float | None = None
    outcome: str | None = None
    unfinished: bool = False

    def close(self, now: float, outcome: str | None) -> None:
        """The span ends now, successfully if `outcome` is None."""
        self.end = now
        self.outcome = outcome


@dataclass
class RecordedTrace:
    """The spans of one traced replication, ready to encode (`sim.experiments.otlp_export`).

    `resources[i]` is the (``service.name``, ``service.instance.id``) of the spans whose
    `resource` is i. Requests that arrived in `window` (the measured period) were sampled
    with probability `sample`, until the span count reached `max_spans` at
    `limit_reached_at` (None: never). Spans still running at `ended_at` (the end of the
    run) end there, marked `unfinished`, and so is the root span of every request with work
    left: a trace is complete when its root span is not `unfinished`.
    """

    spans: list[SpanRecord]
    resources: list[tuple[str, str]]
    window: tuple[float, float]
    sample: float
    max_spans: int
    limit_reached_at: float | None
    ended_at: float

    @property
    def traces(self) -> int:
        """The number of traced requests (root spans)."""
        return sum(1 for span in self.spans if span.parent_id is None)


class IdSource:
    """W3C Trace Context ids drawn from one random stream: a trace id is 16 random bytes, a
    span id 8, as lowercase hex; never all zeros, and never one given before (a repeated draw
    is drawn again), so ids are unique within the replication."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._draw = draws_in_blocks(
            lambda size: rng.integers(1, 2**64, size=size, dtype=np.uint64, endpoint=False)
        )
        self._used: set[int] = set()

    def _fresh(self) -> int:
        while True:
            value = int(self._draw())
            if value not in self._used:
                self._used.add(value)
                return value

    def span_id(self) -> str:
        """A new span id (16 hex digits)."""
        return f"{self._fresh():016x}"

    def trace_id(self) -> str:
        """A new trace id (32 hex digits)."""
        return f"{self._fresh():016x}{int(self._draw()):016x}"


class SpanRecorder:
    """The spans of one traced replication: sampling, ids, resources, the records.

    `producers` maps (topic, message sequence number) to the PRODUCER span of a sampled
    request's message, so that each group's CONSUMER span links to it.
    """

    def __init__(
        self,
        options: TraceOptions,
        env: simpy.Environment,
        streams: Streams,
        scenario: Scenario,
    ) -> None:
        self.options = options
        self.env = env
        settings = scenario.simulation
        self.window = (settings.warmup, settings.warmup + settings.duration)
        # a shared pool ties no request to a replica: its spans go to the replicas in turn
        shared_replicas = {
            name: spec.replicas
            for name, spec in scenario.services.items()
            if spec.balancing == "shared"
        }
        self._sample = streams.uniform("tracing.sample") if options.sample < 1.0 else None
        self.ids = IdSource(streams.generator("tracing.ids"))
        self.spans: list[SpanRecord] = []
        self.roots: list[tuple[SpanRecord, Request]] = []
        self.producers: dict[tuple[str, int], SpanRecord] = {}
        self.limit_reached_at: float | None = None
        self._resources: dict[tuple[str, int], int] = {}
        self._shared = shared_replicas
        self._turns = dict.fromkeys(shared_replicas, -1)
        self._present: dict[tuple[str, int], int] = {}
        """A shared pool's SERVER spans open on each of its instances."""
        self._shared_resources: dict[int, tuple[str, int]] = {}

    def start_trace(self) -> TraceContext | None:
        """A measured request arrives now: its trace if it is sampled, else None (one draw
        of the sampling stream per measured arrival when `sample` < 1)."""
        drawn = self._sample() if self._sample is not None else 0.0
        if self.limit_reached_at is not None:
            return None
        if len(self.spans) >= self.options.max_spans:
            self.limit_reached_at = self.env.now
            return None
        if drawn >= self.options.sample:
            return None
        return TraceContext(self, self.ids.trace_id())

    def resource(self, service: str, instance: int) -> int:
        """The index of the resource (service, instance number), added on first use."""
        key = (service, instance)
        index = self._resources.get(key)
        if index is None:
            index = self._resources[key] = len(self._resources)
        return index

    def instance_of(
        self,
        service: str,
        replicas: Sequence[object],
        replica: object,
        serving: Sequence[bool] | None = None,
    ) -> int:
        """The instance number of a span of `service` served by `replica` (one of
        `replicas`). A shared pool ties no request to a replica: its span goes to the
        instance with the fewest spans open, the next in turn among equals, among those
        that serve (`serving`, where an autoscaler adds and removes them), so that no
        instance shows more requests at once than its workers (`left` closes it)."""
        count = self._shared.get(service)
        if count is None:
            return replicas.index(replica)
        flags = serving if serving is not None else [True] * count
        instances = [index for index, flag in enumerate(flags) if flag] or [0]
        last = self._turns[service]
        in_turn = sorted(instances, key=lambda index: (index <= last, index))
        chosen = min(in_turn, key=lambda index: self._present.get((service, index), 0))
        self._turns[service] = chosen
        self._present[(service, chosen)] = self._present.get((service, chosen), 0) + 1
        self._shared_resources[self.resource(service, chosen)] = (service, chosen)
        return chosen

    def left(self, resource: int) -> None:
        """A SERVER span on `resource` ends: one fewer open there, if a shared pool's."""
        key = self._shared_resources.get(resource)
        if key is not None:
            self._present[key] -= 1

    def open(
        self,
        trace_id: str,
        parent: SpanRecord | None,
        kind: SpanKind,
        name: str,
        resource: int,
        attributes: dict[str, AttributeValue],
        links: tuple[tuple[str, str], ...] = (),
    ) -> SpanRecord:
        """Record a span that starts now."""
        span = SpanRecord(
            trace_id=trace_id,
            span_id=self.ids.span_id(),
            parent_id=parent.span_id if parent is not None else None,
            kind=kind,
            name=name,
            resource=resource,
            start=self.env.now,
            attributes=attributes,
            links=links,
        )
        self.spans.append(span)
        return span

    def finish(self) -> RecordedTrace:
        """The recorded trace; spans still running end now, marked unfinished, and so are the
        root spans of requests with work left (`Request.pending`)."""
        now = self.env.now
        for span in self.spans:
            if span.end is None:
                span.end = now
                span.unfinished = True
        for root, request in self.roots:
            if request.pending:
                root.unfinished = True
        by_index = sorted(self._resources.items(), key=lambda item: item[1])
        return RecordedTrace(
            spans=self.spans,
            resources=[(service, f"{service}-{number}") for (service, number), _ in by_index],
            window=self.window,
            sample=self.options.sample,
            max_spans=self.options.max_spans,
            limit_reached_at=self.limit_reached_at,
            ended_at=now,
        )


class TraceContext:
    """The trace of one sampled request: its id and the spans its jobs are running.

    `spans` holds the running span of each job (the root span of the client's job, the
    SERVER span of a called operation, the CONSUMER span of a handler); `calls` the CLIENT
    span of each called job whose operation has not started yet (its SERVER span's parent);
    `waiting` each CLIENT span without its answer yet, by span id, with its caller's job.
    """

    __slots__ = ("calls", "recorder", "spans", "trace_id", "waiting")

    def __init__(self, recorder: SpanRecorder, trace_id: str) -> None:
        self.recorder = recorder
        self.trace_id = trace_id
        self.spans: dict[Job, SpanRecord] = {}
        self.calls: dict[Job, SpanRecord] = {}
        self.waiting: dict[str, tuple[Job, SpanRecord]] = {}

    def _open(
        self,
        job: Job | None,
        parent: SpanRecord | None,
        kind: SpanKind,
        name: str,
        resource: int,
        attributes: dict[str, AttributeValue],
        links: tuple[tuple[str, str], ...] = (),
    ) -> SpanRecord:
        span = self.recorder.open(self.trace_id, parent, kind, name, resource, attributes, links)
        if job is not None:
            self.spans[job] = span
        return span

    def root(self, job: Job, flow: str) -> None:
        """The client's job of the flow `flow` starts now (the request arrives)."""
        resource = self.recorder.resource(f"{ARCHSIM_CLIENT_PREFIX}{flow}", 0)
        attributes: dict[str, AttributeValue] = {
            ARCHSIM_FLOW: flow,
            ARCHSIM_SAMPLE: self.recorder.options.sample,
        }
        span = self._open(job, None, SpanKind.INTERNAL, flow, resource, attributes)
        self.recorder.roots.append((span, job.request))

    def server(self, job: Job, service: str, instance: int, operation: str, wait: float) -> None:
        """A worker of `service` (replica `instance`) starts `operation` for `job` now,
        after `wait` seconds in the waiting room."""
        self._open(
            job,
            self.calls.pop(job, None),
            SpanKind.SERVER,
            f"{service}.{operation}",
            self.recorder.resource(service, instance),
            {ARCHSIM_OPERATION: operation, ARCHSIM_WAIT: wait},
        )

    def consumer(
        self,
        job: Job,
        message: tuple[str, str, int, int],
        group: str,
        instance: int,
        operation: str,
        attempt: int,
    ) -> None:
        """A consumer thread of `group` (on replica `instance`) starts handling a message
        now with `operation`; `message` is (topic, messaging system, partition, sequence)."""
        topic, system, partition, sequence = message
        producer = self.recorder.producers.get((topic, sequence))
        links = ((producer.trace_id, producer.span_id),) if producer is not None else ()
        attributes: dict[str, AttributeValue] = {
            MESSAGING_SYSTEM: system,
            MESSAGING_DESTINATION: topic,
            MESSAGING_OPERATION_TYPE: "process",
            MESSAGING_CONSUMER_GROUP: group,
            MESSAGING_PARTITION: str(partition),
            ARCHSIM_OPERATION: operation,
            ARCHSIM_ATTEMPT: attempt,
        }
        resource = self.recorder.resource(group, instance)
        self._open(
            job, producer, SpanKind.CONSUMER, f"process {topic}", resource, attributes, links
        )

    def ended(self, job: Job, outcome: str | None) -> None:
        """The span of `job` ends now (failed if `outcome` is not None)."""
        span = self.spans.pop(job, None)
        if span is not None:
            span.close(self.recorder.env.now, outcome)
            if span.kind is SpanKind.SERVER:
                self.recorder.left(span.resource)

    def abandoned(self, job: Job) -> None:
        """`job` was abandoned (its replica went down): its span ends, `unavailable`, and
        so do the CLIENT spans of its calls still waiting for an answer."""
        self.ended(job, "unavailable")
        for caller, span in list(self.waiting.values()):
            if caller is job:
                self.answered(span, "unavailable")

    def call(self, caller: Job, service: str, operation: str, attempt: int | None) -> SpanRecord:
        """`caller` calls `operation` of `service` now: its CLIENT span (`attempt`: the
        attempt number of a resilient call, None for a plain one)."""
        parent = self.spans[caller]
        attributes: dict[str, AttributeValue] = {
            PEER_SERVICE: service,
            ARCHSIM_OPERATION: operation,
        }
        if attempt is not None:
            attributes[ARCHSIM_ATTEMPT] = attempt
        name = f"{service}.{operation}"
        span = self._open(None, parent, SpanKind.CLIENT, name, parent.resource, attributes)
        self.waiting[span.span_id] = (caller, span)
        return span

    def answered(self, span: SpanRecord, outcome: str | None) -> None:
        """The caller has the answer to the call of the CLIENT `span` now (a reply, a
        failure, a timeout), unless it had one already (its replica went down)."""
        if self.waiting.pop(span.span_id, None) is not None:
            span.close(self.recorder.env.now, outcome)

    def refused(
        self, caller: Job, service: str, operation: str, attempt: int, outcome: str
    ) -> None:
        """An attempt of `caller`'s call failed before it was sent (`circuit_open`,
        `rejected` by a bulkhead): a CLIENT span of no duration."""
        self.answered(self.call(caller, service, operation, attempt), outcome)

    def produced(self, parent: SpanRecord, topic: str, system: str, sequence: int) -> None:
        """Message number `sequence` of `topic` is published now by the work of `parent`:
        its PRODUCER span (no duration)."""
        attributes: dict[str, AttributeValue] = {
            MESSAGING_SYSTEM: system,
            MESSAGING_DESTINATION: topic,
            MESSAGING_OPERATION_TYPE: "send",
        }
        span = self._open(
            None, parent, SpanKind.PRODUCER, f"send {topic}", parent.resource, attributes
        )
        span.close(span.start, None)
        self.recorder.producers[(topic, sequence)] = span


class TracedRequest(Request):
    """A request sampled for tracing: a `Request` with its `TraceContext`."""

    __slots__ = ("trace",)

    trace: TraceContext

    def __init__(
        self,
        flow: FlowSink,
        arrival_time: float,
        measured: bool,
        priority: int,
        trace: TraceContext,
    ) -> None:
        super().__init__(flow, arrival_time, measured, priority)
        self.trace = trace


def trace_of(request: Request) -> TraceContext | None:
    """The trace of `request`, None if it is not sampled."""
    return request.trace if isinstance(request, TracedRequest) else None
