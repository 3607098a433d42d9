"""Capacity: the first resource to saturate, and how much traffic each flow can take.

A resource saturates when its offered load reaches its servers: a service's worker pool
(holding times include synchronous callees' response times, so a thread pool can saturate
before the service it calls does), a queue topic's consumers, or one consumer of a log
topic (its partitions). Because holding times grow with the load downstream, the saturation
point is found on the full model (`models.analysis.network`) by bracketing and bisection,
not from the service demands alone:

- a flow's `max_throughput` is the arrival rate at which the first resource saturates when
  that flow's rate grows and every other flow keeps its rate (closed flows at their
  predicted throughput); `headroom` = max_throughput / arrival_rate - 1;
- the `bottleneck` is the resource that saturates first when all flows grow together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from models.analysis.acceleration import extrapolated
from models.analysis.failures import failure_inputs
from models.analysis.graph import StationId
from models.analysis.network import MAX_ITERATIONS, FlowSource, NetworkSolution, solve_network
from models.analysis.ratio_curves import Trials, next_trial
from models.analysis.saturation import (
    SaturatingResource,
    first_saturated,
    load_ratios,
    named,
    peak_load_ratio,
    proportional_pools,
)
from models.analysis.solve_memo import SolveMemo
from models.analysis.summary import StationView
from models.schema import Scenario

GROWTH = 8.0
"""Factor by which the bracket grows (or shrinks) while looking for saturation."""
STEPS = 14
"""Bracketing steps: beyond 8^14 (about 4e12) times the start, nothing saturates; below
1e-9 of it, the other flows saturate a resource on their own."""
RELATIVE_TOLERANCE = 1e-2
"""How closely the search brackets the saturating load (1%). The value reported is the
extrapolation of the load ratio to 1 inside the final bracket (exact where the ratio grows
linearly with the load, as at a station without callees), else the bracket's low end."""
TOP_MARGIN = 0.9
"""Where the extrapolation lands in the top `RELATIVE_TOLERANCE` of the bracket, the next
trial is this fraction of the tolerance below its top: unsaturated, it ends the search."""
SEARCH_ITERATIONS = MAX_ITERATIONS
"""Rounds per trial: the network solve's own, so that a trial counts as saturated only
where the solve would not settle either (`SETTLED` ends the others). Where timeouts and
retries feed the waiting back into the load, the rounds settle in 30-240 next to
saturation: with 25 (80 with failures), a pool of 9 workers called with a 5 ms timeout
and 2 retries came out at 534/s for a root of 600/s."""
SMALLEST_FRACTION = 1e-9
UNMOVED_STEPS = 2
"""Growth steps (each x `GROWTH`) in a row that move no pool's load ratio (`_unmoved`)
after which the search concludes that nothing saturates however large the load: the
growing flows reach no pool, or only through rate limits that admit no more (a flow of
delays only took 29 steps to 8^29 times its rate, 7 s of a generated scenario's 13)."""
UNMOVED_CHANGE = 1e-9
"""The largest relative change of a load ratio that `_unmoved` counts as none."""
SETTLED = 1e-4
"""How close to its fixed point a trial must be (relative; the network's own `TOLERANCE`
is 1e-10): its load ratios are then known to about 1e-4, a hundredth of the search's
tolerance, and it is spared the rounds that only confirm it (from 1e-5: the benchmark
models' searches 774 rounds for 838, every capacity within 1% of its root, sec. 11.1)."""


CLIMB_REACH = 2.0
"""How far above the solution it starts from a trial's first saturated iterate may be
final (`_Search.climbs`): from a much lighter one, the second iterate overshoots as from
no waiting at all (fuzz seed 4148 deep, `f1` searched from 3% of its rate: a trial at
174.0/s started from the solution at 34.8/s saturated its 16-thread pool in its second
round, 1.014, where the network at 174/s settles at 0.89; its capacity came out 172.7/s,
181.1/s from its own rate and from 30% of it, 181.1/s and 179.2/s now)."""


UNSETTLED_FAR = 0.9
"""The largest load ratio below which a trial that did not settle is still taken as
unsaturated where the rounds climb (`_smooth`): a limit cycle of the model's own, not the
blow-up next to saturation (three such cycles, since mended, took trials at 0.7%-80% of
their pools' capacity for saturated: capacities 16% to 137 times too low)."""


def _saturated(solution: NetworkSolution, smooth: bool = False) -> bool:
    """Whether a trial counts as saturated: a pool saturated, or its rounds unsettled
    (but, where they climb, not far from saturation: `UNSETTLED_FAR`)."""
    saturated = solution.saturated()
    if saturated or solution.converged:
        return bool(saturated)
    return not (smooth and peak_load_ratio(solution) < UNSETTLED_FAR)


