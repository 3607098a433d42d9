"""Markovian single stations: M/M/1, M/M/c, M/M/c/K and M/M/inf, with waiting-time quantiles.

Assumptions common to all: Poisson arrivals at `arrival_rate` (per second), exponential service
at `service_rate` per server (per second), identical servers, FCFS order.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import exprel, gammaln, logsumexp

from models.theory._checks import (
    require_count,
    require_nonnegative,
    require_positive,
    require_quantile,
)
from models.theory.erlang import erlang_c
from models.theory.prediction import (
    StationPrediction,
    exponential_tail_quantile,
    stable_station,
    unstable_station,
)


def _mmc(method: str, arrival_rate: float, service_rate: float, servers: int) -> StationPrediction:
    """M/M/c steady state from Erlang C (shared by `mm1` and `mmc`)."""
    rate = require_nonnegative("arrival_rate", arrival_rate)
    mu = require_positive("service_rate", service_rate)
    count = require_count("servers", servers)
    load = rate / mu
    if load >= count:
        return unstable_station(
            method=method, exact=True, arrival_rate=rate, offered_load=load, servers=count
        )
    p_wait = erlang_c(count, load)
    waiting = p_wait / (mu * (count - load))  # C / (c mu - lambda)
    return stable_station(
        method=method,
        exact=True,
        arrival_rate=rate,
        mean_service_time=1.0 / mu,
        servers=count,
        mean_waiting_time=waiting,
        p_wait=p_wait,
    )


def mm1(arrival_rate: float, service_rate: float) -> StationPrediction:
    """Steady-state means of the M/M/1 queue.

    Assumptions: Poisson arrivals (lambda), one exponential server (mu), FCFS, unbounded room.
    Unstable (`stable=False`, infinite means) when rho = lambda / mu >= 1.

    Formula: rho = lambda / mu, W = 1 / (mu - lambda), Wq = rho / (mu - lambda),
    L = rho / (1 - rho), Lq = rho^2 / (1 - rho), P(wait) = rho.

    Source: Kleinrock, "Queueing Systems" Vol. 1, sec. 3.2; Gross & Harris, sec. 2.2.

    >>> station = mm1(0.5, 1.0)
    >>> station.mean_response_time, station.mean_waiting_time, station.mean_in_system
    (2.0, 1.0, 1.0)
    >>> mm1(2.0, 1.0).stable, mm1(2.0, 1.0).mean_response_time
    (False, inf)
    """
    return _mmc("M/M/1", arrival_rate, service_rate, 1)


def mm1_response_time_quantile(arrival_rate: float, service_rate: float, q: float) -> float:
    """The q-quantile of the M/M/1 response (sojourn) time in FCFS order.

    Assumptions: as `mm1`; the response time is then exponential with rate mu - lambda.
    Returns `math.inf` when unstable.

    Formula: t_q = -ln(1 - q) / (mu - lambda).

    Source: Kleinrock, "Queueing Systems" Vol. 1, sec. 3.2 (eq. 3.21, sojourn time density).

    >>> round(mm1_response_time_quantile(0.5, 1.0, 0.99), 4)
    9.2103
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    mu = require_positive("service_rate", service_rate)
    level = require_quantile("q", q)
    if rate >= mu:
        return math.inf
    return -math.log1p(-level) / (mu - rate)


def mmc(arrival_rate: float, service_rate: float, servers: int) -> StationPrediction:
    """Steady-state means of the M/M/c queue (Erlang C).

    Assumptions: Poisson arrivals (lambda), `servers` = c identical exponential servers (mu
    each), FCFS, unbounded waiting room. Unstable when a = lambda / mu >= c.

    Formula: C = ErlangC(c, a), Wq = C / (c mu - lambda), W = Wq + 1 / mu,
    Lq = lambda Wq, L = lambda W (Little), utilization rho = a / c.

    Source: Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 2.3;
    Harchol-Balter, "Performance Modeling and Design of Computer Systems", ch. 14.

    >>> station = mmc(1.0, 1.0, 2)
    >>> round(station.p_wait, 6), round(station.mean_waiting_time, 6)
    (0.333333, 0.333333)
    """
    return _mmc("M/M/c (Erlang C)", arrival_rate, service_rate, servers)


