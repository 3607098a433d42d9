"""Service stations: replicas with workers, waiting rooms, balancing and queue disciplines.

A service is `replicas` replicas of `workers` servers each. Each replica has its own waiting
room of `queue_capacity` (not counting requests in service); an arrival that finds it full is
dropped. With `balancing: shared` the replicas form one pool of replicas x workers servers
with one waiting room of replicas x queue_capacity (an M/M/c station). Waiting requests are
served first come first served, or by flow priority (non-preemptive, lower number first).

The queue is plain Python (a deque or a heap); simpy is used only for the time the steps take.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sim.metrics import Tally
from sim.runtime import AsyncJob, CompiledStep, Frame, Job, Outcome, Request

if TYPE_CHECKING:
    from models.schema import Service
    from sim.engine import Replication


class Replica:
    """One replica: `workers` servers and a waiting room (FIFO deque or priority heap)."""

    __slots__ = ("busy", "capacity", "fifo", "heap", "present", "workers")

    def __init__(self, workers: float, capacity: float, priority: bool) -> None:
        self.workers = workers
        self.capacity = capacity
        self.busy = 0
        self.present = 0
        self.fifo: deque[Job] | None = None if priority else deque()
        self.heap: list[tuple[int, int, Job]] | None = [] if priority else None

    def waiting(self) -> int:
        """Number of jobs in the waiting room."""
        return len(self.fifo) if self.fifo is not None else len(self.heap or ())


class ServiceStats:
    """What a service reports (DESIGN §3), counted from the end of warm-up.

    The three levels (waiting, present, busy) are integrated over time by the service itself
    on every change (`ServiceRuntime._integrate`), which is cheaper than three `Level`s.
    """

    def __init__(self, now: float) -> None:
        self.since = now
        self.arrivals = 0
        self.dropped = 0
        self.started = 0
        self.waited = 0
        self.completed = 0
        self.waiting_time = Tally()
        self.response_time = Tally()
        self.area_waiting = 0.0
        self.area_present = 0.0
        self.area_busy = 0.0
        self.max_waiting = 0
        self.max_present = 0


class ServiceRuntime:
    """A service during one replication: it admits, queues, serves and releases jobs."""

    def __init__(self, name: str, spec: Service, replication: Replication) -> None:
        self.name = name
        self.env = replication.env
        self.blocking_calls = spec.blocking_calls
        self._job_type: type[Job] = Job if spec.blocking_calls else AsyncJob
        workers = math.inf if spec.unlimited else float(spec.workers)
        capacity = math.inf if spec.queue_capacity is None else float(spec.queue_capacity)
        priority = spec.discipline == "priority"
        count = 1 if spec.balancing == "shared" else spec.replicas
        scale = spec.replicas if spec.balancing == "shared" else 1
        self.replicas = [Replica(workers * scale, capacity * scale, priority) for _ in range(count)]
        self.total_workers = workers * spec.replicas
        self.stats = ServiceStats(self.env.now)
        self._sequence = itertools.count()
        uniform = replication.streams.uniform(f"services.{name}.balancing")
        self._choose = self._chooser(spec.balancing, uniform)
        self._only = self.replicas[0] if len(self.replicas) == 1 else None
        self._ended = self._operation_ended
        self.waiting_total = 0
        self.present_total = 0
        self.busy_total = 0
        self.busy_area_total = 0.0  # never reset: for the time series
        self._last_change = self.env.now

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

    def integrate(self, now: float) -> None:
        """Accumulate the time-weighted levels up to `now` (call before every change)."""
        elapsed = now - self._last_change
        if elapsed:
            stats = self.stats
            stats.area_waiting += self.waiting_total * elapsed
            stats.area_present += self.present_total * elapsed
            stats.area_busy += self.busy_total * elapsed
            self.busy_area_total += self.busy_total * elapsed
            self._last_change = now

    def reset(self, now: float) -> None:
        """Discard everything observed before `now` (end of warm-up), keep the current state."""
        self.integrate(now)
        self.stats = ServiceStats(now)
        self.stats.max_waiting = self.waiting_total
        self.stats.max_present = self.present_total

    # ------------------------------------------------------------------ admission

    def submit(self, job: Job) -> None:
        """A job arrives: start it, queue it, or drop it if the waiting room is full."""
        now = self.env.now
        stats = self.stats
        stats.arrivals += 1
        request = job.request
        request.pending += 1
        job.arrival_time = now
        replica = self._only or self._choose()
        job.replica = replica
        if replica.busy < replica.workers:
            self.integrate(now)
            replica.present += 1
            self.present_total += 1
            if self.present_total > stats.max_present:
                stats.max_present = self.present_total
            self._start(job, replica, now)
        elif replica.waiting() >= replica.capacity:
            stats.dropped += 1
            request.work_ended(now)
            job.on_reply(job, "dropped")
        else:
            self.integrate(now)
            self._admit(replica)
            self._enqueue(job, replica)

    def _admit(self, replica: Replica) -> None:
        replica.present += 1
        self.present_total += 1
        if self.present_total > self.stats.max_present:
            self.stats.max_present = self.present_total

    def _enqueue(self, job: Job, replica: Replica) -> None:
        if replica.fifo is not None:
            replica.fifo.append(job)
        else:
            assert replica.heap is not None
            heapq.heappush(replica.heap, (job.priority, next(self._sequence), job))
        self.waiting_total += 1
        if self.waiting_total > self.stats.max_waiting:
            self.stats.max_waiting = self.waiting_total

    def _dequeue(self, replica: Replica) -> Job | None:
        if replica.fifo is not None:
            if not replica.fifo:
                return None
            job = replica.fifo.popleft()
        else:
            if not replica.heap:
                return None
            job = heapq.heappop(replica.heap)[2]
        self.waiting_total -= 1
        return job

    # ------------------------------------------------------------------ service

    def _start(self, job: Job, replica: Replica, now: float) -> None:
        """Give `job` a worker (levels already integrated to `now`); fresh jobs start their
        steps, resumed ones go on."""
        replica.busy += 1
        self.busy_total += 1
        job.holding = True
        if job.start_time is not None:
            job.resumed()
            return
        job.start_time = now
        stats = self.stats
        stats.started += 1
        waited = now - job.arrival_time
        if waited > 0.0:
            stats.waited += 1
        stats.waiting_time.add(waited)
        job.advance()

    def _operation_ended(self, frame: Frame, outcome: Outcome) -> None:
        job = frame.job
        replica = job.replica
        now = self.env.now
        stats = self.stats
        stats.completed += 1
        stats.response_time.add(now - job.arrival_time)
        self.integrate(now)
        replica.present -= 1
        self.present_total -= 1
        if job.holding:  # (a non-blocking job whose last step was a call holds none)
            self._free_worker(job, replica, now)
        job.on_reply(job, outcome)
        job.request.work_ended(now)

    def release(self, job: Job) -> None:
        """The job gives its worker back while it waits for replies (non-blocking calls)."""
        now = self.env.now
        self.integrate(now)
        self._free_worker(job, job.replica, now)

    def reacquire(self, job: Job) -> None:
        """A job that released its worker needs one again; it queues without a capacity check."""
        replica = job.replica
        now = self.env.now
        self.integrate(now)
        if replica.busy < replica.workers:
            self._start(job, replica, now)
        else:
            self._enqueue(job, replica)

    def _free_worker(self, job: Job, replica: Replica, now: float) -> None:
        job.holding = False
        replica.busy -= 1
        self.busy_total -= 1
        following = self._dequeue(replica)
        if following is not None:
            self._start(following, replica, now)

    # ------------------------------------------------------------------ results

    def summary(self, now: float, duration: float) -> dict[str, object]:
        """The service's statistics in the shape of DESIGN §3."""
        self.integrate(now)
        stats = self.stats
        elapsed = now - stats.since
        busy_mean = stats.area_busy / elapsed
        utilization = busy_mean / self.total_workers if math.isfinite(self.total_workers) else None
        return {
            "arrival_rate": stats.arrivals / duration,
            "throughput": stats.completed / duration,
            "utilization": utilization,
            "dropped": stats.dropped,
            "loss_probability": stats.dropped / stats.arrivals if stats.arrivals else 0.0,
            "p_wait": stats.waited / stats.started if stats.started else 0.0,
            "queue_length": {"mean": stats.area_waiting / elapsed, "max": stats.max_waiting},
            "in_system": {
                "mean": stats.area_present / elapsed,
                "max": stats.max_present,
                "final": self.present_total,
            },
            "waiting_time": stats.waiting_time.summary(),
            "response_time": stats.response_time.summary(),
        }
