"""The life of a request inside the engine: requests, jobs and frames.

- `Request`: one arrival of a flow. It counts the pieces of work it has caused and not yet
  finished (`pending`), so that its completion time is known when the last one ends.
- `Frame`: a cursor over a list of compiled steps. A frame ends with an outcome: None
  (success), "dropped" or "timeout". Parallel branches and branch options are frames too.
- `Job`: one execution of an operation on a server (a worker of a service), or the external
  client's execution of a flow's body (`service is None`: no contention). A job is the root
  frame of its operation (one object per visit instead of two: this is the hot path).
- Visitors: a blocking caller's call to a *leaf* operation (one `work` or `delay` step) needs
  no job: the caller's frame (or, for a flow whose body is that one call, the request) queues
  at the station itself, is served, and is its own wake-up (`ServiceRuntime.visit`). A visitor
  has the slots `callbacks`, `visit_hold`, `visit_arrival` and `visit_replica`, a `priority`,
  and goes on with `advance()` after its visit or `fail(outcome)` if it is dropped.

Nothing here is a simpy process: steps schedule wake-ups on simpy's calendar and continue
in callbacks. A frame is its own wake-up event: `Environment.schedule(frame, priority, delay)`
puts it on the calendar, and `Environment.step` calls its `callbacks` with it and then checks
`_ok` (the protocol of `simpy.Event`, whose other machinery a hold never needs). This saves
one `Timeout` object per hold, the engine's most frequent event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

Outcome = str | None
"""None = success; otherwise why it failed: ``error``, ``timeout``, ``dropped``,
``unavailable``, ``rejected`` or ``circuit_open`` (`models.resilience.REASONS`)."""


class CompiledStep(Protocol):
    """A step ready to run: it eventually calls `frame.advance()` or `frame.fail(...)`."""

    def run(self, frame: Frame) -> None:
        """Start the step in `frame`."""


class Hold(Protocol):
    """A `work` or `delay` step as a visitor sees it (`sim.engine.steps.HoldStep`)."""

    sample: Callable[[], float]
    """Draw the duration of one hold (seconds)."""


class Station(Protocol):
    """What a job needs of the service it runs at (`sim.engine.stations.ServiceRuntime`)."""

    def release(self, job: AsyncJob) -> None:
        """Take back the worker of `job`, which waits for replies (non-blocking calls)."""

    def reacquire(self, job: AsyncJob) -> None:
        """Give `job` a worker again (now, or when one is free)."""


class FlowSink(Protocol):
    """What a request reports to its flow (`sim.engine.flows.FlowRuntime`)."""

    def respond(self, request: Request, outcome: Outcome) -> None:
        """The client has the response to `request` (success if `outcome` is None)."""

    def completed(self, request: Request, now: float) -> None:
        """The last work caused by `request` has ended."""


class RequestTrace(Protocol):
    """What the engine's rare paths tell a traced request (`sim.engine.spans.TraceContext`)."""

    def abandoned(self, job: Job) -> None:
        """`job` was abandoned now (its replica went down): its span ends."""


class Request:
    """One arrival of a flow, followed until the last work it caused has finished.

    A request visits its flow's entry service itself when the flow's body is one plain call to
    a leaf operation (see the module docstring): `advance` and `fail` then answer the client.
    `trace` is None except for a request sampled by `archsim run --trace-out`
    (`sim.engine.spans.TracedRequest`, a subclass with a slot of that name).
    """

    __slots__ = (
        "arrival_time",
        "callbacks",
        "flow",
        "measured",
        "outcome",
        "pending",
        "priority",
        "visit_arrival",
        "visit_hold",
        "visit_replica",
    )

    _ok = True  # as a simpy event (see `Frame`)
    trace: RequestTrace | None = None  # (a class attribute: no slot, no cost per request)
    callbacks: list[Callable[[Any], None]]  # (shared by every visitor of a station)
    visit_hold: Hold | None
    visit_arrival: float
    visit_replica: Any  # the station's replica that serves the visit

    def __init__(self, flow: FlowSink, arrival_time: float, measured: bool, priority: int):
        self.flow = flow
        self.arrival_time = arrival_time
        self.measured = measured
        self.priority = priority
        self.pending = 1  # the client's own execution of the flow body
        self.outcome: Outcome = None

    def work_ended(self, now: float) -> None:
        """One piece of caused work has finished; the request completes with the last."""
        self.pending -= 1
        if self.pending == 0:
            self.flow.completed(self, now)

    def advance(self) -> None:
        """Its visit to the entry service has ended: the client has its response."""
        self.flow.respond(self, None)

    def fail(self, outcome: str) -> None:
        """It was dropped at the entry service."""
        self.flow.respond(self, outcome)


