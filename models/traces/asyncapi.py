"""A scenario from AsyncAPI documents: the topics, partitions, consumer groups, producers and
consumers they declare, with placeholders where they say nothing (docs/traces.md#asyncapi).

AsyncAPI describes what messages go where, not how long anything takes nor how often it
happens, so the scenario built here has the architecture's shape and placeholder numbers,
each marked in a comment: a `work` of 1 ms per operation, a Poisson rate of 1/s per producer,
a 10-minute run. `archsim import traces` (or measurement) gives the real numbers;
`models.traces.merge.merge_imports` combines both.

Mapping (one document = one application = one service, `models.traces.asyncapi_document`):
- channel -> topic named by its Kafka binding `topic`, else its address, else its key, made a
  scenario name (`scenario_name`); `type: log` for Kafka or Pulsar (bindings or server
  protocol), `type: queue` for AMQP, SQS, SNS, JMS, IBM MQ, Anypoint MQ, Google Pub/Sub or
  STOMP, else left to the scenario default (log); `partitions` from `bindings.kafka.partitions`.
- receive (3.x `action: receive`, 2.x `publish`) -> the service subscribes (one consumer group,
  named by the service; the binding's `groupId` is noted) with a handler `on-<topic>`.
- send (3.x `action: send`, 2.x `subscribe`) -> an operation `publish-<topic>` of the service
  and a flow `<service>-publish-<topic>` that calls it; a topic that is received but that no
  document sends gets a flow `external-<topic>` publishing from outside.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import Problem, ScenarioError
from models.traces.asyncapi_document import AsyncApiDocument, Channel, Endpoint, read_document
from models.traces.imported import ImportedScenario, YamlPath

PLACEHOLDER_WORK: dict[str, Any] = {"exponential": "1ms"}
PLACEHOLDER_RATE = "1/s"
PLACEHOLDER_DURATION = "10min"
PLACEHOLDER_NOTE = "replace it with `archsim import traces` or a measurement"
GROUP_NOTE = "consumer group '{group}'"
"""How a subscriber's comment names its consumer group (`merge_imports` compares them)."""
DEFAULT_GROUP_NOTE = "no bindings.kafka.groupId: the service"
"""What follows `GROUP_NOTE` when a document names no group (the group is then a guess)."""


def read_asyncapi(path: Path) -> ImportedScenario:
    """The scenario one AsyncAPI file (2.0-2.6 or 3.0-3.1, YAML or JSON) describes.

    Raises `ScenarioError` naming the file and the place of every problem (not AsyncAPI, an
    unsupported version, a reference that does not resolve, a bad Kafka binding ...).
    """
    return read_asyncapis([path])


def read_asyncapis(paths: Iterable[Path]) -> ImportedScenario:
    """The scenario several AsyncAPI files describe together (typically one per service): a
    channel of one and a channel of another with the same broker name are one topic."""
    documents = [read_document(Path(path)) for path in paths]
    if not documents:
        raise ValueError("read_asyncapis needs at least one file")
    return _Builder(documents).build()


def scenario_name(text: str, lower: bool = False) -> str:
    """`text` as a scenario name (ASCII letters, digits, '-', '_', starting with a letter or a
    digit): accents dropped, every other run of characters made one '-'; "" if nothing is left.

    >>> scenario_name("orders.placed.v1"), scenario_name("Commandes reçues", lower=True)
    ('orders-placed-v1', 'commandes-recues')
    >>> scenario_name("user/{userId}/signedup"), scenario_name("日本")
    ('user-userId-signedup', '')
    """
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", plain).strip("-_")
    return name.lower() if lower else name


@dataclass
class _Topic:
    """A topic gathered from the channels of every document that names it."""

    name: str
    origins: list[str] = field(default_factory=list)
    kind: str | None = None
    kind_from: str = ""
    partitions: int | None = None
    partitions_from: str = ""
    subscribers: dict[str, tuple[Endpoint, str]] = field(default_factory=dict)
    publishers: dict[str, tuple[Endpoint, str]] = field(default_factory=dict)


