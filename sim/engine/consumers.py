"""A consumer group's parts: the messages it receives, its consumer threads, what it counts.

See `sim.engine.groups` for how a group uses them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from sim.engine.jobs import Job, Request
from sim.engine.metrics import Tally

Message = tuple[Request, int, float, int]
"""One published message: (request that caused it, partition, time published, sequence
number in its topic). A plain tuple, shared by the groups of the topic: the event path
creates one per publish, and a tuple costs a fraction of an object (hot code unpacks it)."""


def partition_of(message: Message) -> int:
    """The partition of `message`."""
    return message[1]


class Consumer:
    """One consumer thread: its waiting messages, whether it is busy (and with what), and
    whether its replica is up. In the handler fast path (`ConsumerGroup`) the consumer is
    the wake-up of its own hold, as a frame is (`sim.engine.jobs`)."""

    __slots__ = ("busy", "callbacks", "current", "index", "job", "up", "waiting")

    _ok = True  # as a simpy event: a wake-up always succeeds
    callbacks: list[Callable[[Any], None]]  # (shared by the consumers of a group)

    def __init__(self, index: int) -> None:
        self.index = index
        self.busy = False
        self.up = True
        self.current: Message | None = None  # the message it is busy with
        self.job: Job | None = None  # its handler run (None while it waits to retry)
        self.waiting: deque[tuple[Message, float]] = deque()


class GroupStats:
    """What a consumer group reports (docs/results.md), counted from `since` (the end of
    warm-up): counts, latencies, and the lag and the areas under lag and busy threads at
    `since`, so that the measured period's time averages are differences of signed time sums.
    Counts that follow from others are not kept: received = consumed + dead-lettered + lost
    + the change in lag; starts = the number of waiting times recorded."""

    def __init__(
        self, now: float, areas: tuple[float, float], lag: int, partition_lags: Sequence[int]
    ) -> None:
        self.since = now
        self.areas_at_start = areas
        self.lag_at_start = lag
        self.consumed = 0
        self.waited = 0
        self.immediate = 0  # starts at publication, not yet in `waiting_time` (see `flush`)
        self.max_lag = lag
        self.max_partition_lag = max(partition_lags, default=0)
        self.attempts = 0
        self.redelivered = 0
        self.dead_lettered = 0
        self.lost = 0
        self.waiting_time = Tally()
        self.sojourn_time = Tally()

    def flush(self) -> None:
        """Bin the buffered latencies (see `Tally.record`) and the waits of 0."""
        self.waiting_time.add_zeros(self.immediate)
        self.immediate = 0
        self.waiting_time.flush()
        self.sojourn_time.flush()
