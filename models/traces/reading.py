"""Reading trace files of any supported format into one list of spans.

The format is recognised by content, not by file name: an object with ``resourceSpans`` is
OTLP JSON, an object with ``data`` (or one trace with ``traceID`` and ``spans``) is Jaeger
JSON, a list of spans with ``traceId`` (or a list of such lists) is Zipkin v2 JSON. A file
may hold one JSON document or one per line (JSON lines, as the collector's file exporter
writes); lines of metrics or logs from the same exporter are skipped. Several files are
merged; a span given twice (the same trace and span id, e.g. a trace exported to two files)
is kept once.

A file that cannot be read, is empty, is no UTF-8 text, is no JSON (the line and column are
named) or is none of the formats raises `TraceInputError`, as does any span that breaks a
rule of its format (every such span of the file is named, with its JSON path).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.traces.errors import TraceInputError
from models.traces.jaeger import read_jaeger
from models.traces.json_fields import Problems
from models.traces.otlp import read_otlp
from models.traces.spans import Span
from models.traces.zipkin import read_zipkin

FORMATS = ("otlp", "jaeger", "zipkin")


@dataclass
class TraceFile:
    """One file read: its path, its format and how many spans it gave."""

    path: Path
    format: str
    spans: int


@dataclass
class TraceRead:
    """The spans of all files read, in file order, with what the reader noticed."""

    spans: list[Span]
    files: list[TraceFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_traces(paths: Sequence[Path]) -> TraceRead:
    """Read and merge trace files; raise `TraceInputError` for the first bad file, and when
    no file holds a span."""
    result = TraceRead(spans=[])
    seen: set[tuple[str, str]] = set()
    duplicates = 0
    for path in paths:
        spans, form, warnings = read_trace_file(path)
        result.files.append(TraceFile(path, form, len(spans)))
        result.warnings.extend(f"{path}: {warning}" for warning in warnings)
        for span in spans:
            if span.ref in seen:
                duplicates += 1
                continue
            seen.add(span.ref)
            result.spans.append(span)
    if duplicates:
        result.warnings.append(
            f"{duplicates} span(s) given twice (the same trace and span id) were kept once"
        )
    if not result.spans:
        names = ", ".join(str(path) for path in paths)
        raise TraceInputError(names, ["no spans found (nothing to import)"])
    return result


def read_trace_file(path: Path) -> tuple[list[Span], str, list[str]]:
    """(spans, format, warnings) of one file; `TraceInputError` if it cannot be read."""
    source = str(path)
    documents = _documents(path)
    spans: list[Span] = []
    warnings: list[str] = []
    problems_all: list[str] = []
    formats: list[str] = []
    for line, document in documents:
        problems = Problems(f"line {line}: " if line else "")
        form = detect_format(document)
        if form is None:
            skipped = _other_signal(document)
            if skipped:
                warnings.append(f"{problems.prefix}{skipped}: skipped")
                continue
            problems_all.append(f"{problems.prefix}{describe_unknown(document)}")
            continue
        formats.append(form)
        if form == "otlp":
            spans.extend(read_otlp(document, problems, warnings))
        elif form == "jaeger":
            spans.extend(read_jaeger(document, problems, warnings))
        else:
            spans.extend(read_zipkin(document, problems, warnings))
        problems_all.extend(problems.items)
    if problems_all:
        raise TraceInputError(source, problems_all)
    if not spans:
        warnings.append("no spans in this file")
    kinds = sorted(set(formats), key=FORMATS.index)
    return spans, "+".join(kinds) if kinds else "none", warnings


def detect_format(document: Any) -> str | None:
    """The format of a parsed JSON document: `otlp`, `jaeger`, `zipkin`, or None.

    >>> detect_format({"resourceSpans": []}), detect_format({"data": []})
    ('otlp', 'jaeger')
    >>> detect_format([{"traceId": "a", "id": "b"}]), detect_format({"spans": 1})
    ('zipkin', None)
    """
    if isinstance(document, dict):
        if "resourceSpans" in document:
            return "otlp"
        if "data" in document or ("traceID" in document and "spans" in document):
            return "jaeger"
        return None
    if isinstance(document, list):
        first = next((item for item in document if item != []), None)
        if isinstance(first, list):
            first = first[0] if first else None
        if first is None or (isinstance(first, dict) and "traceId" in first):
            return "zipkin"
    return None


def _other_signal(document: Any) -> str | None:
    """What an OTLP line of metrics or logs is (the collector's file exporter may write them
    into the same file), else None."""
    if isinstance(document, dict):
        for key, what in (("resourceMetrics", "metrics"), ("resourceLogs", "logs")):
            if key in document:
                return f"OTLP {what}, not spans"
    return None


def describe_unknown(document: Any) -> str:
    """Why a document is not traces archsim reads, naming what was found."""
    if isinstance(document, dict):
        keys = ", ".join(repr(key) for key in list(document)[:6]) or "no keys"
        found = f"an object with {keys}"
    elif isinstance(document, list):
        found = f"a list whose first item is {json.dumps(document[0])[:60]}"
    else:
        found = f"a JSON {type(document).__name__}: {json.dumps(document)[:60]}"
    return (
        "not a trace format archsim reads: expected OTLP JSON (an object with "
        "'resourceSpans'), Jaeger JSON (an object with 'data') or Zipkin v2 JSON (a list of "
        f"spans with 'traceId') (got {found})"
    )


def _documents(path: Path) -> list[tuple[int, Any]]:
    """The JSON documents of a file: [(0, document)] for one document, [(line, document),
    ...] for JSON lines; `TraceInputError` if the file cannot be read or is no JSON."""
    source = str(path)
    if path.is_dir():
        raise TraceInputError(source, ["it is a directory, not a trace file"])
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TraceInputError(source, [f"cannot read the file: {error.strerror}"]) from None
    if b"\0" in data:
        raise TraceInputError(source, ["not a text file (it contains NUL bytes)"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        byte = data[error.start]
        raise TraceInputError(
            source, [f"not UTF-8 text: byte 0x{byte:02x} at line {line}, column {column}"]
        ) from None
    if not text.strip():
        raise TraceInputError(source, ["the file is empty"])
    try:
        return [(0, json.loads(text))]
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":
            raise TraceInputError(source, [_json_problem(error)]) from None
    documents: list[tuple[int, Any]] = []
    for number, line_text in enumerate(text.splitlines(), start=1):
        if not line_text.strip():
            continue
        try:
            documents.append((number, json.loads(line_text)))
        except json.JSONDecodeError as error:
            raise TraceInputError(source, [_json_problem(error, line_offset=number - 1)]) from None
    return documents


def _json_problem(error: json.JSONDecodeError, line_offset: int = 0) -> str:
    """The place and the rule, and whether the JSON ends early (a file cut short: an export
    interrupted, or a file copied while the collector still wrote it)."""
    message = error.msg
    cut_short = message.startswith("Unterminated string") or not error.doc[error.pos :].strip()
    if message.startswith("Unterminated string"):
        message = "a string starts here and is never closed"
    if cut_short:
        message += " (the text ends before the JSON does: was the file cut short?)"
    return f"not valid JSON: line {error.lineno + line_offset}, column {error.colno}: {message}"
