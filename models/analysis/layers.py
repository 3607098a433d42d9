"""A thread pool over its callees: the flow-equivalent server of the method of layers.

A service whose workers are held during synchronous calls can never have more than its
`c` workers' requests inside its callees. Solving the callees as open queues ignores that
cap: their queues would grow without limit near saturation, while in fact the requests pile
up in the caller's own queue, waiting for a worker. The classic remedy (Chandy, Herzog &
Woo, "Parametric analysis of queuing networks", IBM J. Res. Dev. 19(1), 1975; Rolia &
Sevcik, "The method of layers", IEEE TSE 21(8), 1995) replaces the subnetwork a request
crosses once it holds a worker — its own time (a delay) and its callees (queues) — by a
*flow-equivalent server*: with k busy workers the subnetwork completes X(k) requests per
second, X(k) being the throughput of the closed network of k customers (exact MVA by
convolution). The caller is then a birth-death queue with arrival rate lambda and service
rate X(min(n, c)) with n requests present. The decomposition is exact for product-form
networks (Norton's theorem); a population cap breaks product form, so it is an
approximation here — a good one when the callees dominate the holding time, less so when
a constant own time does (a pool of 4 held 20 ms + an exclusive M/M/1 database at 88% of
its capacity: 79.6 ms predicted, 94.7 ms simulated; the open model calls it unstable).
A callee shared with the caller's other pools (its replicas, each its own pool; callees
shared with other services are delays for the pool, `models.analysis.pools`) keeps for this
pool the servers the background leaves,
c - U_background (rounded up, each slowed in proportion so that the capacity left is
exact): for a single server this is the usual mixed-network approximation,
demand / (1 - U_background) (Lazowska et al., "Quantitative System Performance" (1984), sec. 7.4).

The pool saturates when lambda reaches X(c) — the true capacity of a thread pool in front of
its callees, which can be below both the pool's and the callees' own capacities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.analysis.graph import StationId
from models.theory.convolution import log_convolve, station_log_weights
from models.theory.erlang import erlang_c

METHOD = "flow-equivalent server of its callees (method of layers)"
LARGEST_POOL = 256
"""Pools with more workers are left to the open model (convolution cost grows as c²)."""


@dataclass(frozen=True)
class Callee:
    """A station the pool's requests call while holding a worker."""

    station: StationId
    visits: float
    """Calls per request of the pool."""
    holding: float
    """The callee's mean holding time per call (its own callees included)."""
    servers: int
    background: float
    """Busy servers at the callee due to everyone but this pool (offered load)."""
    scv: float = 1.0
    """Squared coefficient of variation of the callee's holding time."""
    completion_rates: tuple[float, ...] | None = None
    """When the callee is itself a thread pool solved as a flow-equivalent server (and only
    this pool calls it): its X(1..c), so that its capacity — bounded by its own callees, not
    by servers / holding time — carries up the layers."""


@dataclass(frozen=True)
class Layer:
    """The pool solved as a flow-equivalent server."""

    saturated: bool
    capacity: float
    """X(c): requests per second the pool can complete with every worker busy."""
    waiting: float
    """Mean wait for a worker (inf when saturated)."""
    p_wait: float
    utilization: float
    """Busy fraction of the pool's workers."""
    callee_waiting: dict[StationId, float]
    """Mean waiting per call at each callee, as this pool's requests see it."""
    completion_rates: tuple[float, ...] = ()
    """X(1), ..., X(c): the subnetwork's throughput with n = 1..c requests inside."""


Found = tuple[dict[str, float], dict[str, float], bool]
"""What `find_callees` finds: calls and time in calls per request for each eligible callee."""
LayerCache = dict[tuple[float, int, float, tuple[Callee, ...]], Layer | None]


