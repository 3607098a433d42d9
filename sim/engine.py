"""One replication of a scenario: a simpy Environment, the stations, the flows, the run.

The engine is the only code that imports simpy. It builds a runtime object per service and
flow, compiles every operation into steps (see `sim.steps`), starts the arrival sources, runs
until warm-up + duration, and returns plain dictionaries in the shape of DESIGN §3.
Statistics are reset at the end of warm-up. Nothing is global: each replication owns its
environment and its random streams.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import simpy

from models import schema
from models.distributions import Distribution, block_sampler
from sim.runtime import CompiledStep
from sim.stations import ServiceRuntime
from sim.steps import BranchStep, CallStep, HoldStep, LeafCallStep, ParallelStep, PublishStep
from sim.streams import Streams
from sim.timeseries import TimeSeriesSampler
from sim.topics import ConsumerGroup, TopicRuntime
from sim.workload import ClosedClients, FlowRuntime, OpenArrivals, ProfileArrivals

Trace = list[tuple[str, str, int, int, float]]


class Replication:
    """One independent run of a scenario with its own environment and random streams."""

    def __init__(
        self,
        scenario: schema.Scenario,
        replication: int,
        seed: int,
        trace: Trace | None = None,
        leaf_visits: bool = True,
    ) -> None:
        """Build everything; `trace`, if given, collects (topic, group, partition, message,
        start time) for every message a consumer starts (for order checks in tests).
        `leaf_visits=False` runs every call as a job (see `sim.runtime`): the same results,
        slower; tests use it to check the fast path against the general one."""
        self.scenario = scenario
        self.leaf_visits = leaf_visits
        self.env = simpy.Environment()
        self.streams = Streams(seed, replication)
        settings = scenario.simulation
        self.warmup = settings.warmup
        self.end = settings.warmup + settings.duration
        self.services = {
            name: ServiceRuntime(name, spec, self) for name, spec in scenario.services.items()
        }
        self.topics = {
            name: TopicRuntime(name, spec, self) for name, spec in scenario.topics.items()
        }
        self._operations: dict[tuple[str, str], list[CompiledStep]] = {}
        for service_name, service in scenario.services.items():
            for operation_name in service.operations:
                self._operation(service_name, operation_name)
        self.flows = {
            name: self._build_flow(name, flow) for name, flow in scenario.workload.items()
        }
        for topic_name, topic in scenario.topics.items():
            for service_name, subscriber in topic.subscribers.items():
                operation_name, _ = scenario.operation(service_name, subscriber.operation)
                threads = scenario.services[service_name].replicas * subscriber.concurrency
                handler = self._operations[(service_name, operation_name)]
                runtime = self.topics[topic_name]
                runtime.groups.append(
                    ConsumerGroup(runtime, service_name, subscriber, threads, handler, trace)
                )
        self.sampler_of_series = TimeSeriesSampler(self, settings.resolved_sample_interval)

    # ------------------------------------------------------------------ building

    def sampler(self, distribution: Distribution, path: str) -> Any:
        """A fast sampler of `distribution` on the stream named `path`."""
        return block_sampler(distribution, self.streams.generator(path))

    def _operation(self, service_name: str, operation_name: str) -> list[CompiledStep]:
        """The compiled steps of an operation, compiled on first use: callees before their
        callers (synchronous calls form no cycle, see `models.schema`), so that a call knows
        what it calls."""
        key = (service_name, operation_name)
        if key not in self._operations:
            service = self.scenario.services[service_name]
            path = f"services.{service_name}.operations.{operation_name}"
            steps = service.operations[operation_name]
            self._operations[key] = self._compile(steps, path, service.blocking_calls)
        return self._operations[key]

    def _compile(
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
            return HoldStep(self.env, self.sampler(step.work, f"{path}.work"))
        if isinstance(step, schema.DelayStep):
            return HoldStep(self.env, self.sampler(step.delay, f"{path}.delay"))
        if isinstance(step, schema.CallStep):
            spec = step.call
            operation_name, _ = self.scenario.operation(spec.service, spec.operation)
            callee = self._operation(spec.service, operation_name)
            service = self.services[spec.service]
            uniform = self.streams.uniform(f"{path}.call")
            plain = spec.timeout is None and spec.retries == 0
            only_step = callee[0] if len(callee) == 1 else None
            if self.leaf_visits and blocking and plain and isinstance(only_step, HoldStep):
                return LeafCallStep(service, only_step, spec.probability, uniform)
            return CallStep(
                self.env, service, callee, spec.probability, spec.timeout, spec.retries, uniform
            )
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
                    self._compile(option.steps, f"{path}.branch[{index}].steps", blocking)
                    for index, option in enumerate(step.branch)
                ],
                self.streams.uniform(f"{path}.branch"),
            )
        if isinstance(step, schema.ParallelStep):
            return ParallelStep(
                [
                    self._compile(branch, f"{path}.parallel[{index}]", blocking)
                    for index, branch in enumerate(step.parallel)
                ]
            )
        raise TypeError(f"unknown step type {type(step).__name__}")

    def _build_flow(self, name: str, flow: schema.Flow) -> FlowRuntime:
        path = f"workload.{name}"
        runtime = FlowRuntime(name, self.env, flow.priority, measure_from=self.warmup)
        runtime.body = self._compile(flow.body(), f"{path}.steps", blocking=True)
        first = runtime.body[0] if len(runtime.body) == 1 else None
        if isinstance(first, LeafCallStep) and first.probability >= 1.0:
            runtime.entry_visit = (first.service, first.hold)
        elif isinstance(first, CallStep) and first.probability >= 1.0 and first.plain:
            runtime.entry = (first.service, first.operation)
        source: OpenArrivals | ClosedClients | ProfileArrivals
        if flow.clients is not None:
            think = flow.think_time
            think_sampler = (
                self.sampler(think, f"{path}.think_time") if think is not None else _zero
            )
            source = ClosedClients(self.env, runtime, flow.clients, think_sampler)
        elif isinstance(flow.arrivals, schema.ProfileArrivals):
            changes = [(change.at, change.rate) for change in flow.arrivals.profile]
            unit = _exponential_sampler(self.streams.generator(f"{path}.arrivals"), 1.0)
            source = ProfileArrivals(self.env, runtime, changes, unit)
        else:
            source = OpenArrivals(self.env, runtime, self._interarrival(flow, path))
        source.start()
        return runtime

    def _interarrival(self, flow: schema.Flow, path: str) -> Any:
        arrivals = flow.arrivals
        rng = self.streams.generator(f"{path}.arrivals")
        if isinstance(arrivals, schema.PoissonArrivals):
            mean = 1.0 / arrivals.poisson
            return _exponential_sampler(rng, mean)
        if isinstance(arrivals, schema.ConstantArrivals):
            gap = 1.0 / arrivals.constant
            return lambda: gap
        if isinstance(arrivals, schema.InterarrivalArrivals):
            return block_sampler(arrivals.interarrival, rng)
        raise TypeError(f"unknown arrivals {type(arrivals).__name__}")

    # ------------------------------------------------------------------ running

    def run(self) -> dict[str, Any]:
        """Run to the end of the measured period and return this replication's statistics."""
        if self.warmup > 0:
            self.env.timeout(self.warmup).callbacks.append(self._end_warmup)
        self.sampler_of_series.start()
        self.env.run(until=self.end)
        self.sampler_of_series.finish()
        duration = self.end - self.warmup
        return {
            "flows": {name: flow.summary(duration) for name, flow in self.flows.items()},
            "services": {
                name: service.summary(self.end, duration) for name, service in self.services.items()
            },
            "topics": {
                name: topic.summary(self.end, duration) for name, topic in self.topics.items()
            },
            "timeseries": self.sampler_of_series.columns(),
        }

    def _end_warmup(self, _event: object) -> None:
        now = self.env.now
        for service in self.services.values():
            service.reset(now)
        for topic in self.topics.values():
            topic.reset(now)


def _zero() -> float:
    return 0.0


def _exponential_sampler(rng: Any, mean: float) -> Any:
    blocks = iter(lambda: rng.exponential(mean, 4096).tolist(), None)
    return itertools.chain.from_iterable(blocks).__next__


def run_replication(scenario: schema.Scenario, replication: int, seed: int) -> dict[str, Any]:
    """Run replication number `replication` of `scenario` (a pure, picklable entry point)."""
    return Replication(scenario, replication, seed).run()
