"""The open network as a fixed point: operations, traffic and stations solved together.

A blocking call holds the caller's worker for the callee's whole response time, so the
caller's holding time depends on the callee's waiting time, which depends on the callee's
load, and so on — services may even depend on each other in both directions through
different operations, and dropped calls change the traffic downstream. As in the method of
layers for layered queueing networks (Rolia & Sevcik, "The method of layers", IEEE TSE 21(8),
1995), the model is solved by successive substitution: start with no waiting anywhere; then
repeatedly (1) summarise every operation with the current waiting times and loss
probabilities (`models.analysis.operations`), (2) solve the traffic equations
(`models.analysis.traffic`), (3) solve every station for its new load
(`models.analysis.stations`), thread pools together with their callees
(`models.analysis.layers`), until nothing changes. Waiting times only grow from one
iteration to the next (more waiting downstream means longer holding upstream), so the
iteration climbs to the smallest fixed point or finds a station saturated: a thread pool
exhausted by slow callees is predicted as such. Losses can make the iterates oscillate (more
drops upstream, less load downstream, fewer drops, ...): after `DAMPING_AFTER` rounds each
is averaged with the one before.

Failures (`models.analysis.failures`) enter each round as constants per service (error and
unavailability probabilities, crash availability) and one quantity that depends on the
load: a rate limit of R per second offered λ attempts per second rejects the fraction
λ / (λ + R) of them with a bucket of 1 (exact for Poisson arrivals), max(0, 1 - R / λ) with
a larger one (the long-run token bucket), which callers may retry: the
rejection of the next round follows from this round's attempts (more rejections, more
retries, more attempts: the iteration climbs monotonically to the fixed point). Fault
windows (outages, error bursts) cut the measured period into pieces, each with its own
constants: the operations and the traffic equations are solved for every piece and the
rates averaged over time (a retry storm in a window adds its attempts for its length),
while the stations are solved at those average rates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from models.analysis import acceleration, convergence
from models.analysis.failures import (
    FailureInputs,
    admitted_shares,
    regimes,
    rejected_fraction,
)
from models.analysis.graph import (
    OpKey,
    StationId,
    flow_key,
)
from models.analysis.group_layers import apply_group_layers
from models.analysis.loads import FlowSource, LoadBuilder
from models.analysis.operations import Evaluator
from models.analysis.pools import apply_layers
from models.analysis.release_groups import settle_releases
from models.analysis.solve_memo import SolveMemo
from models.analysis.station_load import (
    GroupStation,
    ServiceStation,
    StationLoad,
    StationSolution,
)
from models.analysis.station_views import station_views
from models.analysis.summary import OperationSummary, StationView
from models.analysis.throttle import (
    Throttle,
    served_by_operation,
    unthrottled,
)
from models.analysis.traffic import Traffic, mix_traffic, solve_traffic
from models.schema import Scenario, Service

__all__ = ["FlowSource", "GroupStation", "NetworkSolution", "ServiceStation", "solve_network"]

MAX_ITERATIONS = 300
DAMPING_AFTER = 12
"""Iterations of plain substitution before successive iterates are averaged."""
DAMPING = 0.5
"""The weight of the new iterate once they are (`acceleration.stepped`): halfway, which
stops the oscillation that losses can cause (more drops upstream, less load downstream,
fewer drops, ...), and a saturated pool's share can (a smaller share, a lighter callee or
fewer resumes, a larger share, ...)."""
TOLERANCE = 1e-10


@dataclass
class NetworkSolution:
    """The fixed point: every summary, the traffic and every station."""

    keys: list[OpKey]
    summaries: dict[OpKey, OperationSummary]
    traffic: Traffic
    services: dict[str, ServiceStation]
    groups: dict[tuple[str, str], GroupStation]
    converged: bool
    iterations: int
    views: dict[StationId, StationView] = field(default_factory=dict)
    failures: FailureInputs = field(default_factory=FailureInputs)
    """The failure constants the network was solved with."""
    offered: dict[str, float] = field(default_factory=dict)
    """Attempts per second offered to each service (before its rate limit)."""
    success: dict[str, float] | None = None
    """With fault windows: each flow's success probability averaged over the measured
    period, every period between window boundaries solved with its own constants."""
    round_views: dict[StationId, StationView] = field(default_factory=dict)
    """The views the last round was solved from (`views` are what it gave): another solve
    that starts from them finds in its first round what this one's last round computed
    wherever its load does not reach (`SolveMemo`), where `views`, equal to them only to
    the iteration's tolerance, would have it compute everything again."""

    def saturated(self) -> list[StationId]:
        """Stations whose offered load reaches their servers (no steady state)."""
        found = [StationId("service", n) for n, s in self.services.items() if s.solution.saturated]
        for (topic, group), station in self.groups.items():
            if any(solution.saturated for _, solution in station.consumers):
                found.append(StationId("group", topic, group))
        return found


