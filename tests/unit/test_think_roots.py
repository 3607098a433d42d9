"""`think_roots.think_root`: the think time found by Brent's method, and nothing of the
function it was given left for the garbage collector (scipy's wrapper of it is a
reference cycle)."""

from __future__ import annotations

import gc
import math
import weakref

from models.analysis.think_roots import think_root


class _Held:
    """Stands for what a root search's function holds (a chain's arrays)."""


def test_the_root_is_where_the_excess_throughput_is_zero() -> None:
    root = think_root(lambda log_think: 2.0 - math.exp(log_think), 3.0, 0.5)
    assert root is not None and math.isclose(root, math.log(2.0), rel_tol=1e-9)


def _search_holding(held: _Held) -> float | None:
    """A root search whose function holds `held` (as `mixed_source`'s holds its chain)."""

    def excess(log_think: float) -> float:
        assert held is not None
        return 1.0 - math.exp(log_think)

    return think_root(excess, 3.0, 0.5)


def test_nothing_the_function_holds_waits_for_the_collector() -> None:
    held = _Held()
    alive = weakref.ref(held)
    enabled = gc.isenabled()
    gc.disable()
    try:
        root = _search_holding(held)
        del held
        assert alive() is None  # (freed by its count, not by a collection)
    finally:
        if enabled:
            gc.enable()
    assert root is not None and abs(root) < 1e-9
