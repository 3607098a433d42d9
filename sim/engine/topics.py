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
from sim.engine.consumers import Message
from sim.engine.groups import ConsumerGroup
from sim.engine.jobs import Request
from sim.engine.streams import Streams, draws_in_blocks


class TopicRuntime:
    """A topic during one replication: partitions messages and fans them out to groups."""

    def __init__(self, name: str, spec: Topic, env: simpy.Environment, streams: Streams) -> None:
        self.name = name
        self.spec = spec
        self.env = env
        self.groups: list[ConsumerGroup] = []
        self.receivers: list[Callable[[Message, float], None]] = []  # `receive` of each group
        self.published_count = 0
        self.partitioned = spec.partitions > 1
        self._next_sequence = itertools.count().__next__
        self._next_partition = self._partitioner(streams)
        latency = spec.delivery_latency
        self._latency: Callable[[], float] | None = (
            streams.sampler(latency, f"topics.{name}.delivery_latency")
            if latency is not None and not (latency.mean == 0 and latency.scv == 0)
            else None
        )

    def _partitioner(self, streams: Streams) -> Callable[[], int]:
        """The partition of each new message without a fixed key: by popular keys, round
        robin, or uniformly at random (floor(u x partitions), drawn in numpy blocks)."""
        partitions = self.spec.partitions
        if partitions == 1:
            return itertools.repeat(0).__next__
        if self.spec.keys is not None:
            return self._key_sampler(streams)
        if self.spec.partitioning == "round_robin":
            return itertools.cycle(range(partitions)).__next__
        rng = streams.generator(f"topics.{self.name}.partitioning")
        return draws_in_blocks(  # type: ignore[return-value]  # (integers)
            lambda size: np.minimum(
                (rng.random(size) * partitions).astype(np.int64), partitions - 1
            )
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
        if key is None:
            return self._next_partition()
        return zlib.crc32(str(key).encode("utf-8")) % self.spec.partitions

    def publish(self, request: Request, key: str | int | None = None) -> None:
        """Publish one message now: every group receives it after the delivery latency."""
        self.published_count += 1
        partition = self._next_partition() if key is None else self.partition_for(key)
        now = self.env._now
        message = (request, partition, now, self._next_sequence())
        if self._latency is None:
            for receive in self.receivers:
                receive(message, now)
            return
        for group in self.groups:
            group.published(message)
            arrival = now + self._latency()
            if group.is_log:  # a later message of a partition never overtakes an earlier one
                arrival = max(arrival, group.last_delivery[partition])
                group.last_delivery[partition] = arrival
            self.env.timeout(arrival - now).callbacks.append(_Delivery(group, message))

    def add_group(self, group: ConsumerGroup) -> None:
        """Deliver this topic's messages to `group` too (fan-out)."""
        self.groups.append(group)
        self.receivers.append(group.receive)

    def reset(self, now: float) -> None:
        """End of warm-up: count publications afresh."""
        self.published_count = 0
        for group in self.groups:
            group.reset(now)

    def summary(self, now: float, duration: float) -> TopicResults:
        """The topic's statistics (docs/results.md) from the end of warm-up to `now`."""
        return TopicResults(
            published=self.published_count,
            publish_rate=self.published_count / duration if duration > 0 else 0.0,
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
