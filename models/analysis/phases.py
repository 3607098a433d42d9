"""Bursty (MMPP) arrivals phase by phase: a flow whose arrivals are a Markov-modulated
Poisson process is predicted in each of its phases' steady states, blended with the
Poisson stream at its mean rate by how long the phases last against the queues'
relaxation.

Two limits bracket an MMPP-fed queue. Where the phases last long against the relaxation
time of the queues they feed, each phase settles into its own steady state and the means
are the phases' averages (the pointwise stationary approximation, as for rate profiles:
`models.analysis.pointwise`; Green, Kolesar & Svoboda, Management Science 37(1), 1991),
weighted as the simulation measures them (`models.analysis.quasi_static`). Where the phases
switch fast, the stream is close to Poisson at its mean rate sum(pi_i r_i) (the
network's base solve). In between, the means lie between the two. The weight theta of the
phase-by-phase means is read off an MMPP/M/1 queue solved exactly
(`models.theory.mmpp`), the proxy of the station where the two limits differ most (the
most requests waiting in its queue, or in a consumer group's lag): one server as fast as
that station's pool at full utilization (its throughput over its utilization; one consumer
of a log topic), fed in phase i at that station's utilization in phase i times that speed,
switching as the flow does; theta = (W - W_mean) / (W_phases -
W_mean) of its response times. The proxy is exact for an MMPP/M/1 station (theta
reproduces its exact mean) and, for a pool of c servers, takes the pool's relaxation to be
that of one server c times as fast (heavy-traffic; its error is measured in
docs/analysis.md §14). theta tends to 1 for phases much longer than the relaxation time
(an M/M/1 at 70% of its load in the busy phase: 0.95 for phases of 9 relaxation times,
0.68 for one) and to 0 for phases much shorter.

A phase that overloads consumer groups, or entry services (not both), leaves a backlog
that drains in the phases after it: each pool's backlog is a Markov-modulated Brownian
queue (`fluid_pools.phases`; `carry_over.markov_carry_over`,
`backlogs.markov_carry_service`), where it drains at the mean rate, does not autoscale (not
predicted), a group's handler does not retry and a service's requests hold no caller's
thread (`backlogs.carried`). An entry service flat out passes on its capacity to what it
calls, which the phase's own rates may overload (`flat_out.flatten_phases`).

Several `mmpp` flows are taken together: their phases change independently, so together
they are one MMPP on the product of their phases (the superposition: generator the
Kronecker sum of theirs, rate in a joint phase the sum of the flows'; Fischer &
Meier-Hellstern 1993), each joint phase solved with every bursty flow at its rate there
and the proxy fed as the joint phases say. Applied in a scenario without faults, closed
flows or other time-varying flows (`profile`, `sinusoid`, `trace`: their pieces would
multiply), with at most `MOST_PHASES` joint phases; where a phase saturates a service, or a
group not carried over, the flows keep their mean rates as Poisson. The capacity
(`max_throughput`, the bottleneck) is measured against the mean rates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from models.analysis.backlogs import (
    apply_backlogs,
    carried,
    markov_carry_service,
    markov_service_pool,
)
from models.analysis.carry_over import GroupKey, markov_carry_over, markov_consumers
from models.analysis.flat_out import (
    Flattened,
    Piece,
    as_carried,
    flatten_phases,
    needs_capping,
    over_parts,
)
from models.analysis.fluid_pools import Pool
from models.analysis.network import FlowSource, NetworkSolution, solve_network
from models.analysis.pointwise import PIECE_FLOW_MEANS
from models.analysis.prediction import PredictedGroup, PredictedService
from models.analysis.quasi_static import Documents, at_sources, documents_of, over_regimes
from models.analysis.report_flows import FlowInfo
from models.analysis.solve_memo import SolveMemo
from models.analysis.summary import POISSON
from models.arrivals import MmppArrivals, SinusoidArrivals, TraceArrivals
from models.schema import PoissonArrivals, ProfileArrivals, Scenario
from models.theory.mmpp import kronecker_sum, modulated_m1, phase_generator

FLUID_METHOD = "the backlog that bursts leave: a Markov-modulated Brownian queue"
"""What the method of a group that bursts overload adds (`carry_over.markov_carry_over`)."""
MOST_PHASES = 16
"""At most this many (joint) phases: each is a network solved."""
TIME_VARYING = (ProfileArrivals, SinusoidArrivals, TraceArrivals)
"""Arrivals whose pieces would multiply the phases (not predicted phase by phase)."""


@dataclass(frozen=True)
class Phased:
    """What the phase-by-phase prediction did."""

    flows: tuple[str, ...]
    """The bursty flows, in the scenario's order."""
    phases: int
    weight: float
    """theta: the phase-by-phase means' share of the blend (module docstring)."""
    proxy: str | None
    """The station whose MMPP/M/1 proxy gave theta (None: the two limits agree)."""
    carried: tuple[str, ...] = ()
    """The stations a phase overloads (consumer groups, services), their backlog a
    Markov-modulated Brownian queue."""


