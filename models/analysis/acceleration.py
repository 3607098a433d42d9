"""Extrapolating rounds that converge slowly: where the rounds of
`models.analysis.network.solve_network` approach their fixed point by the same factor every
round and from one side, the rest of the way is taken in one step.

The rounds are a fixed-point iteration x_{n+1} = G(x_n) on the stations' views. Near the
fixed point x*, the error shrinks as e_{n+1} = J e_n; when one eigenvalue 0 < lambda < 1 of
J dominates, every component moves by the same factor lambda a round, in the same direction,
and x* = x_n + (G(x_n) - x_n) / (1 - lambda): Lyusternik's extrapolation, the vector form
of Aitken's delta-squared process (Brezinski & Redivo Zaglia, "Extrapolation Methods:
Theory and Practice", North-Holland 1991, sec. 4.1). Timeouts and retries feed a station's
waiting back into its load (a timed-out attempt still costs its callee the work, and its
retry adds more), and next to saturation the rounds shrink their change by 0.93 a round:
150 rounds a trial, where the extrapolation takes 10-20.

Assumptions, each checked before a step is taken (`extrapolation_weight`, `Extrapolation`):
- the largest change shrank by the same factor twice in a row (within `STEADY`), a factor
  above `SLOW_RATIO` (faster rounds need no help) and below 1 both times;
- the last two changes point the same way (`same_direction`): an oscillating mode (lambda
  < 0, losses that lighten the load downstream) is what the network's damping is for, and
  an extrapolation with 1 / (1 - |lambda|) would throw it the wrong way.
- the change is small (`LARGEST_CHANGE`): the rounds are linear in their error;
- no step of this solve has failed (`Extrapolation.failed`): where the change after a step
  is no smaller than the one it was taken on, the rounds were not converging to a point
  (next to a fold, the ghost of a fixed point slows them before they run off), and the
  plain rounds go on alone.

The fixed point is the same: the step only moves the start of the next round, whose
convergence is judged as any other's. Waits stay non-negative and shares in [0, 1].
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from models.analysis.graph import StationId
from models.analysis.moments import ZERO, Moments
from models.analysis.summary import StationView

SLOW_RATIO = 0.5
"""The factor by which the largest change shrinks a round, above which rounds are slow."""
STEADY = 0.05
"""How closely two successive factors must agree (relative) for the dominant mode to be
trusted."""
MAX_WEIGHT = 20.0
"""The longest step, in multiples of the last round's change (a factor of 0.95)."""
ROUNDS_BETWEEN = 4
"""Rounds with changes of their own before a step (three for the two factors, and the
round that follows a step, whose change only shows where the step landed)."""
SAME_DIRECTION = 0.9
"""The cosine between two successive changes above which they point the same way."""
LARGEST_CHANGE = 0.05
"""The largest change (relative) a step is taken from: farther from the fixed point the
rounds are not yet linear in the error. Retries after timeouts near a fold (a retry storm
that the load is just short of, or just past) make the changes shrink for a while by a
steady factor and grow again, with changes of 30-90%: a step there had the iteration
circle a point that was no fixed point."""

Differences = dict[StationId, tuple[float, ...]]


def differences(
    old: Mapping[StationId, tuple[float, ...]], new: Mapping[StationId, tuple[float, ...]]
) -> Differences:
    """The change between two signatures (`convergence.signature`), each value relative
    to max(|a|, |b|, 1e-6) as `convergence.largest_change` measures it; infinite values
    and stations present in one only are left out."""
    found: Differences = {}
    for station, values in new.items():
        before = old.get(station)
        if before is None or len(before) != len(values):
            continue
        found[station] = tuple(
            (b - a) / max(abs(a), abs(b), 1e-6)
            if math.isfinite(a) and math.isfinite(b) and a != b
            else 0.0
            for a, b in zip(before, values, strict=True)
        )
    return found


def same_direction(first: Differences, second: Differences) -> bool:
    """Whether two successive changes point the same way (cosine above
    `SAME_DIRECTION`)."""
    dot = first_norm = second_norm = 0.0
    for station, values in second.items():
        before = first.get(station)
        if before is None or len(before) != len(values):
            continue
        for a, b in zip(before, values, strict=True):
            dot += a * b
            first_norm += a * a
            second_norm += b * b
    if first_norm <= 0.0 or second_norm <= 0.0:
        return False
    return dot / math.sqrt(first_norm * second_norm) > SAME_DIRECTION


def extrapolation_weight(changes: Sequence[float], damping: float) -> float | None:
    """The weight w of a step x + w (G(x) - x) to the fixed point, from the largest
    changes of the rounds so far (the last three: two factors), or None where they do not
    shrink slowly and steadily. `damping`: the weight the round itself applies to
    G(x) - x (1, or 1/2 once the network damps its rounds), so that the factor measured is
    1 - damping (1 - lambda) and w = damping / (1 - factor) = 1 / (1 - lambda)."""
    if len(changes) < ROUNDS_BETWEEN:
        return None
    oldest, middle, newest = changes[-3:]
    if not (0.0 < oldest < math.inf and 0.0 < middle < math.inf):
        return None  # (a change in kind)
    if not 0.0 < newest <= LARGEST_CHANGE:  # (settled exactly, or not yet linear)
        return None
    earlier, factor = middle / oldest, newest / middle
    if not (
        earlier < 1.0 and SLOW_RATIO < factor < 1.0 and abs(factor - earlier) <= STEADY * factor
    ):
        return None
    return min(damping / (1.0 - factor), MAX_WEIGHT)


def _mixed(old: float, new: float, weight: float) -> float:
    """(1 - weight) old + weight new: for weight 1/2 exactly (old + new) / 2, halving
    being exact in binary floating point."""
    return (1.0 - weight) * old + weight * new


