"""Time series of one replication: backlog, utilization and flow rates every sample interval.

Sampled from time 0 (warm-up included, so that plots can shade it) every
`simulation.sample_interval`. Levels (queue length, in system, lag) are the values at the
sample instant; utilization, throughput and p99 are over the interval that ends there.
Stored in long format: (time, kind, entity, metric, value), compactly: a sample's rows are
kept as two float arrays (time, value) and an index into the table of (kind, entity,
metric) keys seen, 20 bytes a row (a model of 500 services samples half a million rows in a
short run).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping

import numpy as np
import simpy

from sim.engine.autoscaling import ScalableGroup, ScalableService
from sim.engine.calls import CallEdge
from sim.engine.flows import FlowRuntime
from sim.engine.guarded import GuardedService
from sim.engine.stations import ServiceRuntime
from sim.engine.topics import TopicRuntime

Row = tuple[float, str, str, str, float]
TimeSeriesColumns = dict[str, np.ndarray]
"""Columns time, kind, entity, metric, value (floats, and objects: strings)."""


class TimeSeriesSampler:
    """Records the state of every service, consumer group and flow at a fixed interval."""

    def __init__(
        self,
        env: simpy.Environment,
        end: float,
        interval: float,
        services: Mapping[str, ServiceRuntime],
        topics: Mapping[str, TopicRuntime],
        flows: Mapping[str, FlowRuntime],
        calls: Mapping[str, CallEdge] | None = None,
        failures: bool = False,
    ) -> None:
        self.env = env
        self.calls = calls or {}
        self.failures = failures  # add availability and success rates
        self.end = end
        self.interval = interval
        self.services = services
        self.topics = topics
        self.flows = flows
        self._times = array("d")
        self._values = array("d")
        self._key_indices = array("I")
        self._keys: dict[tuple[str, str, str], int] = {}  # (kind, entity, metric) -> index
        self._busy_area = {name: 0.0 for name in services}
        self._up_area = {name: 0.0 for name in services}
        self._group_busy_area: dict[tuple[str, str], float] = {}
        self._last_time = 0.0

    def start(self) -> None:
        """Take the first sample one interval after time 0."""
        self.env.timeout(self.interval).callbacks.append(self._sample)

    def finish(self) -> None:
        """Take the last sample at the end of the run (simpy stops before events at `end`)."""
        if self.end - self._last_time > 1e-9 * self.interval:
            self._sample(None)

    def _sample(self, _event: object) -> None:
        now = self.env.now
        elapsed = now - self._last_time
        rows: list[Row] = []
        for name, service in self.services.items():
            rows.append((now, "service", name, "queue_length", float(service.waiting())))
            rows.append((now, "service", name, "in_system", float(service.present())))
            busy_area = service.busy_area(now)
            if math.isfinite(service.total_workers):
                busy = (busy_area - self._busy_area[name]) / elapsed
                rows.append((now, "service", name, "utilization", busy / service.total_workers))
            self._busy_area[name] = busy_area
            if isinstance(service, ScalableService):
                rows.append((now, "service", name, "replicas", float(service.provisioned)))
            if self.failures and isinstance(service, GuardedService):
                up_area = service.up_area(now)
                availability = (up_area - self._up_area[name]) / elapsed
                rows.append((now, "service", name, "availability", availability))
                self._up_area[name] = up_area
        for topic in self.topics.values():
            for group in topic.groups:
                entity = f"{topic.name}/{group.name}"
                rows.append((now, "group", entity, "lag", float(group.lag)))
                previous = self._group_busy_area.get((topic.name, group.name), 0.0)
                threads = group.count if isinstance(group, ScalableGroup) else group.threads
                busy_area = group.busy_area(now)
                utilization = (busy_area - previous) / elapsed / max(threads, 1)
                rows.append((now, "group", entity, "utilization", utilization))
                if isinstance(group, ScalableGroup):
                    rows.append((now, "group", entity, "consumers", float(group.count)))
                self._group_busy_area[(topic.name, group.name)] = busy_area
                if group.is_log and group.partitioned:
                    for partition, lag in enumerate(group.partition_lag):
                        rows.append((now, "partition", f"{entity}/{partition}", "lag", float(lag)))
        for name, flow in self.flows.items():
            responses = flow.interval_responses
            rows.append((now, "flow", name, "throughput", len(responses) / elapsed))
            p99 = float(np.percentile(responses, 99)) if responses else math.nan
            rows.append((now, "flow", name, "p99", p99))
            if self._last_time >= flow.measure_from - 1e-9 * self.interval:
                flow.interval_ended(now, p99)
            if self.failures:
                answered = len(responses) + flow.interval_failures
                rate = len(responses) / answered if answered else math.nan
                rows.append((now, "flow", name, "success_rate", rate))
                flow.interval_failures = 0
            flow.interval_responses = []
        for label, edge in self.calls.items():
            if edge.breaker is not None:
                rows.append((now, "call", label, "open", edge.breaker.level(now)))
        self._last_time = now
        self._store(now, rows)
        if now + self.interval <= self.end + 1e-9 * self.interval:
            self.env.timeout(self.interval).callbacks.append(self._sample)

    def _store(self, now: float, rows: list[Row]) -> None:
        """Keep one sample's rows (module docstring)."""
        keys = self._keys
        self._times.extend([now] * len(rows))
        for _, kind, entity, metric, value in rows:
            key = (kind, entity, metric)
            index = keys.get(key)
            if index is None:
                index = keys[key] = len(keys)
            self._key_indices.append(index)
            self._values.append(value)

    def columns(self) -> TimeSeriesColumns:
        """The samples as columns (time, kind, entity, metric, value)."""
        table = np.empty((len(self._keys), 3), dtype=object)
        for key, index in self._keys.items():
            table[index] = key
        rows = table[np.frombuffer(self._key_indices, dtype=np.uint32)]
        return {
            "time": np.array(self._times, dtype=np.float64),
            "kind": rows[:, 0],
            "entity": rows[:, 1],
            "metric": rows[:, 2],
            "value": np.array(self._values, dtype=np.float64),
        }
