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
shared with other services are delays for the pool, `models.analysis.pools`) is for this
pool a load-dependent station: each of its servers taken by the background independently,
the pool's calls are served on those left (`shared_rates`), which keeps the capacity the
background leaves, c - U_background, exactly; for a single server this is the usual
mixed-network approximation, demand / (1 - U_background) (Lazowska et al., "Quantitative
System Performance" (1984), sec. 7.4).

The pool saturates when lambda reaches X(c) — the true capacity of a thread pool in front of
its callees, which can be below both the pool's and the callees' own capacities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

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


def _rates_log_weights(
    visits: float, rates: Sequence[float], population: int, unit: float
) -> np.ndarray:
    """log f(j), j = 0..N, in units of `unit`, of a load-dependent station completing
    `rates`[i - 1] calls per second with i present (beyond: the last), each request
    visiting it `visits` times: f(j) = prod_{i<=j} v / (rate(min(i, c)) unit) (Chandy,
    Herzog & Woo 1975)."""
    present = np.arange(1, population + 1)
    per_state = np.asarray(rates, dtype=float)[np.minimum(present, len(rates)) - 1]
    steps = np.log(visits / (per_state * unit))
    return np.concatenate(([0.0], np.cumsum(steps)))


@dataclass(frozen=True)
class _Stage:
    """A queueing station of the subnetwork as the convolution takes it."""

    demand: float
    """Visits times holding time per request (for a load-dependent one, at its slowest)."""
    servers: int
    visits: float = 1.0
    rates: tuple[float, ...] | None = None
    """Load-dependent: calls completed per second with 1, 2, ... present (beyond: the
    last); None: `servers` servers of `demand`."""
    counted_from: int = 0
    """Its queue counts (j - counted_from)^+ of j present: all (0), or for a callee that is
    a pool those waiting for one of its workers (its own time is in its rates)."""


def _subnetwork(
    stages: Sequence[_Stage], delay: float, population: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """X(n) and each queueing station's mean queue Q_i(n), n = 1..N, of the closed network
    of the `stages` and a delay stage, by convolution: G = f_1 * ... * f_k * f_delay,
    X(n) = G(n - 1) / G(n), Q_i(n) = sum_j (j - m_i)^+ f_i(j) G_-i(n - j) / G(n) with m_i
    its `counted_from` (Buzen 1973; Lazowska et al. 1984, ch. 20).

    In linear space, demands in units of the largest (X scales back by it), where the
    weights span few enough orders of magnitude (the usual case: much faster); in log space
    otherwise."""
    size = population + 1
    unit = max([*(stage.demand for stage in stages), delay])
    log_parts = [
        station_log_weights(stage.demand / unit, stage.servers, population)
        if stage.rates is None
        else _rates_log_weights(stage.visits, stage.rates, population, unit)
        for stage in stages
    ]
    if delay > 0:
        log_parts.append(station_log_weights(delay / unit, None, population))
    present = np.arange(size, dtype=float)
    counts = [np.maximum(present - stage.counted_from, 0.0) for stage in stages]
    linear_parts = [np.exp(part) for part in log_parts]
    total, others = _leave_one_out(linear_parts, size, _linear)
    if np.all(total > 0) and np.all(np.isfinite(total)):
        throughput = total[:-1] / total[1:] / unit
        queues = [
            _linear(counts[i] * linear_parts[i], others[i])[1:] / total[1:]
            for i in range(len(stages))
        ]
        if all(np.all(np.isfinite(queue)) for queue in queues):
            return throughput, queues
    total, others = _leave_one_out(log_parts, size, log_convolve)
    throughput = np.exp(total[:-1] - total[1:]) / unit
    queues = []
    for i in range(len(stages)):
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
    stages: list[_Stage] = []
    holdings: list[float] = []  # per call: the callee's own time, not counted as waiting
    shifts: list[float] = []  # per call: the wait the background adds (`_background_wait`)
    for callee in callees:
        if callee.servers - callee.background <= 0:
            return None  # (saturated by the background alone)
        if callee.completion_rates is not None:  # (its capacity: its slowest state)
            rates = callee.completion_rates
            stages.append(
                _Stage(callee.visits / min(rates), len(rates), callee.visits, rates, len(rates))
            )
            holdings.append(0.0)
            shifts.append(0.0)
        elif callee.background > 0:
            rates = shared_rates(callee.servers, callee.background, callee.holding)
            stages.append(_Stage(callee.visits / rates[-1], callee.servers, callee.visits, rates))
            holdings.append(callee.holding)
            shifts.append(_background_wait(callee, arrival_rate * callee.visits, rates))
        else:
            stages.append(_Stage(callee.visits * callee.holding, callee.servers))
            holdings.append(callee.holding)
            shifts.append(0.0)
    if not any(stage.demand > 0 for stage in stages) and not delay > 0:
        return None
    throughput, queues = _subnetwork(stages, delay, servers)
    waiting_by_state: dict[StationId, np.ndarray] = {}
    for callee, queue, holding, shift in zip(callees, queues, holdings, shifts, strict=True):
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


def shared_rates(servers: int, background: float, holding: float) -> tuple[float, ...]:
    """Calls per second a callee of `servers` servers and mean holding time `holding`
    completes of a pool's with k = 1..c of them present, where others keep `background`
    of its servers busy on average: each server taken by them independently with
    probability b / c (binomial), the pool's k calls are served on min(k, c - B) of them,
    E[min(k, c - B)] / D.

    With every server busy (k >= c) this is (c - b) / D, the capacity the background
    leaves, exactly; for one server, (1 - b) / D, the mixed-network approximation's slowed
    server (Lazowska et al. 1984 sec. 7.4). Slowing every server in proportion instead
    stretched each call of a pool that mostly finds one free: 2 replicas of 2 threads over
    a callee of 2 at 65% (`bench/analysis_fuzz.py` seed 1322 at 75%) held their threads
    24% longer than simulated and waited 18.9 ms for 10.0 ms.

    >>> shared_rates(2, 0.5, 0.01)   # P(B = 0, 1, 2) = 9/16, 6/16, 1/16
    (93.75, 150.0)
    """
    share = min(max(background / servers, 0.0), 1.0)
    taken = np.arange(servers + 1)  # B = j of the servers taken by the background
    if share <= 0.0:
        pmf = (taken == 0).astype(float)
    elif share >= 1.0:
        pmf = (taken == servers).astype(float)
    else:  # (in logs: thousands of servers overflow the binomial coefficients)
        log_pmf = (
            gammaln(servers + 1.0)
            - gammaln(taken + 1.0)
            - gammaln(servers - taken + 1.0)
            + taken * math.log(share)
            + (servers - taken) * math.log1p(-share)
        )
        pmf = np.exp(log_pmf)
    # E[min(k, F)] = sum_{m <= k} P(F >= m) for the free servers F = c - B
    at_least = np.cumsum(pmf)[::-1][1:]  # P(F >= m) = P(B <= c - m), m = 1..c
    return tuple(float(x) for x in np.cumsum(at_least) / holding)


def _open_wait(rate: float, rates: Sequence[float], holding: float) -> float:
    """The mean wait (time there less `holding`) at a load-dependent station (`rates`, the
    last for every state beyond) of Poisson arrivals at `rate`: its birth-death chain, a
    geometric tail of ratio r = rate / rates[-1] from c on."""
    ratio = rate / rates[-1]
    if ratio >= 1.0:
        return math.inf
    logs = np.concatenate(([0.0], np.cumsum(np.log(rate / np.asarray(rates, dtype=float)))))
    weights = np.exp(logs - logs.max())  # p_k up to a constant, k = 0..c
    top, count = float(weights[-1]), len(rates)
    tail = top * ratio / (1.0 - ratio)  # sum over k > c of top r^(k - c)
    tail_present = top * (count * ratio / (1.0 - ratio) + ratio / (1.0 - ratio) ** 2)
    norm = float(weights.sum()) + tail
    present = float(np.dot(np.arange(count + 1), weights)) + tail_present
    return present / norm / rate - holding


def _background_wait(callee: Callee, calls: float, rates: Sequence[float]) -> float:
    """The wait per call that the callee's background adds to what its pool's requests
    queue for in the subnetwork (`calls`: the pool's calls per second there, `rates`: the
    callee as the pool sees it, `shared_rates`).

    Without a cap on the pool's requests the subnetwork is the load-dependent station of
    the pool's requests alone; the callee (c servers, D per call, a = own + background
    Erlangs in all) waits C(c, a) D / (c - a) (Erlang C; Gross & Harris sec. 2.3): the
    difference is added to every state, so that an uncapped pool sees its callee exactly
    as the open queue. For one server it is 0: the slowed server's residence,
    D / (1 - a_b - a_own), is M/M/1's at the total load (Lazowska et al. 1984 sec. 7.4).
    On several, the background leaves most servers idle, and the subnetwork's own wait
    is small: 2 replicas of a pool calling 4 servers of 3.5 ms at 400/s in all (Erlang C
    0.06) waited 0.66 ms per call where every server was slowed, 0.06 ms simulated."""
    total = calls * callee.holding + callee.background
    if callee.background <= 0.0 or total >= callee.servers:
        return 0.0
    mine = _open_wait(calls, rates, callee.holding)
    opened = erlang_c(callee.servers, total) * callee.holding / (callee.servers - total)
    return opened - mine