def _moments(old: Moments, new: Moments, weight: float) -> Moments:
    if not (old.finite and new.finite):
        return new
    mean = _mixed(old.mean, new.mean, weight)
    variance = _mixed(old.variance, new.variance, weight)
    return Moments(max(mean, 0.0), max(variance, 0.0))


def _share(old: float, new: float, weight: float) -> float:
    return min(max(_mixed(old, new, weight), 0.0), 1.0)


def _wait(old: float, new: float, weight: float) -> float:
    """A mean wait stepped, non-negative; the new one where either is infinite."""
    if not (math.isfinite(old) and math.isfinite(new)):
        return new
    return max(_mixed(old, new, weight), 0.0)


def _waits(
    old: Mapping[StationId, float], new: Mapping[StationId, float], weight: float
) -> Mapping[StationId, float]:
    """A pool's waits at its callees (`StationView.callee_waiting`), stepped where both
    have them."""
    if not old or not new:
        return new
    return {
        station: wait if station not in old else _wait(old[station], wait, weight)
        for station, wait in new.items()
    }


Split = tuple[tuple[tuple[str, str], ...], float, float] | None


def _split(old: Split, new: Split, weight: float) -> Split:
    """A two-class station's waits by caller (`StationView.caller_waiting`), stepped where
    both tell the same callers apart."""
    if old is None or new is None or old[0] != new[0]:
        return new
    return new[0], _wait(old[1], new[1], weight), _wait(old[2], new[2], weight)


def stepped(
    old: Mapping[StationId, StationView], new: Mapping[StationId, StationView], weight: float
) -> dict[StationId, StationView]:
    """The views `old + weight (new - old)` of what the rounds carry from one to the next
    (waits, and as callers see them: a pool's at its callees, a two-class station's by
    caller, fuzz seed 4373 deep, whose rounds cycled through them undamped; losses,
    rejections, served shares; the rest as `new` has them): weight 1/2 is the network's
    damping (halfway between two iterates, which stops the oscillation that
    losses can cause, and a saturated pool's share can), a weight above 1 an extrapolation
    (`Extrapolation.step`)."""
    stepped = dict(new)
    for station, view in new.items():
        before = old.get(station)
        if before is None:
            continue
        waiting = {
            priority: _moments(before.waiting.get(priority, ZERO), wait, weight)
            for priority, wait in view.waiting.items()
        }
        changed = dataclasses.replace(
            view,
            waiting=waiting,
            loss=_share(before.loss, view.loss, weight),
            rejected=_share(before.rejected, view.rejected, weight),
            callee_waiting=_waits(before.callee_waiting, view.callee_waiting, weight),
            caller_waiting=_split(before.caller_waiting, view.caller_waiting, weight),
        )
        if before.served or view.served:  # (a saturated station's share: `throttle`)
            shares = {
                priority: _share(before.served_share(priority), view.served_share(priority), weight)
                for priority in before.served.keys() | view.served.keys()
            }
            changed = dataclasses.replace(changed, served=shares)
        stepped[station] = changed
    return stepped


def extrapolated(
    lighter: Mapping[StationId, StationView],
    heavier: Mapping[StationId, StationView],
    weight: float,
) -> dict[StationId, StationView]:
    """`stepped(lighter, heavier, weight)` where a station's views differ, `heavier`'s own
    view where they are equal (so that what a solve remembers by its views still
    matches there: `SolveMemo`)."""
    found = dict(heavier)
    moved = {
        station: view
        for station, view in heavier.items()
        if station in lighter and lighter[station] != view
    }
    if moved:
        found.update(stepped(lighter, moved, weight))
    return found


@dataclasses.dataclass
class Extrapolation:
    """What one solve's rounds tell of their convergence: the largest changes since the
    last step, the direction of the last change, and the slowest factor a step was taken
    on (`floor`)."""

    changes: list[float] = dataclasses.field(default_factory=list)
    direction: Differences = dataclasses.field(default_factory=dict)
    slowest: float = 0.0
    steps: int = 0
    """Steps taken so far."""
    stepped_from: float | None = None
    """The change the last step was taken on, until the round after it is measured."""
    failed: bool = False
    """Whether a step did not bring the rounds closer (the change after it no smaller than
    the one before): no more steps in this solve."""

    def floor(self, change: float, before: float) -> float:
        """The change of the round before, for `convergence.settled`, made no larger than
        the slowest factor a step was taken on allows: right after a step the changes
        shrink fast (the step took the slow mode away) and would promise more than the
        rounds will keep."""
        return before if self.slowest <= 0.0 else min(before, change / self.slowest)

    def step(
        self,
        views: Mapping[StationId, StationView],
        solved: Mapping[StationId, StationView],
        old: Mapping[StationId, tuple[float, ...]],
        new: Mapping[StationId, tuple[float, ...]],
        change: float,
        damping: float,
    ) -> dict[StationId, StationView] | None:
        """The views a round solved from `views` extrapolated to the fixed point (their
        signatures `old` and `new`, `change` the largest change between them), or None
        where the rounds do not converge slowly and steadily from one side."""
        if self.stepped_from is not None:
            self.failed = self.failed or not change < self.stepped_from
            self.stepped_from = None
        self.changes.append(change)
        if self.failed or len(self.changes) < ROUNDS_BETWEEN - 1:
            return None
        moved, self.direction = self.direction, differences(old, new)
        weight = extrapolation_weight(self.changes, damping)
        if weight is None or not same_direction(moved, self.direction):
            return None
        self.slowest = max(self.slowest, self.changes[-1] / self.changes[-2])
        self.stepped_from = change
        self.changes, self.direction = [], {}
        self.steps += 1
        return stepped(views, solved, weight)
