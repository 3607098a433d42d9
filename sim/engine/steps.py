"""Compiled steps: the body of an operation, ready to run on simpy callbacks.

Each class turns one step of the scenario language (docs/scenario-language.md) into behaviour:
`work`/`delay` hold the server for a sampled time; `call` submits a job to another service and
continues on its reply (with timeout and retries); `branch` runs one option at random;
`parallel` forks frames of the same job and joins them. Random draws come from the stream
named by the step's YAML path (see `sim.engine.streams`).
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Callable, Sequence
from typing import cast

import simpy
from simpy.events import NORMAL

from sim.engine.calls import CallPolicy, ResilientCall
from sim.engine.jobs import (
    CallTarget,
    CompiledStep,
    Frame,
    Outcome,
    Publisher,
    Request,
    SubFrame,
    continue_caller,
    reply_to_caller,
)


class HoldStep:
    """`work` or `delay`: keep the server for a sampled time, then go on.

    `final` marks the last step of its list: the frame then ends when the hold does, without
    going through `advance` (one call fewer per operation on the hot path).
    """

    __slots__ = ("final", "sample", "schedule")

    def __init__(self, env: simpy.Environment, sample: Callable[[], float]) -> None:
        self.schedule: Callable[..., None] = env.schedule  # takes any event-like object
        self.sample = sample
        self.final = False  # set by the compiler once the step's position is known

    def run(self, frame: Frame) -> None:
        """Put the frame on the calendar as its own wake-up (see `sim.engine.jobs`)."""
        frame.callbacks = [frame.finish if self.final else frame.advance]
        self.schedule(frame, NORMAL, self.sample())


class CallStep:
    """A synchronous call to `operation` of `service`, made with `probability`.

    A plain call (no timeout, retries or resilience pattern: `policy` is None) cannot
    outlive its caller, so it is not counted in the request's pending work; a resilient call
    runs as a `ResilientCall` (`sim.engine.calls`), whose attempts are.
    """

    __slots__ = ("operation", "plain", "policy", "probability", "service", "uniform")

    def __init__(
        self,
        service: CallTarget,
        operation: Sequence[CompiledStep],
        probability: float,
        uniform: Callable[[], float],
        policy: CallPolicy | None = None,
    ) -> None:
        self.service = service
        self.operation = operation
        self.probability = probability
        self.uniform = uniform
        self.policy = policy
        self.plain = policy is None

    def run(self, frame: Frame) -> None:
        """Make the call (or skip it with probability 1 - p)."""
        if self.probability < 1.0 and self.uniform() >= self.probability:
            frame.advance()
            return
        caller = frame.job
        if self.policy is not None:
            caller.call_started()
            ResilientCall(self.policy, frame).start()
            return
        if caller.releases_worker:
            caller.call_started()
            on_reply = reply_to_caller
        else:
            on_reply = continue_caller
        service = self.service
        service.submit(service.new_job(caller.request, self.operation, on_reply, frame))


class LeafCallStep:
    """A plain call (no timeout, no retries) by a blocking caller to a leaf operation, one
    `hold` step: the caller's frame visits the station itself (`ServiceRuntime.visit`).

    Behaves exactly as `CallStep` would (same random draws, same events in the same order)
    without a job: most calls of most scenarios are these. A call made for sure runs as
    `visit(hold, frame)` directly (a `functools.partial`: no Python frame of its own).
    """

    __slots__ = ("hold", "probability", "run", "service", "uniform")

    def __init__(
        self,
        service: CallTarget,
        hold: HoldStep,
        probability: float,
        uniform: Callable[[], float],
    ) -> None:
        self.service = service
        self.hold = hold
        self.probability = probability
        self.uniform = uniform
        self.run: Callable[[Frame], None] = (
            functools.partial(service.visit, hold) if probability >= 1.0 else self._maybe_visit
        )

    def _maybe_visit(self, frame: Frame) -> None:
        """Visit the station with the call's probability, else go on at once."""
        if self.uniform() >= self.probability:
            frame.advance()
            return
        self.service.visit(self.hold, frame)


class FallbackStep:
    """A call with a `fallback`: the call runs in a sub-frame; if it finally fails, the
    fallback's steps run instead and the operation goes on with their outcome."""

    __slots__ = ("call", "fallback")

    def __init__(self, call: CompiledStep, fallback: Sequence[CompiledStep]) -> None:
        self.call = (call,)
        self.fallback = fallback

    def run(self, frame: Frame) -> None:
        """Run the call; on failure, the fallback."""

        def after_call(_call: Frame, outcome: Outcome) -> None:
            if outcome is None:
                frame.advance()
                return
            if isinstance(self.call[0], CallStep) and self.call[0].policy is not None:
                self.call[0].policy.edge.stats.fallbacks += 1
            if not self.fallback:
                frame.advance()
                return
            SubFrame(self.fallback, frame.job, _continue_parent(frame)).advance()

        SubFrame(self.call, frame.job, after_call).advance()