def _smooth(scenario: Scenario) -> bool:
    """Whether the rounds climb from a lighter solution to the fixed point (no failures:
    retries after failures and losses make the iterates oscillate), so that a trial may
    start from the heaviest unsaturated one and stop at its first saturated iterate
    (`_Search.start`, `_Search.climbs`)."""
    return not failure_inputs(scenario).reports


@dataclass
class _Search:
    """One capacity search: the network solved at trial factors of the load, each from
    the solution at the flows' own rates where it is known (`start`), else from no waiting
    anywhere. A trial that has not settled within its rounds counts as saturated.

    From the known solution, whatever a trial's load does not reach starts settled: the
    rounds remember more of it (`memo`), and a flow that reaches little settles in two
    rounds, not five (100 generated services: 90 rounds for the five searches, from 98;
    the whole command x0.97, the TrainTicket-like model x0.94, the Alibaba-like x0.93,
    paired). Every capacity of the examples and of the regression set stayed within the
    search's tolerance of the one found from no waiting (the largest move 0.98%)."""

    scenario: Scenario
    scale: Callable[[float], Mapping[str, FlowSource]]
    smooth: bool
    memo: SolveMemo = field(default_factory=SolveMemo)
    """What the trials' rounds remember: a flow's trials change only what it reaches."""
    above: NetworkSolution | None = None
    """The solution at the smallest saturated factor tried."""
    start: Mapping[StationId, StationView] | None = None
    """The stations' views the next trial starts from (None: no waiting anywhere): the
    known solution's, then, without failures, those of the heaviest unsaturated trial so
    far. Every trial lies above the bracket's low end, so its iterates climb from there,
    closer to their fixed point than from the flows' own rates: the benchmark models'
    searches take 470 rounds, from 491, and an early iterate overshoots saturation less
    often. From the flows' own rates, trials next to the root were taken as saturated
    where the network, solved to its fixed point, is not: three capacities of the
    regression set came out 1.0-1.1% low (j1 at 60%'s `read-home-timeline` 4781.8/s, j4
    at 60%'s `plan` 400.3/s, a at 60%'s `shoppers` 709.8/s), then 4835.6, 404.8 and
    716.2/s, each within 0.1% of its root (the plan's model has moved since, and its root
    with it: joins at one pool, docs/analysis.md sec. 6). The largest move the other way,
    Sock Shop at 95%'s `browse`, 946.1 -> 939.7/s, was 0.84% under its root (947.6/s)."""
    origin: float = math.inf
    """The factor `start` was solved at."""
    climbs: bool = False
    """Whether a trial above `origin` is saturated at its first saturated iterate (its
    iterates climb from the lighter solution: `solve_network`'s `climbing`). Only without
    failures (retries and losses make the iterates oscillate), and not for the search
    whose saturated solution names the bottleneck (`saturation.first_saturated`): an
    early iterate's largest load ratio need not be the settled one's."""

    lighter: tuple[Mapping[StationId, StationView], float] | None = None
    """The views `start` replaced (an unsaturated trial's, or the known solution's) and
    their factor: a trial above `origin` starts from the line through the two,
    extrapolated to its factor (`acceleration.extrapolated`), not from `start` itself.
    Every wait grows with the load, and convexly (rho / (1 - rho) and what sums and
    compounds it), so the line through two lighter trials stays below the wait at a
    heavier one: the rounds still climb to their fixed point (`climbs`), from closer (the
    five searches of the 100 generated services: 44 rounds, from 48; the benchmark
    models' 863, from 899, the same trials; every capacity of the 249 analysed documents
    within 0.075% of before)."""
    trials: int = 0
    """How many factors were solved."""
    first_start: Mapping[StationId, StationView] | None = None
    """The views the next trial starts from instead (`_limit`'s `first_views`), once."""
    ceiling: float = math.inf
    """The smallest factor found saturated."""
    linear: bool = False
    """Whether `_linear_root` may end the search (a flow's own search, without failures)."""
    proportional: set[tuple[str, ...]] = field(default_factory=set)
    """With `linear`, the pools of the last unsaturated trial whose load ratio is
    proportional to the factor (`saturation.proportional_pools`)."""

    def saturated(self, factor: float) -> tuple[bool, dict[tuple[str, ...], float]]:
        """Whether the network saturates at `factor`, and its pools' load ratios there."""
        self.trials += 1
        start = self.start
        if self.first_start is not None:
            start, self.first_start = self.first_start, None
        elif start is not None and self.lighter is not None and factor > self.origin:
            views, lighter = self.lighter
            start = extrapolated(views, start, (factor - lighter) / (self.origin - lighter))
        solution = solve_network(
            self.scenario,
            self.scale(factor),
            max_iterations=SEARCH_ITERATIONS,
            stop_when_saturated=True,
            memo=self.memo,
            settle=SETTLED,
            start=start,
            climbing=self.climbs
            and self.smooth
            and self.origin < factor <= CLIMB_REACH * self.origin,
        )
        if _saturated(solution, self.smooth):
            self.above = solution
            self.ceiling = min(self.ceiling, factor)
            return True, {}
        if self.start is not None and self.smooth and factor > self.origin:
            self.lighter = (self.start, self.origin)
            self.start, self.origin = solution.round_views, factor
        if self.linear:
            self.proportional = proportional_pools(solution)
        return False, load_ratios(solution)


