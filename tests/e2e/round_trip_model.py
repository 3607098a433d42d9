"""What a scenario says about its operations, for the round trip of traces
(tests/e2e/test_trace_round_trip.py): per operation, how many times one execution calls each
operation and publishes to each topic (a distribution over counts), and its mean self time;
the operations and topics a request can reach; an example compressed in time; and the
original scenario with the numbers an import measured put in its place (`plug_in`).

The walker is exact for the step language without failures of calls: sequences convolve the
counts of their steps (independent draws), a `branch` mixes its options, `parallel` branches
convolve, `fail: P` ends the rest of the sequence with probability P; `work` and `delay` add
their mean to the self time (the span less its calls, what an import measures as `work`).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from models.schema import (
    BranchStep,
    CallStep,
    DelayStep,
    FailStep,
    ParallelStep,
    PoissonArrivals,
    PublishStep,
    Scenario,
    Step,
    WorkStep,
)
from models.units import parse_duration, parse_rate

Counts = dict[int, float]
"""A distribution over counts: count -> probability."""
Key = tuple[str, str]
"""An action: ("call", "SERVICE.OPERATION") or ("publish", TOPIC)."""
NONE: Counts = {0: 1.0}


def convolve(first: Counts, second: Counts) -> Counts:
    """The counts of two independent actions added up.

    >>> convolve({0: 0.5, 1: 0.5}, {0: 0.5, 1: 0.5})
    {0: 0.25, 1: 0.5, 2: 0.25}
    """
    result: Counts = {}
    for i, p in first.items():
        for j, q in second.items():
            result[i + j] = result.get(i + j, 0.0) + p * q
    return result


def mixture(weighted: Iterable[tuple[float, Counts]]) -> Counts:
    """One of several count distributions, chosen with the given weights."""
    result: Counts = {}
    for weight, counts in weighted:
        for count, p in counts.items():
            result[count] = result.get(count, 0.0) + weight * p
    return result


@dataclass
class Summary:
    """What a sequence of steps does in one execution."""

    actions: dict[Key, Counts] = field(default_factory=dict)
    self_time: float | None = 0.0
    """Mean seconds of its own `work` and `delay` (None: work inside `parallel` branches,
    which an import measures less the calls it overlaps)."""
    resilient: bool = False
    """A call with a timeout, retries, backoff, a fallback, a circuit breaker or a bulkhead:
    its attempts and waits are not what the steps say (retries are calls made again)."""
    possible: set[Key] = field(default_factory=set)
    """Actions of fallbacks: they happen only when a call fails."""

    def then(self, other: Summary) -> Summary:
        """This, then `other` (independent draws)."""
        keys = self.actions.keys() | other.actions.keys()
        return Summary(
            {k: convolve(self.actions.get(k, NONE), other.actions.get(k, NONE)) for k in keys},
            _add(self.self_time, other.self_time),
            self.resilient or other.resilient,
            self.possible | other.possible,
        )


def _add(first: float | None, second: float | None) -> float | None:
    return None if first is None or second is None else first + second


def mix(options: Sequence[tuple[float, Summary]]) -> Summary:
    """One of `options`, chosen with their weights."""
    keys = {key for _, summary in options for key in summary.actions}
    times = [summary.self_time for _, summary in options]
    return Summary(
        {k: mixture((w, s.actions.get(k, NONE)) for w, s in options) for k in keys},
        None if None in times else sum(w * (s.self_time or 0.0) for w, s in options),
        any(summary.resilient for _, summary in options),
        {key for _, summary in options for key in summary.possible},
    )


class Facts:
    """The operations of a scenario, walked once: ``operations["SERVICE.OPERATION"]``."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.operations = {
            f"{service_name}.{name}": self.sequence(steps)
            for service_name, service in scenario.services.items()
            for name, steps in service.operations.items()
        }

    def sequence(self, steps: Sequence[Step]) -> Summary:
        if not steps:
            return Summary()
        first, rest = steps[0], steps[1:]
        if isinstance(first, FailStep):
            return mix([(first.fail, Summary()), (1.0 - first.fail, self.sequence(rest))])
        return self.step(first).then(self.sequence(rest))

    def step(self, step: Step) -> Summary:
        if isinstance(step, WorkStep):
            return Summary(self_time=step.work.mean)
        if isinstance(step, DelayStep):
            return Summary(self_time=step.delay.mean)
        if isinstance(step, CallStep):
            call = step.call
            operation, _ = self.scenario.operation(call.service, call.operation)
            p = call.probability
            counts = {1: 1.0} if p == 1.0 else {0: 1.0 - p, 1: p}
            patterns = (call.timeout, call.retries, call.backoff, call.fallback)
            resilient = any(patterns) or call.circuit_breaker is not None
            possible = set(self.sequence(call.fallback).actions) if call.fallback else set()
            key = ("call", f"{call.service}.{operation}")
            return Summary({key: counts}, 0.0, resilient or call.bulkhead is not None, possible)
        if isinstance(step, PublishStep):
            spec = step.publish
            p = spec.probability
            counts = {spec.count: 1.0} if p == 1.0 else {0: 1.0 - p, spec.count: p}
            return Summary({("publish", spec.topic): counts})
        if isinstance(step, BranchStep):
            return mix([(o.probability, self.sequence(o.steps)) for o in step.branch])
        assert isinstance(step, ParallelStep)
        summary = Summary()
        for branch in step.parallel:
            part = self.sequence(branch)
            if part.self_time:
                part.self_time = None
            summary = summary.then(part)
        return summary

    def reachable(self) -> tuple[set[str], set[str]]:
        """(operations, topics) that requests can reach: from the flows through calls (and
        fallbacks), publishes and the handlers of their subscribers."""
        queue = deque(self.sequence(flow.body()) for flow in self.scenario.workload.values())
        operations: set[str] = set()
        topics: set[str] = set()

        def visit(operation: str) -> None:
            if operation not in operations:
                operations.add(operation)
                queue.append(self.operations[operation])

        while queue:
            summary = queue.popleft()
            for (kind, target), counts in summary.actions.items():
                if max(counts) == 0:
                    continue
                if kind == "call":
                    visit(target)
                elif target not in topics:
                    topics.add(target)
                    for service, subscriber in self.scenario.topics[target].subscribers.items():
                        handler, _ = self.scenario.operation(service, subscriber.operation)
                        visit(f"{service}.{handler}")
        return operations, topics


