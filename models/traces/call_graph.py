"""From spans to executions of operations: who called whom, what was published, and how long
each operation spent on its own.

An **execution** is one run of an operation: a SERVER or CONSUMER span, or an INTERNAL (or
kind-less) span that is a root or whose parent belongs to another service (a scheduled job,
or a tracer that does not write kinds). Spans below it of the same service that are none of
these (INTERNAL spans, nested CONSUMER spans, a SERVER span right under a span of its own
service that is no CLIENT span: two instrumentations of one request) are part of it. Below an
execution:

- a CLIENT span with a server-side child is a synchronous **call** of the child's operation,
  timed by the CLIENT span; its duration minus the server span's (and minus archsim's own
  ``archsim.wait``, the time the request queued before its SERVER span started) is the
  network (and client-side) delay of the call; a CLIENT span without one is a call to
  something not traced (a database, an external API): an **external** wait, unless it failed
  (refused, dropped: a failure, not work, left out and counted);
- a server-side span directly below, without a CLIENT span, is a call without delay;
- a PRODUCER span is a **publish** to its topic (``messaging.destination.name``, the older
  ``messaging.destination``, Brave's ``kafka.topic``, else its name without the verb).

The **self time** of an execution is its duration minus the union of the intervals of its
calls and external waits: what its own worker spent working (publishing included).

A root CLIENT or PRODUCER span, or archsim's root span of a flow (service ``client:FLOW``),
is a **client** outside the traced services: its calls and publishes are a flow's inline body.

A CONSUMER execution handles a **message** when it points to its PRODUCER span (its parent,
or a link: OTLP links, Jaeger FOLLOWS_FROM) or names a topic; its consumer group is
``messaging.consumer.group.name`` (or ``messaging.kafka.consumer.group``), else its service.

Partial traces: a span whose parent is not in the files is treated as a root (counted in a
warning); a synchronous child that starts before its parent or ends after it (clocks of two
hosts that disagree) is shifted into its parent, and clipped to it when it is longer (counted
in a warning), unless the parent failed (a caller that timed out stops waiting while its
callee goes on). Spans whose parents form a cycle are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from models.traces.conventions import (
    ARCHSIM_CLIENT_PREFIX,
    ARCHSIM_OPERATION,
    ARCHSIM_WAIT,
    DB_SYSTEM,
    KAFKA_TOPIC_TAG,
    MESSAGING_CONSUMER_GROUP,
    MESSAGING_DESTINATION,
    MESSAGING_DESTINATION_OLD,
    MESSAGING_KAFKA_CONSUMER_GROUP,
    PEER_SERVICE,
    SERVER_ADDRESS,
    SpanKind,
)
from models.traces.spans import Span, SpanRef
from models.traces.spelling import spell_ms

SKEW_TOLERANCE = 1e-6
"""Seconds a child may stick out of its parent before it counts as clock skew (Jaeger and
Zipkin times are whole microseconds)."""

_VERBS = {"publish", "send", "produce", "create", "process", "receive", "deliver", "settle"}


@dataclass(frozen=True, order=True)
class OpKey:
    """An operation as the traces name it: its service and its name (not yet sanitised)."""

    service: str
    name: str

    def __str__(self) -> str:
        return f"{self.service}.{self.name}"


@dataclass(frozen=True)
class Action:
    """Something an execution did besides working: a call, a publish or an external wait.

    `target` is the called `OpKey`, the topic, or the name of the external dependency;
    `delay` is the network delay of a traced call (client span minus server span), None
    otherwise.
    """

    kind: Literal["call", "publish", "external"]
    target: OpKey | str
    start: float
    end: float
    delay: float | None = None

    @property
    def key(self) -> tuple[str, OpKey | str]:
        """What the action is, whatever its time: (kind, target)."""
        return (self.kind, self.target)


@dataclass
class Execution:
    """One run of an operation (or, for a flow whose root is a client, of the client)."""

    op: OpKey
    span: Span
    actions: list[Action] = field(default_factory=list)
    topic: str | None = None
    group: str | None = None
    delivery: float | None = None
    """Seconds from the publish to the start of the handling, for a linked message."""
    batch: int = 1

    @property
    def self_time(self) -> float:
        """The duration less the union of the intervals of calls and external waits."""
        waits = sorted(
            (max(a.start, self.span.start), min(a.end, self.span.end))
            for a in self.actions
            if a.kind != "publish"
        )
        covered, reach = 0.0, self.span.start
        for start, end in waits:
            if end > reach:
                covered += end - max(start, reach)
                reach = end
        return max(0.0, self.span.duration - covered)


@dataclass
class CallGraph:
    """Executions of operations and the roots of the traces, with what was noticed."""

    executions: list[Execution] = field(default_factory=list)
    entries: list[Execution] = field(default_factory=list)
    """Executions that are roots (a flow's requests enter there)."""
    clients: list[Execution] = field(default_factory=list)
    """Root CLIENT or PRODUCER spans: requests of a client outside the traced services; their
    `op` is (the root's service, its name) and their actions what it did."""
    orphans: int = 0
    first_orphan: Span | None = None
    """The first span (in file order) whose parent is missing: named in the warning."""
    skewed: int = 0
    first_skewed: tuple[Span, Span] | None = None
    """The first (span, parent) whose times disagree (before the span is moved): named in
    the warning."""
    cyclic: int = 0
    batches: int = 0
    unanswered: int = 0

    def warnings(self) -> list[str]:
        """What the user should know about the traces' shape, as sentences."""
        found = []
        if self.orphans:
            found.append(
                f"{self.orphans} span(s) name a parent that is not in the files (a partial "
                f"trace): each was taken as the root of a request{_orphan_example(self)}"
            )
        if self.skewed:
            found.append(
                f"{self.skewed} span(s) started before or ended after their parent (clock "
                "skew between hosts): shifted into the parent, clipped where longer"
                f"{_skew_example(self)}"
            )
        if self.cyclic:
            found.append(f"{self.cyclic} span(s) whose parents form a cycle were left out")
        if self.unanswered:
            found.append(
                f"{self.unanswered} failed CLIENT span(s) without a server span (refused, "
                "dropped, circuit open) were left out: they are failures, not work"
            )
        if self.batches:
            found.append(
                f"{self.batches} CONSUMER span(s) handle a batch of messages (several links): "
                "each is modelled as the handling of one message"
            )
        return found


def _named(span: Span) -> str:
    return f"span '{span.name}' of {span.service} (trace {span.trace_id}, span id {span.span_id})"


def _orphan_example(graph: CallGraph) -> str:
    span = graph.first_orphan
    return "" if span is None else f"; the first: {_named(span)}, parent {span.parent_id}"


def _skew_example(graph: CallGraph) -> str:
    if graph.first_skewed is None:
        return ""
    span, parent = graph.first_skewed
    offset = span.start - parent.start
    when = f"{spell_ms(offset)} after" if offset >= 0 else f"{spell_ms(-offset)} before"
    return (
        f"; the first: {_named(span)} lasts {spell_ms(span.duration)} from {when} the start "
        f"of its parent '{parent.name}' of {parent.service}, which lasts "
        f"{spell_ms(parent.duration)}"
    )


def attribute(span: Span, *names: str) -> str | None:
    """The first of the attributes `names` the span has, as text."""
    for name in names:
        value = span.attributes.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def operation_name(span: Span) -> str:
    """archsim's own ``archsim.operation`` attribute if present, else the span's name."""
    return attribute(span, ARCHSIM_OPERATION) or span.name


def topic_of(span: Span) -> str | None:
    """The destination a messaging span names, if any."""
    return attribute(span, MESSAGING_DESTINATION, MESSAGING_DESTINATION_OLD, KAFKA_TOPIC_TAG)


def topic_from_name(span: Span) -> str:
    """A PRODUCER span's topic when no attribute names it: its name without the verb
    (``orders publish`` -> ``orders``).

    >>> from models.traces.spans import Span
    >>> topic_from_name(Span("t", "s", None, SpanKind.PRODUCER, "a", "publish orders", 0, 0))
    'orders'
    """
    words = [word for word in span.name.split() if word.lower() not in _VERBS]
    return " ".join(words) or span.name


def external_name(span: Span) -> str:
    """The name of what a CLIENT span without a traced server called."""
    return attribute(span, PEER_SERVICE, DB_SYSTEM, SERVER_ADDRESS) or span.name


def _is_client_root(span: Span) -> bool:
    """Is the root `span` a client outside the traced services (a CLIENT or PRODUCER span, or
    archsim's root span of a flow, of the service ``client:FLOW``)?"""
    return span.kind in (SpanKind.CLIENT, SpanKind.PRODUCER) or span.service.startswith(
        ARCHSIM_CLIENT_PREFIX
    )


def _waited(span: Span) -> float:
    """Seconds a SERVER span says its request waited before it started (archsim's own
    ``archsim.wait``; 0 when not given)."""
    try:
        return max(0.0, float(span.attributes.get(ARCHSIM_WAIT, 0.0)))
    except (TypeError, ValueError):
        return 0.0


def _is_server_side(span: Span, parent: Span | None) -> bool:
    """Does `span` start an execution (given its parent)?"""
    if span.kind is SpanKind.SERVER:  # (under a span of its service but a CLIENT: doubled)
        return not (
            parent is not None
            and parent.service == span.service
            and parent.kind is not SpanKind.CLIENT
        )
    if span.kind is SpanKind.CONSUMER:
        return not (
            parent is not None
            and parent.kind is SpanKind.CONSUMER
            and parent.service == span.service
        )
    if span.kind in (SpanKind.INTERNAL, SpanKind.UNSPECIFIED):
        return parent is None or parent.service != span.service
    return False


class _Builder:
    """Builds a `CallGraph` from spans (one use)."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans: dict[SpanRef, Span] = {span.ref: span for span in spans}
        self.children: dict[SpanRef, list[SpanRef]] = defaultdict(list)
        self.roots: list[SpanRef] = []
        self.graph = CallGraph()
        for ref, span in self.spans.items():
            parent = (span.trace_id, span.parent_id) if span.parent_id is not None else None
            if parent is None or parent == ref:
                self.roots.append(ref)
            elif parent in self.spans:
                self.children[parent].append(ref)
            else:
                self.graph.orphans += 1
                if self.graph.first_orphan is None:
                    self.graph.first_orphan = span
                self.roots.append(ref)
        for siblings in self.children.values():
            siblings.sort(key=lambda child: (self.spans[child].start, child))
        self.roots.sort(key=lambda ref: (self.spans[ref].start, ref))
        self.parent_of: dict[SpanRef, SpanRef | None] = {}

    def build(self) -> CallGraph:
        """Clip skew top-down, then find executions and roots."""
        self._clip_skew()
        self.graph.cyclic = len(self.spans) - len(self.parent_of)
        for ref, parent_ref in self.parent_of.items():
            span = self.spans[ref]
            parent = self.spans[parent_ref] if parent_ref is not None else None
            if parent is None and _is_client_root(span):
                client = Execution(OpKey(span.service, span.name), span)
                if span.kind in (SpanKind.CLIENT, SpanKind.PRODUCER):
                    self._act(span, client.actions)
                else:
                    self._collect(span, client.actions)
                if client.actions:
                    self.graph.clients.append(client)
            elif _is_server_side(span, parent):
                execution = self._execution(span, parent)
                self.graph.executions.append(execution)
                if parent is None and execution.topic is None:
                    self.graph.entries.append(execution)
        self.graph.executions.sort(key=lambda execution: execution.span.start)
        self.graph.entries.sort(key=lambda execution: execution.span.start)
        return self.graph

    def _clip_skew(self) -> None:
        """Visit every span reachable from a root (iteratively), moving synchronous children
        into their parents' intervals; record each span's parent in `parent_of`."""
        stack: list[tuple[SpanRef, SpanRef | None]] = [(ref, None) for ref in reversed(self.roots)]
        while stack:
            ref, parent_ref = stack.pop()
            if ref in self.parent_of:
                continue
            self.parent_of[ref] = parent_ref
            if parent_ref is not None:
                self._fit_into_parent(ref, self.spans[parent_ref])
            stack.extend((child, ref) for child in reversed(self.children.get(ref, [])))

    def _fit_into_parent(self, ref: SpanRef, parent: Span) -> None:
        span = self.spans[ref]
        asynchronous = parent.kind is SpanKind.PRODUCER or span.kind is SpanKind.CONSUMER
        if asynchronous or parent.status == "error":
            return
        if span.duration > parent.duration + SKEW_TOLERANCE:
            moved = replace(span, start=parent.start, end=parent.end)
        elif span.start < parent.start - SKEW_TOLERANCE:
            moved = replace(span, start=parent.start, end=parent.start + span.duration)
        elif span.end > parent.end + SKEW_TOLERANCE:
            moved = replace(span, start=parent.end - span.duration, end=parent.end)
        else:
            return
        self.graph.skewed += 1
        if self.graph.first_skewed is None:
            self.graph.first_skewed = (span, parent)
        self.spans[ref] = moved

    def _execution(self, span: Span, parent: Span | None) -> Execution:
        execution = Execution(OpKey(span.service, operation_name(span)), span)
        if span.kind is SpanKind.CONSUMER:
            self._message(execution, parent)
        self._collect(span, execution.actions)
        return execution

    def _message(self, execution: Execution, parent: Span | None) -> None:
        """Topic, group and delivery time of a CONSUMER execution (None: not a message)."""
        span = execution.span
        producers = [self.spans[link] for link in span.links if link in self.spans]
        producers = [p for p in producers if p.kind is SpanKind.PRODUCER]
        if parent is not None and parent.kind is SpanKind.PRODUCER:
            producers.insert(0, parent)
        if len(span.links) > 1:
            self.graph.batches += 1
        producer = producers[0] if producers else None
        topic: str | None
        if producer is not None:
            topic = topic_of(producer) or topic_from_name(producer)
        else:
            topic = topic_of(span)
        if topic is None:
            return
        execution.topic = topic
        execution.group = (
            attribute(span, MESSAGING_CONSUMER_GROUP, MESSAGING_KAFKA_CONSUMER_GROUP)
            or span.service
        )
        if producer is not None:
            execution.delivery = max(0.0, span.start - producer.start)

    def _collect(self, top: Span, actions: list[Action]) -> None:
        """The actions below `top` that belong to its execution (iteratively)."""
        stack = [top]
        while stack:
            span = stack.pop()
            for child_ref in self.children.get(span.ref, []):
                child = self.spans[child_ref]
                if child.kind in (SpanKind.CLIENT, SpanKind.PRODUCER):
                    self._act(child, actions)
                elif _is_server_side(child, span):
                    if child.kind is not SpanKind.CONSUMER:  # (a message: handled on its own)
                        target = OpKey(child.service, operation_name(child))
                        actions.append(Action("call", target, child.start, child.end))
                else:
                    stack.append(child)
        actions.sort(key=lambda action: (action.start, action.end))

    def _act(self, span: Span, actions: list[Action]) -> None:
        """The action of a CLIENT or PRODUCER span (CLIENT spans nested in a CLIENT span
        without a server child count one by one)."""
        if span.kind is SpanKind.PRODUCER:
            topic = topic_of(span) or topic_from_name(span)
            actions.append(Action("publish", topic, span.start, span.end))
            return
        children = [self.spans[ref] for ref in self.children.get(span.ref, [])]
        servers = [
            child
            for child in children
            if child.kind is not SpanKind.CONSUMER and _is_server_side(child, span)
        ]
        if servers:
            for server in servers:
                alone = len(servers) == 1
                delay = span.duration - server.duration - _waited(server) if alone else 0.0
                target = OpKey(server.service, operation_name(server))
                actions.append(Action("call", target, span.start, span.end, max(0.0, delay)))
            return
        nested = [child for child in children if child.kind is SpanKind.CLIENT]
        if nested:
            for child in nested:
                self._act(child, actions)
            return
        if span.status == "error":
            self.graph.unanswered += 1  # a failed call that reached no server: not work
            return
        actions.append(Action("external", external_name(span), span.start, span.end))


def call_graph(spans: Iterable[Span]) -> CallGraph:
    """The executions, entries and client roots of a set of spans (see the module's text)."""
    return _Builder(spans).build()
