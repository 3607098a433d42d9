"""Every module of the project imported at once, for hypothesis's sake (`tests/conftest.py`).

Hypothesis (6.131 on) draws a few values from the constants of the local modules imported
so far (its "local constants": modules outside site-packages and outside the tests), so a
derandomized test's examples depended on what the tests before it had imported in the
same pytest-xdist worker: after `tests/e2e/test_bench.py`'s rounds test, which imports
`bench/analysis_rounds.py`, 48 of the 50 files of
`tests/e2e/test_fuzz.py::test_random_scenarios_never_crash_or_hang_the_cli` differed, and
one of the others broke the fuzz generator in a CI run. With every module imported before
any test runs, the pool is the same in every run, whatever the order.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import models
import sim

BENCH = Path(__file__).resolve().parents[1] / "bench"


def import_the_project() -> None:
    """Import every module of `models`, `sim` and `bench/` (its scripts and its
    `regression_set` package as the tests import them: by name, the folder on `sys.path`)."""
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    for script in sorted(BENCH.glob("*.py")):
        importlib.import_module(script.stem)
    for package in (models, sim, importlib.import_module("regression_set")):
        for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(found.name)
