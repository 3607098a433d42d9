"""Services with faults or admission control: replicas that go down, rate limits, queue
timeouts and bursts of errors (docs/scenario-language.md, "Failures and resilience").

A `GuardedService` is a `ServiceRuntime` that keeps track of the jobs at each replica, so
that a replica can go down: the requests waiting or in service there fail at once with
`unavailable` (their work is abandoned), balancing routes only to replicas that are up, and
with none up an arrival fails with `unavailable`. With `balancing: shared` the replicas are
one pool: a replica going down takes its workers and its share of the waiting room away, and
the requests in service beyond the remaining workers fail (the last admitted first).

Admission: a token bucket (`rate_limit`) refuses arrivals without a token (`rejected`); a
request that waited `queue_timeout` leaves the waiting room (`timeout`). An `errors` fault
draws, for every operation started in its window, whether it ends with an error.

Leaf calls never visit a guarded service (the compiler makes them jobs), so everything here
is about jobs; the hot path of the other services is untouched.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any, cast

import simpy

from models.schema import Service
from sim.engine.jobs import (
    Frame,
    GuardedAsyncJob,
    GuardedJob,
    GuardedWork,
    Job,
    Outcome,
    abandon,
)
from sim.engine.stations import Replica, ServiceRuntime, Visitor
from sim.engine.streams import Streams

if TYPE_CHECKING:
    from sim.engine.groups import ConsumerGroup


class TokenBucket:
    """`burst` tokens at most, refilled continuously at `rate` per second; starts full."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = 0.0

    def take(self, now: float) -> bool:
        """Take a token now if there is one.

        >>> bucket = TokenBucket(rate=2.0, burst=1)
        >>> bucket.take(0.0), bucket.take(0.1), bucket.take(0.5)
        (True, False, True)
        """
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class GuardedService(ServiceRuntime):
    """A service with faults or admission control (module docstring)."""

    guarded = True

    def __init__(self, name: str, spec: Service, env: simpy.Environment, streams: Streams) -> None:
        super().__init__(name, spec, env, streams)
        self._only = None  # (always choose: the one replica may be down)
        self._job_type = GuardedJob if spec.blocking_calls else GuardedAsyncJob
        self.shared = spec.balancing == "shared"
        self.workers_per_replica = self.replicas[0].workers / (spec.replicas if self.shared else 1)
        self.capacity_per_replica = self.replicas[0].capacity / (
            spec.replicas if self.shared else 1
        )
        self.up = [True] * spec.replicas  # not down by a fault
        self.up_count = spec.replicas
        self.serving = [True] * spec.replicas  # started and not removed (autoscaling)
        self.taking = [True] * spec.replicas  # up and serving: balancing may choose it
        self.taking_count = spec.replicas
        self.balancing = spec.balancing
        self._uniform = streams.uniform(f"services.{name}.balancing")
        self._turn = -1
        self.jobs: dict[int, dict[GuardedWork, None]] = {id(r): {} for r in self.replicas}
        limit = spec.rate_limit
        self.bucket = TokenBucket(limit.rate, limit.burst) if limit is not None else None
        self.queue_timeout = spec.queue_timeout
        self.error_probability = 0.0  # set by an `errors` fault while it lasts
        self.error_uniform = streams.uniform(f"services.{name}.errors")
        self.groups: list[ConsumerGroup] = []  # its consumer groups (stopped when it is down)
        self.up_sum = 0.0  # signed time sum of "a replica is up" (1 from time 0)
        self.up_area_at_start = 0.0
        self.availability_since = 0.0

    # ------------------------------------------------------------------ balancing

    def _choose_up(self) -> Replica | None:
        """A replica that takes work (up, and serving), by the balancing rule, or None."""
        if self.taking_count == 0:
            return None
        replicas = self.replicas
        if self.shared or len(replicas) == 1:
            return replicas[0]
        if self.taking_count == len(replicas):
            live = replicas
        else:
            live = [
                replica for replica, taking in zip(replicas, self.taking, strict=True) if taking
            ]
        if self.balancing == "random":
            return live[int(self._uniform() * len(live))]
        if self.balancing == "least_outstanding":
            return min(live, key=lambda replica: replica.present)
        while True:  # round robin over the replicas, skipping those that take nothing
            self._turn = (self._turn + 1) % len(replicas)
            if self.taking[self._turn]:
                return replicas[self._turn]

    def _refresh(self, index: int) -> bool:
        """Recompute whether replica `index` takes work; whether that changed. A shared pool
        gains or loses that replica's workers and waiting room."""
        taking = self.up[index] and self.serving[index]
        if taking == self.taking[index]:
            return False
        self.taking[index] = taking
        self.taking_count += 1 if taking else -1
        if self.shared:
            pool = self.replicas[0]
            sign = 1.0 if taking else -1.0
            pool.workers += sign * self.workers_per_replica
            pool.capacity += sign * self.capacity_per_replica
            if taking:
                now = self.env.now
                while pool.queued and pool.busy < pool.workers:
                    pool.busy += 1
                    pool.busy_sum -= now
                    self._free_worker(pool, now)
        return True

    # ------------------------------------------------------------------ admission

    def submit(self, job: Job) -> None:
        """Admit a job (token, replica up, room), then start or queue it."""
        guarded = cast(GuardedWork, job)  # (this service makes only guarded jobs)
        now = self.env.now
        if self.bucket is not None and not self.bucket.take(now):
            self.stats.rejected += 1
            job.on_reply(job, "rejected")
            return
        replica = self._choose_up()
        if replica is None:
            self.stats.unavailable += 1
            job.on_reply(job, "unavailable")
            return
        job.arrival_time = now
        job.replica = replica
        if replica.busy >= replica.workers and replica.queued >= replica.capacity:
            self.stats.dropped += 1
            job.on_reply(job, "dropped")
            return
        self._arrived(replica, now)
        self.jobs[id(replica)][guarded] = None
        if replica.busy < replica.workers:
            self._start(job, replica, now)
            return
        self._enqueue(job, replica, now)
        if self.queue_timeout is not None:
            self.env.timeout(self.queue_timeout).callbacks.append(
                lambda _event: self._waited_too_long(guarded)
            )

    def _enqueue(self, item: Visitor, replica: Replica, now: float) -> None:
        cast(GuardedWork, item).in_queue = True  # (only guarded jobs come here)
        super()._enqueue(item, replica, now)

    def _waited_too_long(self, job: GuardedWork) -> None:
        """`queue_timeout` has passed since the job arrived: if it still waits, it leaves."""
        if not job.in_queue or job.dead or job.index:
            return
        replica = job.replica
        now = self.env.now
        self._leave_queue(job, replica, now)
        self._leave(job, replica, now)
        self.stats.timed_out += 1
        job.dead = True
        job.on_reply(job, "timeout")

    def _serve(self, item: Visitor, now: float) -> None:
        job = cast(GuardedWork, item)  # (only guarded jobs come here)
        job.in_queue = False
        if self.error_probability and not job.index:
            job.doomed = self.draws_error()
        super()._serve(job, now)

    def _free_worker(self, replica: Replica, now: float) -> None:
        """As `ServiceRuntime._free_worker`, skipping jobs that left the queue (timed out or
        abandoned: they are no longer counted in `queued`). A shared pool that has lost
        workers (an outage, a scale-down) releases the worker instead while it has more busy
        workers than it now has."""
        while replica.queued and replica.busy <= replica.workers:
            if replica.fifo is not None:
                item: Any = replica.fifo.popleft()
            else:
                assert replica.heap is not None
                item = heapq.heappop(replica.heap)[2]
            if item.dead:
                continue
            replica.queued -= 1
            replica.waiting_sum += now
            self._serve(item, now)
            return
        replica.busy -= 1
        replica.busy_sum += now

    def _operation_ended(self, frame: Frame, outcome: Outcome) -> None:
        job = cast(GuardedWork, frame.job)
        self.jobs[id(job.replica)].pop(job, None)
        if job.doomed and outcome is None:
            outcome = "error"
        super()._operation_ended(frame, outcome)

    def draws_error(self) -> bool:
        """Whether an operation started now is drawn to fail by an `errors` fault."""
        return self.error_uniform() < self.error_probability

    # ------------------------------------------------------------------ replicas down and up

    def replica_down(self, index: int) -> None:
        """Replica `index` goes down now (module docstring)."""
        if not self.up[index]:
            return
        now = self.env.now
        self.up[index] = False
        self.up_count -= 1
        if self.up_count == 0:
            self.up_sum += now
        self._refresh(index)
        if self.shared:
            self._kill_excess(self.replicas[0], now)
        else:
            self._kill_all(self.replicas[index], now)
        for group in self.groups:
            group.replica_down(index)

    def replica_up(self, index: int) -> None:
        """Replica `index` is back (empty) and takes work again."""
        if self.up[index]:
            return
        now = self.env.now
        self.up[index] = True
        self.up_count += 1
        if self.up_count == 1:
            self.up_sum -= now
        self._refresh(index)
        for group in self.groups:
            group.replica_up(index)

    def _kill_all(self, replica: Replica, now: float) -> None:
        for job in list(self.jobs[id(replica)]):
            self._kill(job, replica, now)
        if replica.fifo is not None:
            replica.fifo.clear()
        elif replica.heap is not None:
            replica.heap.clear()

    def _kill_excess(self, pool: Replica, now: float) -> None:
        """A shared pool lost workers: fail the jobs in service beyond them (the last
        admitted first), and everything when no worker is left."""
        if self.taking_count == 0:
            self._kill_all(pool, now)
            return
        serving = [job for job in self.jobs[id(pool)] if not job.in_queue and job.holding]
        while pool.busy > pool.workers and serving:
            self._kill(serving.pop(), pool, now)

    def _kill(self, job: GuardedWork, replica: Replica, now: float) -> None:
        """The job fails with `unavailable`; whatever it was doing is abandoned."""
        if job.in_queue:
            self._leave_queue(job, replica, now)
        elif job.holding:
            replica.busy -= 1
            replica.busy_sum += now
        self._leave(job, replica, now)
        self.stats.unavailable += 1
        abandon(job)
        job.on_reply(job, "unavailable")

    def _leave_queue(self, job: GuardedWork, replica: Replica, now: float) -> None:
        job.in_queue = False
        replica.queued -= 1
        replica.waiting_sum += now

    def _leave(self, job: GuardedWork, replica: Replica, now: float) -> None:
        replica.present -= 1
        replica.present_sum += now
        self.jobs[id(replica)].pop(job, None)

    # ------------------------------------------------------------------ availability

    def up_area(self, now: float) -> float:
        """The time with a replica up, from time 0 to `now`."""
        return self.up_sum + (1.0 if self.up_count else 0.0) * now

    def reset(self, now: float) -> None:
        """End of warm-up (`ServiceRuntime.reset`), and availability counted afresh."""
        super().reset(now)
        self.up_area_at_start = self.up_area(now)
        self.availability_since = now

    def availability(self, now: float) -> float:
        """The fraction of the measured time with a replica up."""
        elapsed = now - self.availability_since
        if elapsed <= 0:
            return 1.0 if self.up_count else 0.0
        return (self.up_area(now) - self.up_area_at_start) / elapsed