def _unmoved(
    before: Mapping[tuple[str, ...], float], after: Mapping[tuple[str, ...], float]
) -> bool:
    """Whether two trials have the same pools with the same load ratios (to
    `UNMOVED_CHANGE`, relative)."""
    return before.keys() == after.keys() and all(
        math.isclose(before[key], after[key], rel_tol=UNMOVED_CHANGE, abs_tol=1e-300)
        for key in after
    )


def _linear_root(points: Trials, proportional: set[tuple[str, ...]]) -> float | None:
    """The factor at which the first pool saturates, exactly, where the last two trials
    show that only pools with proportional load ratios move (`proportional`): each moved
    pool's ratio is then a line in the factor, and every other is unchanged by it (a
    flow into a service that calls nothing and that only flows call); None otherwise."""
    if len(points.factors) < 2:
        return None
    before, after = points.factors[-2], points.factors[-1]
    roots = []
    for key, curve in points.ratios.items():
        if [factor for factor, _ in curve[-2:]] != [before, after]:
            return None  # (a pool without a ratio at either trial)
        (x0, y0), (x1, y1) = curve[-2:]
        if math.isclose(y0, y1, rel_tol=UNMOVED_CHANGE, abs_tol=1e-300):
            continue
        if key not in proportional or not y0 < y1 < 1.0:
            return None
        roots.append(x1 + (1.0 - y1) * (x1 - x0) / (y1 - y0))
    return min(roots, default=None)


