"""`completion_times` redoes a node's completion only where a completion it read has
changed since the last pass (`_Completions.refreshed`): the same completions, to the bit,
as every pass walking every node again."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import analyze, load_scenario
from models.analysis.flows import _Completions

SCENARIOS = Path(__file__).parents[2] / "scenarios"


@pytest.mark.parametrize(
    "name",
    ["poison_messages", "order_pipeline", "scatter_gather", "timeout_tail", "async_resumes"],
)
def test_passes_that_redo_what_changed_complete_alike(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    found = analyze(scenario, capacity=False).to_dict()
    monkeypatch.setattr(_Completions, "refreshed", _Completions.completion)
    assert repr(analyze(scenario, capacity=False).to_dict()) == repr(found)
