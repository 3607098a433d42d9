"""An entry service that a rate piece overloads passes on its capacity, not what arrives:
the services it calls are solved at that capacity while it is flat out, for
`models.analysis.pointwise`.

A piece solved at its own rates offers every station downstream of an overloaded entry
service what arrives at the service. Where that overloads a service it calls (a database
of one worker behind an API of two: 450/s offered, 1.35 of load on one worker), the piece
has no steady state anywhere and the flows fell back to their average rate. But the
callee never sees that load: the service's pool lets through what it serves, mu (its
workers over their holding time, the callee's response included), and the rest waits in
its queue. So (`flatten`):

- the capacity search (`capacity.saturating_factor`) finds the factor k* of the flows into
  the service (each a flow whose body is one call to it, and nothing else reaching it) at
  which the first resource saturates; where that is the service's own pool, the piece is
  solved again with its pool `FLAT_OUT` busy: every station then has a steady state, the
  callees at the rate the service sends flat out, mu, what arrives at it there;
- the service's backlog is the fluid of `models.analysis.backlogs` with that capacity and
  the piece's own arrivals; while it drains (in the pieces after, where it sends mu, not
  what arrives: `tandem.departures`) the network is solved with the flows into it at mu,
  so that every request it holds back reaches its callees later (the rates downstream
  are conserved);
- the run's means average these parts, each piece cut where the service's backlog empties.

Over the phases of an MMPP (`flatten_phases`) the same, with the time the service drains
in each phase the time its fluid queue's buffer is not empty there (Anick, Mitra &
Sondhi); its backlog is then the Markov-modulated Brownian queue of `backlogs`. In both,
the service's own documents and its share of each flow's times are those of the piece or
phase at its own rates (`as_carried`): the backlog is added to them, as for an entry
service overloaded alone.

The callees' means while the service is flat out are then those of a steady state at mu
(the simulation's callee sees the service's workers hand it requests as they free up).
Not where the flows into the service saturate something else first (its callee would then
be the bottleneck, whose backlog waits on the service's held workers: not modelled), where
something is overloaded even at mu (a consumer group it publishes to), or where several
entry services are overloaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from models.analysis.backlogs import service_carriable
from models.analysis.capacity import saturating_factor
from models.analysis.graph import StationId, reachable
from models.analysis.network import FlowSource, NetworkSolution, solve_network
from models.analysis.quasi_static import Documents, over_regimes
from models.analysis.solve_memo import SolveMemo
from models.analysis.summary import StationView
from models.analysis.tandem import departures, sole_call
from models.schema import Scenario
from models.theory.fluid_queue import fluid_queue

FLAT_OUT = 0.999
"""A flat-out piece is solved with the service's pool at this load ratio (every station is
then below saturation, and what the service sends is its capacity to 0.1%)."""
ATTEMPTS = 4
"""Solves to bring the service's load ratio to `FLAT_OUT` (the search's k* is known to 1%):
the ratio is read off each and the factor scaled by how far it is (secant through the
origin), backing off by 1% from a solve that saturates."""
AIM = 1e-3
"""How close to `FLAT_OUT` the load ratio must come (absolute)."""

Piece = tuple[float, Mapping[str, FlowSource], NetworkSolution]
"""A share of the measured period, its flows' sources and the network solved at them."""


@dataclass
class Flattened:
    """The pieces with entry `service` flat out where they overload it (`flatten`)."""

    service: str
    capacity: float
    """Requests per second each of the service's pools sends flat out: what arrives at it
    where a flat-out piece is solved (at a load ratio of `FLAT_OUT`), so that what the
    parts say it sends is what its fluid backlog says (every request it holds back it
    lets go)."""
    arrivals: list[float] = field(default_factory=list)
    """Per piece, requests per second arriving at each of its pools (the piece's own)."""
    solutions: list[tuple[float, NetworkSolution]] = field(default_factory=list)
    """Per piece, its share and the network in force: solved at the service's capacity
    where the piece overloads it."""
    parts: list[Piece] = field(default_factory=list)
    """The pieces cut where the service's backlog empties, each part's network solved at
    what the service sends (what arrives, or its capacity while it has a backlog)."""
    owners: list[int] = field(default_factory=list)
    """The piece (or phase) each of `parts` is part of."""

    def part(
        self, owner: int, share: float, sources: Mapping[str, FlowSource], solution: NetworkSolution
    ) -> None:
        """Add a part of piece `owner`."""
        self.parts.append((share, sources, solution))
        self.owners.append(owner)


class Solver(NamedTuple):
    """How the flat-out pieces are solved: the scenario, sharing `memo`, from `start`
    (None: no waiting anywhere)."""

    scenario: Scenario
    memo: SolveMemo
    start: Mapping[StationId, StationView] | None

    def settled(self, sources: Mapping[str, FlowSource]) -> NetworkSolution | None:
        """The network at `sources`, where it settles below saturation (else None)."""
        solution = solve_network(self.scenario, sources, memo=self.memo, start=self.start)
        return solution if solution.converged and not solution.saturated() else None


