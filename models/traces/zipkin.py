"""Reading Zipkin v2 JSON: a list of spans (``POST /api/v2/spans``), or a list of traces,
each a list of spans (``GET /api/v2/traces``).

A span has ``traceId`` (16 or 32 hex digits), ``id``, ``parentId``, ``kind`` (SERVER,
CLIENT, PRODUCER, CONSUMER; absent: a local span), ``name``, ``timestamp`` and ``duration``
in microseconds, ``localEndpoint`` (``serviceName``, ``ipv4``/``ipv6``, ``port``),
``remoteEndpoint`` and ``tags`` (strings). Zipkin has no links: a consumer span is a child of
the producer span (as Brave writes it). A SERVER span marked ``shared`` uses the id of its
CLIENT span (B3 propagation of old tracers): it gets an id of its own here, and the spans of
its service below it become its children. Source: zipkin-api ``zipkin2-api.yaml``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from models.traces.conventions import (
    OTEL_STATUS_CODE_TAG,
    SERVICE_INSTANCE_ID,
    SPAN_ID_HEX_DIGITS,
    TRACE_ID_HEX_DIGITS,
    SpanKind,
)
from models.traces.json_fields import Problems, hex_id, mapping, number, place_of, text
from models.traces.otlp import UNKNOWN_SERVICE
from models.traces.spans import TIME_ORIGIN, Span, Status

_MICROS = 1e-6
_ORIGIN = TIME_ORIGIN * 10**6
_SHARED_SUFFIX = "-server"


def _endpoint(raw: Any) -> tuple[str | None, str | None]:
    """(service name, address[:port]) of an endpoint."""
    if not isinstance(raw, dict):
        return None, None
    service = raw.get("serviceName")
    address = raw.get("ipv4") or raw.get("ipv6")
    port = raw.get("port")
    where = f"{address}:{port}" if address and port else (str(address) if address else None)
    return (service if isinstance(service, str) and service else None), where


def _status(span_tags: dict[str, Any]) -> Status:
    code = str(span_tags.get(OTEL_STATUS_CODE_TAG, "")).upper()
    if "error" in span_tags or code == "ERROR":
        return "error"
    return "ok" if code == "OK" else "unset"


def _kind(value: Any, place: str, problems: Problems) -> SpanKind:
    if value is None:
        return SpanKind.UNSPECIFIED
    if isinstance(value, str) and value.upper() in ("SERVER", "CLIENT", "PRODUCER", "CONSUMER"):
        return SpanKind[value.upper()]
    problems.add(place, "must be SERVER, CLIENT, PRODUCER or CONSUMER", value)
    return SpanKind.UNSPECIFIED


def _span(raw: Any, place: str, problems: Problems, counts: dict[str, int]) -> Span | None:
    entry = mapping(raw, place, problems)
    if entry is None:
        return None
    before = len(problems.items)
    trace_id = hex_id(entry.get("traceId"), TRACE_ID_HEX_DIGITS, f"{place}.traceId", problems)
    span_id = hex_id(entry.get("id"), SPAN_ID_HEX_DIGITS, f"{place}.id", problems)
    parent_id = hex_id(
        entry.get("parentId"), SPAN_ID_HEX_DIGITS, f"{place}.parentId", problems, required=False
    )
    kind = _kind(entry.get("kind"), f"{place}.kind", problems)
    name = text(entry, "name", place, problems, required=False) or "unnamed"
    start = number(entry, "timestamp", place, problems)
    duration = number(entry, "duration", place, problems, required=False)
    raw_tags = entry.get("tags")
    span_tags = dict(raw_tags) if isinstance(raw_tags, dict) else {}
    service, address = _endpoint(entry.get("localEndpoint"))
    if len(problems.items) > before or trace_id is None or span_id is None:
        return None
    assert start is not None
    if duration is None:
        counts["unfinished"] += 1
        return None
    if service is None:
        counts["unnamed"] += 1
    instance = span_tags.get(SERVICE_INSTANCE_ID) or address
    if entry.get("shared") is True and kind is SpanKind.SERVER:
        span_tags["zipkin.shared"] = True
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        kind=kind,
        service=service or UNKNOWN_SERVICE,
        name=name,
        start=(start - _ORIGIN) * _MICROS,
        end=(start + duration - _ORIGIN) * _MICROS,
        instance=str(instance) if instance else None,
        attributes=span_tags,
        status=_status(span_tags),
    )


def _unshare(spans: list[Span]) -> list[Span]:
    """Give each shared SERVER span an id of its own (its CLIENT span becomes its parent) and
    re-parent the spans of its service that named the shared id as their parent."""
    shared = {span.ref: span for span in spans if span.attributes.get("zipkin.shared") is True}
    clients = {span.ref for span in spans if span.kind is SpanKind.CLIENT}
    renamed = {ref: server for ref, server in shared.items() if ref in clients}
    if not renamed:
        return spans
    result = []
    for span in spans:
        server = renamed.get(span.ref)
        if server is span:
            span = replace(span, span_id=span.span_id + _SHARED_SUFFIX, parent_id=span.span_id)
        elif span.parent_id is not None:
            parent_server = renamed.get((span.trace_id, span.parent_id))
            if parent_server is not None and parent_server.service == span.service:
                span = replace(span, parent_id=span.parent_id + _SHARED_SUFFIX)
        result.append(span)
    return result


def read_zipkin(document: list[Any], problems: Problems, warnings: list[str]) -> list[Span]:
    """The spans of a Zipkin v2 document (a list of spans, or a list of lists of spans)."""
    counts = {"unfinished": 0, "unnamed": 0}
    spans: list[Span] = []
    for index, entry in enumerate(document):
        if isinstance(entry, list):
            for inner_index, inner in enumerate(entry):
                span = _span(inner, f"[{index}][{inner_index}]", problems, counts)
                if span is not None:
                    spans.append(span)
        else:
            span = _span(entry, place_of("", index), problems, counts)
            if span is not None:
                spans.append(span)
    if counts["unfinished"]:
        warnings.append(
            f"{problems.prefix}{counts['unfinished']} span(s) without a duration (not finished "
            "when they were reported) were left out"
        )
    if counts["unnamed"]:
        warnings.append(
            f"{problems.prefix}{counts['unnamed']} span(s) without localEndpoint.serviceName: "
            f"their service is named '{UNKNOWN_SERVICE}'"
        )
    return _unshare(spans)
