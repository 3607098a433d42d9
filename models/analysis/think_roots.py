"""The think time of a bounded population at a station, by its throughput.

The bounded sources of a two-class station (`models.analysis.mixed_source`, its product
form in `models.analysis.bounded_pools`) come back after a think time Z, solved so that
their throughput is the one given: the throughput falls as Z grows, so the root is
bracketed and found by Brent's method (scipy's `brentq`, through `brent_root`, as the
machine-repairman model's in `models.analysis.finite_source`).
"""

from __future__ import annotations

import math
from collections.abc import Callable


def think_root(excess: Callable[[float], float], most: float, fastest: float) -> float | None:
    """log Z, the bounded sources' think time at which their throughput over the target
    (`excess(log Z)`, falling as Z grows) is 0: bracketed below `most` - `fastest` (N /
    λ_B less a request's shortest stay: throughput <= N / (Z + S_B)), halving down by
    factors of 8, then Brent's method; None where no think time gets that much through."""
    if most <= fastest:
        return None  # more than N / S_B: the bounded sources cannot get that through
    high = math.log(most - fastest)
    low = high - math.log(2.0)
    while excess(low) <= 0:
        low -= math.log(8.0)
        if low < math.log(fastest * 1e-9):
            return None  # the bounded sources cannot get that much through, even never away
    if excess(high) >= 0:  # (its requests never wait: R = S_B)
        return high
    return brent_root(excess, low, high, 1e-10, 1e-10)


def brent_root(
    excess: Callable[[float], float], low: float, high: float, xtol: float, rtol: float
) -> float:
    """The root of `excess` between `low` and `high` (of opposite signs) by Brent's method
    (scipy's `brentq`, to `xtol` and `rtol`). scipy wraps the function it is given in a
    reference cycle, freed only by the collector: given a proxy, emptied after, the cycle
    keeps nothing `excess` holds (a two-class chain's arrays: 16 MB more at the peak of
    the Alibaba-like model at 95% under the console script's collection threshold,
    `sim.presentation.cli`)."""
    from scipy.optimize import brentq  # (here: scipy.optimize takes 0.3 s to import)

    held = [excess]
    root = brentq(lambda x: held[0](x), low, high, xtol=xtol, rtol=rtol)
    held.clear()
    return float(root)
