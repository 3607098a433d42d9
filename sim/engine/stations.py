"""Service stations: replicas with workers, waiting rooms, balancing and queue disciplines.

A service is `replicas` replicas of `workers` servers each. Each replica has its own waiting
room of `queue_capacity` (not counting requests in service); an arrival that finds it full is
dropped. With `balancing: shared` the replicas form one pool of replicas x workers servers
with one waiting room of replicas x queue_capacity (an M/M/c station). Waiting requests are
served first come first served, or by flow priority (non-preemptive, lower number first).

The queue is plain Python (a deque or a heap); simpy is used only for the time the steps take.

Time averages use signed time sums instead of integrating on every change: for a level N(t)
that starts at 0, the area under it up to t is S + N(t) t, where S is the sum of -s over
every increase at time s and of +s over every decrease (each unit of level contributes its
end minus its start). This is exact, costs one addition per change, and lets the end of
warm-up subtract the area accumulated so far. Each replica keeps its own levels; a service's
are their sums. Counts that follow from others are not kept: arrivals = completed + dropped
+ the change in the number present; starts = the number of waiting times recorded.

The code that serves visitors (`sim.engine.jobs`) is the engine's hot path: it is written out
in place where a shared helper would cost a function call per request and station, and it
reads simpy's clock as `Environment._now`, the attribute behind the `now` property in every
simpy 4 release (pyproject pins simpy < 5), to save a property call per event: the
benchmark's 5-station pipeline ran about 6% faster with it (200k requests, run only, five
runs each on 2026-12-01: median 110k against 103k requests/s). `tests/unit/
test_simpy_contract.py` pins that behaviour of simpy.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

import simpy
from simpy.events import NORMAL

from models.results import Backlog, QueueLength, ServiceResults
from models.schema import Service
from sim.engine.jobs import AsyncJob, CompiledStep, Frame, Hold, Job, Outcome, Request
from sim.engine.metrics import FLUSH_SIZE, Tally
from sim.engine.streams import Streams

Visitor = Frame | Request  # what can visit a leaf operation (see `sim.engine.jobs`)


class Replica:
    """One replica: `workers` servers, a waiting room (FIFO deque or priority heap), and the
    signed time sums of its three levels (module docstring)."""

    __slots__ = (
        "busy",
        "busy_sum",
        "capacity",
        "fifo",
        "heap",
        "present",
        "present_sum",
        "queued",
        "waiting_sum",
        "workers",
    )

    def __init__(self, workers: float, capacity: float, priority: bool) -> None:
        self.workers = workers
        self.capacity = capacity
        self.busy = 0  # workers serving
        self.present = 0  # jobs and visitors here, waiting or served
        self.queued = 0  # jobs and visitors in the waiting room
        self.busy_sum = 0.0
        self.present_sum = 0.0
        self.waiting_sum = 0.0
        self.fifo: deque[Visitor] | None = None if priority else deque()
        self.heap: list[tuple[int, int, Visitor]] | None = [] if priority else None

    def areas(self, now: float) -> tuple[float, float, float]:
        """The areas under waiting, present and busy from time 0 up to `now`."""
        return (
            self.waiting_sum + self.queued * now,
            self.present_sum + self.present * now,
            self.busy_sum + self.busy * now,
        )


class ServiceStats:
    """What a service reports (docs/results.md), counted from `since` (the end of warm-up).

    The areas under the three levels (waiting, present, busy) and the number present at
    `since` are kept, so that the measured period's figures are differences.
    """

    def __init__(self, now: float, areas: tuple[float, float, float], present: int) -> None:
        self.since = now
        self.areas_at_start = areas
        self.present_at_start = present
        self.dropped = 0
        self.rejected = 0  # rate limit (guarded services only, as the next two)
        self.unavailable = 0  # no replica up, or the replica went down while it was there
        self.timed_out = 0  # left the waiting room after `queue_timeout`
        self.errors = 0  # operations that ended with an error (counted in `completed`)
        self.waited = 0
        self.immediate = 0  # starts without waiting, not yet in `waiting_time` (see `flush`)
        self.completed = 0
        self.waiting_time = Tally()
        self.response_time = Tally()
        self.max_waiting = 0
        self.max_present = present

    def flush(self) -> None:
        """Bin the buffered latencies (see `Tally.record`) and the waits of 0."""
        self.waiting_time.add_zeros(self.immediate)
        self.immediate = 0
        self.waiting_time.flush()
        self.response_time.flush()


class ServiceRuntime:
    """A service during one replication: it admits, queues, serves and releases jobs.

    A service with faults or admission control is a `GuardedService`
    (`sim.engine.guarded`); this class serves the others, on the engine's hot path."""

    guarded = False  # (no faults, rate limit or queue timeout: leaf calls may visit it)
    slow_factor = 1.0  # a `slowdown` fault's factor while it lasts (`sim.engine.faults`)
    reports_failures = False  # the scenario uses failures: report errors, rejections, ...
    error_probability = 0.0  # an `errors` fault's probability while it lasts

    def __init__(self, name: str, spec: Service, env: simpy.Environment, streams: Streams) -> None:
        self.name = name
        self.env = env
        self.blocking_calls = spec.blocking_calls
        self._job_type: type[Job] = Job if spec.blocking_calls else AsyncJob
        workers = math.inf if spec.unlimited else float(spec.workers)
        capacity = math.inf if spec.queue_capacity is None else float(spec.queue_capacity)
        priority = spec.discipline == "priority"
        count = 1 if spec.balancing == "shared" else spec.replicas
        scale = spec.replicas if spec.balancing == "shared" else 1
        self.replicas = [Replica(workers * scale, capacity * scale, priority) for _ in range(count)]
        self.total_workers = workers * spec.replicas
        self._sequence = itertools.count()
        uniform = streams.uniform(f"services.{name}.balancing")
        self._choose = self._chooser(spec.balancing, uniform)
        self._only = self.replicas[0] if len(self.replicas) == 1 else None
        self._ended = self._operation_ended
        self._schedule: Callable[..., None] = self.env.schedule  # takes any event-like object
        # every visitor's wake-up calls the same list (simpy only iterates it)
        self._visit_wakeup: list[Callable[[Any], None]] = [self._visit_ended]
        self.stats = ServiceStats(self.env.now, (0.0, 0.0, 0.0), 0)

    def _chooser(self, balancing: str, uniform: Callable[[], float]) -> Callable[[], Replica]:
        replicas = self.replicas
        if len(replicas) == 1:
            only = replicas[0]
            return lambda: only
        if balancing == "random":
            return lambda: replicas[int(uniform() * len(replicas))]
        if balancing == "least_outstanding":
            return lambda: min(replicas, key=lambda replica: replica.present)
        turn = itertools.cycle(replicas)
        return turn.__next__

    def new_job(
        self,
        request: Request,
        operation: Sequence[CompiledStep],
        on_reply: Callable[[Job, Outcome], None],
        caller: Frame | None = None,
    ) -> Job:
        """A job for one of this service's operations (async if its calls do not block)."""
        return self._job_type(request, self, operation, self._ended, on_reply, caller)

    # ------------------------------------------------------------------ levels

    def areas(self, now: float) -> tuple[float, float, float]:
        """The areas under waiting, present and busy from time 0 up to `now`."""
        if self._only is not None:
            return self._only.areas(now)
        per_replica = [replica.areas(now) for replica in self.replicas]
        waiting, present, busy = (math.fsum(areas) for areas in zip(*per_replica, strict=True))
        return waiting, present, busy

    def busy_area(self, now: float) -> float:
        """The area under the number of busy workers from time 0 up to `now`."""
        return math.fsum(replica.busy_sum + replica.busy * now for replica in self.replicas)

    def waiting(self) -> int:
        """How many jobs and visitors wait now."""
        return sum(replica.queued for replica in self.replicas)

    def present(self) -> int:
        """How many jobs and visitors are here now, waiting or served."""
        return sum(replica.present for replica in self.replicas)

    def reset(self, now: float) -> None:
        """Discard everything observed before `now` (end of warm-up), keep the current state."""
        self.stats = ServiceStats(now, self.areas(now), self.present())
        self.stats.max_waiting = self.waiting()

    def _arrived(self, replica: Replica, now: float) -> None:
        """One more is present at `replica` (admitted): count it and update the maxima."""
        replica.present += 1
        replica.present_sum -= now
        stats = self.stats
        if self._only is None:
            self._update_maxima()
        elif replica.present > stats.max_present:
            stats.max_present = replica.present

    def _update_maxima(self) -> None:
        """With several replicas, the service's maxima are those of sums over them."""
        stats = self.stats
        stats.max_present = max(stats.max_present, self.present())
        stats.max_waiting = max(stats.max_waiting, self.waiting())

    # ------------------------------------------------------------------ admission

    def submit(self, job: Job) -> None:
        """A job arrives: start it, queue it, or drop it if the waiting room is full."""
        now = self.env._now  # simpy's clock, read without its property (hot path)
        replica = self._only or self._choose()
        job.arrival_time = now
        job.replica = replica
        if replica.busy >= replica.workers and replica.queued >= replica.capacity:
            self.stats.dropped += 1
            job.on_reply(job, "dropped")
            return
        self._arrived(replica, now)
        if replica.busy < replica.workers:
            self._start(job, replica, now)
        else:
            self._enqueue(job, replica, now)

    def visit(self, hold: Hold, visitor: Visitor) -> None:
        """A blocking caller's call to a leaf operation (one hold step): `visitor` (the
        caller's frame, or a request at its flow's entry) queues and is served itself, with
        no job (see `sim.engine.jobs`). Same statistics as for a job."""
        now = self.env._now
        replica = self._only or self._choose()
        if replica.busy >= replica.workers and replica.queued >= replica.capacity:
            self.stats.dropped += 1
            visitor.fail("dropped")
            return
        visitor.visit_hold = hold
        visitor.visit_arrival = now
        visitor.visit_replica = replica
        if self._only is None:
            self._arrived(replica, now)
        else:  # (`_arrived` for one replica, in place)
            replica.present += 1
            replica.present_sum -= now
            if replica.present > self.stats.max_present:
                self.stats.max_present = replica.present
        if replica.busy < replica.workers:  # (`_start` and `_serve` for a visitor, in place)
            replica.busy += 1
            replica.busy_sum -= now
            self.stats.immediate += 1
            visitor.callbacks = self._visit_wakeup
            self._schedule(visitor, NORMAL, hold.sample())
        else:
            self._enqueue(visitor, replica, now)

    def _enqueue(self, item: Visitor, replica: Replica, now: float) -> None:
        if replica.fifo is not None:
            replica.fifo.append(item)
        else:
            assert replica.heap is not None
            heapq.heappush(replica.heap, (item.priority, next(self._sequence), item))
        replica.queued += 1
        replica.waiting_sum -= now
        if self._only is None:
            self._update_maxima()
        elif replica.queued > self.stats.max_waiting:
            self.stats.max_waiting = replica.queued

    # ------------------------------------------------------------------ service

    def _start(self, item: Visitor, replica: Replica, now: float) -> None:
        """Give `item` (a job or a visitor) a free worker of `replica`."""
        replica.busy += 1
        replica.busy_sum -= now
        self._serve(item, now)

    def _serve(self, item: Visitor, now: float) -> None:
        """`item` has a worker now: a visitor starts its hold, a fresh job its steps, and a
        resumed async job goes on. (A job is queued at its own station only when fresh, or
        when async, and async jobs never visit: so `visit_hold` is None for every job here.)"""
        hold = item.visit_hold
        if hold is None:
            job: Job = item  # type: ignore[assignment]  # (not a visitor: a job)
            if job.releases_worker:
                cast(AsyncJob, job).holding = True
                if job.index:  # it has run steps before: it comes back from its calls
                    job.resumed()
                    return
            waited = now - job.arrival_time
        else:
            waited = now - item.visit_arrival
        stats = self.stats
        if waited > 0.0:
            stats.waited += 1
            stats.waiting_time.record(waited)
        else:
            stats.immediate += 1
        if hold is None:
            job.advance()
        else:
            item.callbacks = self._visit_wakeup
            self._schedule(item, NORMAL, hold.sample())

    def _visit_ended(self, visitor: Visitor) -> None:
        """A visitor's hold is over: free the worker, then the visitor goes on."""
        now = self.env._now
        stats = self.stats
        stats.completed += 1
        stats.response_time.record(now - visitor.visit_arrival)
        if not stats.completed % FLUSH_SIZE:
            stats.flush()
        replica = visitor.visit_replica
        replica.present -= 1
        replica.present_sum += now
        if replica.queued:
            self._free_worker(replica, now)
        else:  # (`_free_worker` when no one waits, in place)
            replica.busy -= 1
            replica.busy_sum += now
        visitor.advance()

    def _operation_ended(self, frame: Frame, outcome: Outcome) -> None:
        job = frame.job
        replica = job.replica
        now = self.env._now
        stats = self.stats
        stats.completed += 1
        stats.response_time.record(now - job.arrival_time)
        if not stats.completed % FLUSH_SIZE:
            stats.flush()
        replica.present -= 1
        replica.present_sum += now
        if job.holding:  # (a non-blocking job whose last step was a call holds none)
            self._free_worker(replica, now)
        if outcome is None:
            job.on_reply(job, None)
        else:  # the caller sees its callee's operation fail: an error, whatever the cause
            stats.errors += 1
            job.on_reply(job, "error")

    def release(self, job: AsyncJob) -> None:
        """The job gives its worker back while it waits for replies (non-blocking calls)."""
        job.holding = False
        self._free_worker(job.replica, self.env.now)

    def reacquire(self, job: AsyncJob) -> None:
        """A job that released its worker needs one again; it queues without a capacity check."""
        replica = job.replica
        now = self.env.now
        if replica.busy < replica.workers:
            self._start(job, replica, now)
        else:
            self._enqueue(job, replica, now)

    def _free_worker(self, replica: Replica, now: float) -> None:
        """A worker is done: it goes straight to the next in line, or becomes idle."""
        if replica.queued:
            if replica.fifo is not None:
                item = replica.fifo.popleft()
            else:
                assert replica.heap is not None
                item = heapq.heappop(replica.heap)[2]
            replica.queued -= 1
            replica.waiting_sum += now
            self._serve(item, now)
            return
        replica.busy -= 1
        replica.busy_sum += now

    # ------------------------------------------------------------------ results

    def summary(self, now: float, duration: float) -> ServiceResults:
        """The service's statistics (docs/results.md) from the end of warm-up to `now`."""
        stats = self.stats
        stats.flush()
        elapsed = now - stats.since
        waiting, present, busy = (
            area - start for area, start in zip(self.areas(now), stats.areas_at_start, strict=True)
        )
        present_now = self.present()
        left = stats.completed + stats.dropped + stats.rejected + stats.unavailable
        arrivals = left + stats.timed_out + present_now - stats.present_at_start
        started = stats.waiting_time.count
        utilization = self.measured_utilization(busy, elapsed)
        failures = self._failure_counts(arrivals, now) if self.reports_failures else {}
        return ServiceResults(
            arrival_rate=arrivals / duration,
            throughput=stats.completed / duration,
            utilization=utilization,
            dropped=stats.dropped,
            loss_probability=stats.dropped / arrivals if arrivals else 0.0,
            p_wait=stats.waited / started if started else 0.0,
            queue_length=QueueLength(mean=waiting / elapsed, max=stats.max_waiting),
            in_system=Backlog(mean=present / elapsed, max=stats.max_present, final=present_now),
            waiting_time=stats.waiting_time.summary(),
            response_time=stats.response_time.summary(),
            **failures,
            **self.scaling_figures(now),
        )

    def measured_utilization(self, busy: float, elapsed: float) -> float | None:
        """Busy worker-seconds over all worker-seconds (None for unlimited workers)."""
        if not math.isfinite(self.total_workers):
            return None
        return busy / elapsed / self.total_workers

    def scaling_figures(self, now: float) -> dict[str, object]:
        """What an autoscaled service adds to its results (nothing here)."""
        return {}

    def _failure_counts(self, arrivals: int, now: float) -> dict[str, float]:
        """The counts a scenario with failures reports (docs/results.md)."""
        stats = self.stats
        return {
            "attempts": arrivals,
            "errors": stats.errors,
            "rejected": stats.rejected,
            "unavailable": stats.unavailable,
            "timed_out": stats.timed_out,
            "availability": self.availability(now),
        }

    def availability(self, now: float) -> float:
        """The fraction of the measured time with a replica up (1: no faults here)."""
        return 1.0

    def draws_error(self) -> bool:
        """Whether an operation started now is drawn to fail by an `errors` fault (never
        here: see `GuardedService`)."""
        return False
