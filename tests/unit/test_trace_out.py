"""`archsim run --trace-out`: the spans of a traced replication (docs/traces.md, "Traces out").

Deterministic unit tests, except `test_sampled_fraction_is_binomial` (statistical, its bound
explained there):

- structure: in a scenario that uses every step kind, failure and resilience pattern (so
  that every rule below is exercised, which the test asserts first), every span's parent is
  in its trace, kinds follow the conventions, ids are W3C hex and unique, children lie within
  their parents (with the documented exceptions), CONSUMER spans link to their PRODUCER
  span, and each span belongs to a resource (service, instance) of a real replica;
- counts: with sample 1 there is one root span per request that arrived in the measured
  period; with sample p about p of them;
- durations: for M/M/1, each SERVER span plus its `archsim.wait` is the request's response
  time at the service, so their mean is the simulated mean response time (float error only);
- the simulation is the same with and without tracing (the results document, byte for byte),
  and the same seed gives the same trace file;
- tracing off uses none of the traced objects (it costs nothing).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from models import load_scenario
from models.traces.conventions import SpanKind
from sim.engine import Replication
from sim.engine.flows import FlowRuntime
from sim.engine.spans import RecordedTrace, SpanRecord, TraceOptions
from sim.engine.steps import CallStep, PublishStep
from sim.engine.topics import TopicRuntime
from sim.engine.traced import SpanStart, TracedCallStep, TracedPublishStep
from sim.experiments.otlp_export import EPOCH_UNIX_NANOS, otlp_document, otlp_json
from sim.experiments.simulation import simulate
from sim.experiments.tracing import limit_note, simulate_traced, trace

KITCHEN: dict[str, Any] = yaml.safe_load("""
name: kitchen
simulation: {duration: 30s, warmup: 2s, seed: 3}
services:
  api:
    replicas: 2
    workers: 4
    operations:
      checkout:
        - work: {exponential: 2ms}
        - parallel:
            - [{call: stock.check}]
            - - call: {service: pricing, operation: quote, timeout: 15ms, retries: 2,
                       fallback: [{delay: {constant: 1ms}}]}
        - branch:
            - {probability: 0.5, steps: [{publish: orders}]}
            - {probability: 0.5, steps: [{publish: {topic: jobs, count: 2}}]}
        - call:
            service: ledger
            operation: write
            bulkhead: 4
            circuit_breaker: {failure_rate: 0.3, window: 1s, min_calls: 5, open_for: 300ms}
  stock:
    replicas: 3
    workers: 2
    balancing: shared
    operations:
      check: [{work: {exponential: 3ms}}]
  pricing:
    blocking_calls: false
    workers: 2
    operations:
      quote:
        - work: {exponential: 6ms}
        - call: {service: stock, operation: check, bulkhead: 2}
  ledger:
    workers: 1
    queue_capacity: 1
    operations:
      write: [{work: {exponential: 4ms}}, {fail: 0.2}]
  shipping:
    replicas: 2
    operations:
      ship: [{work: {exponential: 5ms}}, {fail: 0.3}]
  worker:
    operations:
      run: [{work: {exponential: 2ms}}, {call: stock.check}]
topics:
  orders:
    partitions: 4
    subscribers:
      shipping:
        {operation: ship, max_attempts: 2, retry_backoff: {constant: 5ms}, dead_letter: dlq}
  jobs: {type: queue, subscribers: {worker: run}}
  dlq: {subscribers: {worker: run}}
workload:
  buyers: {entry: api.checkout, arrivals: {poisson: 60/s}}
  admins:
    steps: [{delay: {constant: 1ms}}, {call: stock.check}, {publish: jobs}]
    arrivals: {poisson: 10/s}
faults:
  - {service: shipping, kind: outage, at: 10s, for: 2s, replicas: 1}
  - {service: pricing, kind: outage, at: 15s, for: 1s}
