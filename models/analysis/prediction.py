"""The prediction as typed values: what `models.analyze` returns (docs/analysis.md).

One class per object of the prediction document, with the document's keys as attributes,
so that code and notebooks read ``prediction.flows["checkout"].response_time.mean``.
Names (of flows, services, topics, groups) are dictionary keys; everything else is an
attribute. `Prediction.to_dict()` gives the JSON document, key for key and in the same
order (as `archsim analyze --json` prints it).

Only means are predicted. A predicted time or length is ``{"mean": ...}``: None (null) when
the station has no steady state (see `stable`) or there is nothing to predict. Every flow,
service and consumer group says which model produced it (`method`) and whether its means
are exact for the simulator's semantics (`exact`). Rates are per second, times in seconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from models.results import plain


class _Document(BaseModel):
    """A part of the prediction document."""

    model_config = ConfigDict(extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        """The part as in the JSON document: its keys in order, non-finite numbers as null."""
        document: dict[str, Any] = plain(self)
        return document


class PredictedTime(_Document):
    """A predicted time (seconds)."""

    mean: float | None
    """None: no steady state on the way, or nothing to time (no traffic)."""


class PredictedLength(_Document):
    """A predicted time-averaged number of requests or messages."""

    mean: float | None
    """None: no steady state (the number grows without bound)."""


class Visits(_Document):
    """Where one request of a flow goes, on average (retries and feedback included)."""

    services: dict[str, float]
    """Per service: runs of its operations per request (call attempts reaching it)."""
    groups: dict[str, dict[str, float]]
    """Per topic, per consumer group: messages handled per request."""


class PredictedFlow(_Document):
    """One flow: rates, mean response and completion times, capacity and headroom."""

    arrival_rate: float | None
    """Requests per second: the given rate (a rate profile's average over the measured
    period), or a closed flow's predicted throughput; None when no finite rate can be given."""
    throughput: float | None
    """Successful responses per second (requests whose calls were dropped or timed out
    excluded); None with `arrival_rate`."""
    response_time: PredictedTime
    """From arrival to the client's response."""
    completion_time: PredictedTime
    """From arrival to the end of the last work the request caused (message handlers, callee
    work after a timeout)."""
    max_throughput: float | None
    """The arrival rate at which the first resource saturates while the other flows keep
    their rates; None when nothing ever saturates."""
    headroom: float | None
    """``max_throughput / arrival_rate - 1`` (negative when already unstable); None for a
    closed flow or without either rate."""
    method: str
    """The model: the stations' formulas on the way, or the closed-flow method."""
    exact: bool
    """Whether the mean response time is exact."""
    completion_exact: bool
    """Whether the mean completion time is exact."""
    stable: bool
    """Whether both means are finite (every station on the way has a steady state)."""
    visits: Visits | None
    """None when the traffic equations have no finite solution (a message storm)."""


class PredictedService(_Document):
    """One service: offered load, utilization, loss, waiting and response times, lengths."""

    arrival_rate: float | None
    """Requests offered per second (dropped ones included)."""
    utilization: float | None
    """Busy fraction of its workers; None for `workers: unlimited`."""
    loss_probability: float | None
    """Fraction of the arrivals dropped because the waiting room is full."""
    p_wait: float | None
    """Probability that a request waits for a worker; None when not known (a service time
    of infinite variance)."""
    waiting_time: PredictedTime
    """Waiting for a worker, per request (per acquisition of a worker, averaged over the
    requests)."""
    response_time: PredictedTime
    """From arrival at the service to the end of the operation (its calls included)."""
    queue_length: PredictedLength
    """Requests waiting for a worker (all replicas)."""
    in_system: PredictedLength
    """Requests present: waiting or being served (including those in calls)."""
    method: str
    """The formula, e.g. ``"M/M/c (Erlang C)"``, with any approximation named."""
    exact: bool
    """Whether the means are exact."""
    stable: bool
    """False when the service has no steady state (then its times and lengths are None)."""


class PredictedGroup(_Document):
    """One consumer group of a topic: throughput, utilization, lag, waiting and sojourn."""

    throughput: float | None
    """Messages consumed per second."""
    utilization: float | None
    """Busy fraction of the group's consumer threads."""
    p_wait: float | None
    """Probability that a message waits for its consumer."""
    lag: PredictedLength
    """Messages published to the group and not yet consumed (in delivery, waiting or in
    process)."""
    waiting_time: PredictedTime
    """From publish to the start of processing (delivery latency included)."""
    sojourn_time: PredictedTime
    """From publish to the end of processing."""
    max_partition_utilization: float | None
    """Utilization of the busiest consumer (of a log topic: the one with the hottest
    partitions)."""
    consumers: int
    """Server pools: 1 for a queue topic; for a log topic the active consumers,
    min(partitions, consumer threads), each serving its partitions one message at a time."""
    method: str
    """The formula, with ``per consumer (n consumers)`` when there are several."""
    exact: bool
    """Whether the means are exact."""
    stable: bool
    """False when a consumer has no steady state (then the times and the lag are None)."""


class PredictedTopic(_Document):
    """One topic: messages published and its consumer groups by subscribing service."""

    published: float | None
    """Messages published per second."""
    groups: dict[str, PredictedGroup]


class Bottleneck(_Document):
    """The resource that saturates first when every flow grows in proportion."""

    kind: Literal["service", "group", "partition"]
    """A service's worker pool, a queue topic's consumer group, or one consumer of a log
    topic (its partitions)."""
    name: str
    """The service, or the consumer group (subscribing service)."""
    topic: str | None = None
    """The topic of a group or partition bottleneck (absent for a service)."""
    partitions: list[int] | None = None
    """The partitions of the saturating consumer (kind ``partition`` only)."""
    utilization: float
    """At the scenario's own rates."""

    def to_dict(self) -> dict[str, Any]:
        """The bottleneck as in the JSON document: `topic` and `partitions` only if set."""
        document = super().to_dict()
        for key in ("topic", "partitions"):
            if document[key] is None:
                del document[key]
        return document


class Prediction(_Document):
    """The whole prediction of a scenario (`models.analyze`)."""

    scenario: str
    variant: str | None
    method: str
    """Always ``"queueing theory"``."""
    bottleneck: Bottleneck | None
    """None when nothing can saturate (only unlimited services), or the traffic equations
    diverge."""
    flows: dict[str, PredictedFlow]
    services: dict[str, PredictedService]
    topics: dict[str, PredictedTopic]
    warnings: list[str]
    """Unstable stations, approximations worth knowing, a fixed point that did not
    converge."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: keys in the documented order, non-finite numbers as null."""
        return {
            "scenario": self.scenario,
            "variant": self.variant,
            "method": self.method,
            "bottleneck": None if self.bottleneck is None else self.bottleneck.to_dict(),
            "flows": plain(self.flows),
            "services": plain(self.services),
            "topics": plain(self.topics),
            "warnings": list(self.warnings),
        }