class Frame:
    """A cursor over a list of compiled steps, run inside a job."""

    __slots__ = (
        "callbacks",
        "index",
        "job",
        "on_end",
        "steps",
        "visit_arrival",
        "visit_hold",
        "visit_replica",
    )

    callbacks: list[Callable[[Any], None]]  # set before each wake-up (module docstring)
    visit_hold: Hold | None  # while the frame visits a leaf operation (module docstring)
    visit_arrival: float
    visit_replica: Any  # the station's replica that serves the visit
    _ok = True  # as a simpy event (module docstring): a wake-up always succeeds
    root = False  # True only for a job: the operation's own frame

    def __init__(
        self,
        steps: Sequence[CompiledStep],
        job: Job,
        on_end: Callable[[Frame, Outcome], None],
    ) -> None:
        self.steps = steps
        self.job = job
        self.on_end = on_end
        self.index = 0

    @property
    def priority(self) -> int:
        """The priority of the frame's request (for a priority queue it visits)."""
        return self.job.request.priority

    def advance(self, _event: object = None) -> None:
        """Run the next step, or end the frame successfully after the last one."""
        index = self.index
        if index == len(self.steps):
            self.on_end(self, None)
            return
        self.index = index + 1
        self.steps[index].run(self)

    def finish(self, _event: object = None) -> None:
        """End the frame successfully: its last step (a hold) is over."""
        self.on_end(self, None)

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


class SubFrame(Frame):
    """A frame of a branch option or a parallel branch: it stops when its job is abandoned
    (a plain frame needs no such check: only sub-frames outlive the job's own frame)."""

    __slots__ = ()

    def advance(self, _event: object = None) -> None:
        """Run the next step, unless the job was abandoned."""
        if self.job.dead:
            return
        Frame.advance(self)


def _ignore(_frame: Frame, _outcome: Outcome) -> None:
    """The `on_end` of an abandoned job."""


class Job(Frame):
    """One execution of an operation on one server (or by the external client).

    A job of a service with blocking calls (the default, thread-per-request) holds its worker
    from start to end, also while it waits for synchronous replies. See `AsyncJob` for
    `blocking_calls: false`. `on_reply(job, outcome)` is called when the operation ends (or
    when the job is dropped on arrival); `caller` is the frame waiting for that reply, if any.
    """

    __slots__ = ("arrival_time", "caller", "on_reply", "replica", "request", "service")

    root = True
    # Read-only here; `GuardedJob` makes them its own (only services with faults or
    # admission control, and their consumer groups, change them):
    dead = False  # its replica went down: whatever it was doing is abandoned
    doomed = False  # started in an `errors` fault window and drawn to fail
    in_queue = False  # waiting in a waiting room (for `queue_timeout`)
    releases_worker = False  # only async jobs give their worker back while they wait
    holding = True  # whether the job holds a worker once started (async jobs: not always)

    def __init__(
        self,
        request: Request,
        service: Station | None,
        steps: Sequence[CompiledStep],
        on_end: Callable[[Frame, Outcome], None],
        on_reply: Callable[[Job, Outcome], None],
        caller: Frame | None = None,
    ) -> None:
        self.steps = steps
        self.index = 0
        self.job = self
        self.on_end = on_end
        self.request = request
        self.service = service
        self.on_reply = on_reply
        self.caller = caller
        self.arrival_time = 0.0
        self.replica: Any = None
        self.visit_hold: Hold | None = None  # None: queued at a station as a job

    def call_started(self) -> None:
        """A frame of this job starts waiting for a synchronous reply (the worker is kept)."""

    def call_returned(self, frame: Frame, outcome: Outcome) -> None:
        """The reply to a frame's call has come (or the call failed): the frame goes on."""
        frame.proceed(outcome)

    def forked(self, branches: int) -> None:
        """A frame of this job forked into `branches` parallel frames."""

    def branch_ended(self) -> None:
        """A parallel branch (not the last) has finished and waits at the join."""

    def resumed(self) -> None:
        """The job holds a worker again (only async jobs ever give it back)."""


