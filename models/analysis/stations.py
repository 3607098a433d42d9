"""One station (a pool of servers with a waiting room): which formula, and its prediction.

The choice follows the station's shape and what is known about its arrivals and service:

| station | arrivals | service | formula | exact |
|---|---|---|---|---|
| unlimited servers | any | any | M/G/inf (no waiting) | yes |
| no waiting room | Poisson | any | Erlang B (M/G/c/c, insensitive) | yes |
| finite waiting room | Poisson | exponential | M/M/c/K | yes (else approximation) |
| finite room, 1 server | Poisson | i.i.d. | M/G/1/K (embedded chain) | for own work of known law |
| finite room, c servers | Poisson | i.i.d. | M/PH2/c/K (two phases) | for own H2 or Erlang-2 work |
| priority classes, 1 server | Poisson | any | Cobham M/G/1 | yes |
| priority classes, c servers | Poisson | exponential, one mean | Cobham M/M/c | yes |
| 1 server | Poisson | any i.i.d. | M/G/1 (Pollaczek-Khinchine) | yes |
| 1 server | Erlang-k (round robin of Poisson) | exponential | E_k/M/1 | yes |
| c servers | Poisson | exponential | M/M/c (Erlang C) | yes |
| 2-64 servers, own work | Poisson | SCV cs² > 1, as H2 | M/H2/c (matrix-geometric) | for H2 |
| otherwise | SCV ca² | SCV cs² | Allen-Cunneen G/G/c | no |
| FIFO, in groups | groups | any | above + (M^X/M/c - M/M/c) | no |

A station that only bounded populations reach (closed flows' clients and log topics'
consumers, at any number; pools' threads at most `FINITE_SOURCE_REACH` x its servers) is
the finite-source M/M/c//M (`models.analysis.finite_source`; never waits when the
population fits its servers); one where bounded callers with few workers, clients or
consumers bring much of the load among open arrivals, and requests wait often, is a
two-class CTMC (`models.analysis.mixed_source`: their requests and the rest wait
differently); a thread pool over its callees is re-solved later as a flow-equivalent server
(`models.analysis.layers`). Operations with different holding times at one station make a
mixture (its mean and SCV). A station whose offered load reaches its number of servers
has no steady state (unless its waiting room is finite): it is reported unstable, with
infinite waiting; one whose service time has infinite variance is stable with an infinite
mean wait.

Retries feed attempts back to a station: when they repeat the callee's own failures
(independent of its queue), the network stays product-form (BCMP), so the exponential FIFO
formulas (M/M/1, M/M/c) remain exact at the total attempt rate; every other formula, and
other retries (after timeouts, drops, rejections), are then approximations.
"""

from __future__ import annotations

import math

from models.analysis.departure_streams import DepartureGaps, departures_station
from models.analysis.finite_rooms import finite_room_station
from models.analysis.finite_source import finite_source
from models.analysis.group_waits import GROUPS_NOTE, group_excess, in_groups
from models.analysis.least_outstanding import joins_shortest, shortest_queue, without_pooled
from models.analysis.mixed_source import BoundedCaller, split_waits
from models.analysis.moments import (
    INFINITE,
    ZERO,
    Moments,
    mixture,
    waiting_moments,
)
from models.analysis.renewal_streams import renewal_station
from models.analysis.smooth_arrivals import erlang_arrivals_station, reacquired_in_turn
from models.analysis.station_load import ClassLoad, PoolMix, StationLoad, StationSolution
from models.analysis.summary import COPY, NOT_POISSON
from models.analysis.variable_service import many_servers
from models.analysis.work_laws import mixed_third_moment
from models.distributions import Distribution
from models.theory import (
    gi_m1_erlang_arrivals,
    mg1,
    mg1_priority_nonpreemptive,
    mg1_waiting_second_moment,
    mmc,
    mmc_priority_nonpreemptive,
)
from models.theory.prediction import StationPrediction
from models.theory.renewal_arrivals import LARGEST_POOL

FINITE_SOURCE_REACH = 2
"""A station that only bounded callers reach, at most this many times its servers of them
(sources that queue nowhere together at any number: `StationLoad.independent`), is the
finite-source M/M/c//M. On the regression set (docs/analysis.md §11.1), up to 2c: Sock
Shop's zipkin-db (behind a consumer group) waits 0.0193 ms predicted and simulated, 0.054
by the open formula; at 4c the forwarding chain at 95% goes from 1.5% to 17.6%: pools fed
by open arrivals queue requests of their own and send calls in bursts when busy, which
independent exponential think times miss (its ledger: 8 callers on 2 servers)."""
SAME_MEAN = 1e-9


