"""The resilience patterns of the scenario language (docs/scenario-language.md, "Failures and
resilience"): how a caller retries, backs off, short-circuits and isolates a failing callee,
how a service admits requests, and how a consumer group retries a failing message.

Semantics follow what SREs know from resilience4j (retry, circuit breaker, bulkhead), Envoy
(local rate limit: a token bucket) and Kafka/SQS consumers (redelivery, dead letters).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.units import Duration, PositiveDuration, Rate

REASONS = ("error", "timeout", "dropped", "unavailable", "rejected", "circuit_open")
"""Why a call (or a request) failed, in the order results list them:
`error` the callee's operation failed; `timeout` the caller's timeout or the callee's
`queue_timeout`; `dropped` the callee's waiting room was full; `unavailable` no replica of
the callee was up (or it went down while serving); `rejected` a rate limit or a bulkhead;
`circuit_open` the caller's circuit breaker is open."""


class ResilienceModel(BaseModel):
    """Base of the models here: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Backoff(ResilienceModel):
    """The wait before retry k: min(max, initial x multiplier^(k-1)), with jitter.

    `jitter: full` draws uniformly in (0, wait); `equal` waits half of it plus a uniform draw
    in (0, half); `none` waits exactly that (AWS Architecture Blog, "Exponential Backoff and
    Jitter", 2015).
    """

    initial: PositiveDuration
    multiplier: float = Field(default=2.0, ge=1.0, description="growth of the wait per retry")
    max: Duration | None = Field(default=None, description="cap of the wait (none: no cap)")
    jitter: Literal["none", "full", "equal"] = "none"

    def wait(self, retry: int) -> float:
        """The wait before retry number `retry` (1, 2, ...) before jitter.

        >>> Backoff(initial=0.05, multiplier=2, max=0.3).wait(3), Backoff(initial=1).wait(9)
        (0.2, 256.0)
        """
        uncapped = self.initial * self.multiplier ** (retry - 1)
        return uncapped if self.max is None else min(self.max, uncapped)


class CircuitBreaker(ResilienceModel):
    """One breaker per calling service and callee operation (resilience4j's time-based
    sliding window): when, over the last `window`, at least `min_calls` attempts finished and
    the failed fraction is >= `failure_rate`, it opens; calls then fail at once with
    `circuit_open` for `open_for`; then up to `half_open_calls` trial calls pass: all succeed
    -> closed, any fails -> open again."""

    failure_rate: float = Field(default=0.5, gt=0.0, le=1.0)
    window: PositiveDuration = 10.0
    min_calls: int = Field(default=20, ge=1)
    open_for: PositiveDuration = 5.0
    half_open_calls: int = Field(default=3, ge=1)


class RateLimit(ResilienceModel):
    """A token bucket over all replicas of a service: tokens refill at `rate` up to `burst`;
    an arrival takes one, or is `rejected` when there is none (Envoy's local rate limit).
    The bucket starts full."""

    rate: Rate
    burst: int = Field(default=1, ge=1, description="bucket size: arrivals admitted at once")
