"""When the rounds of `models.analysis.network.solve_network` have settled: each round's
stations reduced to a signature (losses, flags, streams' SCVs, waits), the largest
relative change between two signatures, and the geometric estimate of how far the iterates
still are from their fixed point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from models.analysis.graph import OpKey, StationId
from models.analysis.station_load import GroupStation, ServiceStation
from models.analysis.summary import OperationSummary, StationView
from models.schema import Scenario

SIGNATURE_TIMES = 6
"""Where a signature's times (the waiting means) start: loss, rejected, the two flags and
the arrivals' and departures' SCV come first."""
STREAMS = (4, 5)
"""Where a signature holds the arrivals' and departures' SCV (`models.analysis.streams`)."""


def signature(views: Mapping[StationId, StationView]) -> dict[StationId, tuple[float, ...]]:
    """Each station's values that the iteration watches: its loss, rejections, flags,
    streams' SCVs, then its mean waits by priority class in order (a station of one class,
    the most, without sorting: every round signs every station, some twice)."""
    signatures: dict[StationId, tuple[float, ...]] = {}
    for station, view in views.items():
        waiting = view.waiting
        values: tuple[float, ...] = (
            view.loss,
            view.rejected,
            view.input_flag,
            view.departure_flag,
            view.arrival_scv,
            view.departure_scv,
        )
        if len(waiting) == 1:
            for moments in waiting.values():
                values += (moments.mean,)
        elif waiting:
            values += tuple([waiting[p].mean for p in sorted(waiting)])
        signatures[station] = values
    return signatures


def largest_change(
    old: Mapping[StationId, tuple[float, ...]],
    new: Mapping[StationId, tuple[float, ...]],
    scales: Mapping[StationId, float] | None = None,
    scvs: bool = True,
) -> float:
    """The largest relative change of any value of a signature, |a - b| / max(|a|, |b|,
    1e-6) (inf when the stations or their values differ in kind: a new station, a value
    that became infinite). With `scales` (`time_scales`), a station's times (its waits) change
    relative to max(|a|, |b|, its scale) instead. Without `scvs` the streams' SCVs are
    left out (a capacity trial's: they reach the load ratios only through the next round's
    waits, and trials that waited for it to settle took 81 rounds for the 100 generated
    services' searches instead of 68, for load ratios that had settled)."""
    if old.keys() != new.keys():
        return math.inf
    largest = 0.0
    scales = scales or {}
    for station, values in new.items():
        before = old[station]
        if len(before) != len(values):
            return math.inf
        total = sum(values)  # (NaN if a value is: then `a == b` fails below, even for itself)
        if before == values and total == total:
            continue  # (every value equal: as the iteration settles, most stations)
        scale = max(scales.get(station, 0.0), 1e-6)
        for index, (a, b) in enumerate(zip(before, values, strict=True)):
            if a == b or (not scvs and index in STREAMS):
                continue
            if not (math.isfinite(a) and math.isfinite(b)):
                return math.inf
            floor = scale if index >= SIGNATURE_TIMES else 1e-6
            largest = max(largest, abs(a - b) / max(abs(a), abs(b), floor))
    return largest


def time_scales(
    scenario: Scenario,
    holding: Mapping[StationId, float],
    summaries: Mapping[OpKey, OperationSummary],
    held: frozenset[str] | None = None,
) -> dict[StationId, float]:
    """Each service's mean holding time per acquisition (`holding`, `holding_scales`):
    the scale against which a change of its waiting matters. A blocking caller holds a
    worker at least as long as its callee's wait and holding time for each call, so a
    change d of the callee's wait changes the caller's holding time (and load ratio) by at
    most d over the callee's holding time, relatively; a wait far below that scale (1e-5
    s at a service that holds 10 ms) is settled for every load ratio long before it is
    settled relative to itself.

    A service whose response no pool waits for holding a worker (`held_through`: a flow's
    entry service, an async-I/O pool's callee that nothing waits for) has its waits in no
    load ratio at all: its scale is infinite, and its waits do not keep a capacity trial
    going. Next to saturation such a service's wait settles slowest of all (it is the
    most loaded), while the ratios that decide the search settled rounds before (100
    generated services: 57 rounds for the five searches, from 62; the Alibaba-like model
    at 95% 187, from 216; every capacity of the examples and the regression set within
    0.7% of before, most within 1e-5: Sock Shop at 95%, `browse`, 939.7 -> 946.1/s, where
    a search to 1e-4 finds 947.7/s). `held`: `held_through`'s, if already found (the
    scenario's structure: `round_structure.RoundStructure.held`)."""
    held = held_through(scenario, summaries) if held is None else held
    scales: dict[StationId, float] = {}
    for name in scenario.services:
        station = StationId("service", name)
        if name not in held:
            scales[station] = math.inf
        elif station in holding:
            scales[station] = holding[station]
    return scales


def held_through(scenario: Scenario, summaries: Mapping[OpKey, OperationSummary]) -> frozenset[str]:
    """The services whose response some pool waits for, holding a worker: those a consumer
    group's handler or a service with a finite pool and blocking calls calls, and, since a
    response holds its calls' responses, those that such a service calls in turn whatever
    its own pool (an unlimited service, an async-I/O pool: neither holds a worker through
    its calls, but its caller holds one through its response). A flow's clients are no
    pool of the network's."""
    held: set[str] = set()
    grew = True
    while grew:  # (a closure down the call graph: each pass reaches one level further)
        grew = False
        for key, summary in summaries.items():
            if key.kind == "service":
                spec = scenario.services[key.name]
                holds = key.name in held or (not spec.unlimited and spec.blocking_calls)
            else:
                holds = key.kind == "handler"
            if holds:
                for target in summary.calls:
                    if target.name not in held:
                        held.add(target.name)
                        grew = True
    return frozenset(held)


def holding_scales(
    services: Mapping[str, ServiceStation], groups: Mapping[tuple[str, str], GroupStation]
) -> dict[StationId, float]:
    """Each station's mean holding time per acquisition (offered load over arrival rate;
    a consumer group's longest over its consumers): the floor against which a change of
    its waits counts toward the network solve's tolerance (`largest_change`'s `scales`).

    A wait computed as a difference (the finite-source station's was L / X - S, its root
    found to 1e-13) carries an absolute error of about 1e-13 S: far below S, relative to
    the wait itself that is 1e-9 and more, and rounds that alternated between two such
    values never settled (a pool of 4 threads over a database of 2 servers at 1 request a
    second: the database's 0.68 µs of waiting went back and forth by 2.8e-9 of itself
    for 300 rounds, and the capacity search, taking the unsettled solve for saturated,
    reported 0.991/s for 136/s; that wait is Lq / X now). A change that small moves the
    station's response by 1e-13 of itself."""
    scales: dict[StationId, float] = {}
    for name, station in services.items():
        solution = station.solution
        if solution.arrival_rate > 0 and math.isfinite(solution.offered_load):
            scales[StationId("service", name)] = solution.offered_load / solution.arrival_rate
    for (topic, group), group_station in groups.items():
        holding = [
            consumer.offered_load / consumer.arrival_rate
            for _, consumer in group_station.consumers
            if consumer.arrival_rate > 0 and math.isfinite(consumer.offered_load)
        ]
        if holding:
            scales[StationId("group", topic, group)] = max(holding)
    return scales


SETTLED_CHANGE = 3e-3
"""`settled` trusts no geometric estimate made from a change larger than this (the
first rounds carry the waiting times down the call graph, one level a round, and their
changes do not shrink geometrically). From 1e-3: the change after a trial's first
rounds is often just above it (100 generated services: 0.73, 0.62, 0.032, 0.0011,
1.5e-5), and the round that only confirmed it went (`capacity.SETTLED`)."""


def settled(change: float, before: float, settle: float) -> bool:
    """Whether the iterates are within `settle` (relative) of their fixed point, judged from
    the last two rounds' largest changes: converging geometrically with rate r = change /
    before, the rest of the way is change x r / (1 - r) (the error bound of a contraction;
    r is measured, not known, hence `SETTLED_CHANGE`)."""
    if not (change <= SETTLED_CHANGE and 0.0 < before < math.inf):
        return False
    rate = change / before
    return rate < 1.0 and change * rate / (1.0 - rate) <= settle
