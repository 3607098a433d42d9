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
at the tail of the queue while the consumer goes on. After the last attempt it is published
to the `dead_letter` topic, or counted `lost`. Consumers on a replica that goes down stop;
the message they were processing goes back to the head of its partition or queue
(redelivered, at least once); while the topic's broker is down nothing is received.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import cast

import simpy

from models.results import Backlog, GroupResults
from models.schema import Subscriber, Topic
from sim.engine.jobs import (
    CompiledStep,
    Frame,
    GuardedJob,
    Job,
    Outcome,
    Publisher,
    Request,
    abandon,
)
from sim.engine.metrics import Tally
from sim.engine.stations import ServiceRuntime


class Message:
    """One published message: the request that caused it, its partition, when it was sent."""

    __slots__ = ("partition", "published_at", "request", "sequence")

    def __init__(self, request: Request, partition: int, published_at: float, sequence: int):
        self.request = request
        self.partition = partition
        self.published_at = published_at
        self.sequence = sequence


class Consumer:
    """One consumer thread: its waiting messages, whether it is busy (and with what), and
    whether its replica is up."""

    __slots__ = ("busy", "current", "index", "job", "up", "waiting")

    def __init__(self, index: int) -> None:
        self.index = index
        self.busy = False
        self.up = True
        self.current: Message | None = None  # the message it is busy with
        self.job: Job | None = None  # its handler run (None while it waits to retry)
        self.waiting: deque[tuple[Message, float]] = deque()


class GroupStats:
    """What a consumer group reports (docs/results.md), counted from the end of warm-up."""

    def __init__(self, now: float, lag: int, busy: int, partition_lags: Sequence[int]) -> None:
        self.since = now
        self.received = 0
        self.consumed = 0
        self.started = 0
        self.waited = 0
        self.area_lag = 0.0
        self.area_busy = 0.0
        self.max_lag = lag
        self.max_partition_lag = max(partition_lags, default=0)
        self.attempts = 0
        self.redelivered = 0
        self.dead_lettered = 0
        self.lost = 0
        self.waiting_time = Tally()
        self.sojourn_time = Tally()


