"""The waiting that arrivals in groups add at a pool: M^X/M/c's over M/M/c's at the same
load, added to whatever formula the pool is solved with (`models.analysis.stations`, the
two-class station's product form, a flow-equivalent server: `models.analysis.pools`)."""

from __future__ import annotations

import math

from models.analysis.station_load import PoolMix
from models.theory import mmc
from models.theory.batch_arrivals import mxmc
from models.theory.prediction import StationPrediction, stable_station


def in_groups(
    groups: tuple[tuple[int, float], ...],
    servers: int,
    mix: PoolMix,
    prediction: StationPrediction,
) -> StationPrediction:
    """`prediction` for arrivals in `groups` (size, groups per second), with the waiting
    that groups add (`group_excess`) added to the formula's own. Never marked exact: the
    calls of parallel branches are not flagged Poisson."""
    excess = group_excess(groups, servers, mix.holding.mean)
    if excess is None:
        return prediction
    wait, p_wait = prediction.mean_waiting_time + excess[0], prediction.p_wait + excess[1]
    return stable_station(
        method=f"{prediction.method} + {GROUPS_NOTE}",
        exact=False,
        arrival_rate=mix.rate,
        mean_service_time=mix.holding.mean,
        servers=servers,
        mean_waiting_time=max(wait, 0.0),
        p_wait=min(max(p_wait, 0.0), 1.0),
    )


GROUPS_NOTE = "arrivals in groups (M^X/M/c)"


def group_excess(
    groups: tuple[tuple[int, float], ...], servers: int, holding: float
) -> tuple[float, float] | None:
    """The waiting and P(wait) that arrivals in `groups` (size, groups per second) add at
    a pool of `servers` with mean holding time `holding`: M^X/M/c's over M/M/c's at the same
    load (`models.theory.mxmc`); None where M^X/M/c has no steady state. For Poisson
    groups this is M^X/M/c itself where the service is exponential, and for one server
    M^X/G/1, whose waiting is the Pollaczek-Khinchine value plus E[X(X - 1)] E[S] /
    (2 E[X] (1 - rho)) whatever the service law (Gross & Harris, sec. 5.1.7); otherwise
    the excess of the groups is taken from the exponential pool."""
    mu = 1.0 / holding
    batch_rate = math.fsum(rate for _, rate in groups)
    sizes = {size: rate / batch_rate for size, rate in groups}
    grouped = mxmc(batch_rate, sizes, mu, servers)
    if not grouped.stable:
        return None
    single = mmc(grouped.arrival_rate, mu, servers)
    return (
        grouped.mean_waiting_time - single.mean_waiting_time,
        grouped.p_wait - single.p_wait,
    )
