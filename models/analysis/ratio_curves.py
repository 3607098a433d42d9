"""A pool's load ratio as the capacity search's trials see it (`models.analysis.capacity`):
where the curve through its last trials reaches 1, when it is flat, where to try next
(`next_trial`), and the trials of one search (`Trials`).

The search solves the network at trial loads; each pool's load ratio (offered load over
servers) rises with the load, linearly at a station without callees, steeply where a
callee nears saturation (its waiting grows as rho / (1 - rho)). The root where the ratio
reaches 1 is extrapolated from the last three trials by a rational curve, else a
parabola, else a line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

FLAT = 1e-6
"""A pool's load ratio that rose by less than this (relative) over the trials an
extrapolation fits (three, at least 10% of the load apart) is taken as not heading to 1:
fitted through such points, a rational curve turns rounding into a pole just past them
(the TrainTicket-like model at 95%, `login`: ui-dashboard's ratio 0.62637559 at 202.8/s,
0.62637561 at 531.8/s, extrapolated to 1 at 576.6/s: its search took 14 trials; 11
with this)."""


def flat(points: list[tuple[float, float]]) -> bool:
    """Whether a pool's last trials (`FLAT`) show its load ratio flat."""
    if len(points) < 3 or not points[-1][0] >= 1.1 * points[0][0]:
        return False
    return points[-1][1] - points[0][1] <= FLAT * abs(points[-1][1])


def ratio_root(points: list[tuple[float, float]], through_origin: bool) -> float:
    """The factor at which the peak load ratio reaches 1, extrapolated from the unsaturated
    trials `points` (factor, ratio): a rational curve through the last three
    (`rational_root`), else a parabola through them (or through the last two and the
    origin, when the ratio is 0 at no load), else a line (through the origin from one
    trial: below the root when other flows load the pool too); inf if it never gets
    there."""
    fits = points[-3:]
    if len(fits) == 3:
        root = rational_root(fits)
        if root is not None:
            return root
    if len(fits) == 1 or (through_origin and len(fits) < 3):
        fits = [(0.0, 0.0), *fits]
    factors = [factor for factor, _ in fits]
    if len(set(factors)) < len(factors) or len(fits) < 2:
        return math.inf
    if len(fits) == 3:
        (x0, y0), (x1, y1), (x2, y2) = fits
        slope01, slope12 = (y1 - y0) / (x1 - x0), (y2 - y1) / (x2 - x1)
        curvature = (slope12 - slope01) / (x2 - x0)
        if curvature > 0:  # y = y2 + b (x - x2) + curvature (x - x2)^2
            b = slope12 + curvature * (x2 - x1)
            discriminant = b * b + 4 * curvature * (1.0 - y2)
            if discriminant >= 0:
                return x2 + (-b + math.sqrt(discriminant)) / (2 * curvature)
        fits = fits[-2:]
    (x0, y0), (x1, y1) = fits[-2:]
    slope = (y1 - y0) / (x1 - x0)
    return x1 + (1.0 - y1) / slope if slope > 0 else math.inf


def rational_root(fits: list[tuple[float, float]]) -> float | None:
    """Where y = (a x + b) / (c x + 1) through three points (x, y) reaches 1, if the curve
    rises without a pole from the last point to there; else None.

    A pool over a callee that nears saturation has a load ratio with a pole where the
    callee saturates (its waiting grows as rho / (1 - rho)): a parabola through three
    trials misses the steep end (100 generated services: 0.85, 0.90, 0.92, then 0.99 at
    0.7% more load), a rational curve follows it, and it is the line itself where the
    ratio is linear (c = 0: a station without callees). The root of (a x + b) = (c x + 1)
    is x = (1 - b) / (a - c): the three coefficients solve the linear equations
    a x + b - c x y = y, a rational (Pade-type) interpolation as in Jarratt's method
    (Jarratt & Nudds, "The use of rational functions in the iterative solution of
    equations on a digital computer", Computer Journal 8(1), 1965)."""
    (x0, y0), (x1, y1), (x2, y2) = fits
    if len({x0, x1, x2}) < 3 or not y2 < 1.0:
        return None
    # eliminate b: a (xi - xj) - c (xi yi - xj yj) = yi - yj, for (1, 0) and (2, 1)
    p1, q1, r1 = x1 - x0, x1 * y1 - x0 * y0, y1 - y0
    p2, q2, r2 = x2 - x1, x2 * y2 - x1 * y1, y2 - y1
    determinant = -p1 * q2 + q1 * p2
    if determinant == 0.0:
        return None
    a = (-r1 * q2 + q1 * r2) / determinant
    c = (p1 * r2 - r1 * p2) / determinant
    b = y2 - a * x2 + c * x2 * y2
    if not (a - b * c > 0 and a - c > 0 and c * x2 + 1 > 0):
        return None  # falling, never reaching 1, or a pole before the last point
    root = (1.0 - b) / (a - c)
    if not (root > x2 and c * root + 1 > 0):
        return None
    return root


def next_trial(low: float, high: float, estimate: float, closing: bool, tolerance: float) -> float:
    """Where to try next inside the bracket (low, high): just below `estimate` (just above
    it when `closing`, to end the search with one more solve), or the middle when the
    estimate is outside the bracket."""
    if not low < estimate < high:
        return (low + high) / 2
    margin = tolerance / 4
    trial = estimate * (1.0 + margin if closing else 1.0 - margin)
    width = tolerance * high / 8
    return min(max(trial, low + width), high - width)


class Trials:
    """The unsaturated trials of a search: each pool's load ratio at each factor tried."""

    def __init__(self) -> None:
        self.factors: list[float] = []
        self.ratios: dict[tuple[str, ...], list[tuple[float, float]]] = {}

    def add(self, factor: float, ratios: Mapping[tuple[str, ...], float]) -> None:
        self.factors.append(factor)
        for key, ratio in ratios.items():
            self.ratios.setdefault(key, []).append((factor, ratio))

    def estimate(self, through_origin: bool) -> float:
        """The factor at which the first pool reaches a load ratio of 1, each pool's ratio
        extrapolated on its own (`ratio_root`; not where it is flat): the
        largest ratio is a maximum of curves that cross, and a pool whose callee nears
        saturation overtakes the others steeply
        (100 generated services: 0.78, 0.86, 0.92, 0.99 for 12.5, 12.6, 12.65, 12.7/s)."""
        return min(
            (
                ratio_root(points, through_origin)
                for points in self.ratios.values()
                if not flat(points[-3:])
            ),
            default=math.inf,
        )
