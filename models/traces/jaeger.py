"""Reading Jaeger JSON: the file the Jaeger UI downloads ("Download results" / "JSON").

``{"data": [{"traceID", "spans": [...], "processes": {"p1": {"serviceName", "tags"}}}]}``;
a span has ``traceID``, ``spanID``, ``operationName``, ``references`` (``CHILD_OF``: the
parent; ``FOLLOWS_FROM``: a causal link, read as an OTLP link), ``startTime`` and
``duration`` in microseconds, ``tags`` (``[{"key", "type", "value"}]``, ``span.kind`` among
them) and ``processID`` (or an inline ``process``). A single trace object without the
``data`` wrapper is read too. Source: jaeger-idl ``model.proto`` and the UI's JSON
(``jaeger-ui/packages/jaeger-ui/src/types/trace.tsx``); the OTLP-to-Jaeger mapping of the
OpenTelemetry specification (``otel.status_code``, ``error``, resource attributes as process
tags).
"""

from __future__ import annotations

from typing import Any

from models.traces.conventions import (
    INSTANCE_TAGS,
    JAEGER_SPAN_KIND,
    OTEL_STATUS_CODE_TAG,
    SPAN_ID_HEX_DIGITS,
    TRACE_ID_HEX_DIGITS,
    SpanKind,
)
from models.traces.json_fields import Problems, hex_id, items, mapping, number, place_of, text
from models.traces.spans import TIME_ORIGIN, Span, SpanRef, Status

_MICROS = 1e-6
_ORIGIN = TIME_ORIGIN * 10**6

KINDS = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}
"""Values of the ``span.kind`` tag (OpenTracing's, as the OTLP-to-Jaeger mapping writes)."""


def tags(values: Any) -> dict[str, Any]:
    """``[{"key", "type", "value"}, ...]`` as a dict (malformed entries left out).

    >>> tags([{"key": "span.kind", "type": "string", "value": "server"}, {"key": 3}])
    {'span.kind': 'server'}
    """
    result: dict[str, Any] = {}
    if isinstance(values, list):
        for entry in values:
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                result[entry["key"]] = entry.get("value")
    return result


def _process(raw: Any) -> tuple[str | None, str | None]:
    """(service name, instance) of a Jaeger process."""
    if not isinstance(raw, dict):
        return None, None
    service = raw.get("serviceName")
    process_tags = tags(raw.get("tags"))
    instance = next(
        (
            str(process_tags[key])
            for key in INSTANCE_TAGS
            if process_tags.get(key) not in (None, "")
        ),
        None,
    )
    return (service if isinstance(service, str) and service else None), instance


def _status(span_tags: dict[str, Any]) -> Status:
    code = str(span_tags.get(OTEL_STATUS_CODE_TAG, "")).upper()
    if span_tags.get("error") in (True, "true") or code == "ERROR":
        return "error"
    return "ok" if code == "OK" else "unset"


def _references(
    raw: Any, place: str, trace_id: str, problems: Problems
) -> tuple[str | None, tuple[SpanRef, ...]]:
    """(parent span id, links) from ``references``: the first CHILD_OF is the parent."""
    parent: str | None = None
    links: list[SpanRef] = []
    for index, reference in enumerate(items(raw, place, problems, required=False)):
        where = place_of(place, index)
        entry = mapping(reference, where, problems)
        if entry is None:
            continue
        span_id = hex_id(entry.get("spanID"), SPAN_ID_HEX_DIGITS, f"{where}.spanID", problems)
        ref_trace = hex_id(
            entry.get("traceID") or trace_id, TRACE_ID_HEX_DIGITS, f"{where}.traceID", problems
        )
        kind = entry.get("refType", "CHILD_OF")
        if kind not in ("CHILD_OF", "FOLLOWS_FROM"):
            problems.add(f"{where}.refType", "must be CHILD_OF or FOLLOWS_FROM", kind)
            continue
        if span_id is None or ref_trace is None:
            continue
        if kind == "CHILD_OF" and parent is None and ref_trace == trace_id:
            parent = span_id
        else:
            links.append((ref_trace, span_id))
    return parent, tuple(links)


def _span(
    raw: Any,
    place: str,
    processes: dict[str, Any],
    problems: Problems,
    unknown_processes: set[str],
) -> Span | None:
    entry = mapping(raw, place, problems)
    if entry is None:
        return None
    before = len(problems.items)
    trace_id = hex_id(entry.get("traceID"), TRACE_ID_HEX_DIGITS, f"{place}.traceID", problems)
    span_id = hex_id(entry.get("spanID"), SPAN_ID_HEX_DIGITS, f"{place}.spanID", problems)
    name = text(entry, "operationName", place, problems, required=False) or "unnamed"
    start = number(entry, "startTime", place, problems)
    duration = number(entry, "duration", place, problems)
    parent, links = _references(
        entry.get("references"), f"{place}.references", trace_id or "", problems
    )
    if parent is None and entry.get("parentSpanID") not in (None, "", "0"):
        parent = hex_id(
            entry.get("parentSpanID"), SPAN_ID_HEX_DIGITS, f"{place}.parentSpanID", problems
        )
    process_id = entry.get("processID")
    service, instance = _process(
        entry["process"] if "process" in entry else processes.get(str(process_id))
    )
    if service is None:
        unknown_processes.add(str(process_id))
    span_tags = tags(entry.get("tags"))
    kind_tag = str(span_tags.get(JAEGER_SPAN_KIND, "")).lower()
    if len(problems.items) > before or trace_id is None or span_id is None:
        return None
    assert start is not None and duration is not None
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent,
        kind=KINDS.get(kind_tag, SpanKind.UNSPECIFIED),
        service=service or f"process-{process_id}",
        name=name,
        start=(start - _ORIGIN) * _MICROS,
        end=(start + duration - _ORIGIN) * _MICROS,
        instance=instance,
        links=links,
        attributes=span_tags,
        status=_status(span_tags),
    )


def read_jaeger(document: Any, problems: Problems, warnings: list[str]) -> list[Span]:
    """The spans of a Jaeger JSON document (``{"data": [...]}`` or one trace object)."""
    if isinstance(document, dict) and "data" in document:
        traces, base = items(document.get("data"), "data", problems), "data"
    else:
        traces, base = [document], ""
    spans: list[Span] = []
    unknown: set[str] = set()
    for t_index, raw_trace in enumerate(traces):
        t_place = place_of(base, t_index) if base else ""
        trace = mapping(raw_trace, t_place or "(the trace)", problems)
        if trace is None:
            continue
        processes = trace.get("processes")
        processes = processes if isinstance(processes, dict) else {}
        for index, raw in enumerate(
            items(trace.get("spans"), place_of(t_place, "spans"), problems)
        ):
            span = _span(
                raw, f"{place_of(t_place, 'spans')}[{index}]", processes, problems, unknown
            )
            if span is not None:
                spans.append(span)
    if unknown:
        names = ", ".join(sorted(unknown)[:5])
        warnings.append(
            f"{problems.prefix}spans of process(es) {names} without a serviceName: their service "
            "is named after the process id"
        )
    return spans
