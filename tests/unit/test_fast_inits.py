"""The `__init__`s that `value_types.value_type` makes for frozen value types (they set
every field at once, for speed: `StationLoad`, `ClassLoad`, `StationSolution`, `PoolMix`,
`BoundedCaller`, `Moments`, `StationView`, `CallOutcome`) take exactly the dataclass's
fields, in order, with their defaults (a mapping's: None, for a new one each), and build
the value the fields say: equal values compare and hash alike, and `dataclasses.replace`
keeps the rest (the values' own tests: here and in test_station_load_init.py,
test_view_and_moments_init.py)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from models.analysis.calls import CallOutcome
from models.analysis.mixed_source import BoundedCaller
from models.analysis.moments import Moments
from models.analysis.station_load import ClassLoad, PoolMix, StationLoad, StationSolution
from models.analysis.summary import StationView

TYPES = [
    StationLoad,
    ClassLoad,
    StationSolution,
    PoolMix,
    BoundedCaller,
    Moments,
    StationView,
    CallOutcome,
]


@pytest.mark.parametrize("kind", TYPES)
def test_the_init_takes_the_fields_in_order_with_their_defaults(kind: type) -> None:
    parameters = list(inspect.signature(kind).parameters.values())  # (without self)
    fields = dataclasses.fields(kind)
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, field in zip(parameters, fields, strict=True):
        if field.default is not dataclasses.MISSING:
            assert parameter.default == field.default
        elif field.default_factory is not dataclasses.MISSING:
            assert parameter.default is None  # (None for a new value of the factory)
        else:
            assert parameter.default is inspect.Parameter.empty


def test_a_solution_gets_a_new_empty_waiting_by_default() -> None:
    first = StationSolution("M/M/1", True, True, False, 1.0, 0.5, 0.5, 1.0, 0.0, 0.5)
    second = StationSolution("M/M/1", True, True, False, 1.0, 0.5, 0.5, 1.0, 0.0, 0.5)
    assert first.waiting == {} and first.waiting is not second.waiting
    assert first == second
    assert dataclasses.replace(first, mm1=True).mm1 and not first.mm1


def test_values_are_their_fields_and_replace_keeps_the_rest() -> None:
    holding = Moments(0.1, 0.01)
    load_class = ClassLoad(0, 2.0, 2.0, holding, None, True, True, third_moment=0.3)
    assert load_class == ClassLoad(0, 2.0, 2.0, holding, None, True, True, None, 0.3)
    assert hash(load_class) == hash(ClassLoad(0, 2.0, 2.0, holding, None, True, True, None, 0.3))
    assert dataclasses.replace(load_class, fresh_rate=1.0).third_moment == 0.3
    caller = BoundedCaller(("service", "api"), 4, 10.0, holding)
    same = BoundedCaller(("service", "api"), 4, 10.0, holding, None, (), False)
    assert caller == same and hash(caller) == hash(same)
    assert caller.at_replica(0.5).arrival_rate == 5.0 and caller.at_replica(0.5).population == 4
    mix = PoolMix((load_class,), 2.0, holding, None, None, None, True, True, True)
    assert mix.offered == 2.0 * 0.1 and dataclasses.replace(mix, rate=1.0).classes == mix.classes