@dataclass(frozen=True, eq=False)
class Bursts:
    """The bursty flows' phases together: their superposition, an MMPP on the product of
    their phases (each flow's phases change independently of the others':
    `models.theory.mmpp.kronecker_sum`)."""

    flows: tuple[str, ...]
    rates: tuple[tuple[float, ...], ...]
    """Per joint phase, each flow's rate (in the order of `flows`)."""
    shares: tuple[float, ...]
    """Per joint phase, its stationary share of the time: the product of the flows'."""
    generator: np.ndarray
    """How the joint phases change (the Kronecker sum of the flows' cycles)."""

    @staticmethod
    def of(flows: Mapping[str, FlowPhases]) -> Bursts:
        """The joint phases of `flows` (`flow_phases`): joint phase (i, j, ...) at index
        i m2 m3 ... + j m3 ... + ..., as `kronecker_sum` orders them."""
        joint = list(itertools.product(*(range(len(f.rates)) for f in flows.values())))
        rates = tuple(
            tuple(f.rates[i] for f, i in zip(flows.values(), phase, strict=True)) for phase in joint
        )
        shares = tuple(
            math.prod(f.shares[i] for f, i in zip(flows.values(), phase, strict=True))
            for phase in joint
        )
        generator = kronecker_sum([f.generator for f in flows.values()])
        return Bursts(tuple(flows), rates, shares, generator)


class FlowPhases(NamedTuple):
    """One flow's arrivals as phases: their rates, stationary shares and generator."""

    rates: Sequence[float]
    shares: Sequence[float]
    generator: np.ndarray


def flow_phases(arrivals: object) -> FlowPhases | None:
    """An `mmpp` flow's phases (a cycle), or a `poisson` flow's one phase; None for other
    arrivals."""
    if isinstance(arrivals, MmppArrivals):
        spec = arrivals.mmpp
        cycle = phase_generator(np.asarray(spec.switch_rates, dtype=float))
        return FlowPhases(spec.rates, spec.stationary, cycle)
    if isinstance(arrivals, PoissonArrivals):
        return FlowPhases([arrivals.poisson], [1.0], np.zeros((1, 1)))
    return None


def bursty_flows(scenario: Scenario) -> Bursts | None:
    """The flows predicted phase by phase together (module docstring), if the scenario has
    any."""
    if scenario.faults:
        return None
    found: dict[str, FlowPhases] = {}
    for name, flow in scenario.workload.items():
        arrivals = flow.arrivals
        if flow.clients is not None or isinstance(arrivals, TIME_VARYING):
            return None
        phases = flow_phases(arrivals) if isinstance(arrivals, MmppArrivals) else None
        if phases is not None:
            found[name] = phases
    if not found or math.prod(len(f.rates) for f in found.values()) > MOST_PHASES:
        return None
    return Bursts.of(found)


