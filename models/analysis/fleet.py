"""Autoscaled services (HPA), predicted at the replicas their rule runs.

A service scaled on utilization asks for desired = ceil(busy workers / (workers per
replica x target)) within [min, max] (models/autoscale.py). Its busy workers are its
offered load, arrival rate x holding time, which does not depend on how many replicas
share it: so under a steady load the rule settles at that count whatever it started from
(the HPA's fixed point). `settled_counts` finds it on the whole network: solve with the
current counts, let every rule decide (a service without a steady state at its count is
seen fully busy, and asks for ceil(count / target), as the HPA does), and solve again
until no count moves (a callee's count can change its callers' holding times). A rule on
`queue_length` or `in_system` asks for ceil(mean requests waiting (and in service) /
target), which falls as the count rises (the queue shortens): it is predicted only where
it holds its count (`_holds`: one replica more or fewer asks for it again), else it
swings as the simulation's noise drives it.

The load is cut into pieces (`load_pieces`): one for a steady load; under a rate profile
or a sinusoid, the pieces of `models.analysis.pointwise` over the whole run, warm-up
included, each a steady state at its own rates with its own settled counts and busy
workers. The run is then replayed (`models.analysis.hpa`): from the starting counts at
time 0, the decisions every `interval` on the busy workers (or lengths) of the interval,
the start-up of new replicas, the backlog when the load outruns the replicas (a saturated
start, a spike) and the overshoot while it drains, the scale-down once the stabilization
window has passed. The measured period's means are the averages over its stretches of
constant rates and fleet, each that fleet's steady state at those rates, weighted as the
simulation measures them (`models.analysis.quasi_static`: the pointwise stationary
approximation); where a backlog piles up or drains, the piece's settled steady state with
the fluid backlog added (`models.analysis.fleet_report`). Each autoscaled service reports
its `replicas` {mean, max, final} and `replica_seconds`, as the simulation does.
`max_throughput`, `headroom` and the `bottleneck` are those of the fleet at every rule's
`max`: as the load grows each rule scales its service up to its `max`.

It applies to rules of a finite pool (on the lengths, with blocking calls), with every
flow steady (Poisson, constant, renewal or closed) or following a rate profile or a
sinusoid, no faults, and no other station overloaded in a piece. Consumer groups scaled
on lag (they settle only next to saturation), bursts (MMPP: their phases are random, not
a timeline to replay), traces and fault windows keep the starting counts, with a warning
(`models.analysis.autoscaling`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from models.analysis import fleet_report as report
from models.analysis.fleet_rules import (
    asks,
    busy_workers,
    holds,
    with_fleet,
    workers_per_replica,
)
from models.analysis.hpa import Lengths, Stretch, replay
from models.analysis.pointwise import PIECE_FLOW_MEANS, cut_by_rates
from models.analysis.prediction import Prediction
from models.analysis.quasi_static import Documents, over_regimes
from models.arrivals import SinusoidArrivals
from models.autoscale import ServiceAutoscale
from models.schema import (
    ConstantArrivals,
    InterarrivalArrivals,
    PoissonArrivals,
    ProfileArrivals,
    Scenario,
)

Solve = Callable[[Scenario, bool], Prediction]
"""The analysis of a scenario without autoscaling (`capacity`: with the capacity search)."""
FlatOut = Callable[[Scenario, str], float | None]
"""Requests per second a service of a scenario without autoscaling serves flat out, its
callees' limits included (None: not known)."""

MOST_ROUNDS = 8
"""Rounds of `settled_counts` at most (each a network solved; two or three settle it)."""
MOST_PIECES = 96
"""Pieces of the load over the whole run at most (each solved at least once)."""

Rates = tuple[tuple[str, float], ...]
"""The rates of the time-varying flows in a piece, by flow (empty: a steady load)."""


@dataclass(frozen=True)
class LoadPiece:
    """A stretch of the run with constant rates."""

    start: float
    end: float
    rates: Rates


def predicted_rules(scenario: Scenario) -> dict[str, ServiceAutoscale]:
    """The autoscaled services predicted at the replicas their rule runs (module
    docstring): rules of a finite pool, on utilization, or on the lengths where its calls
    block (its requests present are then its busy workers and its queue), under a load that
    is steady or follows a profile or a sinusoid, without faults; {} otherwise."""
    rules = {
        name: spec.autoscale
        for name, spec in scenario.services.items()
        if spec.autoscale is not None
        and spec.workers != "unlimited"
        and (spec.autoscale.metric == "utilization" or spec.blocking_calls)
    }
    if not rules or scenario.faults:
        return {}
    known = (
        PoissonArrivals,
        ConstantArrivals,
        InterarrivalArrivals,
        ProfileArrivals,
        SinusoidArrivals,
    )
    for flow in scenario.workload.values():
        if flow.clients is None and not isinstance(flow.arrivals, known):
            return {}
    return rules


