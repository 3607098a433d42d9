"""The topic graph: the messages topics cause, and the check that they die out.

With M[t][u] the expected messages to topic u published by the handlers of one message of
topic t (publish probability x count x branch probabilities, the handlers' synchronous
callees included), messages multiply without end when the spectral radius of M is >= 1. For
a Z-matrix I - M, that radius is below 1 exactly when every pivot of its Gaussian
elimination (without pivoting) is positive, and a pivot 1 - r <= 0 at topic t says that one
message of t causes r >= 1 messages back to t through the topics eliminated before it: that
is the message of `explosion_problems`. Only topics that the workload can reach count;
retries of failed handlers, dead letters and fallbacks (which only make more messages) are
left out, so what is refused surely explodes. `solve_topic_events` solves the same system
for the events of one message (`models.budget.events`). Pure Python.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from models.budget.steps import Cost, Walker
from models.errors import Problem
from models.schema import Scenario

EXPLOSION_PIVOT = 1e-9
"""A pivot of I - M at or below this is a growth factor of 1 or more (the analysis's
`STORM_RADIUS` tolerance)."""


@dataclass
class TopicGraph:
    """The messages topics cause: `growth[t][u]` expected messages to u per message of t
    (its handlers' publishes), `events[t]` the events of one message of t before those
    (deliveries after a latency, its handlers' own events), `sources[t][u]` a publish step
    that makes the edge, and `reachable` the topics the workload can send messages to."""

    growth: dict[str, dict[str, float]]
    events: dict[str, float]
    sources: dict[str, dict[str, str]]
    reachable: list[str]


def topic_graph(scenario: Scenario, walker: Walker, bodies: Iterable[Cost]) -> TopicGraph:
    """The topic graph of `scenario`, reachable from the flows' `bodies`."""
    growth: dict[str, dict[str, float]] = {}
    events: dict[str, float] = {}
    sources: dict[str, dict[str, str]] = {}
    for name, topic in scenario.topics.items():
        row: dict[str, float] = {}
        paths: dict[str, str] = {}
        total = 0.0
        for service in topic.subscribers:
            handler = walker.handler(name, service)
            total += handler.events + (topic.delivery_latency is not None)
            for target, count in handler.publishes.items():
                if count > 0:
                    row[target] = row.get(target, 0.0) + count
                    paths.setdefault(target, handler.sources[target])
        growth[name], events[name], sources[name] = row, total, paths
    seen: set[str] = set()
    pending = [target for body in bodies for target, count in body.publishes.items() if count > 0]
    while pending:
        target = pending.pop()
        if target not in seen:
            seen.add(target)
            pending.extend(growth[target])
    reachable = [name for name in scenario.topics if name in seen]
    return TopicGraph(growth, events, sources, reachable)


def strongly_connected(nodes: Sequence[str], edges: dict[str, dict[str, float]]) -> list[list[str]]:
    """Tarjan's strongly connected components of the graph restricted to `nodes`, sinks first
    (each component after every component it reaches), each in the order of `nodes`."""
    inside = set(nodes)
    rank = {node: position for position, node in enumerate(nodes)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter([t for t in edges.get(root, {}) if t in inside]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter([t for t in edges.get(target, {}) if t in inside])))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component, key=rank.__getitem__))
    return components


def _first_explosion(
    component: list[str], growth: dict[str, dict[str, float]]
) -> tuple[int, float] | None:
    """Gaussian elimination of I - M on `component` (in its order): None when every pivot is
    positive (messages die out), else the position of the first pivot 1 - r <= 0 and r, the
    messages one message of that topic causes back to it through the topics before it."""
    size = len(component)
    matrix = [
        [
            (row == column) - growth[component[row]].get(component[column], 0.0)
            for column in range(size)
        ]
        for row in range(size)
    ]
    for pivot_index in range(size):
        pivot = matrix[pivot_index][pivot_index]
        if pivot <= EXPLOSION_PIVOT:
            return pivot_index, 1.0 - pivot
        pivot_row = matrix[pivot_index]
        for row in range(pivot_index + 1, size):
            factor = matrix[row][pivot_index] / pivot
            if factor != 0.0:
                target = matrix[row]
                for column in range(pivot_index, size):
                    target[column] -= factor * pivot_row[column]
    return None