def phase_by_phase(
    scenario: Scenario,
    sources: Mapping[str, FlowSource],
    infos: Mapping[str, FlowInfo],
    average: tuple[NetworkSolution, SolveMemo],
    base: Documents,
    failing: bool,
) -> Phased | None:
    """Replace the means of `base` (the network with the bursty flows as Poisson at their
    mean rates, solved as `average` with what its solve remembers) by their blend with the
    joint phases' (module docstring), in place; None (nothing changed) where the scenario
    has no such flows, or a phase saturates a service or a group not carried over. Each
    phase's solve shares what the average's remembers, but starts from no waiting anywhere:
    from the average's stations, a phase lighter than the mean can settle into a cycle of
    two iterates (the 12-replica `scenarios/black_friday.yaml`: waits of a microsecond,
    alternating in their seventh digit), which from below it does not."""
    bursts = bursty_flows(scenario)
    if bursts is None or any(name not in sources for name in bursts.flows):
        return None
    solved, remembered = average
    memo = remembered.shared()
    phases: list[tuple[float, Documents]] = []
    solutions: list[tuple[float, NetworkSolution]] = []
    solved_phases: list[Piece] = []
    for share, rates in zip(bursts.shares, bursts.rates, strict=True):
        at_rates = {
            name: FlowSource(rate, 1.0, POISSON)
            for name, rate in zip(bursts.flows, rates, strict=True)
        }
        piece = {**sources, **at_rates}
        solution = solve_network(scenario, piece, memo=memo)
        if not solution.converged:
            return None
        own = at_sources(infos, piece)
        phases.append((share, documents_of(scenario, solution, own, failing)))
        solutions.append((share, solution))
        solved_phases.append((share, piece, solution))
    flat: Flattened | None = None
    if any(needs_capping(scenario, solved, solution) for _, solution in solutions):
        flat = flatten_phases(scenario, solved, solved_phases, bursts.generator, memo)
        if flat is None:
            return None
        phases = _flat_documents(scenario, infos, flat, phases, failing)
    carrying = solutions if flat is None else flat.solutions
    pools: dict[GroupKey | str, list[Pool]] = {}  # (each carried station's, by phase)

    def group_backlog(key: GroupKey) -> PredictedGroup | None:
        consumers = markov_consumers(key, carrying, bursts.generator)
        if consumers is not None:
            pools[key] = consumers
        return markov_carry_over(key, carrying, consumers)

    def service_backlog(name: str) -> PredictedService | None:
        if flat is not None and name == flat.service:
            generator, capacity, arrivals = bursts.generator, flat.capacity, flat.arrivals
            pool = markov_service_pool(name, carrying, generator, capacity, arrivals)
        else:
            pool = markov_service_pool(name, carrying, bursts.generator)
        if pool is not None:
            pools[name] = [pool]
        return markov_carry_service(name, carrying, pool)

    overloads = None if flat is None else (set[GroupKey](), {flat.service})
    found_backlogs = carried(
        scenario, solved, carrying, group_backlog, service_backlog, overloads=overloads
    )
    if found_backlogs is None:
        return None
    proxy = _proxy(scenario, base, phases)
    weight = 1.0 if proxy is None else _weight(bursts, *proxy[1:])
    blend = over_regimes if flat is None else over_parts
    blend(base, [(weight * share, docs) for share, docs in phases], PIECE_FLOW_MEANS)
    met = _backlog_met(bursts, sources, solutions, pools)  # (the carried stations' pools)
    apply_backlogs(
        base, *found_backlogs, phases, FLUID_METHOD, lambda flow, at: met.get((flow, at), 1.0)
    )
    proxy_name = None if proxy is None else proxy[0]
    backlogs = [f"consumer group '{t}/{g}'" for t, g in found_backlogs[0]]
    backlogs += [f"service '{service}'" for service in found_backlogs[1]]
    return Phased(bursts.flows, len(phases), weight, proxy_name, tuple(backlogs))


