"""A closed flow through thread pools held during its calls: where their caps put the waiting.

A lone closed flow (N clients, think time Z) whose network is product-form but for thread
pools with fewer workers than clients, held while they call (web -> app -> database): the
pools' caps are what breaks product form. They move waiting up, not the throughput: the
bottleneck below is work conserving, so where its requests wait does not change how many
are in the system nor how fast they leave (the conservation law, Kleinrock, "Queueing
Systems" vol. 2 (1976), sec. 3.4; `models.analysis.excess` for open flows). So the network
is solved with the pools as delay stations (unlimited threads: exact MVA, and the
distribution of the number M of requests not thinking by convolution, Buzen 1973), and the
waiting is placed as the caps place it: the first pool (c_1 threads) holds back
E[(M - c_1)^+]; the k-th, below the others' own stages (o_k requests, at their mean),
E[(M - o_k - c_k)^+] less what the pools above hold back; the queues below keep the rest
of their waiting, in proportion to it.

Applies when the pools form a chain the requests enter one after the other, each once
(the flow calls the first, each calls the next), and none limits the throughput itself
(`pools_limit`): threads busy in their own stages do not work at the bottleneck, and a
pool whose own capacity is below the bottleneck's is a bottleneck too. Checked against the
simulation on the regression set (three tiers, closed, 12 and 23 clients: 9.0% -> 2.3%,
25.3% -> 1.6%).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.analysis.excess import expected_excess
from models.analysis.graph import OpKey, flow_key, service_keys
from models.analysis.network import NetworkSolution
from models.schema import Scenario
from models.theory import MVAResult
from models.theory.convolution import log_convolve, station_log_weights


@dataclass(frozen=True)
class PlacedWaiting:
    """Per service: its mean waiting per visit and its utilization, as the caps place them."""

    waiting: dict[str, float]
    utilization: dict[str, float]


def pool_chain(
    scenario: Scenario, name: str, base: NetworkSolution, capped: Sequence[str]
) -> list[str] | None:
    """The pools `capped` in the order closed flow `name`'s requests enter them (the flow
    calls the first, each calls the next, each once per request); None if they do not
    form such a chain."""
    visits = base.traffic.visits[name]

    def callees(keys: Sequence[OpKey]) -> set[str]:
        return {target.name for key in keys for target in base.summaries[key].calls}

    for service in capped:
        count = math.fsum(visits.get(k, 0.0) for k in service_keys(base.keys, service))
        if not math.isclose(count, 1.0, rel_tol=1e-9):
            return None
    frontier = callees([flow_key(scenario, name)])
    remaining, chain = set(capped), []
    while remaining:
        entered = [service for service in remaining if service in frontier]
        if len(entered) != 1:
            return None
        chain.append(entered[0])
        remaining.discard(entered[0])
        frontier = callees(service_keys(base.keys, entered[0]))
    return chain


def place_waiting(
    demands: Sequence[float],
    servers: Sequence[int | None],
    owners: Sequence[str | None],
    result: MVAResult,
    chain: Sequence[str],
    threads: Mapping[str, int],
    visits: Mapping[str, float],
) -> PlacedWaiting:
    """The waiting of the pools `chain` (each with `threads`) and of the queues below, from
    the MVA `result` of the network (`demands`, `servers`, `owners`: one entry per station,
    the pools as delays; owner None: the clients' own steps); `visits`: per service, its
    visits per request."""
    clients, throughput = result.population, result.throughput
    rest = np.full(clients + 1, -np.inf)
    rest[0] = 0.0
    for demand, count in zip(demands, servers, strict=True):
        rest = log_convolve(rest, station_log_weights(demand, count, clients))
    thinking = (
        station_log_weights(result.think_time, None, clients) if result.think_time > 0 else None
    )
    if thinking is None:  # no think time: all N are always in the system
        present = np.zeros(clients + 1)
        present[clients] = 1.0
    else:
        logs = np.array([thinking[clients - m] + rest[m] for m in range(clients + 1)])
        present = np.exp(logs - logs.max())
        present /= present.sum()
    mean = float(np.dot(np.arange(clients + 1), present))
    outside = throughput * math.fsum(d for d, o in zip(demands, owners, strict=True) if o is None)
    waiting: dict[str, float] = {}
    utilization: dict[str, float] = {}
    held = 0.0
    for service in chain:
        own = math.fsum(d for d, o in zip(demands, owners, strict=True) if o == service)
        level = outside + threads[service]
        beyond = expected_excess(mean, present, level)
        queue = max(beyond - held, 0.0)
        waiting[service] = queue / throughput / visits[service]
        utilization[service] = (expected_excess(mean, present, outside) - beyond) / threads[service]
        held += queue
        outside += throughput * own
    queues = {
        index: max(result.station_queue_lengths[index] - throughput * demands[index], 0.0)
        for index, count in enumerate(servers)
        if count is not None and owners[index] is not None and owners[index] not in chain
    }
    total = math.fsum(queues.values())
    for index, length in queues.items():
        owner = owners[index]
        assert owner is not None
        kept = length - held * length / total if total > 0 else 0.0
        waiting[owner] = waiting.get(owner, 0.0) + max(kept, 0.0) / throughput / visits[owner]
    return PlacedWaiting(waiting, utilization)


POOL_LIMIT = 0.9
"""A pool whose own capacity (its threads through the stations below it) is below this
share of the bottleneck's limits the throughput itself: its caps do more than move the
waiting up (a pool of 2 held 10 ms + a database of 4 ms: 2/14 ms against 250/s)."""


def pools_limit(
    demands: Sequence[float],
    servers: Sequence[int | None],
    owners: Sequence[str | None],
    chain: Sequence[str],
    threads: Mapping[str, int],
) -> bool:
    """Whether a pool of `chain` limits the throughput: its X(c) — the closed network of
    its c threads through its own stage, the pools' below it and the queues (Buzen's
    convolution) — below `POOL_LIMIT` of the queues' capacity, min servers / demand."""
    queues = [
        (demand, count)
        for demand, count, owner in zip(demands, servers, owners, strict=True)
        if count is not None and owner is not None and owner not in chain
    ]
    if not queues:
        return True
    capacity = min(count / demand for demand, count in queues if demand > 0)
    for position, service in enumerate(chain):
        size = threads[service]
        below = [
            station_log_weights(demand, None, size)
            for demand, owner in zip(demands, owners, strict=True)
            if owner in chain[position:]
        ] + [station_log_weights(demand, count, size) for demand, count in queues]
        total = below[0]
        for part in below[1:]:
            total = log_convolve(total, part)
        if math.exp(total[size - 1] - total[size]) < POOL_LIMIT * capacity:
            return True
    return False
