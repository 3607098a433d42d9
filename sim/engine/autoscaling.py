"""Autoscaling during a replication: services (HPA) and consumer groups (KEDA).

`ScalableService` is a `GuardedService` whose replicas come and go: a new replica serves
after its start-up delay; a removed one takes nothing new and leaves when its last request
has left (with `balancing: shared`, the pool loses its workers at once and the requests in
service finish). It keeps the count of provisioned replicas (starting, serving, draining) as
a level, for `replicas: {mean, max, final}` and `replica_seconds`, and the workers that can
serve, as the denominator of its utilization.

`ServiceAutoscaler` and `GroupAutoscaler` decide every `interval` (models/autoscale.py):
desired = ceil(current x observed / target) for a service, ceil(lag / target) for a group,
within [min, max] (and the partitions of a log topic); a scale-up is done at once, a
scale-down goes to the largest desired count of the last `stabilization`.
"""

from __future__ import annotations

import collections
import math
from typing import Any

import simpy

from models.autoscale import GroupAutoscale, ServiceAutoscale
from models.results import Backlog
from models.schema import Service
from sim.engine.consumers import Consumer, partition_of
from sim.engine.groups import ConsumerGroup
from sim.engine.guarded import GuardedService
from sim.engine.jobs import Frame, GuardedWork, Outcome
from sim.engine.stations import Replica
from sim.engine.streams import Streams


class ScalableService(GuardedService):
    """A service whose replicas an autoscaler adds and removes (module docstring)."""

    def __init__(self, name: str, spec: Service, env: simpy.Environment, streams: Streams) -> None:
        super().__init__(name, spec, env, streams)
        self.priority = spec.discipline == "priority"
        self.draining = [False] * spec.replicas  # removed: takes nothing new
        self.gone = [False] * spec.replicas  # removed and empty
        self.has_workers = [True] * spec.replicas  # its workers count in `serving_workers`
        self.provisioned = spec.replicas  # starting + serving + draining
        self.count_sum = 0.0  # signed time sum of `provisioned` (a level from time 0)
        self.serving_workers = self.workers_per_replica * spec.replicas
        self.workers_sum = 0.0  # signed time sum of `serving_workers`
        self.count_at_start = (0.0, 0.0)  # (replica-seconds, worker-seconds) at warm-up end
        self.count_max = spec.replicas  # since the end of warm-up

    # ------------------------------------------------------------------ levels

    def _count_changed(self, change: int) -> None:
        self.count_sum -= change * self.env.now
        self.provisioned += change
        self.count_max = max(self.count_max, self.provisioned)

    def _workers_changed(self, change: float) -> None:
        self.workers_sum -= change * self.env.now
        self.serving_workers += change

    def count_area(self, now: float) -> float:
        """Replica-seconds (provisioned replicas) from time 0 to `now`."""
        return self.count_sum + self.provisioned * now

    def workers_area(self, now: float) -> float:
        """Worker-seconds of started replicas (not yet gone) from time 0 to `now`."""
        return self.workers_sum + self.serving_workers * now

    def reset(self, now: float) -> None:
        """End of warm-up: replicas counted afresh as well."""
        super().reset(now)
        self.count_at_start = (self.count_area(now), self.workers_area(now))
        self.count_max = self.provisioned

    # ------------------------------------------------------------------ scaling

    def add_replica(self, startup: float) -> None:
        """Provision one more replica; it serves after `startup`."""
        index = len(self.up)
        for flags, value in (
            (self.up, True),
            (self.serving, False),
            (self.taking, False),
            (self.draining, False),
            (self.gone, False),
            (self.has_workers, False),
        ):
            flags.append(value)
        if not self.shared:
            replica = Replica(self.workers_per_replica, self.capacity_per_replica, self.priority)
            self.replicas.append(replica)
            self.jobs[id(replica)] = {}
        self._count_changed(+1)
        if startup > 0:
            self.env.timeout(startup).callbacks.append(lambda _event: self._started(index))
        else:
            self._started(index)

    def _started(self, index: int) -> None:
        if self.draining[index]:
            return  # (removed before it started)
        self.serving[index] = True
        self.has_workers[index] = True
        self._workers_changed(+self.workers_per_replica)
        self._refresh(index)

    def remove_replica(self) -> None:
        """Remove the newest replica that is not already leaving (if any)."""
        candidates = [i for i in range(len(self.up)) if not (self.draining[i] or self.gone[i])]
        if not candidates:
            return
        index = candidates[-1]
        self.draining[index] = True
        self.serving[index] = False
        self._refresh(index)
        if self.shared or self.replicas[index].present == 0:
            self._gone(index)

    def _gone(self, index: int) -> None:
        self.gone[index] = True
        if self.has_workers[index]:
            self.has_workers[index] = False
            self._workers_changed(-self.workers_per_replica)
        self._count_changed(-1)

    def _leave(self, job: GuardedWork, replica: Replica, now: float) -> None:
        super()._leave(job, replica, now)
        self._check_drained(replica)

    def _operation_ended(self, frame: Frame, outcome: Outcome) -> None:
        replica = frame.job.replica
        super()._operation_ended(frame, outcome)
        self._check_drained(replica)

    def _check_drained(self, replica: Replica) -> None:
        """A draining replica whose last request has left is gone."""
        if self.shared or replica.present:
            return
        index = self.replicas.index(replica)
        if self.draining[index] and not self.gone[index]:
            self._gone(index)

    # ------------------------------------------------------------------ results

    def measured_utilization(self, busy: float, elapsed: float) -> float | None:
        """Busy worker-seconds over the worker-seconds of started replicas."""
        workers = self.workers_area(self.stats.since + elapsed) - self.count_at_start[1]
        return busy / workers if workers > 0 else None

    def scaling_figures(self, now: float) -> dict[str, object]:
        """`replicas` (mean, max, final) and `replica_seconds` of the measured period."""
        seconds = self.count_area(now) - self.count_at_start[0]
        elapsed = now - self.stats.since
        mean = seconds / elapsed if elapsed > 0 else float(self.provisioned)
        return {
            "replicas": Backlog(mean=mean, max=self.count_max, final=self.provisioned),
            "replica_seconds": seconds,
        }


