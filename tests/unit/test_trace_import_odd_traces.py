"""A scenario from partial and odd traces (models.traces.building), written by hand with
`Synth` (tests/unit/trace_import_fixtures.py): orphans, clock skew, recursion, client roots,
names to make unique, runs cut short, Zipkin's consumers, busy systems, doubled SERVER spans;
and any traces at all (a fuzz test, marked slow) give a scenario that loads or a clear
refusal.

These tests are deterministic (the fuzz test is derandomized).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.loading import load_scenario
from models.traces.building import import_traces
from models.traces.errors import TraceInputError
from models.traces.yaml_out import scenario_yaml
from sim.presentation.cli import main
from tests.unit.trace_import_fixtures import (
    CLIENT,
    INTERNAL,
    PRODUCER,
    SERVER,
    Synth,
    calls_in,
    steps_of,
)

# Partial and odd traces -----------------------------------------------------------------------


def test_orphans_are_roots_and_skew_is_clipped_with_warnings(tmp_path: Path) -> None:
    synth = Synth()
    trace = "1" * 32
    orphan = synth.span(("api", None), trace, "feedfeedfeedfeed", SERVER, "get", 0, 1)
    root = synth.span(("web", None), trace, None, SERVER, "page", 10, 11)
    client = synth.span(("web", None), trace, root, CLIENT, "get", 10.1, 10.5)
    skewed = synth.span(("api", None), trace, client, SERVER, "get", 10.0, 10.6)  # too long
    result = import_traces([synth.write(tmp_path / "t.json")])
    warnings = result.scenario.warnings
    (missing,) = [w for w in warnings if w.startswith("1 span(s) name a parent that is not")]
    assert missing.endswith(
        f"; the first: span 'get' of api (trace {trace}, span id {orphan}), parent feedfeedfeedfeed"
    )  # (the value: which span, so that the user can look it up in a viewer)
    (skew,) = [w for w in warnings if w.startswith("1 span(s) started before or ended after")]
    assert skew.endswith(
        f"; the first: span 'get' of api (trace {trace}, span id {skewed}) lasts 600 ms from "
        "100 ms before the start of its parent 'get' of web, which lasts 400 ms"
    )
    workload = result.scenario.document["workload"]
    assert {flow["entry"] for flow in workload.values()} == {"api.get", "web.page"}
    load_scenario(result.scenario.document)


def test_recursion_is_cut_with_a_warning(tmp_path: Path) -> None:
    synth = Synth()
    trace = "2" * 32
    outer = synth.span(("tree", None), trace, None, SERVER, "walk", 0, 10)
    client = synth.span(("tree", None), trace, outer, CLIENT, "walk", 2, 8)
    synth.span(("tree", None), trace, client, SERVER, "walk", 3, 7)
    result = import_traces([synth.write(tmp_path / "t.json")])
    assert any("closes a cycle of synchronous calls" in w for w in result.scenario.warnings)
    assert calls_in(steps_of(result, "tree", "walk")) == []
    load_scenario(result.scenario.document)


def test_client_roots_become_flows(tmp_path: Path) -> None:
    synth = Synth()
    for index in range(10):
        trace = f"{index + 1:032x}"
        # a load generator's CLIENT span: the flow enters what it called
        client = synth.span(("k6", None), trace, None, CLIENT, "GET /", index, index + 0.5)
        synth.span(("web", None), trace, client, SERVER, "GET /", index, index + 0.5)
        # archsim's own root span of a flow with inline steps: its own time, then a call
        other = f"{index + 100:032x}"
        root = synth.span(("client:batch", "client:batch-0"), other, None, INTERNAL, "batch",
                          index, index + 0.3, {"archsim.flow": "batch"})  # fmt: skip
        call = synth.span(("client:batch", "client:batch-0"), other, root, CLIENT, "web.GET /",
                          index + 0.1, index + 0.3)  # fmt: skip
        synth.span(("web", None), other, call, SERVER, "GET /", index + 0.1, index + 0.3)
    result = import_traces([synth.write(tmp_path / "t.json")])
    workload = result.scenario.document["workload"]
    assert workload["GET"]["entry"] == "web.GET"
    assert workload["batch"]["steps"] == [{"delay": {"constant": "100ms"}}, {"call": "web.GET"}]
    assert set(result.scenario.document["services"]) == {"web"}


def test_names_are_made_scenario_names_and_unique(tmp_path: Path) -> None:
    synth = Synth()
    synth.span(("Zahlungsprüfung", None), "3" * 32, None, SERVER, "POST /pay", 0, 1)
    synth.span(("Zahlungsprüfung", None), "4" * 32, None, SERVER, "POST pay", 2, 3)
    synth.span(("Zahlungsprüfung", None), "4" * 32, "0000000000000002", PRODUCER, "x", 2, 2,
               {"messaging.destination.name": "Zahlungsprufung"})  # fmt: skip
    result = import_traces([synth.write(tmp_path / "t.json")])
    document = result.scenario.document
    assert list(document["services"]["Zahlungsprufung"]["operations"]) == [
        "POST-pay",
        "POST-pay-2",
    ]
    assert list(document["topics"]) == ["Zahlungsprufung-2"]
    comments = result.scenario.comments
    assert comments[("services", "Zahlungsprufung", "operations", "POST-pay-2")].startswith(
        "span 'POST pay' (SERVER)"
    )
    load_scenario(document)


def test_traces_without_a_request_into_a_service_are_refused(tmp_path: Path) -> None:
    synth = Synth()
    synth.span(("db", None), "5" * 32, None, CLIENT, "SELECT", 0, 1)
    with pytest.raises(TraceInputError, match="no request enters a traced service"):
        import_traces([synth.write(tmp_path / "t.json")])


def test_traces_cut_by_the_end_of_a_simulated_run_are_left_out(tmp_path: Path) -> None:
    """archsim marks the root span of a trace the run's end cut (docs/traces.md)."""
    synth = Synth()
    for index in range(5):
        cut = index == 4
        attributes = {"archsim.unfinished": True} if cut else {}
        trace = f"{index + 1:032x}"
        root = synth.span(("api", None), trace, None, SERVER, "get", index, index + 1, attributes)
        synth.span(
            ("api", None), trace, root, CLIENT, "db", index + 0.1, index + (0.2 if cut else 0.9)
        )
    result = import_traces([synth.write(tmp_path / "t.json")])
    assert result.flows[0].requests == 4
    assert any(
        "1 trace(s) whose root span is archsim.unfinished" in w for w in result.scenario.warnings
    )
    (fit,) = [row.fit for row in result.fits if row.what == "external"]
    assert fit.count == 4 and fit.mean == pytest.approx(0.8)


