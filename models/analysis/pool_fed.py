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
(`stations._two_class`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.analysis.graph import StationId
from models.analysis.layers import Callee, flow_equivalent

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
    """Mean waits at the station, per class, with exponential service."""

    pool: float
    """Mean waiting time of one of the pool's calls."""
    open: float
    """Mean waiting time of an open arrival."""
    p_wait: float
    """The server's utilization (the probability that an open arrival waits)."""


def pool_fed_waits(
    open_rate: float, open_mean: float, pool_mean: float, threads: int, feeder: Feeder
) -> PoolFedWaits | None:
    """The mean waits at a one-server station (module docstring): `open_rate` open
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
    if not open_load + pool_load < 1.0:
        return None
    station = StationId("service", "station")
    callee = Callee(station, feeder.visits, pool_mean, 1, open_load)
    layer = flow_equivalent(feeder.requests, threads, feeder.away, [callee])
    if layer is None or layer.saturated:
        return None
    pool_wait = layer.callee_waiting[station]  # (exponential: no scaling)
    present = feeder.requests * feeder.visits * (pool_wait + pool_mean)  # (Little)
    open_wait = (open_load * open_mean + present * pool_mean) / (1.0 - open_load)
    return PoolFedWaits(pool_wait, open_wait, open_load + pool_load)
