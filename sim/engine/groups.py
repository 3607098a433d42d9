"""Consumer groups: the consumer threads of a subscribing service on one topic.

- Log group: `replicas x concurrency` consumer threads; partition p is assigned to consumer
  p mod n with n = min(partitions, threads), so a group's parallelism is min(partitions,
  threads). A consumer serves the messages of its partitions one at a time in arrival order,
  so each partition is consumed in order by exactly one consumer.
- Queue group: one FIFO; any free consumer takes the next message (an M/G/c station).

A group's `lag` counts messages published to it and not yet consumed (in delivery, waiting
or being processed). Handlers run as jobs of the request that published the message, so a
flow's completion time includes them. Consumer threads are separate from request workers.

When a handler fails (docs/scenario-language.md, "Failures and resilience") the message is
attempted again up to the subscriber's `max_attempts`, after `retry_backoff`: on a log in
place (the consumer, and so its partitions, wait: head-of-line blocking), on a queue back
at the tail of the queue while the consumer goes on (an attempt again without a backoff has
no event of its own: it counts as one towards the run's budgets, `sim.engine.budget`).
After the last attempt it is published to the `dead_letter` topic, or counted `lost`.
Consumers on a replica that goes down stop; the message they were processing goes back to
the head of its partition or queue (redelivered, at least once); while the topic's broker
is down nothing is received. A group's results: `sim.engine.group_results`.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

import simpy
from simpy.events import NORMAL

from models.results import GroupResults
from models.schema import Subscriber, Topic
from sim.engine.budget import InstantWork
from sim.engine.consumers import Consumer, GroupStats, Message, partition_of
from sim.engine.group_results import group_results
from sim.engine.jobs import (
    CompiledStep,
    Frame,
    GuardedJob,
    Job,
    Outcome,
    Publisher,
    abandon,
)
from sim.engine.metrics import FLUSH_SIZE
from sim.engine.stations import ServiceRuntime
from sim.engine.steps import hold_then_publishes


class ConsumerGroup:
    """A subscribing service's consumer group on one topic.

    Levels (lag, busy threads) are kept as signed time sums, as the stations' are (see
    `sim.engine.stations`). The handler fast path: a handler that is one hold (`work` or
    `delay`) followed only by publishes, at a service without faults or admission control,
    runs without a job: the consumer thread is scheduled as its own wake-up and then
    publishes and finishes the message (`_consumed`). `fast_paths=False` runs every
    handler as a job (the general path, same results: tests compare both). `instant`
    counts the messages attempted again at once (`sim.engine.budget.InstantWork`).
    """

    def __init__(
        self,
        topic_name: str,
        topic: Topic,
        env: simpy.Environment,
        service: str,
        spec: Subscriber,
        threads: int,
        handler: Sequence[CompiledStep],
        trace: list[tuple[str, str, int, int, float]] | None,
        station: ServiceRuntime,
        dead_letter: Publisher | None = None,
        retry_backoff: Callable[[], float] | None = None,
        fast_paths: bool = True,
        instant: InstantWork | None = None,
    ) -> None:
        self.topic_name = topic_name
        self.name = service
        self.env = env
        self.handler = handler
        self.threads = threads
        self.station = station  # the subscribing service (its faults stop the consumers)
        self.concurrency = spec.concurrency
        self.max_attempts = spec.max_attempts
        self.dead_letter = dead_letter
        self.retry_backoff = retry_backoff
        self.instant = instant if instant is not None else InstantWork(env)
        self.attempts_of: dict[Message, int] = {}  # messages retried: the attempt in progress
        self.paused = False  # the topic's broker is down: nothing is received
        self.held: list[Message] = []  # delivered while paused
        self.reports_failures = False
        self.guarded = station.guarded  # its replicas can go down, or have error bursts
        self._job_type: type[Job] = GuardedJob if self.guarded else Job
        self.fast_hold, self.fast_publishes = (
            hold_then_publishes(handler) if fast_paths and not self.guarded else (None, [])
        )
        # `Environment.schedule(consumer, NORMAL, delay)` written out (module docstring of
        # `sim.engine.stations`; pinned by tests/unit/test_simpy_contract.py)
        self._push: Callable[[list[Any], tuple[float, int, int, Consumer]], None] = heapq.heappush
        self._calendar: list[Any] = env._queue
        self._event_id: Callable[[], int] = env._eid.__next__
        self._fast_sample = self.fast_hold.sample if self.fast_hold is not None else None
        # the fast path's start, written out where messages start most (without a trace)
        self._inline_sample = self._fast_sample if trace is None else None
        self._wakeup: list[Callable[[Any], None]] = [self._consumed]
        self.is_log = topic.type == "log"
        partitions = topic.partitions
        self.partitioned = partitions > 1  # (else the one partition's lag is `lag`)
        active = min(partitions, threads) if self.is_log else threads
        self.consumers = [Consumer(index) for index in range(active)]
        self.assignment = [partition % active for partition in range(partitions)]
        self.shared_queue: deque[tuple[Message, float]] = deque()
        self.idle: list[Consumer] = list(reversed(self.consumers))
        self.partition_lag = [0] * partitions  # (kept only when `partitioned`)
        self.last_delivery = [0.0] * partitions  # logs keep each partition's order in delivery
        self.lag = 0
        self.busy = 0
        self.lag_sum = 0.0  # signed time sums (module docstring of `sim.engine.stations`)
        self.busy_sum = 0.0
        self.stats = GroupStats(env.now, (0.0, 0.0), 0, self.partition_lag)
        self.trace = trace

    # ------------------------------------------------------------------ levels

    def lag_area(self, now: float) -> float:
        """The area under the lag from time 0 to `now`."""
        return self.lag_sum + self.lag * now

    def busy_area(self, now: float) -> float:
        """The area under the number of busy consumer threads from time 0 to `now`."""
        return self.busy_sum + self.busy * now

    def partition_lags(self) -> list[int]:
        """The lag of each partition now."""
        return self.partition_lag if self.partitioned else [self.lag]

    def reset(self, now: float) -> None:
        """Discard what was observed before `now` (end of warm-up), keep the current state."""
        areas = (self.lag_area(now), self.busy_area(now))
        self.stats = GroupStats(now, areas, self.lag, self.partition_lags())

    def _set_busy(self, consumer: Consumer, now: float) -> None:
        consumer.busy = True
        self.busy += 1
        self.busy_sum -= now

    def _set_idle(self, consumer: Consumer, now: float) -> None:
        consumer.busy = False
        consumer.current = None
        self.busy -= 1
        self.busy_sum += now

    # ------------------------------------------------------------------ messages

    def published(self, message: Message) -> None:
        """A message for this group was published now (it may still be in delivery)."""
        now = self.env._now
        stats = self.stats
        request, partition, _, _ = message
        request.pending += 1
        lag = self.lag + 1
        self.lag = lag
        self.lag_sum -= now
        if lag > stats.max_lag:
            stats.max_lag = lag
        if self.partitioned:
            lag = self.partition_lag[partition] + 1
            self.partition_lag[partition] = lag
            if lag > stats.max_partition_lag:
                stats.max_partition_lag = lag

    def receive(self, message: Message, now: float) -> None:
        """A message for this group is published now and reaches it at once (no delivery
        latency): `published` and `deliver`, written out (the event path's hot path)."""
        stats = self.stats
        request, partition, _, _ = message
        request.pending += 1
        lag = self.lag + 1
        self.lag = lag
        self.lag_sum -= now
        if lag > stats.max_lag:
            stats.max_lag = lag
        if self.partitioned:
            lag = self.partition_lag[partition] + 1
            self.partition_lag[partition] = lag
            if lag > stats.max_partition_lag:
                stats.max_partition_lag = lag
        if self.paused:
            self.held.append(message)
            return
        if self.is_log:
            consumer = self.consumers[self.assignment[partition]]
            if consumer.busy or not consumer.up:
                consumer.waiting.append((message, now))
                return
        elif self.idle:
            consumer = self.idle.pop()
        else:
            self.shared_queue.append((message, now))
            return
        consumer.busy = True
        self.busy += 1
        self.busy_sum -= now
        sample = self._inline_sample
        if sample is None:
            self._start(consumer, message, False, now)
            return
        stats.immediate += 1  # (`_start` in the fast path, in place: a wait of 0)
        consumer.current = message
        consumer.callbacks = self._wakeup
        self._push(self._calendar, (now + sample(), NORMAL, self._event_id(), consumer))

    def deliver(self, message: Message) -> None:
        """The message reaches the group: a free consumer starts it, or it waits."""
        now = self.env._now
        if self.paused:
            self.held.append(message)
        elif self.is_log:
            consumer = self.consumers[self.assignment[partition_of(message)]]
            if consumer.busy or not consumer.up:
                consumer.waiting.append((message, now))
            else:
                self._set_busy(consumer, now)
                self._start(consumer, message, False, now)
        elif self.idle:
            consumer = self.idle.pop()
            self._set_busy(consumer, now)
            self._start(consumer, message, False, now)
        else:
            self.shared_queue.append((message, now))

    def _start(self, consumer: Consumer, message: Message, waited: bool, now: float) -> None:
        """The busy `consumer` starts `message`: count the start (its wait, the trace) and
        run the handler, in the fast path or as a job. (Tallies are flushed with the
        consumptions in `_consumed`: a group has at most `threads` messages started and not
        consumed, so the waiting times' buffer stays bounded.)"""
        _, partition, published_at, sequence = message
        if waited:
            self.stats.waited += 1
        self.stats.waiting_time.record(now - published_at)
        if self.trace is not None:
            self.trace.append((self.topic_name, self.name, partition, sequence, now))
        consumer.current = message
        sample = self._fast_sample
        if sample is not None:  # (`attempts` = starts: see `summary`)
            consumer.callbacks = self._wakeup
            self._push(self._calendar, (now + sample(), NORMAL, self._event_id(), consumer))
        else:
            self._attempt(consumer, message)

    def _attempt(self, consumer: Consumer, message: Message) -> None:
        """Run the handler of `message` on `consumer` as a job of the publishing request (a
        first attempt, or an attempt again in place on a log)."""
        self.stats.attempts += 1
        handler = self._job_type(message[0], None, self.handler, _handled, _no_reply)
        handler.replica = (self, consumer, message)
        consumer.current = message
        consumer.job = handler
        if self.guarded and self.station.error_probability:
            cast(GuardedJob, handler).doomed = self.station.draws_error()
        handler.advance()

    def _consumed(self, consumer: Consumer) -> None:
        """The message of `consumer` was handled successfully (in the fast path its hold is
        over: it publishes what the handler publishes first): count it; the consumer takes
        the next one."""
        message: Message = consumer.current  # type: ignore[assignment]  # (busy: it has one)
        request, partition, published_at, _ = message
        for publish in self.fast_publishes:
            publish(request)
        now = self.env._now
        if self.attempts_of:
            self.attempts_of.pop(message, None)
        stats = self.stats
        consumed = stats.consumed + 1
        stats.consumed = consumed
        stats.sojourn_time.record(now - published_at)
        if not consumed % FLUSH_SIZE:
            stats.flush()
        self.lag -= 1
        self.lag_sum += now
        if self.partitioned:
            self.partition_lag[partition] -= 1
        queue = consumer.waiting if self.is_log else self.shared_queue
        if queue and consumer.up and not self.paused:  # (`_free`, in place)
            message, delivered_at = queue.popleft()
            sample = self._inline_sample
            if sample is None:
                self._start(consumer, message, now > delivered_at, now)
            else:  # (`_start` in the fast path, in place)
                if now > delivered_at:
                    stats.waited += 1
                stats.waiting_time.record(now - message[2])
                consumer.current = message
                consumer.callbacks = self._wakeup
                self._push(self._calendar, (now + sample(), NORMAL, self._event_id(), consumer))
        else:
            consumer.busy = False
            consumer.current = None
            self.busy -= 1
            self.busy_sum += now
            if self.paused:
                self.idle_while_paused()
            elif consumer.up and not self.is_log:
                self.idle.append(consumer)
        request.pending -= 1  # (`Request.work_ended`, in place)
        if not request.pending:
            request.flow.completed(request, now)

    def handled(self, consumer: Consumer, message: Message, outcome: Outcome) -> None:
        """The handler job of `message` has finished: count it and take the next one, or
        retry a failed message (in place on a log, back to the queue on a queue topic)."""
        consumer.job = None
        if outcome is None:
            self._consumed(consumer)  # (its `current` is `message`)
            return
        attempt = self.attempts_of.get(message, 1)
        if attempt < self.max_attempts:
            self.attempts_of[message] = attempt + 1
            self._retry(consumer, message)
            return
        self.attempts_of.pop(message, None)
        if self.dead_letter is not None:
            self.stats.dead_lettered += 1
            self.dead_letter.publish(message[0], None)
        else:
            self.stats.lost += 1
        self._finish(consumer, message, self.env._now)

    def _retry(self, consumer: Consumer, message: Message) -> None:
        """Attempt `message` again after the backoff: on a log the consumer waits for it
        (its partitions wait: head-of-line blocking); on a queue it goes on with others and
        the message goes back to the queue."""
        wait = self.retry_backoff() if self.retry_backoff is not None else 0.0
        if not wait > 0:
            self.instant.add()  # (attempted again without an event of its own: counted as one)
        if self.is_log:
            if wait > 0:
                self.env.timeout(wait).callbacks.append(
                    lambda _event: self._retry_in_place(consumer, message)
                )
            else:
                self._retry_in_place(consumer, message)
            return
        self._free(consumer)
        if wait > 0:
            self.env.timeout(wait).callbacks.append(lambda _event: self._requeue(message))
        else:
            self._requeue(message)

    def _retry_in_place(self, consumer: Consumer, message: Message) -> None:
        if consumer.current is message and consumer.up and consumer.job is None:
            self._attempt(consumer, message)

    def _requeue(self, message: Message) -> None:
        """A queue topic's message is back in the queue (at its tail)."""
        now = self.env._now
        if self.idle and not self.paused:
            consumer = self.idle.pop()
            self._set_busy(consumer, now)
            self._start(consumer, message, False, now)
        else:
            self.shared_queue.append((message, now))

    def _finish(self, consumer: Consumer, message: Message, now: float) -> None:
        """`message` leaves the group unconsumed (dead-lettered or lost)."""
        self.lag -= 1
        self.lag_sum += now
        if self.partitioned:
            self.partition_lag[partition_of(message)] -= 1
        self._free(consumer)
        message[0].work_ended(now)

    def _free(self, consumer: Consumer) -> None:
        """The consumer is done with its message: it takes the next one, or becomes idle."""
        self._set_idle(consumer, self.env._now)
        if self.paused:
            self.idle_while_paused()
            return
        if consumer.up:
            self._take_next(consumer)

    # ------------------------------------------------------------------ faults

    def _consumers_of(self, replica: int) -> list[Consumer]:
        """The consumer threads that run on replica `replica` of the subscribing service."""
        first = replica * self.concurrency
        return self.consumers[first : first + self.concurrency]

    def replica_down(self, replica: int) -> None:
        """The consumers on `replica` stop; the messages they were processing go back to
        the head of their partition or queue (redelivered: at least once)."""
        now = self.env._now
        stopped = self._consumers_of(replica)
        for consumer in stopped:  # (all stop before any message is handed to another)
            consumer.up = False
            if consumer in self.idle:
                self.idle.remove(consumer)
        for consumer in stopped:
            message = consumer.current
            if message is None:
                continue
            if consumer.job is not None:
                abandon(cast(GuardedJob, consumer.job))
                consumer.job = None
            self.stats.redelivered += 1
            self._set_idle(consumer, now)
            if self.is_log:
                consumer.waiting.appendleft((message, now))
            else:
                self._requeue_first(message, now)

    def _requeue_first(self, message: Message, now: float) -> None:
        if self.idle and not self.paused:
            consumer = self.idle.pop()
            self._set_busy(consumer, now)
            self._start(consumer, message, False, now)
        else:
            self.shared_queue.appendleft((message, now))

    def replica_up(self, replica: int) -> None:
        """The consumers on `replica` take messages again."""
        for consumer in self._consumers_of(replica):
            consumer.up = True
            if not consumer.busy:
                self._take_next(consumer)

    def _take_next(self, consumer: Consumer) -> None:
        """An idle, up consumer starts the next waiting message, or becomes idle."""
        if self.paused:
            if not self.is_log and consumer not in self.idle:
                self.idle.append(consumer)
            return
        queue = consumer.waiting if self.is_log else self.shared_queue
        if queue:
            now = self.env._now
            message, delivered_at = queue.popleft()
            self._set_busy(consumer, now)
            self._start(consumer, message, now > delivered_at, now)
        elif not self.is_log and consumer not in self.idle:
            self.idle.append(consumer)

    def idle_while_paused(self) -> None:
        """A consumer finished a message while the group receives nothing (a rebalancing
        group uses this moment: `sim.engine.autoscaling.ScalableGroup`)."""

    def pause(self) -> None:
        """The broker is down: deliveries are held and consumers start nothing new."""
        self.paused = True

    def resume(self) -> None:
        """The broker is back: held messages are delivered, idle consumers start."""
        self.paused = False
        held, self.held = self.held, []
        for consumer in self.consumers:
            if consumer.up and not consumer.busy:
                if consumer in self.idle:
                    self.idle.remove(consumer)
                self._take_next(consumer)  # (or back to the idle list)
        for message in held:
            self.deliver(message)

    # ------------------------------------------------------------------ results

    def summary(self, now: float, duration: float) -> GroupResults:
        """The group's statistics (docs/results.md) from the end of warm-up to `now`
        (`sim.engine.group_results`)."""
        return group_results(self, now, duration)

    def measured_utilization(self, busy_area: float, elapsed: float) -> float:
        """Busy thread-seconds over all thread-seconds of the measured period."""
        return busy_area / elapsed / self.threads

    def scaling_figures(self, now: float) -> dict[str, object]:
        """What an autoscaled group adds to its results (nothing here)."""
        return {}


def _handled(frame: Frame, outcome: Outcome) -> None:
    """End of a handler job: tell its group (a handler drawn to fail by an `errors` fault
    fails when it ends)."""
    job = frame.job
    group, consumer, message = job.replica
    if job.doomed and outcome is None:
        outcome = "error"
    group.handled(consumer, message, outcome)


def _no_reply(_job: Job, _outcome: Outcome) -> None:
    """Nobody waits for a message handler's reply."""
