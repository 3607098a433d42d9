"""A pool whose arrivals are every k-th of a Poisson stream: E_k/M/c exactly, and the
service's variability measured from there.

Round-robin balancing deals a Poisson stream out to k replicas (or a log topic's
partitions to k consumers) in turn, so each sees every k-th arrival: gaps of Erlang-k, SCV
1/k. With exponential service that is the E_k/M/c queue, solved exactly
(`models.theory.gi_m_c` with the Erlang transform (kλ / (kλ + s))^k, λ the pool's own
rate). Allen-Cunneen, which scales M/M/c's wait by (ca² + cs²)/2, misses it by far below
heavy load: 3 replicas of 4 exponential workers at 50% wait 0.290 ms exactly, 0.287 ms
(0.277-0.296) simulated, where Allen-Cunneen said 0.580 ms.

With other work of SCV cs² ≤ 1 the exact E_k/M/c wait is the anchor, scaled by the
service's variability as Allen-Cunneen scales (ca² + cs²)/(ca² + 1), and by the ratio of
Kraemer and Langenbach-Belz's correction for smooth arrivals at that SCV and at 1 (the
exponential's, already in the anchor), g(x) = exp(−2 (1 − ρ)(1 − ca²)² / (3 ρ (ca² + x)))
(Kraemer & Langenbach-Belz, "Approximate formulae for the delay in the queueing system
GI/G/1", 8th International Teletraffic Congress, 1976; as QNA takes it: Whitt, "The
queueing network analyzer", Bell System Technical Journal 62(9), 1983, eq. 45):

    Wq ≈ Wq(E_k/M/c) (ca² + cs²) / (ca² + 1) g(cs²) / g(1).

Measured against the simulator (`archsim run`, 6 replications of 300 s) on 2 and 3
replicas of 2, 4 and 8 workers with exponential, gamma (cv 0.5) and constant work of
10 ms at 50% and 80%: a median error of 1.7% (at 80% at most 23%, constant work on 8
workers), where Allen-Cunneen's was 48% (at 80% up to 85%). The largest misses are
constant work on many servers at half load, where the wait is a few microseconds of a
10 ms service. Service SCVs above 1 keep the formulas of `models.analysis.variable_service`.
A pool held through its calls, solved as a flow-equivalent server, has its wait scaled
the same way from Poisson arrivals (`round_robin_scale`).
"""

from __future__ import annotations

import math

from models.analysis.fading import faded
from models.analysis.moments import Moments
from models.analysis.station_load import StationLoad
from models.analysis.summary import COPY
from models.theory import mmc
from models.theory.prediction import StationPrediction, stable_station
from models.theory.renewal_arrivals import LARGEST_POOL, gi_m_c

LARGEST_SCV = 1.0
"""The service SCV up to which the anchored formula is used."""
CALM_BELOW = 0.01
"""A pool held through its calls has its wait scaled for round-robin arrivals only where
its callees make its requests wait less than this share of its holding time (or, for the
open model's population below it, less than this share of that population waits in
queues): else its wait comes from the slow excursions of a queue below, which smooth
arrivals at the top do not shorten (3 replicas of 2 threads over a database of 3 at 66%:
3.02 ms simulated, 3.16 ms unscaled, 1.98 ms scaled; the open three tiers at 95% of
docs/analysis.md sec. 11.1: 4.3% mean error, 18.1% scaled)."""
CALM_BAND = 2.0
"""The scale fades out over a factor `CALM_BAND` either side of `CALM_BELOW` (`calm`)."""


def calm(below: float, scale: float) -> float:
    """How much of a pool's round-robin scale holds (`CALM_BELOW`), from 1 where what waits
    below it is `CALM_BELOW` / `CALM_BAND` of `scale` or less to 0 where it is `CALM_BAND`
    times that or more, log-linear between. A hard threshold made rounds alternate where a
    callee's wait sits at it (fuzz seed 3215 at 80%: 2 round-robin replicas of 16 threads
    calling a pool of 16 twice, whose wait went 0.023 and 0.040 ms, 2 x that below and
    above 1% of the callers' 5.7 ms; 300 unsettled rounds, and a capacity 16% short)."""
    return faded(below, CALM_BELOW * scale, CALM_BAND)


def erlang_arrivals_station(
    rate: float, holding: Moments, servers: int, phases: int, exponential: bool
) -> StationPrediction | None:
    """The pool of `servers` servers, each holding `holding` (`exponential`: exactly
    exponential), with `rate` arrivals per second every `phases`-th of a Poisson stream
    (module docstring); None where it does not apply (`_anchor`)."""
    scv = 1.0 if exponential else holding.scv
    anchor = _anchor(rate, holding, servers, phases, scv)
    if anchor is None or exponential:
        return anchor
    scale = _service_scale(rate * holding.mean / servers, 1.0 / phases, scv)
    return stable_station(
        method=f"E_{phases}/G/{servers}: E_{phases}/M/{servers} scaled by the service SCV "
        "(Allen-Cunneen, Kraemer & Langenbach-Belz)",
        exact=False,
        arrival_rate=rate,
        mean_service_time=holding.mean,
        servers=servers,
        mean_waiting_time=anchor.mean_waiting_time * scale,
        p_wait=anchor.p_wait,
    )


