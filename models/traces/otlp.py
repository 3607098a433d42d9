"""Reading OTLP JSON: what the OpenTelemetry collector's file exporter writes.

One document is ``{"resourceSpans": [{"resource": {"attributes": [...]}, "scopeSpans":
[{"spans": [...]}]}]}`` (``instrumentationLibrarySpans`` of OTLP before 0.15 is read too);
the file exporter writes one such document per line (JSON lines), the reader takes either.
Source: opentelemetry-proto, ``trace/v1/trace.proto`` and its JSON encoding (ids as hex,
64-bit integers as decimal strings, enums as numbers or names, attribute values as
``{"stringValue": ...}``, ``{"intValue": ...}``, ...).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from models.traces.conventions import (
    SERVICE_INSTANCE_ID,
    SERVICE_NAME,
    SPAN_ID_HEX_DIGITS,
    TRACE_ID_HEX_DIGITS,
    SpanKind,
)
from models.traces.json_fields import (
    Problems,
    hex_id,
    integer_nanos,
    items,
    mapping,
    place_of,
    text,
)
from models.traces.spans import TIME_ORIGIN, Span, SpanRef, Status

UNKNOWN_SERVICE = "unknown_service"
"""The service of spans whose resource has no ``service.name`` (the SDKs' own default)."""

_NANOS = 1e-9
_ORIGIN = TIME_ORIGIN * 10**9


def attribute_value(value: Any) -> Any:
    """The plain value of an OTLP ``AnyValue``: ``{"intValue": "3"}`` -> 3.

    >>> attribute_value({"stringValue": "a"}), attribute_value({"intValue": "42"})
    ('a', 42)
    >>> attribute_value({"arrayValue": {"values": [{"boolValue": True}, {"doubleValue": 1.5}]}})
    [True, 1.5]
    """
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((kind, inner),) = value.items()
    if kind == "intValue":
        try:
            return int(inner)
        except (TypeError, ValueError):
            return inner
    if kind == "arrayValue":
        values = inner.get("values", []) if isinstance(inner, dict) else []
        return [attribute_value(item) for item in values] if isinstance(values, list) else []
    if kind == "kvlistValue":
        values = inner.get("values", []) if isinstance(inner, dict) else []
        return attributes(values) if isinstance(values, list) else {}
    if kind == "bytesValue" and isinstance(inner, str):
        try:
            return base64.b64decode(inner, validate=True).hex()
        except (binascii.Error, ValueError):
            return inner
    return inner


def attributes(values: Any) -> dict[str, Any]:
    """``[{"key": K, "value": V}, ...]`` as a dict (malformed entries are left out: an
    attribute archsim does not read must not stop an import)."""
    result: dict[str, Any] = {}
    if isinstance(values, list):
        for entry in values:
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                result[entry["key"]] = attribute_value(entry.get("value"))
    return result


def _kind(value: Any, place: str, problems: Problems) -> SpanKind:
    """A `SpanKind` from its number or its name (``SPAN_KIND_SERVER``); absent: UNSPECIFIED."""
    if value is None:
        return SpanKind.UNSPECIFIED
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 5:
        return SpanKind(value)
    if isinstance(value, str):
        name = value.upper().removeprefix("SPAN_KIND_")
        if name in SpanKind.__members__:
            return SpanKind[name]
    problems.add(place, "must be a span kind: 0-5 or SPAN_KIND_SERVER, ...", value)
    return SpanKind.UNSPECIFIED


def _status(value: Any) -> Status:
    """The status: `error` for code 2 (STATUS_CODE_ERROR), `ok` for 1, else `unset`."""
    code = value.get("code") if isinstance(value, dict) else None
    if code in (2, "2", "STATUS_CODE_ERROR"):
        return "error"
    if code in (1, "1", "STATUS_CODE_OK"):
        return "ok"
    return "unset"


def _links(value: Any, place: str, problems: Problems) -> tuple[SpanRef, ...]:
    links = []
    for index, link in enumerate(items(value, place, problems, required=False)):
        where = place_of(place, index)
        entry = mapping(link, where, problems)
        if entry is None:
            continue
        trace_id = hex_id(entry.get("traceId"), TRACE_ID_HEX_DIGITS, f"{where}.traceId", problems)
        span_id = hex_id(entry.get("spanId"), SPAN_ID_HEX_DIGITS, f"{where}.spanId", problems)
        if trace_id and span_id:
            links.append((trace_id, span_id))
    return tuple(links)


def _span(
    raw: Any, place: str, service: str, instance: str | None, problems: Problems
) -> Span | None:
    entry = mapping(raw, place, problems)
    if entry is None:
        return None
    before = len(problems.items)
    trace_id = hex_id(entry.get("traceId"), TRACE_ID_HEX_DIGITS, f"{place}.traceId", problems)
    span_id = hex_id(entry.get("spanId"), SPAN_ID_HEX_DIGITS, f"{place}.spanId", problems)
    parent_id = hex_id(
        entry.get("parentSpanId"),
        SPAN_ID_HEX_DIGITS,
        f"{place}.parentSpanId",
        problems,
        required=False,
    )
    name = text(entry, "name", place, problems, required=False) or "unnamed"
    kind = _kind(entry.get("kind"), f"{place}.kind", problems)
    start = integer_nanos(entry, "startTimeUnixNano", place, problems)
    end = integer_nanos(entry, "endTimeUnixNano", place, problems)
    if start is not None and end is not None and end < start:
        problems.add(
            f"{place}.endTimeUnixNano", f"must not be before startTimeUnixNano ({start})", end
        )
    links = _links(entry.get("links"), f"{place}.links", problems)
    if len(problems.items) > before or trace_id is None or span_id is None:
        return None
    assert start is not None and end is not None
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        kind=kind,
        service=service,
        name=name,
        start=(start - _ORIGIN) * _NANOS,  # (integers: exact until the last step)
        end=(end - _ORIGIN) * _NANOS,
        instance=instance,
        links=links,
        attributes=attributes(entry.get("attributes")),
        status=_status(entry.get("status")),
    )


