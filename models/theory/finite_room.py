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
from typing import Any

import numpy as np
from scipy.special import gammainc, gammaln

from models.theory._checks import require_count, require_nonnegative, require_positive
from models.theory.prediction import StationPrediction, stable_station


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
        return idle_room(method, service, 1)
    a = np.clip(np.asarray(arrivals_during_service[: limit - 1], dtype=float), 0.0, 1.0)
    tails = np.maximum(1.0 - np.cumsum(a), 0.0)
    none_arrive = max(float(a[0]), SMALLEST_NONE_ARRIVE) if len(a) else 1.0
    departures = np.zeros(limit)
    departures[0] = 1.0
    for j in range(limit - 1):  # (rescaled as it goes: with rho > 1 the pi_j grow)
        crossing = departures[0] * tails[j]
        if j:
            crossing += float(np.dot(departures[1 : j + 1], tails[j:0:-1]))
        departures[j + 1] = crossing / none_arrive
        if departures[j + 1] > 1e50:  # (then at most 1e300 / a_0 floor)
            departures[: j + 2] /= departures[j + 1]
    departures /= departures.sum()
    scale = departures[0] + load
    probabilities = np.append(departures / scale, 1.0 - 1.0 / scale)
    return prediction_from_present(method, rate, service, 1, probabilities)


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


QUADRATURE_NODES = 160
"""Gauss nodes of the numerical a_k (lognormal, Pareto); Weibull takes `WEIBULL_NODES`."""
WEIBULL_NODES = 400


def arrivals_during_lognormal(rate: float, mu: float, sigma: float, count: int) -> list[float]:
    """a_0 .. a_{count-1} during a lognormal time, ln S ~ Normal(mu, sigma²): the Poisson
    law of mean rate S averaged over S, E[P_k(rate e^{mu + sigma Z})] for Z standard
    normal, by Gauss-Hermite quadrature (the integrand is smooth in Z; 1e-12 against
    adaptive quadrature of the density for cv up to 1.5, 1e-9 at cv 3)."""
    scores, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    times = np.exp(mu + sigma * scores)
    return _poisson_average(rate * times, weights / math.sqrt(2.0 * math.pi), count)


def arrivals_during_pareto(rate: float, minimum: float, alpha: float, count: int) -> list[float]:
    """a_0 .. a_{count-1} during a Pareto time, P(S > s) = (minimum / s)^alpha: with
    S = minimum e^{Y / alpha}, Y ~ Exp(1), by Gauss-Laguerre quadrature in Y (finite even
    where the variance is not, alpha <= 2)."""
    exponents, weights = np.polynomial.laguerre.laggauss(QUADRATURE_NODES)
    times = minimum * np.exp(np.minimum(exponents / alpha, 700.0))
    return _poisson_average(rate * times, weights, count)


def arrivals_during_weibull(rate: float, scale: float, shape: float, count: int) -> list[float]:
    """a_0 .. a_{count-1} during a Weibull time, P(S > s) = exp(-(s / scale)^shape): with
    S = scale Z⁴ and Z⁴ᵏ ~ Exp(1) for k = shape, the density of Z is 4k z^{4k-1}
    exp(-z^{4k}), smooth enough at 0 for Gauss-Legendre on [0, 42^{1/4k}] (beyond, less
    than e^-42 of the law); 1e-11 against adaptive quadrature for cv 0.1 to 2."""
    power = 4.0 * shape
    top = 42.0 ** (1.0 / power)
    nodes, weights = np.polynomial.legendre.leggauss(WEIBULL_NODES)
    z = (nodes + 1.0) * top / 2.0
    density = power * z ** (power - 1.0) * np.exp(-(z**power))
    return _poisson_average(rate * scale * z**4, weights * top / 2.0 * density, count)


def arrivals_during_values(rate: float, values: Sequence[float], count: int) -> list[float]:
    """a_0 .. a_{count-1} during a time drawn uniformly from `values` (an empirical law):
    the Poisson laws of mean rate x value, averaged."""
    times = np.asarray(values, dtype=float)
    weights = np.full(len(times), 1.0 / len(times))
    return _poisson_average(rate * times, weights, count)


def _poisson_average(means: np.ndarray, weights: np.ndarray, count: int) -> list[float]:
    """sum_i w_i P_k(m_i) for k < count: the Poisson law of mean m averaged over nodes."""
    k = np.arange(count, dtype=float)
    safe = np.maximum(means, 1e-300)[:, None]
    logs = k * np.log(safe) - safe - gammaln(k + 1.0)
    return [float(x) for x in np.clip(weights @ np.exp(logs), 0.0, 1.0)]


