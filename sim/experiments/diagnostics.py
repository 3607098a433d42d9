"""Warnings about a simulation's results: stations that cannot keep up with their load.

An overloaded station never reaches a steady state: its backlog grows about
(arrival rate - capacity) x time, and its means and percentiles depend on the run length.
The simulation detects this by conservation over the measured period: for a service,
arrivals - drops - completions = backlog at the end - backlog at the start; for a consumer
group, received - consumed = lag at the end - lag at the start. A stable station's backlog
changes by a few times its mean; an unstable one's by a fixed fraction of all arrivals.
"""

from __future__ import annotations

from models.results import Measurements

GROWTH_FRACTION = 0.02  # backlog growth, as a fraction of the arrivals, that flags overload
GROWTH_MINIMUM = 30.0  # ... and at least this many requests or messages


def _unstable(arrived: float, growth: float) -> bool:
    return growth > max(GROWTH_MINIMUM, GROWTH_FRACTION * arrived)


def overload_warnings(summary: Measurements, duration: float) -> list[str]:
    """Warnings for every service and consumer group whose backlog grew steadily."""
    warnings = []
    for name, service in summary.services.items():
        arrived = service.arrival_rate * duration
        refused = (service.rejected or 0.0) + (service.unavailable or 0.0)
        left = service.dropped + refused + (service.timed_out or 0.0)
        growth = arrived - left - service.throughput * duration
        if _unstable(arrived, growth):
            warnings.append(
                f"service '{name}' cannot keep up: its backlog grew by {growth:,.0f} requests "
                f"in {duration:g} s (about {growth / duration:.3g}/s more arrive than it "
                f"completes); the system is unstable and its latencies grow with the run length"
            )
    for topic_name, topic in summary.topics.items():
        for group_name, group in topic.groups.items():
            growth = group.received - group.consumed - (group.dead_lettered or 0.0)
            growth -= group.lost or 0.0
            if _unstable(group.received, growth):
                warnings.append(
                    f"consumer group '{group_name}' on topic '{topic_name}' cannot keep up: its "
                    f"lag grew by {growth:,.0f} messages in {duration:g} s (about "
                    f"{growth / duration:.3g}/s more are published than consumed); the lag "
                    f"grows without bound"
                )
    return warnings
