"""A scenario from traces: `import_traces(paths)` reads the files, finds the executions of
operations (`call_graph`), infers their steps (`structure`, `steps`), fits their times
(`fitting`), estimates capacity (`capacity`), measures arrivals (`arrivals`) and writes it
all as an `ImportedScenario` whose comments say where each number came from
(docs/traces.md, "Traces in").

The mapping:
- service <- ``service.name`` (replicas: its distinct ``service.instance.id`` values;
  workers: the most requests in service at once on one instance, a lower bound);
- operation <- the name of its SERVER / CONSUMER spans (``archsim.operation`` if present),
  made a scenario name;
- flow <- the root spans: a root SERVER (or INTERNAL) span enters its operation (`entry`),
  a root CLIENT or PRODUCER span is a client outside (inline `steps`), messages whose producer
  is not in the traces come from a flow that publishes them; named by ``archsim.flow`` if
  present, else the operation (or the root span's name);
- topic <- PRODUCER and CONSUMER spans (`topics`).

A synchronous call that would close a cycle of operations (recursion, which a scenario
cannot express: it would never end) is left out, with a warning.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from models.traces.arrivals import (
    Window,
    arrival_csv,
    describe_rate,
    observation_window,
    rate_of,
    sampled,
)
from models.traces.call_graph import CallGraph, Execution, OpKey, call_graph, operation_name
from models.traces.capacity import concurrency, instances
from models.traces.conventions import ARCHSIM_FLOW, ARCHSIM_UNFINISHED
from models.traces.errors import TraceInputError, refuse_runaway
from models.traces.fitting import RESOLUTION, fit_times
from models.traces.imported import ImportedScenario
from models.traces.notes import Notes
from models.traces.reading import TraceRead, read_traces
from models.traces.spans import Span
from models.traces.spelling import (
    nice_seconds,
    scenario_name,
    spell_count,
    spell_rate,
    spell_time,
    unique_name,
)
from models.traces.steps import FitRow, StepWriter
from models.traces.structure import cyclic_calls
from models.traces.topics import TopicWriter, topic_facts

SIMULATION = {"duration": "5min", "warmup": "30s", "replications": 5, "seed": 1}
"""The run written for Poisson flows: not measured, chosen (said in a comment)."""
SIMULATED = 330.0
"""Seconds simulated by `SIMULATION` (warm-up and duration)."""


@dataclass(frozen=True)
class FlowRow:
    """One flow of the import, for the report."""

    name: str
    body: str
    requests: int
    rate: float


@dataclass
class TraceImport:
    """What `import_traces` produced: the scenario, the report and files to write beside it."""

    scenario: ImportedScenario
    fits: list[FitRow]
    flows: list[FlowRow]
    read: TraceRead
    traces: int
    files: dict[str, str] = field(default_factory=dict)
    """Arrival CSVs (name -> content) the scenario refers to, to write next to it."""

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (`archsim import traces --json`)."""
        return {
            "files": [
                {"path": str(item.path), "format": item.format, "spans": item.spans}
                for item in self.read.files
            ],
            "spans": len(self.read.spans),
            "traces": self.traces,
            "fits": [
                {
                    "what": row.what,
                    "where": row.where,
                    "count": row.fit.count,
                    "mean": row.fit.mean,
                    "cv": row.fit.cv,
                    "family": row.fit.family,
                    "p_value": row.fit.p_value,
                }
                for row in self.fits
            ],
            "flows": [
                {"name": row.name, "body": row.body, "requests": row.requests, "rate": row.rate}
                for row in self.flows
            ],
            "arrival_files": sorted(self.files),
            "warnings": list(self.scenario.warnings),
        }


