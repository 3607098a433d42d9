"""What a consumer group reports: its `GroupResults`, from its counts and its levels.

A group counts as it goes (`GroupStats`, `sim.engine.consumers`) and keeps its levels (lag,
busy consumer threads) as signed time sums (`sim.engine.groups`); `group_results` turns them
into its record of the results document (docs/results.md) at the end of a replication, or
where it stopped. It runs once per group and replication, off the event path. It reads the
group through `ReportingGroup`, so that this module and `sim.engine.groups` do not import
each other; an autoscaled group (`sim.engine.autoscaling.ScalableGroup`) adds to the record
through the group's own `measured_utilization` and `scaling_figures`.
"""

from __future__ import annotations

from typing import Protocol

from models.results import Backlog, GroupResults
from sim.engine.consumers import GroupStats


class ReportingGroup(Protocol):
    """What `group_results` reads of a consumer group (`ConsumerGroup` has all of it)."""

    @property
    def stats(self) -> GroupStats:
        """The counts since the end of warm-up."""

    @property
    def lag(self) -> int:
        """Messages published to the group and not yet consumed, now."""

    @property
    def partitioned(self) -> bool:
        """Whether the topic has more than one partition (else its lag is the group's)."""

    @property
    def reports_failures(self) -> bool:
        """Whether the scenario uses failures (the record then always has their counts)."""

    @property
    def fast_hold(self) -> object:
        """The hold of the handler fast path, or None (`sim.engine.groups`)."""

    def lag_area(self, now: float) -> float:
        """The area under the lag from time 0 to `now`."""

    def busy_area(self, now: float) -> float:
        """The area under the number of busy consumer threads from time 0 to `now`."""

    def measured_utilization(self, busy_area: float, elapsed: float) -> float:
        """Busy thread-seconds over all thread-seconds of the measured period."""

    def scaling_figures(self, now: float) -> dict[str, object]:
        """What an autoscaled group adds to its record."""


def group_results(group: ReportingGroup, now: float, duration: float) -> GroupResults:
    """The record of `group` (docs/results.md) from the end of warm-up to `now`, the
    measured period lasting `duration` (received = consumed + dead-lettered + lost + the
    change in lag; time averages as differences of signed time sums)."""
    stats = group.stats
    stats.flush()
    started = stats.waiting_time.count
    finished = stats.consumed + stats.dead_lettered + stats.lost
    elapsed = now - stats.since
    lag_area = group.lag_area(now) - stats.areas_at_start[0]
    busy_area = group.busy_area(now) - stats.areas_at_start[1]
    return GroupResults(
        received=finished + group.lag - stats.lag_at_start,
        consumed=stats.consumed,
        throughput=stats.consumed / duration,
        utilization=group.measured_utilization(busy_area, elapsed),
        p_wait=stats.waited / started if started else 0.0,
        lag=Backlog(mean=lag_area / elapsed, max=stats.max_lag, final=group.lag),
        max_partition_lag=stats.max_partition_lag if group.partitioned else stats.max_lag,
        waiting_time=stats.waiting_time.summary(),
        sojourn_time=stats.sojourn_time.summary(),
        **(
            failure_counts(stats, group.fast_hold is not None)
            if group.reports_failures or has_failed(stats)
            else {}
        ),
        **group.scaling_figures(now),
    )


def has_failed(stats: GroupStats) -> bool:
    """Whether a message failed or was redelivered (reported even in a scenario without
    failure features, e.g. a handler's call dropped by a full waiting room, so that no
    message leaves the counts silently)."""
    return bool(stats.lost or stats.dead_lettered or stats.redelivered)


def failure_counts(stats: GroupStats, fast_path: bool) -> dict[str, float]:
    """What a scenario with failures reports of a group (docs/results.md). In the handler
    fast path (`fast_path`) every start is an attempt: the starts are the waits recorded."""
    return {
        "attempts": stats.waiting_time.count if fast_path else stats.attempts,
        "redelivered": stats.redelivered,
        "dead_lettered": stats.dead_lettered,
        "lost": stats.lost,
    }
