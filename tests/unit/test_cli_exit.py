"""The console script leaves its objects to the operating system at exit
(`sim.presentation.cli._exit_without_teardown`), and only the console script: a caller of
`main` with an argv in its own process keeps its garbage collector as it was."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from sim.presentation.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "mm1.yaml"

AS_THE_CONSOLE_SCRIPT = """
import gc, json, sys
from sim.presentation.cli import main
sys.argv = ["archsim", *sys.argv[1:]]
before = gc.get_freeze_count()
code = main()
print()
print(json.dumps({"exit_code": code, "before": before, "after": gc.get_freeze_count()}))
"""


def test_the_console_script_freezes_what_is_left_once_the_command_is_done() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", AS_THE_CONSOLE_SCRIPT, "analyze", str(SCENARIO), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = completed.stdout.splitlines()
    report = json.loads(lines[-1])
    assert report["exit_code"] == 0
    assert report["before"] == 0 and report["after"] > 1000
    printed = json.loads("\n".join(lines[:-2]))  # (the command's own output, complete)
    assert printed["scenario"] == "mm1"


def test_a_caller_with_an_argv_keeps_its_collector() -> None:
    before = gc.get_freeze_count()
    assert main(["validate", str(SCENARIO)]) == 0
    assert gc.get_freeze_count() == before