class ScalableGroup(ConsumerGroup):
    """A consumer group whose consumer threads an autoscaler adds and removes.

    Queue topic: new consumers take messages at once; removed ones leave when their message
    is done. Log topic: a change of the count is a stop-the-world rebalance (Kafka's eager
    protocol): consumers start nothing new, and once none is busy the partitions are
    reassigned (partition p to consumer p mod n) with their waiting messages in publication
    order, so that each partition stays in order and with one consumer.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partitions = len(self.partition_lag)
        self.consumer_target = len(self.consumers)
        self.count = len(self.consumers)  # consumer threads now
        self.count_sum = 0.0  # signed time sum of `count`
        self.count_at_start = 0.0
        self.count_max = self.count
        self.rebalance_to: int | None = None
        self.paused_by_outage = False

    def _set_count(self, count: int) -> None:
        now = self.env.now
        self.count_sum -= (count - self.count) * now
        self.count = count
        self.count_max = max(self.count_max, count)

    def scale_to(self, count: int) -> None:
        """Run `count` consumer threads from now on (module docstring)."""
        if self.is_log:
            self.rebalance_to = min(count, self.partitions)
            if not self.paused:
                self.paused = True
            if not self.busy:
                self._rebalance()
            return
        current = [consumer for consumer in self.consumers if consumer.up]
        if count > len(current):
            for _ in range(count - len(current)):
                consumer = Consumer(len(self.consumers))
                self.consumers.append(consumer)
                self.idle.append(consumer)
            now = self.env.now
            while self.idle and self.shared_queue and not self.paused:
                message, delivered_at = self.shared_queue.popleft()
                consumer = self.idle.pop()
                self._set_busy(consumer, now)
                self._start(consumer, message, now > delivered_at, now)
        else:
            for consumer in reversed(current[count:]):
                consumer.up = False  # (it leaves when its message is done)
                if consumer in self.idle:
                    self.idle.remove(consumer)
                self.consumers.remove(consumer)
        self._set_count(count)

    def idle_while_paused(self) -> None:
        """The last busy consumer of a rebalancing group is done: rebalance now."""
        if self.rebalance_to is not None and not self.busy:
            self._rebalance()

    def pause(self) -> None:
        """The broker is down (kept apart from a rebalance's pause)."""
        self.paused_by_outage = True
        self.paused = True

    def resume(self) -> None:
        """The broker is back (the group stays paused while it rebalances)."""
        self.paused_by_outage = False
        if self.rebalance_to is None:
            super().resume()

    def _rebalance(self) -> None:
        count = self.rebalance_to
        assert count is not None
        self.rebalance_to = None
        waiting = [entry for consumer in self.consumers for entry in consumer.waiting]
        waiting.sort(key=lambda entry: entry[0][3])  # publication order (the sequence)
        consumers = self.consumers[:count]
        consumers += [Consumer(index) for index in range(len(consumers), count)]
        for consumer in consumers:
            consumer.waiting.clear()
        self.consumers = consumers
        self.assignment = [partition % count for partition in range(self.partitions)]
        for message, delivered_at in waiting:
            consumers[self.assignment[partition_of(message)]].waiting.append(
                (message, delivered_at)
            )
        self._set_count(count)
        if not self.paused_by_outage:
            super().resume()

    # ------------------------------------------------------------------ results

    def reset(self, now: float) -> None:
        """End of warm-up: consumers counted afresh as well."""
        super().reset(now)
        self.count_at_start = self.count_sum + self.count * now
        self.count_max = self.count

    def measured_utilization(self, busy_area: float, elapsed: float) -> float:
        """Busy thread-seconds over the thread-seconds of the consumers there were."""
        now = self.stats.since + elapsed
        threads = self.count_sum + self.count * now - self.count_at_start
        return busy_area / threads if threads > 0 else 0.0

    def scaling_figures(self, now: float) -> dict[str, object]:
        """`consumers` (mean, max, final) of the measured period."""
        elapsed = now - self.stats.since
        area = self.count_sum + self.count * now - self.count_at_start
        mean = area / elapsed if elapsed > 0 else float(self.count)
        return {"consumers": Backlog(mean=mean, max=self.count_max, final=self.count)}


class Recommendations:
    """The desired counts of the last `stabilization` seconds (scale-down stabilization)."""

    def __init__(self, stabilization: float) -> None:
        self.stabilization = stabilization
        self.history: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, now: float, desired: int) -> int:
        """Record `desired` now; the largest desired count of the window."""
        self.history.append((now, desired))
        while self.history and self.history[0][0] < now - self.stabilization:
            self.history.popleft()
        return max(count for _, count in self.history)