class FailStep:
    """`fail: P`: with probability P the operation ends here with an error."""

    __slots__ = ("probability", "uniform")

    def __init__(self, probability: float, uniform: Callable[[], float]) -> None:
        self.probability = probability
        self.uniform = uniform

    def run(self, frame: Frame) -> None:
        """Fail the frame (and so its operation) with `error`, or go on."""
        if self.probability >= 1.0 or self.uniform() < self.probability:
            frame.fail("error")
        else:
            frame.advance()


class BranchStep:
    """Run exactly one option, chosen with the given probabilities."""

    __slots__ = ("cumulative", "options", "uniform")

    def __init__(
        self,
        probabilities: Sequence[float],
        options: Sequence[Sequence[CompiledStep]],
        uniform: Callable[[], float],
    ) -> None:
        self.cumulative = list(itertools.accumulate(probabilities))
        self.options = options
        self.uniform = uniform

    def run(self, frame: Frame) -> None:
        """Pick an option and run its steps in a sub-frame of the same job."""
        index = bisect.bisect_right(self.cumulative, self.uniform() * self.cumulative[-1])
        steps = self.options[min(index, len(self.options) - 1)]
        if not steps:
            frame.advance()
            return
        SubFrame(steps, frame.job, _continue_parent(frame)).advance()


def _continue_parent(parent: Frame) -> Callable[[Frame, Outcome], None]:
    def on_end(_child: Frame, outcome: Outcome) -> None:
        parent.proceed(outcome)

    return on_end


class ParallelStep:
    """Fork/join: run every branch at once in the same job; go on when the last ends."""

    __slots__ = ("branches",)

    def __init__(self, branches: Sequence[Sequence[CompiledStep]]) -> None:
        self.branches = branches

    def run(self, frame: Frame) -> None:
        """Fork one frame per branch; a failure in any branch fails the step once all end."""
        join = Join(frame, len(self.branches))
        frame.job.forked(len(self.branches))
        for branch in self.branches:
            SubFrame(branch, frame.job, join.branch_ended).advance()


class Join:
    """The meeting point of a parallel step's branches."""

    __slots__ = ("failure", "parent", "remaining")

    def __init__(self, parent: Frame, branches: int) -> None:
        self.parent = parent
        self.remaining = branches
        self.failure: Outcome = None

    def branch_ended(self, _branch: Frame, outcome: Outcome) -> None:
        """Count a finished branch; the last one continues the parent frame."""
        if outcome is not None and self.failure is None:
            self.failure = outcome
        self.remaining -= 1
        if self.remaining:
            self.parent.job.branch_ended()
        else:
            self.parent.proceed(self.failure)


class PublishStep:
    """Publish `count` messages to a topic with `probability`; the frame goes on at once."""

    __slots__ = ("count", "key", "probability", "topic", "uniform")

    def __init__(
        self,
        topic: Publisher,
        probability: float,
        count: int,
        key: str | int | None,
        uniform: Callable[[], float],
    ) -> None:
        self.topic = topic
        self.probability = probability
        self.count = count
        self.key = key
        self.uniform = uniform

    def run(self, frame: Frame) -> None:
        """Publish (fire and forget) and continue with the next step."""
        self.publish_for(frame.job.request)
        frame.advance()

    def publisher(self) -> Callable[[Request], None]:
        """`publish_for`, or the topic's own `publish` when the step always publishes one
        message without a key (one call fewer on the event path)."""
        if self.probability >= 1.0 and self.count == 1 and self.key is None:
            return self.topic.publish
        return self.publish_for

    def publish_for(self, request: Request) -> None:
        """Publish for `request` (or not, with probability 1 - p)."""
        if self.probability >= 1.0 or self.uniform() < self.probability:
            topic, key = self.topic, self.key
            for _ in range(self.count):
                topic.publish(request, key)


def hold_then_publishes(
    handler: Sequence[CompiledStep],
) -> tuple[HoldStep | None, list[Callable[[Request], None]]]:
    """The hold and the publishers (`PublishStep.publisher`) of a handler that the consumer
    groups' fast path can run (one hold, then only publishes), or (None, []) for any other
    list of steps (`sim.engine.groups`)."""
    if not handler or not isinstance(handler[0], HoldStep):
        return None, []
    publishes = handler[1:]
    if not all(isinstance(step, PublishStep) for step in publishes):
        return None, []
    return handler[0], [cast(PublishStep, step).publisher() for step in publishes]
