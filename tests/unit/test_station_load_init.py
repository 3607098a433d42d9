"""`StationLoad`'s `__init__` and kept hash (`value_types.value_type`: every field set at
once, for speed) build the same value as the fields say: equal loads compare and hash alike, and
`dataclasses.replace` works (its signature: test_fast_inits.py)."""

from __future__ import annotations

import dataclasses

from models.analysis.moments import Moments
from models.analysis.station_load import ClassLoad, StationLoad


def test_a_load_is_its_fields_and_replace_keeps_the_rest() -> None:
    load_class = ClassLoad(0, 2.0, 2.0, Moments(0.1, 0.01), None, True, True)
    load = StationLoad(4, None, False, (load_class,), 1.0, 2, note="n", least_outstanding=2)
    same = StationLoad(4, None, False, (load_class,), 1.0, 2, note="n", least_outstanding=2)
    assert load == same and hash(load) == hash(same)
    assert dataclasses.asdict(load)["least_outstanding"] == 2
    paced = dataclasses.replace(load, paced=True)
    assert paced.paced and paced.note == "n" and paced.classes == load.classes
    assert paced != load


def test_the_kept_hashes_are_the_fields_hashes_and_do_not_travel() -> None:
    import pickle

    load_class = ClassLoad(1, 2.0, 1.5, Moments(0.1, 0.01), 0.1, True, False, (0.1, 2.0), 0.3)
    load = StationLoad(4, 3, True, (load_class,), 1.2, 1, 2, "n", 5, True, True, 1, None)
    for value in (load_class, load):
        fields = tuple(getattr(value, f.name) for f in dataclasses.fields(value))
        assert hash(value) == hash(fields)  # (a field missing from `__hash__` fails this)
        assert hash(value) == hash(value)
        copied = pickle.loads(pickle.dumps(value))
        assert "_hash" not in vars(copied) and copied == value
