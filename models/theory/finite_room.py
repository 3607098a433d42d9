"""M/G/1/K: one server, a finite waiting room and any service law, by its embedded chain.

The chain is the number left behind by each departure, 0 .. K - 1; between departures the
server serves one request, during which a_k = P(k arrivals in a service) come (Poisson), and
an arrival that finds K present is lost. Everything comes from the a_k, which the helpers
below give in closed form for the usual laws (`arrivals_during_gamma` covers constant,
Erlang, exponential and gamma service; `arrivals_during_uniform`; a mixture of laws mixes
their a_k).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import gammainc, gammaln

from models.theory._checks import require_count, require_nonnegative, require_positive
from models.theory.prediction import StationPrediction


def mg1k(
    arrival_rate: float,
    mean_service_time: float,
    arrivals_during_service: Sequence[float],
    capacity: int,
    method: str = "M/G/1/K",
) -> StationPrediction:
    """Steady state of the M/G/1/K queue: one server, at most K = `capacity` requests
    present (in service and waiting), Poisson arrivals at rate lambda, i.i.d. service times
    of mean E[S]; `arrivals_during_service` are a_0 .. a_{K-2} (more may be given; those
    beyond are not needed), a_k = P(k arrivals during one service time).

    Formula: the chain embedded at departures (states 0 .. K - 1) is skip-free downwards;
    equating the crossings of each cut j | j + 1 gives, with tails A_k = 1 - a_0 - ... - a_k
    (all terms positive, so no cancellation),

        pi_{j+1} a_0 = pi_0 A_j + sum_{i=1..j} pi_i A_{j-i+1},     j = 0 .. K - 2,

    normalised over 0 .. K - 1. A departure and an arrival that is let in see the same
    distribution, and lambda (1 - p_K) = (1 - p_0) / E[S], which gives the time averages

        p_n = pi_n / (pi_0 + rho)  (n < K),    p_K = 1 - 1 / (pi_0 + rho),    rho = lambda E[S];

    P(loss) = p_K (PASTA), L = sum n p_n, W = L / (lambda (1 - p_K)) (Little), Wq = W - E[S],
    and an admitted arrival waits with probability (1 - p_0 - p_K) / (1 - p_K).

    Sources: Gross, Shortle, Thompson & Harris, "Fundamentals of Queueing Theory", 4th ed.,
    sec. 5.1 (M/G/1/K); Takagi, "Queueing Analysis" vol. 2 (Finite Systems), sec. 1.2.
    With exponential service (a_k geometric) it is M/M/1/K exactly; with K = 1 it is
    Erlang's loss formula for one server, rho / (1 + rho), whatever the law.

    >>> a = arrivals_during_gamma(1.0, 1.0, 1.0, 2)  # M/M/1/2 at rho = 1: p = 1/3 each
    >>> station = mg1k(1.0, 1.0, a, 2)
    >>> round(station.loss_probability, 6), round(station.mean_in_system, 6)
    (0.333333, 1.0)
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    service = require_positive("mean_service_time", mean_service_time)
    limit = require_count("capacity", capacity)
    if len(arrivals_during_service) < limit - 1:
        raise ValueError(
            f"arrivals_during_service must give a_0 .. a_{limit - 2} for capacity {limit} "
            f"(got {len(arrivals_during_service)} values)"
        )
    load = rate * service
    if load == 0.0:
        return _idle(method, service)
    a = np.clip(np.asarray(arrivals_during_service[: limit - 1], dtype=float), 0.0, 1.0)
    tails = np.maximum(1.0 - np.cumsum(a), 0.0)
    departures = np.zeros(limit)
    departures[0] = 1.0
    for j in range(limit - 1):  # (rescaled as it goes: with rho > 1 the pi_j grow)
        crossing = departures[0] * tails[j]
        if j:
            crossing += float(np.dot(departures[1 : j + 1], tails[j:0:-1]))
        departures[j + 1] = crossing / a[0]
        if departures[j + 1] > 1e250:
            departures[: j + 2] /= departures[j + 1]
    departures /= departures.sum()
    scale = departures[0] + load
    probabilities = np.append(departures / scale, 1.0 - 1.0 / scale)
    loss = float(min(max(probabilities[limit], 0.0), 1.0))
    throughput = rate * (1.0 - loss)
    present = np.arange(limit + 1, dtype=float)
    in_system = float(np.dot(probabilities, present))
    response = in_system / throughput
    waiting = max(response - service, 0.0)
    busy = 1.0 - float(probabilities[0])
    return StationPrediction(
        method=method,
        exact=True,
        arrival_rate=rate,
        throughput=throughput,
        offered_load=load,
        utilization=min(busy, 1.0),
        stable=True,
        mean_waiting_time=waiting,
        mean_response_time=waiting + service,
        mean_queue_length=max(in_system - busy, 0.0),
        mean_in_system=in_system,
        p_wait=max(1.0 - float(probabilities[0]) - loss, 0.0) / (1.0 - loss),
        loss_probability=loss,
    )


