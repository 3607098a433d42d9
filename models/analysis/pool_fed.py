"""A station shared by a thread pool's calls and open arrivals, the pool fed by open
arrivals of its own: the mixed product form over the pool's own queue (one server; or
several, where both classes have one mean service: `SAME_MEAN`).

A blocking service of N threads that calls a one-server station (a database) while other
callers send it the rest of its arrivals can never have more than N requests there. The
two-class chain (`models.analysis.mixed_source`) takes those N as independent sources, each
away an exponential think time between visits: the more of them are at the station, the
fewer can come, at every load. But a pool's threads are not thinkers: while it has idle
threads, its calls come as its own requests do (Poisson, unchecked); only with every thread
busy do they stop. The chain's feedback is too strong, and the station's queue too short
(`bench/shared_callee.py`: a pool of 4 threads bringing 50-86% of a database at 80%, the
database's wait 27-31% under the simulation).

Model: the pool's flow-equivalent server (`models.analysis.layers.flow_equivalent`, the
method of layers), the station in its subnetwork with the open class's Erlangs summed
out of its server (demand / (1 - U_O) at one server; Lazowska, Zahorjan, Graham & Sevcik,
"Quantitative System Performance" (1984), sec. 7.4), the rest of a thread's hold a delay
(`Feeder.away`). It gives the pool's requests, a birth-death queue served at X(min(n,
N)), their mean wait per call there, W_B. By Little's law they are Q_B = lambda v (W_B +
S_B) there on average, and an open arrival (Poisson, seeing time averages) finds them:
R_O (1 - U_O) = S_O + Q_B S_B.

Exact for exponential service of one mean and Poisson arrivals at the pool and at the
station where the pool's subnetwork is product form (then Norton's theorem holds), as
the flow-equivalent server is; otherwise approximate. Like the chain's, its waits are
those of exponential service; `mixed_source.split_waits` scales both by (ca² + cs²) / 2
(the database's wait with constant service is then 30% under the simulation, the chain's
51%). Arrivals in groups keep the open formulas with the groups' excess
(`stations._two_class`). At several servers the open class's wait comes from the same
product form's distribution of the pool's calls there (`_several_servers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from models.analysis.graph import StationId
from models.analysis.layers import Callee, Layer, flow_equivalent, mixed_parts

METHOD = "open class and a thread pool's own queue (mixed product form)"


SAME_MEAN = 0.1
"""At a station of several servers, the model applies only where the two classes' mean
services are this close (relative): its product form holds for one service rate (BCMP),
and for several servers it has no use for two (`bench/shared_callee.py`'s shapes of 2 and
4 servers, one law for both classes: the station's wait -30%, -30%, -25%, +35% by the
chain, -4%, -1%, -8%, -4% by this model; a pool's calls of 6 ms beside open ones of 2 ms
at 2 servers: -37% by this model, -8% by the chain, and 1.25 times as long: -6%, 0%; the
Alibaba-like model of the regression set at 95%, 2.3 and 2.9 times: svc-00 waits -48%,
-20% by the chain). At one server each class keeps its own mean (`pool_fed_waits`): a
pool's calls 3 times as long or a third as long, +9% and -20%, the chain -18% and -6%."""


def same_mean(first: float, second: float) -> bool:
    """Whether two mean services are one for the product form (`SAME_MEAN`)."""
    return math.isclose(first, second, rel_tol=SAME_MEAN)


def applies(servers: int, open_mean: float, pool_mean: float) -> bool:
    """Whether the model applies at a station of `servers` to classes of these mean
    services (`SAME_MEAN`)."""
    return servers == 1 or same_mean(open_mean, pool_mean)


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

    def at_replica(self, share: float, hold: float) -> Feeder:
        """The pool as one of the station's replicas sees it, each call picking its replica
        at random (`share` = 1 / replicas): `share` of the calls come to it, and the others'
        holds at the other replicas (`hold` each, the replicas alike) are time away from
        it. Their holds, not their responses: a response there would count this station's
        own wait of the round before as time away, which lowers its wait, and the rounds
        would no longer climb to the fixed point from a lighter load (the capacity search
        reads its first saturated one as final: fuzz seed 5304 deep's `f2` came out 294/s
        from 3% of its rate, 312/s from its own, where the network saturates at 316/s)."""
        others = self.visits * (1.0 - share) * hold
        return Feeder(self.requests, self.visits * share, self.away + others)


@dataclass(frozen=True)
class PoolFedWaits:
    """Mean waits at the station, per class, with exponential service."""

    pool: float
    """Mean waiting time of one of the pool's calls."""
    open: float
    """Mean waiting time of an open arrival."""
    p_wait: float
    """The server's utilization (the probability that an open arrival waits)."""


