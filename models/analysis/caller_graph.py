"""Who calls what in one traffic: the structure `models.analysis.bounds.CallerBounds`
reads, kept from round to round while the traffic stays the same object.

`SolveMemo.traffic` returns the round before's traffic where every operation's calls,
publishes, failures and admitted shares and the flows' rates are the same (the rounds after
a solve's first mostly), and then which nodes run and what each calls are the same too:
the callers of each service and operation, and what depends on them alone, are found once
for them (`SolveMemo.last_graph`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from models.analysis.graph import OpKey
from models.analysis.summary import OperationSummary

Caller = tuple[str, str]
"""A bounded caller as a station tells them apart: (kind, name) of its nodes."""


@dataclass(frozen=True)
class CallerShape:
    """What `CallerBounds.bounded_caller` finds of the bounded callers of one service from
    the caller graph alone (their bounds, calls and rates), in the order it finds them:
    each round adds the holding times."""

    calls: tuple[tuple[Caller, float, OpKey], ...]
    """Each call of a bounded caller's node to an operation of the service that it makes:
    (the caller, calls per second, the operation)."""
    callers: tuple[tuple[Caller, int, float, bool], ...]
    """Each caller that makes calls, in the order of its first: (the caller, its
    population there, its calls per second, whether every node of it is on its own)."""


class CallerGraph:
    """Who calls each service and each operation, with their calls in flight, and each
    service's and topic's nodes: what `CallerBounds` reads of the structure. It depends on
    the nodes that run (a positive rate) and what each calls, so a round whose traffic is
    the round before's (`SolveMemo.traffic` returns the same object when every operation's
    calls and rates are the same) builds none of it again (`SolveMemo.last_graph`)."""

    def __init__(
        self,
        summaries: Mapping[OpKey, OperationSummary],
        rates: Mapping[OpKey, float],
        in_flight: Callable[[OpKey, str | OpKey], int],
    ) -> None:
        self.callers: dict[str, list[tuple[OpKey, int]]] = defaultdict(list)
        """Per service: the nodes calling any of its operations, with their calls in flight."""
        self.op_callers: dict[OpKey, list[tuple[OpKey, int]]] = defaultdict(list)
        """Per operation: the nodes calling it, with their calls in flight."""
        self.nodes: dict[tuple[str, str], list[OpKey]] = defaultdict(list)
        """Per (kind, service or topic name): its nodes, in the summaries' order."""
        self.targets: dict[tuple[OpKey, str], list[OpKey]] = defaultdict(list)
        """Per node with a rate and service it calls: the operations it calls there, in
        the order of its calls."""
        for source, summary in summaries.items():
            self.nodes[(source.kind, source.name)].append(source)
            if rates.get(source, 0.0) <= 0:
                continue
            reached: set[str] = set()
            for target in summary.calls:
                self.op_callers[target].append((source, in_flight(source, target)))
                self.targets[(source, target.name)].append(target)
                if target.name not in reached:
                    reached.add(target.name)
                    count = in_flight(source, target.name)
                    self.callers[target.name].append((source, count))
        self.arrivals: dict[str, float] = {}
        """Calls per second to each service asked about (`CallerBounds._arrivals`)."""
        self.independent: dict[str, bool] = {}
        """`CallerBounds.independent` of each service asked about (its callers' kinds)."""
        self.shapes: dict[str, CallerShape | None] = {}
        """Per service asked about: its bounded callers' shape, where `acyclic`."""
        self.consumer_shares: dict[tuple[str, str], tuple[tuple[float, ...], bool]] = {}
        """Per (log topic, group) asked about: each active consumer's share of the topic's
        messages and whether round robin deals them (`LoadBuilder.group`): functions of the
        traffic's partition rates and the scenario alone."""
        self.acyclic = _acyclic(self.op_callers)
        """Whether no operation is among its own callers' callers (`_acyclic`)."""
        self.known: dict[str, tuple[int | None, int | None]] = {}
        self.known_operations: dict[OpKey, tuple[int | None, int | None]] = {}
        """`CallerBounds.service` and `.operation`, kept with the graph where it is acyclic:
        there no bound is cut short at a cycle (`CallerBounds._arriving`), so each is a
        function of the graph and the flows' populations alone, whichever was asked first."""


def _acyclic(op_callers: Mapping[OpKey, list[tuple[OpKey, int]]]) -> bool:
    """Whether the operations' bounds never reach back to themselves: `CallerBounds.node`
    of a service's operation asks for its callers' (`operation`), and nothing else
    recurses, so that is a graph without a cycle from each operation to the service
    operations calling it."""
    done: set[OpKey] = set()
    for start in op_callers:
        if start in done:
            continue
        path = {start}
        stack = [(start, iter(op_callers.get(start, ())))]
        while stack:
            key, callers = stack[-1]
            for caller, _ in callers:
                if caller.kind != "service" or caller in done:
                    continue
                if caller in path:
                    return False
                path.add(caller)
                stack.append((caller, iter(op_callers.get(caller, ()))))
                break
            else:
                stack.pop()
                path.discard(key)
                done.add(key)
    return True


class LastGraph:
    """The `CallerGraph` of the last traffic it was built for (that object, kept alive
    here so that its identity stays its own): a solve's rounds after the first mostly
    have the same traffic (`SolveMemo.traffic`)."""

    def __init__(self) -> None:
        self.traffic: object | None = None
        self.sources: object | None = None
        """The flows' arrivals it was built with (their populations bound the nodes)."""
        self.graph: CallerGraph | None = None