@dataclass
class _Round:
    """One substitution: every operation, the traffic and every station, solved from the
    station views of the round before."""

    summaries: dict[OpKey, OperationSummary]
    traffic: Traffic
    services: dict[str, ServiceStation]
    groups: dict[tuple[str, str], GroupStation]
    views: dict[StationId, StationView]
    """The stations as the next round's operations will see them."""
    offered: dict[str, float]
    """Attempts per second offered to each service."""
    success: dict[str, float] | None = None
    """With fault windows: each flow's success probability averaged over the periods."""


def _round(
    scenario: Scenario,
    keys: list[OpKey],
    sources: Mapping[str, FlowSource],
    views: Mapping[StationId, StationView],
    rates: Mapping[OpKey, float],
    failures: FailureInputs,
    pieces: Sequence[tuple[float, FailureInputs]] = (),
    memo: SolveMemo | None = None,
    round_number: int = 1,
    throttle: Throttle | None = None,
) -> _Round:
    """(1) summarise the operations, (2) solve the traffic, (3) solve the stations
    (`memo`: what earlier rounds computed, by their inputs: `SolveMemo`; `round_number`:
    this round's, from 1; `throttle`: `station_views`)."""
    memo = SolveMemo() if memo is None else memo
    flow_flags = {name: source.flag for name, source in sources.items()}
    flow_scvs = {name: source.scv for name, source in sources.items()}
    evaluator = memo.evaluator(
        round_number, scenario, views, rates, flow_flags, failures, flow_scvs
    )
    summaries = {key: evaluator.summary(key) for key in keys}
    served = served_by_operation(keys, views) if throttle is not None else {}
    admitted, admission = admitted_shares(scenario, keys, views, failures, served)
    flow_rates = {n: s.rate for n, s in sources.items()}
    traffic = memo.traffic(keys, summaries, flow_rates, scenario.topics, admitted)
    success: dict[str, float] | None = None
    if pieces:  # fault windows: every period solved with its own constants, then averaged
        parts = []
        success = dict.fromkeys(sources, 0.0)
        for weight, inputs in pieces:
            piece = Evaluator(
                scenario,
                views,
                rates,
                flow_flags,
                inputs,
                flow_scvs=flow_scvs,
                shapes=memo.node_shapes(scenario),
            )
            piece_summaries = {key: piece.summary(key) for key in keys}
            piece_admitted, _ = admitted_shares(scenario, keys, views, inputs, served)
            parts.append(
                (
                    weight,
                    solve_traffic(
                        keys, piece_summaries, flow_rates, scenario.topics, piece_admitted
                    ),
                )
            )
            for name in sources:
                fail = piece_summaries[flow_key(scenario, name)].fail
                success[name] += weight * (1.0 - fail)
        traffic = mix_traffic(parts)
    structure = memo.round_structure(scenario, keys, summaries)
    keys_of = structure.service_keys
    offered = {
        name: math.fsum([traffic.rates.get(k, 0.0) for k in keys_of.get(name, ())])
        for name in scenario.services
    }
    capacity = {
        name: faults.availability
        for name, faults in failures.services.items()
        if faults.availability < 1.0
    }
    builder = LoadBuilder(
        scenario,
        sources,
        summaries,
        traffic,
        admission,
        capacity,
        memo.stations,
        memo.classes,
        memo.senders(scenario, keys),
        memo.released,
        memo.in_flight,
        served,
        memo.pacing(scenario, keys),
        memo.publishers(scenario, keys),
        memo.last_graph,
    )
    services: dict[str, ServiceStation] = {}
    idle = None if admission or capacity or served else memo.idle
    for name in scenario.services:
        members = keys_of.get(name, [])
        if not members and idle is not None:  # (no flow reaches it: the same every round)
            services[name] = _idle(builder, name, idle)
            continue
        pools, load = builder.service(name, members)
        services[name] = ServiceStation(name, pools, load, builder.solve(load))
    settle_releases(builder, memo.releases(scenario, keys), services, keys_of)
    memo.released = dict(builder.released)
    seen_by = apply_layers(
        scenario,
        keys,
        summaries,
        traffic.rates,
        services,
        memo.layers,
        served,
        memo.below,
        structure,
        memo.weights,
    )
    groups: dict[tuple[str, str], GroupStation] = {}
    for (topic_name, group), members in structure.handlers.items():
        groups[(topic_name, group)] = builder.group(topic_name, group, members)
    seen_by.update(
        apply_group_layers(
            scenario,
            keys,
            summaries,
            traffic.rates,
            services,
            groups,
            memo.layers,
            served,
            structure.handlers,
            memo.weights,
        )
    )
    rejections: dict[str, float] = {}
    for name, service in scenario.services.items():
        limit = service.rate_limit
        if failures.reports and limit is not None:
            rejected = rejected_fraction(offered[name], limit.rate, limit.burst)
            if rejected > 0:
                rejections[name] = rejected
    read = set().union(*[summary.scv_reads for summary in summaries.values()])
    timed = memo.timed(scenario, keys)
    carried = builder.streams.carried
    views_out = station_views(services, groups, seen_by, rejections, carried, read, timed, throttle)
    memo.keep(round_number, evaluator)
    return _Round(summaries, traffic, services, groups, views_out, offered, success)