def pool_fed_waits(
    open_rate: float,
    open_mean: float,
    pool_mean: float,
    threads: int,
    feeder: Feeder,
    servers: int = 1,
) -> PoolFedWaits | None:
    """The mean waits at a station of `servers` (module docstring): `open_rate` open
    arrivals per second of mean service `open_mean`, the pool's calls of mean `pool_mean`,
    its `threads` and what `feeder` says of it; None where the pool cannot take its
    arrivals (its X(N) at or below them) or the station cannot (its utilization at 1).

    >>> # two exponential classes of one mean: open 40/s, the pool 40/s over a delay
    >>> waits = pool_fed_waits(40.0, 0.01, 0.01, 4, Feeder(40.0, 1.0, 0.02))
    >>> round(waits.p_wait, 6)
    0.8
    """
    open_load = open_rate * open_mean
    pool_load = feeder.requests * feeder.visits * pool_mean
    if threads < 1 or not feeder.requests > 0 or not math.isfinite(feeder.away):
        return None
    if not open_load + pool_load < servers:
        return None
    station = StationId("service", "station")
    callee = Callee(station, feeder.visits, pool_mean, servers, open_load)
    layer = flow_equivalent(feeder.requests, threads, feeder.away, [callee])
    if layer is None or layer.saturated:
        return None
    pool_wait = layer.callee_waiting[station]  # (exponential: no scaling)
    if servers > 1:
        return _several_servers(open_rate, open_mean, pool_mean, threads, feeder, servers, layer)
    present = feeder.requests * feeder.visits * (pool_wait + pool_mean)  # (Little)
    open_wait = (open_load * open_mean + present * pool_mean) / (1.0 - open_load)
    return PoolFedWaits(pool_wait, open_wait, open_load + pool_load)


def _several_servers(
    open_rate: float,
    open_mean: float,
    pool_mean: float,
    threads: int,
    feeder: Feeder,
    servers: int,
    layer: Layer,
) -> PoolFedWaits:
    """The open class's wait at a station of several servers, from the product form the
    flow-equivalent server `layer` solved (module docstring): with k of the pool's calls
    present, the open class's mean number there is E[m | k] = a (k + 1) g(k + 1) / (D
    g(k)) (g the station's weights with the open class summed out, `mixed_log_weights`;
    m C(k + m, k) = (k + 1) C(k + m, k + 1)), and P(every server busy | k) is the share of
    g(k)'s states with no free server (`mixed_parts`); k is distributed as the subnetwork
    of N busy threads has it, f(k) Z^(N - k) / (N - k)! / G(N) (Z the time away), N as the
    pool's birth-death queue at X(N). An open arrival sees time averages (Poisson), and
    waits (E[m] - a) / lambda_O by Little's law. For one server this is the formula of
    `pool_fed_waits`."""
    open_load = open_rate * open_mean
    demand = feeder.visits * pool_mean
    population = threads + 1
    head, tail = mixed_parts(servers, open_load, population)  # (in logs, as all below:
    summed = np.logaddexp(head, tail)  # 256 threads; `mixed_log_weights` is D^k times this)
    busy_given = np.exp(tail - summed)  # P(every server busy | k)
    present = np.arange(population + 1, dtype=float)
    station = present * math.log(demand) + summed
    open_given = open_load * present[1:] * np.exp(station[1:] - station[:-1]) / demand
    with np.errstate(divide="ignore", invalid="ignore"):  # (no time away: all at the station)
        delay = present[:population] * np.log(feeder.away) - gammaln(present[:population] + 1)
    delay[0] = 0.0
    ratio = feeder.requests / np.asarray(layer.completion_rates)  # (lambda / X(n), n = 1..N)
    pool_states = np.concatenate(([0.0], np.cumsum(np.log(ratio))))
    pool_states[-1] -= math.log1p(-ratio[-1])  # (N threads busy: every n >= N, geometric)
    pool_states = np.exp(pool_states - pool_states.max())
    pool_states /= pool_states.sum()
    open_present = p_busy = 0.0
    for n in range(threads + 1):
        joint = station[: n + 1] + delay[n::-1]  # (k at the station, n - k away)
        at_station = np.exp(joint - joint.max())
        at_station /= at_station.sum()
        open_present += pool_states[n] * float(np.dot(at_station, open_given[: n + 1]))
        p_busy += pool_states[n] * float(np.dot(at_station, busy_given[: n + 1]))
    open_wait = max(open_present - open_load, 0.0) / open_rate
    pool_wait = layer.callee_waiting[StationId("service", "station")]
    return PoolFedWaits(pool_wait, float(open_wait), float(p_busy))
