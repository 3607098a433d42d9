"""A thread pool over its callees that independent bounded sources share with open
arrivals: their requests wait there otherwise than the rest.

A log topic's consumer has at most one message in hand, so at most one call in flight;
a closed flow's client likewise. Where such callers share a thread pool held through its
calls (its flow-equivalent server, `models.analysis.layers`) with open arrivals, that
server takes every arrival as Poisson: each consumer's calls then queue behind its own,
and the pool's wait comes out far too long (two consumers of a log topic taking 80
messages/s and 110 reads/s at a pool of 4 threads over a database of 2 servers, 76%
busy: the pool's wait 5.3 ms predicted, 2.5 ms simulated, and the consumers predicted
nearly saturated, 499 ms of waiting for 49.5 ms; now 1.7 ms and 41.3 ms).

The two-class station of `models.analysis.mixed_source` is that pool's chain with the
threads' speed in it: with k threads busy they complete X(k) requests a second between
them (the flow-equivalent server's rates), each X(k) / k, whichever class it serves. Its
waits, over the flow-equivalent server's own with Poisson arrivals (one class), scale the
pool's wait as the network has it (its arrivals' and holding times' variability, the
population below it: `models.analysis.excess_pools`), so that each class keeps what
those add. The chain's busy threads, fewer at once than Poisson arrivals keep busy,
scale the waits below the pool the same way (`_callee_ratios`): the database there 3.88
ms predicted before, 3.20 ms now, 3.24 ms simulated (with 8 threads and 3 consumers:
11.9, 7.55 and 7.91 ms). Only sources that queue nowhere together qualify
(`BoundedCaller.independent`): a pool's threads, which share a queue of their own, send
their next call soon after the last one, which independent think times do not see
(splitting their waits so took a pool of the Alibaba-like model of the regression set
from -3% to -28%, docs/analysis.md sec. 12). What is left (sec. 5): the pool's own wait
12-31% short, where the chain's waits before the pool's scale are within 5% of the
simulated: the flow-equivalent server's (ca^2 + cs^2) / 2 by the held time's SCV
under-predicts a pool whose pace a callee of several servers sets (sec. 12), here as
without the split (the reads alone at 190/s: 7.43 ms unscaled, 5.32 ms scaled, 7.30 ms
simulated).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln

from models.analysis.graph import StationId
from models.analysis.layers import Layer
from models.analysis.mixed_source import (
    TAIL,
    BoundedCaller,
    MixedSource,
    chain_levels,
    mixed_source,
)
from models.analysis.moments import Moments
from models.analysis.station_load import ServiceStation, StationLoad, StationSolution
from models.analysis.stations import FINITE_SOURCE_REACH
from models.analysis.think_roots import think_root

SPLIT_NOTE = "its independent callers' waits apart"
SAME_MEAN = 1e-9
"""Both classes' mean holding times equal to this (relative): the chain is the product
form (`product_form`), solved by sums, not as a linear system."""
CHAINS_REMEMBERED = 256
"""Pools' two-class chains kept by their inputs (`_solved`): a round whose pool's rates
and held times did not move (wherever a capacity trial's load does not reach, and the
last rounds of a solve) asks for the same chain again."""
ALONE_REACH = FINITE_SOURCE_REACH
"""Where only the bounded sources reach the pool, at most this many times its threads of
them make it the chain of those sources alone (finite-source, as a station is:
`stations.FINITE_SOURCE_REACH`). Beyond it the chain's independent think times
under-predict: the 100 generated services' two pools of 4 and 3 threads that 12 consumers
of a log topic reach (8 x 2,000 s) waited 2.39 ms for 3.75 ms simulated (6.66 ms with
Poisson arrivals) and 5.38 ms for 6.90 (10.79), and their callees, as the chain's busy
threads have them, 4.29 ms for 6.19 (6.39) and 26.8 ms for 28.4 (29.8), further off
than the pool's scale alone makes a split pool (sec. 5 of docs/analysis.md), and not
separated from it here. Within it, 3 consumers
over 2 threads: the pool's wait 0.72 ms for 0.82 ms (4.72 ms with Poisson arrivals), the
consumers' 18.4 ms for 19.2 ms (53.0 ms)."""


