"""Compiling operations: the steps of the scenario language turned into runnable steps.

Each step of an operation becomes one object of `sim.engine.steps`, with its random streams
named by the step's YAML path (so that variants sharing a step draw the same numbers).
Operations are compiled callees first (synchronous calls form no cycle: `models.schema`
checks it), so that a call knows what it calls and can take the fast path of a leaf call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import simpy

from models import schema
from sim.engine.jobs import CompiledStep
from sim.engine.stations import ServiceRuntime
from sim.engine.steps import BranchStep, CallStep, HoldStep, LeafCallStep, ParallelStep, PublishStep
from sim.engine.streams import Streams
from sim.engine.topics import TopicRuntime

OperationKey = tuple[str, str]  # (service, operation)


class OperationCompiler:
    """Compiles and keeps the operations of one replication's services.

    `leaf_visits=False` compiles every call as a job (the general path): the same results,
    slower; tests use it to check the leaf-call fast path against the general one.
    """

    def __init__(
        self,
        scenario: schema.Scenario,
        env: simpy.Environment,
        streams: Streams,
        services: Mapping[str, ServiceRuntime],
        topics: Mapping[str, TopicRuntime],
        leaf_visits: bool = True,
    ) -> None:
        self.scenario = scenario
        self.env = env
        self.streams = streams
        self.services = services
        self.topics = topics
        self.leaf_visits = leaf_visits
        self.operations: dict[OperationKey, list[CompiledStep]] = {}

    def operation(self, service_name: str, operation_name: str) -> list[CompiledStep]:
        """The compiled steps of an operation, compiled on first use."""
        key = (service_name, operation_name)
        if key not in self.operations:
            service = self.scenario.services[service_name]
            path = f"services.{service_name}.operations.{operation_name}"
            steps = service.operations[operation_name]
            self.operations[key] = self.compile(steps, path, service.blocking_calls)
        return self.operations[key]

    def compile(
        self, steps: Sequence[schema.Step], path: str, blocking: bool
    ) -> list[CompiledStep]:
        """Compile a list of steps run by a caller that keeps its worker while it waits for
        a reply (`blocking`) or gives it back (an async service's operations)."""
        compiled = [
            self._compile_step(step, f"{path}[{index}]", blocking)
            for index, step in enumerate(steps)
        ]
        if compiled and isinstance(compiled[-1], HoldStep):
            compiled[-1].final = True
        return compiled

    def _compile_step(self, step: schema.Step, path: str, blocking: bool) -> CompiledStep:
        if isinstance(step, schema.WorkStep):
            return HoldStep(self.env, self.streams.sampler(step.work, f"{path}.work"))
        if isinstance(step, schema.DelayStep):
            return HoldStep(self.env, self.streams.sampler(step.delay, f"{path}.delay"))
        if isinstance(step, schema.CallStep):
            return self._call(step.call, path, blocking)
        if isinstance(step, schema.PublishStep):
            publish = step.publish
            return PublishStep(
                self.topics[publish.topic],
                publish.probability,
                publish.count,
                publish.key,
                self.streams.uniform(f"{path}.publish"),
            )
        if isinstance(step, schema.BranchStep):
            return BranchStep(
                [option.probability for option in step.branch],
                [
                    self.compile(option.steps, f"{path}.branch[{index}].steps", blocking)
                    for index, option in enumerate(step.branch)
                ],
                self.streams.uniform(f"{path}.branch"),
            )
        if isinstance(step, schema.ParallelStep):
            return ParallelStep(
                [
                    self.compile(branch, f"{path}.parallel[{index}]", blocking)
                    for index, branch in enumerate(step.parallel)
                ]
            )
        raise TypeError(f"unknown step type {type(step).__name__}")

    def _call(self, spec: schema.CallSpec, path: str, blocking: bool) -> CompiledStep:
        """A call: a leaf visit when a blocking caller makes a plain call to an operation of
        one hold step (the fast path, see `sim.engine.jobs`), else a job."""
        operation_name, _ = self.scenario.operation(spec.service, spec.operation)
        callee = self.operation(spec.service, operation_name)
        service = self.services[spec.service]
        uniform = self.streams.uniform(f"{path}.call")
        plain = spec.timeout is None and spec.retries == 0
        only_step = callee[0] if len(callee) == 1 else None
        if self.leaf_visits and blocking and plain and isinstance(only_step, HoldStep):
            return LeafCallStep(service, only_step, spec.probability, uniform)
        return CallStep(
            self.env, service, callee, spec.probability, spec.timeout, spec.retries, uniform
        )
