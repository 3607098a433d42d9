"""The scenario language as pydantic models (docs/scenario-language.md): what an architecture is.

Every model forbids unknown keys. Times are normalised to seconds and rates to per second by
the field types of `models.units`; distributions are parsed by `models.distribution_spec`.
Cross-references (a call to an unknown service, a cycle of synchronous calls) are checked
after parsing by `models.references` (or, when the file does not validate, on its
well-formed parts by `models.raw_document`), because they need the whole file.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from models.arrivals import MmppArrivals, SinusoidArrivals, TraceArrivals
from models.autoscale import GroupAutoscale, ServiceAutoscale
from models.distribution_spec import DistributionField
from models.faults import Fault
from models.one_key import one_key_union
from models.resilience import Backoff, CircuitBreaker, RateLimit
from models.units import Duration, PositiveDuration, Rate, parse_rate

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
NAME_RULE = (
    "a name must start with an ASCII letter or digit and contain only ASCII letters, "
    "digits, '-' and '_'"
)
"""`NAME_PATTERN` in words, for error messages."""
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Probability = Annotated[float, Field(gt=0.0, le=1.0)]
PROBABILITY_TOLERANCE = 1e-9


class StrictModel(BaseModel):
    """Base of every scenario model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- steps


def _split_target(text: str) -> dict[str, str]:
    service, _, operation = text.partition(".")
    return {"service": service, "operation": operation} if operation else {"service": service}


def _call_from_string(value: Any) -> Any:
    """``call: orders.create`` is shorthand for ``call: {service: orders, operation: create}``."""
    return _split_target(value) if isinstance(value, str) else value


class CallSpec(StrictModel):
    """A synchronous request to another service's operation."""

    service: Name
    operation: Name | None = Field(
        default=None, description="may be omitted when the service has a single operation"
    )
    probability: Probability = Field(default=1.0, description="chance that the call is made")
    timeout: PositiveDuration | None = Field(
        default=None, description="the caller gives up after this long (the callee still works)"
    )
    retries: int = Field(
        default=0, ge=0, description="attempts after a failed one (any reason but circuit_open)"
    )
    backoff: Backoff | None = Field(default=None, description="wait before each retry")
    circuit_breaker: CircuitBreaker | None = None
    bulkhead: int | None = Field(
        default=None, ge=1, description="calls of the calling service in progress at once"
    )
    fallback: list[Step] | None = Field(
        default=None, description="steps run instead when the call finally fails"
    )

    @property
    def resilient(self) -> bool:
        """Whether the call uses a timeout, retries or a resilience pattern."""
        return (
            self.timeout is not None
            or self.retries > 0
            or self.circuit_breaker is not None
            or self.bulkhead is not None
            or self.fallback is not None
        )


def _publish_from_string(value: Any) -> Any:
    """``publish: order-placed`` is shorthand for ``publish: {topic: order-placed}``."""
    return {"topic": value} if isinstance(value, str) else value


class PublishSpec(StrictModel):
    """An event published to a topic; the publishing operation goes on at once."""

    topic: Name
    probability: Probability = Field(default=1.0, description="chance that it is published")
    count: int = Field(default=1, ge=1, description="messages published by the step")
    key: str | int | None = Field(
        default=None,
        description="a fixed message key (partitioning: key); default: drawn from the topic's keys",
    )


class WorkStep(StrictModel):
    """Hold the server for a sampled time."""

    work: DistributionField


class FailStep(StrictModel):
    """With probability `fail` the operation ends here with an error."""

    fail: float = Field(ge=0.0, le=1.0)


class DelayStep(StrictModel):
    """Latency without contention (a network hop, an external API); holds the worker."""

    delay: DistributionField


class CallStep(StrictModel):
    """A synchronous call; the caller's worker is held until the reply (if blocking)."""

    call: Annotated[
        CallSpec, BeforeValidator(_call_from_string, json_schema_input_type=str | CallSpec)
    ]


