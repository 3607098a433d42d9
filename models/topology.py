"""The architecture as a directed graph: who calls, publishes to and consumes from whom.

`topology_graph(scenario)` is pure (no drawing) so that tests and tools can inspect it;
`sim.presentation.plots.topology` draws it. Node identifiers follow the names of the
results document:

- a flow (external client) is ``flow:NAME`` (``:`` cannot occur in a scenario name, so a flow
  never collides with the service or topic of the same name), ``kind="flow"``, with
  ``rate`` (requests/s, for poisson and constant arrivals, else None) and ``clients``
  (closed flows, else None);
- a service is its name, ``kind="service"``;
- a topic is its name, ``kind="topic"``, with ``topic_type`` ``log`` or ``queue``.

Edges carry ``kind``:

- ``entry``: flow -> the service its request enters (its ``entry``, or every service its
  inline steps call);
- ``call``: service -> service, a synchronous call (``operations`` lists the callee's
  operations called along that edge);
- ``publish``: service (or a flow's inline steps) -> topic;
- ``deliver``: topic -> subscribing service, one edge per consumer group, with the group's
  ``operation``, ``concurrency`` (threads per replica) and ``consumers`` (threads in all).

Every node also has a ``layer``: the length of the longest path to it from a flow once the
edges closing cycles are set aside (feedback through topics, services calling each other
through different operations), so a drawing can put requests flowing left to right.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from models.references import walk_steps
from models.schema import (
    CallStep,
    ConstantArrivals,
    Flow,
    PoissonArrivals,
    PublishStep,
    Scenario,
    Step,
)

FLOW_PREFIX = "flow:"


def flow_node(name: str) -> str:
    """The node identifier of flow `name`.

    >>> flow_node("checkout")
    'flow:checkout'
    """
    return f"{FLOW_PREFIX}{name}"


def topology_graph(scenario: Scenario) -> nx.DiGraph:
    """The architecture of `scenario` as a DiGraph (node and edge ``kind`` attributes above).

    Assumes a validated scenario (every reference resolves; see `models.references`).
    Several calls between the same two services are one edge listing the operations called.
    """
    graph = nx.DiGraph(name=scenario.name)
    for name, service in scenario.services.items():
        graph.add_node(
            name,
            kind="service",
            label=name,
            replicas=service.replicas,
            workers=service.workers,
            operations=list(service.operations),
        )
    for name, topic in scenario.topics.items():
        graph.add_node(
            name,
            kind="topic",
            label=name,
            topic_type=topic.type,
            partitions=topic.partitions if topic.type == "log" else None,
        )
    for name, flow in scenario.workload.items():
        node = flow_node(name)
        graph.add_node(
            node,
            kind="flow",
            label=name,
            clients=flow.clients,
            rate=_fixed_rate(flow),
        )
        if flow.entry is not None:
            entry_service, _, entry_operation = flow.entry.partition(".")
            entry_operation, _ = scenario.operation(entry_service, entry_operation or None)
            _add_call(graph, node, entry_service, entry_operation, kind="entry")
        else:
            _add_step_edges(scenario, graph, node, flow.body(), call_kind="entry")
    for service_name, service in scenario.services.items():
        for steps in service.operations.values():
            _add_step_edges(scenario, graph, service_name, steps, call_kind="call")
    for topic_name, topic in scenario.topics.items():
        for service_name, subscriber in topic.subscribers.items():
            operation, _ = scenario.operation(service_name, subscriber.operation)
            graph.add_edge(
                topic_name,
                service_name,
                kind="deliver",
                operation=operation,
                concurrency=subscriber.concurrency,
                consumers=scenario.services[service_name].replicas * subscriber.concurrency,
                label=operation,
            )
    for node, layer in _layers(graph).items():
        graph.nodes[node]["layer"] = layer
    return graph


def _fixed_rate(flow: Flow) -> float | None:
    arrivals = flow.arrivals
    if isinstance(arrivals, PoissonArrivals):
        return arrivals.poisson
    if isinstance(arrivals, ConstantArrivals):
        return arrivals.constant
    return None


def _add_step_edges(
    scenario: Scenario, graph: nx.DiGraph, source: str, steps: list[Step], call_kind: str
) -> None:
    for _, step in walk_steps(steps, ""):
        if isinstance(step, CallStep):
            operation, _ = scenario.operation(step.call.service, step.call.operation)
            _add_call(graph, source, step.call.service, operation, kind=call_kind)
        elif isinstance(step, PublishStep):
            graph.add_edge(source, step.publish.topic, kind="publish", label="")


def _add_call(graph: nx.DiGraph, source: str, target: str, operation: str, kind: str) -> None:
    if graph.has_edge(source, target):
        operations: list[str] = graph.edges[source, target]["operations"]
        if operation not in operations:
            operations.append(operation)
    else:
        graph.add_edge(source, target, kind=kind, operations=[operation])
    graph.edges[source, target]["label"] = ", ".join(graph.edges[source, target]["operations"])


def _layers(graph: nx.DiGraph) -> dict[str, int]:
    """Longest-path depth of every node from the sources, cycles broken at their back edge.

    >>> g = nx.DiGraph([("f", "a"), ("a", "b"), ("f", "b"), ("b", "t"), ("t", "a")])
    >>> _layers(g)
    {'f': 0, 'a': 1, 'b': 2, 't': 3}
    """
    acyclic = nx.DiGraph(graph.edges)
    acyclic.add_nodes_from(graph.nodes)
    acyclic.remove_edges_from(list(nx.selfloop_edges(acyclic)))
    roots = _roots(graph)
    while True:
        try:
            cycle = nx.find_cycle(acyclic, source=roots)
        except nx.NetworkXNoCycle:
            break
        acyclic.remove_edge(*cycle[-1][:2])
    layers: dict[str, int] = {}
    for node in nx.topological_sort(acyclic):
        predecessors = [layers[p] + 1 for p in acyclic.predecessors(node)]
        layers[node] = max(predecessors, default=0)
    return {node: layers[node] for node in graph.nodes}


def _roots(graph: nx.DiGraph) -> list[str]:
    """Flows first (requests start there), then every other node, in insertion order."""
    flows: Iterable[str] = (n for n, kind in graph.nodes(data="kind") if kind == "flow")
    return [*flows, *(n for n, kind in graph.nodes(data="kind") if kind != "flow")]
