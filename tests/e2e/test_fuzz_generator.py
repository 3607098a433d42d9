"""The fuzz test's own generator (tests/e2e/fuzz_files.py) survives the broken services it
draws: a service drawn as garbage (`Maker.garbage`: `{}`, `{"x": 1}`, a number, ...) or
with garbage for its operations is left alone by the stresses that edit operations, not
read as a mapping of operations (a KeyError in the generator, seen once in a CI run of
`test_random_scenarios_never_crash_or_hang_the_cli`, is not a finding about archsim)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.fuzz_files import feedback_loop, inject_cycles, operations_of, retry_storm
from tests.e2e.fuzz_parts import Names
from tests.e2e.fuzz_values import GARBAGE, Maker

BROKEN: list[Any] = [
    body for body in GARBAGE if not (isinstance(body, dict) and "operations" in body)
] + [{"workers": 2}, {"operations": 5}, {"operations": [1, 2]}, {"operations": None}]
"""Service bodies without a mapping of operations."""


@pytest.mark.parametrize("body", BROKEN, ids=repr)
def test_a_broken_service_has_no_operations(body: Any) -> None:
    assert operations_of({"svc": body}, "svc") is None


def test_a_service_keeps_its_operations() -> None:
    operations = {"get": [{"work": {"constant": 0.001}}]}
    assert operations_of({"svc": {"operations": operations}}, "svc") is operations
    assert operations_of({}, "svc") is None


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(st.data(), st.sampled_from(BROKEN))
def test_the_stresses_skip_a_broken_service(data: st.DataObject, body: Any) -> None:
    """Every service broken the same way: each stress returns or edits nothing of it."""
    names = Names(operations={"api": ["get"], "db": ["put"]}, topics=["t"])
    services = {"api": copy.deepcopy(body), "db": copy.deepcopy(body)}
    topics: dict[str, Any] = {"t": {"subscribers": {"api": "get", "db": {"operation": "put"}}}}
    m = Maker(data.draw, chaos=0, huge=0)
    assert feedback_loop(m, names, services, topics) == {}
    assert retry_storm(m, names, services) == {}
    inject_cycles(m, names, services, topics)
    assert services == {"api": body, "db": body}