def _flat_documents(
    scenario: Scenario,
    infos: Mapping[str, FlowInfo],
    flat: Flattened,
    own: Sequence[tuple[float, Documents]],
    failing: bool,
) -> list[tuple[float, Documents]]:
    """Each phase's documents with its entry service flat out (`flat_out.flatten_phases`):
    its parts' (flat out, draining, or its own steady state) averaged by their shares, the
    service as the phase's `own` documents say (`flat_out.as_carried`)."""
    documents: list[tuple[float, Documents]] = []
    for index, (share, _) in enumerate(flat.solutions):
        parts = [
            (
                part_share / share,
                as_carried(
                    documents_of(scenario, solution, at_sources(infos, src), failing),
                    own[index][1],
                    flat.service,
                ),
            )
            for owner, (part_share, src, solution) in zip(flat.owners, flat.parts, strict=True)
            if owner == index
        ]
        (_, first), rest = parts[-1], parts[:-1]
        over_regimes(first, rest, PIECE_FLOW_MEANS)
        documents.append((share, first))
    return documents


def _backlog_met(
    bursts: Bursts,
    sources: Mapping[str, FlowSource],
    solutions: list[tuple[float, NetworkSolution]],
    pools: Mapping[GroupKey | str, list[Pool]],
) -> dict[tuple[str, GroupKey | str], float]:
    """Per flow and carried station (its `pools`: a group's consumers, a service's pool):
    the backlog the flow's arrivals meet there over the one all the station's arrivals
    meet. An arrival in phase i meets the backlog's mean in that phase, E[X; i] / pi_i
    (`fluid_pools.Pool.by_phase`); a flow sends in phase i at its rate there, so its
    arrivals meet sum_i r_i E[X; i] / sum_i pi_i r_i on average (a flow whose bursts make
    the backlog meets more of it). Exact for an MMPP/M/1 given its queue by phase; where
    that is not known (a pool without noise), absent: flows alike."""
    met: dict[tuple[str, GroupKey | str], float] = {}
    for station, found in pools.items():
        if any(not pool.by_phase for pool in found):
            continue
        by_phase = [math.fsum(values) for values in zip(*(p.by_phase for p in found), strict=True)]
        everyone = _meets(bursts.shares, _arrivals(station, solutions), by_phase)
        for flow, source in sources.items():
            own = [source.rate] * len(by_phase)
            if flow in bursts.flows:
                own = [rates[bursts.flows.index(flow)] for rates in bursts.rates]
            meets = _meets(bursts.shares, own, by_phase)
            if everyone > 0 and meets >= 0:
                met[(flow, station)] = meets / everyone
    return met


def _arrivals(
    station: GroupKey | str, solutions: list[tuple[float, NetworkSolution]]
) -> list[float]:
    """A carried station's arrivals per second in each phase (a group's consumers', a
    service's pool's)."""
    if isinstance(station, str):
        return [s.services[station].solution.arrival_rate for _, s in solutions]
    return [math.fsum(c.arrival_rate for _, c in s.groups[station].consumers) for _, s in solutions]


def _meets(shares: Sequence[float], rates: Sequence[float], by_phase: Sequence[float]) -> float:
    """The backlog that arrivals at `rates` (per phase) meet on average (`_backlog_met`);
    -1 where none arrive."""
    arriving = math.fsum(p * r for p, r in zip(shares, rates, strict=True))
    if arriving <= 0:
        return -1.0
    return math.fsum(r * x for r, x in zip(rates, by_phase, strict=True)) / arriving


Row = tuple[str, float | None, float | None, float | None, list[float | None], list[float | None]]
"""One station as `_proxy` reads it: its name; the mean rate's requests held, throughput
(per pool) and utilization; each phase's requests held and utilization."""