def round_robin_scale(load: StationLoad, rate: float, holding: Moments) -> float | None:
    """What scales the wait of the exponential pool `load` under Poisson arrivals (`rate`
    per second, each holding `holding`) to that of the same pool dealt every k-th request
    of a Poisson stream by round robin: E_k/M/c's wait over M/M/c's at the pool's load,
    times the service's scale (module docstring). For a pool held through its calls,
    solved as a flow-equivalent server (a birth-death chain, Poisson arrivals) whose wait
    Allen-Cunneen's (ca² + cs²)/2 scaled before: 3 replicas of 4 threads, 5 ms of work and
    a 5 ms call each, at 50% waited 0.376 ms predicted, 0.151 ms (0.147-0.155) simulated,
    now 0.159 ms; at 80% 3.14 ms, 2.48 (2.42-2.54), now 2.59. None where the pool is not
    dealt in turn or the formula does not apply (`_anchor`)."""
    phases, servers = load.erlang_phases, load.servers
    if phases is None or servers is None or load.input_flag < COPY:
        return None
    pair = _dealt_and_poisson(rate, holding, servers, phases, holding.scv)
    if pair is None:
        return None
    dealt, poisson = pair
    scale = _service_scale(rate * holding.mean / servers, 1.0 / phases, holding.scv)
    return dealt.mean_waiting_time / poisson.mean_waiting_time * scale


def _anchor(
    rate: float, holding: Moments, servers: int, phases: int, scv: float
) -> StationPrediction | None:
    """E_k/M/c (`gi_m_c` with the transform (k λ / (k λ + s))^k) at the holding time's mean;
    None where the anchored formula does not apply: more than `LARGEST_POOL` servers, a
    service SCV above `LARGEST_SCV`, no holding time, or no steady state."""
    if servers > LARGEST_POOL or phases < 2 or rate <= 0 or scv > LARGEST_SCV:
        return None
    if not (holding.finite and holding.mean > 0.0) or rate * holding.mean >= servers:
        return None
    parent = phases * rate

    def transform(s: float) -> float:
        return (parent / (parent + s)) ** phases

    return gi_m_c(transform, rate, 1.0 / holding.mean, servers, f"E_{phases}/M/c")


def reacquired_in_turn(
    poisson: StationPrediction, holding: Moments, servers: int, phases: int
) -> StationPrediction | None:
    """An async-I/O pool (acquired again after each reply) whose fresh requests round robin
    deals in turn, every `phases`-th of a Poisson stream: `poisson`, its prediction for
    Poisson acquisitions (Allen-Cunneen), its wait times E_k/M/c's over M/M/c's at its
    acquisitions' rate and mean hold (the anchor of `round_robin_scale`), and so its
    chance to wait. An approximation: the acquisitions after replies come back to the
    replica that was dealt the request, some time later, and keep part of its stream's
    evenness; Allen-Cunneen at the dealt stream's SCV 1/k misses it as it misses E_k/M/c
    (fuzz seed 1113, 2 replicas of 2 async workers at 70%: 5.03 ms, now 3.88 ms, 3.58 ms
    (3.30-3.85) simulated). None where the anchor does not apply."""
    rate = poisson.arrival_rate
    exponential = Moments(holding.mean, holding.mean**2)
    pair = _dealt_and_poisson(rate, exponential, servers, phases, 1.0)
    if pair is None or not pair[1].p_wait > 0.0:
        return None
    dealt, alone = pair
    return stable_station(
        method=f"{poisson.method}, x E_{phases}/M/{servers} over M/M/{servers} (dealt in turn)",
        exact=False,
        arrival_rate=rate,
        mean_service_time=holding.mean,
        servers=servers,
        mean_waiting_time=poisson.mean_waiting_time
        * dealt.mean_waiting_time
        / alone.mean_waiting_time,
        p_wait=min(poisson.p_wait * dealt.p_wait / alone.p_wait, 1.0),
    )


def _dealt_and_poisson(
    rate: float, holding: Moments, servers: int, phases: int, scv: float
) -> tuple[StationPrediction, StationPrediction] | None:
    """E_k/M/c (`_anchor`) and M/M/c at the same rate and mean holding time, where the
    anchor applies and M/M/c waits at all (their ratio scales a Poisson wait to a wait
    dealt in turn)."""
    dealt = _anchor(rate, holding, servers, phases, scv)
    if dealt is None:
        return None
    poisson = mmc(rate, 1.0 / holding.mean, servers)
    return (dealt, poisson) if poisson.mean_waiting_time > 0.0 else None


def _service_scale(utilization: float, arrival_scv: float, service_scv: float) -> float:
    """(ca² + cs²)/(ca² + 1) g(cs²)/g(1): from exponential service to service of SCV cs²
    (the ratio of Kraemer & Langenbach-Belz's factors in one exponential, so that it stays
    finite at a load next to 0, where each factor underflows)."""
    scale = (arrival_scv + service_scv) / (arrival_scv + 1.0)
    strength = 2.0 * (1.0 - utilization) * (1.0 - arrival_scv) ** 2 / (3.0 * utilization)
    gap = 1.0 / (arrival_scv + service_scv) - 1.0 / (arrival_scv + 1.0)
    return scale * math.exp(-strength * gap)
