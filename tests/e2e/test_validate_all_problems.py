"""`archsim validate` reports every problem of a file in one run (issue #14), through the
console script in a fresh interpreter, and refuses input that is no scenario with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.presentation.cli import main

pytestmark = pytest.mark.e2e

ONE_SCHEMA_TWO_REFERENCES = """\
name: shop
simulation: {duration: 1min}
services:
  api:
    workers: 0
    operations:
      get: [{work: {exponential: 5ms}}, {call: dbb.read}, {publish: order-placed}]
  db:
    operations:
      read: [{work: {constant: 2ms}}]
topics:
  orders: {subscribers: {db: read}}
workload:
  users: {entry: api.get, arrivals: {poisson: 50/s}}
"""


def test_validate_prints_schema_and_reference_problems_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(ONE_SCHEMA_TWO_REFERENCES)
    completed = subprocess.run(
        [sys.executable, "-m", "sim.presentation.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        f"{path}: 3 problems found",
        f"  {path}: services.api.operations.get[1].call: unknown service 'dbb' "
        "(did you mean 'db'? services: api, db)",
        f"  {path}: services.api.operations.get[2].publish.topic: unknown topic 'order-placed' "
        "(topics: orders)",
        f"  {path}: services.api.workers: must be >= 1 or 'unlimited' (got 0)",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"name: " + b"[" * 5000 + b"]" * 5000, "nested too deeply at line 1, column 262"),
        (b"\x00\x01binary", "not a text file"),
        (b"name: \xff\n", "not UTF-8 text"),
        (b"", "the file is empty"),
        (b"[1, 2]", "a scenario is a mapping"),
    ],
)
def test_input_that_is_no_scenario_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    assert main(["validate", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"{path}: 1 problem found\n  {path}: {expected}")
    assert "internal error" not in error and "Traceback" not in error


def test_every_command_that_loads_a_scenario_reports_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(ONE_SCHEMA_TWO_REFERENCES)
    for command in (["run", "-q"], ["analyze"], ["graph"]):
        assert main([command[0], str(path), *command[1:]]) == 2
        assert f"{path}: 3 problems found" in capsys.readouterr().err