def test_a_consumer_below_its_producer_as_zipkin_writes_it(tmp_path: Path) -> None:
    """Zipkin has no links: a consumer span is a child of the producer span (Brave)."""
    spans = []
    for index in range(10):
        trace = f"{index + 1:016x}"
        base = 1_700_000_000_000_000 + index * 1_000_000
        spans += [
            {"traceId": trace, "id": f"{index:08x}00000001", "kind": "SERVER", "name": "post",
             "timestamp": base, "duration": 5000, "localEndpoint": {"serviceName": "api"}},
            {"traceId": trace, "id": f"{index:08x}00000002", "parentId": f"{index:08x}00000001",
             "kind": "PRODUCER", "name": "send", "timestamp": base + 4000, "duration": 10,
             "localEndpoint": {"serviceName": "api"}, "tags": {"kafka.topic": "events"}},
            {"traceId": trace, "id": f"{index:08x}00000003", "parentId": f"{index:08x}00000002",
             "kind": "CONSUMER", "name": "poll", "timestamp": base + 9000, "duration": 2000,
             "localEndpoint": {"serviceName": "sink"}},
        ]  # fmt: skip
    path = tmp_path / "zipkin.json"
    path.write_text(json.dumps(spans))
    document = import_traces([path]).scenario.document
    assert document["services"]["api"]["operations"]["post"][1] == {"publish": "events"}
    topic = document["topics"]["events"]
    assert topic["subscribers"] == {"sink": {"operation": "poll", "concurrency": 1}}
    assert topic["delivery_latency"] == {"constant": "5ms"}  # 9 ms - 4 ms, every message
    assert list(document["workload"]) == ["post"]
    load_scenario(document)


def test_a_busy_system_gets_a_run_within_the_event_budget(tmp_path: Path) -> None:
    """500,000 requests a second for 5.5 min would be 330 M events, over the budget of
    200 M: the run is shortened to about half the budget."""
    from models.budget.events import DEFAULT_MAX_EVENTS, estimate_events

    synth = Synth()
    for index in range(4000):
        start = index * 2e-6
        synth.span(("api", None), f"{index + 1:032x}", None, SERVER, "get", start, start + 4e-5)
    result = import_traces([synth.write(tmp_path / "t.json")])
    simulation = result.scenario.document["simulation"]
    assert (simulation["duration"], simulation["warmup"]) == ("50s", "5s")
    assert "shortened" in result.scenario.comments[("simulation",)]
    events = estimate_events(load_scenario(result.scenario.document)).total
    assert DEFAULT_MAX_EVENTS / 4 < events <= DEFAULT_MAX_EVENTS / 2


