"""`StationView`'s, `Moments`' and `CallOutcome`'s `__init__` (`value_types.value_type`:
each sets every field at once, for speed) build the same value as the fields say: equal values
compare and hash alike, and `dataclasses.replace` works (their signatures:
test_fast_inits.py)."""

from __future__ import annotations

import dataclasses

from models.analysis.calls import CallOutcome
from models.analysis.moments import Moments
from models.analysis.summary import StationView


def test_an_outcome_is_its_fields() -> None:
    first = CallOutcome(Moments(1.0), 0.1, 1.0, 0.1, 0.5, 1.0)
    second = CallOutcome(Moments(1.0), 0.1, 1.0, 0.1, 0.5, 1.0)
    assert first == second and first.failed == {} and first.failed is not second.failed
    assert list(vars(first)) == [f.name for f in dataclasses.fields(CallOutcome)]
    assert dataclasses.replace(first, behind=True).behind and not first.behind


def test_moments_are_their_fields() -> None:
    assert Moments(1.0) == Moments(1.0, 0.0) and hash(Moments(1.0)) == hash(Moments(1.0, 0.0))
    assert vars(Moments(2.0, 3.0)) == {"mean": 2.0, "variance": 3.0}
    assert dataclasses.replace(Moments(2.0, 3.0), variance=1.0) == Moments(2.0, 1.0)


def test_a_view_is_its_fields_with_fresh_mappings() -> None:
    first, second = StationView(), StationView()
    assert first == second and first.waiting == {} and first.waiting is not second.waiting
    assert first.callee_waiting is not second.callee_waiting
    assert first.served is not second.served
    view = StationView(waiting={0: Moments(0.1, 0.01)}, loss=0.2, served={0: 0.5})
    assert list(vars(view)) == [f.name for f in dataclasses.fields(StationView)]
    changed = dataclasses.replace(view, served={})
    assert changed.served == {} and changed.waiting is view.waiting and changed.loss == 0.2
    assert changed != view
