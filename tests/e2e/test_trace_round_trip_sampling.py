"""Sampled and cut traces in the round trip of traces (issue #16, item 3;
tests/e2e/test_trace_round_trip.py), deterministic and fast: rates are divided by the
sampling probability, from ``archsim.sample`` or ``--sample-rate``; the requests of traces
cut by the end of a run count as arrivals.

Seeds from the test's name plus ARCHSIM_TEST_SEED_SHIFT (`round_trip_checks.round_trip_seed`).
CPU (one core, measured): about 1.5 s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from models import load_scenario
from sim.experiments.tracing import trace
from sim.presentation.cli import main
from tests.e2e.round_trip_checks import round_trip_seed

seed = pytest.fixture(round_trip_seed, name="seed")


# --------------------------------------------------------------------------- sampled traces

SMALL = """
name: small
simulation: {duration: 10s, warmup: 1s, seed: 1}
services:
  api:
    workers: 4
    operations:
      get: [{work: {exponential: 5ms}}, {publish: events}]
  audit:
    operations:
      record: [{work: {exponential: 12ms}}]   # 100/s x 12 ms: overloaded, a lag builds
topics:
  events:
    subscribers: {audit: record}
workload:
  users: {entry: api.get, arrivals: {poisson: 100/s}}
"""


def import_report(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`archsim import traces ARGUMENTS --json` (exit 0; with ``-o``): the report."""
    capsys.readouterr()
    assert main(["import", "traces", *arguments, "--json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_rates_are_divided_by_the_sampling_probability(
    seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deterministic. The same spans (traced at 0.25) imported as archsim wrote them (root
    spans with ``archsim.sample: 0.25``), without that attribute and ``--sample-rate 0.25``,
    and without either: the first two rates are equal and 4 times the third (the traced
    requests over one window); the comment says so. Out-of-range rates are refused (exit
    2); replaying the sampled arrivals (``--trace-arrivals``) warns that they are a share."""
    document = trace(load_scenario(yaml.safe_load(SMALL)), seed=seed, sample=0.25)
    marked = tmp_path / "marked.json"
    marked.write_text(json.dumps(document), encoding="utf-8")
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                kept = [a for a in span.get("attributes", []) if a["key"] != "archsim.sample"]
                span["attributes"] = kept
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "s.yaml"
    (by_attribute,) = import_report([str(marked), "-o", str(out)], capsys)["flows"]
    text = out.read_text(encoding="utf-8")
    assert "traced with probability 0.25 (archsim.sample)" in text
    (by_option,) = import_report([str(plain), "--sample-rate", "0.25", "-o", str(out)], capsys)[
        "flows"
    ]
    assert "traced with probability 0.25 (--sample-rate)" in out.read_text(encoding="utf-8")
    (unsampled,) = import_report([str(plain), "-o", str(out)], capsys)["flows"]
    assert "traced with probability" not in out.read_text(encoding="utf-8")
    assert by_attribute["requests"] == by_option["requests"] == unsampled["requests"] > 0
    assert by_attribute["rate"] == pytest.approx(by_option["rate"], rel=1e-12)
    assert by_attribute["rate"] == pytest.approx(4 * unsampled["rate"], rel=1e-12)
    for bad in ("0", "1.5", "nan"):
        assert main(["import", "traces", str(plain), "--sample-rate", bad]) == 2
        assert "Invalid value for '--sample-rate': must be > 0 and <= 1" in capsys.readouterr().err
    replay = ["import", "traces", str(marked), "-o", str(out), "--trace-arrivals"]
    assert main(replay) == 0
    assert "--trace-arrivals replays only those" in capsys.readouterr().err


def test_requests_of_cut_traces_count_as_arrivals(
    seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deterministic. A lagging consumer leaves many traces unfinished at the end of the run
    (their root span is ``archsim.unfinished``): they are left out of the model, but their
    requests arrived, so the flow counts every root span (a lag that grows through the run
    cuts requests from all of it, and leaving them out would lower the rate)."""
    document = trace(load_scenario(yaml.safe_load(SMALL)), seed=seed)
    spans = [
        span
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    roots = [span for span in spans if "parentSpanId" not in span]
    unfinished = [
        span
        for span in roots
        if any(a["key"] == "archsim.unfinished" for a in span.get("attributes", []))
    ]
    assert len(unfinished) > 100, "the consumer is overloaded: many traces are cut"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    report = import_report([str(path), "-o", str(tmp_path / "s.yaml")], capsys)
    (flow,) = report["flows"]
    assert flow["requests"] == len(roots)
    assert f"{len(unfinished)} trace(s) whose root span is archsim.unfinished" in "".join(
        report["warnings"]
    )