def test_a_server_span_doubled_by_two_instrumentations_is_one_execution(tmp_path: Path) -> None:
    """A framework's SERVER span inside the servlet's, in the same service, no CLIENT span
    between: one execution (not a call of the service to itself)."""
    synth = Synth()
    for index in range(5):
        trace = f"{index + 1:032x}"
        outer = synth.span(("web", "w"), trace, None, SERVER, "GET /", index, index + 0.5)
        inner = synth.span(("web", "w"), trace, outer, SERVER, "Controller.get", index + 0.1,
                           index + 0.4)  # fmt: skip
        call = synth.span(("web", "w"), trace, inner, CLIENT, "read", index + 0.2, index + 0.3)
        synth.span(("db", "d"), trace, call, SERVER, "read", index + 0.2, index + 0.3)
    result = import_traces([synth.write(tmp_path / "t.json")])
    web = result.scenario.document["services"]["web"]
    assert list(web["operations"]) == ["GET"] and web["workers"] == 1
    assert calls_in(web["operations"]["GET"]) == ["db.read"]


# Any traces: a scenario that loads, or a clear refusal --------------------------------------

NAMES = ["get", "GET /x/{id}", "process q", "send q", "é ü", "a.b", "-"]
ATTRIBUTES = {
    "messaging.destination.name": ["q", "r", "a"],
    "messaging.consumer.group.name": ["g1", "g2"],
    "messaging.system": ["kafka", "rabbitmq"],
    "messaging.destination.partition.id": ["0", "1", "7"],
    "archsim.flow": ["f", "g h"],
    "archsim.wait": ["0.001"],
    "peer.service": ["db"],
}


@st.composite
def random_traces(draw: st.DrawFn) -> dict[str, Any]:
    """Up to 30 spans of any kinds, services, parents (present, missing or none), links,
    times and messaging attributes."""
    synth = Synth()
    made: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 30))):
        trace = draw(st.sampled_from(["1" * 32, "2" * 32, "3" * 32]))
        same = [span for t, span in made if t == trace]
        parent = draw(
            st.one_of(st.none(), st.just("f" * 16), *(st.sampled_from(same),) * bool(same))
        )
        start = draw(st.floats(0, 10))
        links = draw(st.lists(st.sampled_from(made), max_size=2)) if made else []
        attributes = {
            key: draw(st.sampled_from(values))
            for key, values in ATTRIBUTES.items()
            if draw(st.booleans())
        }
        span = synth.span(
            (
                draw(st.sampled_from(["a", "b", "c", "client:x"])),
                draw(st.sampled_from([None, "i0", "i1"])),
            ),
            trace,
            parent,
            draw(st.integers(0, 5)),
            draw(st.sampled_from(NAMES)),
            start,
            start + draw(st.floats(0, 2)),
            attributes,
            links,
        )
        made.append((trace, span))
    return synth.document()


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(random_traces(), st.booleans())
def test_any_traces_give_a_scenario_that_loads_or_a_clear_refusal(
    document: dict[str, Any], empirical: bool
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.json"
        path.write_text(json.dumps(document))
        try:
            result = import_traces([path], empirical=empirical, name="fuzz")
        except TraceInputError as error:
            message = str(error)
            assert (
                "no request enters a traced service" in message
                or "the traces describe a model that cannot run: messages multiply" in message
            ), message
            return
        text = scenario_yaml(result.scenario)
        assert yaml.safe_load(text) == result.scenario.document
        (Path(folder) / "fuzz.yaml").write_text(text)
        load_scenario(Path(folder) / "fuzz.yaml")


def test_a_topic_whose_every_message_publishes_another_is_refused_clearly(
    tmp_path: Path,
) -> None:
    """Traces in which every message of topic q is handled by publishing one more to q (the
    fuzz test's minimal case): the scenario would make messages without end, which the
    scenario language refuses; the import says so (exit 2 from the CLI), not an internal
    error."""
    synth = Synth()
    where = ("a", None)
    topic = {"messaging.destination.name": "q", "messaging.consumer.group.name": "a"}
    for index in range(20):
        trace = f"{index + 1:032x}"
        start = index * 0.1
        root = synth.span(where, trace, None, 2, "GET /x", start, start + 0.002)
        producer = synth.span(where, trace, root, 4, "send q", start + 0.001, start + 0.001, topic)
        for hop in range(3):  # each handling publishes the next message to q
            at = start + 0.003 * (hop + 1)
            consumer = synth.span(where, trace, producer, 5, "process q", at, at + 0.001, topic)
            producer = synth.span(
                where, trace, consumer, 4, "send q", at + 0.001, at + 0.001, topic
            )
    path = synth.write(tmp_path / "loop.json")
    with pytest.raises(TraceInputError, match="cannot run: messages multiply without end"):
        import_traces([path])
    assert main(["import", "traces", str(path)]) == 2
