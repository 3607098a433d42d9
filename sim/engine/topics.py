"""Topics and consumer groups: logs with partitions (Kafka-like) and queues (RabbitMQ/SQS-like).

A published message gets a partition once (random, round robin, or by key) and is delivered
to every group of the topic (fan-out), after the topic's delivery latency.

- Log group: `replicas x concurrency` consumer threads; partition p is assigned to consumer
  p mod n with n = min(partitions, threads), so a group's parallelism is min(partitions,
  threads). A consumer serves the messages of its partitions one at a time in arrival order,
  so each partition is consumed in order by exactly one consumer.
- Queue group: one FIFO; any free consumer takes the next message (an M/G/c station).

A group's `lag` counts messages published to it and not yet consumed (in delivery, waiting
or being processed). Handlers run as jobs of the request that published the message, so a
flow's completion time includes them. Consumer threads are separate from request workers.
"""

from __future__ import annotations

import itertools
import zlib
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np
import simpy

from models.results import Backlog, GroupResults, TopicResults
from models.schema import Subscriber, Topic
from sim.engine.jobs import CompiledStep, Frame, Job, Outcome, Request
from sim.engine.metrics import Tally
from sim.engine.streams import Streams, draws_in_blocks


class Message:
    """One published message: the request that caused it, its partition, when it was sent."""

    __slots__ = ("partition", "published_at", "request", "sequence")

    def __init__(self, request: Request, partition: int, published_at: float, sequence: int):
        self.request = request
        self.partition = partition
        self.published_at = published_at
        self.sequence = sequence


class Consumer:
    """One consumer thread: its waiting messages and whether it is busy."""

    __slots__ = ("busy", "index", "waiting")

    def __init__(self, index: int) -> None:
        self.index = index
        self.busy = False
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
        self.waiting_time = Tally()
        self.sojourn_time = Tally()


class ConsumerGroup:
    """A subscribing service's consumer group on one topic."""

    def __init__(
        self,
        topic: TopicRuntime,
        service: str,
        spec: Subscriber,
        threads: int,
        handler: Sequence[CompiledStep],
        trace: list[tuple[str, str, int, int, float]] | None,
    ) -> None:
        self.topic = topic
        self.name = service
        self.env = topic.env
        self.handler = handler
        self.threads = threads
        self.is_log = topic.spec.type == "log"
        partitions = topic.spec.partitions
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
        if self.is_log:
            consumer = self.consumers[self.assignment[message.partition]]
            if consumer.busy:
                consumer.waiting.append((message, self.env.now))
            else:
                self._start(consumer, message, waited=False)
        elif self.idle:
            self._start(self.idle.pop(), message, waited=False)
        else:
            self.shared_queue.append((message, self.env.now))

    def _start(self, consumer: Consumer, message: Message, waited: bool) -> None:
        now = self.env.now
        self.integrate(now)
        consumer.busy = True
        self.busy += 1
        stats = self.stats
        stats.started += 1
        if waited:
            stats.waited += 1
        stats.waiting_time.add(now - message.published_at)
        if self.trace is not None:
            self.trace.append(
                (self.topic.name, self.name, message.partition, message.sequence, now)
            )
        handler = Job(message.request, None, self.handler, _handled, _no_reply)
        handler.replica = (self, consumer, message)
        handler.advance()

    def handled(self, consumer: Consumer, message: Message) -> None:
        """The handler of `message` has finished: count it and take the next one."""
        now = self.env.now
        self.integrate(now)
        stats = self.stats
        stats.consumed += 1
        stats.sojourn_time.add(now - message.published_at)
        self.lag -= 1
        self.partition_lag[message.partition] -= 1
        self.busy -= 1
        consumer.busy = False
        queue = consumer.waiting if self.is_log else self.shared_queue
        if queue:
            message_waiting, delivered_at = queue.popleft()
            self._start(consumer, message_waiting, waited=self.env.now > delivered_at)
        elif not self.is_log:
            self.idle.append(consumer)
        message.request.work_ended(now)

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
            utilization=stats.area_busy / elapsed / self.threads,
            p_wait=stats.waited / stats.started if stats.started else 0.0,
            lag=Backlog(mean=stats.area_lag / elapsed, max=stats.max_lag, final=self.lag),
            max_partition_lag=stats.max_partition_lag,
            waiting_time=stats.waiting_time.summary(),
            sojourn_time=stats.sojourn_time.summary(),
        )


