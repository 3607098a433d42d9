"""How variable the streams between stations are: the two-moment approximations of QNA.

A station's arrivals are the streams its callers and publishers emit into it, merged. A
stream leaves a queueing station as variable as the station's departures, which lie
between its arrivals (light load) and its service (heavy load): steady work smooths the
stream a station passes on (a pipeline of stages of constant work: the second stage's
arrivals are nearly evenly spaced, and it hardly waits), variable work makes it burstier.
Each stream is described by its squared coefficient of variation (SCV) c², the
interarrival times' variance over their squared mean, as in Whitt's Queueing Network
Analyzer (W. Whitt, "The Queueing Network Analyzer", Bell System Technical Journal 62(9),
2779-2815, 1983):

- departures of a G/G/m station at utilization rho, arrivals c_a², service c_s²:
  c_d² = 1 + (1 - rho²) (c_a² - 1) + rho² (c_s² - 1) / sqrt(m); a contention-free station
  (infinite servers: rho -> 0) passes its arrivals' c² on;
- a stream split at random, each request kept with probability p: 1 + p (c² - 1) (exact
  for a renewal stream);
- streams merged, stream i a share s_i of the rate: Whitt's hybrid of the asymptotic
  method (the shares' average of the c_i²) and Poisson, c² = 1 + w sum s_i (c_i² - 1),
  w = 1 / (1 + 4 (1 - rho)² (nu - 1)), nu = 1 / sum s_i², rho the receiving station's
  utilization (many small streams into a lightly loaded station look Poisson to it).

What a stream carries: a publish from a queueing station (a consumer's handler, a
service's operation) its station's departures; a contention-free operation (the client,
an unlimited service) its own arrivals, then after each call the called station's replies
(its departures, thinned to the caller's share of them); a call from a queueing station
the flows' own SCVs at that station, weighted by how often each reaches it (`flows_scv`):
the calls a pool makes are bounded by its threads, which the thread-pool models take, and
carrying its departures there made the regression set's three tiers at 95% 8.5% off
instead of 4.9%.

Every formula gives c² = 1 exactly where all its inputs are Poisson and its service
exponential (Burke's theorem for M/M/m departures): a Jackson network's streams stay
Poisson. The SCVs enter only the approximate formulas (Allen-Cunneen and the scalings by
(c_a² + c_s²) / 2); where a stream is Poisson (`summary`'s flags), the exact formulas
never read them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from models.analysis.graph import OpKey, StationId
from models.analysis.moments import Moments
from models.analysis.summary import OperationSummary, StationView, Target
from models.analysis.traffic import Traffic


class FlowSourceLike(Protocol):
    """What `flows_scv` reads of a flow's arrivals (`network.FlowSource`)."""

    @property
    def rate(self) -> float: ...

    @property
    def scv(self) -> float: ...


LARGEST_SCV = 1e4
"""Streams more variable than this are taken at it (an infinite variance stays finite)."""


def departure_scv(
    arrival_scv: float, service_scv: float, utilization: float, servers: int | None
) -> float:
    """c² of the departures of a station (module docstring); a station without a limit on
    its servers (`servers` None) passes its arrivals' on."""
    if servers is None:
        return arrival_scv
    rho = min(max(utilization, 0.0), 1.0)
    service = min(service_scv, LARGEST_SCV) if math.isfinite(service_scv) else LARGEST_SCV
    scv = 1.0 + (1.0 - rho * rho) * (arrival_scv - 1.0)
    scv += rho * rho * (service - 1.0) / math.sqrt(servers)
    return min(max(scv, 0.0), LARGEST_SCV)


def thinned(scv: float, probability: float) -> float:
    """c² of a stream of which each request is kept with `probability` (at most 1)."""
    return 1.0 + min(max(probability, 0.0), 1.0) * (scv - 1.0)


def merged(parts: Sequence[tuple[float, float]], utilization: float) -> float:
    """c² of the streams `parts` (rate, c²) merged into a station at `utilization`
    (Whitt's hybrid, module docstring); 1 when no stream has a rate. One stream of a
    finite rate at a utilization that is a number is passed on as it is: its share is 1,
    nu 1 and the weight 1, so the formula is 1 + (c² - 1) to the bit (most stations have
    one stream in)."""
    if len(parts) == 1 and parts[0][0] > 0:  # (the one stream, kept without a new list)
        kept = parts
    else:
        kept = [(rate, scv) for rate, scv in parts if rate > 0]
    if len(kept) == 1 and kept[0][0] < math.inf and not math.isnan(utilization):
        return 1.0 + (kept[0][1] - 1.0)
    total = math.fsum([rate for rate, _ in kept])
    if total <= 0:
        return 1.0
    shares = [(rate / total, scv) for rate, scv in kept]
    nu = 1.0 / math.fsum([share * share for share, _ in shares])
    rho = min(max(utilization, 0.0), 1.0)
    weight = 1.0 / (1.0 + 4.0 * (1.0 - rho) ** 2 * (nu - 1.0))
    return 1.0 + weight * math.fsum([share * (scv - 1.0) for share, scv in shares])


