"""Warnings about a simulation's results: what an architect should know before reading them.

Three kinds, in this order (`results_warnings`), each naming the station or flow:

**Overload** (`overload_warnings`): a station that cannot keep up never reaches a steady
state: its backlog grows about (arrival rate - capacity) x time, and its means and
percentiles depend on the run length. The simulation detects this by conservation over the
measured period: for a service, arrivals - drops - completions = backlog at the end - backlog
at the start; for a consumer group, received - consumed = lag at the end - lag at the start.
A stable station's backlog changes by a few times its mean; an unstable one's by a fixed
fraction of all arrivals.

**Near saturation** (`saturation_warnings`): a stable station whose measured utilization
(the mean over replications) is above `NEAR_SATURATION` = 85%. Its latencies are steep in the
load: in an M/M/1 queue the mean wait is rho / (1 - rho) service times, 5.7 at 85%, 9 at 90%,
19 at 95%, so 5% more load doubles the wait, and a capacity plan with so little headroom
breaks at the first burst. A service that turns away at least `TURNED_AWAY` = 1% of its
arrivals (a full waiting room, a rate limit, a queue timeout, no replica up) is past that
point: its limits, not its capacity, keep it stable, and the warning says so instead. A
station that is overloaded gets the overload warning only; a service with
`workers: unlimited` has no utilization and never warns.

**Too few responses** (`sample_size_warnings`): a percentile is only as good as the responses
beyond it. Of n responses, about n (1 - p) lie above the p-quantile, so the estimate of the
p-quantile is simply the largest response once n < 1 / (1 - p) (100 for p99, 1,000 for
p99.9), and rests on about 10 responses beyond it (a relative error of roughly 1 / sqrt(10),
30%, on the tail probability) only once n >= 10 / (1 - p) (1,000 for p99, 10,000 for p99.9).
A flow warns when its completed count per replication (the mean over replications) is below
`P99_RESPONSES` = 100, where its p99 (and p99.9) are the largest of a handful of responses,
or below `P999_RESPONSES` = 1,000, where its p99.9 is; and when it completed nothing at all
(no latency to report). Between those counts and 10 / (1 - p) the percentile is noisy but
not meaningless; its confidence interval across replications shows how noisy, so that band
does not warn (it would flag most short runs of low-rate flows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from models.results import Measurements

GROWTH_FRACTION = 0.02  # backlog growth, as a fraction of the arrivals, that flags overload
GROWTH_MINIMUM = 30.0  # ... and at least this many requests or messages
NEAR_SATURATION = 0.85  # utilization above which a stable station is near saturation
P99_RESPONSES = 100  # fewer completions per replication: the p99 is the largest response
P999_RESPONSES = 1000  # fewer completions per replication: the p99.9 is the largest response
TURNED_AWAY = 0.01  # a saturated station that turns away this fraction of arrivals is lossy


@dataclass(frozen=True)
class _Station:
    """A service or a consumer group, as the warnings see it."""

    label: str
    """How a warning names it: ``service 'db'``, ``consumer group 'x' on topic 't'``."""
    arrived: float
    """Requests or messages that arrived in the measured period."""
    growth: float
    """Growth of its backlog (or lag) over the measured period."""
    utilization: float | None
    is_group: bool
    turned_away: float = 0.0
    """Arrivals refused or given up on at the door (dropped, rejected, timed out in the
    waiting room, no replica up)."""
    reasons: tuple[str, ...] = ()
    """Why they were turned away, e.g. ``("full waiting room",)``."""


def _stations(summary: Measurements, duration: float) -> Iterator[_Station]:
    """Every service, then every consumer group, with its conservation balance."""
    for name, service in summary.services.items():
        arrived = service.arrival_rate * duration
        counts = {
            "full waiting room": service.dropped,
            "rate limit": service.rejected or 0.0,
            "queue timeout": service.timed_out or 0.0,
            "no replica up": service.unavailable or 0.0,
        }
        left = sum(counts.values())
        growth = arrived - left - service.throughput * duration
        reasons = tuple(reason for reason, count in counts.items() if count > 0)
        label = f"service '{name}'"
        yield _Station(label, arrived, growth, service.utilization, False, left, reasons)
    for topic_name, topic in summary.topics.items():
        for group_name, group in topic.groups.items():
            growth = group.received - group.consumed - (group.dead_lettered or 0.0)
            growth -= group.lost or 0.0
            label = f"consumer group '{group_name}' on topic '{topic_name}'"
            yield _Station(label, group.received, growth, group.utilization, True)


def _unstable(station: _Station) -> bool:
    return station.growth > max(GROWTH_MINIMUM, GROWTH_FRACTION * station.arrived)


def results_warnings(summary: Measurements, duration: float, partial: bool = False) -> list[str]:
    """Every warning of a simulation's results: overloaded stations, stations near
    saturation, flows with too few responses for their percentiles (module docstring).

    Partial results (a replication stopped at a run-time limit, `settings.partial`) get only
    the last kind: a stopped replication's rates divide by the time it ran, not by
    `duration`, so the balance of its stations cannot be drawn up."""
    return [
        *overload_warnings(summary, duration, partial),
        *saturation_warnings(summary, duration, partial),
        *sample_size_warnings(summary),
    ]


def overload_warnings(summary: Measurements, duration: float, partial: bool = False) -> list[str]:
    """Warnings for every service and consumer group whose backlog grew steadily (none for
    partial results)."""
    if partial:
        return []
    warnings = []
    for station in _stations(summary, duration):
        if not _unstable(station):
            continue
        growth = station.growth
        if station.is_group:
            warnings.append(
                f"{station.label} cannot keep up: its lag grew by {growth:,.0f} messages in "
                f"{duration:g} s (about {growth / duration:.3g}/s more are published than "
                f"consumed); the lag grows without bound"
            )
        else:
            warnings.append(
                f"{station.label} cannot keep up: its backlog grew by {growth:,.0f} requests "
                f"in {duration:g} s (about {growth / duration:.3g}/s more arrive than it "
                f"completes); the system is unstable and its latencies grow with the run length"
            )
    return warnings


def saturation_warnings(summary: Measurements, duration: float, partial: bool = False) -> list[str]:
    """Warnings for every stable service and consumer group above `NEAR_SATURATION` (none for
    partial results)."""
    if partial:
        return []
    warnings = []
    for station in _stations(summary, duration):
        utilization = station.utilization
        if utilization is None or utilization <= NEAR_SATURATION or _unstable(station):
            continue
        running = f"{station.label} runs at {_percent(utilization)} utilization"
        if station.arrived > 0 and station.turned_away >= TURNED_AWAY * station.arrived:
            reasons = " or ".join(station.reasons)
            warnings.append(
                f"{running} and turns away {_percent(station.turned_away / station.arrived)} "
                f"of its arrivals ({reasons}): saturated, only its limits keep it stable"
            )
            continue
        grows = "its lag and latencies grow" if station.is_group else "its latencies grow"
        warnings.append(
            f"{running}: near saturation, {grows} fast with load (at 95% the mean wait is "
            f"about twice that at 90%)"
        )
    return warnings


def sample_size_warnings(summary: Measurements) -> list[str]:
    """Warnings for every flow whose completed requests per replication are too few for its
    p99 or p99.9 to be more than its largest response, or none at all."""
    warnings = []
    for name, flow in summary.flows.items():
        completed = flow.completed
        if completed <= 0:
            warnings.append(
                f"flow '{name}' completed no request in the measured period "
                f"({flow.arrived:.4g} arrived per replication): it has no latencies"
            )
        elif completed < P99_RESPONSES:
            warnings.append(
                f"flow '{name}' completed only {completed:.4g} requests per replication: its "
                f"p99 is the largest of fewer than {P99_RESPONSES} responses, and so is its "
                f"p99.9 (a p99 needs about {10 * P99_RESPONSES:,} responses to mean much); "
                f"run longer"
            )
        elif completed < P999_RESPONSES:
            warnings.append(
                f"flow '{name}' completed only {completed:.4g} requests per replication: its "
                f"p99.9 is the largest of fewer than {P999_RESPONSES:,} responses (it needs "
                f"about {10 * P999_RESPONSES:,} to mean much); read it as a maximum, or run "
                f"longer"
            )
    return warnings


def _percent(fraction: float) -> str:
    """A utilization in whole percent, never rounded up to 100% (0.996 is '99%').

    >>> _percent(0.914), _percent(0.996), _percent(1.0)
    ('91%', '99%', '100%')
    """
    percent = round(fraction * 100)
    return f"{min(percent, 99) if fraction < 1 else percent}%"
