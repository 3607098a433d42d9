"""A consumer group fed through an entry service that rate pieces overload, for
`models.analysis.pointwise`: the service flat out passes on its capacity, not what arrives,
and the group's backlog is that of the tandem.

Two fluid pools in series (Newell, "Applications of Queueing Theory", 2nd ed. (1982),
ch. 2; the same fluid as `models.analysis.carry_over`'s): the service's pool, serving mu
requests per second flat out, sends on what arrives while it has no backlog and mu while it
has one, including the time it drains after the pieces that overload it. What it sends is
what feeds the group (each consumer a fixed share of it), so each piece is cut where the
service's backlog empties, and each consumer is offered, in each part, its share of what
the service sends. The spike of `scenarios/traffic_spike.yaml` (200/s, 600/s for a
minute, 200/s) through one web worker of 500/s into consumers of 400/s: the web's backlog
grows at 100/s for 60 s and drains at 300/s for 20 s, so the consumers are offered 500/s
for 80 s and pile up 8,000 messages, drained in 40 s: a lag of 480,000 / 360 = 1,333 plus
the consumers' threads, where counting the consumers as offered 600/s gave 2,004.

The group is fed through the service where every flow that reaches the group is one call
to it (`feeders`): all the group's messages then pass through the service first. Its
consumers' shares must be the same in every piece (`carry_through`: one flow into the
service, or flows whose mix does not change), else the order in which the service lets
its backlog go would matter. Where a consumer is offered less than its piece said and is
not overloaded, its steady state is its pool's, solved again at that rate; the time the
messages take between the service and the group is left out (the fluid's).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from models.analysis.carry_over import GroupKey, carry_over
from models.analysis.graph import OpKey, reachable
from models.analysis.network import NetworkSolution
from models.analysis.prediction import PredictedGroup
from models.schema import CallStep, Scenario

SAME_SHARE = 1e-9
"""How closely (relative) a consumer's share of what the service sends must agree from
piece to piece."""

Parts = list[tuple[float, float]]
"""A piece cut in parts: (fraction of the piece, requests per second the service sends)."""


def departures(capacity: float, pieces: Sequence[tuple[float, float]]) -> list[Parts]:
    """What a fluid pool serving `capacity` per second flat out sends in each of `pieces`
    (length in seconds, arrivals per second), in order: its arrivals while it has no
    backlog, `capacity` while it has one, each piece cut where the backlog empties.

    >>> departures(500.0, [(120.0, 200.0), (60.0, 600.0), (180.0, 200.0)])
    [[(1.0, 200.0)], [(1.0, 500.0)], [(0.1111111111111111, 500.0), (0.8888888888888888, 200.0)]]
    """
    backlog = 0.0
    sent: list[Parts] = []
    for length, arrival in pieces:
        if arrival >= capacity:
            backlog += (arrival - capacity) * length
            sent.append([(1.0, capacity if backlog > 0 else arrival)])
            continue
        draining = backlog / (capacity - arrival)
        if draining <= 0.0:
            sent.append([(1.0, arrival)])
        elif draining >= length:
            backlog -= (capacity - arrival) * length
            sent.append([(1.0, capacity)])
        else:
            backlog = 0.0
            fraction = draining / length
            sent.append([(fraction, capacity), (1.0 - fraction, arrival)])
    return sent


def feeders(
    scenario: Scenario, groups: Collection[GroupKey], services: Collection[str]
) -> dict[GroupKey, str] | None:
    """Per consumer group of `groups` that one of the overloaded `services` feeds, that
    service: every flow that reaches the group is one call to it (module docstring).
    Groups none of them feeds are left out; None where one of them feeds a group in part
    (another flow reaches the group too, or several of them feed it)."""
    reach = {flow: set(reachable(scenario, [flow])) for flow in scenario.workload}
    fed: dict[GroupKey, str] = {}
    for topic, group in groups:
        handler = [OpKey("handler", topic, group, key.priority) for key in _flow_keys(scenario)]
        reaching = [flow for flow, nodes in reach.items() if nodes.intersection(handler)]
        through = {
            name
            for name in services
            for flow in reaching
            if any(node.kind == "service" and node.name == name for node in reach[flow])
        }
        if not through:
            continue
        if len(through) > 1:
            return None
        (service,) = through
        if any(sole_call(scenario, flow) != service for flow in reaching):
            return None
        fed[(topic, group)] = service
    return fed


def _flow_keys(scenario: Scenario) -> list[OpKey]:
    """One node per flow (for the priorities that handlers run at)."""
    return [OpKey("flow", name, "", flow.priority) for name, flow in scenario.workload.items()]


def sole_call(scenario: Scenario, flow: str) -> str | None:
    """The service that flow `flow`'s body is one call to (None: any other body)."""
    steps = scenario.workload[flow].body()
    if len(steps) == 1 and isinstance(steps[0], CallStep):
        return steps[0].call.service
    return None


def carry_through(
    key: GroupKey,
    service: str,
    pieces: Sequence[tuple[float, NetworkSolution]],
    length: float,
    capacity: float | None,
) -> PredictedGroup | None:
    """The group `key`'s means over the measured period (of `length` s) cut into `pieces`
    (share, solution), fed through entry `service` whose pools serve `capacity` each flat
    out (module docstring); None where that is not known, a consumer's share of what the
    service sends changes from piece to piece, or the service still sends in a piece where
    nothing arrives at it."""
    if capacity is None or not math.isfinite(capacity):
        return None
    arrivals = [(share * length, s.services[service].solution.arrival_rate) for share, s in pieces]
    if not _same_shares(key, service, pieces):
        return None
    shape: list[list[tuple[float, float]]] = []
    for (_, arrival), parts in zip(arrivals, departures(capacity, arrivals), strict=True):
        if arrival <= 0.0:
            if any(rate > 0.0 for _, rate in parts):
                return None
            shape.append([(1.0, 1.0)])
        else:
            shape.append([(fraction, rate / arrival) for fraction, rate in parts])
    return carry_over(key, pieces, length, shape)


def _same_shares(
    key: GroupKey, service: str, pieces: Sequence[tuple[float, NetworkSolution]]
) -> bool:
    """Whether each consumer of group `key` is offered the same share of what arrives at
    `service` in every piece where something does."""
    shares: list[list[float]] = []
    for _, solution in pieces:
        arrival = solution.services[service].solution.arrival_rate
        if arrival > 0.0:
            consumers = solution.groups[key].consumers
            shares.append([result.arrival_rate / arrival for _, result in consumers])
    return all(
        math.isclose(share, first, rel_tol=SAME_SHARE, abs_tol=0.0)
        for row in shares[1:]
        for share, first in zip(row, shares[0], strict=True)
    )


__all__ = ["carry_through", "departures", "feeders", "sole_call"]
