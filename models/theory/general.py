"""Non-Markovian single stations: M/G/1 (Pollaczek-Khinchine), M/D/1, G/G/c (Allen-Cunneen)
and E_k/M/1 (exact, via the GI/M/1 root sigma).

Service and interarrival distributions enter through their mean and squared coefficient of
variation (SCV = variance / mean^2): 0 for constant, 1 for exponential, 1/k for Erlang-k.
"""

from __future__ import annotations

import math

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


def mg1(arrival_rate: float, mean_service_time: float, service_scv: float) -> StationPrediction:
    """Steady-state means of the M/G/1 queue (Pollaczek-Khinchine mean-value formula).

    Assumptions: Poisson arrivals (lambda), one server, i.i.d. service times with mean E[S]
    and SCV cs^2, FCFS (the mean holds for any work-conserving order that ignores service
    times). Unstable when rho = lambda E[S] >= 1.

    Formula: Wq = lambda E[S^2] / (2 (1 - rho)) = rho E[S] (1 + cs^2) / (2 (1 - rho)),
    W = Wq + E[S], Lq = lambda Wq, L = lambda W, P(wait) = rho (PASTA).

    Source: Pollaczek 1930, Khinchine 1932; Kleinrock, "Queueing Systems" Vol. 1, sec. 5.6;
    Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 5.1.

    >>> round(mg1(0.5, 1.0, 1.0).mean_waiting_time, 6)  # exponential: the M/M/1 value
    1.0
    >>> round(mg1(0.8, 1.0, 0.0).mean_waiting_time, 6)  # M/D/1 at rho = 0.8
    2.0
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    service = require_positive("mean_service_time", mean_service_time)
    scv = require_nonnegative("service_scv", service_scv)
    load = rate * service
    if load >= 1.0:
        return unstable_station(
            method="M/G/1 (Pollaczek-Khinchine)",
            exact=True,
            arrival_rate=rate,
            offered_load=load,
            servers=1,
        )
    waiting = load * service * (1.0 + scv) / (2.0 * (1.0 - load))
    return stable_station(
        method="M/G/1 (Pollaczek-Khinchine)",
        exact=True,
        arrival_rate=rate,
        mean_service_time=service,
        servers=1,
        mean_waiting_time=waiting,
        p_wait=load,
    )


def mg1_waiting_second_moment(
    arrival_rate: float, mean_service_time: float, service_scv: float, service_third: float
) -> float:
    """E[Wq^2] of the M/G/1 FCFS queue, from the service's first three moments.

    Formula: E[Wq^2] = 2 Wq^2 + lambda E[S^3] / (3 (1 - rho)), Wq the Pollaczek-Khinchine
    mean (`mg1`) - the second of Takacs's recurrence for the moments of the wait. With
    exponential service (E[S^3] = 6 E[S]^3) it is 2 Wq^2 / rho, the M/M/1 value.

    Source: Takacs, "Introduction to the Theory of Queues", 1962, ch. 2; Kleinrock,
    "Queueing Systems" Vol. 1, 1975, sec. 5.7; Gross & Harris, "Fundamentals of Queueing
    Theory", 4th ed., sec. 5.1.

    >>> round(mg1_waiting_second_moment(0.5, 1.0, 1.0, 6.0), 6)  # M/M/1: 2 Wq^2 / rho
    4.0
    >>> round(mg1_waiting_second_moment(0.5, 1.0, 0.0, 1.0), 6)  # M/D/1: 2 (1/2)^2 + 1/3
    0.833333
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    service = require_positive("mean_service_time", mean_service_time)
    load = rate * service
    if load >= 1.0:
        return math.inf
    waiting = mg1(rate, service, service_scv).mean_waiting_time
    return 2.0 * waiting**2 + rate * service_third / (3.0 * (1.0 - load))


def md1(arrival_rate: float, mean_service_time: float) -> StationPrediction:
    """Steady-state means of the M/D/1 queue: Pollaczek-Khinchine with constant service.

    Assumptions: Poisson arrivals (lambda), one server, every service takes exactly E[S].

    Formula: Wq = rho / (2 mu (1 - rho)) with rho = lambda E[S], mu = 1 / E[S]
    (half the M/M/1 waiting time).

    Source: Kleinrock, "Queueing Systems" Vol. 1, sec. 5.6; Gross & Harris, sec. 5.1.

    >>> round(md1(0.5, 1.0).mean_waiting_time, 6)
    0.5
    """
    station = mg1(arrival_rate, mean_service_time, 0.0)
    method = "M/D/1"
    if not station.stable:
        return unstable_station(
            method=method,
            exact=True,
            arrival_rate=station.arrival_rate,
            offered_load=station.offered_load,
            servers=1,
        )
    return stable_station(
        method=method,
        exact=True,
        arrival_rate=station.arrival_rate,
        mean_service_time=mean_service_time,
        servers=1,
        mean_waiting_time=station.mean_waiting_time,
        p_wait=station.p_wait,
    )


