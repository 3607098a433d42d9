"""The OpenTelemetry conventions archsim reads (`archsim import traces`) and writes
(`archsim run --trace-out`), in one place so that a simulation's traces import back.

Sources: OpenTelemetry protocol (OTLP) JSON encoding, `opentelemetry-proto`
(`trace/v1/trace.proto`: resourceSpans / scopeSpans / spans, `kind` as the `SpanKind` enum
number, ids as lowercase hex, times as decimal strings of Unix nanoseconds); semantic
conventions for resources (`service.name`, `service.instance.id`) and messaging spans
(`messaging.system`, `messaging.destination.name`, `messaging.operation.type`,
`messaging.consumer.group.name`; the Kafka-specific `messaging.kafka.consumer.group` of older
versions is read too). W3C Trace Context: a trace id is 16 bytes (32 hex digits), a span id
8 bytes (16 hex digits), neither all zeros.
"""

from __future__ import annotations

from enum import IntEnum


class SpanKind(IntEnum):
    """OTLP `Span.SpanKind` numbers."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


SERVICE_NAME = "service.name"
SERVICE_INSTANCE_ID = "service.instance.id"

MESSAGING_SYSTEM = "messaging.system"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"  # "publish", "process", ...
MESSAGING_CONSUMER_GROUP = "messaging.consumer.group.name"
MESSAGING_KAFKA_CONSUMER_GROUP = "messaging.kafka.consumer.group"  # older conventions
MESSAGING_PARTITION = "messaging.destination.partition.id"

ARCHSIM_FLOW = "archsim.flow"
"""archsim's own attribute on a root span: the flow a simulated request belongs to."""
ARCHSIM_OPERATION = "archsim.operation"
"""archsim's own attribute on SERVER/CONSUMER spans: the operation (or handler) name."""
ARCHSIM_OUTCOME = "archsim.outcome"
"""archsim's own attribute on a failed span: why (timeout, error, dropped, ...)."""

TRACE_ID_HEX_DIGITS = 32
SPAN_ID_HEX_DIGITS = 16
