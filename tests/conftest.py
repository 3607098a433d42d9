"""Suite-wide hooks: markers by folder, the seed shift in the report header, and every
module of the project imported before any test (`tests/project_modules.py`).

Every test under tests/theory carries the `theory` marker (statistical cross-checks and the
deterministic property tests that run long scenarios next to them), and every test under
tests/e2e the `e2e` marker, so that the quick subset is
``python3 -m pytest -m "not theory and not slow" -n auto`` (docs/testing.md).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from models.blas_threads import limit_blas_threads
from sim.presentation.cli import YOUNG_COLLECTION_THRESHOLD
from tests.project_modules import import_the_project

TESTS = Path(__file__).parent
MARKERS_BY_FOLDER = {TESTS / "theory": pytest.mark.theory, TESTS / "e2e": pytest.mark.e2e}


def pytest_configure(config: pytest.Config) -> None:
    """One BLAS thread in every test process (`models.blas_threads`): `-n auto` runs as
    many workers as there are cores, and BLAS threads beside them spin for cores. And the
    console script's garbage-collection threshold (`sim.presentation.cli.main`) from the
    start: the first test that runs `main` in process set it for the rest of its worker, so
    a test's CPU depended on what ran before it; under CPython's default (a collection of
    the youngest generation every 700 allocations) the spans a trace keeps alive are
    rescanned over and over (an import of `order_pipeline`'s 32k spans: the traced run 1.45
    -> 0.82 s of CPU, the reading 0.67 -> 0.48 s; the three round-trip test files, in one
    process, 134-139 -> 123-127 s)."""
    limit_blas_threads()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    import_the_project()  # (hypothesis's examples the same whatever ran before)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the folder it lives in (`theory`, `e2e`)."""
    for item in items:
        path = Path(item.path)
        for folder, marker in MARKERS_BY_FOLDER.items():
            if folder in path.parents:
                item.add_marker(marker)


def pytest_report_header() -> str:
    """Show the seed shift of the statistical tests (tests/theory/conftest.py)."""
    shift = os.environ.get("ARCHSIM_TEST_SEED_SHIFT", "0") or "0"
    return f"archsim: ARCHSIM_TEST_SEED_SHIFT={shift} (added to the seed of tests/theory)"