def _common_mean(classes: tuple[ClassLoad, ...]) -> float | None:
    """The exponential mean all `classes` share (to within `SAME_MEAN`); None unless every
    class's holding time is one exponential step and their means agree."""
    means = {c.exponential_mean for c in classes}
    if len(means) != 1:
        first = next(iter(means)) if means else None
        if first is None or any(
            m is None or not math.isclose(m, first, rel_tol=SAME_MEAN) for m in means
        ):
            return None
    return next(iter(means))


def _common_law(classes: tuple[ClassLoad, ...]) -> tuple[float, float] | None:
    """The hyperexponential (mean, cv) every class's holding time is, if they share one."""
    laws = {c.hyperexponential for c in classes}
    return next(iter(laws)) if len(laws) == 1 else None


def _mix(load: StationLoad) -> PoolMix:
    """The classes of `load` that have arrivals, taken together (one class, most pools:
    its own rate, mean, law, i.i.d. and exactness, without the sums and sets that agree
    them; its holding time and E[S^3] through the mixtures of one part)."""
    classes = tuple([c for c in load.classes if c.arrival_rate > 0])
    if len(classes) == 1:
        (only,) = classes
        rate = only.arrival_rate  # (`math.fsum` of one positive rate: that rate)
        holding = mixture([(rate, only.holding)])
        third = mixed_third_moment([(rate, only.third_moment)])
        exponential, law = only.exponential_mean, only.hyperexponential
        iid, holding_exact = only.iid, only.holding_exact
    else:
        rate = math.fsum([c.arrival_rate for c in classes])
        holding = mixture([(c.arrival_rate, c.holding) for c in classes]) if classes else ZERO
        third = mixed_third_moment([(c.arrival_rate, c.third_moment) for c in classes])
        exponential = _common_mean(classes) if classes else None
        law = _common_law(classes)
        iid = all([c.iid for c in classes])
        holding_exact = all([c.holding_exact for c in classes])
    return PoolMix(
        classes=classes,
        rate=rate,
        holding=holding,
        exponential=exponential,
        hyperexponential=law,
        third_moment=third,
        iid=iid,
        holding_exact=holding_exact,
        poisson=load.input_flag >= COPY and load.erlang_phases is None,
    )


def _fifo(
    classes: tuple[ClassLoad, ...], prediction: StationPrediction, square: float | None = None
) -> dict[int, Moments]:
    """Every class's waiting moments at a FIFO pool: E[Wq^2] = `square` where it is known,
    else a wait of 0 or exponential (`waiting_moments`, exact for M/M/c)."""
    wait = waiting_moments(prediction.mean_waiting_time, prediction.p_wait)
    if square is not None and wait.finite and wait.mean > 0:
        wait = Moments(wait.mean, max(square - wait.mean**2, 0.0))
    return {c.priority: wait for c in classes}


def solve_station(load: StationLoad) -> StationSolution:
    """Pick the formula for `load` and apply it (see the module docstring)."""
    mix = _mix(load)
    if mix.rate == 0 or mix.holding.mean == 0 or load.servers is None:
        return _without_queue(load, mix)
    servers = load.servers
    if not mix.holding.finite or (load.room is None and mix.offered >= servers):
        return _saturated(
            _method_name(load, mix),
            mix,
            throughput=servers / mix.holding.mean if mix.holding.finite else 0.0,
            loss=0.0 if load.room is None else 1.0,
        )
    if load.paced:
        return _never_waits(load, mix, "paced arrivals: never waits")
    bounded = load.population is not None and (
        load.room is None or load.population <= servers + load.room
    )
    few = (load.population or 0) <= FINITE_SOURCE_REACH * servers
    if bounded and (load.closed or load.independent or few):
        return _finite_source(load, mix)
    if load.room is not None:
        return finite_room_station(load, mix)
    if load.priority and len({c.priority for c in mix.classes}) > 1:
        return _priority(load, mix)
    if not math.isfinite(mix.holding.scv):
        return _infinite_variance(load, mix)
    two_class = None if load.bounded is None else _two_class(load, load.bounded, mix)
    return _open_fifo(load, mix) if two_class is None else two_class


