"""Autoscaling of services and consumer groups (docs/scenario-language.md, "Dynamics").

A service scales its replicas like a Kubernetes HorizontalPodAutoscaler: every `interval`
the desired count is ceil(current x observed / target), the observed value averaged over
the last interval per started replica (the utilization of its workers; queue_length and
in_system per replica), within [min, max]: ceil(busy workers / (workers x target)), or
ceil(requests / target). The starting count is the first recommendation. A scale-up is
decided at once and each new replica serves after `startup`; a scale-down goes to the
largest desired count of the last `stabilization`. A removed replica takes nothing new and
leaves when its work is done.

A consumer group scales its consumer threads like KEDA's Kafka scaler: desired consumers =
ceil(lag / target), the lag averaged over the last interval, capped at the partitions of a
log topic, with the same rules for stabilization and start-up; partitions are reassigned
(partition p to consumer p mod n).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.units import Duration, PositiveDuration


class Scaling(BaseModel):
    """What both autoscalers share: bounds, the decision interval, stabilization, start-up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: float = Field(gt=0.0, description="the observed value aimed at")
    min: int = Field(default=1, ge=1)
    max: int = Field(ge=1)
    interval: PositiveDuration = Field(default=15.0, description="time between decisions")
    stabilization: Duration = Field(
        default=300.0, description="scale down to the largest recommendation of this long"
    )
    startup: Duration = Field(default=0.0, description="time before a new one serves")

    @model_validator(mode="after")
    def _bounds(self) -> Scaling:
        if self.min > self.max:
            raise ValueError(f"'min' must be <= 'max' (got {self.min} > {self.max})")
        return self


class ServiceAutoscale(Scaling):
    """HPA rules for a service's replicas (`replicas` is the starting count)."""

    metric: Literal["utilization", "queue_length", "in_system"] = "utilization"


class GroupAutoscale(Scaling):
    """KEDA rules for a consumer group's consumer threads (the starting count is replicas x
    concurrency)."""

    metric: Literal["lag"] = "lag"