def import_traces(
    paths: Sequence[Path],
    *,
    empirical: bool = False,
    trace_arrivals: bool = False,
    name: str = "imported-from-traces",
    sample_rate: float = 1.0,
) -> TraceImport:
    """Read trace files (OTLP, Jaeger or Zipkin JSON, detected by content) and build a
    scenario from them; `TraceInputError` for files that cannot be imported.

    `empirical`: write measured times as `empirical` samples instead of fitted families.
    `trace_arrivals`: flows replay the measured arrival times from CSV files named
    ``NAME-FLOW.arrivals.csv`` (in `TraceImport.files`) instead of Poisson rates.
    `sample_rate`: the share of the requests the traces hold (head sampling), for root spans
    that do not say it themselves (archsim's ``archsim.sample``); rates are divided by it.
    ValueError if it is not in (0, 1].
    """
    read = read_traces(paths)
    return build_import(
        read, empirical=empirical, trace_arrivals=trace_arrivals, name=name, sample_rate=sample_rate
    )


def build_import(
    read: TraceRead,
    *,
    empirical: bool,
    trace_arrivals: bool,
    name: str,
    sample_rate: float = 1.0,
) -> TraceImport:
    """The scenario of spans already read (see `import_traces`)."""
    if not 0.0 < sample_rate <= 1.0:  # (nan fails too)
        raise ValueError(f"'sample_rate' must be > 0 and <= 1 (got {sample_rate!r})")
    roots = [span for span in read.spans if span.parent_id is None]
    cut = {span.trace_id for span in roots if span.attributes.get(ARCHSIM_UNFINISHED) is True}
    cut_roots: dict[tuple[str, str], list[Span]] = defaultdict(list)
    if cut:  # archsim's traces cut by the end of a run (docs/traces.md, "Traces out")
        warning = (
            f"{len(cut)} trace(s) whose root span is {ARCHSIM_UNFINISHED} (cut by the end of "
            "a simulated run) were left out; their requests count as arrivals"
        )
        kept = [span for span in read.spans if span.trace_id not in cut]
        for span in roots:  # (the end of a run cuts the requests of a lagging topic early)
            if span.trace_id in cut:
                cut_roots[(_client_label(span), span.service)].append(span)
        read = replace(read, spans=kept, warnings=[*read.warnings, warning])
    graph = call_graph(read.spans)
    options = (empirical, trace_arrivals, sample_rate)
    return _Builder(read, graph, scenario_name(name), options, cut_roots).build()


@dataclass
class _Flow:
    name: str
    body: dict[str, Any]
    roots: list[Span]
    """The root spans of its requests (with those of traces cut by the end of a run)."""
    source: str

    @property
    def times(self) -> list[float]:
        return sorted(span.start for span in self.roots)


