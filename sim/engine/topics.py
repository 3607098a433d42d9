"""Topics: logs with partitions (Kafka-like) and queues (RabbitMQ/SQS-like).

A published message gets a partition once (random, round robin, or by key) and is delivered
to every consumer group of the topic (fan-out, `sim.engine.groups`), after the topic's
delivery latency, which never reorders a partition.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable

import numpy as np
import simpy

from models.results import TopicResults
from models.schema import Topic
from sim.engine.groups import ConsumerGroup, Message
from sim.engine.jobs import Request
from sim.engine.streams import Streams, draws_in_blocks


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
