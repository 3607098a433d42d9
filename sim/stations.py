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
from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.metrics import Level, Tally
from sim.runtime import Frame, Job, Outcome

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
    """What a service reports (DESIGN §3), counted from the end of warm-up."""

    def __init__(self, now: float) -> None:
        self.arrivals = 0
        self.dropped = 0
        self.started = 0
        self.waited = 0
        self.completed = 0
        self.waiting_time = Tally()
        self.response_time = Tally()
        self.queue_length = Level(now)
        self.in_system = Level(now)
        self.busy = Level(now)

    def reset(self, now: float) -> None:
        """Discard everything observed before `now` (end of warm-up), keep current levels."""
        self.arrivals = self.dropped = self.started = self.waited = self.completed = 0
        self.waiting_time.reset()
        self.response_time.reset()
        for level in (self.queue_length, self.in_system, self.busy):
            level.reset(now)


class ServiceRuntime:
    """A service during one replication: it admits, queues, serves and releases jobs."""

    def __init__(self, name: str, spec: Service, replication: Replication) -> None:
        self.name = name
        self.env = replication.env
        self.blocking_calls = spec.blocking_calls
        workers = math.inf if spec.unlimited else float(spec.workers)
        capacity = math.inf if spec.queue_capacity is None else float(spec.queue_capacity)
        priority = spec.discipline == "priority"
        count = 1 if spec.balancing == "shared" else spec.replicas
        scale = spec.replicas if spec.balancing == "shared" else 1
        self.replicas = [Replica(workers * scale, capacity * scale, priority) for _ in range(count)]
        self.total_workers = workers * spec.replicas
        self.stats = ServiceStats(self.env.now)
        self._sequence = itertools.count()
        self._choose = self._chooser(
            spec.balancing, replication.streams.uniform(f"services.{name}.balancing")
        )
        self._waiting_total = 0
        self._present_total = 0
        self._busy_total = 0

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

    # ------------------------------------------------------------------ admission

    def submit(self, job: Job) -> None:
        """A job arrives: start it, queue it, or drop it if the waiting room is full."""
        now = self.env.now
        stats = self.stats
        stats.arrivals += 1
        job.request.pending += 1
        job.arrival_time = now
        replica = self._choose()
        job.replica = replica
        if replica.busy < replica.workers:
            replica.present += 1
            self._present_total += 1
            self._start(job, replica, now)
        elif replica.waiting() >= replica.capacity:
            stats.dropped += 1
            job.request.work_ended(now)
            job.on_reply(job, "dropped")
        else:
            replica.present += 1
            self._present_total += 1
            self._enqueue(job, replica)
            self._levels_changed(now)

    def _enqueue(self, job: Job, replica: Replica) -> None:
        if replica.fifo is not None:
            replica.fifo.append(job)
        else:
            assert replica.heap is not None
            heapq.heappush(replica.heap, (job.priority, next(self._sequence), job))
        self._waiting_total += 1

    def _dequeue(self, replica: Replica) -> Job | None:
        if replica.fifo is not None:
            if not replica.fifo:
                return None
            job = replica.fifo.popleft()
        else:
            if not replica.heap:
                return None
            job = heapq.heappop(replica.heap)[2]
        self._waiting_total -= 1
        return job

    # ------------------------------------------------------------------ service

    def _start(self, job: Job, replica: Replica, now: float) -> None:
        """Give `job` a worker of `replica`: a fresh job starts its steps, a resumed one goes on."""
        replica.busy += 1
        self._busy_total += 1
        job.holding = True
        self._levels_changed(now)
        if job.start_time is not None:
            job.resumed()
            return
        job.start_time = now
        stats = self.stats
        stats.started += 1
        waited = now - job.arrival_time
        if waited > 0:
            stats.waited += 1
        stats.waiting_time.add(waited)
        Frame(job.operation, job, self._operation_ended, root=True).advance()

    def _operation_ended(self, frame: Frame, outcome: Outcome) -> None:
        job = frame.job
        replica = job.replica
        now = self.env.now
        stats = self.stats
        stats.completed += 1
        stats.response_time.add(now - job.arrival_time)
        replica.present -= 1
        self._present_total -= 1
        if job.holding:
            self._free_worker(job, replica, now)
        else:  # a non-blocking job whose last step was a call returns without a worker
            self._levels_changed(now)
        job.on_reply(job, outcome)
        job.request.work_ended(now)

    def release(self, job: Job) -> None:
        """The job gives its worker back while it waits for replies (non-blocking calls)."""
        self._free_worker(job, job.replica, self.env.now)

    def reacquire(self, job: Job) -> None:
        """A job that released its worker needs one again; it queues without a capacity check."""
        replica = job.replica
        if replica.busy < replica.workers:
            self._start(job, replica, self.env.now)
        else:
            self._enqueue(job, replica)
            self._levels_changed(self.env.now)

    def _free_worker(self, job: Job, replica: Replica, now: float) -> None:
        job.holding = False
        replica.busy -= 1
        self._busy_total -= 1
        following = self._dequeue(replica)
        if following is not None:
            self._start(following, replica, now)
        else:
            self._levels_changed(now)

    def _levels_changed(self, now: float) -> None:
        stats = self.stats
        stats.queue_length.set(now, self._waiting_total)
        stats.in_system.set(now, self._present_total)
        stats.busy.set(now, self._busy_total)

    # ------------------------------------------------------------------ results

    def summary(self, now: float, duration: float) -> dict[str, object]:
        """The service's statistics in the shape of DESIGN §3."""
        stats = self.stats
        utilization = (
            stats.busy.mean(now) / self.total_workers if math.isfinite(self.total_workers) else None
        )
        return {
            "arrival_rate": stats.arrivals / duration,
            "throughput": stats.completed / duration,
            "utilization": utilization,
            "dropped": stats.dropped,
            "loss_probability": stats.dropped / stats.arrivals if stats.arrivals else 0.0,
            "p_wait": stats.waited / stats.started if stats.started else 0.0,
            "queue_length": {
                "mean": stats.queue_length.mean(now),
                "max": stats.queue_length.maximum,
            },
            "in_system": {
                "mean": stats.in_system.mean(now),
                "max": stats.in_system.maximum,
                "final": stats.in_system.value,
            },
            "waiting_time": stats.waiting_time.summary(),
            "response_time": stats.response_time.summary(),
        }