SMALLEST_NONE_ARRIVE = 1e-250
"""The least a_0 the recursion divides by: below it (lambda E[S] above about 575) every
departure leaves a full room, to double precision, and the pi_j could overflow."""


def prediction_from_present(
    method: str, rate: float, service: float, servers: int, present: np.ndarray
) -> StationPrediction:
    """The prediction of `servers` with room for K - `servers` waiting, Poisson arrivals at
    `rate`, mean service `service`, from p_0 .. p_K of the number present (time averages):
    P(loss) = p_K (PASTA), L = sum n p_n, W = L / (admitted rate) (Little), Wq = W - E[S],
    and an admitted arrival waits with probability P(c <= n < K) / P(n < K)."""
    limit = len(present) - 1
    counts = np.arange(limit + 1, dtype=float)
    loss = float(min(max(present[limit], 0.0), 1.0))
    in_system = float(np.dot(present, counts))
    busy = float(np.dot(present, np.minimum(counts, servers)))
    throughput = _admitted(rate, loss, busy / service)
    waiting = max(in_system / throughput - service, 0.0)
    return StationPrediction(
        method=method,
        exact=True,
        arrival_rate=rate,
        throughput=throughput,
        offered_load=rate * service,
        utilization=min(busy / servers, 1.0),
        stable=True,
        mean_waiting_time=waiting,
        mean_response_time=waiting + service,
        mean_queue_length=max(in_system - busy, 0.0),
        mean_in_system=in_system,
        p_wait=_share(float(present[servers:limit].sum()), float(present[:limit].sum())),
        loss_probability=loss,
    )


def _admitted(rate: float, loss: float, completions: float) -> float:
    """Requests let in per second, lambda (1 - p_K), or, where most are lost and that
    difference loses its digits, the completions per second (busy servers over E[S]), which
    equal it in the steady state."""
    return rate * (1.0 - loss) if loss < 0.5 else completions


def _share(part: float, whole: float) -> float:
    """part / whole of what an admitted arrival sees (PASTA), 1 where nothing is let in
    to double precision (every admitted arrival then finds the room all but full)."""
    return min(part / whole, 1.0) if whole > 0 else 1.0


def idle_room(method: str, service: float, servers: int) -> StationPrediction:
    """No arrivals: nobody waits, nothing is lost."""
    return stable_station(
        method=method,
        exact=True,
        arrival_rate=0.0,
        mean_service_time=service,
        servers=servers,
        mean_waiting_time=0.0,
        p_wait=0.0,
    )


def _none_arrive(count: int) -> list[float]:
    """a_0 .. a_{count-1} when no request can arrive during a service."""
    return [1.0] + [0.0] * (count - 1) if count else []


MAX_PHASE_STATES = 40_000
"""The most states (K + 1) x (c + 1) that `mph2ck` solves."""


def two_phase_fit(mean: float, scv: float) -> tuple[float, float, float, float]:
    """A two-phase law with this mean and SCV >= 1/2, as (alpha, mu_1, q, mu_2): start in
    phase 1 with probability alpha (else in phase 2), leave phase 1 at rate mu_1 for phase
    2 with probability q (else done), leave phase 2 at rate mu_2. SCV > 1: the
    hyperexponential of balanced means (q = 0); SCV <= 1: the Coxian of Marie (1980),
    mu_1 = 2 / m, q = 1 / (2 SCV), mu_2 = 1 / (m SCV) (Erlang-2 at SCV 1/2, exponential at
    1: its mean is m / 2 + q m SCV = m, its second moment m² (1 + SCV)).

    >>> two_phase_fit(1.0, 1.0)
    (1.0, 2.0, 0.5, 1.0)
    """
    require_positive("mean", mean)
    if not 0.5 <= scv < math.inf:
        raise ValueError(f"scv must be at least 1/2 and finite for two phases, got {scv!r}")
    if scv > 1.0:
        ratio = math.sqrt((scv - 1.0) / (scv + 1.0))
        second = 1.0 / ((scv + 1.0) * (1.0 + ratio))  # (1 - ratio) / 2, without cancelling
        first = 1.0 - second
        return first, 2.0 * first / mean, 0.0, 2.0 * second / mean
    return 1.0, 2.0 / mean, 1.0 / (2.0 * scv), 1.0 / (mean * scv)


