"""`bench/analysis_fuzz.py --write DIR`: the scenario a seed draws, written as YAML, is the
scenario the fuzz compared (so that `archsim run` on the file shows the disagreement it
listed, station by station)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from models import analyze, load_scenario

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "analysis_fuzz.py"


def _fuzz() -> ModuleType:
    """The fuzz script, loaded by path (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("analysis_fuzz", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("seed", "deep"), [(3418, False), (3223, False), (3321, True)])
def test_a_written_seed_loads_to_the_scenario_that_was_compared(
    tmp_path: Path, seed: int, deep: bool
) -> None:
    """The three seeds docs/analysis.md sec. 12 and the fuzz log name: the file's analysis
    is the in-memory scenario's, to the bit, and the file is named after the seed."""
    fuzz = _fuzz()
    document = fuzz.scaled(fuzz.architecture(seed, deep), 0.8)
    assert document is not None
    path = fuzz.write_scenario(document, tmp_path, seed)
    assert path == tmp_path / f"fuzz-{seed}.yaml"
    from_file = analyze(load_scenario(path), capacity=False).to_dict()
    in_memory = analyze(load_scenario(document), capacity=False).to_dict()
    assert from_file == in_memory
    assert from_file["services"]  # (a scenario with stations, not an empty document)