# --------------------------------------------------------------------------- the examples


def example_document(path: Path) -> dict[str, Any]:
    """An example scenario file as a document, without its variants (the round trip is of
    the base scenario), files it replays named by absolute path."""
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    document.pop("variants", None)
    for flow in document["workload"].values():
        arrivals = flow.get("arrivals") or {}
        if "trace" in arrivals:
            spec = arrivals["trace"]
            spec = dict(spec) if isinstance(spec, dict) else {"file": spec}
            spec["file"] = str((path.parent / spec["file"]).resolve())
            arrivals["trace"] = spec
    return document


def compressed(document: dict[str, Any], factor: float) -> dict[str, Any]:
    """`document` with its run and everything that happens at a time scaled by `factor`:
    warm-up and duration, fault windows, the times of rate profiles, a sinusoid's period and
    phase, the phases of an MMPP (its switch rates divided by `factor`). Rates, service
    times, timeouts, autoscalers and replayed traces are left alone (a replayed trace is
    then its beginning)."""
    result = copy.deepcopy(document)
    simulation = result["simulation"]
    for key in ("duration", "warmup"):
        simulation[key] = parse_duration(simulation.get(key, 0)) * factor
    simulation.pop("sample_interval", None)
    for fault in result.get("faults", []):
        for key in ("at", "for"):
            if key in fault:
                fault[key] = parse_duration(fault[key]) * factor
    for flow in result["workload"].values():
        arrivals = flow.get("arrivals") or {}
        for change in arrivals.get("profile", []):
            change["at"] = parse_duration(change["at"]) * factor
        if "sinusoid" in arrivals:
            cycle = arrivals["sinusoid"]
            for key in ("period", "phase"):
                cycle[key] = parse_duration(cycle.get(key, 0)) * factor
        if "mmpp" in arrivals:
            phases = arrivals["mmpp"]
            phases["switch_rates"] = [parse_rate(r) / factor for r in phases["switch_rates"]]
    return result