def mph2ck(
    arrival_rate: float,
    mean_service_time: float,
    service_scv: float,
    servers: int,
    capacity: int,
    method: str = "M/PH2/c/K",
) -> StationPrediction | None:
    """Steady state of c servers with room for K - c waiting (K = `capacity`), Poisson
    arrivals and a two-phase service law of this mean and SCV >= 1/2 (`two_phase_fit`):
    exact for a hyperexponential of balanced means (SCV > 1), for Erlang-2 (1/2) and for
    the exponential; a two-moment fit of any other law. None above `MAX_PHASE_STATES`.

    Formula: the chain on (n present, j servers in phase 1), 0 <= j <= min(n, c): an
    arrival is let in below K and starts a service at once below c (in phase 1 with
    probability alpha); a phase-1 completion (rate j mu_1) moves on to phase 2 with
    probability q, else leaves, and so does a phase-2 completion (rate (min(n, c) - j)
    mu_2), the next waiting request then starting its service. Solved as p Q = 0,
    sum p = 1 (sparse LU); P(loss) = p_K (PASTA), L = sum n p_n,
    W = L / (lambda (1 - p_K)) (Little), Wq = W - E[S]; an admitted arrival waits with
    probability P(c <= n < K) / (1 - p_K). The matrix-analytic form of the finite
    M/PH/c queue: Neuts, "Matrix-Geometric Solutions in Stochastic Models" (1981), ch. 3;
    Tijms, "A First Course in Stochastic Models" (2003), sec. 5.6 (phase-type fits).

    >>> station = mph2ck(1.0, 1.0, 1.0, 1, 2)  # M/M/1/2 at rho = 1: p = 1/3 each
    >>> round(station.loss_probability, 6), round(station.mean_in_system, 6)
    (0.333333, 1.0)
    """
    rate = require_nonnegative("arrival_rate", arrival_rate)
    service = require_positive("mean_service_time", mean_service_time)
    count = require_count("servers", servers)
    limit = require_count("capacity", capacity, minimum=count)
    if (limit + 1) * (count + 1) > MAX_PHASE_STATES:
        return None
    alpha, first, onward, second = two_phase_fit(service, service_scv)
    if rate == 0.0:
        return idle_room(method, service, count)
    busy_of = np.minimum(np.arange(limit + 1), count)
    offsets = np.concatenate(([0], np.cumsum(busy_of + 1)))
    size = int(offsets[-1])
    present = np.repeat(np.arange(limit + 1), busy_of + 1)  # (state k = (n, j))
    phase_one = np.arange(size) - offsets[present]
    busy = busy_of[present]
    sources: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    values: list[np.ndarray] = []

    def move(
        mask: np.ndarray, to_present: np.ndarray, to_phase_one: np.ndarray, value: Any
    ) -> None:
        """Transitions from the states in `mask` to (to_present, to_phase_one) at `value`."""
        rates = np.broadcast_to(np.asarray(value, dtype=float), mask.shape)[mask]
        keep = rates > 0.0
        chosen = np.flatnonzero(mask)[keep]
        sources.append(chosen)
        targets.append(offsets[to_present[mask][keep]] + to_phase_one[mask][keep])
        values.append(rates[keep])

    up, down = present + 1, present - 1
    waiting = present > count  # (a departure then starts the next service)
    starts = present < count
    arriving = present < limit
    move(arriving & starts, up, phase_one + 1, rate * alpha)  # an arrival, served at once
    move(arriving & starts, up, phase_one, rate * (1.0 - alpha))
    move(arriving & ~starts, up, phase_one, rate)  # an arrival that waits
    first_done = phase_one * first
    move(phase_one > 0, present, phase_one - 1, first_done * onward)  # phase 1 -> 2
    leaves = first_done * (1.0 - onward)  # phase 1 -> done
    move((phase_one > 0) & waiting, down, phase_one, leaves * alpha)
    move((phase_one > 0) & waiting, down, phase_one - 1, leaves * (1.0 - alpha))
    move((phase_one > 0) & ~waiting, down, phase_one - 1, leaves)
    second_done = (busy - phase_one) * second  # phase 2 -> done
    move((busy > phase_one) & waiting, down, phase_one + 1, second_done * alpha)
    move((busy > phase_one) & waiting, down, phase_one, second_done * (1.0 - alpha))
    move((busy > phase_one) & ~waiting, down, phase_one, second_done)
    source, target, value = (np.concatenate(part) for part in (sources, targets, values))
    solution = stationary(size, source, target, value, likely_state(rate * service, count, present))
    by_present = np.bincount(present, weights=solution, minlength=limit + 1)
    return prediction_from_present(method, rate, service, count, by_present)


