"""End-to-end tests of `archsim import traces` and `archsim import asyncapi`, run in-process
through `sim.presentation.cli.main` (exit codes, files written, messages for bad traces)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim.presentation.cli import main

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "scenarios" / "traces" / "shop_traces.otlp.json"
ASYNCAPI = sorted((ROOT / "scenarios" / "asyncapi").glob("*.yaml"))


def test_the_example_becomes_a_scenario_file_that_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shop.yaml"
    assert main(["import", "traces", str(EXAMPLE), "-o", str(out)]) == 0
    shown = capsys.readouterr()
    assert "Fitted times (ms)" in shown.out and "Flows" in shown.out
    assert f"scenario written to {out}" in shown.out
    text = out.read_text()
    assert text.startswith("# Imported by `archsim import traces` from ")
    document = yaml.safe_load(text)
    assert document["name"] == "shop"
    assert set(document["services"]) == {
        "frontend",
        "catalog",
        "pricing",
        "stock",
        "orders",
        "payment",
    }
    assert document["topics"]["order-placed"]["subscribers"]["payment"]["operation"]
    assert main(["validate", str(out)]) == 0
    assert list(tmp_path.iterdir()) == [out]  # nothing else, no temporary file left


@pytest.mark.parametrize(
    "attribute", ["messaging.consumer.group.name", "messaging.kafka.consumer.group"]
)
def test_the_consumer_group_from_either_attribute(
    attribute: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example's consumers name their group `payments` with the current attribute; the
    older Kafka-specific one (semantic conventions before 1.26) gives the same group."""
    text = EXAMPLE.read_text().replace("messaging.consumer.group.name", attribute)
    traces, out = tmp_path / "spans.json", tmp_path / "s.yaml"
    traces.write_text(text)
    assert main(["import", "traces", str(traces), "-o", str(out)]) == 0
    assert "subscribers:\n      payment:  # consumer group 'payments': 30 messages" in (
        out.read_text()
    )


def test_without_out_the_scenario_goes_to_stdout_and_the_report_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["import", "traces", str(EXAMPLE)]) == 0
    shown = capsys.readouterr()
    document = yaml.safe_load(shown.out)
    assert document["workload"]["GET-checkout"]["entry"] == "frontend.GET-checkout"
    assert "Fitted times" in shown.err


def test_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.yaml"
    assert main(["import", "traces", str(EXAMPLE), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)  # nothing else on stdout
    assert report["spans"] == 990 and report["files"][0]["format"] == "otlp"
    work = {row["where"]: row for row in report["fits"] if row["what"] == "work"}
    assert work["frontend.GET-checkout"]["count"] == 120
    assert report["flows"][0]["name"] == "GET-checkout"


def test_trace_arrivals_write_a_csv_next_to_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "traces", str(EXAMPLE), "--trace-arrivals"]) == 2
    assert "give the scenario file with -o" in capsys.readouterr().err
    out = tmp_path / "new" / "shop.yaml"
    assert main(["import", "traces", str(EXAMPLE), "-o", str(out), "--trace-arrivals"]) == 0
    assert sorted(path.name for path in out.parent.iterdir()) == [
        "shop-GET-checkout.arrivals.csv",
        "shop.yaml",
    ]
    assert main(["validate", str(out)]) == 0


def test_empirical(tmp_path: Path) -> None:
    out = tmp_path / "e.yaml"
    assert main(["import", "traces", str(EXAMPLE), "-o", str(out), "--empirical"]) == 0
    steps = yaml.safe_load(out.read_text())["services"]["catalog"]["operations"]
    (work,) = (step["work"] for op in steps.values() for step in op if "work" in step)
    assert len(work["empirical"]) == 120


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "bad.json: the file is empty"),
        ('{"resourceSpans": [\n  {,}\n]}', "bad.json: not valid JSON: line 2, column 4"),
        ('{"kind": "metrics"}', "bad.json: not a trace format archsim reads"),
        ('[{"traceId": "zz", "id": "01"}]', "bad.json: [0].traceId: must be an id of at most"),
    ],
)
def test_bad_traces_exit_2_with_the_file_and_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "never.yaml"
    assert main(["import", "traces", str(bad), "-o", str(out)]) == 2
    shown = capsys.readouterr()
    assert message in shown.err
    assert "Traceback" not in shown.err and not out.exists()


def test_missing_file_and_bad_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "traces", str(tmp_path / "nope.json")]) == 2
    assert "nope.json: cannot read the file: No such file or directory" in capsys.readouterr().err
    assert main(["import", "traces", str(EXAMPLE), "-o", str(tmp_path)]) == 2
    assert "is a folder, not a scenario file name" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["import", "traces", str(EXAMPLE), "-o", str(blocker / "s.yaml")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_partial_traces_are_imported_with_warnings_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = EXAMPLE.read_text().splitlines()
    frontend_free = [line for line in lines if '"frontend"' not in line]  # 120 x 3 + 30 orphans
    partial = tmp_path / "partial.json"
    partial.write_text("\n".join(frontend_free) + "\n")
    out = tmp_path / "p.yaml"
    assert main(["import", "traces", str(partial), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: 390 span(s) name a parent that is not in the files" in err
    assert main(["validate", str(out)]) == 0


@pytest.mark.skipif(not ASYNCAPI, reason="no AsyncAPI examples")
def test_asyncapi_alone_and_merged_with_traces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alone = tmp_path / "declared.yaml"
    assert main(["import", "asyncapi", *map(str, ASYNCAPI), "-o", str(alone)]) == 0
    assert main(["validate", str(alone)]) == 0
    merged = tmp_path / "merged.yaml"
    argv = ["import", "traces", str(EXAMPLE), "--asyncapi", str(ASYNCAPI[0]), "-o", str(merged)]
    assert main(argv) == 0
    assert main(["validate", str(merged)]) == 0
    both = tmp_path / "both.yaml"
    argv = ["import", "asyncapi", *map(str, ASYNCAPI), "--traces", str(EXAMPLE), "-o", str(both)]
    assert main(argv) == 0
    assert "Fitted times" in capsys.readouterr().out
    # The traced `payment` consumes in the group `payments`, which payments.asyncapi.yaml
    # declares for its service `payments`: one group, not a second placeholder consumer.
    topic = yaml.safe_load(both.read_text(encoding="utf-8"))["topics"]["order-placed"]
    assert set(topic["subscribers"]) == {"payment", "shipping"}
    assert topic["partitions"] == 6


def test_import_help_loads_no_heavy_module() -> None:
    """Help loads neither the importer (`models`) nor numbers libraries (typer itself loads
    pydantic for list-valued options, as for `archsim compare --help`)."""
    heavy = ("numpy", "scipy", "yaml", "pandas", "matplotlib", "models.traces")
    code = (
        "import sys; from sim.presentation.cli import main; main(['import', 'traces', '--help']);"
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("command", [["import"], ["import", "traces"], ["import", "asyncapi"]])
def test_import_help_shows_flags_without_a_type(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    shown = capsys.readouterr().out
    assert "<bool>" not in shown and "Show this message" in shown
    assert main(command[:1]) == 2  # no command: the help, as for `archsim` alone