def flows_scv(
    traffic: Traffic, sources: Mapping[str, FlowSourceLike], keys: Sequence[OpKey]
) -> float:
    """The flows' own interarrival SCVs, weighted by the rates at which each reaches `keys`:
    what a queueing station's calls carry (module docstring)."""
    if all(source.scv == 1.0 for source in sources.values()):
        return 1.0  # (Poisson flows: the weighted mean of ones, exactly)
    weights = []
    for flow, visits in traffic.visits.items():
        source = sources.get(flow)
        if source is not None:
            count = sum(visits.get(key, 0.0) for key in keys)
            weights.append((source.rate * count, source.scv))
    total = math.fsum(w for w, _ in weights)
    return math.fsum(w * s for w, s in weights) / total if total > 0 else 1.0


class Streams:
    """The streams into each operation and topic in one round, from the summaries (each
    emission's c², `OperationSummary.scvs`), the traffic and the flows' arrivals."""

    def __init__(
        self,
        summaries: Mapping[OpKey, OperationSummary],
        traffic: Traffic,
        sources: Mapping[str, FlowSourceLike],
    ) -> None:
        self.summaries, self.traffic, self.sources = summaries, traffic, sources
        rates = traffic.rates
        self.carried: dict[StationId, float] = {}
        """Per station asked about (`scv`): what its operations' calls carry, the SCV of
        its arrivals merged at a contention-free one, the flows' own at a queueing one
        (`flows_scv`); the next round's views hold it."""
        self.poisson_flows = all(source.scv == 1.0 for source in sources.values())
        """Whether every flow's arrivals are Poisson (then `flows_scv` is 1)."""
        self.into: dict[Target, list[tuple[float, float]]] = defaultdict(list)
        """Per called operation or topic: (rate, c²) of each stream emitted into it."""
        into = self.into
        for source, summary in summaries.items():
            rate = rates.get(source, 0.0)
            if rate <= 0:
                continue
            calls, events = summary.calls, summary.publish_events
            for target, scv in summary.scvs.items():
                if isinstance(target, str):
                    count = events.get(target, 0.0)
                else:
                    count = calls.get(target, 0.0)
                if count > 0:  # (more than one emission per execution: not thinned)
                    into[target].append((rate * count, thinned(scv, count)))

    def scv(
        self,
        targets: Sequence[Target],
        keys: Sequence[OpKey],
        servers: int | None,
        station: StationId,
    ) -> float:
        """c² of the streams into `targets` (a station's operations, or a topic) merged at
        `station`, whose operations `keys` hold its `servers` (its utilization weighs
        them); what its calls carry is kept in `carried`."""
        into = self.into
        if len(targets) == 1:  # (a service's one operation, a topic: its streams as they are)
            parts = into.get(targets[0], [])
        else:
            parts = [part for target in targets if target in into for part in into[target]]
        utilization = 0.0
        if servers:
            rates, summaries = self.traffic.rates, self.summaries
            terms = []
            for k in keys:
                rate = rates.get(k, 0.0)
                if rate > 0:
                    terms.append(rate * summaries[k].holding.mean)
            utilization = math.fsum(terms) / servers
        scv = merged(parts, utilization)
        if servers is None:
            own = scv
        elif self.poisson_flows:  # (`flows_scv`'s own shortcut, found once a round)
            own = 1.0
        else:
            own = flows_scv(self.traffic, self.sources, keys)
        self.carried[station] = own
        return scv


Stream = tuple[float, frozenset[StationId]]
"""A stream as a walk knows it: its SCV, and the stations whose departures' SCV it carries."""
Recent = tuple[StationId, float, float]
"""A call just made (`StreamTracker.called`): its station, share and re-entries' SCV."""