def _limit(
    scenario: Scenario,
    scale: Callable[[float], Mapping[str, FlowSource]],
    start: float,
    smooth: bool,
    through_origin: bool,
    known: NetworkSolution | None = None,
    memo: SolveMemo | None = None,
    climbs: bool = False,
    name_only: bool = False,
    linear: bool = False,
    first: float = math.inf,
    first_views: Mapping[StationId, StationView] | None = None,
) -> tuple[float, _Search] | None:
    """The factor at which the network saturates, to within `RELATIVE_TOLERANCE` (the
    extrapolation from the trials below, if it lies in the final bracket, else the largest
    factor found unsaturated; 0 if the other flows saturate a resource on their own), and the
    search with its solutions; None if nothing saturates however large the factor.
    `through_origin`: the load ratio is 0 at factor 0 (every flow scales). `known`: the
    network already solved at `start`, if it is; `memo`, what that solve remembers (every
    search reuses its stations and flow-equivalent servers: `SolveMemo.shared`); `climbs`:
    see `_Search.climbs`. `name_only`: only the resource that saturates first is wanted,
    not the factor: the search ends at the first saturated trial that names it beyond
    doubt (`saturation.named`), and returns that trial's factor. `first`: a factor known to
    saturate the network (the first trial above `start`, where it is above it), and
    `first_views` the views that trial starts from (else `known`'s).

    The saturation factor f* solves peak(f) = 1, peak being the largest load ratio: a
    secant step on the unsaturated trials lands next to it in a few solves (each pool's
    ratio is smooth below f*, and a rational curve through its last three follows its
    curvature, `ratio_curves.rational_root`; the earliest pool to reach 1 is taken,
    `Trials.estimate`), each step kept inside the bracket found so far, and the bracket
    halved when two steps did not halve it (the safeguard of Dekker's and Brent's methods).
    The first trial above the start overshoots the extrapolation by half the tolerance, so
    that a trial just below it can close the bracket; and when a new trial puts the root in
    the top tolerance of the bracket, the next is just below the top (`TOP_MARGIN`): one
    unsaturated solve there ends the search, where halving took three or four (100
    generated services: 26 solves for the five searches, from 33). A trial just above the
    extrapolation is also taken whenever, saturated, it would close the bracket (not only
    once two extrapolations agree): the TrainTicket-like model at 95% 173 -> 161 rounds,
    the Alibaba-like 237 -> 224, every capacity within 0.25% of before. A saturated trial
    just above a rational fit's root still in the top tolerance is followed once by one
    just below the top, not the middle: 26 of 44 ended the search (benchmark rounds 838,
    from 860).
    """
    search = _Search(scenario, scale, smooth, climbs=climbs, linear=linear and smooth)
    if memo is not None:
        search.memo = memo.shared()
    if known is not None:
        search.start, search.origin = known.round_views, start
    tolerance = RELATIVE_TOLERANCE
    points = Trials()
    low, high = 0.0, math.inf
    if known is not None:  # the network at `start`, solved already
        saturated, ratio = _saturated(known, smooth), load_ratios(known)
        if saturated:  # (its views would make a lighter trial's first rounds look saturated)
            search.above, search.start, search.origin = known, None, math.inf
            if name_only and named(known):
                return start, search
    else:
        saturated, ratio = search.saturated(start)
    if saturated:  # below the start: first, is anything left with (almost) none of it?
        high = start
        trial = start * SMALLEST_FRACTION
        saturated, ratio = search.saturated(trial)
        if saturated:
            return 0.0, search  # saturated whatever this flow does (the others saturate it)
        low = trial
        points.add(trial, ratio)
    else:
        low = start
        points.add(start, ratio)
    grown = unmoved = 0
    while not math.isfinite(high):  # bracket from below: extrapolate, at most x GROWTH
        factor = points.factors[-1]
        estimate = points.estimate(through_origin)
        trial = min(estimate * (1.0 + tolerance / 2), factor * GROWTH)
        if not trial > factor:
            trial = factor * GROWTH
        if factor < first < math.inf and not search.trials:
            trial, search.first_start = first, first_views
        before = ratio
        saturated, ratio = search.saturated(trial)
        if saturated:
            high = trial
            if name_only and named(search.above):
                return trial, search
        else:
            low = trial
            points.add(trial, ratio)
            if search.linear and (root := _linear_root(points, search.proportional)):
                return root, search
            grown += 1
            unmoved = unmoved + 1 if trial >= factor * GROWTH and _unmoved(before, ratio) else 0
            if grown > STEPS * 2 or unmoved >= UNMOVED_STEPS:
                return None
    estimates: list[float] = []
    widths = [high - low]
    fresh = False  # whether the last trial added a point (and so moved the estimate)
    retried = False  # whether the top was tried again since the last point
    while high - low > tolerance * high:
        estimate = points.estimate(through_origin)
        closing = bool(estimates) and abs(estimate - estimates[-1]) <= (tolerance * high / 4)
        estimates.append(estimate)
        if len(widths) >= 3 and widths[-1] > widths[-3] / 2:
            trial = (low + high) / 2  # two steps that did not halve the bracket: halve it
        elif estimate >= high * (1.0 - tolerance):
            if fresh:  # a new trial puts the root at (or past) the top: one more may close it
                top = high * (1.0 - TOP_MARGIN * tolerance)
                if estimate < high:
                    top = max(top, estimate * (1.0 - tolerance / 4))
                trial = max(top, (low + high) / 2)
            elif len(points.factors) >= 3 and not retried:  # (a rational fit just missed)
                retried = True
                trial = max(high * (1.0 - TOP_MARGIN * tolerance), (low + high) / 2)
            else:  # (the extrapolation already tried, and saturated)
                trial = (low + high) / 2
        else:
            if fresh and estimate * (1.0 + tolerance / 4) < low / (1.0 - tolerance):
                closing = True  # (saturated there, the trial closes the bracket)
            trial = next_trial(low, high, estimate, closing, tolerance)
        saturated, ratio = search.saturated(trial)
        fresh, retried = not saturated, retried and saturated
        if saturated:
            high = trial
            if name_only and named(search.above):
                return trial, search
        else:
            low = trial
            points.add(trial, ratio)
            if search.linear and (root := _linear_root(points, search.proportional)):
                return root, search
        widths.append(high - low)
    estimate = points.estimate(through_origin)  # (exact where the ratio is linear)
    return (estimate if low <= estimate <= high else low), search


@dataclass(frozen=True)
class Capacity:
    """How much load the network takes."""

    max_throughput: dict[str, float | None]
    """Per flow: its arrival rate at which the first resource saturates, every other flow
    keeping its rate (None: nothing ever saturates)."""
    bottleneck: SaturatingResource | None
    """The resource that saturates first as every flow's rate grows in proportion."""