def likely_state(offered: float, servers: int, present: np.ndarray) -> int:
    """A state of a chain on (number present, phases) whose probability is not tiny, for
    `stationary`: among the states with the number present most likely in M/M/c/K of this
    offered load (the full room from c on, else the offered load's integer part), the
    middle one. `present` is each state's number present, in increasing order. In the
    two-phase chain that is half the busy servers in phase 1 (either phase holds half the
    mean: Coxian, and the hyperexponential of balanced means); in the Erlang chain of
    `erlang_room`, busy servers with phases left spread over the range."""
    limit = int(present[-1])
    most_likely = limit if offered >= servers else min(int(offered), limit)
    first = int(np.searchsorted(present, most_likely, side="left"))
    after = int(np.searchsorted(present, most_likely, side="right"))
    return first + (after - first - 1) // 2


def stationary(
    size: int,
    source: np.ndarray,
    target: np.ndarray,
    value: np.ndarray,
    likely: int | None = None,
) -> np.ndarray:
    """The stationary distribution of the chain on states 0 .. `size` - 1 whose
    transitions go from `source` to `target` at rate `value` (irreducible), by a sparse LU.

    Given a `likely` state (one whose probability is not tiny), p Q = 0 is solved for
    p / p_likely: that state's balance equation is left out and p_likely = 1 moves to the
    right-hand side, which keeps the system as sparse as Q (M/PH2/c/K at 90% load and SCV
    0.7: 20 servers and a room of 980, 1.90 s -> 0.095 s; 150 and 110, 0.53 -> 0.16 s;
    the same distributions to 1e-8). Otherwise, or where that solution is not a
    distribution to working precision (a state far less likely than thought makes the
    system ill-conditioned), p Q = 0 with its first equation replaced by sum p = 1: a
    full row, which the LU fills in."""
    from scipy.sparse import coo_matrix

    outflow = np.bincount(source, weights=value, minlength=size)
    # (transposed: row k is state k's balance equation)
    rows = np.concatenate((target, np.arange(size)))
    columns = np.concatenate((source, np.arange(size)))
    entries = np.concatenate((value, -outflow))
    if likely is not None and size > 1:
        balance = coo_matrix((entries, (rows, columns)), shape=(size, size)).tocsr()
        found = _relative_to(balance, likely)
        if found is not None:
            return found
    return _normalised_solve(size, rows, columns, entries)


RESIDUAL_TOLERANCE = 1e-9
"""The largest net flow |(p Q)_k| a solution relative to one state may leave at a state,
as a share of the largest flow out of one (p_k q_k): beyond it, the solution is redone."""


def _relative_to(balance: Any, likely: int) -> np.ndarray | None:
    """The solution of `stationary` with p_likely = 1, normalised; None where it is not a
    distribution to working precision. `balance` is Q transposed (CSR)."""
    from scipy.sparse.linalg import splu

    size = balance.shape[0]
    others = np.concatenate((np.arange(likely), np.arange(likely + 1, size)))
    equations = balance[others]
    system = equations[:, others].tocsc()
    right = -np.asarray(equations[:, [likely]].todense()).ravel()
    with np.errstate(all="ignore"):
        try:
            solved = splu(system).solve(right)
        except RuntimeError:  # (singular to working precision)
            return None
        ratios = np.insert(solved, likely, 1.0)
        if not np.all(np.isfinite(ratios)) or ratios.min() < -RESIDUAL_TOLERANCE * ratios.max():
            return None
        solution = np.maximum(ratios, 0.0) / float(np.maximum(ratios, 0.0).sum())
        residual = np.abs(balance @ solution).max()
        flows = np.abs(balance.diagonal() * solution).max()
    if not residual <= RESIDUAL_TOLERANCE * flows:
        return None
    return np.asarray(solution)


def _normalised_solve(
    size: int, rows: np.ndarray, columns: np.ndarray, entries: np.ndarray
) -> np.ndarray:
    """p Q = 0 (as the transposed triplets `rows`, `columns`, `entries`) with its first
    equation replaced by sum p = 1, solved by a sparse LU."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    kept = rows != 0
    rows = np.concatenate((rows[kept], np.zeros(size, dtype=int)))
    columns = np.concatenate((columns[kept], np.arange(size)))
    entries = np.concatenate((entries[kept], np.ones(size)))
    system = coo_matrix((entries, (rows, columns)), shape=(size, size)).tocsc()
    right = np.zeros(size)
    right[0] = 1.0
    solution = np.maximum(np.asarray(spsolve(system, right)), 0.0)
    return np.asarray(solution / solution.sum())
