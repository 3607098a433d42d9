"""Checks that need the whole scenario: call targets exist, no cycle of synchronous calls.

A cycle of synchronous calls never ends (every request waits for itself), so it is an error;
services may call each other in both directions through different operations.
"""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from models.errors import Problem
from models.schema import (
    BranchStep,
    CallSpec,
    CallStep,
    ParallelStep,
    PublishStep,
    Scenario,
    Step,
)


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


def call_graph(scenario: Scenario) -> nx.DiGraph:
    """Directed graph of synchronous calls between operations, nodes ``(service, operation)``.

    Calls to unknown targets are left out (they are reported by `check_references`).
    """
    graph = nx.DiGraph()
    for service_name, service in scenario.services.items():
        for operation_name, steps in service.operations.items():
            caller = (service_name, operation_name)
            graph.add_node(caller)
            base = f"services.{service_name}.operations.{operation_name}"
            for path, step in walk_steps(steps, base):
                if isinstance(step, CallStep):
                    target = _resolve_call(scenario, step.call, path)
                    if isinstance(target, tuple):
                        graph.add_edge(caller, target)
    return graph


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
    for cycle in nx.simple_cycles(call_graph(scenario)):
        chain = " -> ".join(f"{service}.{operation}" for service, operation in [*cycle, cycle[0]])
        service, operation = cycle[0]
        problems.append(
            Problem(
                f"services.{service}.operations.{operation}",
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