class ConsumerGroup:
    """A subscribing service's consumer group on one topic."""

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
        self.attempts_of: dict[Message, int] = {}  # messages retried: the attempt in progress
        self.paused = False  # the topic's broker is down: nothing is received
        self.held: list[Message] = []  # delivered while paused
        self.reports_failures = False
        self.guarded = station.guarded  # its replicas can go down, or have error bursts
        self._job_type: type[Job] = GuardedJob if self.guarded else Job
        self.is_log = topic.type == "log"
        partitions = topic.partitions
        active = min(partitions, threads) if self.is_log else threads
        self.consumers = [Consumer(index) for index in range(active)]
        self.assignment = [partition % active for partition in range(partitions)]
        self.shared_queue: deque[tuple[Message, float]] = deque()
        self.idle: list[Consumer] = list(reversed(self.consumers))
        self.partition_lag = [0] * partitions
        self.last_delivery = [0.0] * partitions  # logs keep each partition's order in delivery
        self.lag = 0
        self.busy = 0
        self.busy_area_total = 0.0  # never reset: for the time series
        self._last_change = self.env.now
        self.stats = GroupStats(self.env.now, 0, 0, self.partition_lag)
        self.trace = trace

    # ------------------------------------------------------------------ levels

    def integrate(self, now: float) -> None:
        elapsed = now - self._last_change
        if elapsed:
            self.stats.area_lag += self.lag * elapsed
            self.stats.area_busy += self.busy * elapsed
            self.busy_area_total += self.busy * elapsed
            self._last_change = now

    def reset(self, now: float) -> None:
        """Discard what was observed before `now` (end of warm-up), keep the current state."""
        self.integrate(now)
        self.stats = GroupStats(now, self.lag, self.busy, self.partition_lag)

    # ------------------------------------------------------------------ messages

    def published(self, message: Message) -> None:
        """A message for this group was published now (it may still be in delivery)."""
        now = self.env.now
        self.integrate(now)
        self.stats.received += 1
        message.request.pending += 1
        self.lag += 1
        if self.lag > self.stats.max_lag:
            self.stats.max_lag = self.lag
        partition = message.partition
        lag = self.partition_lag[partition] + 1
        self.partition_lag[partition] = lag
        if lag > self.stats.max_partition_lag:
            self.stats.max_partition_lag = lag

    def deliver(self, message: Message) -> None:
        """The message reaches the group: a free consumer starts it, or it waits."""
        if self.paused:
            self.held.append(message)
        elif self.is_log:
            consumer = self.consumers[self.assignment[message.partition]]
            if consumer.busy or not consumer.up:
                consumer.waiting.append((message, self.env.now))
            else:
                self._start(consumer, message, waited=False)
        elif self.idle:
            self._start(self.idle.pop(), message, waited=False)
        else:
            self.shared_queue.append((message, self.env.now))

    def _start(
        self, consumer: Consumer, message: Message, waited: bool, first: bool = True
    ) -> None:
        """Run the handler of `message` on `consumer`: a job of the publishing request. The
        `first` attempt takes the consumer and counts a start (its wait, the trace); an
        attempt again in place (a failed message on a log) only runs the handler."""
        stats = self.stats
        if first:
            now = self.env.now
            self.integrate(now)
            consumer.busy = True
            self.busy += 1
            stats.started += 1
            if waited:
                stats.waited += 1
            stats.waiting_time.add(now - message.published_at)
            if self.trace is not None:
                self.trace.append(
                    (self.topic_name, self.name, message.partition, message.sequence, now)
                )
        stats.attempts += 1
        handler = self._job_type(message.request, None, self.handler, _handled, _no_reply)
        handler.replica = (self, consumer, message)
        consumer.current = message
        consumer.job = handler
        if self.guarded and self.station.error_probability:
            cast(GuardedJob, handler).doomed = self.station.draws_error()
        handler.advance()

    def handled(self, consumer: Consumer, message: Message, outcome: Outcome) -> None:
        """The handler of `message` has finished: count it and take the next one, or retry
        a failed message (in place on a log, back to the queue on a queue topic)."""
        now = self.env.now
        self.integrate(now)
        consumer.job = None
        if outcome is None:  # (the usual case, written out: `_finish` and `_free`)
            if self.attempts_of:
                self.attempts_of.pop(message, None)
            stats = self.stats
            stats.consumed += 1
            stats.sojourn_time.add(now - message.published_at)
            self.lag -= 1
            self.partition_lag[message.partition] -= 1
            self.busy -= 1
            consumer.busy = False
            consumer.current = None
            if self.paused:
                self.idle_while_paused()
            elif consumer.up:
                queue = consumer.waiting if self.is_log else self.shared_queue
                if queue:
                    message_waiting, delivered_at = queue.popleft()
                    self._start(consumer, message_waiting, waited=now > delivered_at)
                elif not self.is_log:
                    self.idle.append(consumer)
            message.request.work_ended(now)
            return
        attempt = self.attempts_of.get(message, 1)
        if attempt < self.max_attempts:
            self.attempts_of[message] = attempt + 1
            self._retry(consumer, message)
            return
        self.attempts_of.pop(message, None)
        if self.dead_letter is not None:
            self.stats.dead_lettered += 1
            self.dead_letter.publish(message.request, None)
        else:
            self.stats.lost += 1
        self._finish(consumer, message, now)

    def _retry(self, consumer: Consumer, message: Message) -> None:
        """Attempt `message` again after the backoff: on a log the consumer waits for it
        (its partitions wait: head-of-line blocking); on a queue it goes on with others and
        the message goes back to the queue."""
        wait = self.retry_backoff() if self.retry_backoff is not None else 0.0
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
            self._start(consumer, message, waited=False, first=False)

    def _requeue(self, message: Message) -> None:
        """A queue topic's message is back in the queue (at its tail)."""
        if self.idle and not self.paused:
            self._start(self.idle.pop(), message, waited=False)
        else:
            self.shared_queue.append((message, self.env.now))

    def _finish(self, consumer: Consumer, message: Message, now: float) -> None:
        """`message` leaves the group (consumed, dead-lettered or lost)."""
        self.lag -= 1
        self.partition_lag[message.partition] -= 1
        self._free(consumer)
        message.request.work_ended(now)

    def _free(self, consumer: Consumer) -> None:
        """The consumer is done with its message: it takes the next one, or becomes idle."""
        self.integrate(self.env.now)
        self.busy -= 1
        consumer.busy = False
        consumer.current = None
        if self.paused:
            self.idle_while_paused()
            return
        if not consumer.up:
            return
        queue = consumer.waiting if self.is_log else self.shared_queue
        if queue:
            message_waiting, delivered_at = queue.popleft()
            self._start(consumer, message_waiting, waited=self.env.now > delivered_at)
        elif not self.is_log:
            self.idle.append(consumer)

    # ------------------------------------------------------------------ faults

    def _consumers_of(self, replica: int) -> list[Consumer]:
        """The consumer threads that run on replica `replica` of the subscribing service."""
        first = replica * self.concurrency
        return self.consumers[first : first + self.concurrency]

    def replica_down(self, replica: int) -> None:
        """The consumers on `replica` stop; the messages they were processing go back to
        the head of their partition or queue (redelivered: at least once)."""
        now = self.env.now
        self.integrate(now)
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
            self.busy -= 1
            consumer.busy = False
            consumer.current = None
            if self.is_log:
                consumer.waiting.appendleft((message, now))
            else:
                self._requeue_first(message, now)

    def _requeue_first(self, message: Message, now: float) -> None:
        if self.idle and not self.paused:
            self._start(self.idle.pop(), message, waited=False)
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
            message, delivered_at = queue.popleft()
            self._start(consumer, message, waited=self.env.now > delivered_at)
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
        """The group's statistics (docs/results.md) from the end of warm-up to `now`."""
        self.integrate(now)
        stats = self.stats
        elapsed = now - stats.since
        return GroupResults(
            received=stats.received,
            consumed=stats.consumed,
            throughput=stats.consumed / duration,
            utilization=self.measured_utilization(stats.area_busy, elapsed),
            p_wait=stats.waited / stats.started if stats.started else 0.0,
            lag=Backlog(mean=stats.area_lag / elapsed, max=stats.max_lag, final=self.lag),
            max_partition_lag=stats.max_partition_lag,
            waiting_time=stats.waiting_time.summary(),
            sojourn_time=stats.sojourn_time.summary(),
            **(self._failure_counts() if self.reports_failures or self._failed() else {}),
            **self.scaling_figures(now),
        )

    def measured_utilization(self, busy_area: float, elapsed: float) -> float:
        """Busy thread-seconds over all thread-seconds of the measured period."""
        return busy_area / elapsed / self.threads

    def scaling_figures(self, now: float) -> dict[str, object]:
        """What an autoscaled group adds to its results (nothing here)."""
        return {}

    def _failed(self) -> bool:
        """Whether a message failed or was redelivered here (reported even in a scenario
        without failure features, e.g. a handler's call dropped by a full waiting room, so
        that no message leaves the counts silently)."""
        stats = self.stats
        return bool(stats.lost or stats.dead_lettered or stats.redelivered)

    def _failure_counts(self) -> dict[str, float]:
        """What a scenario with failures reports of a group (docs/results.md)."""
        stats = self.stats
        return {
            "attempts": stats.attempts,
            "redelivered": stats.redelivered,
            "dead_lettered": stats.dead_lettered,
            "lost": stats.lost,
        }


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