def solve_capacity(
    scenario: Scenario,
    sources: Mapping[str, FlowSource],
    solution: NetworkSolution | None = None,
    memo: SolveMemo | None = None,
) -> Capacity:
    """Each flow's maximum throughput and the bottleneck (one search when there is one
    flow: growing it alone or every flow in proportion is the same). `solution`, if given,
    is the open network solved with `sources` (every search starts from it), and `memo`
    what its solve remembers."""
    smooth = _smooth(scenario)
    limits: dict[str, float | None] = {}
    first_views = None
    if len(sources) == 1:
        found = _all_flows_limit(scenario, sources, smooth, solution, memo)
        for flow, base in sources.items():
            if base.rate > 0:
                limits[flow] = None if found is None else found[0] * base.rate
            else:
                limits[flow], _, _ = _flow_limit(scenario, sources, flow, smooth, solution, memo)
    else:
        first = math.inf  # (every flow grown as far as one alone saturates the network)
        for flow, base in sources.items():
            limits[flow], ceiling, views = _flow_limit(
                scenario, sources, flow, smooth, solution, memo
            )
            if base.rate > 0 and ceiling / base.rate < first:
                first, first_views = ceiling / base.rate, views
        found = _all_flows_limit(scenario, sources, smooth, solution, memo, first, first_views)
    neck = None
    if found is not None and found[1].above is not None:
        neck = first_saturated(found[1].above)
    return Capacity(limits, neck)


def _flow_limit(
    scenario: Scenario,
    sources: Mapping[str, FlowSource],
    flow: str,
    smooth: bool,
    solution: NetworkSolution | None,
    memo: SolveMemo | None = None,
) -> tuple[float | None, float, Mapping[StationId, StationView] | None]:
    """The arrival rate of `flow` at which the first resource saturates (None: never), the
    smallest rate of it found saturated (inf: none), and the views of the heaviest trial
    found unsaturated where a trial may start from them (`_Search.start`; else None)."""
    base = sources[flow]

    def scale(rate: float) -> dict[str, FlowSource]:
        return {**sources, flow: FlowSource(rate, base.scv, base.flag)}

    start = base.rate if base.rate > 0 else 1.0
    known = solution if base.rate > 0 else None
    found = _limit(
        scenario, scale, start, smooth, len(sources) == 1, known, memo, climbs=True, linear=True
    )
    if found is None:
        return None, math.inf, None
    search = found[1]
    return found[0], search.ceiling, search.start if search.smooth else None


def _all_flows_limit(
    scenario: Scenario,
    sources: Mapping[str, FlowSource],
    smooth: bool,
    solution: NetworkSolution | None,
    memo: SolveMemo | None = None,
    first: float = math.inf,
    first_views: Mapping[StationId, StationView] | None = None,
) -> tuple[float, _Search] | None:
    """`_limit` with every flow's rate grown in proportion (None: no flow has arrivals).
    `first`: a factor known to saturate the network, tried first (`solve_capacity`: with
    every flow grown by it, one flow is at a rate that saturates the network on its own,
    and the others add load: 100 generated services, the bottleneck in one trial, from
    two), from `first_views`, if given: the heaviest unsaturated trial of that flow's own
    search, a load nowhere heavier than every flow grown by `first`, so that the rounds
    still climb, from closer (100 generated services: 3 rounds, from 4; the 249 analysed
    documents unchanged)."""
    if not any(source.rate > 0 for source in sources.values()):
        return None

    def scale(factor: float) -> dict[str, FlowSource]:
        return {
            name: FlowSource(source.rate * factor, source.scv, source.flag)
            for name, source in sources.items()
        }

    several = len(sources) > 1  # (one flow: its search is this one, and needs the factor)
    return _limit(
        scenario,
        scale,
        1.0,
        smooth,
        True,
        solution,
        memo,
        name_only=several,
        first=first,
        first_views=first_views,
    )


def saturating_factor(
    scenario: Scenario,
    scale: Callable[[float], Mapping[str, FlowSource]],
    memo: SolveMemo | None = None,
    through_origin: bool = False,
) -> tuple[float, SaturatingResource | None] | None:
    """The factor of the load `scale` makes at which the first resource saturates (to
    within `RELATIVE_TOLERANCE`, as `_limit` finds it), and that resource; None where
    nothing saturates however large the factor. Every trial starts from no waiting
    anywhere: from a saturated network's views, a light trial's first rounds can look
    saturated (an API over a pool over a database, under a spike: its search ended at 0)."""
    found = _limit(scenario, scale, 1.0, _smooth(scenario), through_origin, None, memo)
    if found is None:
        return None
    factor, search = found
    return factor, None if search.above is None else first_saturated(search.above)
