"""Faults injected into a scenario (docs/scenario-language.md, "Faults"): what breaks, when.

`faults:` is a list; each names a `service` or a `topic`, a `kind`, and a window `at` + `for`
(times from the start of the run, warm-up included), or for a `crash`, random windows:

- `outage` (service): the first `replicas` replicas (default all) are down for the window;
- `crash` (service): each replica alternates up and down on its own, up times of mean
  `mtbf`, down times of mean `mttr` (a time means an exponential distribution; any
  distribution may be given);
- `slowdown` (service): `work` steps started in the window take `factor` x their time;
- `errors` (service): each operation started in the window fails with `probability`;
- `outage` (topic): the broker is down; messages published in the window reach the topic
  at its end, and consumers receive nothing during it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from models.distribution_spec import DistributionField
from models.units import Duration, PositiveDuration

FAULT_KINDS = "service outage, crash, slowdown, errors; topic outage"


class FaultModel(BaseModel):
    """Base of the fault models: unknown keys are errors; `for` is written `for`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )


class WindowFault(FaultModel):
    """A fault with one window: from `at` for `for` seconds."""

    at: Duration
    for_: PositiveDuration = Field(alias="for")

    @property
    def end(self) -> float:
        """When the window ends (seconds from the start of the run)."""
        return self.at + self.for_


class ServiceOutage(WindowFault):
    """The first `replicas` replicas of `service` (default all) are down in the window."""

    service: str
    kind: Literal["outage"]
    replicas: int | None = Field(default=None, ge=1)


class TopicOutage(WindowFault):
    """The broker of `topic` is down in the window: publishes are buffered by producers and
    reach the topic at its end; consumers receive nothing during it."""

    topic: str
    kind: Literal["outage"]


class Slowdown(WindowFault):
    """`work` steps of `service` started in the window take `factor` x their time."""

    service: str
    kind: Literal["slowdown"]
    factor: float = Field(gt=0.0)


class ErrorBurst(WindowFault):
    """Each operation of `service` started in the window fails with `probability` when it
    ends (as if it ended with a `fail` step)."""

    service: str
    kind: Literal["errors"]
    probability: float = Field(gt=0.0, le=1.0)


def _exponential_if_time(value: Any) -> Any:
    """A plain time (``10min``) means an exponential distribution of that mean."""
    return {"exponential": value} if isinstance(value, int | float | str) else value


RandomTime = Annotated[DistributionField, BeforeValidator(_exponential_if_time)]


class Crash(FaultModel):
    """Each replica of `service` fails at random and is repaired: up times drawn from `mtbf`,
    down times from `mttr` (the whole run long)."""

    service: str
    kind: Literal["crash"]
    mtbf: RandomTime
    mttr: RandomTime


def _fault_tag(value: Any) -> str | None:
    """``service-outage``, ``topic-outage``, ``crash``, ``slowdown`` or ``errors``."""
    if isinstance(value, BaseModel):
        kind = getattr(value, "kind", None)
        target = "topic" if hasattr(value, "topic") else "service"
    elif isinstance(value, dict):
        kind = value.get("kind")
        target = "topic" if "topic" in value else "service"
    else:
        return None
    if kind == "outage":
        return f"{target}-outage"
    return kind if target == "service" and kind in ("crash", "slowdown", "errors") else None


Fault = Annotated[
    Annotated[ServiceOutage, Tag("service-outage")]
    | Annotated[TopicOutage, Tag("topic-outage")]
    | Annotated[Crash, Tag("crash")]
    | Annotated[Slowdown, Tag("slowdown")]
    | Annotated[ErrorBurst, Tag("errors")],
    Discriminator(
        _fault_tag,
        custom_error_type="fault_kind",
        custom_error_message=(
            f"a fault names a service or a topic and a kind, one of: {FAULT_KINDS}"
        ),
    ),
]
"""One entry of `faults:`."""

ServiceFault = ServiceOutage | Crash | Slowdown | ErrorBurst