def gg_c_allen_cunneen(
    arrival_rate: float,
    mean_service_time: float,
    servers: int,
    arrival_scv: float,
    service_scv: float,
) -> StationPrediction:
    """Approximate steady-state means of the G/G/c queue (Allen-Cunneen).

    Assumptions: renewal arrivals (rate lambda, interarrival SCV ca^2), c identical servers
    with i.i.d. service (mean E[S], SCV cs^2), FCFS. Exact for M/M/c (ca^2 = cs^2 = 1) and
    for M/G/1 (c = 1, ca^2 = 1, where it is Pollaczek-Khinchine); an approximation otherwise,
    good for moderate to heavy load and SCVs near 1. `p_wait` is approximated by Erlang C.
    Unstable when a = lambda E[S] >= c.

    Formula: Wq ~ [C(c, a) / (c / E[S] - lambda)] (ca^2 + cs^2) / 2, the M/M/c waiting time
    scaled by the mean of the two SCVs; W = Wq + E[S]; Lq, L by Little's law.

    Source: Allen, "Probability, Statistics, and Queueing Theory", 2nd ed., 1990, sec. 6.4;
    Bolch et al., "Queueing Networks and Markov Chains", 2nd ed., sec. 6.3.4.

    >>> round(gg_c_allen_cunneen(1.0, 1.0, 2, 1.0, 1.0).mean_waiting_time, 6)  # M/M/2
    0.333333
    >>> round(gg_c_allen_cunneen(0.5, 1.0, 1, 1.0, 0.0).mean_waiting_time, 6)  # M/D/1
    0.5
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    service = require_positive("mean_service_time", mean_service_time)
    count = require_count("servers", servers)
    arrival_variability = require_nonnegative("arrival_scv", arrival_scv)
    service_variability = require_nonnegative("service_scv", service_scv)
    exact = arrival_variability == 1.0 and (service_variability == 1.0 or count == 1)
    method = "Allen-Cunneen G/G/c"
    load = rate * service
    if load >= count:
        return unstable_station(
            method=method, exact=exact, arrival_rate=rate, offered_load=load, servers=count
        )
    p_wait = erlang_c(count, load)
    waiting = p_wait * service / (count - load) * (arrival_variability + service_variability) / 2.0
    return stable_station(
        method=method,
        exact=exact,
        arrival_rate=rate,
        mean_service_time=service,
        servers=count,
        mean_waiting_time=waiting,
        p_wait=p_wait,
    )


def _erlang_arrivals_root(arrival_rate: float, service_rate: float, phases: int) -> float:
    """The root x = 1 - sigma in (0, 1) of A*(mu x) = 1 - x, for rho = lambda / mu < 1.

    Solved as h(x) = 1 + (A*(mu x) - 1) / x = 0, with h(0+) = 1 - 1/rho < 0 and
    h(1) = A*(mu) > 0, and A*(mu x) - 1 = expm1(-k log1p(mu x / (k lambda))) kept exact
    for small x (heavy load).
    """
    phase_rate = phases * arrival_rate

    def excess(gap: float) -> float:
        if gap == 0.0:
            return 1.0 - service_rate / arrival_rate
        return 1.0 + math.expm1(-phases * math.log1p(service_rate * gap / phase_rate)) / gap

    from scipy.optimize import brentq  # (here: scipy.optimize takes 0.3 s to import)

    return float(brentq(excess, 0.0, 1.0, xtol=1e-300, rtol=1e-15, maxiter=500))


def gi_m1_erlang_arrivals_sigma(arrival_rate: float, service_rate: float, phases: int) -> float:
    """The GI/M/1 root sigma for Erlang-k interarrival times: P(an arrival has to wait).

    Assumptions: interarrival times Erlang with k = `phases` phases and mean 1 / lambda
    (SCV 1/k), one exponential server (mu). Returns 1.0 when rho = lambda / mu >= 1.

    Formula: sigma is the root in (0, 1) of sigma = A*(mu (1 - sigma)), where
    A*(s) = (k lambda / (k lambda + s))^k is the Laplace transform of the interarrival time.

    Source: Kleinrock, "Queueing Systems" Vol. 1, sec. 6.4; Gross & Harris, sec. 6.3.

    >>> round(gi_m1_erlang_arrivals_sigma(1.0, 2.0, 2), 6)  # (3 - sqrt(5)) / 2
    0.381966
    >>> gi_m1_erlang_arrivals_sigma(0.5, 1.0, 1)  # Poisson arrivals: sigma = rho
    0.5
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    mu = require_positive("service_rate", service_rate)
    phase_count = require_count("phases", phases)
    if rate == 0.0:
        return 0.0
    if rate >= mu:
        return 1.0
    if phase_count == 1:
        return rate / mu
    gap = _erlang_arrivals_root(rate, mu, phase_count)
    return math.exp(-phase_count * math.log1p(mu * gap / (phase_count * rate)))


