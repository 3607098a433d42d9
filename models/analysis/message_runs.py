"""Messages one execution publishes to a topic one after the other: runs of them, and how
far apart they come.

`models.analysis.fan_out` counts messages published at the same instant as a group
(M^X/G/c at the consumers). Most executions that publish twice do it some time apart: a
service writes an event, does some work or calls another service, and writes a second one,
or a callee writes one as it replies and its caller another a little later. Where the
first is still being handled when the second comes, the second waits behind it as in a
group, which independent arrivals at the same rate do not do: a consumer of 6.68 ms
constant work, half busy, behind an event loop that publishes after a callee's message
by about 1.8 ms, waits 8.27 ms simulated, 3.41 ms where the two were taken as
independent, 8.33 ms counted as below (`bench/analysis_fuzz.py` seed 617 at 50%).

A run (`publish_groups`) follows one execution's steps in order: `work` and `delay` steps
(their laws' mean and SCV), calls (the callee's response, read each round from its
summary; a call whose operation ends by publishing brings its message with the reply,
`_last_message`, and the messages it publishes before it replies, at most one to each
place, come on their paths through its steps, `_Walker._on_the_way`), `branch` steps
(the options taken decide how many messages each place gets: one draw) and `parallel`
steps (each branch's messages its own draws; the step ends with its longest branch); a
`fail` step, or a call that can time out or be retried, ends the run. Each topic's (and
message key's) two messages or more in a run make a group (`FanOut.paths`: each message's
stretches of time from the execution's start), counted whole with the probability that
one message is still held by a consumer when the next arrives (`fan_out.run_overlap`),
and its members alone otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from models.analysis.fan_out import FanOut, Senders, bernoulli, fan_outs, sum_of
from models.analysis.graph import OpKey, callee, steps_of
from models.analysis.group_overlap import Path, Stretch
from models.analysis.moments import ZERO, Moments, mixture
from models.schema import (
    BranchStep,
    CallStep,
    DelayStep,
    ParallelStep,
    PublishStep,
    Scenario,
    Step,
    WorkStep,
)


def senders(scenario: Scenario, keys: Sequence[OpKey]) -> Senders:
    """`fan_outs` and `publish_groups` of the operations `keys`."""
    return Senders(fan_outs(scenario, keys), publish_groups(scenario, keys))


def publish_groups(scenario: Scenario, keys: Sequence[OpKey]) -> dict[str, tuple[FanOut, ...]]:
    """Per topic, the runs of two messages or more that one execution publishes to it (at
    once where nothing that takes time comes between them; module docstring)."""
    found: dict[str, list[FanOut]] = defaultdict(list)
    for key in keys:
        walker = _Walker(scenario, key.priority)
        for run in walker.runs(steps_of(scenario, key)):
            _close(key, run, found)
    return {topic: tuple(groups) for topic, groups in found.items()}


Place = tuple[str, str | int | None]
"""Where a message goes: its topic and fixed key (None: each draws its partition)."""


@dataclass(frozen=True)
class _Member:
    """A message (or `count` of them) one execution may publish: where, its draw, the
    stretches from the execution's start to it, and their mean from the steps' own time
    (for the order of a run)."""

    where: Place
    draw: Mapping[int, float]
    path: Path
    offset: float


def _close(key: OpKey, members: Sequence[_Member], found: dict[str, list[FanOut]]) -> None:
    """Each place's run of two messages or more among `members`: a group."""
    by_place: dict[Place, list[_Member]] = defaultdict(list)
    for member in members:
        by_place[member.where].append(member)
    for (topic, message_key), run in by_place.items():
        sizes = sum_of([member.draw for member in run])
        if not any(size > 1 for size, _ in sizes):
            continue
        ordered = sorted(run, key=lambda member: member.offset)
        paths = tuple(member.path for member in ordered)
        spread = () if all(path == paths[0] for path in paths) else paths  # (else at once)
        found[topic].append(FanOut(key, sizes, message_key, paths=spread, messages=True))