class _Builder:
    def __init__(
        self,
        read: TraceRead,
        graph: CallGraph,
        name: str,
        options: tuple[bool, bool, float],
        cut_roots: dict[tuple[str, str], list[Span]],
    ) -> None:
        """`options`: (empirical, trace_arrivals, sample_rate); `cut_roots`: the root spans
        of traces left out, by (flow label, service), which count as arrivals."""
        self.read, self.graph, self.name = read, graph, name
        empirical, trace_arrivals, self.sample_rate = options
        self.empirical, self.trace_arrivals = empirical, trace_arrivals
        self.cut_roots = cut_roots
        self.notes = Notes()
        self.comments: dict[tuple[str | int, ...], str] = {}
        self.warnings = list(read.warnings) + graph.warnings()
        self.by_op: dict[OpKey, list[Execution]] = defaultdict(list)
        for execution in graph.executions:
            self.by_op[execution.op].append(execution)
        self.dropped = self._cyclic_calls()
        self._name_things()
        self.writer = StepWriter(
            self.op_name,
            self.topic_name,
            self.notes,
            empirical=empirical,
            dropped_calls=self.dropped,
        )

    # names -------------------------------------------------------------------------------

    def _name_things(self) -> None:
        """Scenario names for services, operations and topics (services and topics unique
        together; operations unique in their service)."""
        self.facts = topic_facts(self.graph.executions, self.graph.clients, self.read.spans)
        services = list(dict.fromkeys(op.service for op in self.by_op))
        self.services: dict[str, str] = {}
        for service in services:
            self.services[service] = unique_name(scenario_name(service), self.services.values())
        self.ops: dict[OpKey, str] = {}
        taken: dict[str, set[str]] = defaultdict(set)
        for op in self.by_op:
            written = unique_name(scenario_name(op.name), taken[op.service])
            taken[op.service].add(written)
            self.ops[op] = written
        self.topics: dict[str, str] = {}
        used = set(self.services.values())
        for topic in self.facts:
            written = unique_name(scenario_name(topic), used)
            used.add(written)
            self.topics[topic] = written

    def op_name(self, op: OpKey) -> tuple[str, str]:
        """(service, operation) as written; a client outside the traced services (the root
        of a flow with inline steps) is named after its span, for the report."""
        if op not in self.ops:
            return scenario_name(op.service), scenario_name(op.name)
        return self.services[op.service], self.ops[op]

    def topic_name(self, topic: str) -> str:
        return self.topics[topic]

    def _cyclic_calls(self) -> set[tuple[OpKey, OpKey]]:
        """The calls that close a cycle of operations, each with a warning."""
        dropped = cyclic_calls(self.by_op)
        for caller, callee in dropped:
            self.warnings.append(
                f"{caller} calls {callee}, which closes a cycle of synchronous calls "
                "(recursion): a scenario cannot express it, so that call was left out"
            )
        return set(dropped)

    # sections ----------------------------------------------------------------------------

    def build(self) -> TraceImport:
        services = self._services()
        topic_writer = TopicWriter(self.topic_name, self.op_name, self._replicas)
        topics = topic_writer.section(self.facts)
        self.comments.update(topic_writer.comments)
        self.warnings.extend(topic_writer.warnings)
        flows = self._flows()
        if not flows:
            names = ", ".join(str(item.path) for item in self.read.files)
            raise TraceInputError(
                names,
                [
                    "no request enters a traced service: a flow needs a root span (SERVER, "
                    "CLIENT with a traced server, PRODUCER) or a message from outside"
                ],
            )
        times = [time for flow in flows for time in flow.times]
        window = observation_window(times)
        workload, files, rows = self._workload(flows, window)
        document: dict[str, Any] = {
            "name": self.name,
            "description": self._description(window),
            "simulation": self._simulation(window),
            "services": services,
        }
        if topics:
            document["topics"] = topics
        document["workload"] = workload
        if not self.trace_arrivals:
            self._fit_the_event_budget(document)
        comments = {**self.notes.paths(document), **self.comments}
        fits = (row.fit.warning(row.what, row.where) for row in self.writer.fits)
        self.warnings.extend(warning for warning in fits if warning is not None)
        scenario = ImportedScenario(document, comments, self._header(window), self.warnings)
        traces = len({span.trace_id for span in self.read.spans})
        return TraceImport(scenario, self.writer.fits, rows, self.read, traces, files)

    def _replicas(self, service: str) -> int:
        raw = next(name for name, written in self.services.items() if written == service)
        return max(1, len(self.instances.get(raw, ())))

    def _services(self) -> dict[str, Any]:
        self.instances = instances(self.read.spans)
        services: dict[str, Any] = {}
        for raw, written in self.services.items():
            path: tuple[str | int, ...] = ("services", written)
            service: dict[str, Any] = {}
            named = self.instances.get(raw, set())
            if len(named) > 1:
                service["replicas"] = len(named)
                self.comments[(*path, "replicas")] = "distinct service.instance.id values"
            elif not named:
                self.comments[path] = "no instance named in the traces: 1 replica assumed"
            ops = [op for op in self.by_op if op.service == raw]
            requests = [e for op in ops for e in self.by_op[op] if e.topic is None]
            if requests:
                seen = concurrency(requests)
                service["workers"] = max(1, seen.most)
                where = f" on {seen.instance}" if seen.instance else ""
                self.comments[(*path, "workers")] = (
                    f"not in traces: the most requests at once on one instance ({seen.most}"
                    f"{where}), a lower bound"
                )
            service["operations"] = {self.ops[op]: self._operation(op) for op in ops}
            services[written] = service
        return services

    def _operation(self, op: OpKey) -> list[dict[str, Any]]:
        executions = self.by_op[op]
        service, operation = self.op_name(op)
        kinds = Counter(e.span.kind.name for e in executions)
        kind = "/".join(sorted(kinds))
        renamed = f"span '{op.name}' ({kind})" if operation != op.name else f"{kind} spans"
        self.comments[("services", service, "operations", operation)] = (
            f"{renamed}: {spell_count(len(executions))} executions"
        )
        return self.writer.operation(op, executions, own_work=True)

    # flows -------------------------------------------------------------------------------

    def _flows(self) -> list[_Flow]:
        """The flows, in order of their first request."""
        flows: list[_Flow] = []
        names: set[str] = set()
        entries: dict[tuple[str | None, OpKey], list[Execution]] = defaultdict(list)
        for execution in self.graph.entries:
            label = execution.span.attributes.get(ARCHSIM_FLOW)
            entries[(str(label) if label else None, execution.op)].append(execution)
        for (label, op), executions in entries.items():
            service, operation = self.op_name(op)
            name = unique_name(scenario_name(label) if label else operation, names)
            names.add(name)
            source = f"root spans of {service}.{operation}"
            entry = {"entry": f"{service}.{operation}"}
            flows.append(_Flow(name, entry, [e.span for e in executions], source))
        clients: dict[tuple[str, str], list[Execution]] = defaultdict(list)
        for client in self.graph.clients:
            clients[(_client_label(client.span), client.op.service)].append(client)
        for (label, service), executions in clients.items():
            body = self._client_body(executions)
            if body is None:
                continue
            name = unique_name(scenario_name(label), names)
            names.add(name)
            source = f"root {executions[0].span.kind.name} spans '{label}' of {service}"
            roots = [e.span for e in executions] + self.cut_roots.get((label, service), [])
            flows.append(_Flow(name, body, roots, source))
        for topic, facts in self.facts.items():
            if facts.publishers or not facts.groups:
                continue
            largest = max(facts.groups.values(), key=len)
            name = unique_name(f"{self.topics[topic]}-publisher", names)
            names.add(name)
            source = f"messages of '{topic}' whose producer is not in the traces"
            body = {"steps": [{"publish": self.topics[topic]}]}
            flows.append(_Flow(name, body, [e.span for e in largest], source))
        return sorted(flows, key=lambda flow: min(flow.times))

    def _client_body(self, executions: list[Execution]) -> dict[str, Any] | None:
        """A flow's body from the root spans of its client: one call made always and at
        once is an `entry`; otherwise inline steps (the client's own time first, as a
        `delay`: a client is not contended). None: it reaches no traced service."""
        kinds = {action.kind for execution in executions for action in execution.actions}
        if not kinds & {"call", "publish"}:
            return None
        steps = self.writer.operation(executions[0].op, executions, own_work=False)
        if len(steps) == 1 and isinstance(steps[0].get("call"), str):
            own = [execution.self_time for execution in executions]
            if sum(own) / len(own) < RESOLUTION:
                return {"entry": steps[0]["call"]}
        own_time = fit_times([e.self_time for e in executions], empirical=self.empirical)
        if own_time.mean >= RESOLUTION:
            text = f"the client's own time {own_time.describe('requests')}"
            steps.insert(0, self.notes.note({"delay": own_time.spec}, text))
        return {"steps": steps}

    def _workload(
        self, flows: list[_Flow], window: Window
    ) -> tuple[dict[str, Any], dict[str, str], list[FlowRow]]:
        workload: dict[str, Any] = {}
        files: dict[str, str] = {}
        rows: list[FlowRow] = []
        if window.length is None:
            self.warnings.append(
                "the traces hold a single request: its rate cannot be measured (1/s written)"
            )
        for flow in flows:
            sample = sampled(flow.roots, self.sample_rate)
            rate = rate_of(sample.requests, window)
            body_text = flow.body.get("entry") or "inline steps"
            rows.append(FlowRow(flow.name, str(body_text), len(flow.times), rate))
            path: tuple[str | int, ...] = ("workload", flow.name)
            self.comments[path] = flow.source
            arrivals: dict[str, Any]
            if self.trace_arrivals:
                file_name = f"{self.name}-{flow.name}.arrivals.csv"
                files[file_name] = arrival_csv(flow.times, window, flow.source)
                arrivals = {"trace": {"file": file_name}}
                self.comments[(*path, "arrivals")] = (
                    f"{spell_count(len(flow.times))} arrival times of the traces (mean rate "
                    f"{spell_rate(rate_of(len(flow.times), window))})"
                )
                if sample.source:
                    self.warnings.append(
                        f"flow '{flow.name}': the traces hold a share {sample.probability:.3g} "
                        f"of its requests ({sample.source}), and --trace-arrivals replays only "
                        f"those: {spell_rate(rate)} without it"
                    )
            else:
                arrivals = {"poisson": spell_rate(rate)}
                self.comments[(*path, "arrivals")] = describe_rate(sample, window, flow.times)
            workload[flow.name] = {**flow.body, "arrivals": arrivals}
        return workload, files, rows

    # the rest ----------------------------------------------------------------------------

    def _simulation(self, window: Window) -> dict[str, Any]:
        if not self.trace_arrivals:
            self.comments[("simulation",)] = (
                "not from the traces: a run long enough for steady-state statistics"
            )
            return dict(SIMULATION)
        length = max(1.0, math.ceil(window.last - window.start))
        self.comments[("simulation", "duration")] = "the traces' requests, replayed once"
        return {"duration": spell_time(length), "replications": 5, "seed": 1}

    def _fit_the_event_budget(self, document: dict[str, Any]) -> None:
        """Shorten the run when the measured traffic would take more than half the event
        budget of a replication (`models.budget`): busy systems make many events a second."""
        from models.budget.events import DEFAULT_MAX_EVENTS, estimate_events
        from models.loading import load_scenario

        refuse_runaway(document, [str(item.path) for item in self.read.files])
        events = estimate_events(load_scenario(document)).total
        allowed = DEFAULT_MAX_EVENTS / 2
        if events <= allowed:
            return
        simulation = document["simulation"]
        length = nice_seconds(SIMULATED * allowed / events / 1.1)
        warmup = nice_seconds(length / 10)
        simulation["duration"], simulation["warmup"] = spell_time(length), spell_time(warmup)
        shortened = round(events * (length + warmup) / SIMULATED)
        self.comments[("simulation",)] = (
            f"not from the traces: shortened so that a replication takes about "
            f"{spell_count(shortened)} simulation events, within the budget"
        )

    def _description(self, window: Window) -> str:
        files = ", ".join(Path(item.path).name for item in self.read.files)
        seconds = f" over {window.length:.4g} s" if window.length else ""
        return (
            f"Imported from traces ({files}): {spell_count(len(self.read.spans))} spans{seconds}."
        )

    def _header(self, window: Window) -> list[str]:
        files = ", ".join(
            f"{item.path} ({item.format}, {spell_count(item.spans)} spans)"
            for item in self.read.files
        )
        traces = len({span.trace_id for span in self.read.spans})
        lines = [
            f"Imported by `archsim import traces` from {files}:",
            f"{spell_count(len(self.read.spans))} spans in {spell_count(traces)} traces"
            + (f", requests over {window.length:.4g} s." if window.length else "."),
            "Each number says where it came from in the comment beside it: `work` is an",
            "operation's self time (its span less its calls), a call's network `delay` the",
            "CLIENT span less the SERVER span. Not in traces, so estimated or chosen: `workers`",
            "and `concurrency` (the most requests seen at once on one instance: a lower bound,",
            "raise them to the real pool sizes), partitions the traces do not name, and the",
            "`simulation` settings (docs/traces.md, Traces in).",
        ]
        if self.empirical:
            lines.append("Times are `empirical` (--empirical): the measured samples.")
        return lines


def _client_label(span: Span) -> str:
    """The flow a client's root span belongs to: archsim's ``archsim.flow``, else its name."""
    label = span.attributes.get(ARCHSIM_FLOW)
    return str(label) if label else operation_name(span)