# --------------------------------------------------------------------------- plug-in


def plug_in(original: Scenario, imported: Scenario) -> dict[str, Any]:
    """The original scenario with the numbers `imported` measured in their place: each
    Poisson flow's rate, each operation's mean self time (its `work` and `delay` steps
    scaled by one factor, their shapes kept) and the probabilities of its calls, publishes
    and branches. What is left is what the import did not measure: the shapes of the times,
    workers, consumer threads, partitions, delivery latencies and the structure, which is
    what a comparison of the two then tests. AssertionError for a structure this does not
    know how to map (a branch whose options no action tells apart)."""
    document = original.model_dump(mode="json", exclude_none=True)
    document.pop("variants", None)
    before, after = Facts(original), Facts(imported)
    for name, flow in document["workload"].items():
        assert set(flow["arrivals"]) == {"poisson"}, f"flow {name}: not Poisson"
        measured = imported.workload[name].arrivals
        assert isinstance(measured, PoissonArrivals), f"flow {name}: imported not Poisson"
        flow["arrivals"] = {"poisson": measured.poisson}
    for service_name, service in document["services"].items():
        for name, steps in service["operations"].items():
            key = f"{service_name}.{name}"
            if key not in after.operations:
                continue
            old, new = before.operations[key], after.operations[key]
            assert old.self_time and new.self_time, f"{key}: no self time to scale"
            _scale(steps, new.self_time / old.self_time)
            model_steps = original.services[service_name].operations[name]
            _probabilities(steps, model_steps, before, new)
    return document


def _scale(steps: list[dict[str, Any]], factor: float) -> None:
    for step in steps:
        for kind in ("work", "delay"):
            if kind in step:
                ((family, value),) = step[kind].items()
                step[kind] = {family: _scaled(value, factor)}
        for option in step.get("branch", []):
            _scale(option["steps"], factor)
        for branch in step.get("parallel", []):
            _scale(branch, factor)


def _scaled(value: Any, factor: float) -> Any:
    """The parameters of a distribution (`to_spec` form) for a time `factor` times as long:
    times scale, shapes (cv, k, alpha) do not."""
    if isinstance(value, list):
        return [item * factor for item in value]
    if isinstance(value, dict):
        times = ("mean", "median", "p99")
        return {k: v * factor if k in times else v for k, v in value.items()}
    return value * factor


def _probabilities(
    steps: list[dict[str, Any]], model_steps: Sequence[Step], facts: Facts, measured: Summary
) -> None:
    for step, model_step in zip(steps, model_steps, strict=True):
        for kind in ("call", "publish"):
            spec = step.get(kind)
            if isinstance(spec, dict) and spec["probability"] < 1.0:
                call = f"{spec['service']}.{spec['operation']}" if kind == "call" else ""
                target = call or spec["topic"]
                spec["probability"] = 1.0 - measured.actions[(kind, target)].get(0, 0.0)
        if isinstance(model_step, BranchStep):
            options = [facts.sequence(option.steps) for option in model_step.branch]
            key = _telling_action(options)
            counts = measured.actions.get(key, NONE)
            values = [next(iter(option.actions.get(key, NONE))) for option in options]
            total = sum(counts.get(value, 0.0) for value in values)
            for option, value in zip(step["branch"], values, strict=True):
                option["probability"] = counts.get(value, 0.0) / total
        assert not isinstance(model_step, ParallelStep) or not any(
            isinstance(inner, BranchStep) for branch in model_step.parallel for inner in branch
        ), "plug_in does not map branches inside parallel steps"


def _telling_action(options: Sequence[Summary]) -> Key:
    """An action made a fixed number of times in each option of a branch, a different number
    in each: its measured counts are the options' probabilities."""
    for key in sorted({key for option in options for key in option.actions}):
        counts = [option.actions.get(key, NONE) for option in options]
        fixed = all(len(count) == 1 for count in counts)
        if fixed and len({next(iter(count)) for count in counts}) == len(counts):
            return key
    raise AssertionError("no action tells the options of a branch apart")