def load_pieces(scenario: Scenario) -> list[LoadPiece] | None:
    """The whole run [0, warm-up + duration] cut into `pointwise.cut_by_rates`'s pieces
    and at the end of the warm-up; one piece for a steady load (two with a warm-up); None
    beyond `MOST_PIECES`."""
    settings = scenario.simulation
    end = settings.warmup + settings.duration
    pieces = cut_by_rates(scenario, 0.0, end, MOST_PIECES, (settings.warmup,))
    if pieces is None:
        return None
    return [LoadPiece(low, high, tuple(sorted(rates.items()))) for low, high, rates in pieces]


def with_rates(scenario: Scenario, rates: Rates) -> Scenario:
    """`scenario` with the flows of `rates` Poisson at those rates (a piece of the load)."""
    if not rates:
        return scenario
    workload = dict(scenario.workload)
    for name, rate in rates:
        arrivals = PoissonArrivals.model_construct(poisson=rate)
        workload[name] = workload[name].model_copy(update={"arrivals": arrivals})
    return scenario.model_copy(update={"workload": workload})


def settled_counts(
    fleets: Fleets, rates: Rates, rules: Mapping[str, ServiceAutoscale]
) -> tuple[dict[str, int], Prediction]:
    """The counts the rules settle at under the scenario's (steady) load (module
    docstring), and the prediction at them; where the rounds do not settle (at most
    `MOST_ROUNDS`), the last counts, with a warning (a rule on the lengths can swing
    between counts: `_holds` tells)."""
    scenario = fleets.scenario
    counts = {name: scenario.services[name].replicas for name in rules}
    prediction = fleets.at(rates, counts)
    for _ in range(MOST_ROUNDS):
        asked = {
            name: asks(
                rule, prediction.services[name], counts[name], workers_per_replica(scenario, name)
            )
            for name, rule in rules.items()
        }
        if asked == counts:
            return counts, prediction
        counts = asked
        prediction = fleets.at(rates, counts)
    prediction.warnings.append(
        f"the autoscaled services' counts did not settle in {MOST_ROUNDS} rounds (each rule "
        f"asking again at the counts the others asked for): predicted at {counts}"
    )
    return counts, prediction


@dataclass
class Fleets:
    """The scenario solved at pieces' rates with given fleets (without the capacity search),
    each (rates, fleet) once: the rules' settling, whether a rule on the lengths holds, the
    queues the replay observes and the means of the stretches all ask for the same ones."""

    scenario: Scenario
    solve: Solve
    known: dict[tuple[Rates, tuple[tuple[str, int], ...]], Prediction] = field(default_factory=dict)

    def at(self, rates: Rates, counts: Mapping[str, int]) -> Prediction:
        """The prediction at `rates` with the services of `counts` at those replicas."""
        key = (rates, tuple(sorted(counts.items())))
        if key not in self.known:
            fleet = with_fleet(with_rates(self.scenario, rates), counts)
            self.known[key] = self.solve(fleet, False)
        return self.known[key]


@dataclass(frozen=True)
class _Settled:
    """A piece's rates at the counts its rules settle at: the counts, the prediction, and
    each autoscaled service's busy workers (None: saturated even at its `max`)."""

    counts: dict[str, int]
    prediction: Prediction
    busy: dict[str, float | None]


def _settle_pieces(
    fleets: Fleets, rules: Mapping[str, ServiceAutoscale], pieces: list[LoadPiece]
) -> dict[Rates, _Settled] | None:
    """Each piece's rates settled (`settled_counts`); None where a station that does not
    autoscale has no steady state in some piece (its backlog is not replayed), or where a
    rule on the lengths does not hold its count (`fleet_rules.holds`)."""
    scenario = fleets.scenario
    found: dict[Rates, _Settled] = {}
    for piece in pieces:
        if piece.rates in found:
            continue
        counts, prediction = settled_counts(fleets, piece.rates, rules)
        lengths = [name for name, rule in rules.items() if rule.metric != "utilization"]

        def at(fleet: Mapping[str, int], rates: Rates = piece.rates) -> Prediction:
            return fleets.at(rates, fleet)

        if not all(holds(scenario, rules[name], name, counts, prediction, at) for name in lengths):
            return None
        overloaded = [
            name
            for name, service in prediction.services.items()
            if not service.stable and name not in rules
        ]
        overloaded += [
            group
            for topic in prediction.topics.values()
            for group, document in topic.groups.items()
            if not document.stable
        ]
        if overloaded:
            return None
        busy = {
            name: busy_workers(
                prediction.services[name], counts[name], workers_per_replica(scenario, name)
            )
            for name in rules
        }
        found[piece.rates] = _Settled(counts, prediction, busy)
    return found