class AsyncJob(Job):
    """A job of a service with `blocking_calls: false` (async I/O).

    The job gives its worker back while every running frame waits for a synchronous reply,
    and queues for a worker again (without a capacity check) when a reply arrives. A call in
    tail position (the operation's last step) returns without taking a worker again.
    """

    __slots__ = ("holding", "resume_requested", "resumes", "running", "waiting_calls")

    releases_worker = True

    def __init__(
        self,
        request: Request,
        service: Station,
        steps: Sequence[CompiledStep],
        on_end: Callable[[Frame, Outcome], None],
        on_reply: Callable[[Job, Outcome], None],
        caller: Frame | None = None,
    ) -> None:
        super().__init__(request, service, steps, on_end, on_reply, caller)
        self.holding = False
        self.running = 1
        self.waiting_calls = 0
        self.resumes: list[tuple[Frame, Outcome]] = []
        self.resume_requested = False

    def call_started(self) -> None:
        """A frame starts waiting: give the worker back if no frame needs it now."""
        self.waiting_calls += 1
        self.release_if_idle()

    def call_returned(self, frame: Frame, outcome: Outcome) -> None:
        """Continue the frame now if the job holds a worker, else queue for one first."""
        if self.dead:
            return
        self.waiting_calls -= 1
        if self.holding or (frame.root and frame.index == len(frame.steps)):
            frame.proceed(outcome)
            return
        self.resumes.append((frame, outcome))
        if not self.resume_requested:
            self.resume_requested = True
            assert self.service is not None
            self.service.reacquire(self)

    def forked(self, branches: int) -> None:
        """Count the running frames, so that the worker is released only when all wait."""
        self.running += branches - 1

    def branch_ended(self) -> None:
        """One frame fewer runs; perhaps all remaining ones wait for replies now."""
        self.running -= 1
        self.release_if_idle()

    def resumed(self) -> None:
        """The job holds a worker again: continue every frame whose reply has arrived."""
        self.resume_requested = False
        resumes, self.resumes = self.resumes, []
        for frame, outcome in resumes:
            frame.proceed(outcome)

    def release_if_idle(self) -> None:
        """Give the worker back when every running frame waits for a reply."""
        if self.holding and self.waiting_calls == self.running:
            assert self.service is not None
            self.service.release(self)


class GuardedJob(Job):
    """A job at a service with faults or admission control, or a message handler of such a
    service: it can wait with a deadline, be drawn to fail, and be abandoned (`abandon`)."""

    __slots__ = ("dead", "doomed", "in_queue")

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # (as `Job`)
        super().__init__(*args, **kwargs)
        self.dead = self.doomed = self.in_queue = False


class GuardedAsyncJob(AsyncJob):
    """An `AsyncJob` at a service with faults or admission control (as `GuardedJob`)."""

    __slots__ = ("dead", "doomed", "in_queue")

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # (as `AsyncJob`)
        super().__init__(*args, **kwargs)
        self.dead = self.doomed = self.in_queue = False


GuardedWork = GuardedJob | GuardedAsyncJob
"""A job that can be abandoned (at a service with faults or admission control)."""


def abandon(job: GuardedWork) -> None:
    """Stop a guarded job where it is (its replica went down): every later wake-up or reply
    of its frames is ignored, and sub-frames stop at their next step (`SubFrame`)."""
    job.dead = True
    job.index = len(job.steps)
    job.on_end = _ignore
    trace = job.request.trace
    if trace is not None:  # (a sampled request of a traced replication: its span ends)
        trace.abandoned(job)


def reply_to_caller(job: Job, outcome: Outcome) -> None:
    """The `on_reply` of a job called by an async job: the caller's job decides when its
    frame goes on (it may first have to take a worker again)."""
    caller = job.caller
    assert caller is not None
    caller.job.call_returned(caller, outcome)


def continue_caller(job: Job, outcome: Outcome) -> None:
    """The `on_reply` of a job called by a blocking job (the hot path): the caller's frame,
    which kept its worker, goes on at once, or fails with the callee's outcome."""
    caller = job.caller
    assert caller is not None
    if outcome is None:
        caller.advance()
    else:
        caller.fail(outcome)


class CallTarget(Protocol):
    """What a call needs of the called service (`sim.engine.stations.ServiceRuntime`)."""

    def new_job(
        self,
        request: Request,
        operation: Sequence[CompiledStep],
        on_reply: Callable[[Job, Outcome], None],
        caller: Frame | None = None,
    ) -> Job:
        """A job that runs `operation` at this service for `request`."""

    def submit(self, job: Job) -> None:
        """`job` arrives: it starts, waits, or is dropped."""

    def visit(self, hold: Hold, visitor: Frame | Request) -> None:
        """`visitor` is served for one `hold` without a job (a leaf call)."""


class Publisher(Protocol):
    """What a publish step needs of a topic (`sim.engine.topics.TopicRuntime`)."""

    def publish(self, request: Request, key: str | int | None = None) -> None:
        """Publish one message caused by `request` now."""