def mmc_waiting_time_quantile(
    arrival_rate: float, service_rate: float, servers: int, q: float
) -> float:
    """The q-quantile of the M/M/c waiting time (time queued before service) in FCFS order.

    Assumptions: as `mmc`. Returns `math.inf` when unstable; 0 when q <= 1 - P(wait).

    Formula: P(Wq > t) = C e^{-(c mu - lambda) t}, so t_q = ln(C / (1 - q)) / (c mu - lambda)
    for 1 - q < C, with C = ErlangC(c, lambda / mu).

    Source: Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 2.3.1.

    >>> round(mmc_waiting_time_quantile(1.0, 1.0, 2, 0.99), 4)
    3.5066
    >>> mmc_waiting_time_quantile(1.0, 1.0, 2, 0.5)
    0.0
    """
    station = mmc(arrival_rate, service_rate, servers)
    level = require_quantile("q", q)
    if not station.stable:
        return math.inf
    return exponential_tail_quantile(
        station.p_wait, service_rate * (servers - station.offered_load), level
    )


def mmc_response_time_survival(
    arrival_rate: float, service_rate: float, servers: int, time: float
) -> float:
    """P(T > t) for the M/M/c response time T (waiting plus service) in FCFS order.

    Assumptions: as `mmc`; returns 1.0 when unstable.

    Formula: T = Wq + S with Wq = 0 w.p. 1 - C and Exp(theta) w.p. C, theta = c mu - lambda,
    S ~ Exp(mu) independent, so P(T > t) = (1 - C) e^{-mu t} + C P(Exp(theta) + Exp(mu) > t),
    where for rates a <= b: P(Exp(a) + Exp(b) > t) = e^{-a t} (1 + a t exprel(-(b - a) t)),
    exprel(x) = (e^x - 1) / x (the hypoexponential tail, written to stay exact when a = b).

    Source: Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 2.3.1.

    >>> round(mmc_response_time_survival(0.5, 1.0, 1, 2.0), 6)  # M/M/1: e^{-(mu-lambda)t}
    0.367879
    """
    station = mmc(arrival_rate, service_rate, servers)
    elapsed = require_nonnegative("time", time)
    if not station.stable:
        return 1.0
    theta = service_rate * (servers - station.offered_load)  # c mu - lambda
    slow, fast = sorted((theta, service_rate))
    both = math.exp(-slow * elapsed) * (
        1.0 + slow * elapsed * float(exprel(-(fast - slow) * elapsed))
    )
    return (1.0 - station.p_wait) * math.exp(-service_rate * elapsed) + station.p_wait * both


def mmc_response_time_quantile(
    arrival_rate: float, service_rate: float, servers: int, q: float
) -> float:
    """The q-quantile of the M/M/c response time, by root-finding on its survival function.

    Assumptions: as `mmc`. Returns `math.inf` when unstable.

    Formula: the t solving P(T > t) = 1 - q, with P(T > t) as in `mmc_response_time_survival`
    (brentq on a bracket doubled until it holds the root).

    Source: Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 2.3.1.

    >>> round(mmc_response_time_quantile(0.5, 1.0, 1, 0.99), 4)  # equals the M/M/1 value
    9.2103
    """
    station = mmc(arrival_rate, service_rate, servers)
    level = require_quantile("q", q)
    if not station.stable:
        return math.inf
    if level == 0.0:
        return 0.0

    def excess(elapsed: float) -> float:
        survival = mmc_response_time_survival(arrival_rate, service_rate, servers, elapsed)
        return survival - (1.0 - level)

    upper = 1.0 / service_rate
    while excess(upper) > 0.0:
        upper *= 2.0
    from scipy.optimize import brentq  # (here: scipy.optimize takes 0.3 s to import)

    return float(brentq(excess, 0.0, upper, xtol=1e-14, rtol=1e-12))


