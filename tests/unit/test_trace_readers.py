"""Reading OTLP, Jaeger and Zipkin JSON into one span model (models.traces.reading):
each format, detection by content, JSON lines, merging files, and bad input (deterministic
unit tests: exact values)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from models.traces.conventions import SpanKind
from models.traces.errors import TraceInputError
from models.traces.reading import detect_format, read_traces
from models.traces.spans import TIME_ORIGIN, Span

T0 = 1_767_225_600  # seconds since the epoch
TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER = "4bf92f3577b34da6a3ce929d0e0e4736"

CANONICAL = [
    # (trace, id, parent, kind, service, instance, name, start ms, end ms, attributes, links)
    (TRACE, "a000000000000001", None, "server", "frontend", "fe-1", "GET /home", 0, 10, {}, []),
    (TRACE, "a000000000000002", "a000000000000001", "client", "frontend", "fe-1",
     "GET /items", 1, 6, {}, []),
    (TRACE, "a000000000000003", "a000000000000002", "server", "catalog", "cat-1",
     "GET /items", 1.5, 5.5, {}, []),
    (TRACE, "a000000000000004", "a000000000000001", "producer", "frontend", "fe-1",
     "home-viewed publish", 7, 7.1, {"messaging.destination.name": "home-viewed"}, []),
    (OTHER, "b000000000000001", None, "consumer", "analytics", "an-1", "home-viewed process",
     9, 12, {"messaging.consumer.group.name": "stats"}, [(TRACE, "a000000000000004")]),
]  # fmt: skip
KINDS = {"server": 2, "client": 3, "producer": 4, "consumer": 5, "internal": 1}


def otlp_document(rows: list[tuple[Any, ...]] = CANONICAL) -> dict[str, Any]:
    """The rows as one OTLP JSON document, one resourceSpans entry per instance."""
    by_resource: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for trace, span_id, parent, kind, service, instance, name, start, end, attrs, links in rows:
        span: dict[str, Any] = {
            "traceId": trace,
            "spanId": span_id,
            "parentSpanId": parent or "",
            "name": name,
            "kind": KINDS[kind],
            "startTimeUnixNano": str(T0 * 10**9 + round(start * 1e6)),
            "endTimeUnixNano": str(T0 * 10**9 + round(end * 1e6)),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
            "links": [{"traceId": t, "spanId": s} for t, s in links],
        }
        by_resource.setdefault((service, instance), []).append(span)
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        {"key": "service.instance.id", "value": {"stringValue": instance}},
                    ]
                },
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            }
            for (service, instance), spans in by_resource.items()
        ]
    }


def jaeger_document(rows: list[tuple[Any, ...]] = CANONICAL) -> dict[str, Any]:
    """The rows as the Jaeger UI's JSON: links as FOLLOWS_FROM references."""
    traces: dict[str, dict[str, Any]] = {}
    for trace, span_id, parent, kind, service, instance, name, start, end, attrs, links in rows:
        entry = traces.setdefault(trace, {"traceID": trace, "spans": [], "processes": {}})
        process = f"p-{service}-{instance}"
        entry["processes"][process] = {
            "serviceName": service,
            "tags": [{"key": "hostname", "type": "string", "value": instance}],
        }
        references = [{"refType": "CHILD_OF", "traceID": trace, "spanID": parent}] if parent else []
        references += [{"refType": "FOLLOWS_FROM", "traceID": t, "spanID": s} for t, s in links]
        tags = [{"key": "span.kind", "type": "string", "value": kind}]
        tags += [{"key": k, "type": "string", "value": v} for k, v in attrs.items()]
        entry["spans"].append(
            {
                "traceID": trace,
                "spanID": span_id,
                "operationName": name,
                "references": references,
                "startTime": T0 * 10**6 + round(start * 1e3),
                "duration": round((end - start) * 1e3),
                "tags": tags,
                "processID": process,
            }
        )
    return {"data": list(traces.values())}


