"""Checks that need the whole scenario: call targets exist, no cycle of synchronous calls,
fault targets and dead-letter topics exist.

A cycle of synchronous calls never ends (every request waits for itself), so it is an error;
services may call each other in both directions through different operations.

The rules are written once, on names (`resolve_target`, `unknown_topic`, `dead_letter_problem`,
`fault_problems`, `cycle_problems`): `check_references` applies them to a validated
`Scenario`, and `models.raw_references` to the well-formed parts of a file whose schema does
not validate, so that every problem of a file is reported at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from models.errors import Problem, unknown_name
from models.faults import Crash, ErrorBurst, ServiceOutage, TopicOutage
from models.schema import (
    BranchStep,
    CallStep,
    FailStep,
    ParallelStep,
    PublishStep,
    Scenario,
    Step,
)

if TYPE_CHECKING:
    import networkx as nx

Operation = tuple[str, str]
"""An operation as ``(service, operation)``."""


def walk_steps(steps: list[Step], path: str) -> Iterator[tuple[str, Step]]:
    """Every step, nested ones included, with its YAML path."""
    for index, step in enumerate(steps):
        step_path = f"{path}[{index}]"
        yield step_path, step
        if isinstance(step, ParallelStep):
            for branch_index, branch in enumerate(step.parallel):
                yield from walk_steps(branch, f"{step_path}.parallel[{branch_index}]")
        elif isinstance(step, BranchStep):
            for option_index, option in enumerate(step.branch):
                yield from walk_steps(option.steps, f"{step_path}.branch[{option_index}].steps")
        elif isinstance(step, CallStep) and step.call.fallback is not None:
            yield from walk_steps(step.call.fallback, f"{step_path}.call.fallback")


Catalogue = Mapping[str, Sequence[str] | None]
"""Every service and its operations in file order (None: its operations are malformed)."""


def catalogue_of(scenario: Scenario) -> dict[str, list[str]]:
    """The services of a validated scenario and their operations."""
    return {name: list(service.operations) for name, service in scenario.services.items()}


def resolve_target(
    catalogue: Catalogue, service: str, operation: str | None, path: str
) -> Operation | Problem | None:
    """The operation a call, entry or subscription names, or the problem with the name.

    None when the service exists but its operations cannot be told (they are malformed).
    """
    if service not in catalogue:
        return Problem(path, unknown_name("service", service, sorted(catalogue)))
    operations = catalogue[service]
    if operations is None:
        return None
    if operation is None:
        if len(operations) != 1:
            return Problem(
                path,
                f"service '{service}' has several operations ({', '.join(operations)}): "
                f"name one as '{service}.OPERATION'",
            )
        return service, operations[0]
    if operation not in operations:
        owner = f"service '{service}'"
        return Problem(path, unknown_name("operation", operation, operations, owner=owner))
    return service, operation


def unknown_topic(path: str, topic: str, topics: Collection[str]) -> Problem | None:
    """The problem with a topic name that names no topic, or None."""
    if topic in topics:
        return None
    return Problem(path, unknown_name("topic", topic, sorted(topics)))


def dead_letter_problem(
    path: str, topic_name: str, dead_letter: str, topics: Collection[str]
) -> Problem | None:
    """A dead-letter topic exists and is not the topic itself (that would loop)."""
    if dead_letter == topic_name and dead_letter in topics:
        return Problem(path, f"a topic cannot be its own dead-letter topic (got {dead_letter})")
    return unknown_topic(path, dead_letter, topics)


def fault_problems(
    path: str,
    target: tuple[str, str],
    outage_replicas: int | None,
    replicas: Mapping[str, int | None],
    topics: Collection[str],
) -> list[Problem]:
    """A fault's `target` (``("service" | "topic", NAME)``) exists; an outage takes at most
    the `replicas` its service has (None: the service's count is malformed)."""
    kind, name = target
    if kind == "topic":
        problem = unknown_topic(f"{path}.topic", name, topics)
        return [problem] if problem is not None else []
    if name not in replicas:
        return [Problem(f"{path}.service", unknown_name("service", name, sorted(replicas)))]
    count = replicas[name]
    if outage_replicas is not None and count is not None and outage_replicas > count:
        return [
            Problem(
                f"{path}.replicas",
                f"must be <= the {count} replica(s) of '{name}' (got {outage_replicas})",
            )
        ]
    return []


def cycle_problems(calls: Mapping[Operation, Sequence[Operation]]) -> list[Problem]:
    """A problem per cycle of synchronous `calls` (each operation and the ones it calls).

    networkx is loaded only when there is a cycle, which a valid scenario never has.
    """
    if not _has_cycle(calls):
        return []
    order = {operation: index for index, operation in enumerate(calls)}
    cycles = []
    for found in _simple_cycles(calls):  # each starts where networkx (hash order) began it
        start = min(range(len(found)), key=lambda index: order.get(found[index], len(order)))
        cycles.append(found[start:] + found[:start])  # from its first operation in the file
    cycles.sort(key=lambda cycle: [order.get(operation, len(order)) for operation in cycle])
    problems = []
    for cycle in cycles:
        chain = " -> ".join(f"{service}.{operation}" for service, operation in [*cycle, cycle[0]])
        first_service, first_operation = cycle[0]
        problems.append(
            Problem(
                f"services.{first_service}.operations.{first_operation}",
                f"synchronous calls form a cycle that never ends: {chain}",
            )
        )
    return problems


def _calls(scenario: Scenario) -> dict[Operation, list[Operation]]:
    """Every operation and the operations it calls synchronously, in the scenario's order.

    Calls to unknown targets are left out (they are reported by `check_references`).
    """
    catalogue = catalogue_of(scenario)
    calls: dict[Operation, list[Operation]] = {}
    for service_name, service in scenario.services.items():
        for operation_name, steps in service.operations.items():
            callees = calls.setdefault((service_name, operation_name), [])
            base = f"services.{service_name}.operations.{operation_name}"
            for path, step in walk_steps(steps, base):
                if isinstance(step, CallStep):
                    call = step.call
                    target = resolve_target(catalogue, call.service, call.operation, path)
                    if isinstance(target, tuple):
                        callees.append(target)
    return calls


def _graph(calls: Mapping[Operation, Sequence[Operation]]) -> nx.DiGraph:
    import networkx as nx  # imported here: start-up time, see tests/unit/test_startup.py

    graph = nx.DiGraph()
    for caller, callees in calls.items():
        graph.add_node(caller)
        for callee in callees:
            graph.add_edge(caller, callee)
    return graph


def call_graph(scenario: Scenario) -> nx.DiGraph:
    """Directed graph of synchronous calls between operations, nodes ``(service, operation)``.

    Calls to unknown targets are left out (they are reported by `check_references`).
    """
    return _graph(_calls(scenario))


def _has_cycle(calls: Mapping[Operation, Sequence[Operation]]) -> bool:
    """Whether the calls form a cycle (a depth-first search without recursion)."""
    finished: set[Operation] = set()
    for root in calls:
        if root in finished:
            continue
        on_path = {root}
        stack = [(root, iter(calls[root]))]
        while stack:
            node, callees = stack[-1]
            callee = next(callees, None)
            if callee is None:
                stack.pop()
                on_path.discard(node)
                finished.add(node)
            elif callee in on_path:
                return True
            elif callee not in finished:
                on_path.add(callee)
                stack.append((callee, iter(calls.get(callee, []))))
    return False


def _simple_cycles(calls: Mapping[Operation, Sequence[Operation]]) -> list[list[Operation]]:
    """Every cycle of synchronous calls, as networkx's `simple_cycles` lists them."""
    import networkx as nx  # imported here: start-up time, see tests/unit/test_startup.py

    return list(nx.simple_cycles(_graph(calls)))


def check_references(scenario: Scenario) -> list[Problem]:
    """Every problem of references in a validated scenario: unknown targets and call cycles."""
    catalogue = catalogue_of(scenario)
    topics = list(scenario.topics)
    problems: list[Problem] = []
    for service_name, service in scenario.services.items():
        for operation_name, steps in service.operations.items():
            base = f"services.{service_name}.operations.{operation_name}"
            problems.extend(_check_calls(catalogue, topics, steps, base))
    for flow_name, flow in scenario.workload.items():
        if flow.entry is not None:
            target_service, _, operation = flow.entry.partition(".")
            target = resolve_target(
                catalogue, target_service, operation or None, f"workload.{flow_name}.entry"
            )
            if isinstance(target, Problem):
                problems.append(target)
        else:
            problems.extend(
                _check_calls(catalogue, topics, flow.body(), f"workload.{flow_name}.steps")
            )
    for topic_name, topic in scenario.topics.items():
        for service_name, subscriber in topic.subscribers.items():
            path = f"topics.{topic_name}.subscribers.{service_name}"
            target = resolve_target(catalogue, service_name, subscriber.operation, path)
            if isinstance(target, Problem):
                problems.append(target)
            if subscriber.dead_letter is not None:
                dead = dead_letter_problem(
                    f"{path}.dead_letter", topic_name, subscriber.dead_letter, topics
                )
                problems.extend([dead] if dead is not None else [])
    replicas: dict[str, int | None] = {
        name: service.replicas for name, service in scenario.services.items()
    }
    for index, fault in enumerate(scenario.faults):
        target = (
            ("topic", fault.topic) if isinstance(fault, TopicOutage) else ("service", fault.service)
        )
        outage = fault.replicas if isinstance(fault, ServiceOutage) else None
        problems.extend(fault_problems(f"faults[{index}]", target, outage, replicas, topics))
    problems.extend(cycle_problems(_calls(scenario)))
    return problems


def _check_calls(
    catalogue: Catalogue, topics: Collection[str], steps: list[Step], base: str
) -> list[Problem]:
    problems = []
    for path, step in walk_steps(steps, base):
        if isinstance(step, CallStep):
            call = step.call
            target = resolve_target(catalogue, call.service, call.operation, f"{path}.call")
            if isinstance(target, Problem):
                problems.append(target)
        elif isinstance(step, PublishStep):
            problem = unknown_topic(f"{path}.publish.topic", step.publish.topic, topics)
            problems.extend([problem] if problem is not None else [])
    return problems


def uses_failures(scenario: Scenario) -> bool:
    """Whether the scenario models failures (docs/results.md: the results then report them):
    faults, a `fail` step, a call with a timeout, retries or a resilience pattern, a rate
    limit or queue timeout, or a subscriber that retries or dead-letters."""
    if scenario.faults:
        return True
    bodies: list[tuple[list[Step], str]] = [
        (steps, f"services.{service_name}.operations.{operation_name}")
        for service_name, service in scenario.services.items()
        for operation_name, steps in service.operations.items()
    ]
    bodies += [(flow.body(), f"workload.{name}.steps") for name, flow in scenario.workload.items()]
    for steps, base in bodies:
        for _, step in walk_steps(steps, base):
            if isinstance(step, FailStep) or (isinstance(step, CallStep) and step.call.resilient):
                return True
    return controls_admission_or_retries_messages(scenario)


def controls_admission_or_retries_messages(scenario: Scenario) -> bool:
    """Whether a service has a rate limit or a queue timeout, or a subscriber retries or
    dead-letters its messages."""
    if any(s.rate_limit or s.queue_timeout is not None for s in scenario.services.values()):
        return True
    return any(
        subscriber.max_attempts > 1
        or subscriber.dead_letter is not None
        or subscriber.retry_backoff is not None
        for topic in scenario.topics.values()
        for subscriber in topic.subscribers.values()
    )


def guarded_services(scenario: Scenario) -> set[str]:
    """The services whose replicas can go down or come and go, or which control admission
    (outage, crash, errors faults; autoscaling; rate limit, queue timeout): the engine
    follows every job there."""
    names = {
        name
        for name, service in scenario.services.items()
        if service.rate_limit is not None
        or service.queue_timeout is not None
        or service.autoscale is not None
    }
    for fault in scenario.faults:
        if isinstance(fault, ServiceOutage | Crash | ErrorBurst):
            names.add(fault.service)
    return names
