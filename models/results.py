"""The results document as typed values: what a simulation reports (docs/results.md).

One class per object of the document, with the document's keys as attributes, so that
code and notebooks read ``results.flows["checkout"].response_time.p99`` instead of digging
through nested dictionaries. Names (of flows, services, topics, groups) are dictionary
keys; everything else is an attribute. `to_dict()` gives the JSON document, key for key and
in the same order; the models validate a saved document when it is loaded.

A `Record` is a set of statistics. With two or more replications each number is the mean
across replications, and `ci95` maps each key that has an interval to its 95% Student-t
interval ``(low, high)``; with one replication `ci95` is None and absent from the document.
A statistic that could not be observed (a percentile with no observations) is None (null).

Pure data: no simulation, no statistics here (the engine fills one `Measurements` per
replication; `sim.experiments.statistics` aggregates them).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

Interval = tuple[float, float]


def plain(value: Any) -> Any:
    """`value` as JSON-able plain data: models as their documents, tuples as lists,
    non-finite floats as None."""
    if isinstance(value, Record | Measurements):
        return value.to_dict()
    if isinstance(value, BaseModel):
        return {name: plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Record(BaseModel):
    """A set of statistics with, after aggregation, their 95% intervals (`ci95`)."""

    model_config = ConfigDict(extra="forbid")

    ci95: dict[str, Interval] | None = None
    """The 95% Student-t interval of each key that has one (two or more replications)."""

    def to_dict(self) -> dict[str, Any]:
        """The record as in the JSON document: its keys in order, then `ci95` if any."""
        document = {
            name: plain(getattr(self, name)) for name in type(self).model_fields if name != "ci95"
        }
        if self.ci95 is not None:
            document["ci95"] = plain(self.ci95)
        return document


class Latency(Record):
    """A time's distribution (seconds): mean, percentiles of a log histogram (relative
    resolution 0.27%), maximum. None when nothing was observed."""

    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p999: float | None
    max: float | None


class QueueLength(Record):
    """A waiting line: time-averaged length and its maximum."""

    mean: float | None
    max: float | None


class Backlog(Record):
    """A time-averaged level with its maximum and its value at the end of the run."""

    mean: float | None
    max: float | None
    final: float | None


class FlowResults(Record):
    """One flow: counts of the requests that arrived after warm-up, and their latencies.

    arrived = completed + dropped + failed + in_flight, exactly (one replication)."""

    arrived: float
    completed: float
    dropped: float
    failed: float
    in_flight: float
    throughput: float
    """Responses per second."""
    response_time: Latency
    """From arrival to the client's response."""
    completion_time: Latency
    """From arrival to the end of the last work the request caused (handlers included)."""


class ServiceResults(Record):
    """One service: offered load, utilization, drops, waiting, backlog and latencies."""

    arrival_rate: float
    """Offered load per second (dropped requests included)."""
    throughput: float
    utilization: float | None
    """Time-averaged busy workers over all workers; None for `workers: unlimited`."""
    dropped: float
    loss_probability: float
    p_wait: float
    """The fraction of started requests that waited."""
    queue_length: QueueLength
    in_system: Backlog
    waiting_time: Latency
    response_time: Latency


class GroupResults(Record):
    """One consumer group of a topic: throughput, utilization, lag and latencies."""

    received: float
    consumed: float
    throughput: float
    utilization: float
    """Of the group's consumer threads."""
    p_wait: float
    lag: Backlog
    """Messages published to the group and not yet consumed (in delivery, waiting or in
    process)."""
    max_partition_lag: float
    waiting_time: Latency
    """From publish to the start of processing (delivery latency included)."""
    sojourn_time: Latency
    """From publish to the end of processing."""


class TopicResults(Record):
    """One topic: messages published and its consumer groups by subscribing service."""

    published: float
    groups: dict[str, GroupResults]


class Measurements(BaseModel):
    """Flows, services and topics by name: one replication's, or their aggregate."""

    model_config = ConfigDict(extra="forbid")

    flows: dict[str, FlowResults]
    services: dict[str, ServiceResults]
    topics: dict[str, TopicResults]

    def to_dict(self) -> dict[str, Any]:
        """The three sections as in the JSON document."""
        return {
            "flows": plain(self.flows),
            "services": plain(self.services),
            "topics": plain(self.topics),
        }


class Settings(BaseModel):
    """How the simulation was run."""

    model_config = ConfigDict(extra="forbid")

    duration: float
    """Measured time after warm-up (seconds)."""
    warmup: float
    replications: int
    seed: int


class ResultsDocument(Measurements):
    """The whole results document of a simulation (docs/results.md): the aggregate
    measurements with the scenario's name, the settings of the run and warnings."""

    scenario: str
    variant: str | None
    settings: Settings
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: keys in the documented order, non-finite numbers as null."""
        return {
            "scenario": self.scenario,
            "variant": self.variant,
            "settings": plain(self.settings),
            "flows": plain(self.flows),
            "services": plain(self.services),
            "topics": plain(self.topics),
            "warnings": list(self.warnings),
        }
