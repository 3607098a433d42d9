"""Time-varying rates, pointwise stationary: a flow whose rate follows a `profile` or a
`sinusoid` (a Poisson process of that rate) is predicted piece by piece.

The measured period is cut where a profile's rate changes, and a sinusoid's period into
`SINUSOID_PIECES` (each piece at the sinusoid's mean rate over it); each piece is solved as
a steady state of its own at its rates (Poisson arrivals) and the run's means are the
pieces' averages, weighted as the simulation measures them (`models.analysis.
quasi_static`: rates and requests present by time, times by completed requests). This is
the pointwise stationary approximation (Green, Kolesar & Svoboda, "The pointwise
stationary approximation for queues with nonstationary arrivals", Management Science
37(1), 1991): exact in the limit of pieces long against the stations' relaxation times,
and it leaves out the transients between pieces. Where a piece is unstable (its load
reaches a pool's servers: the backlog it builds carries over into the next) or there
would be more than `MOST_PIECES` pieces, the flows keep their average rates over the
period (a steady-state model cannot show the transient backlog) — but for a piece that
overloads consumer groups or entry services, whose backlog is carried into the next pieces
by a fluid model (`models.analysis.carry_over`, `models.analysis.backlogs`: where each
drains at the average rate, does not autoscale (not predicted), and a group's handler does
not retry, a service's requests hold no caller's thread; an entry service flat out passes
on its capacity to what it calls: `models.analysis.flat_out`); and for a piece that starts a
timeout storm, and those after it that the storm outlasts (`models.analysis.storms.
piece_storm`), each in the storm's regime. Traces keep their average rate too.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping

from models.analysis.backlogs import (
    apply_backlogs,
    carried,
    carry_service,
    overloaded,
    pool_capacity,
)
from models.analysis.carry_over import carry_over
from models.analysis.flat_out import Piece, as_carried, flatten, needs_capping, over_parts
from models.analysis.network import FlowSource, NetworkSolution, solve_network
from models.analysis.quasi_static import Documents, at_sources, documents_of, over_regimes
from models.analysis.report_flows import FlowInfo
from models.analysis.solve_memo import SolveMemo
from models.analysis.storms import piece_storm, storm_documents
from models.analysis.summary import POISSON
from models.analysis.tandem import carry_through
from models.arrivals import SinusoidArrivals
from models.schema import ProfileArrivals, Scenario

SINUSOID_PIECES = 24
"""Pieces per period of a sinusoid (an hour each of a day)."""
MOST_PIECES = 48
"""At most this many pieces: each is a network solved."""

CARRIED_METHOD = "its backlog carried between the rate's pieces (fluid model)"
"""What the method of a group whose backlog is carried over adds (`carry_over`)."""

PIECE_FLOW_MEANS: Mapping[str, str | None] = {
    "arrival_rate": None,
    "throughput": None,
    "success_rate": "arrival_rate",
    "response_time.mean": "throughput",
    "completion_time.mean": "throughput",
}
"""A flow's means over the pieces: rates by time, success by arrivals, times by
successful requests."""


def average_rate(arrivals: ProfileArrivals, start: float, end: float) -> float:
    """Time-average of a piecewise-constant rate over [start, end]."""
    total = 0.0
    changes = arrivals.profile
    for index, change in enumerate(changes):
        until = changes[index + 1].at if index + 1 < len(changes) else math.inf
        overlap = min(until, end) - max(change.at, start)
        if overlap > 0:
            total += change.rate * overlap
    return total / (end - start)


def varying_flows(scenario: Scenario) -> dict[str, ProfileArrivals | SinusoidArrivals]:
    """The flows predicted piece by piece, by name: a `profile` or a `sinusoid`."""
    return {
        name: flow.arrivals
        for name, flow in scenario.workload.items()
        if isinstance(flow.arrivals, ProfileArrivals | SinusoidArrivals)
    }


def rate_pieces(scenario: Scenario) -> list[tuple[float, dict[str, float]]] | None:
    """The measured period's pieces (module docstring): each one's share of the period and
    the rate of every profile or sinusoid flow in it; None when no flow has one, or there
    would be more than `MOST_PIECES`."""
    settings = scenario.simulation
    start, end = settings.warmup, settings.warmup + settings.duration
    if not varying_flows(scenario) or end <= start:
        return None
    pieces = cut_by_rates(scenario, start, end, MOST_PIECES)
    if pieces is None:
        return None
    return [((high - low) / (end - start), rates) for low, high, rates in pieces]


def cut_by_rates(
    scenario: Scenario,
    start: float,
    end: float,
    most: int,
    cuts: Iterable[float] = (),
) -> list[tuple[float, float, dict[str, float]]] | None:
    """[`start`, `end`] cut where a profile's rate changes, a sinusoid into
    `SINUSOID_PIECES` pieces a period from `start`, and at `cuts`: each piece's bounds and
    the rate of every profile or sinusoid flow in it (its mean over the piece); one piece
    without rates when no flow has one; None beyond `most` pieces."""
    varying = varying_flows(scenario)
    edges_at = {start, end, *(cut for cut in cuts if start < cut < end)}
    for arrivals in varying.values():
        if isinstance(arrivals, ProfileArrivals):
            edges_at.update(change.at for change in arrivals.profile if start < change.at < end)
        else:
            step = arrivals.sinusoid.period / SINUSOID_PIECES
            count = math.ceil((end - start) / step)
            if count > most:
                return None
            edges_at.update(start + k * step for k in range(1, count) if start + k * step < end)
    edges = sorted(edges_at)
    if len(edges) - 1 > most:
        return None
    pieces = []
    for low, high in itertools.pairwise(edges):
        rates = {}
        for name, arrivals in varying.items():
            if isinstance(arrivals, ProfileArrivals):
                rates[name] = average_rate(arrivals, low, high)
            else:
                rates[name] = arrivals.sinusoid.integral(low, high) / (high - low)
        pieces.append((low, high, rates))
    return pieces


def pointwise(
    scenario: Scenario,
    sources: Mapping[str, FlowSource],
    infos: Mapping[str, FlowInfo],
    average: tuple[NetworkSolution, SolveMemo],
    base: Documents,
    failing: bool,
) -> int | None:
    """Replace the means of `base` (the network at the flows' average rates, solved as
    `average` with what its solve remembers) by their pointwise stationary averages over
    the pieces (module docstring), in place; the number of pieces, or None (nothing
    changed) where the scenario has no such flow, too many pieces, or an unstable piece.
    Each piece's solve starts from the average's stations and shares what they remember
    (what a piece's rates do not reach is not solved again)."""
    pieces = rate_pieces(scenario)
    if pieces is None:
        return None
    solved, remembered = average
    memo = remembered.shared()
    regimes = []
    solutions = []
    solved_pieces: list[Piece] = []
    ongoing: str | None = None  # (the service of a timeout storm in the piece before)
    length = scenario.simulation.duration
    for share, rates in pieces:
        piece = {
            name: FlowSource(rates[name], 1.0, POISSON) if name in rates else source
            for name, source in sources.items()
        }
        solution = solve_network(scenario, piece, memo=memo, start=solved.views)
        own = at_sources(infos, piece)
        storm = piece_storm(scenario, solution, piece, share * length, ongoing)
        if storm is not None:
            regimes.append((share, storm_documents(scenario, storm, own, failing)))
            ongoing = storm.name
            continue
        ongoing = None
        if not solution.converged:
            return None
        solutions.append((share, solution))
        solved_pieces.append((share, piece, solution))
        regimes.append((share, documents_of(scenario, solution, own, failing)))
    if any(overloaded(solutions)) and len(solutions) < len(pieces):
        return None  # (a storm and a backlog: not carried over together)
    if any(needs_capping(scenario, solved, solution) for _, solution in solutions):
        return _flat_out(scenario, infos, (solved, memo), solved_pieces, (base, regimes), failing)
    found = carried(
        scenario,
        solved,
        solutions,
        lambda key: carry_over(key, solutions, length),
        lambda name: carry_service(name, solutions, length),
        lambda key, name: carry_through(
            key, name, solutions, length, pool_capacity(solutions, name)
        ),
    )
    if found is None:
        return None
    over_regimes(base, regimes, PIECE_FLOW_MEANS)
    apply_backlogs(base, *found, regimes, CARRIED_METHOD)
    return len(pieces)


def _flat_out(
    scenario: Scenario,
    infos: Mapping[str, FlowInfo],
    average: tuple[NetworkSolution, SolveMemo],
    pieces: list[Piece],
    documents: tuple[Documents, list[tuple[float, Documents]]],
    failing: bool,
) -> int | None:
    """`pointwise` where a piece overloads an entry service and so, at its own rates,
    what the service calls (`models.analysis.flat_out`): the pieces with the service flat
    out, its backlog carried over; None (nothing changed) where that does not apply.
    `documents`: the run's (`base`, changed in place) and each piece's at its own rates."""
    solved, memo = average
    base, own = documents
    length = scenario.simulation.duration
    flat = flatten(scenario, solved, pieces, length, memo, solved.views)
    if flat is None:
        return None
    found = carried(
        scenario,
        solved,
        flat.solutions,
        lambda key: None,  # (a group overloaded too: `flatten` says None)
        lambda name: carry_service(name, flat.solutions, length, flat.capacity, flat.arrivals),
        overloads=(set(), {flat.service}),
    )
    if found is None:
        return None
    regimes = [
        (
            share,
            as_carried(
                documents_of(scenario, solution, at_sources(infos, sources), failing),
                own[owner][1],
                flat.service,
            ),
        )
        for owner, (share, sources, solution) in zip(flat.owners, flat.parts, strict=True)
    ]
    over_parts(base, regimes, PIECE_FLOW_MEANS)
    apply_backlogs(base, *found, regimes, CARRIED_METHOD)
    return len(pieces)
