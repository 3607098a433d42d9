"""The shape of an operation's steps, inferred from its executions: which calls and publishes
it makes, how many per execution, in which order, and which run in parallel.

Assumptions (what a trace can show):

- An action is identified by what it does: a call of one operation, a publish to one topic,
  a wait on one external dependency. Executions of one operation differ only in how many of
  each they make (0, 1, several): the count's distribution is kept as `counts`.
- Order: actions are placed by their mean start within the execution (0 at its start, 1 at
  its end), over the executions that make them.
- Parallel: two actions run in parallel when their intervals overlap in at least half of the
  executions that make both; copies of one action run in parallel when they overlap in at
  least half of the executions that make two or more. Parallel actions form one `Stage` of
  several branches; actions of one stage that never overlap each other share a branch, in
  order (an interval-graph colouring, greedy by position). Publishes take no time in a
  scenario, so they are never parallel.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from models.traces.call_graph import Action, Execution, OpKey

ActionKey = tuple[str, object]
PARALLEL_SHARE = 0.5


@dataclass
class KeyUse:
    """One kind of action of an operation, over all its executions."""

    key: ActionKey
    counts: Counter[int]
    """How many executions made it 0, 1, 2, ... times."""
    position: float
    """Mean start within the execution, 0 (its start) to 1 (its end)."""
    copies_in_parallel: bool = False
    samples: list[Action] = field(default_factory=list, repr=False)
    """Every occurrence (for the delays of calls)."""

    @property
    def executions(self) -> int:
        return sum(self.counts.values())

    @property
    def mean_count(self) -> float:
        """Occurrences per execution of the operation."""
        return sum(count * times for count, times in self.counts.items()) / self.executions


@dataclass
class Stage:
    """Consecutive steps: one branch (in sequence) or several (in parallel)."""

    branches: list[list[KeyUse]]


def _overlap(a: Action, b: Action) -> bool:
    tolerance = max(1e-6, 0.01 * min(a.end - a.start, b.end - b.start))
    return min(a.end, b.end) - max(a.start, b.start) > tolerance


def _overlapping_pairs(actions: Sequence[Action]) -> list[tuple[Action, Action]]:
    """Pairs of timed actions (not publishes) whose intervals overlap (a sweep by start)."""
    timed = sorted((a for a in actions if a.kind != "publish"), key=lambda a: a.start)
    pairs: list[tuple[Action, Action]] = []
    active: list[Action] = []
    for action in timed:
        active = [other for other in active if other.end > action.start]
        pairs.extend((other, action) for other in active if _overlap(other, action))
        active.append(action)
    return pairs


def _pair(first: ActionKey, second: ActionKey) -> tuple[ActionKey, ActionKey]:
    """Two action keys in a fixed order (a key of the pair counters)."""
    return (first, second) if str(first) <= str(second) else (second, first)


def infer_stages(executions: Sequence[Execution]) -> list[Stage]:
    """The stages of an operation from its executions (see the module's text)."""
    per_execution = [Counter(action.key for action in e.actions) for e in executions]
    keys = sorted({key for counts in per_execution for key in counts}, key=str)
    uses = {key: KeyUse(key, Counter(), 0.0) for key in keys}
    positions: dict[ActionKey, list[float]] = defaultdict(list)
    both: Counter[tuple[ActionKey, ActionKey]] = Counter()
    overlapped: Counter[tuple[ActionKey, ActionKey]] = Counter()
    for execution, counts in zip(executions, per_execution, strict=True):
        for key, use in uses.items():
            use.counts[counts.get(key, 0)] += 1
        length = execution.span.duration
        for action in execution.actions:
            uses[action.key].samples.append(action)
        for key in counts:
            first = next(a for a in execution.actions if a.key == key)
            offset = first.start - execution.span.start
            positions[key].append(offset / length if length > 0 else 0.0)
        present = sorted(counts, key=str)
        for index, key in enumerate(present):
            if counts[key] > 1:
                both[(key, key)] += 1
            both.update(_pair(key, other) for other in present[index + 1 :])
        overlapped.update({_pair(a.key, b.key) for a, b in _overlapping_pairs(execution.actions)})
    for key, use in uses.items():
        use.position = sum(positions[key]) / len(positions[key])
        copies = both[(key, key)]
        use.copies_in_parallel = copies > 0 and overlapped[(key, key)] >= PARALLEL_SHARE * copies
    parallel = {
        pair
        for pair, count in both.items()
        if pair[0] != pair[1] and overlapped[pair] >= PARALLEL_SHARE * count
    }
    ordered = sorted(uses.values(), key=lambda use: (use.position, str(use.key)))
    return _stages(ordered, parallel)


def _stages(ordered: list[KeyUse], parallel: set[tuple[ActionKey, ActionKey]]) -> list[Stage]:
    """Group the uses (in order) into stages: connected components of the parallel relation,
    each coloured into branches of mutually sequential actions."""

    def together(a: ActionKey, b: ActionKey) -> bool:
        return _pair(a, b) in parallel

    component: dict[ActionKey, int] = {}
    groups: list[list[KeyUse]] = []
    for use in ordered:
        joined = {
            component[other.key]
            for other in ordered
            if other.key in component and together(use.key, other.key)
        }
        if not joined:
            component[use.key] = len(groups)
            groups.append([use])
            continue
        target = min(joined)
        for index in sorted(joined - {target}):
            for moved in groups[index]:
                component[moved.key] = target
            groups[target].extend(groups[index])
            groups[index] = []
        component[use.key] = target
        groups[target].append(use)
    stages = []
    for group in sorted((g for g in groups if g), key=lambda g: min(u.position for u in g)):
        branches: list[list[KeyUse]] = []
        for use in sorted(group, key=lambda u: (u.position, str(u.key))):
            home = next((b for b in branches if not any(together(use.key, o.key) for o in b)), None)
            if home is None:
                branches.append([use])
            else:
                home.append(use)
        stages.append(Stage(branches))
    return stages


def cyclic_calls(executions: Mapping[OpKey, Sequence[Execution]]) -> list[tuple[OpKey, OpKey]]:
    """The calls (caller, callee) that close a cycle of synchronous calls between operations
    (recursion, which a scenario cannot express: it would never end): the back edges of a
    depth-first search of the operations in sorted order, sorted.

    >>> from models.traces.spans import Span
    >>> a, b = OpKey("s", "a"), OpKey("s", "b")
    >>> def run(op, callee):
    ...     span = Span("t", op.name, None, 2, "s", op.name, 0, 1)
    ...     return Execution(op, span, [Action("call", callee, 0, 1)])
    >>> cyclic_calls({a: [run(a, b)], b: [run(b, a)]})
    [(OpKey(service='s', name='b'), OpKey(service='s', name='a'))]
    """
    callees: dict[OpKey, set[OpKey]] = defaultdict(set)
    for op, runs in executions.items():
        for execution in runs:
            for action in execution.actions:
                if action.kind == "call" and isinstance(action.target, OpKey):
                    callees[op].add(action.target)
    dropped: set[tuple[OpKey, OpKey]] = set()
    state: dict[OpKey, int] = {}  # 1: on the current path, 2: done
    for root in sorted(callees):
        if root in state:
            continue
        stack = [(root, iter(sorted(callees[root])))]
        state[root] = 1
        while stack:
            op, pending = stack[-1]
            callee = next(pending, None)
            if callee is None:
                state[op] = 2
                stack.pop()
            elif state.get(callee) == 1:
                dropped.add((op, callee))
            elif callee not in state:
                state[callee] = 1
                stack.append((callee, iter(sorted(callees.get(callee, ())))))
    return sorted(dropped)