def read_otlp(document: dict[str, Any], problems: Problems, warnings: list[str]) -> list[Span]:
    """The spans of one OTLP JSON document; problems and warnings are recorded, not raised."""
    spans: list[Span] = []
    unnamed = 0
    for index, raw in enumerate(items(document.get("resourceSpans"), "resourceSpans", problems)):
        place = place_of("resourceSpans", index)
        resource_spans = mapping(raw, place, problems)
        if resource_spans is not None:
            unnamed += _read_resource(resource_spans, place, problems, spans)
    if unnamed:
        warnings.append(
            f"{problems.prefix}{unnamed} resource(s) without {SERVICE_NAME}: their spans are "
            f"given to a service named '{UNKNOWN_SERVICE}'"
        )
    return spans


def _read_resource(
    resource_spans: dict[str, Any], place: str, problems: Problems, spans: list[Span]
) -> int:
    """Append the spans of one ``resourceSpans`` entry; 1 if its resource has no service name."""
    resource = resource_spans.get("resource")
    resource_attributes = attributes(
        resource.get("attributes") if isinstance(resource, dict) else None
    )
    service = resource_attributes.get(SERVICE_NAME)
    unnamed = not isinstance(service, str) or not service
    instance = resource_attributes.get(SERVICE_INSTANCE_ID)
    instance_text = str(instance) if instance not in (None, "") else None
    key = "scopeSpans" if "scopeSpans" in resource_spans else "instrumentationLibrarySpans"
    scopes_place = place_of(place, key)
    for s_index, raw_scope in enumerate(
        items(resource_spans.get(key), scopes_place, problems, required=False)
    ):
        s_place = place_of(scopes_place, s_index)
        scope = mapping(raw_scope, s_place, problems)
        if scope is None:
            continue
        raw_spans = items(scope.get("spans"), f"{s_place}.spans", problems, required=False)
        for index, raw in enumerate(raw_spans):
            span = _span(
                raw,
                f"{s_place}.spans[{index}]",
                UNKNOWN_SERVICE if unnamed else str(service),
                instance_text,
                problems,
            )
            if span is not None:
                spans.append(span)
    return int(unnamed)