def _idle(method: str, service: float) -> StationPrediction:
    return StationPrediction(
        method=method,
        exact=True,
        arrival_rate=0.0,
        throughput=0.0,
        offered_load=0.0,
        utilization=0.0,
        stable=True,
        mean_waiting_time=0.0,
        mean_response_time=service,
        mean_queue_length=0.0,
        mean_in_system=0.0,
        p_wait=0.0,
        loss_probability=0.0,
    )


def arrivals_during_gamma(rate: float, mean: float, scv: float, count: int) -> list[float]:
    """a_0 .. a_{count-1}: Poisson arrivals at `rate` during a gamma time of this mean and
    SCV (shape 1/SCV: exponential at 1, Erlang-k at 1/k), a negative binomial law,
    a_k = Gamma(k + s) / (Gamma(s) k!) q^s (1 - q)^k with q = 1 / (1 + rate mean SCV); a
    constant (SCV 0) gives the Poisson law of mean rate x mean.

    >>> [round(x, 6) for x in arrivals_during_gamma(1.0, 1.0, 1.0, 3)]  # geometric, 1/2
    [0.5, 0.25, 0.125]
    """
    require_nonnegative("rate", rate)
    require_positive("mean", mean)
    require_nonnegative("scv", scv)
    k = np.arange(count, dtype=float)
    expected = rate * mean
    if expected == 0.0:
        return _none_arrive(count)
    if scv == 0.0:
        logs = k * math.log(expected) - expected - gammaln(k + 1.0)
    else:
        shape = 1.0 / scv
        spread = expected * scv  # (rate x scale)
        logs = (
            gammaln(k + shape)
            - gammaln(shape)
            - gammaln(k + 1.0)
            - shape * math.log1p(spread)
            + k * (math.log(spread) - math.log1p(spread))
        )
    return [float(x) for x in np.exp(logs)]


def arrivals_during_uniform(rate: float, low: float, high: float, count: int) -> list[float]:
    """a_0 .. a_{count-1} during a time uniform on [low, high]: the Poisson law averaged
    over it, a_k = (P(k + 1, rate high) - P(k + 1, rate low)) / (rate (high - low)) with P
    the regularised lower incomplete gamma function (a constant where low = high)."""
    require_nonnegative("rate", rate)
    require_nonnegative("low", low)
    if high <= low:  # (a constant)
        return _none_arrive(count) if high == 0.0 else arrivals_during_gamma(rate, high, 0.0, count)
    if rate == 0.0:
        return _none_arrive(count)
    k = np.arange(1, count + 1, dtype=float)
    upper, lower = gammainc(k, rate * high), gammainc(k, rate * low)
    return [float(x) for x in (upper - lower) / (rate * (high - low))]


def _none_arrive(count: int) -> list[float]:
    """a_0 .. a_{count-1} when no request can arrive during a service."""
    return [1.0] + [0.0] * (count - 1) if count else []