def timelines(
    scenario: Scenario,
    rules: Mapping[str, ServiceAutoscale],
    pieces: list[LoadPiece],
    settled: Mapping[Rates, _Settled],
    flat_out: FlatOut,
    fleets: Fleets,
) -> dict[str, list[Stretch]]:
    """Each autoscaled service's stretches over the run, offered in each piece its busy
    workers at that piece's settled counts (saturated: twice what its `max` can serve),
    serving flat out what `flat_out` says at the fleet of the time (`_serves`), a rule on
    the lengths seeing the queue of the fleet of the time (`_lengths`)."""
    settings = scenario.simulation
    horizon = settings.warmup + settings.duration
    found = {}
    for name, rule in rules.items():
        workers = workers_per_replica(scenario, name)
        demands = []
        for piece in pieces:
            busy = settled[piece.rates].busy[name]
            demands.append((piece.start, 2.0 * rule.max * workers if busy is None else busy))
        start = scenario.services[name].replicas
        pooled = scenario.services[name].balancing in ("shared", "least_outstanding")
        serves = _serves(scenario, name, pieces, settled, flat_out)
        cuts = (settings.warmup,)
        lengths = None
        if rule.metric != "utilization":
            lengths = _lengths(name, pieces, settled, fleets)
        found[name] = replay(rule, start, workers, demands, pooled, horizon, cuts, serves, lengths)
    return found


def _lengths(
    name: str, pieces: list[LoadPiece], settled: Mapping[Rates, _Settled], fleets: Fleets
) -> Lengths:
    """What a rule of `name` on the lengths observes (`hpa.Lengths`): the mean queue of
    the steady state of the piece's rates with n replicas of `name` (the other autoscaled
    services at their settled counts; inf where it has none), and the piece's holding
    time (`Fleets` remembers each fleet solved)."""
    _, holding_at = _service_rates(name, pieces, settled)

    def waiting(time: float, count: int) -> float:
        piece = _piece_at(pieces, time)
        counts = {**settled[piece.rates].counts, name: count}
        queue = fleets.at(piece.rates, counts).services[name].queue_length.mean
        return math.inf if queue is None else queue

    return Lengths(waiting, holding_at)


def _serves(
    scenario: Scenario,
    name: str,
    pieces: list[LoadPiece],
    settled: Mapping[Rates, _Settled],
    flat_out: FlatOut,
) -> Callable[[float, int], float]:
    """What `name` with n serving replicas serves flat out at time t, in workers' worth of
    work (its holding time in the piece's steady state being a worker's): its flat-out rate
    (`flat_out.flat_out_rate`: its callees loaded by what it sends, the other autoscaled
    services at their settled counts) times that holding time; where that is not known, its
    n x workers. Remembered by (piece, n)."""
    workers = workers_per_replica(scenario, name)
    known: dict[tuple[Rates, int], float] = {}
    _, holding_at = _service_rates(name, pieces, settled)

    def serves(time: float, count: int) -> float:
        piece = _piece_at(pieces, time)
        key = (piece.rates, count)
        if key not in known:
            counts = {**settled[piece.rates].counts, name: count}
            rate = flat_out(with_fleet(with_rates(scenario, piece.rates), counts), name)
            known[key] = float(count * workers) if rate is None else rate * holding_at(time)
        return known[key]

    return serves


def _at(line: list[Stretch], time: float) -> Stretch:
    return next((s for s in line if s.start <= time < s.end), line[-1])


def _piece_at(pieces: list[LoadPiece], time: float) -> LoadPiece:
    return next((p for p in pieces if p.start <= time < p.end), pieces[-1])


Key = tuple[Rates, tuple[int, ...]]
"""A stretch of constant rates and fleet (the serving replicas of each autoscaled
service)."""


def measured_stretches(
    scenario: Scenario, pieces: list[LoadPiece], lines: Mapping[str, list[Stretch]]
) -> tuple[dict[Key, float], dict[Rates, float]]:
    """The measured period's shares by rates and fleet where no backlog piles up or
    drains, and by rates where one does."""
    settings = scenario.simulation
    start, end = settings.warmup, settings.warmup + settings.duration
    cuts = {start, end, *(p.end for p in pieces), *(s.end for line in lines.values() for s in line)}
    steady: dict[Key, float] = {}
    backlog: dict[Rates, float] = {}
    for low, high in itertools.pairwise(sorted(cuts)):
        if high <= start or low >= end:
            continue
        share = (min(high, end) - max(low, start)) / (end - start)
        middle = (low + high) / 2
        rates = _piece_at(pieces, middle).rates
        stretches = [_at(line, middle) for line in lines.values()]
        if any(s.backlog for s in stretches):
            backlog[rates] = backlog.get(rates, 0.0) + share
        else:
            key = (rates, tuple(s.serving for s in stretches))
            steady[key] = steady.get(key, 0.0) + share
    return steady, backlog


