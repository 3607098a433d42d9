"""Checks on a scenario as written (plain mappings, lists and scalars), before or without
its pydantic model.

- `shape_problem`: refuse a document nested deeper than `MAX_DEPTH` levels (recursive code
  further on, pydantic's and ours, would otherwise end in a RecursionError), or holding more
  than `MAX_VALUES` values once its aliases are expanded (an "alias bomb" would hang it);
- `step_depth_problems`: refuse steps nested more than `MAX_STEP_DEPTH` levels deep;
- `raw_reference_problems`: the reference rules of `models.references` applied to the parts
  of a file that are well-formed, so that a file whose schema does not validate still gets
  its unknown services, operations and topics reported in the same run. Whatever is
  malformed is skipped: pydantic reports it.

Every walk here is iterative: the input may be nested arbitrarily deep.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from models.errors import Problem, format_path
from models.references import (
    Catalogue,
    Operation,
    cycle_problems,
    dead_letter_problem,
    fault_problems,
    resolve_target,
    unknown_topic,
)
from models.schema import NAME_PATTERN

MAX_DEPTH = 256
"""Mappings and lists inside each other, the document itself being level 1. Steps nested
`MAX_STEP_DEPTH` levels deep take about 205 levels (a `branch` step takes 4)."""

MAX_VALUES = 1_000_000
"""Values (mappings, lists and scalars) in a document, a shared part (a YAML alias) counted
at every use: pydantic and the engine see it expanded."""

MAX_STEP_DEPTH = 50
"""Steps inside `parallel`, `branch` and call `fallback` steps inside each other; the steps
of an operation or a flow are level 1."""

_NAME = re.compile(NAME_PATTERN.removeprefix("^").removesuffix("$"))


def shape_problem(
    document: Any, limit: int = MAX_DEPTH, max_values: int = MAX_VALUES
) -> Problem | None:
    """A problem when `document` nests mappings and lists more than `limit` levels deep, or
    holds more than `max_values` values once shared parts (YAML aliases) are counted at
    every place they are used; else None.

    A structure that contains itself (an alias inside its anchor) is too deep. Shared parts
    are walked once, so the time is linear in the file, whatever it expands to.

    >>> shape_problem({"a": [[1]]}, limit=3) is None
    True
    >>> shape_problem({"a": [[[1]]]}, limit=3).message.split(":")[0]
    "nested too deeply at 'a[0][0]...'"
    >>> shared = [1] * 10
    >>> shape_problem({"a": [shared] * 10}, max_values=100).message.split(":")[0]
    "too large at 'a...'"
    """
    if not _is_container(document):
        return None
    heights: dict[int, tuple[int, int]] = {}  # id of a container walked -> (levels, values)
    walking = {id(document)}
    stack: list[tuple[Any, Iterator[tuple[str | int, Any]], str | int]] = [
        (document, _children(document), "")
    ]
    while stack:
        node, children, _ = stack[-1]
        part, child = next(children, (None, None))
        if part is None:
            where = [frame[2] for frame in stack[1:]]
            stack.pop()
            walking.discard(id(node))
            spans = [heights.get(id(value), (0, 1)) for _, value in _children(node)]
            height = 1 + max((levels for levels, _ in spans), default=0)
            values = 1 + sum(count for _, count in spans)
            if values > max_values:
                return Problem("", _size_message(max_values, _place(where)))
            heights[id(node)] = (height, values)
            continue
        if not _is_container(child):
            continue
        below = heights.get(id(child), (1, 0))[0]
        if id(child) in walking or len(stack) + below > limit:
            where = [frame[2] for frame in stack[1:]] + [part]
            return Problem("", nesting_message(limit, _place(where)))
        if id(child) not in heights:
            walking.add(id(child))
            stack.append((child, _children(child), part))
    return None


def _place(location: list[str | int]) -> str:
    return f"'{format_path(location[:3])}...'" if location else ""


def _size_message(max_values: int, where: str) -> str:
    place = f" at {where}" if where else ""
    return (
        f"too large{place}: a scenario may hold at most {max_values} values, counting a "
        f"part used through YAML aliases at every place it is used"
    )


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _children(node: Any) -> Iterator[tuple[str | int, Any]]:
    """The (key or index, value) pairs of a mapping or list."""
    if isinstance(node, Mapping):
        return ((str(key), value) for key, value in node.items())
    return enumerate(node)


def nesting_message(limit: int, where: str = "") -> str:
    """The rule broken by a document nested deeper than `limit` levels (`where`: a place)."""
    place = f" at {where}" if where else ""
    return (
        f"nested too deeply{place}: a scenario may nest at most {limit} levels of mappings "
        f"and lists inside each other"
    )


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _mapping(value: Any) -> Mapping[Any, Any] | None:
    return value if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class RawStep:
    """A well-formed step as written: a one-key mapping, its YAML path and nesting level."""

    path: str
    kind: str
    value: Any
    level: int


def walk_raw_steps(steps: Any, path: str) -> Iterator[RawStep]:
    """Every one-key step of the list `steps`, nested ones included, in file order."""
    stack: list[Iterator[tuple[str, Any, int]]] = [_items(steps, path, 1)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        step_path, step, level = item
        if not isinstance(step, Mapping) or len(step) != 1:
            continue
        ((kind, value),) = step.items()
        yield RawStep(step_path, str(kind), value, level)
        stack.append(_nested(str(kind), value, step_path, level + 1))


def _items(steps: Any, path: str, level: int) -> Iterator[tuple[str, Any, int]]:
    if isinstance(steps, list):
        for index, step in enumerate(steps):
            yield f"{path}[{index}]", step, level


def _nested(kind: str, value: Any, path: str, level: int) -> Iterator[tuple[str, Any, int]]:
    """The steps nested in one step: parallel branches, branch options, a call's fallback."""
    if kind == "parallel" and isinstance(value, list):
        for index, branch in enumerate(value):
            yield from _items(branch, f"{path}.parallel[{index}]", level)
    elif kind == "branch" and isinstance(value, list):
        for index, option in enumerate(value):
            if isinstance(option, Mapping):
                yield from _items(option.get("steps"), f"{path}.branch[{index}].steps", level)
    elif kind == "call" and isinstance(value, Mapping):
        yield from _items(value.get("fallback"), f"{path}.call.fallback", level)


