"""One replication of a scenario: a simpy Environment, the stations, the flows, the run.

The engine is the only code that imports simpy. A replication builds a runtime object per
service, topic and flow, compiles every operation into steps (`sim.engine.compiler`),
starts the arrival sources, runs until warm-up + duration, and returns its measurements.
Statistics are reset at the end of warm-up. Nothing is global: each replication owns its
environment and its random streams. A traced replication (`tracing`) also records the spans
of sampled requests (`sim.engine.spans`, `sim.engine.traced`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import simpy

from models import schema
from models.errors import UnsimulatableError
from models.recursion import RECURSION_LIMIT, deep_recursion
from models.references import guarded_services, uses_failures
from models.results import CallResults, Failures, Measurements
from sim.engine.arrivals import arrival_source
from sim.engine.autoscaling import (
    GroupAutoscaler,
    ScalableGroup,
    ScalableService,
    ServiceAutoscaler,
)
from sim.engine.budget import InstantWork, RunBudget, run_bounded
from sim.engine.compiler import OperationCompiler
from sim.engine.faults import FaultInjector
from sim.engine.flows import FlowRuntime, varying_load
from sim.engine.groups import ConsumerGroup
from sim.engine.guarded import GuardedService
from sim.engine.spans import RecordedTrace, SpanRecorder, TraceOptions
from sim.engine.stations import ServiceRuntime
from sim.engine.steps import CallStep, LeafCallStep, PublishStep
from sim.engine.streams import Streams
from sim.engine.timeseries import TimeSeriesColumns, TimeSeriesSampler
from sim.engine.topics import TopicRuntime
from sim.engine.traced import TracedFlowRuntime, TracedTopicRuntime

Trace = list[tuple[str, str, int, int, float]]


@dataclass
class ReplicationRun:
    """What one replication gives: its statistics and its time series (columns time, kind,
    entity, metric, value; see `sim.engine.timeseries`)."""

    measurements: Measurements
    timeseries: TimeSeriesColumns
    stopped: str | None = None
    """Why the replication stopped before its end (a run-time budget: `sim.engine.budget`),
    its measurements then covering only the time it ran; None when it ran to its end."""
    trace: RecordedTrace | None = None
    """The spans of a traced replication (`tracing`), else None."""


class Replication:
    """One independent run of a scenario with its own environment and random streams."""

    def __init__(
        self,
        scenario: schema.Scenario,
        replication: int,
        seed: int,
        trace: Trace | None = None,
        fast_paths: bool = True,
        budget: RunBudget | None = None,
        tracing: TraceOptions | None = None,
    ) -> None:
        """Build everything; `trace`, if given, collects (topic, group, partition, message,
        start time) for every message a consumer starts (for order checks in tests).
        `fast_paths=False` takes the general path everywhere: every call and every message
        handler runs as a job, and every flow's body as the client's job (no leaf visits,
        handler fast path or flow-entry shortcuts: `sim.engine.jobs`, `sim.engine.groups`,
        `sim.engine.flows`). The same results, slower: tests compare both. `budget`, if
        given, bounds the run's events and memory (`sim.engine.budget`); within it the
        results are the same as without. `tracing`, if given, records the spans of sampled
        requests (`ReplicationRun.trace`) and turns the fast paths off; the simulation is
        the same as without (its sampling and ids draw from streams of their own)."""
        fast_paths = fast_paths and tracing is None
        self.fast_paths = fast_paths
        self.budget = budget
        self._warm = False
        self.scenario = scenario
        self.env = simpy.Environment()
        self.instant = InstantWork(self.env)  # attempts retried at once, counted as events
        self.streams = Streams(seed, replication)
        settings = scenario.simulation
        self.warmup = settings.warmup
        self.end = settings.warmup + settings.duration
        env, streams = self.env, self.streams
        self.recorder = (
            SpanRecorder(tracing, env, streams, scenario) if tracing is not None else None
        )
        self.reports_failures = uses_failures(scenario)
        guarded = guarded_services(scenario)
        self.services: dict[str, ServiceRuntime] = {
            name: _station_type(spec, name in guarded)(name, spec, env, streams)
            for name, spec in scenario.services.items()
        }
        topic_type = TopicRuntime if self.recorder is None else TracedTopicRuntime
        self.topics = {
            name: topic_type(name, spec, env, streams) for name, spec in scenario.topics.items()
        }
        self.compiler = OperationCompiler(
            scenario,
            env,
            streams,
            self.services,
            self.topics,
            fast_paths,
            self.warmup,
            self.recorder,
            self.instant,
        )
        with deep_recursion():  # (a long chain of calls compiles callees first, nested)
            for service_name, service in scenario.services.items():
                for operation_name in service.operations:
                    self.compiler.operation(service_name, operation_name)
        self.flows = {
            name: self._build_flow(name, flow) for name, flow in scenario.workload.items()
        }
        for topic_name, topic in scenario.topics.items():
            for service_name, subscriber in topic.subscribers.items():
                group = self._build_group(topic_name, topic, service_name, subscriber, trace)
                self.topics[topic_name].add_group(group)
        for station in self.services.values():
            station.reports_failures = self.reports_failures
        varying = varying_load(scenario)
        for flow_runtime in self.flows.values():
            flow_runtime.reports_failures = self.reports_failures
            flow_runtime.varying = varying
        for name, station in self.services.items():
            scaling = scenario.services[name].autoscale
            if scaling is not None:
                assert isinstance(station, ScalableService)
                ServiceAutoscaler(env, station, scaling)
        self.faults = FaultInjector(
            env,
            scenario.faults,
            self.services,
            self.topics,
            streams,
            self.end,
            settings.resolved_sample_interval,
        )
        self.timeseries = TimeSeriesSampler(
            env,
            self.end,
            settings.resolved_sample_interval,
            self.services,
            self.topics,
            self.flows,
            self.compiler.edges,
            self.reports_failures,
        )

    def _build_group(
        self,
        topic_name: str,
        topic: schema.Topic,
        service_name: str,
        subscriber: schema.Subscriber,
        trace: Trace | None,
    ) -> ConsumerGroup:
        """The consumer group of `service_name` on a topic, running its handler operation."""
        operation_name, _ = self.scenario.operation(service_name, subscriber.operation)
        threads = self.scenario.services[service_name].replicas * subscriber.concurrency
        handler = self.compiler.operation(service_name, operation_name)
        station = self.services[service_name]
        dead_letter = self.topics[subscriber.dead_letter] if subscriber.dead_letter else None
        backoff = subscriber.retry_backoff
        path = f"topics.{topic_name}.subscribers.{service_name}.retry_backoff"
        group_type = ScalableGroup if subscriber.autoscale is not None else ConsumerGroup
        group = group_type(
            topic_name,
            topic,
            self.env,
            service_name,
            subscriber,
            threads,
            handler,
            trace,
            station,
            dead_letter,
            self.streams.sampler(backoff, path) if backoff is not None else None,
            self.fast_paths,
            self.instant,
        )
        group.reports_failures = self.reports_failures
        if isinstance(station, GuardedService):
            station.groups.append(group)
        if subscriber.autoscale is not None:
            assert isinstance(group, ScalableGroup)
            GroupAutoscaler(self.env, group, subscriber.autoscale)
        return group

    def _build_flow(self, name: str, flow: schema.Flow) -> FlowRuntime:
        """A flow's runtime with its compiled body and a started arrival source. A body that
        is one plain call, or only publishes, takes a shortcut (`FlowRuntime.entry`,
        `entry_visit`, `entry_publishes`)."""
        path = f"workload.{name}"
        runtime = (
            FlowRuntime(name, self.env, flow.priority, measure_from=self.warmup)
            if self.recorder is None
            else TracedFlowRuntime(name, self.env, flow.priority, self.warmup, self.recorder)
        )
        runtime.body = self.compiler.compile(
            flow.body(), f"{path}.steps", blocking=True, caller=name
        )
        first = runtime.body[0] if len(runtime.body) == 1 else None
        if not self.fast_paths:
            pass
        elif isinstance(first, LeafCallStep) and first.probability >= 1.0:
            runtime.entry_visit = (first.service, first.hold)
        elif isinstance(first, CallStep) and first.probability >= 1.0 and first.plain:
            runtime.entry = (first.service, first.operation)
        elif all(isinstance(step, PublishStep) for step in runtime.body):
            runtime.entry_publishes = [cast(PublishStep, step).publisher() for step in runtime.body]
        arrival_source(flow, runtime, self.env, self.streams, path).start()
        return runtime

    # ------------------------------------------------------------------ running

    def run(self) -> ReplicationRun:
        """Run to the end of the measured period; this replication's statistics and time
        series."""
        if self.warmup > 0:
            self.env.timeout(self.warmup).callbacks.append(self._end_warmup)
        self.timeseries.start()
        with deep_recursion():
            stopped = self._run_events()
        end, duration = self.end, self.end - self.warmup
        if stopped is not None:  # measured from the end of warm-up (if reached) to now
            since = self.warmup if self._warm else 0.0
            end = max(self.env.now, since + 1e-9)
            duration = end - since
            self.timeseries.end = self.env.now  # (the last sample at the stop, if not taken)
        self.timeseries.finish()
        measurements = Measurements(
            flows={name: flow.summary(duration) for name, flow in self.flows.items()},
            services={
                name: service.summary(end, duration) for name, service in self.services.items()
            },
            topics={name: topic.summary(end, duration) for name, topic in self.topics.items()},
            calls=self._calls_summary(duration) if self.compiler.edges else None,
            faults=self.faults.summary(self.warmup) if self.scenario.faults else None,
        )
        trace = self.recorder.finish() if self.recorder is not None else None
        return ReplicationRun(measurements, self.timeseries.columns(), stopped, trace)

    def _run_events(self) -> str | None:
        """Process the events up to the end (or a budget's stop: why it stopped). Steps that
        take no time continue in the same Python call (a zero-time chain of calls, retries or
        handlers is a recursion): one that goes deeper than `RECURSION_LIMIT` frames is
        refused with a clear message (`UnsimulatableError`), not an internal error."""
        try:
            if self.budget is None:
                self.env.run(until=self.end)
                return None
            return run_bounded(self.env, self.end, self.budget, self.instant)
        except RecursionError:
            raise UnsimulatableError(
                f"{self.scenario.name}: at t = {self.env.now:.6g} s, work that takes no time "
                f"chained deeper than {RECURSION_LIMIT:,} Python frames (calls, retries, "
                "fallbacks or message handlers of zero time, one after the other at the same "
                "instant): give those steps some time (a work, delay or backoff)"
            ) from None

    def _calls_summary(self, duration: float) -> dict[str, CallResults]:
        """The `calls` table: one row per caller and callee operation of resilient calls."""
        rows = {}
        for label, edge in self.compiler.edges.items():
            stats, breaker = edge.stats, edge.breaker
            rows[label] = CallResults(
                calls=stats.calls,
                attempts=stats.attempts,
                retries=stats.retries,
                failures=Failures(**stats.failures),
                short_circuited=stats.short_circuited,
                fallbacks=stats.fallbacks,
                open_fraction=breaker.open_time / duration if breaker is not None else None,
            )
        return rows

    def _end_warmup(self, _event: object) -> None:
        self._warm = True
        now = self.env.now
        for service in self.services.values():
            service.reset(now)
        for topic in self.topics.values():
            topic.reset(now)
        for edge in self.compiler.edges.values():
            edge.reset(now)


def run_replication(
    scenario: schema.Scenario,
    replication: int,
    seed: int,
    budget: RunBudget | None = None,
    tracing: TraceOptions | None = None,
) -> ReplicationRun:
    """Run replication number `replication` of `scenario` (a pure, picklable entry point),
    within `budget` if given, recording spans if `tracing` is given."""
    return Replication(scenario, replication, seed, budget=budget, tracing=tracing).run()


def _station_type(spec: schema.Service, guarded: bool) -> type[ServiceRuntime]:
    """The runtime class of a service: autoscaled, guarded (faults, admission control), or
    the plain one of the hot path."""
    if spec.autoscale is not None:
        return ScalableService
    return GuardedService if guarded else ServiceRuntime