def zipkin_document(rows: list[tuple[Any, ...]] = CANONICAL) -> list[dict[str, Any]]:
    """The rows as Zipkin v2 spans: a consumer is a child of its producer (no links)."""
    spans = []
    for trace, span_id, parent, kind, service, instance, name, start, end, attrs, links in rows:
        span = {
            "traceId": trace,
            "id": span_id,
            "kind": kind.upper(),
            "name": name,
            "timestamp": T0 * 10**6 + round(start * 1e3),
            "duration": round((end - start) * 1e3),
            "localEndpoint": {"serviceName": service, "ipv4": instance},
            "tags": dict(attrs),
        }
        if links:
            span["traceId"], span["parentId"] = links[0]
        elif parent:
            span["parentId"] = parent
        spans.append(span)
    return spans


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def by_id(spans: list[Span]) -> dict[str, Span]:
    return {span.span_id: span for span in spans}


def test_otlp_spans_carry_every_field(tmp_path: Path) -> None:
    read = read_traces([write(tmp_path, "t.json", otlp_document())])
    assert [item.format for item in read.files] == ["otlp"]
    spans = by_id(read.spans)
    assert len(spans) == 5 and read.warnings == []
    client = spans["a000000000000002"]
    assert (client.trace_id, client.parent_id, client.kind) == (
        TRACE,
        "a000000000000001",
        SpanKind.CLIENT,
    )
    assert (client.service, client.instance, client.name) == ("frontend", "fe-1", "GET /items")
    assert client.start == pytest.approx(T0 - TIME_ORIGIN + 0.001, abs=1e-7)
    assert client.duration == pytest.approx(0.005, abs=1e-7)  # (times count from 2017)
    consumer = spans["b000000000000001"]
    assert consumer.parent_id is None and consumer.links == ((TRACE, "a000000000000004"),)
    assert consumer.attributes["messaging.consumer.group.name"] == "stats"
    assert spans["a000000000000001"].parent_id is None  # "" means no parent


def test_jaeger_and_zipkin_give_the_same_spans_as_otlp(tmp_path: Path) -> None:
    def essentials(path: Path) -> list[tuple[Any, ...]]:
        spans = read_traces([path]).spans
        return sorted(
            (s.span_id, s.parent_id, s.kind, s.service, s.instance, s.name,
             round(s.start, 6), round(s.end, 6))
            for s in spans
        )  # fmt: skip

    otlp = essentials(write(tmp_path, "a.json", otlp_document()))
    jaeger = essentials(write(tmp_path, "b.json", jaeger_document()))
    assert jaeger == otlp
    zipkin = read_traces([write(tmp_path, "c.json", zipkin_document())]).spans
    consumer = by_id(zipkin)["b000000000000001"]
    assert consumer.parent_id == "a000000000000004"  # Zipkin: a child of its producer
    assert consumer.trace_id == TRACE
    jaeger_consumer = by_id(read_traces([tmp_path / "b.json"]).spans)["b000000000000001"]
    assert jaeger_consumer.links == ((TRACE, "a000000000000004"),)  # FOLLOWS_FROM