class _Builder:
    """Names, gathers and writes the scenario of a list of documents."""

    def __init__(self, documents: list[AsyncApiDocument]) -> None:
        self.documents = documents
        self.warnings = [warning for document in documents for warning in document.warnings]
        self.comments: dict[YamlPath, str] = {}
        self.services: dict[str, str] = {}  # service as written -> scenario name
        self.service_origin: dict[str, str] = {}  # scenario name -> where it was named
        self.topics: dict[str, _Topic] = {}  # broker name as written -> topic

    def build(self) -> ImportedScenario:
        for document in self.documents:
            self.service(document.service, document.service_from, document)
            for endpoint in document.endpoints:
                self.service(endpoint.service, endpoint.service_from, document)
        for document in self.documents:
            for channel in document.channels:
                self.topic(channel, document.source)
            for endpoint in document.endpoints:
                self.endpoint(endpoint, document.source)
        if not any(document.endpoints for document in self.documents):
            first = self.documents[0].source
            raise ScenarioError(
                first,
                [Problem("", "no operation sends or receives messages: nothing to simulate")],
            )
        return ImportedScenario(self.document(), self.comments, self.header(), self.warnings)

    # ---------------------------------------------------------------- names

    def service(self, written: str, written_from: str, document: AsyncApiDocument) -> str:
        if written in self.services:
            return self.services[written]
        name = scenario_name(written, lower=written_from == "info.title")
        if not name:
            name = f"service-{len(self.services) + 1}"
            self.warnings.append(
                f"{document.source}: {written_from}: no ASCII letter or digit in {written!r}: "
                f"the service is called '{name}' (name it with an x-archsim-service extension)"
            )
        self.services[written] = name
        origin = f"{_file(document.source)}: {written_from} {written!r}"
        self.service_origin.setdefault(name, origin)
        return name

    def topic(self, channel: Channel, source: str) -> _Topic:
        topic = self.topics.get(channel.topic)
        if topic is None:
            topic = _Topic(self.topic_name(channel, source))
            self.topics[channel.topic] = topic
        origin = f"{_file(source)}: {channel.topic_from} {channel.topic!r}"
        if origin not in topic.origins:
            topic.origins.append(origin)
        if channel.kind is not None and topic.kind is None:
            topic.kind, topic.kind_from = channel.kind, f"{_file(source)}: {channel.kind_from}"
        elif channel.kind is not None and channel.kind != topic.kind:
            self.warnings.append(
                f"{source}: {channel.place}: a {channel.kind} topic here, a {topic.kind} topic "
                f"in {topic.kind_from}: '{topic.name}' is kept a {topic.kind} topic"
            )
        if channel.partitions is not None and topic.partitions is None:
            topic.partitions = channel.partitions
            topic.partitions_from = f"{_file(source)}: {channel.partitions_from}"
        elif channel.partitions is not None and channel.partitions != topic.partitions:
            self.warnings.append(
                f"{source}: {channel.partitions_from}: {channel.partitions} partitions, but "
                f"{topic.partitions} in {topic.partitions_from}: the first is kept"
            )
        return topic

    def topic_name(self, channel: Channel, source: str) -> str:
        base = scenario_name(channel.topic) or "topic"
        taken = {topic.name for topic in self.topics.values()} | set(self.services.values())
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}-topic" if number == 2 else f"{base}-topic-{number - 1}"
        if name != scenario_name(channel.topic):
            self.warnings.append(
                f"{source}: {channel.place}: the topic {channel.topic!r} is called '{name}' "
                f"(a scenario name, unique among services and topics)"
            )
        return name

    def endpoint(self, endpoint: Endpoint, source: str) -> None:
        topic = self.topic(endpoint.channel, source)  # (a channel of components is not listed)
        service = self.services[endpoint.service]
        chosen = topic.subscribers if endpoint.action == "receive" else topic.publishers
        if service not in chosen:
            chosen[service] = (endpoint, source)
            return
        first, first_source = chosen[service]
        if endpoint.action == "receive" and first.group != endpoint.group:
            self.warnings.append(
                f"{source}: {endpoint.place}: '{service}' receives '{topic.name}' in group "
                f"{endpoint.group!r} and in group {first.group!r} ({first_source}: "
                f"{first.place}): archsim has one group per service and topic, the first is kept"
            )

    # ---------------------------------------------------------------- the document

    def document(self) -> dict[str, Any]:
        services: dict[str, dict[str, Any]] = {name: {} for name in self.services.values()}
        topics: dict[str, dict[str, Any]] = {}
        workload: dict[str, dict[str, Any]] = {}
        for topic in self.topics.values():
            topics[topic.name] = self.topic_document(topic)
            for service, (endpoint, source) in topic.subscribers.items():
                operation = f"on-{topic.name}"
                place = ("services", service, "operations", operation)
                self.operations(services, service)[operation] = [{"work": dict(PLACEHOLDER_WORK)}]
                self.comments[place] = f"handler of '{topic.name}': {_where(source, endpoint)}"
                self.comments[(*place, 0)] = f"placeholder work: {PLACEHOLDER_NOTE}"
                topics[topic.name].setdefault("subscribers", {})[service] = operation
                self.comments[("topics", topic.name, "subscribers", service)] = self.group_comment(
                    topic, service, endpoint, source
                )
            for service, (endpoint, source) in topic.publishers.items():
                operation = f"publish-{topic.name}"
                place = ("services", service, "operations", operation)
                steps = [{"work": dict(PLACEHOLDER_WORK)}, {"publish": topic.name}]
                self.operations(services, service)[operation] = steps
                self.comments[place] = f"sends to '{topic.name}': {_where(source, endpoint)}"
                self.comments[(*place, 0)] = f"placeholder work: {PLACEHOLDER_NOTE}"
                self.flow(workload, f"{service}-{operation}", {"entry": f"{service}.{operation}"})
            if topic.subscribers and not topic.publishers:
                flow = self.flow(workload, f"external-{topic.name}", {"steps": []})
                workload[flow]["steps"] = [{"publish": topic.name}]
                self.comments[("workload", flow)] = (
                    f"no document read sends to '{topic.name}': a client outside publishes it"
                )
        for service, origin in self.service_origin.items():
            if services[service]:
                self.comments[("services", service)] = f"the application of {origin}"
            else:
                del services[service]
        titles = [document.title or document.service for document in self.documents]
        self.comments[("simulation", "duration")] = f"placeholder: {PLACEHOLDER_NOTE}"
        return {
            "name": " + ".join(dict.fromkeys(self.services.values())),
            "description": f"From AsyncAPI: {', '.join(titles)}. Work and rates are placeholders.",
            "simulation": {"duration": PLACEHOLDER_DURATION, "seed": 1},
            "services": services,
            "topics": topics,
            "workload": workload,
        }

    def operations(self, services: dict[str, dict[str, Any]], service: str) -> dict[str, Any]:
        operations: dict[str, Any] = services.setdefault(service, {}).setdefault("operations", {})
        return operations

    def flow(self, workload: dict[str, dict[str, Any]], name: str, body: dict[str, Any]) -> str:
        flow, number = name, 1
        while flow in workload:
            number += 1
            flow = f"{name}-{number}"
        workload[flow] = {**body, "arrivals": {"poisson": PLACEHOLDER_RATE}}
        self.comments[("workload", flow, "arrivals")] = (
            f"placeholder rate: AsyncAPI gives no rates; {PLACEHOLDER_NOTE}"
        )
        return flow

    def topic_document(self, topic: _Topic) -> dict[str, Any]:
        body: dict[str, Any] = {}
        place = ("topics", topic.name)
        self.comments[place] = "; ".join(topic.origins)
        if topic.kind is not None:
            body["type"] = topic.kind
            self.comments[(*place, "type")] = topic.kind_from
        if topic.partitions is not None and topic.kind != "queue":
            body["partitions"] = topic.partitions
            self.comments[(*place, "partitions")] = topic.partitions_from
        elif topic.partitions is not None:
            self.warnings.append(
                f"{topic.partitions_from}: {topic.partitions} partitions, but '{topic.name}' is "
                f"a queue topic ({topic.kind_from}): the partitions are left out"
            )
        elif topic.kind == "log":
            self.comments[(*place, "type")] += (
                "; no bindings.kafka.partitions: 1 partition (the default) is assumed"
            )
        if not topic.subscribers and not topic.publishers:
            self.comments[place] += "; no operation of the documents read uses it"
        return body

    def group_comment(self, topic: _Topic, service: str, endpoint: Endpoint, source: str) -> str:
        if endpoint.group is not None:
            given = f"{_file(source)}: {endpoint.group_from}"
            group = f"{GROUP_NOTE.format(group=endpoint.group)} ({given})"
        else:
            group = f"{GROUP_NOTE.format(group=service)} ({DEFAULT_GROUP_NOTE})"
        if endpoint.client_id is not None:
            group += f", client '{endpoint.client_id}'"
        consumers = "1 consumer thread (replicas x concurrency)"
        if topic.kind != "queue" and (topic.partitions or 1) > 1:
            consumers += f"; raise concurrency to use up to {topic.partitions} partitions"
        return f"{group}; {consumers}"

    def header(self) -> list[str]:
        lines = [
            f"Imported from AsyncAPI {document.version}: {document.source} "
            f"({document.title!r} {document.app_version})".rstrip()
            for document in self.documents
        ]
        return [
            *lines,
            "AsyncAPI gives the topics, partitions, groups, producers and consumers; the work",
            "times, rates and run length marked 'placeholder' are not in it: replace them with",
            "`archsim import traces` (archsim can merge both) or measurements.",
        ]


_ROLES_2 = {
    ".publish": " (AsyncAPI 2 'publish': others send, the application receives)",
    ".subscribe": " (AsyncAPI 2 'subscribe': the application sends)",
}


def _file(source: str) -> str:
    """The file name of `source`, to keep comments short (the header has the paths)."""
    return Path(source).name


def _where(source: str, endpoint: Endpoint) -> str:
    role = next((note for end, note in _ROLES_2.items() if endpoint.place.endswith(end)), "")
    named = f", operationId {endpoint.operation_id}" if role and endpoint.operation_id else ""
    return f"{_file(source)}: {endpoint.place}{named}{role}"
