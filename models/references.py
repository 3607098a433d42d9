"""Checks that need the whole scenario: call targets exist, no cycle of synchronous calls,
fault targets and dead-letter topics exist.

A cycle of synchronous calls never ends (every request waits for itself), so it is an error;
services may call each other in both directions through different operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from models.errors import Problem
from models.faults import Crash, ErrorBurst, ServiceOutage, TopicOutage
from models.schema import (
    BranchStep,
    CallSpec,
    CallStep,
    FailStep,
    ParallelStep,
    PublishStep,
    Scenario,
    Step,
    Subscriber,
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


def _resolve_call(scenario: Scenario, call: CallSpec, path: str) -> tuple[str, str] | Problem:
    service = scenario.services.get(call.service)
    if service is None:
        known = ", ".join(sorted(scenario.services)) or "none"
        return Problem(path, f"unknown service '{call.service}' (services: {known})")
    if call.operation is None:
        if len(service.operations) != 1:
            names = ", ".join(service.operations)
            return Problem(
                path,
                f"service '{call.service}' has several operations ({names}): "
                f"name one as '{call.service}.OPERATION'",
            )
        return call.service, next(iter(service.operations))
    if call.operation not in service.operations:
        names = ", ".join(service.operations)
        return Problem(
            path,
            f"service '{call.service}' has no operation '{call.operation}' (operations: {names})",
        )
    return call.service, call.operation


def _calls(scenario: Scenario) -> dict[Operation, list[Operation]]:
    """Every operation and the operations it calls synchronously, in the scenario's order.

    Calls to unknown targets are left out (they are reported by `check_references`).
    """
    calls: dict[Operation, list[Operation]] = {}
    for service_name, service in scenario.services.items():
        for operation_name, steps in service.operations.items():
            callees = calls.setdefault((service_name, operation_name), [])
            base = f"services.{service_name}.operations.{operation_name}"
            for path, step in walk_steps(steps, base):
                if isinstance(step, CallStep):
                    target = _resolve_call(scenario, step.call, path)
                    if isinstance(target, tuple):
                        callees.append(target)
    return calls


def call_graph(scenario: Scenario) -> nx.DiGraph:
    """Directed graph of synchronous calls between operations, nodes ``(service, operation)``.

    Calls to unknown targets are left out (they are reported by `check_references`).
    """
    import networkx as nx  # imported here: start-up time, see tests/unit/test_startup.py

    graph = nx.DiGraph()
    for caller, callees in _calls(scenario).items():
        graph.add_node(caller)
        for callee in callees:
            graph.add_edge(caller, callee)
    return graph


def _has_cycle(calls: dict[Operation, list[Operation]]) -> bool:
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


def _call_cycles(scenario: Scenario) -> list[list[Operation]]:
    """Every cycle of synchronous calls, as networkx's `simple_cycles` lists them.

    networkx is loaded only when there is a cycle, which a valid scenario never has.
    """
    if not _has_cycle(_calls(scenario)):
        return []
    import networkx as nx  # imported here: start-up time, see tests/unit/test_startup.py

    return list(nx.simple_cycles(call_graph(scenario)))


def check_references(scenario: Scenario) -> list[Problem]:
    """Every problem of references in the scenario: unknown targets and call cycles."""
    problems: list[Problem] = []
    for service_name, service in scenario.services.items():
        for operation_name, steps in service.operations.items():
            base = f"services.{service_name}.operations.{operation_name}"
            problems.extend(_check_calls(scenario, steps, base))
    for flow_name, flow in scenario.workload.items():
        if flow.entry is not None:
            target_service, _, operation = flow.entry.partition(".")
            call = CallSpec(service=target_service, operation=operation or None)
            target = _resolve_call(scenario, call, f"workload.{flow_name}.entry")
            if isinstance(target, Problem):
                problems.append(target)
        else:
            problems.extend(_check_calls(scenario, flow.body(), f"workload.{flow_name}.steps"))
    for topic_name, topic in scenario.topics.items():
        for service_name, subscriber in topic.subscribers.items():
            call = CallSpec(service=service_name, operation=subscriber.operation)
            target = _resolve_call(
                scenario, call, f"topics.{topic_name}.subscribers.{service_name}"
            )
            if isinstance(target, Problem):
                problems.append(target)
            problems.extend(_check_dead_letter(scenario, topic_name, service_name, subscriber))
    problems.extend(_check_faults(scenario))
    for cycle in _call_cycles(scenario):
        chain = " -> ".join(f"{service}.{operation}" for service, operation in [*cycle, cycle[0]])
        first_service, first_operation = cycle[0]
        problems.append(
            Problem(
                f"services.{first_service}.operations.{first_operation}",
                f"synchronous calls form a cycle that never ends: {chain}",
            )
        )
    return problems


def _check_calls(scenario: Scenario, steps: list[Step], base: str) -> list[Problem]:
    problems = []
    for path, step in walk_steps(steps, base):
        if isinstance(step, CallStep):
            target = _resolve_call(scenario, step.call, f"{path}.call")
            if isinstance(target, Problem):
                problems.append(target)
        elif isinstance(step, PublishStep) and step.publish.topic not in scenario.topics:
            known = ", ".join(sorted(scenario.topics)) or "none"
            problems.append(
                Problem(
                    f"{path}.publish.topic",
                    f"unknown topic '{step.publish.topic}' (topics: {known})",
                )
            )
    return problems


def _check_dead_letter(
    scenario: Scenario, topic_name: str, service_name: str, subscriber: Subscriber
) -> list[Problem]:
    """A dead-letter topic exists and is not the topic itself (that would loop)."""
    dead_letter = subscriber.dead_letter
    if dead_letter is None:
        return []
    path = f"topics.{topic_name}.subscribers.{service_name}.dead_letter"
    if dead_letter not in scenario.topics:
        known = ", ".join(sorted(scenario.topics)) or "none"
        return [Problem(path, f"unknown topic '{dead_letter}' (topics: {known})")]
    if dead_letter == topic_name:
        return [Problem(path, f"a topic cannot be its own dead-letter topic (got {dead_letter})")]
    return []


def _check_faults(scenario: Scenario) -> list[Problem]:
    """Every fault names an existing service or topic; an outage takes at most the replicas
    the service has."""
    problems = []
    for index, fault in enumerate(scenario.faults):
        path = f"faults[{index}]"
        if isinstance(fault, TopicOutage):
            if fault.topic not in scenario.topics:
                known = ", ".join(sorted(scenario.topics)) or "none"
                problems.append(
                    Problem(f"{path}.topic", f"unknown topic '{fault.topic}' (topics: {known})")
                )
            continue
        service = scenario.services.get(fault.service)
        if service is None:
            known = ", ".join(sorted(scenario.services)) or "none"
            problems.append(
                Problem(f"{path}.service", f"unknown service '{fault.service}' (services: {known})")
            )
        elif isinstance(fault, ServiceOutage) and (fault.replicas or 0) > service.replicas:
            problems.append(
                Problem(
                    f"{path}.replicas",
                    f"must be <= the {service.replicas} replica(s) of '{fault.service}' "
                    f"(got {fault.replicas})",
                )
            )
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