def _bodies(document: Mapping[str, Any]) -> Iterator[tuple[str, Any, Operation | None]]:
    """Every list of steps (path, steps, the operation they belong to; None for a flow)."""
    for service_name, service in (_mapping(document.get("services")) or {}).items():
        operations = _mapping(service.get("operations")) if isinstance(service, Mapping) else None
        for operation_name, steps in (operations or {}).items():
            path = f"services.{service_name}.operations.{operation_name}"
            yield path, steps, (str(service_name), str(operation_name))
    for flow_name, flow in (_mapping(document.get("workload")) or {}).items():
        if isinstance(flow, Mapping):
            yield f"workload.{flow_name}.steps", flow.get("steps"), None


def step_depth_problems(document: Mapping[str, Any], limit: int = MAX_STEP_DEPTH) -> list[Problem]:
    """A problem for every operation or flow whose steps nest more than `limit` levels deep."""
    problems = []
    for path, steps, _ in _bodies(document):
        deepest = max((step.level for step in walk_raw_steps(steps, path)), default=0)
        if deepest > limit:
            problems.append(
                Problem(
                    path,
                    f"steps nested {deepest} levels deep (parallel, branch and call fallback "
                    f"steps inside each other): the limit is {limit}",
                )
            )
    return problems


def _call_target(value: Any) -> tuple[str, str | None] | None:
    """The (service, operation) a `call` names, or None when it is malformed."""
    if isinstance(value, str):
        service, _, operation = value.partition(".")
        named: tuple[Any, Any] = (service, operation or None)
    elif isinstance(value, Mapping):
        named = (value.get("service"), value.get("operation"))
    else:
        return None
    service, operation = named
    if not _is_name(service) or not (operation is None or _is_name(operation)):
        return None
    return service, operation


def _publish_topic(value: Any) -> str | None:
    topic = value.get("topic") if isinstance(value, Mapping) else value
    return topic if _is_name(topic) else None


