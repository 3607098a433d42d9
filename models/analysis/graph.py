"""The operation graph: what runs where, and which operations a workload can reach.

Nodes are executions of a list of steps in one place, keyed by `OpKey`:

- ``flow``: a flow's body, run by the external client (no contention); for a flow with
  `entry` the body is one call to the entry operation;
- ``service``: an operation run by a request worker of a service;
- ``handler``: a consumer group's operation, run by a consumer thread for every message.

Every key carries the priority of the flow whose requests run it (a request keeps its flow's
priority through every call and message), because waiting at a `discipline: priority`
service depends on it. Stations (`StationId`) are what queues: a service's worker pool or a
consumer group on a topic.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterable
from typing import Literal, NamedTuple

from models.references import walk_steps
from models.schema import CallStep, PublishStep, Scenario, Service, Step


class OpKey(NamedTuple):
    """One operation in one place, for requests of one priority (a named tuple: the
    analysis looks these up in dictionaries millions of times, and a tuple hashes in C)."""

    kind: Literal["flow", "service", "handler"]
    name: str
    """The flow, the service, or (handler) the topic."""
    operation: str
    """The operation of the service; for a handler the subscribing service (the group)."""
    priority: int


class StationId(NamedTuple):
    """A place where requests queue: a service (``group`` empty) or a topic's consumer group
    (a named tuple, as `OpKey`)."""

    kind: Literal["service", "group"]
    name: str
    """The service, or the topic of a consumer group."""
    group: str = ""
    """The consumer group (subscribing service) on topic `name`."""

    @property
    def label(self) -> str:
        """How warnings name the station."""
        if self.kind == "service":
            return f"service '{self.name}'"
        return f"consumer group '{self.group}' on topic '{self.name}'"


def workers_of(service: Service) -> int | None:
    """Workers per replica, or None for `workers: unlimited`."""
    return None if isinstance(service.workers, str) else service.workers


def one_queue(service: Service) -> bool:
    """Whether a service's requests wait in one queue: one replica, or replicas sharing it
    (`balancing: shared`)."""
    return service.replicas == 1 or service.balancing == "shared"


def consumer_threads(scenario: Scenario, topic: str, group: str) -> int:
    """The consumer threads of group `group` on `topic`: its replicas x concurrency."""
    return scenario.services[group].replicas * scenario.topics[topic].subscribers[group].concurrency


def active_threads(scenario: Scenario, topic: str, group: str) -> int:
    """The consumer threads of group `group` on `topic` that take messages: all of them on
    a queue topic, at most one per partition on a log topic (the others idle)."""
    threads = consumer_threads(scenario, topic, group)
    spec = scenario.topics[topic]
    return threads if spec.type == "queue" else min(spec.partitions, threads)


def consumer_count(scenario: Scenario, topic: str, group: str) -> int:
    """The group's server pools: one for a queue topic (its threads share the queue); for a
    log topic one per active consumer, min(partitions, threads), each a single server for
    its partitions."""
    spec = scenario.topics[topic]
    if spec.type == "queue":
        return 1
    return min(spec.partitions, consumer_threads(scenario, topic, group))


def service_keys(keys: Iterable[OpKey], service: str) -> list[OpKey]:
    """The nodes among `keys` that run operations of `service` (its worker pool's load)."""
    return [k for k in keys if k.kind == "service" and k.name == service]


def handler_keys(keys: Iterable[OpKey], topic: str, group: str) -> list[OpKey]:
    """The nodes among `keys` that group `group` runs for messages of `topic`."""
    return [k for k in keys if k.kind == "handler" and k.name == topic and k.operation == group]


def steps_of(scenario: Scenario, key: OpKey) -> list[Step]:
    """The steps that the node `key` runs."""
    if key.kind == "flow":
        return scenario.workload[key.name].body()
    if key.kind == "service":
        return scenario.services[key.name].operations[key.operation]
    subscriber = scenario.topics[key.name].subscribers[key.operation]
    _, steps = scenario.operation(key.operation, subscriber.operation)
    return steps


def station_of(key: OpKey) -> StationId | None:
    """The station whose server runs `key` (None for the external client)."""
    if key.kind == "service":
        return StationId("service", key.name)
    if key.kind == "handler":
        return StationId("group", key.name, key.operation)
    return None


def callee(scenario: Scenario, step: CallStep, priority: int) -> OpKey:
    """The node a call step reaches."""
    operation, _ = scenario.operation(step.call.service, step.call.operation)
    return OpKey("service", step.call.service, operation, priority)


def handlers(scenario: Scenario, topic: str, priority: int) -> list[OpKey]:
    """One handler node per consumer group of `topic` (fan-out: each gets every message)."""
    return [
        OpKey("handler", topic, group, priority) for group in scenario.topics[topic].subscribers
    ]


def fixed_partition(scenario: Scenario, topic: str, key: str | int | None) -> int | None:
    """The partition a fixed message key always lands on (CRC-32 of the key, as the
    simulator hashes it); None for messages partitioned by the topic's own rule."""
    spec = scenario.topics[topic]
    if key is None or spec.type == "queue":
        return None
    if spec.partitions == 1:
        return 0
    return zlib.crc32(str(key).encode("utf-8")) % spec.partitions


def flow_key(scenario: Scenario, flow: str) -> OpKey:
    """The node of a flow's body."""
    return OpKey("flow", flow, "", scenario.workload[flow].priority)


def reachable(scenario: Scenario, flows: Iterable[str] | None = None) -> list[OpKey]:
    """Every node some flow (of `flows`; every flow if None) can reach through calls and
    messages (dead letters included), flows first (sorted)."""
    names = scenario.workload if flows is None else flows
    return reachable_from(scenario, [flow_key(scenario, name) for name in names])


def reachable_from(scenario: Scenario, start: Iterable[OpKey]) -> list[OpKey]:
    """Every node the nodes `start` can reach through calls and messages (dead letters
    included), `start` among them (sorted)."""
    seen = set(start)
    queue = deque(sorted(seen))
    while queue:
        key = queue.popleft()
        reached: list[OpKey] = []
        if key.kind == "handler":  # its failed messages go to the dead-letter topic
            dead = scenario.topics[key.name].subscribers[key.operation].dead_letter
            if dead is not None:
                reached.extend(handlers(scenario, dead, key.priority))
        for _, step in walk_steps(steps_of(scenario, key), ""):
            if isinstance(step, CallStep):
                reached.append(callee(scenario, step, key.priority))
            elif isinstance(step, PublishStep):
                reached.extend(handlers(scenario, step.publish.topic, key.priority))
        for target in reached:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return sorted(seen)