def _handled(frame: Frame, _outcome: Outcome) -> None:
    """End of a handler job: tell its group (a failed call inside a handler still consumes)."""
    group, consumer, message = frame.job.replica
    group.handled(consumer, message)


def _no_reply(_job: Job, _outcome: Outcome) -> None:
    """Nobody waits for a message handler's reply."""


class TopicRuntime:
    """A topic during one replication: partitions messages and fans them out to groups."""

    def __init__(self, name: str, spec: Topic, env: simpy.Environment, streams: Streams) -> None:
        self.name = name
        self.spec = spec
        self.env = env
        self.groups: list[ConsumerGroup] = []
        self.published_count = 0
        self._sequence = itertools.count()
        self._uniform = streams.uniform(f"topics.{name}.partitioning")
        self._round_robin = itertools.cycle(range(spec.partitions))
        self._key_partition = self._key_sampler(streams) if spec.keys is not None else None
        latency = spec.delivery_latency
        self._latency: Callable[[], float] | None = (
            streams.sampler(latency, f"topics.{name}.delivery_latency")
            if latency is not None and not (latency.mean == 0 and latency.scv == 0)
            else None
        )

    def _key_sampler(self, streams: Streams) -> Callable[[], int]:
        """Keys 0..count-1 with Zipf popularity (key k has weight 1/(k+1)^skew); key k goes
        to partition k mod partitions."""
        keys = self.spec.keys
        assert keys is not None
        weights = 1.0 / np.arange(1, keys.count + 1, dtype=float) ** keys.skew
        probabilities = weights / weights.sum()
        rng = streams.generator(f"topics.{self.name}.keys")
        partitions = self.spec.partitions
        return draws_in_blocks(  # type: ignore[return-value]  # (integers)
            lambda size: rng.choice(keys.count, size=size, p=probabilities) % partitions
        )

    def partition_for(self, key: str | int | None) -> int:
        """The partition of a new message (a fixed key hashes to a stable partition)."""
        partitions = self.spec.partitions
        if partitions == 1:
            return 0
        if key is not None:
            return zlib.crc32(str(key).encode("utf-8")) % partitions
        if self._key_partition is not None:
            return self._key_partition()
        if self.spec.partitioning == "round_robin":
            return next(self._round_robin)
        return min(int(self._uniform() * partitions), partitions - 1)

    def publish(self, request: Request, key: str | int | None) -> None:
        """Publish one message now: every group receives it after the delivery latency."""
        self.published_count += 1
        message = Message(request, self.partition_for(key), self.env.now, next(self._sequence))
        now = self.env.now
        for group in self.groups:
            group.published(message)
            if self._latency is None:
                group.deliver(message)
                continue
            arrival = now + self._latency()
            if group.is_log:  # a later message of a partition never overtakes an earlier one
                arrival = max(arrival, group.last_delivery[message.partition])
                group.last_delivery[message.partition] = arrival
            self.env.timeout(arrival - now).callbacks.append(_Delivery(group, message))

    def reset(self, now: float) -> None:
        """End of warm-up: count publications afresh."""
        self.published_count = 0
        for group in self.groups:
            group.reset(now)

    def summary(self, now: float, duration: float) -> TopicResults:
        """The topic's statistics (docs/results.md) from the end of warm-up to `now`."""
        return TopicResults(
            published=self.published_count,
            groups={group.name: group.summary(now, duration) for group in self.groups},
        )


class _Delivery:
    """The callback that hands a message to a group once its delivery latency has passed."""

    __slots__ = ("group", "message")

    def __init__(self, group: ConsumerGroup, message: Message) -> None:
        self.group = group
        self.message = message

    def __call__(self, _event: object) -> None:
        self.group.deliver(self.message)