class StreamTracker:
    """What a walk of an operation's steps knows of the streams its emissions are part of
    (module docstring): the stream of executions at the step walked (`stream`), and per
    emission target the emissions per execution and their SCV. A queueing station's
    publishes carry its departures (`leaving`); everything else carries `stream`."""

    def __init__(self, stream: float, leaving: float | None, station: StationId | None) -> None:
        self.stream: Stream = (stream, frozenset())
        self.leaving = leaving
        self.station = station
        self.weights: dict[Target, float] = defaultdict(float)
        self.sums: dict[Target, float] = defaultdict(float)
        """Per emission target: emissions per execution, and those times their SCV."""
        self.reads: set[StationId] = set()
        """Stations whose departures' SCV an emission carries (`scv_reads`)."""
        self.recent: Recent | None = None
        """The station the step before called, how often, and the SCV its re-entries carry
        (`called`); None after any step that takes time."""

    def emitted(self, target: Target, weight: float) -> None:
        """`weight` emissions per execution to `target`, from the step walked."""
        scv, origins = self.stream
        if isinstance(target, str) and self.leaving is not None and self.station is not None:
            scv = self.leaving
            origins = frozenset({self.station})
        if self.recent is not None and isinstance(target, OpKey) and target.kind == "service":
            station, share, again = self.recent
            # (`station == StationId("service", target.name)`, without making one)
            if station[1] == target.name and station[0] == "service" and station[2] == "":
                scv = (1.0 - share) * scv + share * again
        if origins:
            self.reads.update(origins)
        self.weights[target] += weight
        self.sums[target] += weight * scv

    def called(self, station: StationId, share: float, holding: Moments) -> None:
        """The step walked called `station` (made with probability `share`, 0 where the
        reply waits for the caller's worker first). A call to it right after (no step
        taking time between) re-enters its queue as the request leaves it: such a request
        finds the queue a departure leaves behind and no service under way, as if the
        residual service it waits for were a whole one, (Nq + ρ) S in all where an arrival
        from outside waits Nq S + ρ R: by mean values, W = ρ ((1 − φ) R + φ S) / (1 − ρ)
        for a share φ of
        re-entries (R = E[S²] / 2 E[S]; exact for exponential work, where it is M/M/1,
        and Pollaczek-Khinchine for φ = 0). In the two-moment formulas that is a stream of
        c² = 2 − c_s² (its (c² + c_s²) / 2 is 1), not the station's departures: an API
        calling a one-server database of constant 4.98 ms twice in a row at 70% waits
        7.91 ms simulated, 4.99 ms predicted from the departures' c², 8.71 ms so."""
        if not share > 0:  # (no re-entries: what they would carry is not asked)
            self.recent = None
            return
        scv = holding.scv if holding.finite and holding.mean > 0 else math.nan
        again = min(max(2.0 - scv, 0.0), 2.0) if math.isfinite(scv) else 1.0
        self.recent = (station, share, again)

    def after_options(self, ends: Iterable[tuple[float, Recent | None]]) -> None:
        """After a branch, from what each option (its probability) ended with (`called`;
        None where its last step was no call): a call right after the branch re-enters
        the station the most options' last calls went to, with the share of executions
        that called it last."""
        shares: dict[StationId, list[float]] = {}
        for probability, end in ends:
            if end is not None:
                station, share, again = end
                found = shares.setdefault(station, [0.0, 0.0])
                found[0] += probability * share
                found[1] += probability * share * again
        best = max(shares.items(), key=lambda item: item[1][0], default=None)
        if best is None or best[1][0] <= 0:
            self.recent = None
        else:
            station, (share, weighted_again) = best
            self.recent = (station, share, weighted_again / share)

    def replied(
        self,
        callee: OperationSummary,
        view: StationView,
        station: StationId,
        unlimited: bool,
        share: float,
    ) -> None:
        """The stream is now the replies of the called `station`: its departures (an
        `unlimited` callee's own replies), of which this operation's calls are `share`."""
        if unlimited:
            self.stream = (thinned(callee.end_scv, share), callee.end_origins)
        else:
            self.stream = (thinned(view.departure_scv, share), frozenset({station}))

    def mixed(self, options: Iterable[tuple[float, Stream]]) -> None:
        """The stream after a choice of options (probability, the stream each ended with):
        their SCVs mixed by probability (an approximation)."""
        parts = list(options)
        scv = math.fsum(p * stream for p, (stream, _) in parts)
        self.stream = (scv, frozenset().union(*(origins for _, (_, origins) in parts)))

    def fields(self) -> dict[str, Any]:
        """The summary's fields of streams (`OperationSummary.scvs`, ...)."""
        scv, origins = self.stream
        return {
            "scvs": {t: self.sums[t] / w for t, w in self.weights.items() if w > 0},
            "end_scv": scv,
            "end_origins": origins,
            "scv_reads": frozenset(self.reads),
        }