def needs_capping(scenario: Scenario, average: NetworkSolution, solution: NetworkSolution) -> bool:
    """Whether `solution` (a piece) saturates a service whose backlog is not carried over
    (`backlogs.service_carriable`; `average`: the network at the average rates), such as
    the callee of an overloaded entry service."""
    return any(
        station.kind == "service" and not service_carriable(scenario, average, station.name)
        for station in solution.saturated()
    )


def flatten(
    scenario: Scenario,
    average: NetworkSolution,
    pieces: Sequence[Piece],
    length: float,
    memo: SolveMemo,
    start: Mapping[StationId, StationView] | None,
) -> Flattened | None:
    """The `pieces` (of a measured period of `length` s) with their one overloaded entry
    service flat out (module docstring), each network solved from `start` sharing `memo`;
    None where the pieces saturate several entry services, or anything that capping the
    flows into the service does not relieve."""
    solver = Solver(scenario, memo, start)
    found = _flat_out(solver, average, pieces)
    if found is None:
        return None
    flat, flows, capped = found
    sent = departures(
        flat.capacity,
        [(sh * length, a) for (sh, _, _), a in zip(pieces, flat.arrivals, strict=True)],
    )
    for index, ((share, sources, solution), parts) in enumerate(zip(pieces, sent, strict=True)):
        if index in capped:
            flat.part(index, share, *capped[index])
            continue
        for fraction, rate in parts:
            if rate == flat.arrivals[index]:
                flat.part(index, fraction * share, sources, solution)
                continue
            drained = _sending(solver, flat, flows, sources, index)
            if drained is None:
                return None
            flat.part(index, fraction * share, *drained)
    return flat


def flatten_phases(
    scenario: Scenario,
    average: NetworkSolution,
    phases: Sequence[Piece],
    generator: np.ndarray,
    memo: SolveMemo,
) -> Flattened | None:
    """`flatten` over the phases of an MMPP (each with its stationary share; the phases
    change as `generator` says), each network solved from no waiting: a phase that
    overloads the service is flat out throughout, and in each other phase the service
    drains its backlog (sends its capacity) the time its fluid queue's buffer is not
    empty (`fluid_queue`: P(X > 0, phase i), Anick, Mitra & Sondhi 1982). None as for
    `flatten`, and where the service is overloaded on average, or a phase is exactly at
    its capacity."""
    solver = Solver(scenario, memo, None)
    found = _flat_out(solver, average, phases)
    if found is None:
        return None
    flat, flows, capped = found
    drifts = [arrival - flat.capacity for arrival in flat.arrivals]
    shares = [share for share, _, _ in phases]
    if math.fsum(s * d for s, d in zip(shares, drifts, strict=True)) >= 0.0 or not all(drifts):
        return None
    empty = fluid_queue(generator, drifts).empty
    for index, (share, sources, solution) in enumerate(phases):
        if index in capped:
            flat.part(index, share, *capped[index])
            continue
        draining = max(share - empty[index], 0.0)
        if draining > 0.0:
            drained = _sending(solver, flat, flows, sources, index)
            if drained is None:
                return None
            flat.part(index, draining, *drained)
        flat.part(index, share - draining, sources, solution)
    return flat


Capped = dict[int, tuple[Mapping[str, FlowSource], NetworkSolution]]
"""Per piece or phase that overloads the service, its flows' sources and network with the
service flat out."""


def _flat_out(
    solver: Solver, average: NetworkSolution, pieces: Sequence[Piece]
) -> tuple[Flattened, tuple[str, ...], Capped] | None:
    """The one overloaded entry service of `pieces`, its capacity and each piece's
    arrivals at it (`Flattened`, its `solutions` filled), the flows into it, and the
    pieces that overload it solved flat out (`_capped`); None where there is no such
    service or a piece is not relieved by capping its flows."""
    scenario = solver.scenario
    entries = {
        station.name
        for _, _, solution in pieces
        for station in solution.saturated()
        if station.kind == "service" and service_carriable(scenario, average, station.name)
    }
    if len(entries) != 1:
        return None
    (service,) = entries
    flows = entry_flows(scenario, service)
    if flows is None:
        return None
    capped: Capped = {}
    for index, (_, sources, solution) in enumerate(pieces):
        if solution.saturated():
            found = _capped(solver, service, flows, sources, solution)
            if found is None:
                return None
            capped[index] = found
    if not capped:
        return None
    capacity = capped[min(capped)][1].services[service].solution.arrival_rate
    if not 0.0 < capacity < math.inf:
        return None
    flat = Flattened(service, capacity)
    flat.arrivals = [s.services[service].solution.arrival_rate for _, _, s in pieces]
    flat.solutions = [
        (share, capped[index][1] if index in capped else solution)
        for index, (share, _, solution) in enumerate(pieces)
    ]
    return flat, flows, capped


def entry_flows(scenario: Scenario, service: str) -> tuple[str, ...] | None:
    """The flows whose body is one call to `service`; None where another flow reaches it
    (or none is such a flow)."""
    flows = tuple(flow for flow in scenario.workload if sole_call(scenario, flow) == service)
    for flow in scenario.workload:
        if flow not in flows and any(
            node.kind == "service" and node.name == service for node in reachable(scenario, [flow])
        ):
            return None
    return flows or None


