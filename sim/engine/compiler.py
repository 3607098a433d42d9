"""Compiling operations: the steps of the scenario language turned into runnable steps.

Each step of an operation becomes one object of `sim.engine.steps`, with its random streams
named by the step's YAML path (so that variants sharing a step draw the same numbers).
Operations are compiled callees first (synchronous calls form no cycle: `models.schema`
checks it), so that a call knows what it calls and can take the fast path of a leaf call.
With a span recorder (a traced replication, `sim.engine.traced`) calls and publishes are
their traced variants and every operation starts with `SpanStart`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import simpy

from models import schema
from models.faults import Slowdown
from sim.engine.budget import InstantWork
from sim.engine.calls import CallEdge, CallPolicy
from sim.engine.jobs import CallTarget, CompiledStep
from sim.engine.spans import SpanRecorder
from sim.engine.stations import ServiceRuntime
from sim.engine.steps import (
    BranchStep,
    CallStep,
    FailStep,
    FallbackStep,
    HoldStep,
    LeafCallStep,
    ParallelStep,
    PublishStep,
)
from sim.engine.streams import Streams
from sim.engine.topics import TopicRuntime
from sim.engine.traced import (
    TracedCallStep,
    TracedPublishStep,
    TracedTopicRuntime,
    traced_operation,
)

OperationKey = tuple[str, str]  # (service, operation)


class OperationCompiler:
    """Compiles and keeps the operations of one replication's services.

    `fast_paths=False` compiles every call as a job (the general path): the same results,
    slower; tests use it to check the leaf-call fast path against the general one.
    `recorder`, in a traced replication (which has no fast paths), makes the steps that
    record spans (module docstring). `instant` counts the attempts of resilient calls retried
    at once (`sim.engine.budget.InstantWork`).
    """

    def __init__(
        self,
        scenario: schema.Scenario,
        env: simpy.Environment,
        streams: Streams,
        services: Mapping[str, ServiceRuntime],
        topics: Mapping[str, TopicRuntime],
        fast_paths: bool = True,
        measure_from: float = 0.0,
        recorder: SpanRecorder | None = None,
        instant: InstantWork | None = None,
    ) -> None:
        self.scenario = scenario
        self.recorder = recorder
        self.instant = instant if instant is not None else InstantWork(env)
        self.env = env
        self.streams = streams
        self.services = services
        self.topics = topics
        self.fast_paths = fast_paths
        self.measure_from = measure_from
        self.end = scenario.simulation.warmup + scenario.simulation.duration
        self.operations: dict[OperationKey, list[CompiledStep]] = {}
        self.edges: dict[str, CallEdge] = {}
        """One per calling service (or flow) and callee operation with a resilient call."""
        self.slowed = {fault.service for fault in scenario.faults if isinstance(fault, Slowdown)}

    def operation(self, service_name: str, operation_name: str) -> list[CompiledStep]:
        """The compiled steps of an operation, compiled on first use."""
        key = (service_name, operation_name)
        if key not in self.operations:
            service = self.scenario.services[service_name]
            path = f"services.{service_name}.operations.{operation_name}"
            steps = service.operations[operation_name]
            compiled = self.compile(steps, path, service.blocking_calls, caller=service_name)
            if self.recorder is not None:
                compiled = traced_operation(compiled, operation_name, self.recorder)
            self.operations[key] = compiled
        return self.operations[key]

    def compile(
        self, steps: Sequence[schema.Step], path: str, blocking: bool, caller: str
    ) -> list[CompiledStep]:
        """Compile a list of steps run by `caller` (a service, or a flow's client) that keeps
        its worker while it waits for a reply (`blocking`) or gives it back (an async
        service's operations)."""
        compiled = [
            self._compile_step(step, f"{path}[{index}]", blocking, caller)
            for index, step in enumerate(steps)
        ]
        if compiled and isinstance(compiled[-1], HoldStep):
            compiled[-1].final = True
        return compiled

    def _compile_step(
        self, step: schema.Step, path: str, blocking: bool, caller: str
    ) -> CompiledStep:
        if isinstance(step, schema.WorkStep):
            sample = self.streams.sampler(step.work, f"{path}.work")
            if caller in self.slowed:
                sample = _slowed(sample, self.services[caller])
            return HoldStep(self.env, sample)
        if isinstance(step, schema.DelayStep):
            return HoldStep(self.env, self.streams.sampler(step.delay, f"{path}.delay"))
        if isinstance(step, schema.FailStep):
            return FailStep(step.fail, self.streams.uniform(f"{path}.fail"))
        if isinstance(step, schema.CallStep):
            return self._call(step.call, path, blocking, caller)
        if isinstance(step, schema.PublishStep):
            publish = step.publish
            topic = self.topics[publish.topic]
            uniform = self.streams.uniform(f"{path}.publish")
            if isinstance(topic, TracedTopicRuntime):  # (a traced replication's topics)
                return TracedPublishStep(
                    topic, publish.probability, publish.count, publish.key, uniform
                )
            return PublishStep(topic, publish.probability, publish.count, publish.key, uniform)
        if isinstance(step, schema.BranchStep):
            return BranchStep(
                [option.probability for option in step.branch],
                [
                    self.compile(option.steps, f"{path}.branch[{index}].steps", blocking, caller)
                    for index, option in enumerate(step.branch)
                ],
                self.streams.uniform(f"{path}.branch"),
            )
        if isinstance(step, schema.ParallelStep):
            return ParallelStep(
                [
                    self.compile(branch, f"{path}.parallel[{index}]", blocking, caller)
                    for index, branch in enumerate(step.parallel)
                ]
            )
        raise TypeError(f"unknown step type {type(step).__name__}")

    def _call(self, spec: schema.CallSpec, path: str, blocking: bool, caller: str) -> CompiledStep:
        """A call: a leaf visit when a blocking caller makes a plain call to an operation of
        one hold step at a service without faults or admission control (the fast path, see
        `sim.engine.jobs`), a resilient call when it has a timeout, retries or a resilience
        pattern (`sim.engine.calls`), else a job."""
        operation_name, _ = self.scenario.operation(spec.service, spec.operation)
        callee = self.operation(spec.service, operation_name)
        service = self.services[spec.service]
        uniform = self.streams.uniform(f"{path}.call")
        only_step = callee[0] if len(callee) == 1 else None
        if (
            self.fast_paths
            and blocking
            and not spec.resilient
            and not service.guarded
            and isinstance(only_step, HoldStep)
        ):
            return LeafCallStep(service, only_step, spec.probability, uniform)
        if not spec.resilient:
            return self._call_step(service, callee, spec.probability, uniform, None, spec)
        label = f"{caller}->{spec.service}.{operation_name}"
        edge = self.edges.get(label)
        if edge is None:  # (the first call step of this caller to that operation sets it up)
            edge = CallEdge(label, spec.circuit_breaker, spec.bulkhead, self.measure_from, self.end)
            self.edges[label] = edge
        policy = CallPolicy(
            self.env,
            service,
            callee,
            edge,
            spec.timeout,
            spec.retries,
            spec.backoff,
            self.streams.uniform(f"{path}.call.backoff"),
            self.instant,
        )
        call = self._call_step(service, callee, spec.probability, uniform, policy, spec)
        if spec.fallback is None:
            return call
        fallback = self.compile(spec.fallback, f"{path}.call.fallback", blocking, caller)
        return FallbackStep(call, fallback)

    def _call_step(
        self,
        service: CallTarget,
        callee: Sequence[CompiledStep],
        probability: float,
        uniform: Callable[[], float],
        policy: CallPolicy | None,
        spec: schema.CallSpec,
    ) -> CallStep:
        """A call step, traced in a traced replication."""
        if self.recorder is None:
            return CallStep(service, callee, probability, uniform, policy)
        operation_name, _ = self.scenario.operation(spec.service, spec.operation)
        callee_name = (spec.service, operation_name)
        return TracedCallStep(service, callee, probability, uniform, policy, callee_name)


def _slowed(sample: Callable[[], float], service: ServiceRuntime) -> Callable[[], float]:
    """`sample` times the service's current slowdown factor (1 outside `slowdown` faults)."""

    def slowed() -> float:
        return sample() * service.slow_factor

    return slowed
