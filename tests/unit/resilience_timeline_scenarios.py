"""Shared scenarios of the deterministic tests of failures and resilience
(tests/unit/test_resilience_timeline_*.py): constant times give an exact timeline.

Every scenario there uses constant arrivals (one every 1/rate seconds, the first at 1/rate)
and constant work, so each test can state, in its docstring, when every request arrives,
starts, fails, is retried or refused, and every count and latency follows exactly. Fault
windows and arrival times are chosen off each other's instants (a window from 0.5 or 9.5,
arrivals at whole seconds) so that no result depends on the order of events at equal times.
Message timelines are read from the trace of message starts (`Replication(..., trace=...)`:
(topic, group, partition, message number, start time) for every handler run).
"""

from __future__ import annotations

from typing import Any

from models import load_scenario
from models.results import Measurements
from sim.engine import Replication, run_replication

Trace = list[tuple[str, str, int, int, float]]


def run(raw: dict[str, Any]) -> Measurements:
    return run_replication(load_scenario(raw), 0, 1).measurements


def traced(raw: dict[str, Any]) -> tuple[list[tuple[int, float]], Measurements]:
    """Replication 0 of `raw` and its (message number, start time) of every handler run of
    the topic `events` (in start order)."""
    trace: Trace = []
    measurements = Replication(load_scenario(raw), 0, 1, trace=trace).run().measurements
    starts = [
        (message, round(time, 9)) for topic, _, _, message, time in trace if topic == "events"
    ]
    return starts, measurements


def scenario(
    duration: float,
    services: dict[str, Any],
    steps: list[dict[str, Any]],
    rate: float = 1.0,
    **extra: Any,
) -> dict[str, Any]:
    """Flow `f` runs `steps` (as the external client) at constant `rate` from t = 1 / rate."""
    return {
        "name": "timeline",
        "simulation": {"duration": duration},
        "services": services,
        "workload": {"f": {"arrivals": {"constant": rate}, "steps": steps}},
        **extra,
    }


def db(work: float = 0.1, *tail: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """A service `db` with one operation `query`: constant `work`, then `tail` steps."""
    return {"db": {**settings, "operations": {"query": [{"work": {"constant": work}}, *tail]}}}


def errors(service: str, at: float, length: float, probability: float = 1.0) -> dict[str, Any]:
    return {
        "service": service,
        "kind": "errors",
        "at": at,
        "for": length,
        "probability": probability,
    }


def reasons(failures: Any) -> dict[str, float]:
    """The non-zero counts of a `Failures` record."""
    return {reason: count for reason, count in failures.to_dict().items() if count}