def mmck(
    arrival_rate: float, service_rate: float, servers: int, capacity: int
) -> StationPrediction:
    """Steady state of the M/M/c/K queue: c servers, at most K customers in the system.

    Assumptions: Poisson arrivals (lambda); c exponential servers (mu); `capacity` K >= c is
    the most customers present at once (in service plus waiting); an arrival finding K present
    is lost. Always stable. K = c is the Erlang loss system (Erlang B).

    Formula: birth-death chain with p_n proportional to a^n / n! for n <= c and
    a^c / c! (a / c)^{n - c} for c < n <= K (a = lambda / mu), normalised in log space;
    P(loss) = p_K; throughput lambda_eff = lambda (1 - p_K); L = sum n p_n,
    Lq = sum (n - c)^+ p_n; an admitted arrival sees n w.p. p_n / (1 - p_K) (PASTA), so
    Wq = sum_{n >= c} p_n / (1 - p_K) (n - c + 1) / (c mu) = Lq / lambda_eff (Little) and
    W = Wq + 1 / mu = L / lambda_eff.

    Source: Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 2.5;
    Kleinrock, "Queueing Systems" Vol. 1, sec. 3.6.

    >>> station = mmck(1.0, 1.0, 1, 2)  # M/M/1/2: p = (1/3, 1/3, 1/3)
    >>> round(station.loss_probability, 6), round(station.mean_in_system, 6)
    (0.333333, 1.0)
    >>> round(station.mean_response_time, 6)  # L / lambda_eff = 1 / (2/3)
    1.5
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    mu = require_positive("service_rate", service_rate)
    count = require_count("servers", servers)
    limit = require_count("capacity", capacity, minimum=count)
    method = "M/M/c/c (Erlang B)" if limit == count else "M/M/c/K"
    load = rate / mu
    if load == 0.0:
        return StationPrediction(
            method=method,
            exact=True,
            arrival_rate=0.0,
            throughput=0.0,
            offered_load=0.0,
            utilization=0.0,
            stable=True,
            mean_waiting_time=0.0,
            mean_response_time=1.0 / mu,
            mean_queue_length=0.0,
            mean_in_system=0.0,
            p_wait=0.0,
            loss_probability=0.0,
        )
    present = np.arange(limit + 1, dtype=float)
    log_load = math.log(load)
    log_weights = np.where(
        present <= count,
        present * log_load - gammaln(present + 1.0),
        count * log_load - gammaln(count + 1.0) + (present - count) * (log_load - math.log(count)),
    )
    probabilities = np.exp(log_weights - logsumexp(log_weights))
    seen_by_admitted = np.exp(log_weights[:limit] - logsumexp(log_weights[:limit]))
    queued_ahead = np.maximum(present[:limit] - count + 1.0, 0.0)
    loss = float(probabilities[limit])
    throughput = rate * float(np.sum(probabilities[:limit]))
    waiting = float(np.dot(seen_by_admitted, queued_ahead)) / (count * mu)
    return StationPrediction(
        method=method,
        exact=True,
        arrival_rate=rate,
        throughput=throughput,
        offered_load=load,
        utilization=min(throughput / (count * mu), 1.0),
        stable=True,
        mean_waiting_time=waiting,
        mean_response_time=waiting + 1.0 / mu,
        mean_queue_length=float(np.dot(probabilities, np.maximum(present - count, 0.0))),
        mean_in_system=float(np.dot(probabilities, present)),
        p_wait=float(np.sum(seen_by_admitted[count:])),
        loss_probability=loss,
    )


def mm_infinity(arrival_rate: float, service_rate: float) -> StationPrediction:
    """Steady state of the M/M/inf queue (a delay station): nobody ever waits.

    Assumptions: Poisson arrivals (lambda), unlimited servers with exponential service (mu);
    the results hold for any service distribution with mean 1 / mu (M/G/inf insensitivity).
    `utilization` is reported as 0 (no finite server pool); `offered_load` holds the mean
    number of busy servers.

    Formula: the number present is Poisson(lambda / mu): L = lambda / mu, W = 1 / mu,
    Wq = Lq = 0.

    Source: Kleinrock, "Queueing Systems" Vol. 1, sec. 3.4; Gross & Harris, sec. 2.7.

    >>> station = mm_infinity(4.0, 2.0)
    >>> station.mean_in_system, station.mean_response_time, station.mean_waiting_time
    (2.0, 0.5, 0.0)
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    mu = require_positive("service_rate", service_rate)
    return StationPrediction(
        method="M/M/inf",
        exact=True,
        arrival_rate=rate,
        throughput=rate,
        offered_load=rate / mu,
        utilization=0.0,
        stable=True,
        mean_waiting_time=0.0,
        mean_response_time=1.0 / mu,
        mean_queue_length=0.0,
        mean_in_system=rate / mu,
        p_wait=0.0,
        loss_probability=0.0,
    )