def _two_class(load: StationLoad, bounded: BoundedCaller, mix: PoolMix) -> StationSolution | None:
    """A blocking caller with few workers among open arrivals (`models.analysis.
    mixed_source`): its requests wait otherwise than the rest; None where it does not
    apply. Arrivals in groups add their excess (`group_excess`) to the product form over
    the pool's queue, as to the open formulas, so that the wait follows the groups as they
    fade in with their senders' bound (`fan_out.seldom_bound`); the chain takes them one
    at a time (docs/analysis.md sec. 12)."""
    assert load.servers is not None
    waits = split_waits(mix.rate, mix.holding, bounded, load.servers, load.arrival_scv)
    if waits is None:
        return None
    own, others, p_wait = waits.own, waits.others, waits.p_wait
    method = waits.method
    if load.groups is not None and waits.product_form:
        excess = group_excess(load.groups, load.servers, mix.holding.mean)
        if excess is None:
            return None
        own, others = own + excess[0], others + excess[0]
        p_wait = min(max(p_wait + excess[1], 0.0), 1.0)
        method = f"{method} + {GROUPS_NOTE}"
    mean = (bounded.arrival_rate * own + (mix.rate - bounded.arrival_rate) * others) / mix.rate
    wait = waiting_moments(mean, p_wait)
    return StationSolution(
        method=_noted(f"{method} ({bounded.label})", load),
        exact=False,
        stable=True,
        saturated=False,
        arrival_rate=mix.rate,
        offered_load=mix.offered,
        utilization=mix.offered / load.servers,
        throughput=mix.rate,
        loss=0.0,
        p_wait=p_wait,
        waiting={c.priority: wait for c in mix.classes},
        caller_waiting=(bounded.callers, own, others),
    )


def _without_queue(load: StationLoad, mix: PoolMix) -> StationSolution:
    """No load, or unlimited servers (M/G/inf): nobody ever waits."""
    idle = mix.rate == 0 or mix.holding.mean == 0
    return StationSolution(
        method="no load" if idle else ("M/M/inf" if mix.exponential else "M/G/inf"),
        exact=idle or mix.holding_exact,
        stable=True,
        saturated=False,
        arrival_rate=mix.rate,
        offered_load=0.0 if idle else mix.offered,
        utilization=0.0,
        throughput=mix.rate,
        loss=0.0,
        p_wait=0.0,
        waiting={c.priority: ZERO for c in load.classes},
        departure_flag=load.input_flag if mix.iid and not load.feedback else NOT_POISSON,
    )


def _never_waits(load: StationLoad, mix: PoolMix, why: str) -> StationSolution:
    """A pool where no request ever waits, for the reason `why` (its method): at most as
    many present as servers (finite source), or arrivals paced by one server upstream,
    each at least a longest hold over the servers after the last (`models.analysis.paced`;
    both sample-path facts)."""
    exact = mix.holding_exact and not load.note
    return _stable_alike(load, mix, _noted(why, load), exact, 0.0, ZERO)


def _stable_alike(
    load: StationLoad,
    mix: PoolMix,
    method: str,
    exact: bool,
    p_wait: float | None,
    wait: Moments,
    infinite_variance: bool = False,
) -> StationSolution:
    """A stable pool whose every class waits `wait`, its throughput its arrivals."""
    assert load.servers is not None
    return StationSolution(
        method=method,
        exact=exact,
        stable=True,
        saturated=False,
        arrival_rate=mix.rate,
        offered_load=mix.offered,
        utilization=min(mix.offered / load.servers, 1.0),
        throughput=mix.rate,
        loss=0.0,
        p_wait=p_wait,
        waiting={c.priority: wait for c in mix.classes},
        infinite_variance=infinite_variance,
    )


def _saturated(method: str, mix: PoolMix, throughput: float, loss: float) -> StationSolution:
    """No steady state: every server busy, waiting without end."""
    return StationSolution(
        method=method,
        exact=False,
        stable=False,
        saturated=True,
        arrival_rate=mix.rate,
        offered_load=mix.offered,
        utilization=1.0,
        throughput=throughput,
        loss=loss,
        p_wait=1.0,
        waiting={c.priority: INFINITE for c in mix.classes},
    )


def _infinite_variance(load: StationLoad, mix: PoolMix) -> StationSolution:
    """Stable, but a service time of infinite variance makes the mean wait infinite."""
    method = _method_name(load, mix) + " (infinite service variance)"
    return _stable_alike(load, mix, method, False, None, INFINITE, infinite_variance=True)


