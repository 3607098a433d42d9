"""Injecting faults into a replication, and measuring how the system rides them.

`FaultInjector` schedules every fault of the scenario (`models.faults`) on simpy's calendar:
replicas going down and up (outages, random crashes), slowdown factors, error probabilities,
and broker outages of topics. `RecoveryMonitor` follows the backlog of a fault's target (the
requests present at its services plus the lag of its consumer groups) to report, per fault,
the backlog's peak and the time it took to recover (docs/results.md, "faults").

The backlog is read every `resolution` seconds (a fiftieth of the window, at most the
sample interval): the peak and the recovery time are exact to that resolution.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import simpy

from models.faults import Crash, ErrorBurst, Fault, ServiceOutage, Slowdown, TopicOutage
from models.results import FaultResults
from sim.engine.guarded import GuardedService
from sim.engine.stations import ServiceRuntime
from sim.engine.streams import Streams
from sim.engine.topics import TopicRuntime


def _each(actions: Iterable[Callable[[], None]]) -> None:
    for action in actions:
        action()


def at_time(env: simpy.Environment, time: float, action: Callable[[], None]) -> None:
    """Run `action` at simulated time `time` (from the start of the run)."""
    env.timeout(max(0.0, time - env.now)).callbacks.append(lambda _event: action())


class RecoveryMonitor:
    """The backlog of one fault's target, read every `resolution` seconds from `start`."""

    def __init__(
        self,
        env: simpy.Environment,
        backlog: Callable[[], float],
        start: float,
        end: float,
        resolution: float,
    ) -> None:
        self.env = env
        self.backlog = backlog
        self.end = end
        self.resolution = resolution
        self.times: list[float] = []
        self.values: list[float] = []
        at_time(env, start, self._read)

    def _read(self) -> None:
        now = self.env.now
        self.times.append(now)
        self.values.append(self.backlog())
        if now + self.resolution <= self.end:
            self.env.timeout(self.resolution).callbacks.append(lambda _event: self._read())

    def window(self, start: float, end: float, baseline_from: float) -> tuple[float, float | None]:
        """(backlog peak from `start`, recovery time after `end`) of one window: recovered
        when the backlog is at or below its mean over [baseline_from, start)."""
        times, values = self.times, self.values
        first = bisect.bisect_left(times, baseline_from)
        begin = bisect.bisect_left(times, start)
        before = values[first:begin]
        baseline = math.fsum(before) / len(before) if before else 0.0
        peak = 0.0
        for index in range(begin, len(times)):
            value = values[index]
            peak = max(peak, value)
            if times[index] >= end and value <= baseline:
                return peak, times[index] - end
        return peak, None


