"""One AsyncAPI document (2.x or 3.x) read for what archsim needs of it: the application (a
service), its channels (topics: broker name, kind, Kafka partitions) and its operations (the
channel the application sends to or receives from, and in which consumer group).

`models.traces.asyncapi` turns these into a scenario; this module only reads and checks.
Every problem found in a file is reported at once (`ScenarioError`), each naming the file,
the place in the document (``channels.orderPlaced.bindings.kafka.partitions``), the rule and
the value given.

Sources:
- AsyncAPI Specification 2.6.0, Channel Item Object: `publish` "defines the messages consumed
  by the application from the channel", `subscribe` "the messages produced by the application
  and sent to the channel" (the application's point of view is inverted); Operation traits
  are merged into the operation with JSON Merge Patch (RFC 7386) in order, so a trait's field
  replaces the operation's.
- AsyncAPI Specification 3.0.0, Operation Object: `action` is `send` or `receive`, `channel` a
  Reference Object to a channel of the root `channels`; Channel Object `address` (null when
  unknown or dynamic; the channel's key names it then); traits merged so that the operation's
  own fields take precedence.
- Reference Object (followed by `models.traces.asyncapi_references`).
- AsyncAPI Kafka bindings (0.4.0, 0.5.0): channel ``topic``, ``partitions`` (integer > 0),
  ``replicas`` (the broker's replication factor, not consumers); operation ``groupId`` and
  ``clientId``, each a Schema Object (a value is read from ``const``, ``enum`` or ``default``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.errors import ScenarioError, did_you_mean, merge_problems, short_repr
from models.traces.asyncapi_references import Binding, DocumentReader, load_yaml, not_asyncapi

Action = Literal["send", "receive"]

SUPPORTED_VERSIONS = "2.0.0 to 2.6.0, 3.0.0 and 3.1.0"
_VERSION = re.compile(r"^(2\.[0-6]|3\.[01])\.\d+$")

LOG_PROTOCOLS = frozenset({"kafka", "kafka-secure", "pulsar", "pulsar+ssl"})
"""Protocols (server `protocol`, binding names) whose channels are partitioned logs."""
QUEUE_PROTOCOLS = frozenset(
    {"amqp", "amqps", "amqp1", "sqs", "sns", "jms", "ibmmq", "anypointmq", "googlepubsub"}
    | {"stomp", "stomps"}
)
"""Protocols whose consumers of one subscription compete for the messages of a queue."""

SERVICE_EXTENSIONS = ("x-archsim-service", "x-service-name")
"""Extensions naming the application's service, read at the top, in `info` and (per
operation) on an operation, before `info.title`."""


@dataclass(frozen=True)
class Channel:
    """A channel as archsim reads it: `topic` is the broker's name as written (Kafka binding
    `topic`, else the address, else the channel's key); `kind` is "log", "queue" or None
    (nothing says); each `*_from` says where the value came from."""

    place: str
    topic: str
    topic_from: str
    kind: Literal["log", "queue"] | None
    kind_from: str
    partitions: int | None
    partitions_from: str


@dataclass(frozen=True)
class Endpoint:
    """An operation of an application on a channel: it sends (produces) or receives (consumes).
    `group` is the Kafka consumer group (binding `groupId`), if the document gives one."""

    place: str
    action: Action
    service: str
    service_from: str
    channel: Channel
    operation_id: str | None
    group: str | None
    group_from: str
    client_id: str | None


@dataclass(frozen=True)
class AsyncApiDocument:
    """What one AsyncAPI file says: its application, channels and operations."""

    source: str
    version: str
    title: str
    app_version: str
    service: str
    service_from: str
    channels: tuple[Channel, ...]
    endpoints: tuple[Endpoint, ...]
    warnings: tuple[str, ...]


def read_document(path: Path) -> AsyncApiDocument:
    """Read and check one AsyncAPI file; raise `ScenarioError` listing all its problems."""
    source = str(path)
    root = load_yaml(path)
    reader = _Reader(source, root)
    document = reader.read()
    if reader.problems or document is None:
        raise ScenarioError(source, merge_problems(reader.problems))
    return document


class _Reader(DocumentReader):
    """Reads one AsyncAPI document: the application, its channels and its operations."""

    def read(self) -> AsyncApiDocument | None:
        root = self.root
        if not isinstance(root, Mapping) or "asyncapi" not in root:
            self.problem("", not_asyncapi(root))
            return None
        version = root["asyncapi"]
        if not isinstance(version, str) or _VERSION.fullmatch(version) is None:
            self.problem(
                "asyncapi",
                f"unsupported AsyncAPI version: archsim reads {SUPPORTED_VERSIONS} "
                f"(got {short_repr(version)})",
            )
            return None
        info = self.mapping(root.get("info"), "info") or {}
        title, service, service_from = self.application(root, info)
        if version.startswith("2."):
            channels, endpoints = self.version_2(service, service_from)
        else:
            channels, endpoints = self.version_3(service, service_from)
        app_version = info.get("version")
        return AsyncApiDocument(
            self.source,
            version,
            title,
            "" if app_version is None else str(app_version),
            service,
            service_from,
            tuple(channels),
            tuple(endpoints),
            tuple(self.warnings),
        )

    def application(self, root: Mapping[str, Any], info: Mapping[str, Any]) -> tuple[str, str, str]:
        """(title, service name as written, where the name came from)."""
        title = info.get("title")
        title_text = title if isinstance(title, str) else ""
        for owner, place in ((root, ""), (info, "info.")):
            for extension in SERVICE_EXTENSIONS:
                named = owner.get(extension)
                if isinstance(named, str) and named.strip():
                    return title_text, named.strip(), f"{place}{extension}"
                if named is not None:
                    self.problem(
                        f"{place}{extension}",
                        f"must be a non-empty string (got {short_repr(named)})",
                    )
        if not title_text.strip():
            self.problem(
                "info.title",
                f"the application's name is required: a non-empty info.title or an "
                f"{SERVICE_EXTENSIONS[0]} extension (got {short_repr(title)})",
            )
        return title_text, title_text.strip(), "info.title"

    # ---------------------------------------------------------------- AsyncAPI 2.x

    def version_2(self, service: str, service_from: str) -> tuple[list[Channel], list[Endpoint]]:
        channels: list[Channel] = []
        endpoints: list[Endpoint] = []
        items = self.mapping(self.root.get("channels"), "channels", required=True) or {}
        for key, item in items.items():
            found = self.resolve(item, f"channels.{key}")
            if found is None:
                continue
            body, place = found
            if not isinstance(body, Mapping):
                self.problem(place, f"a channel must be a mapping (got {short_repr(body)})")
                continue
            servers = self.server_names(body.get("servers"), f"{place}.servers")
            channel = self.channel(body, place, str(key), "channel name", servers)
            if "parameters" in body:
                self.warn(place, "has parameters: all its addresses are modelled as one topic")
            if channel is None:
                continue
            channels.append(channel)
            roles: tuple[tuple[str, Action], ...] = (("publish", "receive"), ("subscribe", "send"))
            for field, action in roles:
                if field in body:
                    endpoint = self.endpoint(
                        body[field],
                        f"{place}.{field}",
                        action,
                        channel,
                        service,
                        service_from,
                        operation_id=None,
                        traits_win=True,
                    )
                    endpoints.extend([endpoint] if endpoint is not None else [])
        return channels, endpoints

    def server_names(self, names: Any, place: str) -> list[tuple[Any, str]]:
        """The servers (object, place) a 2.x channel names; all the document's when none."""
        servers = self.mapping(self.root.get("servers"), "servers") or {}
        if names is None:
            return [(value, f"servers.{key}") for key, value in servers.items()]
        if not isinstance(names, list):
            self.problem(place, f"must be a list of server names (got {short_repr(names)})")
            return []
        chosen = []
        for index, name in enumerate(names):
            if name in servers:
                chosen.append((servers[name], f"servers.{name}"))
            else:
                known = ", ".join(map(str, servers)) or "none"
                hint = did_you_mean(str(name), map(str, servers))
                self.problem(
                    f"{place}[{index}]",
                    f"unknown server {short_repr(name)}{hint} (servers: {known})",
                )
        return chosen

    # ---------------------------------------------------------------- AsyncAPI 3.x

    def version_3(self, service: str, service_from: str) -> tuple[list[Channel], list[Endpoint]]:
        by_key: dict[str, Channel | None] = {}
        for key, value in (self.mapping(self.root.get("channels"), "channels") or {}).items():
            by_key[str(key)] = self.channel_3(value, f"channels.{key}", str(key))
        endpoints: list[Endpoint] = []
        operations = self.mapping(self.root.get("operations"), "operations") or {}
        for key, value in operations.items():
            found = self.resolve(value, f"operations.{key}")
            if found is None:
                continue
            body, place = found
            if not isinstance(body, Mapping):
                self.problem(place, f"an operation must be a mapping (got {short_repr(body)})")
                continue
            action = body.get("action")
            if action not in ("send", "receive"):
                self.problem(
                    f"{place}.action", f"must be 'send' or 'receive' (got {short_repr(action)})"
                )
            channel = self.operation_channel(body.get("channel"), f"{place}.channel", by_key)
            if "reply" in body:
                self.warn(f"{place}.reply", "request/reply is not modelled: the reply is left out")
            if channel is None or action not in ("send", "receive"):
                continue
            endpoint = self.endpoint(
                body,
                place,
                action,
                channel,
                service,
                service_from,
                operation_id=str(key),
                traits_win=False,
            )
            endpoints.extend([endpoint] if endpoint is not None else [])
        return [channel for channel in by_key.values() if channel is not None], endpoints

    def channel_3(self, value: Any, place: str, key: str) -> Channel | None:
        found = self.resolve(value, place)
        if found is None:
            return None
        body, place = found
        if not isinstance(body, Mapping):
            self.problem(place, f"a channel must be a mapping (got {short_repr(body)})")
            return None
        address = body.get("address")
        if address is not None and not isinstance(address, str):
            self.problem(
                f"{place}.address", f"must be a string or null (got {short_repr(address)})"
            )
            address = None
        if isinstance(address, str) and "{" in address:
            self.warn(place, f"address {address!r} has parameters: modelled as one topic")
        servers = self.server_refs(body.get("servers"), f"{place}.servers")
        named, named_from = (address, "address") if address else (key, "channel key")
        return self.channel(body, place, named, named_from, servers)

    def server_refs(self, refs: Any, place: str) -> list[tuple[Any, str]]:
        """The servers (object, place) a 3.x channel references; all the document's when none."""
        if refs is None:
            servers = self.mapping(self.root.get("servers"), "servers") or {}
            return [(value, f"servers.{key}") for key, value in servers.items()]
        if not isinstance(refs, list):
            self.problem(place, f"must be a list of references to servers (got {short_repr(refs)})")
            return []
        found = [self.resolve(ref, f"{place}[{index}]") for index, ref in enumerate(refs)]
        return [server for server in found if server is not None]

    def operation_channel(
        self, reference: Any, place: str, by_key: Mapping[str, Channel | None]
    ) -> Channel | None:
        if not isinstance(reference, Mapping) or not isinstance(reference.get("$ref"), str):
            self.problem(
                place,
                f"required: a reference to a channel, {{$ref: '#/channels/NAME'}} "
                f"(got {short_repr(reference)})",
            )
            return None
        found = self.resolve(reference, place)
        if found is None:
            return None
        body, target = found
        parts = target.split(".", 1)
        if parts[0] == "channels" and len(parts) == 2 and parts[1] in by_key:
            return by_key[parts[1]]
        return self.channel_3(body, target, target.rsplit(".", 1)[-1])

    # ---------------------------------------------------------------- channels, operations

    def channel(
        self,
        body: Mapping[str, Any],
        place: str,
        named: str,
        named_from: str,
        servers: list[tuple[Any, str]],
    ) -> Channel | None:
        bindings = self.bindings(body.get("bindings"), f"{place}.bindings")
        topic, topic_from = named, f"{place} ({named_from})"
        partitions, partitions_from = None, ""
        kafka = bindings.get("kafka")
        if kafka is not None:
            binding, where = kafka
            given = binding.get("topic")
            if isinstance(given, str) and given.strip():
                topic, topic_from = given.strip(), f"{where}.topic"
            elif given is not None:
                self.problem(
                    f"{where}.topic", f"must be a non-empty string (got {short_repr(given)})"
                )
            if "partitions" in binding:
                partitions = self.positive_int(binding["partitions"], f"{where}.partitions")
                partitions_from = f"{where}.partitions"
        kind, kind_from = self.kind(bindings, servers, place)
        if not topic.strip():
            self.problem(place, "a channel needs a name: an address, a key or a Kafka topic")
            return None
        return Channel(place, topic, topic_from, kind, kind_from, partitions, partitions_from)

    def kind(
        self,
        bindings: Mapping[str, tuple[Mapping[str, Any], str]],
        servers: list[tuple[Any, str]],
        place: str,
    ) -> tuple[Literal["log", "queue"] | None, str]:
        """The topic kind a channel's bindings, else its servers' protocols, say."""
        for protocol, (_, where) in bindings.items():
            if protocol in LOG_PROTOCOLS:
                return "log", f"{where} ({protocol}: a partitioned log)"
            if protocol in QUEUE_PROTOCOLS:
                return "queue", f"{where} ({protocol}: competing consumers)"
        kinds: dict[Literal["log", "queue"] | None, list[str]] = {}
        for reference, reference_place in servers:
            server, server_place = self.resolve(reference, reference_place) or (None, "")
            named = server.get("protocol") if isinstance(server, Mapping) else None
            if isinstance(named, str):
                kind = _protocol_kind(named.lower())
                kinds.setdefault(kind, []).append(f"{server_place} ({named})")
        if len(kinds) > 1:
            listed = "; ".join(", ".join(wheres) for wheres in kinds.values())
            self.warn(
                place,
                f"its servers' protocols differ in kind ({listed}): the scenario's default "
                f"topic type is used",
            )
        elif len(kinds) == 1:
            ((kind, wheres),) = kinds.items()
            return kind, f"protocol of {', '.join(wheres)}"
        return None, "no binding or server protocol"

    def endpoint(
        self,
        value: Any,
        place: str,
        action: Action,
        channel: Channel,
        service: str,
        service_from: str,
        operation_id: str | None,
        traits_win: bool,
    ) -> Endpoint | None:
        found = self.resolve(value, place)
        if found is None:
            return None
        body, place = found
        if not isinstance(body, Mapping):
            self.problem(place, f"an operation must be a mapping (got {short_repr(body)})")
            return None
        sources = self.kafka_operation_bindings(body, place, traits_win)
        group, group_from = self.schema_value(sources, "groupId")
        client_id, _ = self.schema_value(sources, "clientId")
        if operation_id is None and isinstance(body.get("operationId"), str):
            operation_id = body["operationId"]
            self.check_direction(operation_id, place, action)
        for extension in SERVICE_EXTENSIONS:
            named = body.get(extension)
            if isinstance(named, str) and named.strip():
                service, service_from = named.strip(), f"{place}.{extension}"
                break
        return Endpoint(
            place,
            action,
            service,
            service_from,
            channel,
            operation_id,
            group,
            group_from,
            client_id,
        )

    def check_direction(self, operation_id: str, place: str, action: Action) -> None:
        """Warn when a 2.x operationId sounds like the other direction: documents written
        as if `publish` meant "the application publishes" are common."""
        sounds = _SOUNDS_LIKE.get("receive" if action == "send" else "send")
        if sounds is not None and sounds.match(operation_id):
            field = place.rsplit(".", 1)[-1]
            self.warn(
                place,
                f"operationId {operation_id!r} sounds as if the application "
                f"{'receives' if action == 'send' else 'sends'}, but in AsyncAPI 2 '{field}' "
                f"means it {action}s: read as the specification says (if the document was "
                f"written the other way round, swap 'publish' and 'subscribe')",
            )

    def kafka_operation_bindings(
        self, body: Mapping[str, Any], place: str, traits_win: bool
    ) -> list[Binding]:
        """The Kafka bindings of an operation and of its traits, the one that wins first."""
        own = self.bindings(body.get("bindings"), f"{place}.bindings").get("kafka")
        traits: list[Binding] = []
        listed = body.get("traits", [])
        if not isinstance(listed, list):
            self.problem(f"{place}.traits", f"must be a list of traits (got {short_repr(listed)})")
            listed = []
        for index, trait in enumerate(listed):
            found = self.resolve(trait, f"{place}.traits[{index}]")
            if found is not None and isinstance(found[0], Mapping):
                kafka = self.bindings(found[0].get("bindings"), f"{found[1]}.bindings").get("kafka")
                traits.extend([kafka] if kafka is not None else [])
        traits.reverse()  # a later trait patches an earlier one
        mine = [own] if own is not None else []
        return traits + mine if traits_win else mine + traits


_SOUNDS_LIKE = {
    "receive": re.compile(r"^(on[A-Z_-]|receive|consume|handle|listen|process)", re.IGNORECASE),
    "send": re.compile(r"^(send|publish|emit|produce|notify)", re.IGNORECASE),
}
"""operationIds that name a direction (a 2.x document can contradict its own operation)."""


def _protocol_kind(protocol: str) -> Literal["log", "queue"] | None:
    if protocol in LOG_PROTOCOLS:
        return "log"
    return "queue" if protocol in QUEUE_PROTOCOLS else None
