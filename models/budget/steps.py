"""Walking steps: what one run of a list of steps does, in expectation (`Cost`, `Walker`).

The limits of `models.budget` read a scenario through these costs: the messages the handlers
of a topic publish (`models.budget.topics`), whether a request can take time at all
(`models.budget.zero_time`), and the events and time of a request (`models.budget.events`).
Failures are ignored, except that a `fail` step ends a run early with its probability, so a
count here never exceeds the truth by a retry or a fallback. Pure Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from models.schema import (
    BranchStep,
    CallStep,
    DelayStep,
    FailStep,
    ParallelStep,
    PublishStep,
    Scenario,
    Step,
    WorkStep,
)


@dataclass
class Cost:
    """What one run of a list of steps does, in expectation: failures ignored, except that a
    `fail` step ends the run early with its probability (so a count here never exceeds the
    truth by a retry or a fallback)."""

    events: float = 0.0
    """Simulation events: steps that take time, call timeouts, queue timeouts."""
    time: float = 0.0
    """Expected time of its timed steps, without any waiting (a parallel step counts its
    slowest branch): a lower bound of its duration."""
    moves: bool = False
    """Whether it can take time at all: a timed step of positive mean that can run, a
    fallback that can, or a retry that waits for a backoff."""
    publishes: dict[str, float] = field(default_factory=dict)
    """Expected messages per topic."""
    sources: dict[str, str] = field(default_factory=dict)
    """Per topic: the YAML path of a publish step to it (the first one found)."""
    demand: dict[str, float] = field(default_factory=dict)
    """Per service: expected worker-seconds held (blocking services only)."""

    def add(self, other: Cost, weight: float, time: bool = True) -> None:
        """Add `weight` runs of `other` (its time too unless `time` is false)."""
        if weight <= 0:
            return
        self.events += weight * other.events
        if time:
            self.time += weight * other.time
        self.moves = self.moves or other.moves
        for topic, count in other.publishes.items():
            self.publishes[topic] = self.publishes.get(topic, 0.0) + weight * count
        for topic, path in other.sources.items():
            self.sources.setdefault(topic, path)
        for service, seconds in other.demand.items():
            self.demand[service] = self.demand.get(service, 0.0) + weight * seconds


class Walker:
    """Costs of operations (memoized, callees first) and of any list of steps, for a
    scenario whose references are valid (no call cycles, every target exists)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._operations: dict[tuple[str, str], Cost] = {}
        for service, operation in self._callees_first():
            self.operation(service, operation)

    def _target(self, step: CallStep) -> tuple[str, str]:
        call = step.call
        name, _ = self.scenario.operation(call.service, call.operation)
        return call.service, name

    def _callees_first(self) -> list[tuple[str, str]]:
        """Every operation, each after the operations it calls (an iterative depth-first
        search, so that long chains of calls need no deep recursion)."""
        order: list[tuple[str, str]] = []
        done: set[tuple[str, str]] = set()
        for service_name, service in self.scenario.services.items():
            for operation_name in service.operations:
                root = (service_name, operation_name)
                if root in done:
                    continue
                stack = [(root, iter(self._calls_of(root)))]
                done.add(root)
                while stack:
                    node, callees = stack[-1]
                    callee = next(callees, None)
                    if callee is None:
                        stack.pop()
                        order.append(node)
                    elif callee not in done:
                        done.add(callee)
                        stack.append((callee, iter(self._calls_of(callee))))
        return order

    def _calls_of(self, operation: tuple[str, str]) -> list[tuple[str, str]]:
        steps = self.scenario.services[operation[0]].operations[operation[1]]
        found: list[tuple[str, str]] = []
        pending: list[Step] = list(steps)
        while pending:
            step = pending.pop()
            if isinstance(step, CallStep):
                found.append(self._target(step))
                pending.extend(step.call.fallback or [])
            elif isinstance(step, ParallelStep):
                pending.extend(s for branch in step.parallel for s in branch)
            elif isinstance(step, BranchStep):
                pending.extend(s for option in step.branch for s in option.steps)
        return found

    def operation(self, service: str, operation: str) -> Cost:
        """One run of `service.operation`, its synchronous callees included."""
        key = (service, operation)
        cost = self._operations.get(key)
        if cost is None:
            steps = self.scenario.services[service].operations[operation]
            cost = self.steps(steps, f"services.{service}.operations.{operation}")
            self._operations[key] = cost
        return cost

    def steps(self, steps: Sequence[Step], base: str) -> Cost:
        """One run of `steps` (at YAML path `base`)."""
        cost = Cost()
        reach = 1.0  # the probability that no `fail` step has ended the run yet
        for index, step in enumerate(steps):
            if reach <= 0:
                break
            path = f"{base}[{index}]"
            if isinstance(step, WorkStep | DelayStep):
                mean = step.work.mean if isinstance(step, WorkStep) else step.delay.mean
                cost.events += reach
                cost.time += reach * mean
                cost.moves = cost.moves or mean > 0
            elif isinstance(step, CallStep):
                self._call(cost, step, path, reach)
            elif isinstance(step, PublishStep):
                spec = step.publish
                count = reach * spec.probability * spec.count
                cost.publishes[spec.topic] = cost.publishes.get(spec.topic, 0.0) + count
                cost.sources.setdefault(spec.topic, f"{path}.publish")
            elif isinstance(step, ParallelStep):
                branches = [
                    self.steps(branch, f"{path}.parallel[{number}]")
                    for number, branch in enumerate(step.parallel)
                ]
                for branch in branches:
                    cost.add(branch, reach, time=False)
                cost.time += reach * max(branch.time for branch in branches)
            elif isinstance(step, BranchStep):
                for number, option in enumerate(step.branch):
                    option_cost = self.steps(option.steps, f"{path}.branch[{number}].steps")
                    cost.add(option_cost, reach * option.probability)
            elif isinstance(step, FailStep):
                reach *= 1.0 - step.fail
        return cost

    def _call(self, cost: Cost, step: CallStep, path: str, reach: float) -> None:
        call = step.call
        service_name, operation_name = self._target(step)
        service = self.scenario.services[service_name]
        callee = self.operation(service_name, operation_name)
        weight = reach * call.probability
        cost.add(callee, weight)
        if service.blocking_calls and callee.time > 0:
            cost.demand[service_name] = cost.demand.get(service_name, 0.0) + weight * callee.time
        cost.events += weight * ((call.timeout is not None) + (service.queue_timeout is not None))
        if call.fallback:
            fallback = self.steps(call.fallback, f"{path}.call.fallback")
            cost.moves = cost.moves or fallback.moves
            for topic, source in fallback.sources.items():
                cost.sources.setdefault(topic, source)
        if call.retries > 0 and call.backoff is not None:
            cost.moves = True

    def handler(self, topic: str, service: str) -> Cost:
        """One run of the handler of `service`'s consumer group on `topic`."""
        subscriber = self.scenario.topics[topic].subscribers[service]
        name, _ = self.scenario.operation(service, subscriber.operation)
        return self.operation(service, name)