class _Walker:
    """Walks the steps of one execution (of priority `priority`) for its runs."""

    def __init__(self, scenario: Scenario, priority: int) -> None:
        self.scenario = scenario
        self.priority = priority

    def runs(self, steps: Sequence[Step]) -> list[list[_Member]]:
        """The runs of `steps`: the members of each, in order."""
        runs: list[list[_Member]] = [[]]
        elapsed: tuple[Path, float] = ((), 0.0)
        for step in steps:
            walked = self.step(step, elapsed)
            if walked is None:
                runs.append([])
                elapsed = ((), 0.0)
                continue
            members, elapsed = walked
            runs[-1].extend(members)
        return [run for run in runs if run]

    def step(
        self, step: Step, start: tuple[Path, float]
    ) -> tuple[list[_Member], tuple[Path, float]] | None:
        """The members `step` publishes and the path to its end, from `start` (a path and
        its mean by the steps' own time); None where a run cannot go through it."""
        path, offset = start
        if isinstance(step, PublishStep):
            spec = step.publish
            draw = {0: 1.0 - spec.probability, spec.count: spec.probability}
            return [_Member((spec.topic, spec.key), draw, path, offset)], start
        if isinstance(step, WorkStep | DelayStep):
            law = step.work if isinstance(step, WorkStep) else step.delay
            stretch = Stretch(Moments(law.mean, law.variance))
            return [], ((*path, stretch), offset + law.mean)
        if isinstance(step, CallStep):
            took = own_time(self.scenario, [step])
            if took is None:
                return None
            target = callee(self.scenario, step, self.priority)
            stretch = Stretch(took, target, step.call.probability)
            end = ((*path, stretch), offset + took.mean)
            last = _last_message(self.scenario, step)
            before = self._on_the_way(step, target.priority, start, last is not None)
            if last is None:
                return before, end
            where, probability = last  # (published as the call returns)
            if any(member.where == where for member in before):
                before = []  # (a run of the callee's own to that place: counted there)
            return [*before, _Member(where, bernoulli(probability), *end)], end
        if isinstance(step, ParallelStep):
            members: list[_Member] = []
            ends = [start]
            for branch in step.parallel:
                walked = self.sequence(branch, start)
                if walked is None:
                    return None
                members.extend(walked[0])
                ends.append(walked[1])
            return members, max(ends, key=lambda end: end[1])
        if isinstance(step, BranchStep):
            return self.options(step, start)
        return None  # (a fail step: the execution may end here)

    def _on_the_way(
        self, step: CallStep, priority: int, start: tuple[Path, float], last: bool
    ) -> list[_Member]:
        """The messages a plain call's execution publishes before it replies (`last`: but
        the one its last step publishes, `_last_message`), at most one to each place (two
        or more to one place are a run of the callee's own, counted there, not again
        here), each on its path through the callee's steps from `start` (the callee's wait
        for its pool is left out), there as often as the call is made and publishes it;
        none where a run cannot go through the callee's steps."""
        call = step.call
        _, steps = self.scenario.operation(call.service, call.operation)
        if last:
            steps = steps[:-1]
        walked = _Walker(self.scenario, priority).sequence(steps, start)
        if walked is None:
            return []
        members = walked[0]
        if len({member.where for member in members}) < len(members):
            return []
        if any(count > 1 for member in members for count in member.draw):
            return []
        made = call.probability
        return [
            replace(member, draw=bernoulli(made * member.draw.get(1, 0.0))) for member in members
        ]

    def sequence(
        self, steps: Sequence[Step], start: tuple[Path, float]
    ) -> tuple[list[_Member], tuple[Path, float]] | None:
        """`step` over `steps` in order (None if any step stops a run)."""
        members: list[_Member] = []
        elapsed = start
        for step in steps:
            walked = self.step(step, elapsed)
            if walked is None:
                return None
            members.extend(walked[0])
            elapsed = walked[1]
        return members, elapsed

    def options(
        self, step: BranchStep, start: tuple[Path, float]
    ) -> tuple[list[_Member], tuple[Path, float]] | None:
        """A branch's options as one draw per place they publish to (the option taken
        decides how many), on the path of the likeliest option that publishes there; the
        step ends after the options' time, mixed (one stretch)."""
        path, offset = start
        by_place: dict[Place, list[tuple[float, _Member]]] = defaultdict(list)
        for option in step.branch:
            walked = self.sequence(option.steps, start)
            if walked is None:
                return None
            places = [member.where for member in walked[0]]
            if len(set(places)) < len(places):
                return None  # (two messages to one place in one option: not one draw)
            for member in walked[0]:
                by_place[member.where].append((option.probability, member))
        found = []
        for where, taken in by_place.items():
            draw: dict[int, float] = defaultdict(float)
            for p, member in taken:
                for count, q in member.draw.items():
                    draw[count] += p * q
            draw[0] += 1.0 - sum(p for p, _ in taken)
            likeliest = max(taken, key=lambda pair: pair[0])[1]
            found.append(_Member(where, dict(draw), likeliest.path, likeliest.offset))
        took = own_time(self.scenario, [step])
        if took is None:
            return None
        return found, ((*path, Stretch(took)), offset + took.mean)