def flat_out_rate(
    scenario: Scenario, sources: Mapping[str, FlowSource], service: str
) -> float | None:
    """Requests per second `service` serves flat out, its callees loaded by what it sends
    (not by what arrives): the rate of the flows into it (`entry_flows`) at which the first
    resource saturates, its own pool or a callee that holds its workers back
    (`capacity.saturating_factor`, to its 1%). None where other flows reach it, where it
    holds no worker through a call (its workers alone say it), or where nothing
    saturates."""
    flows = entry_flows(scenario, service)
    if flows is None or not scenario.services[service].blocking_calls:
        return None
    reached = reachable(scenario, flows)
    if not any(key.kind == "service" and key.name != service for key in reached):
        return None
    found = saturating_factor(scenario, lambda factor: scaled_sources(sources, flows, factor))
    if found is None:
        return None
    return found[0] * math.fsum(sources[flow].rate for flow in flows)


def scaled_sources(
    sources: Mapping[str, FlowSource], flows: Sequence[str], factor: float
) -> dict[str, FlowSource]:
    """`sources` with the rates of `flows` times `factor`."""
    scaled = dict(sources)
    for flow in flows:
        source = sources[flow]
        scaled[flow] = FlowSource(source.rate * factor, source.scv, source.flag)
    return scaled


def _capped(
    solver: Solver,
    service: str,
    flows: Sequence[str],
    sources: Mapping[str, FlowSource],
    solution: NetworkSolution,
) -> tuple[dict[str, FlowSource], NetworkSolution] | None:
    """The piece at `sources` (solved as `solution`, which saturates something) solved
    again with `flows` into `service` scaled to put the service's pool at a load ratio of
    `FLAT_OUT`, from the load at which the capacity search finds it saturates first; None
    where it is not the first to saturate, or no such solve settles below saturation."""
    if any(sources[flow].rate <= 0 for flow in flows):
        return None

    def scale(factor: float) -> Mapping[str, FlowSource]:
        return scaled_sources(sources, flows, factor)

    everyone = len(flows) == len(sources)
    found = saturating_factor(solver.scenario, scale, solver.memo, everyone)
    if found is None or found[1] is None or found[1].station != StationId("service", service):
        return None
    factor = found[0] * FLAT_OUT
    best: tuple[dict[str, FlowSource], NetworkSolution] | None = None
    for _ in range(ATTEMPTS):
        capped = scaled_sources(sources, flows, factor)
        settled = solver.settled(capped)
        if settled is None:
            factor *= 0.99
            continue
        best = capped, settled
        station = settled.services[service]
        ratio = station.solution.load_ratio(station.load.servers or 1)
        if abs(ratio - FLAT_OUT) <= AIM or not ratio > 0:
            break
        factor *= FLAT_OUT / ratio
    return best


def _sending(
    solver: Solver,
    flat: Flattened,
    flows: Sequence[str],
    sources: Mapping[str, FlowSource],
    index: int,
) -> tuple[dict[str, FlowSource], NetworkSolution] | None:
    """Piece `index` (at `sources`) solved with the service sending its capacity (it
    drains its backlog); None where nothing arrives at it then, or the piece does not
    settle."""
    arrival = flat.arrivals[index]
    if arrival <= 0:
        return None
    sending = scaled_sources(sources, flows, flat.capacity / arrival)
    settled = solver.settled(sending)
    return None if settled is None else (sending, settled)


def as_carried(part: Documents, own: Documents, service: str) -> Documents:
    """A part's documents as the carried backlog reads them: the service's own (its
    piece's or phase's at its own rates: the fluid adds the backlog to them), and each
    flow's times with the service's share in the part (solved flat out, 99.9% busy)
    replaced by its own's (None where it has none: overloaded), as where nothing else is
    overloaded (`backlogs.apply_backlogs`)."""
    flat = part.services[service].response_time.mean
    mine = own.services[service].response_time.mean
    flows = {}
    for name, flow in part.flows.items():
        visits = 0.0 if flow.visits is None else flow.visits.services.get(service, 0.0)
        if visits == 0.0 or flat is None:
            flows[name] = flow
            continue
        changed = flow.model_copy(deep=True)
        for time in (changed.response_time, changed.completion_time):
            if time.mean is not None:
                time.mean = None if mine is None else time.mean + visits * (mine - flat)
        flows[name] = changed
    return part._replace(flows=flows, services={**part.services, service: own.services[service]})


def over_parts(
    base: Documents, parts: Sequence[tuple[float, Documents]], flow_means: Mapping[str, str | None]
) -> None:
    """`quasi_static.over_regimes` over flat-out parts, keeping `base`'s flow arrival rates
    (the average rates': the parts say what reaches the stations, less by what the service
    still holds at the end)."""
    arriving = {name: flow.arrival_rate for name, flow in base.flows.items()}
    over_regimes(base, parts, flow_means)
    for name, rate in arriving.items():
        base.flows[name].arrival_rate = rate
