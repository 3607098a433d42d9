"""The life of a request inside the engine: requests, jobs and frames.

- `Request`: one arrival of a flow. It counts the pieces of work it has caused and not yet
  finished (`pending`), so that its completion time is known when the last one ends.
- `Job`: one execution of an operation on a server (a worker of a service), or the external
  client's execution of a flow's body (`service is None`: no contention).
- `Frame`: a cursor over a list of compiled steps inside a job. Parallel branches are frames
  of the same job. A frame ends with an outcome: None (success), "dropped" or "timeout".

Nothing here is a simpy process: steps schedule simpy Timeouts and continue in callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sim.stations import ServiceRuntime
    from sim.workload import FlowRuntime

Outcome = str | None  # None = success; otherwise why it failed ("dropped", "timeout")


class CompiledStep(Protocol):
    """A step ready to run: it eventually calls `frame.advance()` or `frame.fail(...)`."""

    def run(self, frame: Frame) -> None:
        """Start the step in `frame`."""


class Request:
    """One arrival of a flow, followed until the last work it caused has finished."""

    __slots__ = ("arrival_time", "flow", "measured", "outcome", "pending", "priority", "responded")

    def __init__(self, flow: FlowRuntime, arrival_time: float, measured: bool, priority: int):
        self.flow = flow
        self.arrival_time = arrival_time
        self.measured = measured
        self.priority = priority
        self.pending = 1  # the client's own execution of the flow body
        self.responded = False
        self.outcome: Outcome = None

    def work_ended(self, now: float) -> None:
        """One piece of caused work has finished; the request completes with the last."""
        self.pending -= 1
        if self.pending == 0:
            self.flow.completed(self, now)


class Job:
    """One execution of an operation on one server (or by the external client).

    With `blocking_calls: false` the job gives its worker back while every running frame
    waits for a synchronous reply, and queues for a worker again when a reply arrives.
    """

    __slots__ = (
        "arrival_time",
        "holding",
        "nonblocking",
        "on_reply",
        "operation",
        "priority",
        "replica",
        "request",
        "resume_requested",
        "resumes",
        "running",
        "service",
        "start_time",
        "waiting_calls",
    )

    def __init__(
        self,
        request: Request,
        service: ServiceRuntime | None,
        operation: Sequence[CompiledStep],
        on_reply: Callable[[Job, Outcome], None],
    ) -> None:
        self.request = request
        self.service = service
        self.operation = operation
        self.on_reply = on_reply
        self.priority = request.priority
        self.nonblocking = service is not None and not service.blocking_calls
        self.arrival_time = 0.0
        self.start_time: float | None = None
        self.replica: Any = None
        self.holding = service is None
        self.running = 1
        self.waiting_calls = 0
        self.resumes: list[tuple[Frame, Outcome]] = []
        self.resume_requested = False

    def call_started(self) -> None:
        """A frame of this job starts waiting for a synchronous reply."""
        if self.nonblocking:
            self.waiting_calls += 1
            self.release_if_idle()

    def call_returned(self, frame: Frame, outcome: Outcome) -> None:
        """The reply to a frame's call has come (or the call failed)."""
        if not self.nonblocking:
            frame.proceed(outcome)
            return
        self.waiting_calls -= 1
        if self.holding or (frame.root and frame.index == len(frame.steps)):
            frame.proceed(outcome)  # a call in tail position needs no worker to return
            return
        self.resumes.append((frame, outcome))
        if not self.resume_requested:
            self.resume_requested = True
            assert self.service is not None
            self.service.reacquire(self)

    def resumed(self) -> None:
        """The job holds a worker again: continue every frame whose reply has arrived."""
        self.resume_requested = False
        resumes, self.resumes = self.resumes, []
        for frame, outcome in resumes:
            frame.proceed(outcome)

    def branch_ended(self) -> None:
        """A parallel branch (not the last) has finished and waits at the join."""
        self.running -= 1
        if self.nonblocking:
            self.release_if_idle()

    def release_if_idle(self) -> None:
        """Give the worker back when every running frame waits for a reply (async I/O)."""
        if self.holding and self.waiting_calls == self.running:
            assert self.service is not None
            self.service.release(self)


class Frame:
    """A cursor over a list of compiled steps, run inside a job."""

    __slots__ = ("index", "job", "on_end", "root", "steps")

    def __init__(
        self,
        steps: Sequence[CompiledStep],
        job: Job,
        on_end: Callable[[Frame, Outcome], None],
        root: bool = False,
    ) -> None:
        self.steps = steps
        self.job = job
        self.on_end = on_end
        self.root = root  # the operation's own frame, not a branch of it
        self.index = 0

    def advance(self, _event: object = None) -> None:
        """Run the next step, or end the frame successfully after the last one."""
        index = self.index
        if index == len(self.steps):
            self.on_end(self, None)
            return
        self.index = index + 1
        self.steps[index].run(self)

    def fail(self, outcome: str) -> None:
        """End the frame now, unsuccessfully; the remaining steps are skipped."""
        self.index = len(self.steps)
        self.on_end(self, outcome)

    def proceed(self, outcome: Outcome) -> None:
        """Continue after a call: the next step on success, failure otherwise."""
        if outcome is None:
            self.advance()
        else:
            self.fail(outcome)
