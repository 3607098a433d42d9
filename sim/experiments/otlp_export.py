"""Recorded spans as OTLP JSON: the file `archsim run --trace-out` writes (docs/traces.md).

The document is one OTLP ``ExportTraceServiceRequest`` in the JSON encoding of
opentelemetry-proto (``trace/v1/trace.proto``): ``{"resourceSpans": [{"resource":
{"attributes": [...]}, "scopeSpans": [{"scope": {"name": "archsim"}, "spans": [...]}]}]}``,
one resource per (service, instance), ids as lowercase hex, ``kind`` as the enum's number,
times as decimal strings of Unix nanoseconds, attribute values as ``{"stringValue": ...}``,
``{"intValue": "3"}`` (a decimal string, as proto3 JSON writes 64-bit integers),
``{"doubleValue": ...}`` or ``{"boolValue": ...}``. It is written on one line, so the file
is also what the OpenTelemetry collector's file exporter writes (one document per line) and
its ``otlpjsonfile`` receiver reads.

Times: simulation time t (seconds from the start of the run) is the instant `TRACE_EPOCH` +
t, rounded to the nanosecond; a fixed epoch makes the same run give the same file. A failed
span has status code 2 (ERROR) with the reason as its message and as ``archsim.outcome``.
"""

from __future__ import annotations

import json
from typing import Any

from models.traces.conventions import (
    ARCHSIM_OUTCOME,
    ARCHSIM_UNFINISHED,
    SERVICE_INSTANCE_ID,
    SERVICE_NAME,
)
from sim.engine.spans import AttributeValue, RecordedTrace, SpanRecord

TRACE_EPOCH = "2026-01-01T00:00:00Z"
"""The instant at simulation time 0 in the traces archsim writes."""
EPOCH_UNIX_NANOS = 1_767_225_600 * 1_000_000_000
"""`TRACE_EPOCH` in Unix nanoseconds."""
STATUS_ERROR = 2
"""OTLP ``Status.StatusCode`` of a failed span (``STATUS_CODE_ERROR``)."""
SCOPE_NAME = "archsim"


def unix_nanos(seconds: float) -> str:
    """Simulation time `seconds` as OTLP JSON writes a time: Unix nanoseconds, a string.

    >>> unix_nanos(0.0), unix_nanos(1.5)
    ('1767225600000000000', '1767225601500000000')
    """
    return str(EPOCH_UNIX_NANOS + round(seconds * 1_000_000_000))


def attribute(key: str, value: AttributeValue) -> dict[str, Any]:
    """One OTLP ``KeyValue``.

    >>> attribute("archsim.attempt", 2)
    {'key': 'archsim.attempt', 'value': {'intValue': '2'}}
    """
    if isinstance(value, bool):
        encoded: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        encoded = {"intValue": str(value)}
    elif isinstance(value, float):
        encoded = {"doubleValue": value}
    else:
        encoded = {"stringValue": value}
    return {"key": key, "value": encoded}


def span_json(span: SpanRecord) -> dict[str, Any]:
    """One OTLP ``Span`` (a span still running at the end of the run ends there)."""
    attributes = dict(span.attributes)
    if span.outcome is not None:
        attributes[ARCHSIM_OUTCOME] = span.outcome
    if span.unfinished:
        attributes[ARCHSIM_UNFINISHED] = True
    encoded: dict[str, Any] = {"traceId": span.trace_id, "spanId": span.span_id}
    if span.parent_id is not None:
        encoded["parentSpanId"] = span.parent_id
    encoded.update(
        {
            "name": span.name,
            "kind": int(span.kind),
            "startTimeUnixNano": unix_nanos(span.start),
            "endTimeUnixNano": unix_nanos(span.start if span.end is None else span.end),
            "attributes": [attribute(key, value) for key, value in attributes.items()],
        }
    )
    if span.links:
        encoded["links"] = [
            {"traceId": trace_id, "spanId": span_id} for trace_id, span_id in span.links
        ]
    if span.outcome is not None:
        encoded["status"] = {"code": STATUS_ERROR, "message": span.outcome}
    else:
        encoded["status"] = {}
    return encoded


def otlp_document(trace: RecordedTrace) -> dict[str, Any]:
    """The OTLP JSON document of `trace`: resources sorted by service and instance, each
    resource's spans in the order they started (module docstring)."""
    by_resource: dict[int, list[dict[str, Any]]] = {}
    for span in trace.spans:
        by_resource.setdefault(span.resource, []).append(span_json(span))
    order = sorted(by_resource, key=lambda index: _resource_order(trace.resources[index]))
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        attribute(SERVICE_NAME, trace.resources[index][0]),
                        attribute(SERVICE_INSTANCE_ID, trace.resources[index][1]),
                    ]
                },
                "scopeSpans": [{"scope": {"name": SCOPE_NAME}, "spans": by_resource[index]}],
            }
            for index in order
        ]
    }


def otlp_json(trace: RecordedTrace) -> str:
    """`otlp_document(trace)` as the text of the file: compact JSON on one line."""
    return json.dumps(otlp_document(trace), separators=(",", ":")) + "\n"


def _resource_order(resource: tuple[str, str]) -> tuple[str, int]:
    """(service, instance number): ``orders-10`` after ``orders-9``."""
    service, instance = resource
    return service, int(instance.rpartition("-")[2])
