"""The `topics` of an imported scenario: what was published where, and who consumed it.

- A topic is named by the PRODUCER spans that publish to it and the CONSUMER spans that
  handle its messages (`call_graph`). Its type is `queue` when ``messaging.system`` names a
  broker of competing consumers (RabbitMQ, SQS, ...; `conventions.QUEUE_SYSTEMS`), else a log.
- One subscriber per consumer group (``messaging.consumer.group.name``, else the consuming
  service): the handler is the operation of the group's CONSUMER spans (the most frequent, if
  they differ), `concurrency` the most handlings seen at once on one instance (a lower bound,
  as `workers`).
- `partitions`: the distinct ``messaging.destination.partition.id`` values seen; when the
  traces name none, enough that partitions do not limit the groups (replicas x concurrency
  of the largest), said in a comment.
- `delivery_latency`: a constant, the 10th percentile of the times from publish to the start
  of handling. The rest of those times is waiting for a free consumer, which the simulation
  models itself; the fastest deliveries are those that did not wait.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from models.traces.call_graph import Execution, OpKey, attribute, topic_of
from models.traces.capacity import concurrency
from models.traces.conventions import MESSAGING_PARTITION, MESSAGING_SYSTEM, QUEUE_SYSTEMS, SpanKind
from models.traces.spans import Span
from models.traces.spelling import spell_count, spell_ms, spell_time

DELIVERY_QUANTILE = 0.1


@dataclass
class TopicFacts:
    """What the traces say about one topic."""

    publishers: Counter[OpKey] = field(default_factory=Counter)
    groups: dict[str, list[Execution]] = field(default_factory=lambda: defaultdict(list))
    partitions: set[str] = field(default_factory=set)
    systems: set[str] = field(default_factory=set)
    first_seen: float = float("inf")


def topic_facts(
    executions: Iterable[Execution], clients: Iterable[Execution], spans: Iterable[Span]
) -> dict[str, TopicFacts]:
    """Every topic of the traces (by its name in them), in order of first appearance."""
    facts: dict[str, TopicFacts] = defaultdict(TopicFacts)
    for execution in [*executions, *clients]:
        for action in execution.actions:
            if action.kind == "publish":
                topic = facts[str(action.target)]
                topic.publishers[execution.op] += 1
                topic.first_seen = min(topic.first_seen, action.start)
        if execution.topic is not None and execution.group is not None:
            topic = facts[execution.topic]
            topic.groups[execution.group].append(execution)
            topic.first_seen = min(topic.first_seen, execution.span.start)
    for span in spans:
        if span.kind not in (SpanKind.PRODUCER, SpanKind.CONSUMER):
            continue
        name = topic_of(span)
        if name is None or name not in facts:
            continue
        partition = attribute(span, MESSAGING_PARTITION)
        if partition is not None:
            facts[name].partitions.add(partition)
        system = attribute(span, MESSAGING_SYSTEM)
        if system is not None:
            facts[name].systems.add(system.lower())
    return dict(sorted(facts.items(), key=lambda item: item[1].first_seen))


@dataclass
class TopicWriter:
    """Writes the `topics` section; `comments` and `warnings` collect what it noticed."""

    topic_names: Callable[[str], str]
    op_names: Callable[[OpKey], tuple[str, str]]
    replicas: Callable[[str], int]
    comments: dict[tuple[str | int, ...], str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def section(self, facts: dict[str, TopicFacts]) -> dict[str, Any]:
        """The topics, each with its type, partitions, delivery latency and subscribers."""
        return {self.topic_names(name): self._topic(name, topic) for name, topic in facts.items()}

    def _topic(self, name: str, facts: TopicFacts) -> dict[str, Any]:
        written = self.topic_names(name)
        path: tuple[str | int, ...] = ("topics", written)
        publishers = ", ".join(".".join(self.op_names(op)) for op in facts.publishers) or "none"
        origin = f"'{name}' in the traces: " if written != name else ""
        self.comments[path] = f"{origin}published by {publishers}"
        document: dict[str, Any] = {}
        queue = bool(facts.systems & QUEUE_SYSTEMS)
        if queue:
            document["type"] = "queue"
            self.comments[(*path, "type")] = f"messaging.system {', '.join(sorted(facts.systems))}"
        subscribers, threads = self._subscribers(written, facts)
        if not queue:
            if facts.partitions:
                document["partitions"] = len(facts.partitions)
                self.comments[(*path, "partitions")] = (
                    f"distinct {MESSAGING_PARTITION} values in the traces"
                )
            elif subscribers:
                document["partitions"] = max(threads)
                self.comments[(*path, "partitions")] = (
                    "not in the traces: as many as the largest group's consumers, so that "
                    "partitions do not limit them"
                )
        delivery = sorted(
            d for group in facts.groups.values() for e in group if (d := e.delivery) is not None
        )
        if delivery:
            low = delivery[int(DELIVERY_QUANTILE * (len(delivery) - 1))]
            if low >= 1e-6:
                document["delivery_latency"] = {"constant": spell_time(low)}
                median = delivery[len(delivery) // 2]
                self.comments[(*path, "delivery_latency")] = (
                    f"10th percentile of {spell_count(len(delivery))} publish-to-handling times "
                    f"(median {spell_ms(median)}): the rest is taken as waiting for a consumer, "
                    "which the simulation models"
                )
        if subscribers:
            document["subscribers"] = subscribers
        return document

    def _subscribers(self, topic: str, facts: TopicFacts) -> tuple[dict[str, Any], list[int]]:
        """The subscribers (one per consuming service) and each group's consumer threads."""
        subscribers: dict[str, Any] = {}
        threads: list[int] = []
        by_size = sorted(facts.groups.items(), key=lambda item: (-len(item[1]), item[0]))
        for group, executions in by_size:
            ops = Counter(execution.op for execution in executions)
            op, _ = ops.most_common(1)[0]
            service, operation = self.op_names(op)
            if service in subscribers:
                self.warnings.append(
                    f"topic '{topic}': service {service} consumes it in several groups; only "
                    f"the group with the most messages is kept (dropped: '{group}')"
                )
                continue
            seen = concurrency(executions)
            subscribers[service] = {"operation": operation, "concurrency": max(1, seen.most)}
            threads.append(max(1, seen.most) * self.replicas(service))
            where = f" on {seen.instance}" if seen.instance else ""
            others = (
                f"; handlers also named {', '.join(o.name for o in ops if o != op)}"
                if len(ops) > 1
                else ""
            )
            self.comments[("topics", topic, "subscribers", service)] = (
                f"consumer group '{group}': {spell_count(len(executions))} messages handled{others}"
            )
            self.comments[("topics", topic, "subscribers", service, "concurrency")] = (
                f"not in traces: the most handlings at once on one instance ({seen.most}"
                f"{where}), a lower bound"
            )
        return subscribers, threads