def documents(prediction: Prediction) -> Documents:
    """The parts of `prediction` that regimes average (`quasi_static.over_regimes`)."""
    return Documents(
        prediction.flows, prediction.services, prediction.topics, prediction.calls or {}
    )


def predict_autoscaled(
    scenario: Scenario,
    rules: Mapping[str, ServiceAutoscale],
    capacity: bool,
    solve: Solve,
    flat_out: FlatOut,
) -> Prediction | None:
    """The prediction of `scenario` with the services of `rules` at the replicas their
    rules run over the measured period (module docstring); None where it does not apply
    (too many pieces, or a piece that overloads a station that does not autoscale)."""
    pieces = load_pieces(scenario)
    fleets = Fleets(scenario, solve)
    settled = None if pieces is None else _settle_pieces(fleets, rules, pieces)
    if pieces is None or settled is None:
        return None
    names = list(rules)
    lines = timelines(scenario, rules, pieces, settled, flat_out, fleets)
    steady, backlog = measured_stretches(scenario, pieces, lines)
    regimes: list[tuple[float, Prediction]] = []
    for (rates, fleet), share in steady.items():
        counts = dict(zip(names, fleet, strict=True))
        other = fleets.at(rates, counts)  # (the settled fleet's own prediction, at its counts)
        if all(other.services[name].stable for name in names):
            regimes.append((share, other))
        else:  # (a fluid at exactly its workers: no steady state; as a backlog's stretch)
            backlog[rates] = backlog.get(rates, 0.0) + share
    regimes += [(share, settled[rates].prediction) for rates, share in backlog.items()]
    first = max(regimes, key=lambda regime: regime[0])[1]
    mixed = len({id(prediction) for _, prediction in regimes}) > 1
    prediction = first.model_copy(deep=True) if mixed else first
    if mixed:
        parts = [(share, documents(part)) for share, part in regimes]
        over_regimes(documents(prediction), parts, PIECE_FLOW_MEANS)
    backlogged = sum(backlog.values())
    for name in names:
        service = prediction.services[name]
        service.replicas, service.replica_seconds = report.replicas_figures(scenario, lines[name])
        if service.stable and (mixed or backlogged > 0):
            service.utilization = report.utilization(scenario, lines[name])
            rate_at, holding_at = _service_rates(name, pieces, settled)
            period = report.measured(scenario, lines[name])
            report.add_backlog(prediction, name, period, rate_at, holding_at)
    if mixed or backlogged > 0:
        report.approximate(prediction, names)
    if capacity:
        maxima = {name: rule.max for name, rule in rules.items()}
        report.capacity_from(prediction, solve(with_fleet(scenario, maxima), True))
    for name, rule in rules.items():
        settles = [settled[piece.rates].counts[name] for piece in pieces]
        busy = settled[pieces[0].rates].busy[name] if len(settled) == 1 else None
        queue = None
        if len(settled) == 1:
            queue = settled[pieces[0].rates].prediction.services[name].queue_length.mean
        prediction.warnings.append(
            report.fleet_warning(scenario, name, rule, settles, busy, prediction, capacity, queue)
        )
    if backlogged > 1e-9:
        prediction.warnings.append(report.backlog_warning(lines, backlogged))
    for flow, _ in pieces[0].rates:
        prediction.warnings.append(
            f"flow '{flow}' has a time-varying rate: predicted piece by piece ({len(pieces)} "
            f"pieces of the run, each a steady state at its own rates with the fleet its "
            f"autoscaled services run then; the transients between them left out, but for "
            f"the backlog of an autoscaled service catching up), its capacity against its "
            f"average rate"
        )
    return prediction


def _service_rates(
    name: str, pieces: list[LoadPiece], settled: Mapping[Rates, _Settled]
) -> tuple[Callable[[float], float], Callable[[float], float]]:
    """A service's arrival rate and holding time (busy workers / arrival rate) at a time
    of the run, from its piece's settled steady state (a piece without arrivals, or
    saturated, takes the holding time of all the pieces together)."""

    def rate_at(time: float) -> float:
        rate = settled[_piece_at(pieces, time).rates].prediction.services[name].arrival_rate
        return rate or 0.0

    busy = [settled[p.rates].busy[name] for p in pieces]
    rates = [rate_at(p.start) for p in pieces]
    known = [(b, r) for b, r in zip(busy, rates, strict=True) if b is not None and r > 0]
    overall = math.fsum(b for b, _ in known) / math.fsum(r for _, r in known) if known else 0.0

    def holding_at(time: float) -> float:
        own = settled[_piece_at(pieces, time).rates]
        busy_then, rate = own.busy[name], rate_at(time)
        return busy_then / rate if busy_then and rate > 0 else overall

    return rate_at, holding_at
