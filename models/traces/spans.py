"""The one span model every trace format is read into (OTLP, Jaeger and Zipkin JSON).

Times are seconds since `TIME_ORIGIN` as floats: counted from the Unix epoch, a float
would keep only about 0.2 µs today (a 1 ms call read as 999.9 µs); from 2017, about 0.05 µs,
finer than Jaeger's and Zipkin's microseconds. Ids are lowercase hex strings as W3C Trace
Context writes them. A span belongs to one `service` (the
resource's ``service.name``, Jaeger's process, Zipkin's local endpoint) and, when the tracer
says so, one `instance` of it (``service.instance.id``, a host name or address).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from models.traces.conventions import SpanKind

TIME_ORIGIN = 1_500_000_000
"""Seconds since the Unix epoch (2017-07-14T02:40:00Z) that span times count from."""

SpanRef = tuple[str, str]
"""A span named by (trace id, span id), as a link points to it."""

Status = Literal["unset", "ok", "error"]


@dataclass(frozen=True, slots=True)
class Span:
    """One timed operation of one service, as every reader returns it.

    `parent_id` is the span id of the parent in the same trace (None for a root); `links`
    point to other spans that caused this one without being its parent (OTLP links,
    Jaeger's FOLLOWS_FROM references: how a consumer points to the producer of its message).
    `attributes` hold the span's own attributes (tags), values as JSON gives them.
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    kind: SpanKind
    service: str
    name: str
    start: float
    end: float
    instance: str | None = None
    links: tuple[SpanRef, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    status: Status = "unset"

    @property
    def duration(self) -> float:
        """end - start, in seconds."""
        return self.end - self.start

    @property
    def ref(self) -> SpanRef:
        """(trace id, span id): how other spans point to this one."""
        return (self.trace_id, self.span_id)
