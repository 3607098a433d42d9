"""A consumer group over its handlers' callees: the flow-equivalent server of the method of
layers (`models.analysis.layers`), for consumer threads.

Consumer threads always block: a thread stays held while its handler waits for its calls'
replies, so a group of `threads` threads never has more than that many messages inside its
callees. Solving the callees as open queues ignores that cap (a database called by six
consumer threads is an M/M/c queue fed by at most six customers: the open model over-predicts
its waiting, so the handler's holding time, so the group's utilization and its lag). As
for a service's thread pool, the group is re-solved as a flow-equivalent server: a queue
topic's group is one pool of its threads, and so is a log topic's group with one active
consumer. Several consumers of a log topic are left to the open model: each would see the
others' calls as background load at the callees, which the flow-equivalent server models as
slowed servers, stretching every call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from models.analysis.graph import OpKey, StationId, handler_keys
from models.analysis.layers import LayerCache, WeightCache
from models.analysis.pools import find_callees, solve_pool
from models.analysis.station_load import GroupStation, ServiceStation
from models.analysis.summary import OperationSummary
from models.schema import Scenario


def apply_group_layers(
    scenario: Scenario,
    keys: Sequence[OpKey],
    summaries: Mapping[OpKey, OperationSummary],
    rates: Mapping[OpKey, float],
    services: dict[str, ServiceStation],
    groups: dict[tuple[str, str], GroupStation],
    known: LayerCache | None = None,
    served: Mapping[OpKey, float] | None = None,
    handlers: Mapping[tuple[str, str], Sequence[OpKey]] | None = None,
    weights: WeightCache | None = None,
) -> dict[StationId, dict[StationId, float]]:
    """Re-solve every consumer group whose handlers call queueing services as
    flow-equivalent servers (each consumer of a log topic its own); return, per group, the
    waiting its messages see at each callee (averaged over its consumers by their shares).
    `served`: as `pools.find_callees`'s; `handlers`: each group's handlers among `keys`,
    if found before (`round_structure.RoundStructure.handlers`); `weights`: as
    `pools.solve_pool`'s."""
    seen_by: dict[StationId, dict[StationId, float]] = {}
    for (topic, group), station in groups.items():
        handled = handler_keys(keys, topic, group) if handlers is None else handlers[(topic, group)]
        members = [k for k in handled if rates.get(k)]
        if not any(summaries[k].calls for k in members):  # (none, or no callees below)
            continue
        found = find_callees(scenario, members, summaries, rates, services, served=served)
        if not found or not found[0]:
            continue
        if len(station.consumers) > 1:
            # several consumers of a log topic, each a pool of one thread: each would see
            # the others' calls as background load, modelled as slowed servers, which
            # stretches every call instead of adding occasional waiting (Sock Shop at 95%:
            # a callee's wait 0.2 ms for 0.02 simulated); the open model does better there
            continue
        total = math.fsum(rates.get(k, 0.0) for k in members)
        seen: dict[StationId, float] = {}
        consumers = list(station.consumers)
        for index, ((load, _), share) in enumerate(
            zip(station.consumers, station.shares, strict=True)
        ):
            if load.servers is None or load.closed or share <= 0:
                continue
            if load.priority and len({c.priority for c in load.classes}) > 1:
                continue
            pool = solve_pool(load, total * share, total, found, services, known, weights=weights)
            if pool is None:
                continue
            consumers[index] = (load, pool[0])
            for callee, wait in pool[1].items():
                seen[callee] = seen.get(callee, 0.0) + share * wait
        station.consumers = consumers
        if seen:
            seen_by[StationId("group", topic, group)] = seen
    return seen_by