def _idle(
    builder: LoadBuilder,
    name: str,
    idle: dict[str, tuple[Service, int, StationLoad, StationSolution, float | None]],
) -> ServiceStation:
    """The station of service `name`, which no flow reaches (no operation of it runs), as
    a round built it for the same specification: nothing arrives, whatever the rest of
    the network does (without failures: `_round` builds it every round where admission
    shares, availability or served shares apply). What its calls carry is recorded again
    (`Streams.carried`), as building it records it."""
    spec = builder.scenario.services[name]
    known = idle.get(name)
    station = StationId("service", name)
    if known is None or known[0] is not spec:
        pools, load = builder.service(name, [])
        carried = builder.streams.carried.get(station)
        known = idle[name] = (spec, pools, load, builder.solve(load), carried)
    _, pools, load, solution, carried = known
    if carried is not None:
        builder.streams.carried[station] = carried
    return ServiceStation(name, pools, load, solution)


def _rates_stable(
    keys: list[OpKey],
    old: Mapping[OpKey, float],
    new: Mapping[OpKey, float],
    tolerance: float = 1e-12,
) -> bool:
    """Whether every node's rate is within `tolerance` of the round before's (a loop, not
    `all` over a generator: every round asks, over every node)."""
    old_rate, new_rate, isclose = old.get, new.get, math.isclose
    for k in keys:
        if not isclose(old_rate(k, 0.0), new_rate(k, 0.0), rel_tol=tolerance, abs_tol=1e-300):
            return False
    return True