class _RawReferences:
    """The names a document defines, as far as they are well-formed (None: malformed)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        services = _mapping(document.get("services", {}))
        topics = _mapping(document.get("topics", {}))
        self.catalogue: Catalogue | None = None
        self.replicas: dict[str, int | None] = {}
        if services is not None:
            self.catalogue = {
                str(name): _operation_names(value) for name, value in services.items()
            }
            self.replicas = {str(name): _replicas(value) for name, value in services.items()}
        self.topics: list[str] | None = None if topics is None else [str(name) for name in topics]

    def target(self, service: str, operation: str | None, path: str) -> Operation | Problem | None:
        if self.catalogue is None:
            return None
        return resolve_target(self.catalogue, service, operation, path)

    def topic(self, path: str, topic: str) -> Problem | None:
        return None if self.topics is None else unknown_topic(path, topic, self.topics)


def _operation_names(service: Any) -> list[str] | None:
    operations = service.get("operations") if isinstance(service, Mapping) else None
    return [str(name) for name in operations] if isinstance(operations, Mapping) else None


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def _replicas(service: Any) -> int | None:
    return _positive_int(service.get("replicas", 1)) if isinstance(service, Mapping) else None


def raw_reference_problems(document: Mapping[str, Any]) -> list[Problem]:
    """The reference problems of the well-formed parts of `document` (as written)."""
    names = _RawReferences(document)
    problems: list[Problem] = []
    calls: dict[Operation, list[Operation]] = {}
    for path, steps, operation in _bodies(document):
        callees = calls.setdefault(operation, []) if operation is not None else []
        for step in walk_raw_steps(steps, path):
            if step.kind == "call" and (target := _call_target(step.value)) is not None:
                found = names.target(*target, f"{step.path}.call")
                if isinstance(found, Problem):
                    problems.append(found)
                elif found is not None:
                    callees.append(found)
            elif step.kind == "publish" and (topic := _publish_topic(step.value)) is not None:
                problems.extend(_some(names.topic(f"{step.path}.publish.topic", topic)))
    for flow_name, flow in (_mapping(document.get("workload")) or {}).items():
        entry = flow.get("entry") if isinstance(flow, Mapping) else None
        if isinstance(entry, str):
            entry_service, _, entry_operation = entry.partition(".")
            where = f"workload.{flow_name}.entry"
            found = names.target(entry_service, entry_operation or None, where)
            problems.extend([found] if isinstance(found, Problem) else [])
    problems.extend(_subscriber_problems(document, names))
    problems.extend(_fault_problems(document, names))
    problems.extend(cycle_problems(calls))
    return problems


def _some(problem: Problem | None) -> list[Problem]:
    return [problem] if problem is not None else []


def _subscriber_problems(document: Mapping[str, Any], names: _RawReferences) -> list[Problem]:
    problems: list[Problem] = []
    for topic_name, topic in (_mapping(document.get("topics")) or {}).items():
        subscribers = _mapping(topic.get("subscribers")) if isinstance(topic, Mapping) else None
        for service_name, subscriber in (subscribers or {}).items():
            if not _is_name(service_name):
                continue
            path = f"topics.{topic_name}.subscribers.{service_name}"
            if isinstance(subscriber, str):
                subscriber = {"operation": subscriber}
            if not isinstance(subscriber, Mapping):
                continue
            operation = subscriber.get("operation")
            if operation is None or _is_name(operation):
                found = names.target(service_name, operation, path)
                problems.extend([found] if isinstance(found, Problem) else [])
            dead_letter = subscriber.get("dead_letter")
            if isinstance(dead_letter, str) and _is_name(dead_letter) and names.topics is not None:
                where = f"{path}.dead_letter"
                problems.extend(
                    _some(dead_letter_problem(where, str(topic_name), dead_letter, names.topics))
                )
    return problems


def _fault_problems(document: Mapping[str, Any], names: _RawReferences) -> list[Problem]:
    faults = document.get("faults")
    problems: list[Problem] = []
    for index, fault in enumerate(faults if isinstance(faults, list) else []):
        if not isinstance(fault, Mapping):
            continue
        topic, service = fault.get("topic"), fault.get("service")
        if isinstance(topic, str) and names.topics is not None:
            target = ("topic", topic)
        elif topic is None and isinstance(service, str) and names.catalogue is not None:
            target = ("service", service)
        else:
            continue
        outage = _positive_int(fault.get("replicas")) if fault.get("kind") == "outage" else None
        problems.extend(
            fault_problems(f"faults[{index}]", target, outage, names.replicas, names.topics or [])
        )
    return problems