class PublishStep(StrictModel):
    """Publish to a topic (fire and forget)."""

    publish: Annotated[
        PublishSpec,
        BeforeValidator(_publish_from_string, json_schema_input_type=str | PublishSpec),
    ]


class BranchOption(StrictModel):
    """One alternative of a `branch` step, taken with `probability`."""

    probability: Probability
    steps: list[Step]


class BranchStep(StrictModel):
    """Exactly one of the options runs, chosen at random; probabilities sum to 1."""

    branch: Annotated[list[BranchOption], Field(min_length=1)]

    @field_validator("branch")
    @classmethod
    def _probabilities_sum_to_one(cls, options: list[BranchOption]) -> list[BranchOption]:
        total = math.fsum(option.probability for option in options)
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            raise ValueError(f"branch probabilities must sum to 1 (got {total:g})")
        return options


class ParallelStep(StrictModel):
    """Fork/join: every branch runs; the step ends when the last branch ends."""

    parallel: Annotated[list[list[Step]], Field(min_length=1)]


STEP_KINDS = "work, delay, call, publish, parallel, branch, fail"
Step = Annotated[
    Annotated[WorkStep, Tag("work")]
    | Annotated[DelayStep, Tag("delay")]
    | Annotated[CallStep, Tag("call")]
    | Annotated[PublishStep, Tag("publish")]
    | Annotated[ParallelStep, Tag("parallel")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[FailStep, Tag("fail")],
    one_key_union(STEP_KINDS),
]
Operation = Annotated[list[Step], Field(min_length=1)]

BranchOption.model_rebuild()
ParallelStep.model_rebuild()
CallSpec.model_rebuild()
CallStep.model_rebuild()


# --------------------------------------------------------------------------- services


class Service(StrictModel):
    """A pool of `replicas`, each running `workers` requests at once."""

    replicas: int = Field(default=1, ge=1)
    workers: int | Literal["unlimited"] = Field(
        default=1, description="concurrent requests per replica; `unlimited` = delay station"
    )
    queue_capacity: int | None = Field(
        default=None,
        ge=0,
        description="waiting room per replica (requests in service not counted); none = unbounded",
    )
    balancing: Literal["shared", "round_robin", "random", "least_outstanding"] = "round_robin"
    discipline: Literal["fifo", "priority"] = "fifo"
    blocking_calls: bool = Field(
        default=True,
        description="false: the worker is released while waiting for a call (async I/O)",
    )
    rate_limit: RateLimit | None = Field(
        default=None, description="token bucket over all replicas; arrivals without a token fail"
    )
    queue_timeout: PositiveDuration | None = Field(
        default=None, description="a request that waited this long leaves, failing with timeout"
    )
    autoscale: ServiceAutoscale | None = Field(
        default=None, description="HPA rules; `replicas` is then the starting count"
    )
    operations: Annotated[dict[Name, Operation], Field(min_length=1)]

    @field_validator("workers")
    @classmethod
    def _workers_positive(cls, workers: int | str) -> int | str:
        if isinstance(workers, int) and workers < 1:
            raise ValueError(f"must be >= 1 or 'unlimited' (got {workers})")
        return workers

    @property
    def unlimited(self) -> bool:
        """True for a delay station (no queueing at all)."""
        return self.workers == "unlimited"

    @model_validator(mode="after")
    def _scalable(self) -> Service:
        scaling = self.autoscale
        if scaling is not None:
            if not scaling.min <= self.replicas <= scaling.max:
                raise ValueError(
                    f"'replicas' (the starting count) must be within the autoscale bounds "
                    f"[{scaling.min}, {scaling.max}] (got {self.replicas})"
                )
            if self.unlimited and scaling.metric == "utilization":
                raise ValueError(
                    "a service with 'workers: unlimited' has no utilization to scale on"
                )
        return self


# --------------------------------------------------------------------------- topics


def _subscriber_from_string(value: Any) -> Any:
    """``payment: charge`` is shorthand for ``payment: {operation: charge}``."""
    return {"operation": value} if isinstance(value, str) else value


class Subscriber(StrictModel):
    """A consumer group: the subscribing service runs `operation` for every message."""

    operation: Name | None = Field(
        default=None, description="may be omitted when the service has a single operation"
    )
    concurrency: int = Field(default=1, ge=1, description="consumer threads per replica")
    max_attempts: int = Field(
        default=1, ge=1, description="handler runs per message, the first included"
    )
    retry_backoff: DistributionField | None = Field(
        default=None, description="wait before each new attempt; default none"
    )
    dead_letter: Name | None = Field(
        default=None, description="topic that receives a message after its last failed attempt"
    )
    autoscale: GroupAutoscale | None = Field(
        default=None, description="KEDA rules for the group's consumer threads, on lag"
    )


class KeySpace(StrictModel):
    """Message keys for `partitioning: key`: `count` keys with Zipf popularity `skew`."""

    count: int = Field(ge=1)
    skew: float = Field(default=0.0, ge=0.0, description="Zipf exponent; 0 = uniform keys")


class Topic(StrictModel):
    """A log (Kafka-like, partitioned, ordered) or a queue (RabbitMQ/SQS-like, competing)."""

    type: Literal["log", "queue"] = "log"
    partitions: int = Field(default=1, ge=1)
    partitioning: Literal["random", "round_robin", "key"] = "random"
    keys: KeySpace | None = None
    delivery_latency: DistributionField | None = None
    subscribers: dict[
        Name,
        Annotated[
            Subscriber,
            BeforeValidator(_subscriber_from_string, json_schema_input_type=str | Subscriber),
        ],
    ] = Field(default_factory=dict, description="one consumer group per subscribing service")

    @model_validator(mode="after")
    def _consistent(self) -> Topic:
        if self.type == "queue" and self.partitions != 1:
            raise ValueError(
                f"a queue topic has no partitions: remove 'partitions' or use type: log "
                f"(got partitions: {self.partitions})"
            )
        if self.partitioning == "key" and self.keys is None:
            raise ValueError("partitioning: key needs 'keys: {count, skew}'")
        if self.keys is not None and self.partitioning != "key":
            raise ValueError(f"'keys' applies only to partitioning: key (got {self.partitioning})")
        return self


# --------------------------------------------------------------------------- workload


class PoissonArrivals(StrictModel):
    """Exponential interarrival times at a fixed rate."""

    poisson: Rate


class ConstantArrivals(StrictModel):
    """One arrival every 1/rate seconds exactly."""

    constant: Rate


class InterarrivalArrivals(StrictModel):
    """Renewal arrivals with any interarrival distribution."""

    interarrival: DistributionField


NonNegativeRate = Annotated[float, BeforeValidator(parse_rate), Field(ge=0)]


class RateChange(StrictModel):
    """From time `at` (since the start of the run, warm-up included) the rate is `rate`."""

    at: Duration
    rate: NonNegativeRate


class ProfileArrivals(StrictModel):
    """Poisson arrivals with a piecewise-constant rate: steps and spikes of load."""

    profile: Annotated[list[RateChange], Field(min_length=1)]

    @field_validator("profile")
    @classmethod
    def _ordered_from_zero(cls, changes: list[RateChange]) -> list[RateChange]:
        if changes[0].at != 0:
            raise ValueError(f"the first rate change must be at 0 (got {changes[0].at:g})")
        for before, after in itertools.pairwise(changes):
            if after.at <= before.at:
                raise ValueError(
                    f"rate changes must be in increasing time "
                    f"(got {after.at:g} after {before.at:g})"
                )
        if all(change.rate == 0 for change in changes):
            raise ValueError("a rate profile needs a positive rate somewhere")
        return changes


ARRIVAL_KINDS = "poisson, constant, interarrival, profile, mmpp, trace, sinusoid"
Arrivals = Annotated[
    Annotated[PoissonArrivals, Tag("poisson")]
    | Annotated[ConstantArrivals, Tag("constant")]
    | Annotated[InterarrivalArrivals, Tag("interarrival")]
    | Annotated[ProfileArrivals, Tag("profile")]
    | Annotated[MmppArrivals, Tag("mmpp")]
    | Annotated[TraceArrivals, Tag("trace")]
    | Annotated[SinusoidArrivals, Tag("sinusoid")],
    one_key_union(ARRIVAL_KINDS),
]


class Flow(StrictModel):
    """One class of traffic: open (`arrivals`) or closed (`clients` + `think_time`)."""

    entry: str | None = Field(default=None, description="SERVICE.OPERATION (or SERVICE)")
    steps: list[Step] | None = Field(
        default=None, description="inline steps run by the external client (no contention)"
    )
    arrivals: Arrivals | None = None
    clients: int | None = Field(default=None, ge=1)
    think_time: DistributionField | None = None
    priority: int = Field(default=0, description="lower number first at `discipline: priority`")

    @model_validator(mode="after")
    def _one_source_one_body(self) -> Flow:
        if (self.entry is None) == (self.steps is None):
            raise ValueError("a flow needs exactly one of 'entry' or 'steps'")
        if (self.arrivals is None) == (self.clients is None):
            raise ValueError("a flow needs exactly one of 'arrivals' (open) or 'clients' (closed)")
        if self.think_time is not None and self.clients is None:
            raise ValueError("'think_time' applies only to closed flows (with 'clients')")
        return self

    def body(self) -> list[Step]:
        """The steps the external client runs: the inline steps, or one call to the entry."""
        if self.steps is not None:
            return self.steps
        assert self.entry is not None
        return [CallStep(call=CallSpec(**_split_target(self.entry)))]


# --------------------------------------------------------------------------- scenario


class Simulation(StrictModel):
    """Run length and statistics settings."""

    duration: PositiveDuration = Field(description="measured time, after warm-up")
    warmup: Duration = Field(default=0.0, description="statistics before this are discarded")
    replications: int = Field(default=1, ge=1)
    seed: int = Field(default=0, ge=0)
    sample_interval: PositiveDuration | None = Field(
        default=None, description="time-series resolution; default duration / 200"
    )

    @property
    def resolved_sample_interval(self) -> float:
        """The sampling interval in seconds (duration / 200 unless set)."""
        return self.sample_interval if self.sample_interval is not None else self.duration / 200


class Scenario(StrictModel):
    """A whole scenario file: the architecture, its workload and how to simulate it."""

    name: str = Field(min_length=1)
    description: str = ""
    simulation: Simulation
    services: dict[Name, Service] = Field(default_factory=dict)
    topics: dict[Name, Topic] = Field(default_factory=dict)
    workload: Annotated[dict[Name, Flow], Field(min_length=1)]
    faults: list[Fault] = Field(
        default_factory=list, description="outages, crashes, slowdowns and errors to inject"
    )
    variants: dict[Name, dict[str, Any]] = Field(
        default_factory=dict,
        description="candidate topologies: {NAME: {dotted.path: value}} overriding the base",
    )

    @model_validator(mode="after")
    def _names_unique(self) -> Scenario:
        shared = sorted(set(self.services) & set(self.topics))
        if shared:
            raise ValueError(
                f"service and topic names must be unique together (both: {', '.join(shared)})"
            )
        return self

    _source: str = PrivateAttr(default="<scenario>")
    _variant: str | None = PrivateAttr(default=None)

    def attach_origin(self, source: str, variant: str | None) -> None:
        """Remember the file this scenario came from and the variant applied (None = base)."""
        self._source = source
        self._variant = variant

    @property
    def source(self) -> str:
        """The file the scenario was read from (or ``<scenario>`` for a mapping)."""
        return self._source

    @property
    def variant_name(self) -> str | None:
        """The variant applied to the base scenario, or None for the base itself."""
        return self._variant

    def operation(self, service: str, operation: str | None) -> tuple[str, list[Step]]:
        """Resolve a call target to (operation name, steps); the name may be omitted."""
        operations = self.services[service].operations
        if operation is None:
            (operation,) = operations
        return operation, operations[operation]