def _open_fifo(load: StationLoad, mix: PoolMix) -> StationSolution:
    """An unbounded FIFO pool in steady state: M/G/1, E_k/M/1, M/M/c or Allen-Cunneen."""
    assert load.servers is not None
    servers, rate, holding, phases = load.servers, mix.rate, mix.holding, load.erlang_phases
    prediction: StationPrediction
    product_form = load.feedback == 0 or (load.feedback == 1 and bool(mix.exponential))
    square = None  # E[Wq^2], where the formula gives it
    if servers == 1 and mix.poisson:
        scv = 1.0 if mix.exponential else holding.scv
        prediction = mg1(rate, holding.mean, scv)
        method = "M/M/1" if mix.exponential else prediction.method
        exact = mix.iid and product_form
        if mix.third_moment is not None and not load.feedback and mix.iid:
            square = mg1_waiting_second_moment(rate, holding.mean, scv, mix.third_moment)
    elif servers == 1 and phases is not None and mix.exponential and load.input_flag >= COPY:
        prediction = gi_m1_erlang_arrivals(rate, 1.0 / holding.mean, phases)
        method, exact = prediction.method, load.feedback == 0
    elif (dealt := _dealt_in_turn(load, mix)) is not None:
        prediction = dealt
        method, exact = prediction.method, prediction.exact and load.feedback == 0
    elif mix.poisson and mix.exponential:
        prediction = mmc(rate, 1.0 / holding.mean, servers)
        method, exact = prediction.method, product_form
    elif (departing := _departures(load, mix)) is not None:
        prediction, method, exact = departing, departing.method, False
    elif (
        isinstance(law := load.interarrival, Distribution)
        and mix.exponential
        and servers <= LARGEST_POOL
    ):
        prediction = renewal_station(law, rate, 1.0 / holding.mean, servers)
        method, exact = prediction.method, load.feedback == 0
    else:
        arrival_scv = 1.0 / phases if phases is not None else max(load.arrival_scv, 0.0)
        own_work, third = mix.iid and not _reacquired(mix), mix.third_moment
        reacquired = None  # (an async pool dealt in turn: from Poisson acquisitions)
        if phases is not None and _reacquired(mix) and load.input_flag >= COPY:
            poisson = many_servers(rate, holding, servers, 1.0, own_work, third)
            reacquired = reacquired_in_turn(poisson, holding, servers, phases)
        prediction = reacquired or many_servers(
            rate, holding, servers, arrival_scv, own_work, third
        )
        method = prediction.method
        exact = prediction.exact and mix.poisson and bool(mix.hyperexponential)
        exact = exact and not load.feedback
    exact = exact and mix.holding_exact and not load.note
    note = load.note
    if prediction.stable and joins_shortest(load.least_outstanding, servers):
        prediction = shortest_queue(prediction, mix, servers, load.least_outstanding)
        method, note, square = prediction.method, without_pooled(note), None
    if load.groups is not None and prediction.stable:
        prediction = in_groups(load.groups, servers, mix, prediction)
        method, exact, square = prediction.method, False, None
    fifo_exponential = exact and method in ("M/M/1", "M/M/c (Erlang C)") and not load.feedback
    return StationSolution(
        method=f"{method}, {note}" if note else method,
        exact=exact,
        stable=prediction.stable,
        saturated=not prediction.stable,
        arrival_rate=rate,
        offered_load=mix.offered,
        utilization=prediction.utilization,
        throughput=prediction.throughput,
        loss=0.0,
        p_wait=prediction.p_wait,
        waiting=_fifo(mix.classes, prediction, square),
        departure_flag=load.input_flag if fifo_exponential else NOT_POISSON,
        mm1=fifo_exponential and servers == 1,
    )


def _departures(load: StationLoad, mix: PoolMix) -> StationPrediction | None:
    """A pool of exponential servers fed one server's departures
    (`models.analysis.departure_streams`); None otherwise."""
    gaps, servers = load.interarrival, load.servers
    if not isinstance(gaps, DepartureGaps) or servers is None or load.feedback:
        return None
    if not mix.exponential:  # (other work: docs/analysis.md sec. 4.1, not taken)
        return None
    return departures_station(gaps, mix.rate, mix.holding.mean, servers)


