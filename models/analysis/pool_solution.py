"""A thread pool's solution from its flow-equivalent server (`models.analysis.layers`):
the birth-death queue's wait, scaled for the pool's arrivals' and holding time's
variability, with its groups' excess (`models.analysis.pools.solve_pool`).
"""

from __future__ import annotations

import math

from models.analysis.group_waits import GROUPS_NOTE, group_excess
from models.analysis.layers import METHOD, Layer
from models.analysis.moments import INFINITE, Moments, waiting_moments
from models.analysis.smooth_arrivals import calm, round_robin_scale
from models.analysis.station_load import StationLoad, StationSolution


def pool_solution(
    load: StationLoad, layer: Layer, rate: float, holding: Moments
) -> StationSolution:
    """The solution of a pool of `load`, `rate` acquisitions a second each held `holding`,
    from its flow-equivalent server `layer` (`pools.solve_pool`)."""
    servers = load.servers
    assert servers is not None
    # The flow-equivalent server is a birth-death chain: exponential holding times. Its wait
    # is scaled by (ca² + cs²) / 2 of the pool's arrivals and holding time, as Allen and
    # Cunneen scale M/M/c's; the holding time is a sum of independent parts (own work,
    # callees' response) whose variances add. A single worker is an M/G/1 queue whatever its
    # callees (they never see two of its requests): with Poisson arrivals this is
    # Pollaczek-Khinchine's formula exactly (Kleinrock vol. 1 §5.6). Where the threads
    # queue at a one-server callee of their own, they leave at its pace: its SCV per
    # request counts as often as they queue there (`layers.own_server_pacing`).
    service_scv = min(holding.scv, 1e6)
    if layer.paced is not None:
        paced = layer.paced
        service_scv = paced.queued * paced.scv + (1.0 - paced.queued) * service_scv
    scale = (load.arrival_scv + service_scv) / 2.0
    below = math.fsum(w for w in layer.callee_waiting.values() if math.isfinite(w))
    share = calm(below, holding.mean)  # (else the queues below set the wait)
    dealt = round_robin_scale(load, rate, holding) if share > 0.0 else None
    scale = scale if dealt is None else share * dealt + (1.0 - share) * scale
    waiting, p_wait, method = layer.waiting * scale, layer.p_wait, METHOD
    excess = (
        None
        if layer.saturated or not load.groups
        else group_excess(load.groups, servers, holding.mean)
    )
    if excess is not None:  # (as the open model adds them: `group_waits.group_excess`)
        waiting, p_wait = waiting + excess[0], min(max(p_wait + excess[1], 0.0), 1.0)
        method = f"{METHOD} + {GROUPS_NOTE}"
    wait = INFINITE if layer.saturated else waiting_moments(waiting, p_wait)
    return StationSolution(
        method=method,
        exact=False,
        stable=not layer.saturated,
        saturated=layer.saturated,
        arrival_rate=rate,
        offered_load=rate * holding.mean,
        utilization=layer.utilization,
        throughput=min(rate, layer.capacity),
        loss=0.0,
        p_wait=p_wait,
        waiting={c.priority: wait for c in load.classes},
        pressure=rate / layer.capacity,
    )