@dataclass(frozen=True)
class Split:
    """A pool's solution with its independent bounded callers apart, and how much less
    its requests wait at each callee (`split_pool`)."""

    solution: StationSolution
    callees: dict[StationId, float] = field(default_factory=dict)
    """Per callee: its wait as the pool's requests see it, over the flow-equivalent
    server's with Poisson arrivals."""


def split_pool(
    load: StationLoad,
    solution: StationSolution,
    layer: Layer,
    rate: float,
    holding: Moments,
) -> Split:
    """`solution` (the pool's, `rate` acquisitions a second of `holding`) with its
    independent bounded callers' waits apart from the others' (module docstring), or as
    it is where that does not apply."""
    bounded = load.bounded
    rates = layer.completion_rates
    if (
        bounded is None
        or not solution.stable
        or not rates
        or not bounded.independent
        or solution.caller_waiting is not None
        or layer.waiting <= 0.0
    ):
        return Split(solution)
    chain = _chain(rate, holding, bounded, rates)
    if chain is None:
        return Split(solution)
    wait = next(iter(solution.waiting.values())).mean
    own = chain.bounded_waiting / layer.waiting * wait
    others = chain.open_waiting / layer.waiting * wait
    mean = (bounded.arrival_rate * own + (rate - bounded.arrival_rate) * others) / rate
    scale = mean / wait if wait > 0 else 1.0
    split = dataclasses.replace(
        solution,
        method=f"{solution.method}, {SPLIT_NOTE} ({bounded.label})",
        waiting={
            p: Moments(w.mean * scale, w.variance * scale**2) for p, w in solution.waiting.items()
        },
        caller_waiting=(bounded.callers, own, others),
    )
    return Split(split, _callee_ratios(layer, chain.busy))


def _chain(
    rate: float, holding: Moments, bounded: BoundedCaller, completion_rates: Sequence[float]
) -> MixedSource | None:
    """The two-class chain of the pool with the threads' speeds X(k) S / k (S the mean
    holding time, so that a request of mean S is done at X(k) / k a thread); None where
    it does not apply (`mixed_source`)."""
    open_rate = rate - bounded.arrival_rate
    own_offered = bounded.arrival_rate * bounded.holding.mean
    open_offered = rate * holding.mean - own_offered
    if open_rate <= 1e-9 * rate or open_offered <= 1e-9 * own_offered:
        open_rate, open_offered = 0.0, 0.0  # (the bounded sources alone: finite-source)
        if bounded.population > ALONE_REACH * len(completion_rates):
            return None  # (beyond `ALONE_REACH`)
    speed = (1.0, *(x * holding.mean / k for k, x in enumerate(completion_rates, start=1)))
    open_mean = open_offered / open_rate if open_rate > 0 else holding.mean
    return _solved(
        open_rate, open_mean, bounded.arrival_rate, bounded.holding.mean, bounded.population, speed
    )


@functools.lru_cache(maxsize=CHAINS_REMEMBERED)
def _solved(
    open_rate: float,
    open_mean: float,
    bounded_rate: float,
    bounded_mean: float,
    population: int,
    speed: tuple[float, ...],
) -> MixedSource | None:
    """`mixed_source` with the threads' `speed`, remembered by its inputs (a pure
    function), or None where it has no usable answer."""
    threads = len(speed) - 1
    if open_rate == 0.0 or math.isclose(open_mean, bounded_mean, rel_tol=SAME_MEAN):
        result = product_form(open_rate, bounded_rate, bounded_mean, population, speed)
    else:
        result = mixed_source(
            open_rate, open_mean, bounded_rate, bounded_mean, population, threads, speed
        )
    if result is None or not math.isfinite(result.bounded_waiting) or not result.busy:
        return None
    return result


