"""End-to-end tests of `archsim run --trace-out FILE [--trace-sample P]` (docs/cli.md, run;
docs/traces.md, "Traces out"), in-process through `sim.presentation.cli.main`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.presentation.cli import main

pytestmark = pytest.mark.e2e

SMALL = """
name: small
simulation: {duration: 20s, warmup: 2s, replications: 2, seed: 5}
services:
  api:
    replicas: 2
    workers: 2
    operations:
      get: [{work: {exponential: 20ms}}, {call: db}, {publish: events}]
  db:
    workers: 4
    operations:
      read: [{work: {exponential: 10ms}}]
  audit:
    operations:
      record: [{work: {exponential: 5ms}}]
topics:
  events:
    subscribers: {audit: record}
workload:
  users: {entry: api.get, arrivals: {poisson: 30/s}}
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def spans_of(path: Path) -> list[dict[str, object]]:
    document = json.loads(path.read_text())
    return [
        span
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def test_trace_out_writes_otlp_json_and_leaves_the_results_alone(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(small), "--json", "-r", "1", "--jobs", "1"]) == 0
    plain = capsys.readouterr().out
    trace_file = tmp_path / "traces" / "small.json"
    arguments = ["run", str(small), "--json", "-r", "1", "--jobs", "1", "--trace-out"]
    assert main([*arguments, str(trace_file)]) == 0
    captured = capsys.readouterr()
    assert captured.out == plain, "the results document is the same with and without tracing"
    spans = spans_of(trace_file)
    roots = [span for span in spans if "parentSpanId" not in span]
    assert len(roots) == json.loads(plain)["flows"]["users"]["arrived"]
    kinds = {span["kind"] for span in spans}
    assert kinds == {1, 2, 3, 4, 5}
    document = json.loads(trace_file.read_text())
    services = {
        resource["resource"]["attributes"][1]["value"]["stringValue"]
        for resource in document["resourceSpans"]
    }
    assert services == {"client:users-0", "api-0", "api-1", "db-0", "audit-0"}


def test_trace_sample_traces_a_fraction_and_says_what_was_written(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_file = tmp_path / "sampled.json"
    assert main(["run", str(small), "--trace-out", str(trace_file), "--trace-sample", "0.2"]) == 0
    shown = capsys.readouterr().out
    roots = [span for span in spans_of(trace_file) if "parentSpanId" not in span]
    assert f"trace written to {trace_file}: replication 0, {len(roots):,} requests" in shown
    assert 0 < len(roots) < 300  # of about 540 arrivals: about 108


def test_the_trace_file_does_not_depend_on_the_jobs(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert main(["run", str(small), "--jobs", "1", "--json", "--trace-out", str(one)]) == 0
    assert main(["run", str(small), "--jobs", "2", "--json", "--trace-out", str(two)]) == 0
    capsys.readouterr()
    assert one.read_bytes() == two.read_bytes()


@pytest.mark.parametrize("sample", ["0", "1.5", "-0.1", "nan"])
def test_a_sample_out_of_range_exits_2(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], sample: str
) -> None:
    trace_file = tmp_path / "t.json"
    arguments = ["run", str(small), "--trace-out", str(trace_file), "--trace-sample", sample]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert "--trace-sample" in error and "must be > 0 and <= 1" in error
    assert "Traceback" not in error
    assert not trace_file.exists()


def test_a_sample_without_a_trace_file_exits_2(
    small: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(small), "--trace-sample", "0.5"]) == 2
    assert "needs --trace-out" in capsys.readouterr().err


def test_a_trace_file_that_cannot_be_written_exits_2_before_the_run(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(small), "--trace-out", str(tmp_path)]) == 2
    assert f"archsim: --trace-out {tmp_path}: is a folder, not a file name" in (
        capsys.readouterr().err
    )
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    assert main(["run", str(small), "--trace-out", str(blocker / "t.json")]) == 2
    assert capsys.readouterr().err == (
        f"archsim: --trace-out {blocker / 't.json'}: cannot write the file: "
        f"{blocker}: exists and is a file, not a folder\n"
    )