def gi_m1_erlang_arrivals(
    arrival_rate: float, service_rate: float, phases: int
) -> StationPrediction:
    """Exact steady-state means of the E_k/M/1 queue (Erlang-k arrivals, exponential service).

    Assumptions: as `gi_m1_erlang_arrivals_sigma`; FCFS. k = 1 is M/M/1. Unstable when
    rho = lambda / mu >= 1.

    Formula: with sigma = A*(mu (1 - sigma)): P(wait) = sigma, Wq = sigma / (mu (1 - sigma)),
    W = 1 / (mu (1 - sigma)) and the response time is exponential with rate mu (1 - sigma);
    Lq = lambda Wq, L = lambda W (Little).

    Source: Kleinrock, "Queueing Systems" Vol. 1, sec. 6.4; Gross & Harris, "Fundamentals of
    Queueing Theory", 4th ed., sec. 6.3.

    >>> station = gi_m1_erlang_arrivals(1.0, 2.0, 2)
    >>> round(station.mean_response_time, 6)  # 1 / (2 (1 - 0.381966))
    0.809017
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    mu = require_positive("service_rate", service_rate)
    phase_count = require_count("phases", phases)
    method = f"E_{phase_count}/M/1"
    if rate >= mu:
        return unstable_station(
            method=method, exact=True, arrival_rate=rate, offered_load=rate / mu, servers=1
        )
    sigma = gi_m1_erlang_arrivals_sigma(rate, mu, phase_count)
    return stable_station(
        method=method,
        exact=True,
        arrival_rate=rate,
        mean_service_time=1.0 / mu,
        servers=1,
        mean_waiting_time=sigma / (mu * (1.0 - sigma)),
        p_wait=sigma,
    )


def gi_m1_erlang_arrivals_response_time_quantile(
    arrival_rate: float, service_rate: float, phases: int, q: float
) -> float:
    """The q-quantile of the E_k/M/1 response time (exponential with rate mu (1 - sigma)).

    Assumptions: as `gi_m1_erlang_arrivals`. Returns `math.inf` when unstable.

    Formula: t_q = -ln(1 - q) / (mu (1 - sigma)).

    Source: Kleinrock, "Queueing Systems" Vol. 1, sec. 6.4 (eq. 6.30).

    >>> round(gi_m1_erlang_arrivals_response_time_quantile(0.5, 1.0, 1, 0.99), 4)  # M/M/1
    9.2103
    """
    level = require_quantile("q", q)
    sigma = gi_m1_erlang_arrivals_sigma(arrival_rate, service_rate, phases)
    if sigma >= 1.0:
        return math.inf
    return -math.log1p(-level) / (service_rate * (1.0 - sigma))


def gi_m1_erlang_arrivals_waiting_time_quantile(
    arrival_rate: float, service_rate: float, phases: int, q: float
) -> float:
    """The q-quantile of the E_k/M/1 waiting time (time queued before service).

    Assumptions: as `gi_m1_erlang_arrivals`. Returns `math.inf` when unstable.

    Formula: P(Wq > t) = sigma e^{-mu (1 - sigma) t}, so t_q = ln(sigma / (1 - q)) /
    (mu (1 - sigma)) for 1 - q < sigma and 0 otherwise.

    Source: Kleinrock, "Queueing Systems" Vol. 1, sec. 6.4 (eq. 6.31).

    >>> round(gi_m1_erlang_arrivals_waiting_time_quantile(0.5, 1.0, 1, 0.99), 4)
    7.824
    """
    level = require_quantile("q", q)
    sigma = gi_m1_erlang_arrivals_sigma(arrival_rate, service_rate, phases)
    if sigma >= 1.0:
        return math.inf
    return exponential_tail_quantile(sigma, service_rate * (1.0 - sigma), level)
