"""Shared fixtures of the trace import's unit tests (tests/unit/test_trace_import_*.py):
`Synth`, OTLP spans written by hand, the span kinds, and readers of the imported scenario's
steps.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from models.traces.building import TraceImport

SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL = 2, 3, 4, 5, 1
EPOCH = 1_767_225_600.0


class Synth:
    """OTLP spans written by hand: `span` adds one, `document` gives the OTLP JSON."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.resources: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
        self.count = 0

    def new_id(self) -> str:
        self.count += 1
        return f"{self.count:016x}"

    def span(
        self,
        where: tuple[str, str | None],
        trace: str,
        parent: str | None,
        kind: int,
        name: str,
        start: float,
        end: float,
        attributes: dict[str, Any] | None = None,
        links: list[tuple[str, str]] | None = None,
        span_id: str | None = None,
    ) -> str:
        span_id = span_id or self.new_id()
        self.resources[where].append(
            {
                "traceId": trace,
                "spanId": span_id,
                "parentSpanId": parent or "",
                "name": name,
                "kind": kind,
                "startTimeUnixNano": str(round((EPOCH + start) * 1e9)),
                "endTimeUnixNano": str(round((EPOCH + end) * 1e9)),
                "attributes": [
                    {"key": key, "value": {"boolValue": value}}
                    if isinstance(value, bool)
                    else {"key": key, "value": {"stringValue": str(value)}}
                    for key, value in (attributes or {}).items()
                ],
                "links": [{"traceId": t, "spanId": s} for t, s in links or []],
            }
        )
        return span_id

    def document(self) -> dict[str, Any]:
        entries = []
        for (service, instance), spans in self.resources.items():
            attributes = [{"key": "service.name", "value": {"stringValue": service}}]
            if instance is not None:
                attributes.append(
                    {"key": "service.instance.id", "value": {"stringValue": instance}}
                )
            entries.append(
                {"resource": {"attributes": attributes}, "scopeSpans": [{"spans": spans}]}
            )
        return {"resourceSpans": entries}

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.document()))
        return path


def steps_of(result: TraceImport, service: str, operation: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = result.scenario.document["services"][service]["operations"][
        operation
    ]
    return steps


def calls_in(steps: Any) -> list[str]:
    """Every called `service.operation` in steps (nested too), in order."""
    found: list[str] = []
    if isinstance(steps, list):
        for item in steps:
            found.extend(calls_in(item))
    elif isinstance(steps, dict):
        call = steps.get("call")
        if isinstance(call, str):
            found.append(call)
        elif isinstance(call, dict):
            found.append(f"{call['service']}.{call['operation']}")
        for key, value in steps.items():
            if key != "call":
                found.extend(calls_in(value))
    return found
