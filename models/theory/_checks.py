"""Argument checks shared by the queueing formulas.

Every message follows one pattern: the argument, the rule and the value given, e.g.
``'servers' must be an integer >= 1 (got 0)``. All checks raise `ValueError`: the formulas
are pure mathematics, below the scenario layer and its `ScenarioError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def require_nonnegative(name: str, value: float) -> float:
    """Return `value` as a float if it is finite and >= 0, else raise `ValueError`."""
    if type(value) is float and 0.0 <= value < math.inf:
        return value  # (the common case at once: the queueing formulas check every call)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' must be a number (got {value!r})")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"'{name}' must be a finite number >= 0 (got {value!r})")
    return float(value)


def require_positive(name: str, value: float) -> float:
    """Return `value` as a float if it is finite and > 0, else raise `ValueError`."""
    if type(value) is float and 0.0 < value < math.inf:
        return value  # (the common case at once)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' must be a number (got {value!r})")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"'{name}' must be a finite number > 0 (got {value!r})")
    return float(value)


def require_count(name: str, value: int, minimum: int = 1) -> int:
    """Return `value` if it is an integer >= `minimum`, else raise `ValueError`."""
    if type(value) is int and value >= minimum:
        return value  # (the common case at once: a bool is no int here)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"'{name}' must be an integer >= {minimum} (got {value!r})")
    return value


def require_quantile(name: str, value: float) -> float:
    """Return `value` as a float if 0 <= value < 1, else raise `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' must be a number (got {value!r})")
    if not 0 <= value < 1:
        raise ValueError(f"'{name}' must be in [0, 1) (got {value!r})")
    return float(value)


def require_lengths(expected: int, **sequences: Sequence[object]) -> None:
    """Raise `ValueError` unless every named sequence has `expected` elements."""
    for name, sequence in sequences.items():
        if len(sequence) != expected:
            raise ValueError(
                f"'{name}' must have {expected} elements, one per class or station "
                f"(got {len(sequence)})"
            )