def _plain(step: CallStep) -> bool:
    """A call with no timeout, retries or fallback (its reply comes once, when it ends)."""
    call = step.call
    return call.timeout is None and not call.retries and call.fallback is None


OWN_TIME_DEPTH = 8
"""How deep `own_time` follows calls (a bound: calls do not loop)."""


def own_time(scenario: Scenario, steps: Sequence[Step], depth: int = 0) -> Moments | None:
    """The time `steps` take from their own work, waiting nowhere (mean and variance):
    `work` and `delay` laws, a branch's options mixed, a parallel step's longest branch (by
    mean), a call its operation's (made with its probability); None beyond
    `OWN_TIME_DEPTH` calls deep, or for a call that can time out or be retried."""
    total = ZERO
    for step in steps:
        if isinstance(step, WorkStep | DelayStep):
            law = step.work if isinstance(step, WorkStep) else step.delay
            total = total + Moments(law.mean, law.variance)
        elif isinstance(step, CallStep):
            if depth >= OWN_TIME_DEPTH or not _plain(step):
                return None
            _, inner = scenario.operation(step.call.service, step.call.operation)
            took = own_time(scenario, inner, depth + 1)
            if took is None:
                return None
            p = step.call.probability
            total = total + mixture([(p, took), (1.0 - p, ZERO)])
        elif isinstance(step, BranchStep | ParallelStep):
            parts = (
                [o.steps for o in step.branch] if isinstance(step, BranchStep) else step.parallel
            )
            times = [own_time(scenario, part, depth) for part in parts]
            if any(t is None for t in times):
                return None
            known = [t for t in times if t is not None]
            if isinstance(step, BranchStep):
                total = total + mixture(
                    zip((o.probability for o in step.branch), known, strict=True)
                )
            elif known:
                total = total + max(known, key=lambda t: t.mean)
    return total


def _last_message(
    scenario: Scenario, step: Step | None
) -> tuple[tuple[str, str | int | None], float] | None:
    """((topic, key), probability) of the one message that a plain call `step` (no timeout,
    retries or fallback) publishes as it returns: its operation's last step publishes one
    message and no other message comes with it (through a call that step ends, in turn);
    a caller held through the call goes on at that very instant, so the message and the
    caller's next publishes to that topic arrive together (a service writing an event after
    the callee that wrote one: `tests/unit/test_batch_arrivals.py`). None otherwise."""
    if not isinstance(step, CallStep):
        return None
    if not _plain(step):
        return None
    call = step.call
    service = scenario.services[call.service]
    operation, _ = scenario.operation(call.service, call.operation)
    steps = service.operations[operation]
    if not steps or not isinstance(steps[-1], PublishStep):
        return None
    before = steps[-2] if len(steps) >= 2 else None
    if isinstance(before, PublishStep) or _last_message(scenario, before) is not None:
        return None  # (several messages at the end: a group of its own, counted there)
    spec = steps[-1].publish
    if spec.count != 1:
        return None
    return (spec.topic, spec.key), call.probability * spec.probability
