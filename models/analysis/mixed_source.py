"""A station shared by open arrivals and one small bounded population: a two-class CTMC.

A blocking caller with N workers never has more than N requests at a callee; when the
callee has few servers and that caller brings much of its load, the callee's queue is much
shorter than open (Poisson) arrivals at the same rates would make it: a request of the
bounded caller never waits behind more than N - 1 of its own, and while N of them are
there, no more come. The finite-source model M/M/c//M (`models.analysis.finite_source`)
covers a station that only bounded callers reach; this one adds open arrivals (open flows,
and callers with many workers, whose bound is far from binding).

Model (method of layers: Rolia & Sevcik, "The method of layers", IEEE TSE 21(8), 1995; a
mixed open/closed network at one station, e.g. Lazowska et al., "Quantitative System
Performance", 1984, ch. 7): c servers; open requests arrive as Poisson at rate λ_O and are
served in exponential time of mean S_O; N bounded sources each come back an exponential
think time Z after leaving (Z solved so that their throughput is the given λ_B) and are
served in exponential time of mean S_B. The state is (o, b, i): open and bounded requests
present, i bounded ones in service; when a server frees, the next request is taken from
the queue at random (each waiting request equally likely: first-come-first-served in the
mean, not in order, since the CTMC does not track the order). Open requests above
`levels` are not admitted (the truncation is chosen so that they are negligible, and
checked). Waiting times follow from Little's law: W_O = E[open waiting] / λ_O, W_B =
E[bounded waiting] / λ_B.

Measured against the simulator (2 servers; open 176.7/s of mean 2 ms, 2 clients of mean
7.3 ms thinking 9 ms, exponential): open requests wait 1.55 ms simulated, 1.58 ms here;
the bounded ones 0.46 and 0.43 ms; Allen-Cunneen with Poisson arrivals at the same rates
gives 3.2 ms to both. With λ_O = 0 it is M/M/c//N itself; with one exponential mean for
both classes, the product-form mixed network (BCMP: Baskett, Chandy, Muntz & Palacios,
JACM 22(2), 1975; the random order does not matter then). The sources' think times are
independent exponentials: a caller pool that queues requests of its own sends its next
call soon after the last when the station is busy, and the station then waits more than
this says (docs/analysis.md §12); at one server, a pool fed by open arrivals of its own is
solved by `models.analysis.pool_fed` instead (`split_waits`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg import LinAlgError
from scipy.linalg.lapack import dgbsv, dgtsv

from models.analysis.moments import Moments
from models.analysis.pool_fed import METHOD as POOL_FED_METHOD
from models.analysis.pool_fed import Feeder, applies, pool_fed_waits
from models.analysis.think_roots import think_root
from models.analysis.value_types import value_type
from models.theory import erlang_c

TAIL = 1e-9
"""The probability left above the truncation (open requests present)."""
MAX_STATES = 6000
"""More states than this to reach `TAIL` (levels x phases): the model is not used (near
saturation, or many servers and sources), the open formulas are. (1500 cut 4 sources on
2 servers off at 85% load, where the open formulas' wait is 2.5 times the chain's: a
caller's pool then saturated at 111/s where it serves 134/s, `scenarios/launch_day.yaml`,
variant `with-reports`.)"""
MAX_PHASES = 15
"""Bounded-population states (b, i) per level at most: the model is used for small
populations and pools only (its cost grows with both)."""
SMALLEST_SHARE = 0.1
"""The bounded caller's share of the station's offered load below which the station is left
to the open formulas (the bound changes little there, and the CTMC costs more)."""
SMALLEST_P_WAIT = 0.05
"""Erlang C at the station's offered load below which it is left to the open formulas:
requests seldom wait, whoever sends them."""
METHOD = "open and finite-source classes (CTMC)"


@value_type
class BoundedCaller:
    """The part of a station's load that bounded callers bring (a closed flow's clients, a
    blocking service's workers, a topic's consumer threads), one or several in one class."""

    caller: tuple[str, str]
    """The caller: ("service", name), ("flow", name) or ("handler", topic)."""
    population: int
    """Most of its requests at the station at once (its workers or clients x its calls in
    flight)."""
    arrival_rate: float
    holding: Moments
    """Holding time of its requests at the station (a mixture over the operations)."""
    feeder: Feeder | None = None
    """Where the caller is one thread pool whose requests queue for its threads (its own
    arrivals unbounded): its rates and time away (`models.analysis.pool_fed`)."""
    also: tuple[tuple[str, str], ...] = ()
    """Other bounded callers taken in the same class (`bounds.CallerBounds.bounded_caller`):
    their populations are in `population`, their calls in the rate and the holding time."""
    independent: bool = False
    """Whether every caller of the class is a source that queues nowhere together with the
    others (`bounds.CallerBounds.independent`: a closed flow's clients, a log topic's
    consumers), not a pool whose threads share a queue of their own."""

    @property
    def callers(self) -> tuple[tuple[str, str], ...]:
        """Every caller of the class: `caller`, then `also`."""
        return (self.caller, *self.also)

    def at_replica(self, share: float) -> BoundedCaller:
        """The class at one of the station's replicas picked at random (`share` = 1 /
        replicas of every call): `share` of its calls, its whole population (any replica
        may hold all of it, as `bounds.CallerBounds` bounds each), a pool of its own
        seeing the other replicas as time away (`Feeder.at_replica`)."""
        feeder = None if self.feeder is None else self.feeder.at_replica(share, self.holding.mean)
        return replace(self, arrival_rate=self.arrival_rate * share, feeder=feeder)

    @property
    def label(self) -> str:
        """How a method string names it: "service api: at most 4 present"."""
        names = [
            f"{'consumers of' if kind == 'handler' else kind} {name}" for kind, name in self.callers
        ]
        return f"{' and '.join(names)}: at most {self.population} present"


@dataclass(frozen=True)
class MixedSource:
    """Steady state of the two-class station at the given rates."""

    think_time: float
    """Mean time a bounded source spends away between visits (solved for)."""
    open_waiting: float
    """Mean waiting time of an open request."""
    bounded_waiting: float
    """Mean waiting time of a request of the bounded population."""
    p_wait: float
    """Probability that a request (either kind, by their rates) finds every server busy."""
    busy: tuple[float, ...] = ()
    """P(k servers busy), k = 0..c (empty where the chain was not solved)."""


def phases(servers: int, population: int) -> int:
    """How many (b, i) states one level has: b = 0..N bounded present, i = 0..min(b, c) of
    them in service."""
    low = min(population, servers)
    return (low + 1) * (low + 2) // 2 + (population - low) * (servers + 1)


def worth_splitting(servers: int, offered: float) -> bool:
    """Whether requests wait often enough at a pool of `servers` with this offered load for
    the split by caller to matter (Erlang C at least `SMALLEST_P_WAIT`, below saturation)."""
    return offered < servers and erlang_c(servers, offered) >= SMALLEST_P_WAIT


@dataclass(frozen=True)
class _Chain:
    """The truncated chain: its states, and the banded system of `_stationary` as far as it
    does not depend on Z (everything but the bounded sources' returns, at rates (N - b) / Z,
    and the diagonal, each state's total rate out)."""

    open_present: np.ndarray
    bounded_present: np.ndarray
    bounded_serving: np.ndarray
    bounded_done: np.ndarray
    """Each state's bounded requests in service times their servers' speed (`speed`)."""
    fixed_out: np.ndarray
    """Each state's total rate out by open arrivals and services (the rates given), summed
    in the order of `_chain`'s transitions, the return (last) added to it at each Z."""
    returns: np.ndarray
    """Each state's rate of bounded returns at 1 / Z = 1: N - b (scaled by 1 / Z)."""
    bands: tuple[int, int]
    """(lower, upper) bandwidths of the system."""
    band: np.ndarray
    """The system's matrix, flat, with the open arrivals' and services' rates (in flow into
    their targets) in place: LAPACK's banded storage with `lower` rows above for its
    factors, column by column (`_banded` hands it to LAPACK as it is: no copy); the
    returns and the diagonal go in at each Z."""
    return_entries: np.ndarray
    """Flat positions in `band` of the returns (in flow into their targets) ..."""
    return_sources: np.ndarray
    """... and the states they leave."""
    right: np.ndarray
    """The right-hand side without the return from the first state: minus the rates into
    each state from the first (whose probability is 1), -0.0 where none comes."""
    right_return: np.ndarray
    """The equations that the return from the first state enters (its target's)."""
    work: np.ndarray
    """Room for `band` with the returns and the diagonal, which LAPACK overwrites with its
    factors (`_stationary` fills it again at each Z: one solve at a time)."""


def _chain(
    open_rate: float,
    open_mean: float,
    bounded_mean: float,
    population: int,
    servers: int,
    levels: int,
    speed: np.ndarray,
) -> _Chain:
    c, n = servers, population
    grid = np.indices((levels + 1, n + 1, n + 1)).reshape(3, -1)  # (o, b, i), o first
    everyone = np.minimum(grid[0] + grid[1], c)
    valid = (grid[2] <= np.minimum(grid[1], everyone)) & (grid[2] >= everyone - grid[0])
    o, b, i = grid[:, valid]
    size = len(o)
    index = np.full(valid.shape, -1, dtype=np.int64)
    index[valid] = np.arange(size)
    index = index.reshape(levels + 1, n + 1, n + 1)
    busy = np.minimum(o + b, c)
    pace = speed[busy]  # (each server's speed with `busy` of them busy)
    j = busy - i  # open requests in service
    queued_open, queued_bounded = o - j, b - i
    queued = queued_open + queued_bounded
    share_open = np.where(queued > 0, queued_open / np.maximum(queued, 1), 1.0)
    share_bounded = np.where(queued > 0, queued_bounded / np.maximum(queued, 1), 0.0)
    done_open = j * pace / open_mean
    done_bounded = i * pace / bounded_mean
    returns = (n - b).astype(float)
    # six kinds of transition, a row each, in the order their rates are summed: an open
    # arrival; an open request done, the next from the queue open (i stays) or bounded (i
    # + 1); a bounded one done, the next open (i - 1) or bounded (i stays); a bounded
    # source back (at (N - b) / Z; served at once if a server is free)
    rates = np.empty((6, size))
    rates[0] = open_rate
    np.multiply(done_open, share_open, out=rates[1])
    np.multiply(done_open, share_bounded, out=rates[2])
    np.multiply(done_bounded, share_open, out=rates[3])
    np.multiply(done_bounded, share_bounded, out=rates[4])
    rates[5] = returns
    above_o, below_o = np.minimum(o + 1, levels), np.maximum(o - 1, 0)
    above_b, below_b = np.minimum(b + 1, n), np.maximum(b - 1, 0)
    more_i, less_i = np.minimum(i + 1, n), np.maximum(i - 1, 0)
    enters = np.minimum(np.where(busy < c, i + 1, i), n)
    to = index[
        np.array([above_o, below_o, below_o, o, o, o]),
        np.array([b, b, b, below_b, below_b, above_b]),
        np.array([i, i, more_i, less_i, i, enters]),
    ]
    open_done, bounded_done = j > 0, i > 0
    moves = np.array([o < levels, open_done, open_done, bounded_done, bounded_done, b < n])
    # (the transitions of positive rate, kind by kind, each in the order of its states)
    moving = np.flatnonzero(moves & (rates > 0))
    fixed_count = int(np.count_nonzero(moving < 5 * size))  # (all but the returns)
    sources, targets, rates = moving % size, to.ravel()[moving], rates.ravel()[moving]
    assert (targets >= 0).all()
    # each state's rate out, summed in the order of the transitions (then its return's)
    fixed_out = np.bincount(sources[:fixed_count], rates[:fixed_count], minlength=size)
    # the balance equation of state k: sum_i p_i q_ik - p_k out_k = 0 (row k, column i);
    # state 0's equation is dropped and p_0 = 1 (its column goes to the right-hand side)
    rows, cols = targets - 1, sources - 1
    kept = (rows >= 0) & (cols >= 0)
    below = rows - cols  # (how far below the diagonal)
    lower = int(max(below[kept].max(initial=0), 0))
    upper = int(max((-below[kept]).max(initial=0), 0))
    # (in the column-major storage LAPACK's banded solver works on, `lower` rows padded;
    # no two transitions share a place: each kind moves its state another way)
    height = 2 * lower + upper + 1
    entries = cols * height + lower + upper + below
    band = np.zeros(height * (size - 1))
    band[entries[:fixed_count][kept[:fixed_count]]] = rates[:fixed_count][kept[:fixed_count]]
    right = np.full(size - 1, -0.0)
    first = (rows >= 0) & (cols < 0)  # (from the first state)
    right[rows[:fixed_count][first[:fixed_count]]] = -rates[:fixed_count][first[:fixed_count]]
    return _Chain(
        o,
        b,
        i,
        i * pace,
        fixed_out,
        returns,
        (lower, upper),
        band,
        entries[fixed_count:][kept[fixed_count:]],
        sources[fixed_count:][kept[fixed_count:]],
        right,
        rows[fixed_count:][first[fixed_count:]],
        np.empty_like(band),
    )


def _stationary(chain: _Chain, think: float) -> np.ndarray:
    """The stationary distribution: the balance equations p Q = 0 of every state but the
    first (the empty station), whose probability is set to 1 before normalising. The states
    are ordered by level and a transition moves at most one level, so the system is banded
    (LAPACK's banded solver, in the order of the states). The entries are those, to the
    bit, of `np.bincount` over the whole system at each Z (0.0 + each rate; 0.0 - out on
    the diagonal, out summed in the order of `_chain`'s transitions); `think` > 0."""
    size = len(chain.open_present)
    scaled = chain.returns / think
    out = chain.fixed_out + scaled
    lower, upper = chain.bands
    band = chain.work
    np.copyto(band, chain.band)
    band[chain.return_entries] = scaled[chain.return_sources]
    padded = band.reshape(size - 1, 2 * lower + upper + 1)
    padded[:, lower + upper] = 0.0 - out[1:]
    right = chain.right.copy()
    right[chain.right_return] = -scaled[0]
    p = np.empty(size)
    p[0] = 1.0
    np.maximum(_banded(lower, upper, padded.T, right), 0.0, out=p[1:])
    p /= p.sum()
    return p


def _banded(lower: int, upper: int, padded: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Solve the banded system (`padded` in LAPACK's banded storage, `lower` and `upper`
    diagonals, below `lower` rows for the factors; column-major, so that LAPACK takes it
    without a copy) with LAPACK's banded solver (tridiagonal: its own), as
    `scipy.linalg.solve_banded` does, without its checks and conversions (the two-class
    station solves one system per trial of its root search)."""
    band = padded[lower:]
    if band.shape[1] == 1:
        return np.asarray(right / band[upper, 0])
    if lower == upper == 1:
        *_, solution, info = dgtsv(band[2, :-1], band[1, :], band[0, 1:], right)
    else:
        *_, solution, info = dgbsv(lower, upper, padded, right, overwrite_ab=True)
    if info != 0:
        raise LinAlgError(f"singular matrix (LAPACK info {info})")
    return np.asarray(solution)


def mixed_source(
    open_rate: float,
    open_mean: float,
    bounded_rate: float,
    bounded_mean: float,
    population: int,
    servers: int,
    speed: Sequence[float] | None = None,
) -> MixedSource | None:
    """The two-class station (module docstring) with throughputs λ_O = `open_rate` and
    λ_B = `bounded_rate`; None when it has no steady state at those rates, or when it is
    too large to solve here (`MAX_PHASES`, `MAX_STATES`). `speed`, if given, is each
    server's speed with k = 0..c of them busy (its service rates times speed[k]): a thread
    pool's flow-equivalent server, whose threads complete X(k) / k requests a second each
    with k busy (`models.analysis.bounded_pools`); all 1 if None.

    >>> from models.analysis.finite_source import finite_source
    >>> alone = finite_source(0.8, 1.0, 1, 2)   # M/M/1//2: the bounded population alone
    >>> mixed = mixed_source(0.0, 1.0, 0.8, 1.0, 2, 1)
    >>> round(mixed.bounded_waiting, 9) == round(alone.mean_waiting_time, 9)
    True
    """
    c, n = servers, population
    pace = np.ones(c + 1) if speed is None else np.asarray(speed, dtype=float)
    if len(pace) != c + 1:
        return None
    offered = open_rate * open_mean + bounded_rate * bounded_mean
    levels = chain_levels(open_rate, offered, bounded_rate, n, pace)
    if levels is None:
        return None
    if n <= c and open_rate == 0 and speed is None:
        return MixedSource(n / bounded_rate - bounded_mean, 0.0, 0.0, 0.0)
    chain = _chain(open_rate, open_mean, bounded_mean, n, c, levels, pace)
    solved: dict[float, np.ndarray] = {}  # (brentq asks again for the ends of the bracket)

    def law(log_think: float) -> np.ndarray:
        if log_think not in solved:
            solved[log_think] = _stationary(chain, math.exp(log_think))
        return solved[log_think]

    def excess(log_think: float) -> float:
        return float(law(log_think) @ chain.bounded_done) / bounded_mean - bounded_rate

    fastest = bounded_mean / float(pace[1:].max())  # (a bounded request's shortest stay)
    root = think_root(excess, n / bounded_rate, fastest)
    if root is None:
        return None
    think, p = math.exp(root), law(root)
    o, b, i = chain.open_present, chain.bounded_present, chain.bounded_serving
    if levels and float(p[o >= levels - c].sum()) > 1e3 * TAIL:
        return None  # the truncation would show: nearly saturated
    busy = np.minimum(o + b, c)
    waiting_open = float(p @ (o - (busy - i)))
    waiting_bounded = float(p @ (b - i))
    full = busy >= c
    sources = (n - b) * p
    bounded_wait = float(sources[full].sum() / sources.sum())
    open_wait = float(p[full].sum())
    total = open_rate + bounded_rate
    return MixedSource(
        think_time=think,
        open_waiting=waiting_open / open_rate if open_rate > 0 else 0.0,
        bounded_waiting=waiting_bounded / bounded_rate,
        p_wait=(open_rate * open_wait + bounded_rate * bounded_wait) / total,
        busy=tuple(float(x) for x in np.bincount(busy, weights=p, minlength=c + 1)),
    )


def chain_levels(
    open_rate: float, offered: float, bounded_rate: float, population: int, pace: np.ndarray
) -> int | None:
    """How many open requests present the chain (`mixed_source`, or its product form,
    `bounded_pools.product_form`) holds before its truncation: enough for the geometric tail
    above to weigh `TAIL` (none without open arrivals); None where the chain has no steady
    state at `offered` Erlangs, or would be too large to solve (`MAX_PHASES` per level,
    `MAX_STATES` in all; one level of up to `MAX_STATES` without open arrivals)."""
    c = len(pace) - 1
    largest = MAX_STATES if open_rate == 0 else MAX_PHASES  # (no open class: one level)
    if population < 1 or bounded_rate <= 0 or phases(c, population) > largest:
        return None
    if offered >= c * pace[c]:
        return None
    decay = min(max(offered / (c * pace[c]), 0.5), 1.0 - 1e-9)
    levels = 0 if open_rate == 0 else c + math.ceil(math.log(TAIL) / math.log(decay))
    return None if (levels + 1) * phases(c, population) > MAX_STATES else levels


@dataclass(frozen=True)
class SplitWaits:
    """The two classes' mean waits at the station, and the model that gave them."""

    own: float
    """Mean wait of the bounded caller's requests."""
    others: float
    """Mean wait of everyone else's."""
    p_wait: float
    method: str
    product_form: bool = False
    """Whether the mixed product form over the pool's queue gave them (`pool_fed`), to
    which arrivals in groups add their excess (`stations._two_class`); the chain's take
    them one at a time."""


def split_waits(
    rate: float,
    holding: Moments,
    bounded: BoundedCaller,
    servers: int,
    arrival_scv: float,
) -> SplitWaits | None:
    """The mean waits of the bounded caller's requests and of the others, and P(wait),
    at a station of `servers` with `rate` acquisitions of `holding` in all, of which
    `bounded`'s; None where the model does not apply (the caller's share below
    `SMALLEST_SHARE`; no other requests: the finite-source and flow-equivalent models take
    a pool that one caller alone reaches; no steady state, or too large: `mixed_source`).
    The other requests are
    the open class, their holding time the rest of the mixture (E[S] and E[S^2] less the
    bounded caller's). Where the caller is one thread pool fed by open arrivals (a
    service's, or a queue topic's consumers), the station has one server or both classes
    one mean service (`pool_fed.applies`), the waits are the mixed product form over the
    pool's own queue (`models.analysis.pool_fed`: the CTMC's sources think independently,
    and the station's wait came out 18-31% short, `bench/shared_callee.py`), which takes
    arrivals one at a time: `stations` adds the excess of any that come in groups, as to
    the open formulas (it took the open formulas with that excess instead, and changed
    model as the groups faded in: fuzz seed 4373 deep's rounds cycled); elsewhere the CTMC.
    Either takes each
    class's as exponential, and the waits are scaled by (ca^2 + cs^2) / 2 with cs^2 the
    classes' own SCVs weighted by their load, as Allen and Cunneen scale M/M/c's (exact
    for exponential holding times and Poisson open arrivals, apart from the CTMC's
    random order)."""
    own = bounded.holding
    own_offered = bounded.arrival_rate * own.mean
    offered = rate * holding.mean
    if own_offered < SMALLEST_SHARE * offered or not (holding.finite and own.finite):
        return None
    if not worth_splitting(servers, offered):
        return None
    open_rate = rate - bounded.arrival_rate
    open_offered = offered - own_offered
    if open_offered <= 1e-9 * offered or open_rate <= 1e-9 * rate:
        return None  # (the caller alone: the finite-source and flow-equivalent models)
    square = rate * (holding.variance + holding.mean**2)
    own_square = bounded.arrival_rate * (own.variance + own.mean**2)
    open_mean = open_offered / open_rate
    open_scv = max((square - own_square) / open_rate / open_mean**2 - 1.0, 0.0)
    service_scv = (open_rate * open_mean * open_scv + own_offered * own.scv) / (
        open_rate * open_mean + own_offered
    )
    factor = (arrival_scv + service_scv) / 2.0
    if bounded.feeder is not None and applies(servers, open_mean, own.mean):
        fed = pool_fed_waits(
            open_rate, open_mean, own.mean, bounded.population, bounded.feeder, servers
        )
        if fed is not None:
            pool, others = fed.pool * factor, fed.open * factor
            return SplitWaits(pool, others, fed.p_wait, POOL_FED_METHOD, product_form=True)
    result = mixed_source(
        open_rate, open_mean, bounded.arrival_rate, own.mean, bounded.population, servers
    )
    if result is None:
        return None
    return SplitWaits(
        result.bounded_waiting * factor, result.open_waiting * factor, result.p_wait, METHOD
    )