""")
"""A scenario of every step kind, failure and resilience pattern (a blocking and an async
caller, a shared pool, log and queue topics, message retries and dead letters, outages)."""

MM1: dict[str, Any] = {
    "name": "mm1",
    "simulation": {"duration": 120.0, "warmup": 0.0, "seed": 11},
    "services": {"server": {"operations": {"serve": [{"work": {"exponential": "10ms"}}]}}},
    "workload": {"customers": {"entry": "server", "arrivals": {"poisson": "80/s"}}},
}

Span = dict[str, Any]


def traced(
    document: dict[str, Any], sample: float = 1.0, max_spans: int = 10**7
) -> tuple[RecordedTrace, Any]:
    """The recorded trace and the measurements of replication 0, traced."""
    options = TraceOptions(sample, max_spans)
    seed = document["simulation"]["seed"]
    run = Replication(load_scenario(document), 0, seed, tracing=options).run()
    assert run.trace is not None
    return run.trace, run.measurements


def flat_spans(document: dict[str, Any]) -> list[Span]:
    """Every span of an OTLP document, with its resource's service and instance added."""
    spans = []
    for resource_spans in document["resourceSpans"]:
        attributes = attribute_map(resource_spans["resource"]["attributes"])
        for scope in resource_spans["scopeSpans"]:
            assert scope["scope"]["name"] == "archsim"
            for span in scope["spans"]:
                spans.append(
                    {
                        **span,
                        "service": attributes["service.name"],
                        "instance": attributes["service.instance.id"],
                        "attrs": attribute_map(span["attributes"]),
                        "start": int(span["startTimeUnixNano"]),
                        "end": int(span["endTimeUnixNano"]),
                    }
                )
    return spans


