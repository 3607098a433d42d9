"""The engine's objects in a traced replication: where spans start and end.

A replication built with `tracing` (`sim.engine.replication.Replication`) uses these
instead of the plain objects; an untraced one never does, so tracing costs nothing when it
is off. They run only on the general path (`fast_paths=False`: every call, handler and
flow body is a job), and behave exactly as the objects they extend (same random draws,
same events in the same order), recording spans for sampled requests
(`sim.engine.spans.TraceContext`) and nothing for the others:

- `TracedFlowRuntime`: samples each measured arrival; the root span runs from the arrival
  to the client's response.
- `SpanStart`: the first step of every operation; opens its SERVER span (a called operation)
  or CONSUMER span (a message handler) and closes it when the operation ends.
- `TracedCallStep`, `TracedResilientCall`: a CLIENT span per call attempt, from the moment
  it is sent to the moment the caller has its answer (reply, failure, timeout).
- `TracedPublishStep`, `TracedTopicRuntime`: a PRODUCER span per message, bound to the
  message's sequence number when the topic draws it (`SequenceTap`), so that the CONSUMER
  spans of every group find it; a dead-lettered message gets one too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import cast

import simpy

from models.schema import Topic
from models.traces.conventions import ARCHSIM_MESSAGING_SYSTEMS
from sim.engine.calls import CallPolicy, ResilientCall
from sim.engine.flows import FlowRuntime
from sim.engine.jobs import (
    CallTarget,
    CompiledStep,
    Frame,
    Hold,
    Job,
    Outcome,
    Request,
    continue_caller,
    reply_to_caller,
)
from sim.engine.spans import SpanRecord, SpanRecorder, TraceContext, TracedRequest, trace_of
from sim.engine.stations import ServiceRuntime, Visitor
from sim.engine.steps import CallStep, PublishStep
from sim.engine.streams import Streams
from sim.engine.topics import TopicRuntime


class TracedFlowRuntime(FlowRuntime):
    """A flow whose measured arrivals are sampled for tracing (the general path only: its
    body always runs as the client's job)."""

    def __init__(
        self,
        name: str,
        env: simpy.Environment,
        priority: int,
        measure_from: float,
        recorder: SpanRecorder,
    ) -> None:
        super().__init__(name, env, priority, measure_from)
        self.recorder = recorder

    def arrive(self, _event: object = None) -> None:
        """As `FlowRuntime.arrive` on its general path, with the root span of a sampled
        request."""
        now = self.env._now
        measured = now >= self.measure_from
        trace = self.recorder.start_trace() if measured else None
        if trace is None:
            request = Request(self, now, measured, self.priority)
        else:
            request = TracedRequest(self, now, measured, self.priority, trace)
        if measured:
            self.stats.arrived += 1
            self.in_flight += 1
        job = Job(request, None, self.body, self._responded, _reply_to_nobody)
        if trace is not None:
            trace.root(job, self.name)
        job.advance()

    def _responded(self, frame: Frame, outcome: Outcome) -> None:
        trace = trace_of(frame.job.request)
        if trace is not None:
            trace.ended(frame.job, outcome)
        super()._responded(frame, outcome)


def _reply_to_nobody(_job: Job, _outcome: Outcome) -> None:
    """The external client's job replies to nobody."""


class SpanStart:
    """The first step of every operation in a traced replication: for a sampled request,
    the SERVER span of a called operation (instance: the replica that serves it) or the
    CONSUMER span of a message handler (instance: the replica of its consumer thread)
    starts now, and ends when the operation ends (`job.on_end`), or when its replica goes
    down (`sim.engine.jobs.abandon`)."""

    __slots__ = ("operation", "recorder")

    def __init__(self, operation: str, recorder: SpanRecorder) -> None:
        self.operation = operation
        self.recorder = recorder

    def run(self, frame: Frame) -> None:
        """Open the span (a sampled request's job only), then run the operation's steps."""
        job = frame.job
        trace = trace_of(job.request)
        if trace is not None:
            if job.service is None:
                self._consumer(trace, job)
            else:
                service = cast(ServiceRuntime, job.service)
                serving = getattr(service, "serving", None)  # (replicas an autoscaler runs)
                instance = self.recorder.instance_of(
                    service.name, service.replicas, job.replica, serving
                )
                wait = self.recorder.env.now - job.arrival_time
                trace.server(job, service.name, instance, self.operation, wait)
            job.on_end = _closing(trace, job, job.on_end)
        frame.advance()

    def _consumer(self, trace: TraceContext, job: Job) -> None:
        """The CONSUMER span of a handler job (`ConsumerGroup._attempt` sets its `replica`
        to (group, consumer, message))."""
        group, consumer, message = job.replica
        _, partition, _, sequence = message
        system = ARCHSIM_MESSAGING_SYSTEMS["log" if group.is_log else "queue"]
        trace.consumer(
            job,
            (group.topic_name, system, partition, sequence),
            group.name,
            consumer.index // group.concurrency,
            self.operation,
            group.attempts_of.get(message, 1),
        )


def _closing(
    trace: TraceContext, job: Job, on_end: Callable[[Frame, Outcome], None]
) -> Callable[[Frame, Outcome], None]:
    """`on_end` of `job` that first ends its span (an operation drawn to fail by an `errors`
    fault fails as it ends). A handler that fails for the last time with a dead-letter topic
    binds the PRODUCER span of the dead letter to be published."""

    def ended(frame: Frame, outcome: Outcome) -> None:
        failure = "error" if outcome is None and job.doomed else outcome
        span = trace.spans.get(job)
        trace.ended(job, failure)
        if failure is not None and span is not None and job.service is None:
            group, _, message = job.replica
            dead_letter = group.dead_letter
            if dead_letter is not None and group.attempts_of.get(message, 1) >= group.max_attempts:
                cast(TracedTopicRuntime, dead_letter).tap.pending = (trace, span)
        on_end(frame, outcome)

    return ended


class TracedCallStep(CallStep):
    """A call that records a CLIENT span per attempt for sampled requests; `callee` names
    the operation called as (service, operation)."""

    __slots__ = ("callee",)

    def __init__(
        self,
        service: CallTarget,
        operation: Sequence[CompiledStep],
        probability: float,
        uniform: Callable[[], float],
        policy: CallPolicy | None,
        callee: tuple[str, str],
    ) -> None:
        super().__init__(service, operation, probability, uniform, policy)
        self.callee = callee

    def run(self, frame: Frame) -> None:
        """As `CallStep.run` (the same draws), with a CLIENT span."""
        caller = frame.job
        trace = trace_of(caller.request)
        if trace is None:
            CallStep.run(self, frame)
            return
        if self.probability < 1.0 and self.uniform() >= self.probability:
            frame.advance()
            return
        if self.policy is not None:
            caller.call_started()
            TracedResilientCall(self.policy, frame, trace, self.callee).start()
            return
        if caller.releases_worker:
            caller.call_started()
            answer = reply_to_caller
        else:
            answer = continue_caller
        span = trace.call(caller, *self.callee, attempt=None)

        def replied(job: Job, outcome: Outcome) -> None:
            trace.calls.pop(job, None)
            trace.answered(span, outcome)
            answer(job, outcome)

        service = self.service
        callee = service.new_job(caller.request, self.operation, replied, frame)
        trace.calls[callee] = span
        service.submit(callee)


class TracedResilientCall(ResilientCall):
    """A call with a timeout, retries or a resilience pattern, with a CLIENT span per
    attempt: from the moment it is sent to its answer (reply, failure or timeout), or of no
    duration when it is refused before it is sent (`circuit_open`, `rejected`).

    It sees each attempt sent by standing between the call and its callee: it is the
    `service` of its own copy of the policy, and passes every job on to the real one.
    """

    __slots__ = ("callee", "sent", "span", "target", "trace")

    def __init__(
        self, policy: CallPolicy, frame: Frame, trace: TraceContext, callee: tuple[str, str]
    ) -> None:
        own = copy.copy(policy)
        self.target = policy.service
        own.service = self
        super().__init__(own, frame)
        self.trace = trace
        self.callee = callee
        self.sent = False
        self.span: SpanRecord | None = None

    def new_job(
        self,
        request: Request,
        operation: Sequence[CompiledStep],
        on_reply: Callable[[Job, Outcome], None],
        caller: Frame | None = None,
    ) -> Job:
        """The callee's job of the attempt being sent; its CLIENT span starts now."""
        job = self.target.new_job(request, operation, on_reply, caller)
        self.span = self.trace.call(self.frame.job, *self.callee, attempt=self.attempt)
        self.trace.calls[job] = self.span
        self.sent = True
        return job

    def submit(self, job: Job) -> None:
        """Send the attempt's job to the callee."""
        self.target.submit(job)

    def visit(self, hold: Hold, visitor: Visitor) -> None:
        """(Part of `CallTarget`; a resilient call never visits.)"""
        self.target.visit(hold, visitor)

    def _try(self, _event: object = None) -> None:
        self.sent = False
        super()._try(_event)

    def _settle(self, outcome: Outcome) -> None:
        span, self.span = self.span, None
        if span is not None:
            self.trace.answered(span, outcome)
        super()._settle(outcome)

    def _failed(self, outcome: str) -> None:
        if not self.sent:  # refused before it was sent
            self.trace.refused(self.frame.job, *self.callee, self.attempt, outcome)
        super()._failed(outcome)


class SequenceTap:
    """A topic's sequence counter that binds the PRODUCER span waiting in `pending` (set by
    the publisher just before it publishes) to the sequence number of the message it
    publishes: the number is drawn first thing in `TopicRuntime.publish`, before any work the
    message causes can publish again."""

    __slots__ = ("next_sequence", "pending", "system", "topic")

    def __init__(self, topic: str, system: str, next_sequence: Callable[[], int]) -> None:
        self.topic = topic
        self.system = system
        self.next_sequence = next_sequence
        self.pending: tuple[TraceContext, SpanRecord] | None = None

    def __call__(self) -> int:
        sequence = self.next_sequence()
        pending = self.pending
        if pending is not None:
            self.pending = None
            trace, parent = pending
            trace.produced(parent, self.topic, self.system, sequence)
        return sequence


class TracedTopicRuntime(TopicRuntime):
    """A topic whose messages of sampled requests get their PRODUCER span (`SequenceTap`)."""

    def __init__(self, name: str, spec: Topic, env: simpy.Environment, streams: Streams) -> None:
        super().__init__(name, spec, env, streams)
        self.tap = SequenceTap(name, ARCHSIM_MESSAGING_SYSTEMS[spec.type], self._next_sequence)
        self._next_sequence = self.tap


class TracedPublishStep(PublishStep):
    """A publish step that records a PRODUCER span per message of a sampled request."""

    __slots__ = ("tap",)

    def __init__(
        self,
        topic: TracedTopicRuntime,
        probability: float,
        count: int,
        key: str | int | None,
        uniform: Callable[[], float],
    ) -> None:
        super().__init__(topic, probability, count, key, uniform)
        self.tap = topic.tap

    def run(self, frame: Frame) -> None:
        """As `PublishStep.run` (the same draws), with a PRODUCER span per message."""
        job = frame.job
        trace = trace_of(job.request)
        if trace is None:
            self.publish_for(job.request)
        elif self.probability >= 1.0 or self.uniform() < self.probability:
            parent = trace.spans[job]
            for _ in range(self.count):
                self.tap.pending = (trace, parent)
                self.topic.publish(job.request, self.key)
        frame.advance()


def traced_operation(
    steps: list[CompiledStep], operation: str, recorder: SpanRecorder
) -> list[CompiledStep]:
    """An operation's compiled steps with `SpanStart` first."""
    return [SpanStart(operation, recorder), *steps]