def _dealt_in_turn(load: StationLoad, mix: PoolMix) -> StationPrediction | None:
    """E_k/M/c, or E_k/G/c from it (`models.analysis.smooth_arrivals`), for a pool that
    round-robin balancing deals every k-th request of a Poisson stream, each holding a
    server once for its own i.i.d. work; None otherwise (a pool re-acquired after
    replies, whose acquisitions are not dealt in turn, or one held through calls: the
    flow-equivalent server of `models.analysis.pools` scales it)."""
    phases, servers = load.erlang_phases, load.servers
    if phases is None or servers is None or load.input_flag < COPY:
        return None
    if _reacquired(mix) or not (mix.exponential or mix.iid):
        return None
    return erlang_arrivals_station(mix.rate, mix.holding, servers, phases, bool(mix.exponential))


def _reacquired(mix: PoolMix) -> bool:
    """Whether the pool is acquired again after replies (async I/O: more acquisitions than
    fresh arrivals)."""
    return any(c.arrival_rate > c.fresh_rate * (1.0 + 1e-9) for c in mix.classes)


def _noted(method: str, load: StationLoad) -> str:
    return f"{method}, {load.note}" if load.note else method


def _method_name(load: StationLoad, mix: PoolMix) -> str:
    """The formula's name for a station without steady state (nothing computed)."""
    markovian = mix.poisson and mix.exponential
    if load.servers == 1:
        return _noted("M/M/1" if markovian else "M/G/1 (Pollaczek-Khinchine)", load)
    return _noted("M/M/c (Erlang C)" if markovian else "Allen-Cunneen G/G/c", load)


def _priority(load: StationLoad, mix: PoolMix) -> StationSolution:
    """Cobham's non-preemptive priority formulas, one class per flow priority."""
    assert load.servers is not None
    classes = mix.classes
    levels = sorted({c.priority for c in classes})
    rates = [math.fsum(c.arrival_rate for c in classes if c.priority == p) for p in levels]
    moments = [
        mixture((c.arrival_rate, c.holding) for c in classes if c.priority == p) for p in levels
    ]
    if load.servers == 1:
        result = mg1_priority_nonpreemptive(
            rates, [m.mean for m in moments], [min(m.scv, 1e12) for m in moments]
        )
        exact = mix.poisson and mix.iid and all(math.isfinite(m.scv) for m in moments)
    else:
        result = mmc_priority_nonpreemptive(rates, 1.0 / mix.holding.mean, load.servers)
        exact = mix.poisson and mix.exponential is not None
    exact = exact and not load.feedback
    method = result.method
    if not exact:
        method += " (approximation)"
    waiting = {
        level: waiting_moments(c.mean_waiting_time, c.p_wait) if c.stable else INFINITE
        for level, c in zip(levels, result.classes, strict=True)
    }
    return StationSolution(
        method=_noted(method, load),
        exact=exact and mix.holding_exact and not load.note,
        stable=result.stable,
        saturated=not result.stable,
        arrival_rate=mix.rate,
        offered_load=mix.offered,
        utilization=min(result.utilization, 1.0),
        throughput=math.fsum(c.throughput for c in result.classes),
        loss=0.0,
        p_wait=result.classes[0].p_wait,
        waiting=waiting,
    )


def _finite_source(load: StationLoad, mix: PoolMix) -> StationSolution:
    """M/M/c//M: never more than `population` requests present (the callers' workers or a
    closed flow's clients); non-exponential service scales the wait by (1 + cs²) / 2."""
    assert load.servers is not None and load.population is not None
    servers, population = load.servers, load.population
    offered = mix.offered
    base = f"finite-source M/M/c//M (at most {population} present)"
    if population <= servers:
        return _never_waits(load, mix, f"finite source (at most {population} present: never waits)")
    result = finite_source(mix.rate, mix.holding.mean, servers, population)
    if result is None:
        return _saturated(_noted(base, load), mix, throughput=servers / mix.holding.mean, loss=0.0)
    factor = 1.0 if mix.exponential else (1.0 + mix.holding.scv) / 2.0
    if not mix.exponential:
        base += " (two-moment approximation)"
    wait = waiting_moments(result.mean_waiting_time * factor, result.p_wait)
    return StationSolution(
        method=_noted(base, load),
        exact=False,
        stable=True,
        saturated=False,
        arrival_rate=mix.rate,
        offered_load=offered,
        utilization=offered / servers,
        throughput=mix.rate,
        loss=0.0,
        p_wait=result.p_wait,
        waiting={c.priority: wait for c in mix.classes},
    )
