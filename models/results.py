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
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

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
    """A set of statistics with, after aggregation, their 95% intervals (`ci95`).

    Fields listed in `OPTIONAL` are additions that appear only when a scenario uses the
    feature they describe (failures, faults): None there means absent from the document.
    """

    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)

    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    ci95: dict[str, Interval] | None = None
    """The 95% Student-t interval of each key that has one (two or more replications)."""

    def to_dict(self) -> dict[str, Any]:
        """The record as in the JSON document: its keys in order, then `ci95` if any."""
        document = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if name == "ci95" or (value is None and name in self.OPTIONAL):
                continue
            document[field.alias or name] = plain(value)
        if self.ci95 is not None:
            fields = type(self).model_fields
            document["ci95"] = {
                (fields[key].alias or key) if key in fields else key: list(interval)
                for key, interval in self.ci95.items()
            }
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


class Failures(Record):
    """Failed requests, calls or attempts by reason (`models.resilience.REASONS`)."""

    error: float
    timeout: float
    dropped: float
    unavailable: float
    rejected: float
    circuit_open: float


class WorstInterval(Record):
    """A flow's worst sample interval after warm-up: the one with the highest p99 response
    time (reported with time-varying load: rate profiles, mmpp, traces, sinusoids, faults)."""

    time: float | None
    """The end of that interval (seconds from the start of the run, warm-up included)."""
    p99: float | None
    """The p99 response time of the requests answered in that interval (seconds)."""


class FlowResults(Record):
    """One flow: counts of the requests that arrived after warm-up, and their latencies.

    arrived = completed + dropped + failed + in_flight, exactly (one replication). With
    failures in the scenario, `failures` counts them by reason (`dropped` included, `failed`
    is the sum of the others) and `completed` and the latencies count successes only."""

    OPTIONAL = frozenset({"failures", "success_rate", "worst_interval"})

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
    failures: Failures | None = None
    success_rate: float | None = None
    """completed / (completed + dropped + failed)."""
    worst_interval: WorstInterval | None = None
    """With time-varying load: the sample interval with the highest p99."""


class ServiceResults(Record):
    """One service: offered load, utilization, drops, waiting, backlog and latencies; with
    failures in the scenario, also what failed there and why."""

    OPTIONAL = frozenset(
        {
            "attempts",
            "errors",
            "rejected",
            "unavailable",
            "timed_out",
            "availability",
            "replicas",
            "replica_seconds",
        }
    )

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
    attempts: float | None = None
    """Arrivals, retries included (arrival_rate x duration)."""
    errors: float | None = None
    """Operations that ended with an error (a `fail` step, a failed call, an `errors` fault)."""
    rejected: float | None = None
    """Arrivals refused by the rate limit."""
    unavailable: float | None = None
    """Arrivals that found no replica up, and requests there when their replica went down."""
    timed_out: float | None = None
    """Requests that left the waiting room after `queue_timeout`."""
    availability: float | None = None
    """The fraction of the measured time with at least one replica up."""
    replicas: Backlog | None = None
    """Autoscaled: provisioned replicas (starting, serving, draining) over time."""
    replica_seconds: float | None = None
    """Autoscaled: replica-seconds provisioned in the measured period (the cost)."""


class GroupResults(Record):
    """One consumer group of a topic: throughput, utilization, lag and latencies.

    received = consumed + dead_lettered + lost + the growth of the lag, exactly."""

    OPTIONAL = frozenset({"attempts", "redelivered", "dead_lettered", "lost", "consumers"})

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
    attempts: float | None = None
    """Handler runs, retries and redeliveries included."""
    redelivered: float | None = None
    """Messages given again to a consumer because the one processing it went down."""
    dead_lettered: float | None = None
    """Messages published to the dead-letter topic after their last failed attempt."""
    lost: float | None = None
    """Messages whose last attempt failed, with no dead-letter topic."""
    consumers: Backlog | None = None
    """Autoscaled: the group's consumer threads over time."""


class TopicResults(Record):
    """One topic: messages published and its consumer groups by subscribing service."""

    published: float
    """Messages published during the measured period (a count)."""
    publish_rate: float
    """Messages published per second: `published` / the measured period."""
    groups: dict[str, GroupResults]


class CallResults(Record):
    """One row of the `calls` table: a calling service's (or flow's) calls to one operation
    with a timeout, retries or a resilience pattern."""

    OPTIONAL = frozenset({"open_fraction"})

    calls: float
    attempts: float
    """Tries, the first ones included."""
    retries: float
    failures: Failures
    """Failed attempts by reason (`circuit_open`: refused by the open breaker)."""
    short_circuited: float
    fallbacks: float
    """Calls that finally failed and ran their fallback instead."""
    open_fraction: float | None = None
    """The fraction of the measured time the circuit breaker was open (with a breaker)."""


class FaultResults(Record):
    """One fault window, and how the system rode it: backlog = requests present at the
    target's services + lag of its groups."""

    OPTIONAL = frozenset({"windows"})

    target: str
    kind: str
    at: float | None
    """Start of the window (seconds from the start of the run); null for random crashes."""
    for_: float | None = Field(alias="for")
    windows: float | None = None
    """Random crashes: down windows in the run (their figures are means over windows)."""
    backlog_peak: float | None
    """The largest backlog from the window's start until it recovered (or the run ended)."""
    recovery_time: float | None
    """From the window's end until the backlog is back at or below its mean over the
    `for`-long period before the window; null if not within the run."""


class Measurements(BaseModel):
    """Flows, services and topics by name (and, with failures, calls and faults): one
    replication's, or their aggregate."""

    model_config = ConfigDict(extra="forbid")

    flows: dict[str, FlowResults]
    services: dict[str, ServiceResults]
    topics: dict[str, TopicResults]
    calls: dict[str, CallResults] | None = None
    faults: list[FaultResults] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The sections as in the JSON document (calls and faults only when present)."""
        document = {
            "flows": plain(self.flows),
            "services": plain(self.services),
            "topics": plain(self.topics),
        }
        if self.calls is not None:
            document["calls"] = plain(self.calls)
        if self.faults is not None:
            document["faults"] = plain(self.faults)
        return document


class Settings(BaseModel):
    """How the simulation was run."""

    model_config = ConfigDict(extra="forbid")

    duration: float
    """Measured time after warm-up (seconds)."""
    warmup: float
    replications: int
    seed: int
    partial: bool | None = None
    """True when a replication stopped before its end, at a run-time limit (an event or
    memory budget): its statistics cover only the time it ran. Absent otherwise."""
    stopped: str | None = None
    """Why, for each replication that stopped early. Absent when none did."""


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
            "settings": {k: v for k, v in plain(self.settings).items() if v is not None},
            **Measurements.to_dict(self),
            "warnings": list(self.warnings),
        }
