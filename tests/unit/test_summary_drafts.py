"""Summaries finished from a walk's draft against fresh walks (deterministic).

A node whose inputs differ from a remembered walk's only in fields of its own station's
view that the walk does not read is not walked again: its summary is the draft's, with
the fields that depend on its station's wait found anew (`summary.SummaryDraft`,
`operations.Evaluator.summary`). Every such summary met while analysing the models below
(their means and their capacity searches, whose rounds finish the most) must equal, field
by field and to the last bit, the summary a walk with no memory finds from the same views.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.graph import OpKey
from models.analysis.operations import Evaluator
from models.analysis.summary import OperationSummary

ROOT = Path(__file__).parents[2]
MODELS = [
    ROOT / "scenarios" / "three_tier_shop.yaml",
    ROOT / "scenarios" / "order_pipeline.yaml",
    ROOT / "scenarios" / "shared_database.yaml",
    ROOT / "tests" / "data" / "analysis_regression" / "j1_social_network_60.yaml",
    ROOT / "tests" / "data" / "analysis_regression" / "e_cache_branch_95.yaml",
    ROOT / "tests" / "data" / "analysis_regression" / "a_three_tier_open_95.yaml",
    ROOT / "tests" / "data" / "analysis_regression" / "c_forwarding_chain_95.yaml",
    ROOT / "bench" / "bounded_pools.yaml",
]


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN (a summary may hold NaN where nothing is known)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _differences(finished: OperationSummary, fresh: OperationSummary) -> list[str]:
    return [
        field.name
        for field in dataclasses.fields(OperationSummary)
        if not _same(getattr(finished, field.name), getattr(fresh, field.name))
    ]


@pytest.mark.parametrize("path", MODELS, ids=lambda path: path.stem)
def test_finished_summaries_equal_fresh_walks(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(path)
    original = Evaluator.summary
    finished: list[tuple[Evaluator, OpKey, OperationSummary]] = []

    def summary(self: Evaluator, key: OpKey) -> OperationSummary:
        known = key in self.summaries
        result = original(self, key)
        draft = self.computed[key][2]
        if not known and draft.summary is not result:  # (finished from a remembered draft)
            finished.append((self, key, result))
        return result

    monkeypatch.setattr(Evaluator, "summary", summary)
    analyze(scenario)
    monkeypatch.undo()
    assert finished, "no summary was finished from a draft: the test checks nothing"
    for evaluator, key, result in finished:
        fresh = Evaluator(
            evaluator.scenario,
            evaluator.views,
            evaluator.rates,
            evaluator.flow_flags,
            evaluator.failures,
            (),
            evaluator.flow_scvs,
        ).summary(key)
        assert _differences(result, fresh) == [], key