def _rows(scenario: Scenario, base: Documents, phases: list[tuple[float, Documents]]) -> list[Row]:
    """Every service (requests waiting in its queue) and consumer group (its lag) as a
    `Row`. The pool of a log topic's group is one consumer (each serves its own
    partitions), a queue topic's all of them."""
    rows: list[Row] = []
    for name, service in base.services.items():
        parts = [docs.services[name] for _, docs in phases]
        rows.append(
            (
                f"service '{name}'",
                service.queue_length.mean,
                service.throughput,
                service.utilization,
                [part.queue_length.mean for part in parts],
                [part.utilization for part in parts],
            )
        )
    for topic_name, topic in base.topics.items():
        log = scenario.topics[topic_name].type == "log"
        for group_name, group in topic.groups.items():
            groups = [docs.topics[topic_name].groups[group_name] for _, docs in phases]
            pools = group.consumers if log and group.consumers else 1
            rows.append(
                (
                    f"consumer group '{topic_name}/{group_name}'",
                    group.lag.mean,
                    None if group.throughput is None else group.throughput / pools,
                    group.utilization,
                    [part.lag.mean for part in groups],
                    [part.utilization for part in groups],
                )
            )
    return rows


def _proxy(
    scenario: Scenario, base: Documents, phases: list[tuple[float, Documents]]
) -> tuple[str, float, list[float]] | None:
    """The station where the phases' average holds the most requests more than the mean
    rate's (`_rows`), as (its name, its pool's speed at full utilization, its utilization
    in each phase); None where no station holds more."""
    shares = [share for share, _ in phases]
    best: tuple[float, tuple[str, float, list[float]]] | None = None
    for label, held, throughput, utilization, phase_held, phase_busy in _rows(
        scenario, base, phases
    ):
        known_held = [h for h in phase_held if h is not None]
        known_busy = [u for u in phase_busy if u is not None]
        if held is None or throughput is None or not utilization or utilization <= 0:
            continue
        if len(known_held) < len(phases) or len(known_busy) < len(phases):
            continue
        more = math.fsum(s * h for s, h in zip(shares, known_held, strict=True)) - held
        if more > 0 and (best is None or more > best[0]):
            best = (more, (label, throughput / utilization, known_busy))
    return None if best is None else best[1]


def _weight(bursts: Bursts, speed: float, utilizations: list[float]) -> float:
    """theta of the module docstring from the proxy MMPP/M/1 queue: one server of rate
    `speed`, fed in joint phase i at utilizations[i] x speed."""
    rates = [u * speed for u in utilizations]
    shares = bursts.shares
    mean_rate = math.fsum(p * r for p, r in zip(shares, rates, strict=True))
    if not (0 < mean_rate < speed and max(rates) < speed):
        return 1.0
    poisson = 1.0 / (speed - mean_rate)  # M/M/1 response at the mean rate
    phased = math.fsum(p * r / (speed - r) for p, r in zip(shares, rates, strict=True))
    phased /= mean_rate  # the phases' responses, weighted by their arrivals
    exact = modulated_m1(rates, bursts.generator, speed).mean_response_time
    if not phased - poisson > 1e-12 * phased:
        return 1.0
    return min(max((exact - poisson) / (phased - poisson), 0.0), 1.0)


def phases_warning(name: str, rate: float, phased: Phased | None) -> str:
    """What the prediction makes of a bursty flow: Poisson at its mean rate, or (`phased`)
    its phases blended with it."""
    if phased is None:
        return (
            f"flow '{name}' has bursty (MMPP) arrivals: predicted as Poisson at their exact "
            f"mean rate {rate:.4g}/s, an approximation (bursts make queues longer)"
        )
    against = "" if phased.proxy is None else f", from an MMPP/M/1 proxy of {phased.proxy}"
    carried = ", ".join(phased.carried)
    backlog = (
        f"; the backlog that bursts leave at {carried} is a Markov-modulated Brownian queue"
        if carried
        else ""
    )
    others = ", ".join(f"'{flow}'" for flow in phased.flows if flow != name)
    joint = f"joint phases with the bursts of {others}" if others else "phases"
    return (
        f"flow '{name}' has bursty (MMPP) arrivals: predicted phase by phase ({phased.phases} "
        f"{joint}, each a steady state at its own rate) blended with Poisson at their mean "
        f"rate {rate:.4g}/s by how long the phases last against the queues' relaxation "
        f"(the phases' weight {phased.weight:.3f}{against}){backlog}, an approximation; its "
        f"capacity against the mean rate"
    )
