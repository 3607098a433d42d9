"""The steps of an imported operation, from its executions: a `work` step for its self time,
then its calls, publishes and external waits as `structure.infer_stages` ordered them.

How counts become steps (a trace shows how often, not why):

- an action made at most once, by a fraction p of the executions: one step with
  ``probability: p`` (a `branch` of p and 1 - p when it is several steps: a network `delay`
  and its `call`);
- always c times when made at all: c steps (a publish: ``count: c``), under the same
  probability;
- a few different counts (at most `MAX_BRANCH_OPTIONS`, zero included): a `branch` with one
  option per count, weighted by how many executions made that many;
- more: the whole number of the mean count, then one more with the fraction as probability
  (the mean is kept, the spread is not);
- copies that overlap in time: `parallel` branches, one per copy (by the mean).

A call's network `delay` (the CLIENT span less the SERVER span: both ways on the network,
and the client's own overhead) comes before the call; below a microsecond on average it is
left out, below `fitting.TINY` it is a constant. A probability is written with 4 significant
digits; the options of a branch over counts with 6 decimals (summing to 1 exactly).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.traces.call_graph import Execution, OpKey
from models.traces.fitting import RESOLUTION, TINY, Fit, fit_times
from models.traces.notes import Notes
from models.traces.spelling import significant, spell_count
from models.traces.structure import KeyUse, Stage, infer_stages

MAX_BRANCH_OPTIONS = 4
Steps = list[dict[str, Any]]


@dataclass(frozen=True)
class FitRow:
    """One fitted time of the import, for the report: what it is, where, and the fit."""

    what: str
    """``work``, ``delay`` (of a call), ``external`` (a wait on something not traced) or
    ``delivery`` (of a topic's messages)."""
    where: str
    fit: Fit


def probability(value: float) -> float:
    """A probability (> 0) as written: 4 significant digits, at most 1.

    >>> probability(0.123456), probability(0.0000123456), probability(0.99999)
    (0.1235, 1.235e-05, 1.0)
    """
    return min(1.0, significant(value, 4))


def weights(counts: list[int]) -> list[float]:
    """Probabilities proportional to `counts`, 6 decimals each, summing to 1 exactly.

    >>> weights([1, 1, 1])
    [0.333333, 0.333333, 0.333334]
    """
    total = sum(counts)
    rounded = [round(count / total, 6) for count in counts[:-1]]
    return [*rounded, round(1.0 - sum(rounded), 6)]


RARE = 1e-6
"""A count of an action seen in fewer than this share of the executions is left out of a
`branch` over counts (its option would round to probability 0)."""


class StepWriter:
    """Writes the steps of operations (and of flows' inline bodies) with their comments."""

    def __init__(
        self,
        op_names: Callable[[OpKey], tuple[str, str]],
        topic_names: Callable[[str], str],
        notes: Notes,
        *,
        empirical: bool,
        dropped_calls: set[tuple[OpKey, OpKey]],
    ) -> None:
        self.op_names = op_names
        self.topic_names = topic_names
        self.notes = notes
        self.empirical = empirical
        self.dropped_calls = dropped_calls
        self.fits: list[FitRow] = []

    def operation(self, op: OpKey, executions: list[Execution], *, own_work: bool) -> Steps:
        """The steps of `op`: its self time as `work` (if `own_work`: not for a client
        outside the traced services), then its actions ([] if none)."""
        steps: Steps = []
        where = ".".join(self.op_names(op))
        if own_work:
            fit = fit_times([e.self_time for e in executions], empirical=self.empirical)
            self.fits.append(FitRow("work", where, fit))
            text = f"self time {fit.describe('spans')}"
            steps.append(self.notes.note({"work": fit.spec}, text))
        for stage in infer_stages(executions):
            steps.extend(self._stage(op, stage, len(executions)))
        return steps

    def _stage(self, op: OpKey, stage: Stage, executions: int) -> Steps:
        branches = [
            [step for use in branch for step in self._use(op, use, executions)]
            for branch in stage.branches
        ]
        branches = [branch for branch in branches if branch]
        if len(branches) <= 1:
            return branches[0] if branches else []
        text = "these run at the same time (their spans overlap)"
        return [self.notes.note({"parallel": branches}, text)]

    def _use(self, op: OpKey, use: KeyUse, executions: int) -> Steps:
        """The steps of one kind of action, with its counts."""
        kind, target = use.key
        if kind == "call" and isinstance(target, OpKey) and (op, target) in self.dropped_calls:
            return []
        unit = self._unit(op, use)
        times = _how_often(use, executions)
        counts = {c: n for c, n in use.counts.items() if n and n / executions >= RARE}
        counts = counts or dict(use.counts.most_common(1))
        present = {count: number for count, number in counts.items() if count > 0}
        if not present:
            return []
        if use.copies_in_parallel and max(present) > 1:
            return self._parallel_copies(use, unit, times)
        if len(present) == 1:
            (count,) = present
            return self._repeated(unit, count, _chance(present[count] / executions), times)
        if len(counts) <= MAX_BRANCH_OPTIONS:
            options = sorted(counts)
            chances = weights([counts[count] for count in options])
            branch = [
                {"probability": chance, "steps": [s for _ in range(count) for s in unit(None)]}
                for count, chance in zip(options, chances, strict=True)
            ]
            return [self.notes.note({"branch": branch}, times)]
        mean = use.mean_count
        whole = math.floor(mean + 1e-9)
        steps = [step for _ in range(whole) for step in unit(None)]
        rest = _chance(mean - whole) if mean - whole >= 0.00005 else None
        if rest is not None:
            steps.extend(unit(rest))
        self.notes.note(steps[-1], times)
        return steps

    def _repeated(self, unit: Unit, count: int, chance: float | None, times: str) -> Steps:
        """`count` occurrences, all with probability `chance` (None: always)."""
        if count == 1:
            steps = unit(chance)
        elif topic := _publish_topic(unit):
            publish: dict[str, Any] = {"topic": topic, "count": count}
            if chance is not None:
                publish["probability"] = probability(chance)
            steps = [{"publish": publish}]
        else:
            steps = [step for _ in range(count) for step in unit(None)]
            if chance is not None:
                steps = [_maybe(steps, chance)]
        self.notes.note(steps[-1], times)
        return steps

    def _parallel_copies(self, use: KeyUse, unit: Unit, times: str) -> Steps:
        mean = use.mean_count
        whole = math.floor(mean + 1e-9)
        branches = [unit(None) for _ in range(whole)]
        rest = _chance(mean - whole) if mean - whole >= 0.00005 else None
        if rest is not None:
            branches.append(unit(rest))
        text = f"{times}, at the same time (their spans overlap)"
        return [self.notes.note({"parallel": branches}, text)]

    def _unit(self, op: OpKey, use: KeyUse) -> Unit:
        """A function: probability (None: always) -> the steps of one occurrence."""
        kind, target = use.key
        caller = ".".join(self.op_names(op))
        if kind == "publish":
            return _Publish(self.topic_names(str(target)))
        if kind == "external":
            waits = [a.end - a.start for a in use.samples]
            fit = fit_times(waits, empirical=self.empirical)
            self.fits.append(FitRow("external", f"{caller} -> {target}", fit))
            text = f"waits on {target} (CLIENT spans, no server) {fit.describe('calls')}"
            return _Call(None, fit.spec, text, self.notes)
        assert isinstance(target, OpKey)
        callee = ".".join(self.op_names(target))
        delays = [a.delay for a in use.samples if a.delay is not None]
        if not delays or sum(delays) / len(delays) < RESOLUTION:
            return _Call(callee, None, "", self.notes)
        fit = fit_times(delays, empirical=self.empirical, tiny=TINY)
        self.fits.append(FitRow("delay", f"{caller} -> {callee}", fit))
        text = f"network delay {fit.describe('calls')}"
        return _Call(callee, fit.spec, text, self.notes)


Unit = Callable[[float | None], Steps]


class _Publish:
    """One publish to `topic`, with a probability."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def __call__(self, chance: float | None) -> Steps:
        if chance is None:
            return [{"publish": self.topic}]
        return [{"publish": {"topic": self.topic, "probability": probability(chance)}}]


class _Call:
    """One call of `callee` (``service.operation``; None: only the delay, a wait on something
    not traced) after a network delay `delay` (None: none), with a probability."""

    def __init__(
        self, callee: str | None, delay: dict[str, Any] | None, text: str, notes: Notes
    ) -> None:
        self.callee, self.delay, self.text, self.notes = callee, delay, text, notes

    def __call__(self, chance: float | None) -> Steps:
        steps: Steps = []
        if self.delay is not None:
            steps.append(self.notes.note({"delay": self.delay}, self.text))
        if self.callee is not None:
            if chance is not None and not steps:
                service, operation = self.callee.split(".", 1)
                spec = {"service": service, "operation": operation}
                return [{"call": {**spec, "probability": probability(chance)}}]
            steps.append({"call": self.callee})
        return steps if chance is None else [_maybe(steps, chance)]


def _publish_topic(unit: Unit) -> str | None:
    return unit.topic if isinstance(unit, _Publish) else None


def _chance(share: float) -> float | None:
    """`share` as the probability of a step, None when it rounds to 1 (always)."""
    return None if probability(share) >= 1 else share


def _maybe(steps: Steps, chance: float) -> dict[str, Any]:
    """A branch: `steps` with probability `chance`, nothing otherwise."""
    taken = probability(chance)
    options = [{"probability": taken, "steps": steps}]
    return {"branch": [*options, {"probability": round(1 - taken, 12), "steps": []}]}


def _how_often(use: KeyUse, executions: int) -> str:
    """How often an action happens, for a comment."""
    kind, _ = use.key
    made = sum(number for count, number in use.counts.items() if count > 0)
    nouns = {"call": "calls", "publish": "publishes", "external": "waits"}[kind]
    share = made / executions
    if made == executions and use.counts.keys() == {1}:
        return f"always ({spell_count(executions)} executions)"
    if use.counts.keys() <= {0, 1}:
        return f"in {share:.1%} of {spell_count(executions)} executions"
    return f"{use.mean_count:.3g} {nouns} per execution ({share:.1%} make any)"