def test_otlp_variants_base64_ids_kind_names_and_old_scope_key(tmp_path: Path) -> None:
    trace = base64.b64encode(bytes.fromhex(TRACE)).decode()
    span_id = base64.b64encode(bytes.fromhex("00000000000000ff")).decode()
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "instrumentationLibrarySpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": span_id,
                                "name": "job",
                                "kind": "SPAN_KIND_INTERNAL",
                                "startTimeUnixNano": T0 * 10**9 + 1000,
                                "endTimeUnixNano": str(T0 * 10**9 + 3000),
                                "status": {"code": "STATUS_CODE_ERROR"},
                                "attributes": [
                                    {"key": "n", "value": {"intValue": "7"}},
                                    {"key": "ok", "value": {"boolValue": True}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    read = read_traces([write(tmp_path, "t.json", document)])
    (span,) = read.spans
    assert (span.trace_id, span.span_id) == (TRACE, "00000000000000ff")
    assert span.kind is SpanKind.INTERNAL and span.status == "error"
    assert span.attributes == {"n": 7, "ok": True}
    assert span.service == "unknown_service" and span.instance is None
    assert span.duration == pytest.approx(2e-6, abs=1e-7)
    assert any("without service.name" in warning for warning in read.warnings)


def test_json_lines_as_the_file_exporter_writes_them(tmp_path: Path) -> None:
    document = otlp_document()
    lines = [json.dumps({"resourceSpans": [entry]}) for entry in document["resourceSpans"]]
    lines.insert(1, json.dumps({"resourceMetrics": []}))
    lines.insert(2, "")
    read = read_traces([write(tmp_path, "t.jsonl", "\n".join(lines) + "\n")])
    assert len(read.spans) == 5
    assert read.warnings == [f"{tmp_path / 't.jsonl'}: line 2: OTLP metrics, not spans: skipped"]


def test_detection_is_by_content_not_by_name() -> None:
    assert detect_format(otlp_document()) == "otlp"
    assert detect_format(jaeger_document()) == "jaeger"
    assert detect_format(jaeger_document()["data"][0]) == "jaeger"  # one trace, no wrapper
    assert detect_format(zipkin_document()) == "zipkin"
    assert detect_format([zipkin_document()]) == "zipkin"  # GET /api/v2/traces: lists
    assert detect_format({"spans": []}) is None
    assert detect_format("text") is None


def test_zipkin_list_of_traces_shared_spans_and_unfinished_spans(tmp_path: Path) -> None:
    trace = "463ac35c9f6413ad"  # a 64-bit trace id: padded to 32 hex digits
    client = {
        "traceId": trace, "id": "0000000000000002", "parentId": "0000000000000001",
        "kind": "CLIENT", "name": "get", "timestamp": 1000, "duration": 500,
        "localEndpoint": {"serviceName": "web"},
    }  # fmt: skip
    api = {"serviceName": "api", "ipv4": "10.0.0.7", "port": 8080}
    shared = {**client, "kind": "SERVER", "shared": True, "timestamp": 1100, "duration": 300,
              "localEndpoint": api}  # fmt: skip
    below = {**client, "id": "0000000000000003", "parentId": "0000000000000002",
             "localEndpoint": api, "timestamp": 1150, "duration": 100}  # fmt: skip
    root = {**client, "id": "0000000000000001", "kind": "SERVER", "duration": 900}
    root.pop("parentId")
    unfinished = {**client, "id": "0000000000000009"}
    unfinished.pop("duration")
    read = read_traces([write(tmp_path, "z.json", [[root, client, shared, below], [unfinished]])])
    spans = by_id(read.spans)
    assert set(spans) == {
        "0000000000000001",
        "0000000000000002",
        "0000000000000002-server",
        "0000000000000003",
    }
    server = spans["0000000000000002-server"]
    assert server.parent_id == "0000000000000002" and server.instance == "10.0.0.7:8080"
    assert server.trace_id == "0" * 16 + trace
    assert spans["0000000000000003"].parent_id == "0000000000000002-server"
    assert any("1 span(s) without a duration" in warning for warning in read.warnings)


def test_several_files_are_merged_and_a_span_given_twice_is_kept_once(tmp_path: Path) -> None:
    first = write(tmp_path, "a.json", otlp_document(CANONICAL[:3]))
    second = write(tmp_path, "b.json", jaeger_document(CANONICAL[2:]))
    read = read_traces([first, second])
    assert [item.format for item in read.files] == ["otlp", "jaeger"]
    assert [item.spans for item in read.files] == [3, 3]
    assert len(read.spans) == 5
    assert read.warnings == ["1 span(s) given twice (the same trace and span id) were kept once"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("  \n\n", "the file is empty"),
        ('{"resourceSpans": [\n  {"resource": }\n]}', "not valid JSON: line 2, column 16"),
        ('{"resourceSpans": []}\n{"resourceSpans": []}\n{"resourceSpans": [}\n',
         "not valid JSON: line 3, column 20"),
        ('{"traces": []}', "not a trace format archsim reads: expected OTLP JSON (an object "
         "with 'resourceSpans'), Jaeger JSON (an object with 'data') or Zipkin v2 JSON (a list "
         "of spans with 'traceId') (got an object with 'traces')"),
        ("[1, 2]", "not a trace format archsim reads"),
        ("42", "(got a JSON int: 42)"),
        ('{"data": [{"traceID": "x", "spans": [{}]}]}', "data[0].spans[0].traceID: is missing"),
    ],
)  # fmt: skip
def test_bad_files_name_the_file_the_place_and_the_rule(
    tmp_path: Path, content: str, message: str
) -> None:
    path = write(tmp_path, "bad.json", content)
    with pytest.raises(TraceInputError) as raised:
        read_traces([path])
    assert raised.value.source == str(path)
    assert message in str(raised.value)


def test_every_bad_span_of_a_file_is_named_with_its_path(tmp_path: Path) -> None:
    document = otlp_document()
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["spanId"] = "xyz"
    spans[1]["endTimeUnixNano"] = "5"
    del spans[2]["startTimeUnixNano"]
    path = write(tmp_path, "bad.json", document)
    with pytest.raises(TraceInputError) as raised:
        read_traces([path])
    place = "resourceSpans[0].scopeSpans[0].spans"
    assert raised.value.problems == (
        f"{place}[0].spanId: must be an id of at most 16 hex digits (got 'xyz')",
        f"{place}[1].endTimeUnixNano: must not be before startTimeUnixNano "
        f"({T0 * 10**9 + 1000000}) (got 5)",
        f"{place}[2].startTimeUnixNano: is missing",
    )
    assert str(raised.value).startswith(f"{path}: 3 problems found\n  {path}: {place}[0]")


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(TraceInputError, match="cannot read the file: No such file"):
        read_traces([tmp_path / "missing.json"])
    with pytest.raises(TraceInputError, match="it is a directory, not a trace file"):
        read_traces([tmp_path])
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"data": []}\n{"x": "caf\xe9"}')
    with pytest.raises(TraceInputError, match=r"not UTF-8 text: byte 0xe9 at line 2, column 11"):
        read_traces([latin])
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x00\x01")
    with pytest.raises(TraceInputError, match="not a text file"):
        read_traces([binary])