def _cycle_through(topic: str, allowed: set[str], growth: dict[str, dict[str, float]]) -> list[str]:
    """A shortest cycle of messages from `topic` back to it through `allowed` topics."""
    previous: dict[str, str] = {}
    frontier = [topic]
    while frontier:
        following = []
        for node in frontier:
            for target in growth.get(node, {}):
                if target == topic:
                    chain = [node]
                    while chain[-1] != topic:
                        chain.append(previous[chain[-1]])
                    return [*reversed(chain), topic]
                if target in allowed and target not in previous and target != topic:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return [topic, topic]


def explosion_problems(graph: TopicGraph) -> list[Problem]:
    """One problem per group of topics whose messages multiply without end."""
    problems = []
    for component in strongly_connected(graph.reachable, graph.growth):
        member = component[0]
        if len(component) == 1 and graph.growth[member].get(member, 0.0) <= 0:
            continue
        found = _first_explosion(component, graph.growth)
        if found is None:
            continue
        position, factor = found
        topic = component[position]
        cycle = _cycle_through(topic, set(component[: position + 1]), graph.growth)
        chain = " -> ".join(f"'{name}'" for name in cycle)
        problems.append(
            Problem(
                graph.sources[cycle[0]][cycle[1]],
                f"messages multiply without end: each message of '{topic}' causes "
                f"{_factor(factor)} messages back to '{topic}' on average (through {chain}), "
                f"so the traffic of these topics grows for ever and the run cannot end; make "
                f"the publishes of this cycle less likely or fewer (below 1 message back per "
                f"message)",
            )
        )
    return problems


def _factor(value: float) -> str:
    text = f"{value:.3g}"
    return text if any(mark in text for mark in ".e") else f"{text}.0"


def solve_topic_events(graph: TopicGraph) -> dict[str, float]:
    """Events of one message of each reachable topic, the messages it causes included:
    c = e + M c, component by component, sinks first (inf where messages never die out)."""
    cost: dict[str, float] = {}
    for component in strongly_connected(graph.reachable, graph.growth):
        members = set(component)
        size = len(component)
        matrix = [
            [
                (row == column) - graph.growth[component[row]].get(component[column], 0.0)
                for column in range(size)
            ]
            for row in range(size)
        ]
        right = [
            graph.events[topic]
            + sum(
                count * cost[target]
                for target, count in graph.growth[topic].items()
                if target not in members
            )
            for topic in component
        ]
        solution = _solve(matrix, right)
        for topic, value in zip(component, solution, strict=True):
            cost[topic] = value
    return cost


def _solve(matrix: list[list[float]], right: list[float]) -> list[float]:
    """Solve a small system of an M-matrix by Gaussian elimination (inf if it is singular
    or not an M-matrix: messages that never die out)."""
    size = len(matrix)
    for pivot_index in range(size):
        pivot = matrix[pivot_index][pivot_index]
        if pivot <= EXPLOSION_PIVOT or not math.isfinite(right[pivot_index]):
            return [math.inf] * size
        for row in range(pivot_index + 1, size):
            factor = matrix[row][pivot_index] / pivot
            if factor != 0.0:
                for column in range(pivot_index, size):
                    matrix[row][column] -= factor * matrix[pivot_index][column]
                right[row] -= factor * right[pivot_index]
    solution = [0.0] * size
    for row in reversed(range(size)):
        total = right[row] - sum(
            matrix[row][column] * solution[column] for column in range(row + 1, size)
        )
        solution[row] = max(total / matrix[row][row], 0.0)
    return solution
