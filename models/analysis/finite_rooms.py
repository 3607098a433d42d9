"""A pool with a finite waiting room whose service is not exponential: one server is
M/G/1/K (`models.theory.finite_room.mg1k`), several are the two-phase chain M/PH2/c/K
(`models.theory.finite_room.mph2ck`).

The M/G/1/K chain needs a_k = P(k arrivals during one holding time). Where every operation
of the pool is one `work` step (its holding time is that work) of a known law (in closed
form: constant, exponential, Erlang, gamma, uniform, hyperexponential, empirical; by
quadrature: lognormal, Weibull, Pareto; `arrivals_during`), the a_k are exact: a mixture of
operations mixes their a_k by acquisitions. Otherwise a gamma law with the same two
moments stands in for the holding time (an approximation).

Several servers hold for a two-phase law with the holding time's mean and SCV
(`two_phase_fit`): exact where that is the law (a `hyperexponential` work step, Erlang-2,
the same for every operation), a two-moment fit otherwise; below SCV 1/2 (constant work,
say) two phases cannot go, and the fit takes SCV 1/2 (an approximation: 2 workers, a room
of 6, constant 20 ms at 90/s wait 22.1 ms predicted against 20.1 simulated and lose 5.7%
against 3.4%, where M/M/2/8 with its wait scaled said 11.7 ms and 7.7%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from models.analysis.moments import ZERO, Moments, waiting_moments
from models.analysis.station_load import ClassLoad, PoolMix, StationLoad, StationSolution
from models.distributions import (
    Constant,
    Distribution,
    Erlang,
    Exponential,
    Gamma,
    Hyperexponential,
    Lognormal,
    Pareto,
    Uniform,
    Weibull,
)
from models.empirical import Empirical
from models.theory import erlang_b, mmck
from models.theory.erlang_room import (
    ENOUGH_PHASES,
    merlang_ck,
    merlang_ck_extrapolated,
    mixed_erlang_fit,
    phase_count,
)
from models.theory.finite_room import (
    arrivals_during_gamma,
    arrivals_during_lognormal,
    arrivals_during_pareto,
    arrivals_during_uniform,
    arrivals_during_values,
    arrivals_during_weibull,
    mg1k,
    mph2ck,
)
from models.theory.prediction import StationPrediction

METHOD = "M/G/1/K (embedded chain)"
GAMMA_FIT_NOTE = "service time as a gamma law of its mean and SCV (approximation)"
PHASES_METHOD = "M/PH2/c/K (two-phase service)"
PHASE_FIT_NOTE = "service time as two phases of its mean and SCV (approximation)"
LOWEST_TWO_PHASE_SCV = 0.5
"""The least SCV two phases have (Erlang-2)."""
ERLANG_FIT_NOTE = "service time as Erlang phases of its mean and SCV (approximation)"
EXTRAPOLATED_NOTE = (
    "the chains of as many Erlang phases as they hold, extrapolated to the service time's "
    "SCV (approximation)"
)


def arrivals_during(law: Distribution, rate: float, count: int) -> list[float] | None:
    """a_0 .. a_{count-1} for Poisson arrivals at `rate` during a time of law `law`: in
    closed form, by Gauss quadrature for lognormal, Weibull and Pareto laws, as the average
    over its values for an empirical one (None for a law not known here)."""
    if isinstance(law, Constant):
        return arrivals_during_gamma(rate, law.value, 0.0, count) if law.value > 0 else None
    if isinstance(law, Exponential | Erlang | Gamma):
        return arrivals_during_gamma(rate, law.mean, law.scv, count)
    if isinstance(law, Uniform):
        return arrivals_during_uniform(rate, law.low, law.high, count)
    if isinstance(law, Lognormal):
        return arrivals_during_lognormal(rate, law.mu, law.sigma, count)
    if isinstance(law, Weibull):
        return arrivals_during_weibull(rate, law.scale, law.shape, count)
    if isinstance(law, Pareto):
        return arrivals_during_pareto(rate, law.scale, law.alpha, count)
    if isinstance(law, Empirical):
        return arrivals_during_values(rate, law.values, count)
    if isinstance(law, Hyperexponential):
        parts = [arrivals_during_gamma(rate, mean, 1.0, count) for mean in law.phase_means]
        return [
            math.fsum(p * part[k] for p, part in zip(law.probabilities, parts, strict=True))
            for k in range(count)
        ]
    return None


def _mixed_arrivals(classes: Sequence[ClassLoad], rate: float, count: int) -> list[float] | None:
    """The a_k of the pool's holding time from its operations' laws (by acquisitions), or
    None where one that has acquisitions has no known law."""
    weighted: list[tuple[float, list[float]]] = []
    for load in classes:
        if load.laws is None:
            return None
        for weight, law in load.laws:
            if weight <= 0:
                continue
            found = arrivals_during(law, rate, count)
            if found is None:
                return None
            weighted.append((weight, found))
    total = math.fsum(weight for weight, _ in weighted)
    if total <= 0:
        return None
    return [math.fsum(w * a[k] for w, a in weighted) / total for k in range(count)]


def one_server_room(
    classes: Sequence[ClassLoad], rate: float, holding: Moments, room: int
) -> tuple[StationPrediction, bool] | None:
    """The pool of one server and a waiting room of `room` (>= 1) with `rate` Poisson
    acquisitions per second of `holding` in all, by M/G/1/K; and whether its a_k are the
    exact ones (the operations' laws) rather than a gamma law's. None where neither can
    be had (a law without a_k and an infinite variance)."""
    capacity = room + 1
    exact = _mixed_arrivals(classes, rate, capacity - 1)
    if exact is not None:
        return mg1k(rate, holding.mean, exact, capacity, METHOD), True
    if not math.isfinite(holding.scv):
        return None  # (no gamma law has infinite variance)
    fitted = arrivals_during_gamma(rate, holding.mean, holding.scv, capacity - 1)
    return mg1k(rate, holding.mean, fitted, capacity, f"{METHOD}, {GAMMA_FIT_NOTE}"), False


def several_server_room(
    classes: Sequence[ClassLoad],
    rate: float,
    holding: Moments,
    servers: int,
    room: int,
) -> tuple[StationPrediction, bool] | None:
    """The pool of `servers` (>= 2) and a waiting room of `room` (>= 1) with `rate`
    Poisson acquisitions per second of `holding`, by the two-phase chain; and whether the
    two phases are the holding time's own law (`_two_phase_work`). None where the chain
    is too large (`MAX_PHASE_STATES`)."""
    if not math.isfinite(holding.scv):
        return None  # (no two-phase law has infinite variance)
    if holding.scv < LOWEST_TWO_PHASE_SCV:
        steady = _erlang_room(classes, rate, holding, servers, room)
        if steady is not None:
            return steady
    scv = max(holding.scv, LOWEST_TWO_PHASE_SCV)
    own = _two_phase_work(classes)
    method = PHASES_METHOD if own else f"{PHASES_METHOD}, {PHASE_FIT_NOTE}"
    found = mph2ck(rate, holding.mean, scv, servers, servers + room, method)
    return None if found is None else (found, own)


def _erlang_room(
    classes: Sequence[ClassLoad], rate: float, holding: Moments, servers: int, room: int
) -> tuple[StationPrediction, bool] | None:
    """The pool of `several_server_room` with a holding time of SCV below 1/2, by the
    chain of Erlang phases (`erlang_room.merlang_ck`): as many phases as the SCV needs
    (Erlang-(k-1) and Erlang-k mixed), or, where the chain cannot hold them (a constant
    needs infinitely many), the chains of the most phases it holds extrapolated to the
    SCV (`erlang_room.merlang_ck_extrapolated`); and whether the phases are the holding
    time's own law (an Erlang-k `work`). None where not even three phases fit."""
    capacity = servers + room
    law = _single_law(classes)
    needed: int | None = None  # (None: more than any chain holds, a constant)
    fewer, scv = 0.0, holding.scv
    if isinstance(law, Erlang):  # (its own phases: the fit's p is 0 only to rounding)
        needed, scv = law.k, 1.0 / law.k
    elif holding.scv > 1.0 / ENOUGH_PHASES:
        needed, fewer, _ = mixed_erlang_fit(holding.mean, holding.scv)
    phases = phase_count(servers, capacity, needed or ENOUGH_PHASES)
    if phases is None:
        return None
    if needed is None or phases < needed:
        found = merlang_ck_extrapolated(rate, holding.mean, scv, servers, capacity)
        if found is None:
            return None
        station, used = found
        method = f"M/E_k/c/K ({used[0]}-{used[-1]} Erlang phases), {EXTRAPOLATED_NOTE}"
        return replace(station, method=method), False
    own = isinstance(law, Erlang)
    method = f"M/E_k/c/K ({phases} Erlang phases)"
    if not own:
        method = f"{method}, {ERLANG_FIT_NOTE}"
    solved = merlang_ck(rate, holding.mean, phases, fewer, servers, capacity, method)
    return None if solved is None else (solved, own)


def _single_law(classes: Sequence[ClassLoad]) -> Distribution | None:
    """The law of every operation with acquisitions, where all are one `work` step of
    one and the same law; else None."""
    laws: set[Distribution] = set()
    for load in classes:
        if load.laws is None:
            return None
        laws.update(law for weight, law in load.laws if weight > 0)
    return next(iter(laws)) if len(laws) == 1 else None


def _two_phase_work(classes: Sequence[ClassLoad]) -> bool:
    """Whether every operation with acquisitions is one `work` step of one law that two
    phases are exactly: a hyperexponential (of balanced means, as `two_phase_fit`'s) or
    an Erlang-2."""
    law = _single_law(classes)
    return isinstance(law, Hyperexponential) or (isinstance(law, Erlang) and law.k == 2)


def finite_room_station(load: StationLoad, mix: PoolMix) -> StationSolution:
    """A pool with a finite waiting room: Erlang B (no room), M/M/c/K (exponential
    service), else M/G/1/K (one server) or M/PH2/c/K (several; where the chain is too
    large, M/M/c/K with its wait scaled by (ca² + cs²) / 2); reacquisitions skip the room
    check (approximated)."""
    assert load.servers is not None and load.room is not None
    servers, classes, holding = load.servers, mix.classes, mix.holding
    offered = mix.offered
    reacquiring = any(c.fresh_rate != c.arrival_rate for c in classes)
    notes = [load.note] if load.note else []
    if load.room == 0:
        loss = erlang_b(servers, offered)
        method, exact = "Erlang B (M/G/c/c)", mix.poisson
        p_wait: float | None = 0.0
        waiting = {c.priority: ZERO for c in classes}
    elif mix.exponential is None and (
        found := one_server_room(classes, mix.rate, holding, load.room)
        if servers == 1
        else several_server_room(classes, mix.rate, holding, servers, load.room)
    ):  # (M/G/1/K, M/PH2/c/K)
        prediction, known_law = found
        loss, method = prediction.loss_probability, prediction.method
        exact = mix.poisson and known_law and mix.iid
        p_wait = prediction.p_wait
        wait = prediction.mean_waiting_time
        if not mix.poisson:
            wait *= (_arrival_scv(load) + holding.scv) / (1.0 + holding.scv)
            notes.append("waiting scaled by (ca² + cs²) / (1 + cs²) (approximation)")
        waiting = {c.priority: waiting_moments(wait, p_wait) for c in classes}
    else:
        prediction = mmck(mix.rate, 1.0 / holding.mean, servers, servers + load.room)
        loss, method = prediction.loss_probability, prediction.method
        exact = mix.poisson and mix.exponential is not None
        p_wait = prediction.p_wait
        waiting = {
            c.priority: waiting_moments(prediction.mean_waiting_time, prediction.p_wait)
            for c in classes
        }
        if not exact:
            arrival_scv = _arrival_scv(load)
            service_scv = 1.0 if mix.exponential else holding.scv
            factor = (max(arrival_scv, 0.0) + service_scv) / 2.0
            notes.append("waiting scaled by (ca² + cs²) / 2 as in Allen-Cunneen (approximation)")
            wait = prediction.mean_waiting_time * factor
            waiting = {c.priority: waiting_moments(wait, prediction.p_wait) for c in classes}
    if not mix.poisson and load.room == 0:
        notes.append("approximation: arrivals not Poisson")
    if load.priority and len({c.priority for c in classes}) > 1:
        notes.append("priorities ignored (approximation)")
        exact = False
    if reacquiring:
        notes.append("reacquisitions counted as arrivals (approximation)")
        exact = False
    if load.feedback:
        exact = False
    exact = exact and mix.holding_exact and not load.note
    throughput = mix.rate * (1.0 - loss)
    return StationSolution(
        method=", ".join([method, *notes]) if notes else method,
        exact=exact,
        stable=True,
        saturated=offered >= servers,
        arrival_rate=mix.rate,
        offered_load=offered,
        utilization=min(throughput * holding.mean / servers, 1.0),
        throughput=throughput,
        loss=loss,
        p_wait=p_wait,
        waiting=waiting,
    )


def _arrival_scv(load: StationLoad) -> float:
    """The arrivals' SCV: 1/k for Erlang-k arrivals, else the load's own."""
    return 1.0 / load.erlang_phases if load.erlang_phases else load.arrival_scv
