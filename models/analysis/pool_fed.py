"""A one-server station shared by a thread pool's calls and open arrivals, the pool fed by
open arrivals of its own: the mixed product form over the pool's own queue.

A blocking service of N threads that calls a one-server station (a database) while other
callers send it the rest of its arrivals can never have more than N requests there. The
two-class chain (`models.analysis.mixed_source`) takes those N as independent sources, each
away an exponential think time between visits: the more of them are at the station, the
fewer can come, at every load. But a pool's threads are not thinkers: while it has idle
threads, its calls come as its own requests do (Poisson, unchecked); only with every thread
busy do they stop. The chain's feedback is too strong, and the station's queue too short
(`bench/shared_callee.py`: a pool of 4 threads bringing 50-86% of a database at 80%, the
database's wait 27-31% under the simulation).

Model (the method of layers' flow-equivalent server, `models.analysis.layers`, with the
open class of a mixed network at the station: Lazowska, Zahorjan, Graham & Sevcik,
"Quantitative System Performance" (1984), sec. 7.4):

- with k of its requests holding threads, the pool is a closed network of k customers over
  a delay (the time a thread is held away from the station, `Feeder.away`) and the station
  (v visits of mean S_B per request), the open class slowing its server (demand / (1 -
  U_O)): mean-value analysis gives its throughput X(k) and its customers present Q(k);
- the pool's requests arrive as Poisson at rate lambda and are served at X(min(n, N)) with
  n present: a birth-death queue whose law gives P(k busy threads) (k = N for n >= N);
- an open arrival finds Q_B = sum P(k) Q(k) of the pool's requests there, an arriving call
  of the pool Q(k - 1) of them (the arrival theorem), so that per visit
  R_B(k) (1 - U_O) = S_B (1 + Q(k - 1)) and R_O (1 - U_O) = S_O + Q_B S_B; the pool's
  waiting per call is the mean of R_B over its calls (weighted by P(k) X(k)) less S_B.

Exact for exponential service of one mean and Poisson arrivals at the pool and at the
station where the pool's subnetwork is product form (then Norton's theorem holds), as
the flow-equivalent server is; otherwise approximate. Service that is not exponential
enters through the residual of the request in service (Reiser's residual-time correction
of MVA: the one in service has E[S²] / (2 E[S]) = S (1 + c_s²) / 2 left, not S), for both
classes: R_B(k) (1 - U_O) = S_B (1 + Q(k - 1)) - U_B(k - 1) S_B (1 - r_B) - U_O S_O (1 -
r_O), r = (1 + c_s²) / 2, and the same terms for R_O; measured there, the database's wait
with constant service is 25% under the simulation (the two-class chain: 51%). The open
arrivals are taken as Poisson (the caller scales the waits by its arrivals' variability,
`mixed_source.split_waits`), one at a time (where they come in groups, the station keeps
the open formulas with the groups' excess: `stations._two_class`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

METHOD = "open class and a thread pool's own queue (mixed product form)"


@dataclass(frozen=True)
class Feeder:
    """A bounded caller that is one thread pool whose requests queue for its threads
    (its own arrivals unbounded): what the station's model reads of it."""

    requests: float
    """Requests per second arriving at the pool (all its operations)."""
    visits: float
    """Calls to the station per request."""
    away: float
    """Mean time per request that a thread is held outside the station (its own work and
    its other calls)."""


@dataclass(frozen=True)
class PoolFedWaits:
    """Mean waits at the station, per class."""

    pool: float
    """Mean waiting time of one of the pool's calls."""
    open: float
    """Mean waiting time of an open arrival."""
    p_wait: float
    """The server's utilization (the probability that an open arrival waits)."""


def pool_fed_waits(
    open_rate: float,
    open_service: tuple[float, float],
    pool_service: tuple[float, float],
    threads: int,
    feeder: Feeder,
) -> PoolFedWaits | None:
    """The mean waits at a one-server station (module docstring): `open_rate` open
    arrivals per second, each class's service (mean, SCV), the pool's `threads` and what
    `feeder` says of it; None where the pool cannot take its arrivals (its X(N) at or
    below them) or the station cannot (its utilization at 1 or above).

    >>> # two exponential classes of one mean: open 40/s, the pool 40/s over a delay
    >>> waits = pool_fed_waits(40.0, (0.01, 1.0), (0.01, 1.0), 4, Feeder(40.0, 1.0, 0.02))
    >>> round(waits.p_wait, 6)
    0.8
    """
    open_mean, open_scv = open_service
    pool_mean, pool_scv = pool_service
    open_load = open_rate * open_mean
    pool_load = feeder.requests * feeder.visits * pool_mean
    if threads < 1 or not feeder.requests > 0 or not math.isfinite(feeder.away):
        return None
    if not open_load + pool_load < 1.0:
        return None
    left = 1.0 - open_load
    demand = feeder.visits * pool_mean  # (per request)
    pool_short = pool_mean * (1.0 - (1.0 + pool_scv) / 2.0)  # (S_B (1 - r_B))
    open_short = open_load * open_mean * (1.0 - (1.0 + open_scv) / 2.0)  # (U_O S_O (1 - r_O))
    present, throughput, response = [0.0], [0.0], [0.0]
    for k in range(1, threads + 1):
        busy = throughput[-1] * demand  # (U_B(k - 1), the pool's share of the server)
        per_call = (pool_mean * (1.0 + present[-1]) - busy * pool_short - open_short) / left
        per_call = max(per_call, pool_mean)
        per_request = feeder.visits * per_call
        rate = min(k / (feeder.away + per_request), left / demand)
        present.append(rate * per_request)
        throughput.append(rate)
        response.append(per_request)
    if feeder.requests >= throughput[threads]:
        return None
    weights = [1.0]
    for k in range(1, threads + 1):
        weights.append(weights[-1] * feeder.requests / throughput[k])
    weights[threads] /= 1.0 - feeder.requests / throughput[threads]  # (every n >= N)
    total = sum(weights)
    chance = [weight / total for weight in weights]
    pool_present = sum(p * q for p, q in zip(chance, present, strict=True))
    pool_busy = pool_load  # (the pool's share of the server, over every k)
    pool_response = sum(p * x * r for p, x, r in zip(chance, throughput, response, strict=True)) / (
        feeder.requests * feeder.visits
    )
    open_response = (
        open_mean + pool_present * pool_mean - pool_busy * pool_short - open_short
    ) / left
    return PoolFedWaits(
        pool=max(pool_response - pool_mean, 0.0),
        open=max(open_response - open_mean, 0.0),
        p_wait=open_load + pool_load,
    )