def solve_network(
    scenario: Scenario,
    sources: Mapping[str, FlowSource],
    fixed_views: Mapping[StationId, StationView] | None = None,
    *,
    max_iterations: int = MAX_ITERATIONS,
    stop_when_saturated: bool = False,
    inputs: FailureInputs | None = None,
    memo: SolveMemo | None = None,
    settle: float | None = None,
    start: Mapping[StationId, StationView] | None = None,
    climbing: bool = False,
    throttle: Throttle | None = None,
) -> NetworkSolution:
    """Solve the open network with the flows arriving as `sources` describes.

    `fixed_views`, if given, are used as the stations' state instead of iterating (the
    closed-network solution supplies its own waiting times this way): one round is solved
    from them. With `stop_when_saturated` the iteration stops at the second iterate in a row
    with a saturated service: enough for the capacity search (one is not: the second round,
    the first with waiting, can overshoot and the next come back below saturation — 100
    generated services: peak load ratios 0.92, 1.001, 0.968, 0.967, ...). `inputs`, if
    given, are the failure constants to solve with (one fault window's), instead of the
    scenario's time averages. `memo`, if given, keeps what the rounds remember (summaries
    and flow-equivalent servers, by their inputs) from one solve to the next: the capacity
    search solves the same network at many loads, and whatever the changed flows do not
    reach is not computed again. With `settle` (a relative distance) the iteration also
    stops, counted as converged, once it is that close to its fixed point by a geometric
    estimate (`convergence.settled`): the capacity search needs each trial's load ratios to a small
    fraction of its tolerance, not to `TOLERANCE`, and saves the last round or two of every
    trial below saturation; there a service's waits change relative to its holding time
    (`convergence.time_scales`: 100 generated services, 71 rounds for the five searches, from 78).
    `start`, if given, are the stations' views to iterate from (the capacity search starts
    from the solution at the flows' own rates). `climbing`: `start` is the solution at a
    lighter load, so the iterates climb from below the fixed point and the first saturated
    one is final (the overshoot above comes from an iterate with waiting after one without:
    from no waiting anywhere); with `stop_when_saturated`, the iteration stops there.
    `throttle`: a saturated station passes on only what it serves, its capacity
    (`models.analysis.throttle`; the steady state's solve: a capacity trial stops at
    saturation, and a rate piece's overloaded entry service is `flat_out`'s).
    """
    memo = SolveMemo() if memo is None else memo
    keys = memo.keys(scenario)
    failures = memo.failures(scenario) if inputs is None else inputs
    pieces = regimes(scenario, failures) if failures.reports and inputs is None else []
    limited = failures.reports and any(s.rate_limit for s in scenario.services.values())
    # (a rate limit sheds load as the iteration goes: an early saturated iterate may not last)
    views: dict[StationId, StationView] = dict(fixed_views or start or {})
    if throttle is None:  # (from a throttled solve's views: every station passes all on)
        views = unthrottled(views)
    rates: Mapping[OpKey, float] = {}
    previous = convergence.signature(views)
    converged = False
    iteration = 0
    change = scaled_change = math.inf
    saturated_before = False
    slow = acceleration.Extrapolation()
    stepped = False  # (whether this round starts from an extrapolation)
    while True:
        iteration += 1
        current = _round(
            scenario, keys, sources, views, rates, failures, pieces, memo, iteration, throttle
        )
        solved_views = current.views
        signature = convergence.signature(solved_views)
        floors = convergence.holding_scales(current.services, current.groups)
        change = convergence.largest_change(previous, signature, floors, scvs=settle is None)
        if fixed_views is not None or (
            iteration > 1
            and _rates_stable(keys, rates, current.traffic.rates)
            and change <= TOLERANCE
        ):
            converged = True
            break
        if settle is not None:  # (settled as the load ratios see it: `time_scales`)
            held = memo.round_structure(scenario, keys, current.summaries).held
            scales = convergence.time_scales(scenario, floors, current.summaries, held)
            scaled = convergence.largest_change(previous, signature, scales, scvs=False)
            scaled_change, scaled_before = scaled, slow.floor(scaled, scaled_change)
        if (
            settle is not None
            and convergence.settled(scaled_change, scaled_before, settle)
            and _rates_stable(keys, rates, current.traffic.rates, settle)
        ):
            converged = True
            break
        if iteration >= max_iterations:
            break
        # (from an extrapolation the iterates no longer climb, and may overshoot once)
        saturated_now = any(s.solution.saturated for s in current.services.values())
        saturated_now = saturated_now and not stepped
        climbs = climbing and not slow.steps
        if stop_when_saturated and not limited and saturated_now and (saturated_before or climbs):
            break
        saturated_before = saturated_now
        damping = DAMPING if iteration > DAMPING_AFTER else 1.0
        measured = scaled_change if settle is not None else change
        stepped_views = slow.step(views, solved_views, previous, signature, measured, damping)
        stepped = stepped_views is not None
        if stepped_views is not None:
            solved_views = stepped_views
            signature = convergence.signature(solved_views)
            scaled_change = math.inf
        elif iteration > DAMPING_AFTER:
            solved_views = acceleration.stepped(views, solved_views, DAMPING)
            signature = convergence.signature(solved_views)
        views, previous, rates = solved_views, signature, current.traffic.rates
    _mark_inexact_rates(keys, current.summaries, current.services, current.groups)
    return NetworkSolution(
        keys=keys,
        summaries=current.summaries,
        traffic=current.traffic,
        services=current.services,
        groups=current.groups,
        converged=converged,
        iterations=iteration,
        views=views if fixed_views is not None else solved_views,
        failures=failures,
        offered=current.offered,
        success=current.success,
        round_views=dict(views),
    )


INEXACT_RATE_NOTE = "approximation: arrival rate after an approximate upstream loss"


def _mark_inexact_rates(
    keys: list[OpKey],
    summaries: Mapping[OpKey, OperationSummary],
    services: dict[str, ServiceStation],
    groups: dict[tuple[str, str], GroupStation],
) -> None:
    """A station fed by a lossy station whose loss is approximate has an approximate arrival
    rate: whatever its own formula, its prediction is then not exact."""
    lossy = {
        name
        for name, station in services.items()
        if station.solution.loss > 0.0 and not station.solution.exact
    }
    pending = [key for key in keys if key.kind == "service" and key.name in lossy]
    reached: set[OpKey] = set()
    while pending:
        key = pending.pop()
        summary = summaries[key]
        targets = list(summary.calls)
        targets += [
            handler
            for handler in keys
            if handler.kind == "handler"
            and any(handler.name == topic for topic, _ in summary.publishes)
        ]
        for target in targets:
            if target not in reached:
                reached.add(target)
                pending.append(target)
    for key in reached:
        if key.kind == "service" and key.name in services:
            station = services[key.name]
            if station.solution.exact:
                station.solution = dataclasses.replace(
                    station.solution,
                    exact=False,
                    method=f"{station.solution.method}, {INEXACT_RATE_NOTE}",
                )
        elif key.kind == "handler" and (key.name, key.operation) in groups:
            group = groups[(key.name, key.operation)]
            group.consumers = [
                (load, dataclasses.replace(solution, exact=False))
                for load, solution in group.consumers
            ]
