"""The rules a random time's parameters follow, and how a broken one is said.

Every family of `models.distributions` (and `models.empirical`) checks its parameters when it
is made and raises one `ValueError` naming the family and every rule broken, with the values
as the user wrote them: ``gamma: 'cv' must be > 0 (got -1)``.
"""

from __future__ import annotations

import math


def show_number(value: float) -> str:
    """A number as a user wrote it: ``-1`` rather than ``-1.0``."""
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value)


def check_parameters(family: str, problems: list[str]) -> None:
    """Raise one `ValueError` naming the family and every rule broken, if any."""
    if problems:
        raise ValueError(f"{family}: " + "; ".join(problems))


def at_least(label: str, value: float, bound: float, strict: bool) -> list[str]:
    """``[]`` if `value` is finite and > (`strict`) or >= `bound`, else the broken rule."""
    if not math.isfinite(value):
        return [f"{label} must be finite (got {show_number(value)})"]
    if value > bound or (value == bound and not strict):
        return []
    return [
        f"{label} must be {'>' if strict else '>='} {show_number(bound)} (got {show_number(value)})"
    ]


def positive(label: str, value: float) -> list[str]:
    """``[]`` if `value` is finite and > 0, else the broken rule."""
    return at_least(label, value, 0.0, strict=True)


def weibull_shape(cv: float) -> float:
    """The Weibull shape k with this cv, solving Γ(1+2/k) / Γ(1+1/k)² = 1 + cv² (brentq;
    log-gamma for range); a cv outside the range the shapes reach is refused."""
    # imported here: start-up time (scipy only for a Weibull), see tests/unit/test_startup.py
    from scipy.optimize import brentq
    from scipy.special import gammaln

    def excess(shape: float) -> float:
        ratio = gammaln(1 + 2 / shape) - 2 * gammaln(1 + 1 / shape)
        return float(ratio) - math.log1p(cv**2)

    lowest, highest = 0.02, 1e4  # shapes for cv from about 1.3e-4 up to about 2.7e14
    if excess(lowest) < 0 or excess(highest) > 0:
        raise ValueError(f"weibull: 'cv' must be between 0.0002 and 1e14 (got {show_number(cv)})")
    return float(brentq(excess, lowest, highest, xtol=1e-14, rtol=1e-12))
