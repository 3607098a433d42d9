"""What every round of `models.analysis.network.solve_network` reads of the scenario's
structure to solve its stations and pools: each service's operations, each consumer
group's handlers, the order in which the pools are solved (callees first) and the
services some pool waits for (`convergence.held_through`).

These depend on the nodes (`graph.reachable`) and the calls each operation makes, not on
any rate or wait: an operation's summary lists every call step it has, reached or not
(`operations._Walker.call`), so its callees are the same in every round. Found in each
round, they cost a pass over every node for each service and group (some 1% of the 100
generated services' analysis); `SolveMemo.round_structure` finds them once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from models.analysis.convergence import held_through
from models.analysis.graph import OpKey, handler_keys
from models.analysis.summary import OperationSummary
from models.schema import Scenario


@dataclass(frozen=True)
class RoundStructure:
    """The scenario's structure as a round solves its stations (module docstring)."""

    service_keys: dict[str, list[OpKey]]
    """Each service's operations among the nodes, in their order (services without any
    reachable operation are missing)."""
    order: list[str]
    """The services, callees before their callers (`service_order`)."""
    handlers: dict[tuple[str, str], list[OpKey]]
    """Each consumer group's handlers among the nodes (`graph.handler_keys`), by (topic,
    group)."""
    held: frozenset[str]
    """The services whose response some pool waits for, holding a worker
    (`convergence.held_through`)."""


def round_structure(
    scenario: Scenario, keys: Sequence[OpKey], summaries: Mapping[OpKey, OperationSummary]
) -> RoundStructure:
    """The structure of the rounds over the nodes `keys`, whose summaries are `summaries`
    (any round's: only their calls' targets are read)."""
    by_service: dict[str, list[OpKey]] = {}
    for key in keys:
        if key.kind == "service":
            by_service.setdefault(key.name, []).append(key)
    handlers = {
        (topic_name, group): handler_keys(keys, topic_name, group)
        for topic_name, topic in scenario.topics.items()
        for group in topic.subscribers
    }
    order, held = service_order(scenario, summaries), held_through(scenario, summaries)
    return RoundStructure(by_service, order, handlers, held)


def service_order(scenario: Scenario, summaries: Mapping[OpKey, OperationSummary]) -> list[str]:
    """Services with callees before their callers (cycles through different operations are
    broken arbitrarily)."""
    edges: dict[str, set[str]] = {name: set() for name in scenario.services}
    for key, summary in summaries.items():
        if key.kind == "service":
            edges[key.name].update(target.name for target in summary.calls)
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for target in sorted(edges[name]):
            visit(target)
        order.append(name)

    for name in scenario.services:
        visit(name)
    return order