def _total(parts: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Convolution of log-weight vectors (a unit mass at 0 for none)."""
    if not parts:
        unit = np.full(size, -np.inf)
        unit[0] = 0.0
        return unit
    total = parts[0]
    for part in parts[1:]:
        total = log_convolve(total, part)
    return total


def _leave_one_out(
    parts: Sequence[np.ndarray], size: int, convolve: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The convolution of all `parts` and, for each, the convolution of all the others,
    from prefix and suffix convolutions (3k convolutions instead of k²)."""
    prefixes = [parts[0]]
    for part in parts[1:]:
        prefixes.append(convolve(prefixes[-1], part))
    suffixes = [parts[-1]]
    for part in reversed(parts[:-1]):
        suffixes.append(convolve(part, suffixes[-1]))
    suffixes.reverse()  # suffixes[i] = parts[i:]
    others = []
    for i in range(len(parts)):
        if i == 0:
            others.append(suffixes[1] if len(parts) > 1 else _unit(size, convolve))
        elif i == len(parts) - 1:
            others.append(prefixes[i - 1])
        else:
            others.append(convolve(prefixes[i - 1], suffixes[i + 1]))
    return prefixes[-1], others


def _unit(size: int, convolve: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """The empty network's weights (a unit mass at 0), linear or in logs."""
    unit = np.zeros(size) if convolve is _linear else np.full(size, -np.inf)
    unit[0] = 1.0 if convolve is _linear else 0.0
    return unit


def _linear(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.convolve(left, right)[: len(left)]


def _callee_log_weights(
    demand: float, callee: Callee, servers: int, population: int, unit: float
) -> np.ndarray:
    """log f(j), j = 0..N, of a callee in units of `unit`: a multi-server station of
    `servers` servers and demand D (Buzen), or a flow-equivalent pool, whose rates X(i)
    give f(j) = prod_{i<=j} v / (X(min(i, c)) unit) (Chandy, Herzog & Woo 1975)."""
    if callee.completion_rates is None:
        return station_log_weights(demand / unit, servers, population)
    rates = np.asarray(callee.completion_rates, dtype=float)
    present = np.arange(1, population + 1)
    per_state = rates[np.minimum(present, len(rates)) - 1]
    steps = np.log(callee.visits / (per_state * unit))
    return np.concatenate(([0.0], np.cumsum(steps)))


def _subnetwork(
    demands: Sequence[float],
    servers: Sequence[int],
    delay: float,
    population: int,
    callees: Sequence[Callee] = (),
) -> tuple[np.ndarray, list[np.ndarray]]:
    """X(n) and each queueing station's mean queue Q_i(n), n = 1..N, of the closed network
    of the stations (demand D_i, servers c_i) and a delay stage, by convolution: G = f_1 *
    ... * f_k * f_delay, X(n) = G(n - 1) / G(n), Q_i(n) = sum_j j f_i(j) G_-i(n - j) / G(n)
    (Buzen 1973; Lazowska et al. 1984, ch. 20); for a callee that is itself a pool, only
    those waiting for its workers: sum_j (j - c)^+ f_i(j) G_-i(n - j) / G(n).

    In linear space, demands in units of the largest (X scales back by it), where the
    weights span few enough orders of magnitude (the usual case: much faster); in log space
    otherwise."""
    size = population + 1
    unit = max([*demands, delay])
    owners: list[Callee | None] = [*callees] if callees else [None] * len(demands)
    log_parts = [
        station_log_weights(demand / unit, pool, population)
        if callee is None
        else _callee_log_weights(demand, callee, pool, population, unit)
        for demand, pool, callee in zip(demands, servers, owners, strict=True)
    ]
    if delay > 0:
        log_parts.append(station_log_weights(delay / unit, None, population))
    present = np.arange(size, dtype=float)
    # what is counted at each station: every request there, or for a pool callee only
    # those waiting for one of its workers, (j - c)^+ (its own time is in its X(i))
    counts = [
        present
        if callee is None or callee.completion_rates is None
        else np.maximum(present - len(callee.completion_rates), 0.0)
        for callee in owners
    ]
    linear_parts = [np.exp(part) for part in log_parts]
    total, others = _leave_one_out(linear_parts, size, _linear)
    if np.all(total > 0) and np.all(np.isfinite(total)):
        throughput = total[:-1] / total[1:] / unit
        queues = [
            _linear(counts[i] * linear_parts[i], others[i])[1:] / total[1:]
            for i in range(len(demands))
        ]
        if all(np.all(np.isfinite(queue)) for queue in queues):
            return throughput, queues
    total, others = _leave_one_out(log_parts, size, log_convolve)
    throughput = np.exp(total[:-1] - total[1:]) / unit
    queues = []
    for i in range(len(demands)):
        log_counts = np.log(counts[i], where=counts[i] > 0, out=np.full(size, -np.inf))
        queues.append(np.exp(log_convolve(log_parts[i] + log_counts, others[i])[1:] - total[1:]))
    return throughput, queues


def flow_equivalent(
    arrival_rate: float, servers: int, delay: float, callees: Sequence[Callee]
) -> Layer | None:
    """The pool of `servers` workers, each request holding one for `delay` plus its calls.

    Returns None when the model does not apply (no arrivals, a callee saturated by its
    background alone, nothing to queue at, or a pool too large).

    >>> from models.theory import mm1
    >>> alone = Callee(StationId("service", "db"), 1.0, 0.01, 1, 0.0)
    >>> layer = flow_equivalent(50.0, 1, 0.0, [alone])   # one worker: an M/M/1 at the db
    >>> round(layer.waiting, 6) == round(mm1(50.0, 100.0).mean_waiting_time, 6)
    True
    >>> round(layer.callee_waiting[alone.station], 12)   # the db never holds two of its own
    0.0
    """
    if servers > LARGEST_POOL or arrival_rate <= 0:
        return None
    size = servers + 1
    demands: list[float] = []
    pools: list[int] = []
    slowed: list[float] = []  # per call: the callee's holding time on its slowed servers
    shifts: list[float] = []  # per call: the wait the background adds (`_background_wait`)
    for callee in callees:
        spare = callee.servers - callee.background  # servers left by the background
        if spare <= 0:
            return None
        left = math.ceil(spare - 1e-9)
        if callee.completion_rates is not None:  # (its capacity: its slowest state)
            demands.append(callee.visits / min(callee.completion_rates))
            slowed.append(0.0)
            shifts.append(0.0)
        else:
            demands.append(callee.visits * callee.holding * left / spare)
            slowed.append(callee.holding * left / spare if callee.background else callee.holding)
            own = arrival_rate * callee.visits * callee.holding
            shifts.append(_background_wait(callee, own, spare, left))
        pools.append(left)
    if not any(d > 0 for d in demands) and not delay > 0:
        return None
    throughput, queues = _subnetwork(demands, pools, delay, servers, callees)
    waiting_by_state: dict[StationId, np.ndarray] = {}
    for callee, queue, holding, shift in zip(callees, queues, slowed, shifts, strict=True):
        per_call = queue / (throughput * callee.visits) if callee.visits > 0 else queue * 0
        if callee.completion_rates is None:  # (the queue counted those in service)
            per_call = per_call - holding + shift
        waiting_by_state[callee.station] = np.maximum(per_call, 0.0)
    capacity = float(throughput[-1])
    ratio = arrival_rate / capacity
    if ratio >= 1.0:
        return Layer(True, capacity, math.inf, 1.0, 1.0, {c.station: math.inf for c in callees})
    log_weights = np.concatenate(([0.0], np.cumsum(np.log(arrival_rate / throughput))))
    weights = np.exp(log_weights - log_weights.max())
    weights[-1] /= 1.0 - ratio  # n >= c: geometric tail p_c r^(n - c)
    norm = float(weights.sum())
    p_busy = weights / norm  # P(min(n, c) = k), k = 0..c
    queue_length = float(weights[-1] * (1.0 - ratio) * ratio / (1.0 - ratio) ** 2) / norm
    busy = float(np.dot(np.arange(size), p_busy))
    flow = p_busy[1:] * throughput
    # a non-exponential callee's wait is scaled by (1 + cs²) / 2 as in Allen-Cunneen (its
    # capacity, and so X(k), does not depend on the service time's variability)
    seen = {
        callee.station: float(np.dot(flow, waiting_by_state[callee.station]) / flow.sum())
        * (1.0 + min(callee.scv, 1e6))
        / 2.0
        if flow.sum() > 0
        else 0.0
        for callee in callees
    }
    return Layer(
        saturated=False,
        capacity=capacity,
        waiting=queue_length / arrival_rate,
        p_wait=float(p_busy[-1]),
        utilization=busy / servers,
        callee_waiting=seen,
        completion_rates=tuple(float(rate) for rate in throughput),
    )


def _background_wait(callee: Callee, own: float, spare: float, left: int) -> float:
    """The wait per call that the callee's background adds to what its pool's requests
    queue for in the subnetwork, where the callee is `left` servers slowed to the `spare`
    ones the background leaves (`own`: the pool's offered load there, in Erlangs).

    Without a cap on the pool's requests the subnetwork is an M/M/left queue of the pool's
    requests alone, waiting C(left, x) D / (c - a) with x = own left / spare, where the
    callee (c servers, D per call, a = own + background Erlangs in all) waits C(c, a) D /
    (c - a) (Erlang C; Gross & Harris sec. 2.3): the difference is added to every state,
    so that the pool sees the open callee's wait where its threads do not cap it. For one
    server this is D a_b / (1 - a_b), the mixed-network approximation's residence
    D / (1 - a_b) less D (Lazowska et al. (1984) sec. 7.4). For several, the slowed
    servers alone would count D a_b / (c - a_b) as waiting where the background leaves
    most servers idle: 2 replicas of a pool calling 4 servers of 3.5 ms at 400/s in all
    (Erlang C 0.06) waited 0.66 ms per call predicted, 0.06 ms simulated."""
    total = own + callee.background
    if callee.background <= 0.0 or total >= callee.servers:
        return 0.0
    mine = erlang_c(left, own * left / spare) if own > 0 else 0.0
    return (erlang_c(callee.servers, total) - mine) * callee.holding / (callee.servers - total)