class ServiceAutoscaler:
    """HPA rules for one `ScalableService` (module docstring)."""

    def __init__(
        self, env: simpy.Environment, service: ScalableService, spec: ServiceAutoscale
    ) -> None:
        self.env = env
        self.service = service
        self.spec = spec
        self.recommendations = Recommendations(spec.stabilization)
        self.recommendations.add(env.now, service.provisioned)  # (as HPA: the start counts)
        self.target_count = service.provisioned
        self._last = self._areas(0.0)
        env.timeout(spec.interval).callbacks.append(self._decide)

    def _areas(self, now: float) -> tuple[float, float, float, float]:
        waiting, present, busy = self.service.areas(now)
        return waiting, present, busy, self.service.workers_area(now)

    def desired(self, now: float) -> int:
        """ceil(current x observed / target) with the observed value per started replica:
        the busy workers (or the waiting or present requests) averaged over the last
        interval, over what one replica at the target holds. Replicas still starting do not
        dilute the observation (Kubernetes counts ready pods)."""
        areas = self._areas(now)
        waiting, present, busy, _ = (new - old for new, old in zip(areas, self._last, strict=True))
        self._last = areas
        spec = self.spec
        if spec.metric == "utilization":
            total, per_replica = busy, self.service.workers_per_replica * spec.target
        else:
            total, per_replica = waiting if spec.metric == "queue_length" else present, spec.target
        return math.ceil(total / spec.interval / per_replica - 1e-9)

    def _decide(self, _event: object) -> None:
        now = self.env.now
        spec = self.spec
        current = self.target_count
        desired = min(max(self.desired(now), spec.min), spec.max)
        stable = self.recommendations.add(now, desired)
        if desired > current:
            for _ in range(desired - current):
                self.service.add_replica(spec.startup)
            self.target_count = desired
        elif stable < current:
            for _ in range(current - stable):
                self.service.remove_replica()
            self.target_count = stable
        self.env.timeout(spec.interval).callbacks.append(self._decide)


class GroupAutoscaler:
    """KEDA rules for one consumer group's consumer threads (module docstring)."""

    def __init__(self, env: simpy.Environment, group: ScalableGroup, spec: GroupAutoscale) -> None:
        self.env = env
        self.group = group
        self.spec = spec
        self.recommendations = Recommendations(spec.stabilization)
        self.recommendations.add(env.now, group.consumer_target)
        self.target_count = group.consumer_target
        self.limit = min(spec.max, group.partitions) if group.is_log else spec.max
        self._last_lag_area = 0.0
        env.timeout(spec.interval).callbacks.append(self._decide)

    def _decide(self, _event: object) -> None:
        now = self.env.now
        spec = self.spec
        lag_area = self.group.lag_area(now)
        lag = (lag_area - self._last_lag_area) / spec.interval
        self._last_lag_area = lag_area
        desired = min(max(math.ceil(lag / spec.target - 1e-9), spec.min), self.limit)
        current = self.target_count
        stable = self.recommendations.add(now, desired)
        if desired > current:
            self.target_count = desired
            self._apply(desired, spec.startup)
        elif stable < current:
            self.target_count = stable
            self._apply(stable, 0.0)
        self.env.timeout(spec.interval).callbacks.append(self._decide)

    def _apply(self, count: int, startup: float) -> None:
        if startup > 0:
            self.env.timeout(startup).callbacks.append(
                lambda _event: self.group.scale_to(self.target_count)
            )
        else:
            self.group.scale_to(count)