def test_a_file_cut_short_says_so(tmp_path: Path) -> None:
    """A truncated export (cut inside a string, or after a comma) is named as such, with the
    place where the JSON stops, not only the parser's words."""
    text = json.dumps(otlp_document())
    inside = write(tmp_path, "inside.json", text[: text.index('"name"') + 3])
    with pytest.raises(TraceInputError) as raised:
        read_traces([inside])
    (problem,) = raised.value.problems
    column = text.index('"name"') + 1
    assert problem == (
        f"not valid JSON: line 1, column {column}: a string starts here and is never closed "
        "(the text ends before the JSON does: was the file cut short?)"
    )
    lines = write(tmp_path, "lines.json", text + "\n" + text[: text.index('"name"')] + "\n")
    with pytest.raises(TraceInputError, match=r"line 2, column \d+: .*was the file cut short"):
        read_traces([lines])
    broken = write(tmp_path, "broken.json", '{"data": [}' + " " * 3 + "]}")
    with pytest.raises(TraceInputError) as raised:
        read_traces([broken])
    assert "cut short" not in str(raised.value)  # (an error in the middle is not a cut)


def test_files_without_any_span_are_refused(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.json", {"resourceSpans": []})
    with pytest.raises(TraceInputError, match="no spans found"):
        read_traces([empty, write(tmp_path, "none.json", [])])


def test_many_problems_are_cut_after_twenty() -> None:
    error = TraceInputError("f.json", [f"p{i}" for i in range(25)])
    lines = str(error).splitlines()
    assert lines[0] == "f.json: 25 problems found"
    assert lines[-1] == "  ... and 5 more" and len(lines) == 22
