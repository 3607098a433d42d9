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

A scenario with failures (`models.analysis.failures.reports_failures`) adds what the
simulation's results add for it, as predicted rates and probabilities: a flow's
`success_rate`, a service's `attempts`, `errors`, `rejected`, `unavailable` and
`availability`, a group's `attempts`, `dead_lettered` and `lost`, the `calls` table and the
`faults` list. These fields are absent otherwise (None here).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.results import Failures, plain


def document_of(value: Any) -> Any:
    """`value` as plain JSON data: prediction parts as their documents (`to_dict`)."""
    if isinstance(value, _Document):
        return value.to_dict()
    if isinstance(value, dict):
        return {key: document_of(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [document_of(item) for item in value]
    return plain(value)


class _Document(BaseModel):
    """A part of the prediction document.

    Fields listed in `OPTIONAL` appear in the document only when set (not None)."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)

    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """The part as in the JSON document: its keys in order, non-finite numbers as null,
        optional keys only when set."""
        document: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None and name in self.OPTIONAL:
                continue
            document[info.alias or name] = document_of(value)
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

    OPTIONAL = frozenset({"success_rate", "success_exact"})

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
    success_rate: float | None = None
    """With failures: the probability that a request succeeds (as the simulation's
    completed / (completed + dropped + failed)); fault windows weighted by their length."""
    success_exact: bool | None = None
    """With failures: whether `success_rate` is exact (independent failures only: `fail`
    steps, retries without timeouts, no faults or rate limits on the way)."""


class PredictedReplicas(_Document):
    """A service's replicas over the measured period, as its autoscaler runs them."""

    mean: float
    """Time average."""
    max: float
    final: float
    """At the end of the run."""


class PredictedService(_Document):
    """One service: offered load, utilization, loss, waiting and response times, lengths;
    with failures, also its attempts and what fails there (rates per second)."""

    OPTIONAL = frozenset(
        {"attempts", "errors", "rejected", "unavailable", "availability"}
        | {"replicas", "replica_seconds"}
    )

    arrival_rate: float | None
    """Requests offered per second (dropped ones included)."""
    throughput: float | None
    """Requests admitted per second — run by a worker: `arrival_rate` less those dropped
    (and, with failures, rejected or finding no replica up); None when unstable."""
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
    attempts: float | None = None
    """With failures: attempts per second, retries included (the traffic equations count
    every attempt, so this is `arrival_rate`; the simulation reports a count)."""
    errors: float | None = None
    """With failures: operations per second that end with an error (a `fail` step, a failed
    call, an `errors` fault)."""
    rejected: float | None = None
    """With failures: arrivals per second refused by the rate limit, offered x max(0,
    1 - rate / offered)."""
    unavailable: float | None = None
    """With failures: arrivals per second that find no replica up."""
    availability: float | None = None
    """For a service with a fault: the fraction of the measured time with at least one
    replica up (crashes: 1 - (1 - A)^replicas with A = mtbf / (mtbf + mttr) per replica)."""
    replicas: PredictedReplicas | None = None
    """Autoscaled on utilization under a steady load: its replicas over the measured period
    (starting, serving and draining ones, as the simulation counts them;
    `models.analysis.fleet`)."""
    replica_seconds: float | None = None
    """With `replicas`: replica-seconds over the measured period (mean x its length)."""


class PredictedGroup(_Document):
    """One consumer group of a topic: throughput, utilization, lag, waiting and sojourn."""

    OPTIONAL = frozenset({"attempts", "dead_lettered", "lost"})

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
    attempts: float | None = None
    """With failures: handler runs per second, retries included ((1 - p^m) / (1 - p) per
    message for a handler failing with probability p and `max_attempts` m)."""
    dead_lettered: float | None = None
    """With failures: messages per second sent to the dead-letter topic (p^m of them)."""
    lost: float | None = None
    """With failures: messages per second whose last attempt failed, without a dead-letter
    topic."""


class PredictedTopic(_Document):
    """One topic: messages published and its consumer groups by subscribing service."""

    publish_rate: float | None
    """Messages published per second (the simulation reports it too, beside `published`,
    the count)."""
    groups: dict[str, PredictedGroup]


class PredictedCall(_Document):
    """One row of the `calls` table: a caller's (service's or flow's) resilient calls to
    one operation (with a timeout, retries or a resilience pattern), per second."""

    calls: float
    """Call steps made per second (first attempts)."""
    attempts: float
    """Attempts per second, retries included: calls x (1 - q^(r+1)) / (1 - q)."""
    retries: float
    """attempts - calls."""
    failures: Failures
    """Failed attempts per second by reason, in the simulation's own record
    (`circuit_open` always 0: breakers are not modelled)."""
    attempt_failure: float
    """q: the probability that one attempt fails."""
    success_rate: float
    """The probability that a call succeeds, 1 - q^(r+1) (before any fallback)."""
    fallbacks: float
    """Fallbacks run per second (calls that finally failed, with a `fallback`)."""
    method: str
    exact: bool
    """Whether q (and so the attempts and the success rate) is exact."""


class PredictedFault(_Document):
    """One fault of the scenario, and how the system rides it (fluid model): the backlog
    (requests present at the target service plus the lag of its consumer groups, or the lag
    of a topic's groups) and the time to drain it, as the simulation's `faults` list."""

    OPTIONAL = frozenset({"windows", "failures"})

    target: str
    kind: str
    at: float | None
    """Start of the window (seconds from the start of the run); None for random crashes."""
    for_: float | None = Field(alias="for")
    windows: float | None = None
    """Random crashes: the expected number of down windows in the measured period
    (replicas x duration / (mtbf + mttr)); the figures below are per window."""
    backlog_peak: float | None
    """Steady-state backlog + what piles up in the window: lambda x T where the target
    takes nothing (max(0, lambda - mu_window) x T where it takes less); None without a
    steady state."""
    recovery_time: float | None
    """The time to drain what piled up, excess / (mu - lambda), the slowest consumer's for a
    log topic; 0 when nothing piles up; None when it never drains (mu <= lambda)."""
    failures: float | None = None
    """Requests of the flows that fail because of the fault (a synchronous chain through
    the target: lambda x T for an outage; a timeout storm's, from its onset and, where
    metastable, to the end of the run); per window for crashes."""
    method: str
    exact: bool


class Bottleneck(_Document):
    """The resource that saturates first when every flow grows in proportion."""

    OPTIONAL = frozenset({"topic", "partitions"})

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
    calls: dict[str, PredictedCall] | None = None
    """With failures: resilient calls by ``CALLER->SERVICE.OPERATION`` (as the simulation's
    `calls` table)."""
    faults: list[PredictedFault] | None = None
    """With faults: one entry per fault, in the scenario's order."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: keys in the documented order, non-finite numbers as null
        (`calls` and `faults` only when present, before `warnings`)."""
        document = {
            "scenario": self.scenario,
            "variant": self.variant,
            "method": self.method,
            "bottleneck": None if self.bottleneck is None else self.bottleneck.to_dict(),
            "flows": document_of(self.flows),
            "services": document_of(self.services),
            "topics": document_of(self.topics),
        }
        if self.calls is not None:
            document["calls"] = document_of(self.calls)
        if self.faults is not None:
            document["faults"] = document_of(self.faults)
        document["warnings"] = list(self.warnings)
        return document