class FaultInjector:
    """Schedules the faults of a scenario and reports their recovery figures."""

    def __init__(
        self,
        env: simpy.Environment,
        faults: Sequence[Fault],
        services: Mapping[str, ServiceRuntime],
        topics: Mapping[str, TopicRuntime],
        streams: Streams,
        end: float,
        sample_interval: float,
    ) -> None:
        self.env = env
        self.faults = faults
        self.services = services
        self.topics = topics
        self.end = end
        self.monitors: list[RecoveryMonitor] = []
        self.crash_windows: list[list[tuple[float, float]]] = []
        for index, fault in enumerate(faults):
            self.crash_windows.append([])
            self._schedule(index, fault, streams)
            if isinstance(fault, Crash):
                mean_down = fault.mttr.mean
                resolution = (
                    min(sample_interval, mean_down / 10) if mean_down > 0 else sample_interval
                )
                start = 0.0
            else:
                resolution = min(sample_interval, fault.for_ / 50)
                start = max(0.0, fault.at - fault.for_)
            self.monitors.append(
                RecoveryMonitor(env, self._backlog_of(fault), start, end, resolution)
            )

    def _schedule(self, index: int, fault: Fault, streams: Streams) -> None:
        env = self.env
        if isinstance(fault, TopicOutage):
            groups = self.topics[fault.topic].groups
            at_time(env, fault.at, lambda: _each(group.pause for group in groups))
            at_time(env, fault.end, lambda: _each(group.resume for group in groups))
            return
        service = self.services[fault.service]
        if isinstance(fault, ServiceOutage):
            assert isinstance(service, GuardedService)
            replicas = range(fault.replicas or len(service.up))
            down = [functools.partial(service.replica_down, index) for index in replicas]
            up = [functools.partial(service.replica_up, index) for index in replicas]
            at_time(env, fault.at, lambda: _each(down))
            at_time(env, fault.end, lambda: _each(up))
        elif isinstance(fault, Slowdown):
            at_time(env, fault.at, lambda: setattr(service, "slow_factor", fault.factor))
            at_time(env, fault.end, lambda: setattr(service, "slow_factor", 1.0))
        elif isinstance(fault, ErrorBurst):
            at_time(env, fault.at, lambda: setattr(service, "error_probability", fault.probability))
            at_time(env, fault.end, lambda: setattr(service, "error_probability", 0.0))
        else:
            assert isinstance(service, GuardedService)
            for replica in range(len(service.up)):
                path = f"faults[{index}].replicas[{replica}]"
                up_time = streams.sampler(fault.mtbf, f"{path}.mtbf")
                down_time = streams.sampler(fault.mttr, f"{path}.mttr")
                self._crash_cycle(service, replica, up_time, down_time, self.crash_windows[index])

    def _crash_cycle(
        self,
        service: GuardedService,
        replica: int,
        up_time: Callable[[], float],
        down_time: Callable[[], float],
        windows: list[tuple[float, float]],
    ) -> None:
        """Replica `replica` alternates up (drawn from `up_time`) and down (`down_time`)."""
        env = self.env

        def go_down() -> None:
            start = env.now
            service.replica_down(replica)
            duration = down_time()
            windows.append((start, start + duration))
            at_time(env, start + duration, go_up)

        def go_up() -> None:
            service.replica_up(replica)
            at_time(env, env.now + up_time(), go_down)

        at_time(env, up_time(), go_down)

    def _backlog_of(self, fault: Fault) -> Callable[[], float]:
        """Requests present at the target service plus the lag of its consumer groups, or
        the lag of a topic's groups."""
        if isinstance(fault, TopicOutage):
            groups = list(self.topics[fault.topic].groups)
            return lambda: float(sum(group.lag for group in groups))
        service = self.services[fault.service]
        groups = [
            group
            for topic in self.topics.values()
            for group in topic.groups
            if group.name == fault.service
        ]
        return lambda: float(service.present() + sum(group.lag for group in groups))

    def summary(self, measure_from: float) -> list[FaultResults]:
        """Per fault: its window, the backlog's peak and the recovery time (docs/results.md);
        a random crash reports the mean over its windows that started after `measure_from`."""
        results = []
        for fault, monitor, windows in zip(
            self.faults, self.monitors, self.crash_windows, strict=True
        ):
            target = fault.topic if isinstance(fault, TopicOutage) else fault.service
            if isinstance(fault, Crash):
                results.append(self._crash_summary(target, monitor, windows, measure_from))
                continue
            peak, recovery = monitor.window(fault.at, fault.end, fault.at - fault.for_)
            results.append(
                FaultResults(
                    target=target,
                    kind=fault.kind,
                    at=fault.at,
                    for_=fault.for_,
                    backlog_peak=peak,
                    recovery_time=recovery,
                )
            )
        return results

    def _crash_summary(
        self,
        target: str,
        monitor: RecoveryMonitor,
        windows: list[tuple[float, float]],
        measure_from: float,
    ) -> FaultResults:
        measured = [(start, end) for start, end in windows if start >= measure_from]
        peaks, recoveries = [], []
        for start, end in measured:
            peak, recovery = monitor.window(start, end, max(0.0, start - (end - start)))
            peaks.append(peak)
            if recovery is not None:
                recoveries.append(recovery)
        return FaultResults(
            target=target,
            kind="crash",
            at=None,
            for_=None,
            windows=len(measured),
            backlog_peak=math.fsum(peaks) / len(peaks) if peaks else None,
            recovery_time=math.fsum(recoveries) / len(recoveries) if recoveries else None,
        )
