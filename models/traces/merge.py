"""One scenario from traces and AsyncAPI documents (docs/traces.md#asyncapi): the traces give
what was measured (operations, calls, work, rates), the AsyncAPI documents what is declared
(topic kinds, partitions, consumer groups, producers and consumers that the traces did not
catch, e.g. because they were idle while the traces were taken).

Rules, for an AsyncAPI import `asyncapi` (as `models.traces.asyncapi.read_asyncapis` builds)
and a traces import `traces`:
- Everything of `traces` is kept: its name, simulation, services, operations and flows.
- A topic of both: the `type` and `partitions` AsyncAPI declares replace the traces' (a log's
  partition count is configuration, which a sample of traces only bounds from below; a queue
  topic loses its partitions); a different value is a warning.
- A topic only in `asyncapi` is added.
- A subscriber (service, topic) only in `asyncapi` is added with its placeholder handler; one
  in both keeps the traces' handler, and their consumer groups are compared: a group is read
  from a subscriber's comment written ``consumer group 'NAME'`` (`GROUP_NOTE`), and different
  names are a warning.
- A service of `asyncapi` under another name than any traced service, that consumes a topic in
  a consumer group its document names (``bindings.kafka.groupId``), is the traced service
  consuming that topic in the same group (Kafka names a group, not a service), when exactly one
  does: it takes that service's name, with a warning (otherwise the topic would get a second,
  placeholder consumer group besides the traced one).
- A producer (a flow whose operation publishes to a topic) only in `asyncapi` is added with its
  placeholder rate; an external flow (an inline publish) only if nothing publishes the topic.
- Names clash: an AsyncAPI topic named like a traced service becomes ``NAME-topic``, an
  AsyncAPI service named like a topic ``NAME-service``; added operations and flows get a
  ``-2``, ``-3`` suffix when their name is taken by something else.
- Comments follow what they describe; warnings of both imports are kept, the merge's added.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

from models.errors import did_you_mean
from models.raw_document import walk_raw_steps
from models.traces.asyncapi import DEFAULT_GROUP_NOTE, GROUP_NOTE
from models.traces.imported import ImportedScenario, YamlPath

_GROUP = re.compile(re.escape(GROUP_NOTE).replace(re.escape("{group}"), "([^']*)"))


def merge_imports(traces: ImportedScenario, asyncapi: ImportedScenario) -> ImportedScenario:
    """The traces' scenario completed and corrected by what the AsyncAPI documents declare.

    Neither input is changed. The result is a valid scenario when both inputs are.
    """
    return _Merge(traces, asyncapi).merge()


def group_of(comment: str | None) -> str | None:
    """The consumer group a subscriber's comment names, if any.

    >>> group_of("consumer group 'payments' (payments.yaml: ...)"), group_of("no group")
    ('payments', None)
    """
    found = _GROUP.search(comment or "")
    return found.group(1) if found else None


def _sections(document: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return (
        dict(document.get("services") or {}),
        dict(document.get("topics") or {}),
        dict(document.get("workload") or {}),
    )


def _published(steps: Any) -> Iterator[str]:
    """The topics a list of steps publishes to (nested steps included)."""
    for step in walk_raw_steps(steps, ""):
        if step.kind == "publish":
            topic = step.value.get("topic") if isinstance(step.value, Mapping) else step.value
            if isinstance(topic, str):
                yield topic


def _renamed(value: Any, topics: Mapping[str, str]) -> Any:
    """A copy of steps with the topics of `publish` steps renamed."""
    if isinstance(value, list):
        return [_renamed(item, topics) for item in value]
    if not isinstance(value, Mapping):
        return copy.deepcopy(value)
    renamed: dict[str, Any] = {}
    for key, item in value.items():
        if key == "publish" and isinstance(item, str):
            renamed[key] = topics.get(item, item)
        elif key == "publish" and isinstance(item, Mapping) and isinstance(item.get("topic"), str):
            renamed[key] = {**item, "topic": topics.get(item["topic"], item["topic"])}
        else:
            renamed[key] = _renamed(item, topics)
    return renamed


def _ordered(mapping: dict[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    """`mapping` with the keys `first` (those it has) first, in that order."""
    keys = [key for key in first if key in mapping]
    return {**{key: mapping[key] for key in keys}, **mapping}


def _free(name: str, taken: Any) -> str:
    number = 1
    chosen = name
    while chosen in taken:
        number += 1
        chosen = f"{name}-{number}"
    return chosen


class _Merge:
    def __init__(self, traces: ImportedScenario, asyncapi: ImportedScenario) -> None:
        self.traces = traces
        self.asyncapi = asyncapi
        self.document = copy.deepcopy(traces.document)
        self.comments = dict(traces.comments)
        self.warnings = [*traces.warnings, *asyncapi.warnings]
        self.services: dict[str, Any] = self.document.setdefault("services", {})
        self.topics: dict[str, Any] = self.document.setdefault("topics", {})
        self.workload: dict[str, Any] = self.document.setdefault("workload", {})
        self.a_services, self.a_topics, self.a_workload = _sections(asyncapi.document)
        self.topic_names = self.name_topics()
        self.service_names = self.name_services()
        self.copied: dict[tuple[str, str], str] = {}

    def merge(self) -> ImportedScenario:
        for key in ("name", "simulation"):
            if key not in self.document and key in self.asyncapi.document:
                self.document[key] = copy.deepcopy(self.asyncapi.document[key])
                self.copy_comments((key,), (key,))
        for topic in self.a_topics:
            self.merge_topic(topic)
        for topic, body in self.a_topics.items():
            for service, subscriber in (body.get("subscribers") or {}).items():
                self.merge_subscriber(topic, service, subscriber)
        entries = {name: flow for name, flow in self.a_workload.items() if "entry" in flow}
        for name, flow in entries.items():
            self.merge_producer(name, flow)
        for name, flow in self.a_workload.items():
            if name not in entries:
                self.merge_external(name, flow)
        self.report_unmatched()
        header = [*self.traces.header]
        header.extend(line for line in self.asyncapi.header if line not in header)
        order = ("name", "description", "simulation", "services", "topics", "workload")
        document = _ordered(self.document, order)
        return ImportedScenario(document, self.comments, header, self.warnings)

    # ---------------------------------------------------------------- names

    def name_topics(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for topic in self.a_topics:
            name = topic
            if topic not in self.topics and topic in self.services:
                name = _free(f"{topic}-topic", {*self.services, *self.topics})
                self.warnings.append(
                    f"topics.{name}: the AsyncAPI topic '{topic}' is named like a traced "
                    f"service: it is called '{name}'"
                )
            names[topic] = name
        return names

    def traced_by_group(self, service: str) -> tuple[str, str] | None:
        """(the traced service, the group) when the AsyncAPI `service`, unknown to the traces,
        consumes a topic in a group its document names and exactly one traced service consumes
        it in that group; else None."""
        found: set[tuple[str, str]] = set()
        for topic, body in self.a_topics.items():
            if service not in (body.get("subscribers") or {}):
                continue
            comment = self.asyncapi.comments.get(("topics", topic, "subscribers", service))
            declared = group_of(comment)
            if declared is None or DEFAULT_GROUP_NOTE in (comment or ""):
                continue  # (no groupId in the document: the group is the service's name)
            name = self.topic_names[topic]
            for consumer in (self.topics.get(name) or {}).get("subscribers") or {}:
                place = ("topics", name, "subscribers", consumer)
                if consumer not in self.a_services and (
                    group_of(self.traces.comments.get(place)) == declared
                ):
                    found.add((str(consumer), declared))
        return found.pop() if len({consumer for consumer, _ in found}) == 1 else None

    def name_services(self) -> dict[str, str]:
        names: dict[str, str] = {}
        topics = {*self.topics, *self.topic_names.values()}
        for service in self.a_services:
            name = service
            matched = None if service in self.services else self.traced_by_group(service)
            if matched is not None:
                names[service], group = matched
                self.warnings.append(
                    f"services.{service}: the AsyncAPI service '{service}' consumes in the "
                    f"consumer group '{group}', as the traced service '{names[service]}' does: "
                    f"taken as '{names[service]}' (set x-service-name to say so)"
                )
                continue
            if service not in self.services and service in topics:
                name = _free(f"{service}-service", {*self.services, *topics})
                self.warnings.append(
                    f"services.{name}: the AsyncAPI service '{service}' is named like a topic: "
                    f"it is called '{name}'"
                )
            names[service] = name
        return names

    def copy_comments(self, old: YamlPath, new: YamlPath, skip: YamlPath | None = None) -> None:
        for path, text in self.asyncapi.comments.items():
            if path[: len(old)] == old and not (skip and path[: len(skip)] == skip):
                self.comments[new + path[len(old) :]] = text

    # ---------------------------------------------------------------- topics and subscribers

    def merge_topic(self, topic: str) -> None:
        body = self.a_topics[topic]
        name = self.topic_names[topic]
        if name not in self.topics:
            self.topics[name] = {k: copy.deepcopy(v) for k, v in body.items() if k != "subscribers"}
            self.copy_comments(
                ("topics", topic), ("topics", name), ("topics", topic, "subscribers")
            )
            return
        existing = self.topics[name]
        for key in ("type", "partitions"):
            if key not in body:
                continue
            if key in existing and existing[key] != body[key]:
                self.warnings.append(
                    f"topics.{name}.{key}: {body[key]!r} in the AsyncAPI documents, "
                    f"{existing[key]!r} in the traces: the AsyncAPI value is used"
                )
            existing[key] = body[key]
            self.comments.pop(("topics", name, key), None)
            self.copy_comments(("topics", topic, key), ("topics", name, key))
        if existing.get("type") == "queue" and "partitions" in existing:
            del existing["partitions"]
            self.comments.pop(("topics", name, "partitions"), None)
        self.topics[name] = _ordered(existing, ("type", "partitions"))

    def merge_subscriber(self, topic: str, service: str, subscriber: Any) -> None:
        name, consumer = self.topic_names[topic], self.service_names[service]
        subscribers = self.topics[name].get("subscribers") or {}
        place = ("topics", name, "subscribers", consumer)
        a_place = ("topics", topic, "subscribers", service)
        if consumer in subscribers:
            declared = group_of(self.asyncapi.comments.get(a_place))
            traced = group_of(self.traces.comments.get(place))
            if declared is not None and traced is not None and declared != traced:
                self.warnings.append(
                    f"topics.{name}.subscribers.{consumer}: consumer group '{declared}' in the "
                    f"AsyncAPI documents, '{traced}' in the traces: the traces' is kept"
                )
            return
        body = dict(subscriber) if isinstance(subscriber, Mapping) else {"operation": subscriber}
        operations = self.a_services[service].get("operations") or {}
        handler = body.get("operation") or next(iter(operations))
        body["operation"] = self.copy_operation(service, handler)
        if "dead_letter" in body:
            body["dead_letter"] = self.topic_names.get(body["dead_letter"], body["dead_letter"])
        self.topics[name]["subscribers"] = {
            **subscribers,
            consumer: body["operation"] if len(body) == 1 else body,
        }
        self.copy_comments(a_place, place)
        self.warnings.append(
            f"topics.{name}.subscribers.{consumer}: declared in the AsyncAPI documents, not "
            f"seen in the traces: added with a placeholder handler"
        )

    # ---------------------------------------------------------------- services and operations

    def copy_operation(self, service: str, operation: str) -> str:
        """The name of `service.operation` of the AsyncAPI import in the merged document."""
        if (service, operation) in self.copied:
            return self.copied[(service, operation)]
        name = self.service_names[service]
        if name not in self.services:
            body = self.a_services[service]
            self.services[name] = {
                k: copy.deepcopy(v) for k, v in body.items() if k != "operations"
            }
            self.copy_comments(
                ("services", service), ("services", name), ("services", service, "operations")
            )
            known = [str(traced) for traced in self.traces.document.get("services") or {}]
            self.warnings.append(
                f"services.{name}: in the AsyncAPI documents, not seen in the traces"
                f"{did_you_mean(name, known)}: name the service with x-service-name (its "
                f"service.name in the traces) if it is one of them"
            )
        operations = self.services[name].setdefault("operations", {})
        steps = _renamed(self.a_services[service]["operations"][operation], self.topic_names)
        chosen = operation
        if operation in operations and operations[operation] != steps:
            chosen = _free(operation, operations)
        operations[chosen] = steps
        old = ("services", service, "operations", operation)
        self.copy_comments(old, ("services", name, "operations", chosen))
        self.copied[(service, operation)] = chosen
        return chosen

    def publishes(self, service: str | None, topic: str) -> bool:
        """Whether `service` (None: anything, a flow's inline steps included) publishes `topic`
        in the merged document."""
        bodies = [
            steps
            for name, body in self.services.items()
            if service is None or name == service
            for steps in (body.get("operations") or {}).values()
        ]
        if service is None:
            bodies.extend(flow.get("steps") for flow in self.workload.values())
        return any(topic in _published(steps) for steps in bodies)

    # ---------------------------------------------------------------- flows

    def merge_producer(self, name: str, flow: Mapping[str, Any]) -> None:
        service, _, operation = str(flow["entry"]).partition(".")
        operations = self.a_services[service].get("operations") or {}
        operation = operation or next(iter(operations))
        topics = [self.topic_names.get(t, t) for t in _published(operations[operation])]
        producer = self.service_names[service]
        if all(self.publishes(producer, topic) for topic in topics):
            return
        copied = self.copy_operation(service, operation)
        self.add_flow(name, {**flow, "entry": f"{producer}.{copied}"})
        self.warnings.append(
            f"services.{producer}.operations.{copied}: sends to {', '.join(topics)} in the "
            f"AsyncAPI documents, not seen in the traces: added with a placeholder rate"
        )

    def merge_external(self, name: str, flow: Mapping[str, Any]) -> None:
        topics = [self.topic_names.get(t, t) for t in _published(flow.get("steps"))]
        if all(self.publishes(None, topic) for topic in topics):
            return
        self.add_flow(name, {**flow, "steps": _renamed(flow.get("steps"), self.topic_names)})

    def add_flow(self, name: str, body: dict[str, Any]) -> None:
        chosen = _free(name, self.workload)
        self.workload[chosen] = copy.deepcopy(body)
        self.copy_comments(("workload", name), ("workload", chosen))

    def report_unmatched(self) -> None:
        """Warn of what the traces show that the AsyncAPI documents do not declare."""
        declared = {self.topic_names[topic] for topic in self.a_topics}
        unknown = [topic for topic in self.topics if topic not in declared]
        if unknown and declared:
            self.warnings.append(
                f"topics seen in the traces but in no AsyncAPI document: {', '.join(unknown)}"
            )
        for topic, body in self.a_topics.items():
            name = self.topic_names[topic]
            listed = {self.service_names[service] for service in body.get("subscribers") or {}}
            for consumer in self.topics[name].get("subscribers") or {}:
                if consumer not in listed:
                    self.warnings.append(
                        f"topics.{name}.subscribers.{consumer}: seen in the traces, not declared "
                        f"in the AsyncAPI documents"
                    )