def product_form(
    open_rate: float,
    bounded_rate: float,
    mean: float,
    population: int,
    speed: Sequence[float],
) -> MixedSource | None:
    """The two-class chain (`mixed_source` with `speed`) where both classes hold a thread
    for one mean time S, in closed form: a mixed network of one load-dependent station
    (it completes mu(n) = min(n, c) speed[min(n, c)] / S requests a second with n present)
    and the bounded sources' think station, whose product form (BCMP 1975) is

        p(o, b) ∝ n! / (o! b!) λ_O^o N! / (N - b)! θ^b / prod_{k <= n} mu(k),

    θ = 1 / Z solved so that the sources' throughput θ E[N - b] is `bounded_rate`. The
    classes share every place in the queue alike, so E[o (n - c)^+ / n] open requests wait
    (and as many bounded ones in proportion): the chain's random order, whose linear
    system this replaces by sums (`tests/unit/test_bounded_pools.py`: the same to 1e-7).
    None where it has no steady state, or its truncation would show."""
    c = len(speed) - 1
    pace = np.asarray(speed, dtype=float)
    levels = chain_levels(
        open_rate, (open_rate + bounded_rate) * mean, bounded_rate, population, pace
    )
    if levels is None:
        return None  # (the chain's own limits: the same answer wherever it gives one)
    o = np.arange(levels + 1, dtype=float)[:, None]
    b = np.arange(population + 1, dtype=float)[None, :]
    present = (o + b).astype(int)
    served = np.minimum(np.arange(1, present.max() + 1), c)
    log_rates = np.concatenate(([0.0], np.cumsum(np.log(served * pace[served] / mean))))
    base = (
        gammaln(present + 1.0)
        - gammaln(o + 1.0)
        - gammaln(b + 1.0)
        + (o * math.log(open_rate) if open_rate > 0 else 0.0)
        + gammaln(population + 1.0)
        - gammaln(population - b + 1.0)
        - log_rates[present]
    )
    away = np.broadcast_to(population - b, base.shape)

    def law(log_think: float) -> np.ndarray:
        weights = base - b * log_think
        p = np.exp(weights - weights.max())
        return np.asarray(p / p.sum())

    def excess(log_think: float) -> float:
        return float((law(log_think) * away).sum()) / math.exp(log_think) - bounded_rate

    fastest = mean / float(pace[1:].max())  # (a bounded request's shortest stay)
    root = think_root(excess, population / bounded_rate, fastest)
    if root is None:
        return None
    p = law(root)
    if levels and float(p[levels - c :, :].sum()) > 1e3 * TAIL:
        return None  # (nearly saturated: the truncation would show)
    queued = np.maximum(present - c, 0) / np.maximum(present, 1)
    full = present >= c
    sources = p * away
    busy = np.bincount(np.minimum(present, c).ravel(), weights=p.ravel(), minlength=c + 1)
    open_wait, bounded_wait = float(p[full].sum()), float(sources[full].sum() / sources.sum())
    total = open_rate + bounded_rate
    return MixedSource(
        think_time=math.exp(root),
        open_waiting=float((p * o * queued).sum()) / open_rate if open_rate > 0 else 0.0,
        bounded_waiting=float((p * b * queued).sum()) / bounded_rate,
        p_wait=(open_rate * open_wait + bounded_rate * bounded_wait) / total,
        busy=tuple(busy.tolist()),
    )


def _callee_ratios(layer: Layer, busy: Sequence[float]) -> dict[StationId, float]:
    """Per callee, its wait weighted by the completions in each state of the two-class
    chain's busy threads (`busy`), over the same with the flow-equivalent server's
    (`Layer.busy`, Poisson arrivals): fewer requests in the subnetwork at once, less
    waiting below it."""
    rates = np.asarray(layer.completion_rates)
    chain, poisson = np.asarray(busy)[1:] * rates, layer.busy[1:] * rates
    ratios = {}
    for station, waits in layer.callee_waiting_by_state.items():
        before = float(poisson @ waits) / float(poisson.sum())
        if before > 0.0:
            ratios[station] = float(chain @ waits) / float(chain.sum()) / before
    return ratios


def scale_callees(
    split: Split,
    waits: dict[StationId, float] | None,
    services: Mapping[str, ServiceStation],
    rate: float,
    visits: Mapping[str, float],
) -> None:
    """Scale the waits the pool's requests see at each callee (`waits`) by `split`'s
    ratios, and so the wait of a callee that only the pool calls (`rate` acquisitions a
    second, `visits` calls each), which is that wait."""
    for station, ratio in split.callees.items():
        if waits is not None and station in waits:
            waits[station] *= ratio
        callee = services[station.name]
        solution = callee.solution
        only = math.isclose(
            solution.arrival_rate, rate * visits.get(station.name, 0.0), rel_tol=1e-9
        )
        if only and solution.stable:
            callee.solution = dataclasses.replace(
                solution,
                waiting={
                    p: Moments(w.mean * ratio, w.variance * ratio**2)
                    for p, w in solution.waiting.items()
                },
            )