def attribute_map(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP key-values as a dict (int values back from their decimal strings)."""
    result = {}
    for item in attributes:
        ((kind, value),) = item["value"].items()
        result[item["key"]] = int(value) if kind == "intValue" else value
    return result


def is_hex_id(text: str, digits: int) -> bool:
    return (
        len(text) == digits
        and all(char in "0123456789abcdef" for char in text)
        and set(text) != {"0"}
    )


@pytest.fixture(scope="module")
def kitchen() -> tuple[RecordedTrace, list[Span]]:
    recorded, _ = traced(KITCHEN)
    return recorded, flat_spans(otlp_document(recorded))


def test_the_kitchen_scenario_exercises_every_rule(
    kitchen: tuple[RecordedTrace, list[Span]],
) -> None:
    """(So that the structure test below checks something.)"""
    _, spans = kitchen
    kinds = Counter(span["kind"] for span in spans)
    assert all(kinds[kind] > 50 for kind in (1, 2, 3, 4, 5)), kinds
    outcomes = Counter(span["attrs"].get("archsim.outcome") for span in spans)
    for reason in ("error", "timeout", "dropped", "unavailable", "circuit_open", "rejected"):
        assert outcomes[reason] > 0, (reason, outcomes)
    retried = [s for s in spans if s["kind"] == 3 and s["attrs"].get("archsim.attempt", 1) > 1]
    assert retried, "no retried call"
    assert any(s["kind"] == 5 and s["attrs"]["archsim.attempt"] == 2 for s in spans)
    by_id = {span["spanId"]: span for span in spans}
    dead_letters = [
        s for s in spans if s["kind"] == 4 and s["attrs"]["messaging.destination.name"] == "dlq"
    ]
    assert dead_letters, "no dead letter"
    for span in dead_letters:  # published by the group when the last attempt failed
        parent = by_id[span["parentSpanId"]]
        assert parent["kind"] == 5 and parent["attrs"]["archsim.attempt"] == 2
        assert parent["attrs"]["archsim.outcome"] == "error" and span["start"] == parent["end"]
    assert any(s["attrs"].get("archsim.unfinished") for s in spans)


def test_spans_are_well_formed(kitchen: tuple[RecordedTrace, list[Span]]) -> None:
    recorded, spans = kitchen
    by_id = {span["spanId"]: span for span in spans}
    assert len(by_id) == len(spans), "span ids are unique"
    traces = Counter(span["traceId"] for span in spans)
    roots = [span for span in spans if "parentSpanId" not in span]
    assert len(roots) == len(traces) == recorded.traces, "one root per trace"
    assert len({span["traceId"] for span in roots}) == len(roots)
    for span in spans:
        assert is_hex_id(span["traceId"], 32) and is_hex_id(span["spanId"], 16)
        assert span["start"] <= span["end"]
        failed = "archsim.outcome" in span["attrs"]
        if failed:
            assert span["status"] == {"code": 2, "message": span["attrs"]["archsim.outcome"]}
        else:
            assert span["status"] == {}
        if "parentSpanId" not in span:
            assert span["kind"] == SpanKind.INTERNAL
            assert span["service"] == "client:" + span["attrs"]["archsim.flow"]
            assert span["instance"] == span["service"] + "-0"
            continue
        parent = by_id[span["parentSpanId"]]
        assert parent["traceId"] == span["traceId"]
        check_parent(span, parent)


def check_parent(span: Span, parent: Span) -> None:
    """The kinds of parent and child, and the child's time range inside the parent's, except
    where docs/traces.md says it may not be (a SERVER span whose caller gave up first or
    whose start came after the end of the run, CONSUMER spans of a message)."""
    kind = span["kind"]
    if kind == SpanKind.SERVER:
        assert parent["kind"] == SpanKind.CLIENT
        assert span["service"] == parent["attrs"]["peer.service"]
        assert span["attrs"]["archsim.operation"] == parent["attrs"]["archsim.operation"]
        assert span["name"] == parent["name"]
        wait = span["attrs"]["archsim.wait"]
        assert span["start"] - parent["start"] == pytest.approx(wait * 1e9, abs=2)
        if parent["attrs"].get("archsim.outcome") in ("timeout", "unavailable"):
            return  # the caller gave up (a timeout, its replica went down) before the reply
    elif kind == SpanKind.CONSUMER:
        assert parent["kind"] == SpanKind.PRODUCER
        assert span["links"] == [{"traceId": parent["traceId"], "spanId": parent["spanId"]}]
        for key in ("messaging.destination.name", "messaging.system"):
            assert span["attrs"][key] == parent["attrs"][key]
        assert span["service"] == span["attrs"]["messaging.consumer.group.name"]
        assert span["start"] >= parent["end"]
        return  # a message outlives its producer
    else:
        assert kind in (SpanKind.CLIENT, SpanKind.PRODUCER)
        assert parent["kind"] in (SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CONSUMER)
        assert span["service"] == parent["service"] and span["instance"] == parent["instance"]
        if kind == SpanKind.PRODUCER:
            assert span["start"] == span["end"]
    assert parent["start"] <= span["start"] <= span["end"] <= parent["end"], (span, parent)


SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
EXAMPLES = [
    (path.name, variant)
    for path in sorted(SCENARIOS.glob("*.yaml"))
    for variant in (None, *load_scenario(path).variants)
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "variant"), EXAMPLES)
def test_every_example_scenario_traces_well_formed(name: str, variant: str | None) -> None:
    """Every example scenario and variant, its first minute (at most) traced at 5%: every
    span's parent is in its trace, with the kinds and time ranges of `check_parent`. (~20 s
    of CPU for all of them.)"""
    scenario = load_scenario(SCENARIOS / name, variant=variant)
    settings = scenario.simulation
    shorter = settings.model_copy(
        update={"duration": min(settings.duration, 60.0), "warmup": min(settings.warmup, 5.0)}
    )
    scenario = scenario.model_copy(update={"simulation": shorter})
    run = Replication(scenario, 0, 1, tracing=TraceOptions(sample=0.05)).run()
    assert run.trace is not None and run.trace.traces > 0
    spans = flat_spans(otlp_document(run.trace))
    by_id = {span["spanId"]: span for span in spans}
    assert len(by_id) == len(spans)
    for span in spans:
        if "parentSpanId" in span:
            parent = by_id[span["parentSpanId"]]
            assert parent["traceId"] == span["traceId"]
            check_parent(span, parent)


def test_resources_are_service_instances(kitchen: tuple[RecordedTrace, list[Span]]) -> None:
    recorded, spans = kitchen
    replicas = {name: service.get("replicas", 1) for name, service in KITCHEN["services"].items()}
    assert len(set(recorded.resources)) == len(recorded.resources)
    seen: dict[str, set[str]] = {}
    for span in spans:
        if span["kind"] in (SpanKind.SERVER, SpanKind.CONSUMER):
            seen.setdefault(span["service"], set()).add(span["instance"])
    for service, instances in seen.items():
        assert instances == {f"{service}-{index}" for index in range(replicas[service])}


def test_one_root_span_per_arrival_at_sample_one() -> None:
    recorded, measurements = traced(KITCHEN)
    roots = Counter(
        span.attributes["archsim.flow"] for span in recorded.spans if span.parent_id is None
    )
    assert roots == {name: flow.arrived for name, flow in measurements.flows.items()}
    results = simulate(load_scenario(KITCHEN), replications=1)
    assert roots == {name: flow.arrived for name, flow in results.flows.items()}


def test_sampled_fraction_is_binomial() -> None:
    """Statistical: each arrival is traced independently with probability p = 0.1, so the
    number of roots is Binomial(n, p): outside n p +- 3.891 sqrt(n p (1 - p)) (the two-sided
    normal quantile of a 1e-4 false-alarm rate; n ~ 9,600 makes the normal approximation
    sound) with probability 1e-4."""
    recorded, measurements = traced(MM1, sample=0.1)
    arrived = measurements.flows["customers"].arrived
    expected = arrived * 0.1
    bound = 3.891 * math.sqrt(arrived * 0.1 * 0.9)
    assert abs(recorded.traces - expected) <= bound, (recorded.traces, expected, bound)
    roots = [span for span in recorded.spans if span.parent_id is None]
    assert {span.attributes["archsim.sample"] for span in roots} == {0.1}


def test_server_spans_add_up_to_the_response_time_of_mm1() -> None:
    """A SERVER span runs from the start of service to the end of the operation and
    `archsim.wait` is the wait before it: their sum is the response time at the station, so
    over the finished spans (the same requests as the station's statistics: warm-up 0,
    sample 1) the count, mean and maximum are the simulated ones, up to float rounding; the
    written nanoseconds move each end by at most 0.5 ns. The root spans are the flow's
    response times the same way."""
    recorded, measurements = traced(MM1)
    server = measurements.services["server"]
    finished = [s for s in recorded.spans if s.kind == SpanKind.SERVER and not s.unfinished]
    assert len(finished) == round(server.throughput * MM1["simulation"]["duration"])
    responses = [span_seconds(s) + float(s.attributes["archsim.wait"]) for s in finished]
    assert math.fsum(responses) / len(responses) == pytest.approx(
        server.response_time.mean, rel=1e-12
    )
    assert max(responses) == pytest.approx(server.response_time.max, rel=1e-12)
    waits = [float(s.attributes["archsim.wait"]) for s in finished]
    assert min(waits) == 0.0 and sum(wait > 0 for wait in waits) > len(waits) / 2  # rho = 0.8
    written = [
        s
        for s in flat_spans(otlp_document(recorded))
        if s["kind"] == SpanKind.SERVER and not s["attrs"].get("archsim.unfinished")
    ]
    total = sum(s["end"] - s["start"] + s["attrs"]["archsim.wait"] * 1e9 for s in written)
    assert total / len(written) / 1e9 == pytest.approx(server.response_time.mean, abs=2e-9)
    flow = measurements.flows["customers"]
    roots = [s for s in recorded.spans if s.parent_id is None and not s.unfinished]
    assert len(roots) == flow.completed
    mean_root = math.fsum(span_seconds(s) for s in roots) / len(roots)
    assert mean_root == pytest.approx(flow.response_time.mean, rel=1e-12)


def span_seconds(span: SpanRecord) -> float:
    """The duration of a recorded span."""
    assert span.end is not None
    return span.end - span.start


def test_a_complete_trace_spans_its_request_completion_time() -> None:
    """A trace whose root span is not `archsim.unfinished` is complete: its last span ends
    when the request's last work ends, so over the successful requests (warm-up 0, sample 1:
    the flow's own statistics' requests) the mean and the maximum of (last end - root start)
    are the simulated completion time's. (Requests with a message still waiting in a topic at
    the end have no span for it: their root is marked.)"""
    document = {**KITCHEN, "simulation": {**KITCHEN["simulation"], "warmup": 0.0}}
    recorded, measurements = traced(document)
    traces: dict[str, list[SpanRecord]] = {}
    for span in recorded.spans:
        traces.setdefault(span.trace_id, []).append(span)
    marked = 0
    for flow_name, flow in measurements.flows.items():
        completions = []
        for spans in traces.values():
            root = next(span for span in spans if span.parent_id is None)
            if root.attributes["archsim.flow"] != flow_name:
                continue
            marked += root.unfinished
            if root.outcome is None and not root.unfinished:
                assert not any(span.unfinished for span in spans)
                completions.append(max(span_end(span) for span in spans) - root.start)
        assert math.fsum(completions) / len(completions) == pytest.approx(
            flow.completion_time.mean, rel=1e-12
        )
        assert max(completions) == pytest.approx(flow.completion_time.max, rel=1e-12)
    assert marked > 0


def span_end(span: SpanRecord) -> float:
    assert span.end is not None
    return span.end


def test_results_are_the_same_with_and_without_tracing() -> None:
    scenario = load_scenario(KITCHEN)
    plain = simulate(scenario, replications=2, seed=4)
    results, recorded = simulate_traced(scenario, replications=2, seed=4, sample=0.5)
    assert results.to_json() == plain.to_json()
    assert recorded.traces > 0


def test_the_same_seed_gives_the_same_trace_file() -> None:
    first, _ = traced(KITCHEN, sample=0.3)
    again, _ = traced(KITCHEN, sample=0.3)
    assert otlp_json(first) == otlp_json(again)
    other = dict(KITCHEN, simulation={**KITCHEN["simulation"], "seed": 4})
    assert otlp_json(traced(other, sample=0.3)[0]) != otlp_json(first)
    scenario = load_scenario(KITCHEN)
    assert trace(scenario, sample=0.3) == otlp_document(first)


def test_otlp_encoding() -> None:
    recorded, _ = traced({**MM1, "simulation": {"duration": 5.0, "seed": 1}})
    text = otlp_json(recorded)
    assert text.endswith("\n") and text.count("\n") == 1, "one document on one line"
    document = json.loads(text)
    services = [attribute_map(item["resource"]["attributes"]) for item in document["resourceSpans"]]
    assert services == [
        {"service.name": "client:customers", "service.instance.id": "client:customers-0"},
        {"service.name": "server", "service.instance.id": "server-0"},
    ]
    first = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert isinstance(first["startTimeUnixNano"], str) and isinstance(first["kind"], int)
    start = recorded.spans[0].start
    assert int(first["startTimeUnixNano"]) == EPOCH_UNIX_NANOS + round(start * 1e9)
    assert EPOCH_UNIX_NANOS == 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z


def test_the_span_limit_stops_sampling_and_keeps_traces_whole() -> None:
    recorded, _ = traced(KITCHEN, max_spans=300)
    assert recorded.limit_reached_at is not None
    assert 300 <= len(recorded.spans) < 400
    ids = {span.span_id for span in recorded.spans}
    assert all(span.parent_id is None or span.parent_id in ids for span in recorded.spans)
    note = limit_note(recorded)
    assert note is not None and "300 spans" in note and "--trace-sample" in note
    assert limit_note(traced(MM1, sample=0.01)[0]) is None


def test_tracing_off_uses_no_traced_object() -> None:
    """Tracing costs nothing when off: an untraced replication is built of the plain objects."""
    replication = Replication(load_scenario(KITCHEN), 0, 1)
    assert {type(flow) for flow in replication.flows.values()} == {FlowRuntime}
    assert {type(topic) for topic in replication.topics.values()} == {TopicRuntime}
    steps = [step for steps in replication.compiler.operations.values() for step in steps]
    assert not any(
        isinstance(step, (SpanStart, TracedCallStep, TracedPublishStep)) for step in steps
    )
    assert any(type(step) is CallStep for step in steps)
    assert any(type(step) is PublishStep for step in replication.flows["admins"].body)
    traced_replication = Replication(load_scenario(KITCHEN), 0, 1, tracing=TraceOptions())
    assert not traced_replication.fast_paths
    operations = traced_replication.compiler.operations.values()
    assert all(isinstance(steps[0], SpanStart) for steps in operations)


@pytest.mark.parametrize(
    ("sample", "max_spans"), [(0.0, 10), (1.5, 10), (math.nan, 10), (-0.1, 10), (0.5, 0)]
)
def test_bad_trace_options_are_refused(sample: float, max_spans: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        TraceOptions(sample, max_spans)
