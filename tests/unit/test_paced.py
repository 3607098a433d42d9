"""Consumer groups paced by a single server (models/analysis/paced.py), deterministic.

A one-worker publisher whose every request works at least g before it publishes spaces the
topic's messages at least g apart, so a group of k servers whose handler lasts at most k g
never waits. These tests start from such a case (8 ms before each publish, 8 ms handlers)
and check that each condition of the rule turns it off when broken, that threads and log
consumers count as the rule says, that a paced group paces the next topic in turn, and the
bounds of the laws the rule reads.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.graph import reachable, steps_of
from models.analysis.paced import Receiver, pacing, sends_to, support, topics_sent
from models.distributions import Constant, Distribution, Exponential, Pareto, Uniform
from models.empirical import Empirical

Document = dict[str, Any]
PAIR = ("events", "enrich")


def _work(law: Any) -> Document:
    """A `work` step of law `law` (a scenario-language distribution)."""
    return {"work": law}


def _ms(time: str) -> Document:
    """A `work` step of constant time `time`."""
    return _work({"constant": time})


def _document(
    *,
    take: list[Document] | None = None,
    handle: list[Document] | None = None,
    ingest: Document | None = None,
    topic: Document | None = None,
    subscriber: Document | None = None,
    services: Document | None = None,
    workload: Document | None = None,
    faults: list[Document] | None = None,
) -> Document:
    """Poisson 100/s into `ingest.take` (one worker: 8 ms, publish `events`), consumed on a
    queue topic by `enrich.handle` (8 ms); each keyword replaces or extends its part."""
    document: Document = {
        "name": "paced",
        "simulation": {"duration": "60s"},
        "services": {
            "ingest": {
                **(ingest or {}),
                "operations": {"take": take or [_ms("8ms"), {"publish": "events"}]},
            },
            "enrich": {"operations": {"handle": handle or [_ms("8ms")]}},
            **(services or {}),
        },
        "topics": {
            "events": {
                "type": "queue",
                **(topic or {}),
                "subscribers": {"enrich": {"operation": "handle", **(subscriber or {})}},
            }
        },
        "workload": {
            "users": {"entry": "ingest.take", "arrivals": {"poisson": "100/s"}},
            **(workload or {}),
        },
    }
    if faults is not None:
        document["faults"] = faults
    return document


def _paced(document: Document) -> frozenset[tuple[str, str]]:
    """The groups `pacing` finds paced in the scenario `document` (over the nodes its flows
    reach)."""
    scenario = load_scenario(document)
    return pacing(scenario, reachable(scenario)).groups


STORE: Document = {"store": {"operations": {"get": [_ms("1ms")]}}}
TAKE_WITH_CALL = [_ms("8ms"), {"call": "store"}, {"publish": "events"}]


def test_one_worker_paces_its_consumers() -> None:
    """8 ms before each publish, 8 ms handlers: paced, and the analysis says no wait, exactly."""
    document = _document()
    assert _paced(document) == {PAIR}
    group = analyze(load_scenario(document)).to_dict()["topics"]["events"]["groups"]["enrich"]
    assert group["waiting_time"]["mean"] == 0.0
    assert group["exact"] is True
    assert "paced" in group["method"]


def test_a_handler_longer_than_the_gap_keeps_its_formula() -> None:
    """9 ms handlers behind 8 ms gaps: not paced, and the analysis finds a wait."""
    document = _document(handle=[_ms("9ms")])
    assert _paced(document) == frozenset()
    group = analyze(load_scenario(document)).to_dict()["topics"]["events"]["groups"]["enrich"]
    assert group["waiting_time"]["mean"] > 0.0
    assert "paced" not in group["method"]


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(_document(ingest={"workers": 2}), id="two-workers"),
        pytest.param(_document(ingest={"replicas": 2}), id="two-replicas"),
        pytest.param(
            _document(take=[_work({"exponential": "8ms"}), {"publish": "events"}]),
            id="exponential-publisher",
        ),
        pytest.param(
            _document(
                workload={"direct": {"steps": [{"publish": "events"}], "arrivals": {"poisson": 1}}}
            ),
            id="flow-publishes",
        ),
        pytest.param(
            _document(take=[_ms("8ms"), {"publish": {"topic": "events", "count": 2}}]),
            id="count-2",
        ),
        pytest.param(
            _document(topic={"delivery_latency": {"exponential": "2ms"}}),
            id="random-delivery-latency",
        ),
        pytest.param(
            _document(faults=[{"service": "ingest", "kind": "outage", "at": "10s", "for": "1s"}]),
            id="outage",
        ),
        pytest.param(
            _document(handle=[_ms("8ms"), {"fail": 0.1}], subscriber={"max_attempts": 3}),
            id="redelivered-failures",
        ),
        pytest.param(
            _document(handle=[_ms("2ms"), {"call": "store"}], services=STORE),
            id="handler-calls",
        ),
        pytest.param(
            _document(take=TAKE_WITH_CALL, ingest={"blocking_calls": False}, services=STORE),
            id="non-blocking-call-before-publish",
        ),
        pytest.param(
            _document(
                services={"other": {"operations": {"emit": [_ms("8ms"), {"publish": "events"}]}}},
                workload={"more": {"entry": "other.emit", "arrivals": {"poisson": 1}}},
            ),
            id="second-publisher",
        ),
    ],
)
def test_each_broken_condition_turns_pacing_off(document: Document) -> None:
    """The base case changed in one way that lets two messages come closer than a handler."""
    assert _paced(document) == frozenset()


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(_document(topic={"delivery_latency": {"constant": "3ms"}}), id="constant"),
        pytest.param(
            _document(handle=[_ms("8ms"), {"fail": 0.1}], subscriber={"max_attempts": 1}),
            id="failures-not-redelivered",
        ),
        pytest.param(_document(take=TAKE_WITH_CALL, services=STORE), id="blocking-call"),
    ],
)
def test_harmless_changes_keep_it_paced(document: Document) -> None:
    """A constant latency shifts every message alike; a failure not redelivered adds
    nothing; a blocking call keeps the worker, so the 8 ms before it still count."""
    assert _paced(document) == {PAIR}


@pytest.mark.parametrize(("high", "paced"), [("10ms", True), ("11ms", False)])
def test_threads_of_a_queue_group_share_the_gap(high: str, paced: bool) -> None:
    """Two threads behind 5 ms gaps take handlers of at most 2 x 5 = 10 ms."""
    document = _document(
        take=[_ms("5ms"), {"publish": "events"}],
        handle=[_work({"uniform": ["6ms", high]})],
        subscriber={"concurrency": 2},
    )
    assert (PAIR in _paced(document)) is paced


@pytest.mark.parametrize(("work", "paced"), [("5ms", True), ("6ms", False)])
def test_each_log_consumer_is_one_server(work: str, paced: bool) -> None:
    """3 partitions, 2 consumers: each is a single server of its own partitions, so a
    handler must fit in the publisher's 5 ms gap whatever the group's threads."""
    document = _document(
        take=[_ms("5ms"), {"publish": "events"}],
        handle=[_ms(work)],
        topic={"type": "log", "partitions": 3},
        subscriber={"concurrency": 2},
    )
    assert (PAIR in _paced(document)) is paced


@pytest.mark.parametrize(("concurrency", "paced"), [(1, True), (2, False)])
def test_a_single_consumer_paces_the_next_topic(concurrency: int, paced: bool) -> None:
    """`enrich` works 6 ms before publishing `second`, consumed by 6 ms handlers: one
    thread of it paces them; two threads can publish together."""
    document = _document(
        handle=[_ms("6ms"), {"publish": "second"}],
        subscriber={"concurrency": concurrency},
        services={"archive": {"operations": {"keep": [_ms("6ms")]}}},
    )
    document["topics"]["second"] = {"type": "queue", "subscribers": {"archive": "keep"}}
    found = _paced(document)
    assert PAIR in found  # 6 ms handlers behind 8 ms gaps, on one thread or two
    assert (("second", "archive") in found) is paced


@pytest.mark.parametrize(
    ("law", "bounds"),
    [
        pytest.param(Constant(0.008), (0.008, 0.008), id="constant"),
        pytest.param(Uniform(0.002, 0.005), (0.002, 0.005), id="uniform"),
        pytest.param(Pareto(0.009, 3.0), (0.006, math.inf), id="pareto"),
        pytest.param(Empirical((0.003, 0.001, 0.004)), (0.001, 0.004), id="empirical"),
        pytest.param(Exponential(0.008), (0.0, math.inf), id="exponential"),
    ],
)
def test_support_of_each_law(law: Distribution, bounds: tuple[float, float]) -> None:
    """The least and greatest values: Pareto's least is x_m = mean (alpha - 1) / alpha."""
    assert support(law) == pytest.approx(bounds)


def _dead_letters_into_events() -> Document:
    """The base case plus 20/s messages on `orders` whose handler fails half of them,
    dead-lettered into `events`."""
    document = _document(
        services={"checker": {"operations": {"check": [{"fail": 0.5}]}}},
        workload={"orders": {"steps": [{"publish": "orders"}], "arrivals": {"poisson": 20}}},
    )
    checker = {"operation": "check", "dead_letter": "events"}
    document["topics"]["orders"] = {"type": "queue", "subscribers": {"checker": checker}}
    return document


FALLBACK = {"call": {"service": "store", "fallback": [{"publish": "events"}]}}
FAILING_STORE: Document = {"store": {"operations": {"get": [_ms("1ms"), {"fail": 0.5}]}}}


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(
            _document(
                services=FAILING_STORE,
                workload={"direct": {"steps": [FALLBACK], "arrivals": {"poisson": 20}}},
            ),
            id="flow-fallback-publishes",
        ),
        pytest.param(
            _document(
                take=[_ms("8ms"), {"publish": "events"}, FALLBACK],
                services=FAILING_STORE,
            ),
            id="publisher-fallback-publishes",
        ),
        pytest.param(_dead_letters_into_events(), id="dead-letters"),
    ],
)
def test_other_sources_of_messages_turn_pacing_off(document: Document) -> None:
    """Messages that reach `events` from a client's fallback or as dead letters are not
    spaced by `ingest` (the simulator shows the group waiting ~10 ms on average)."""
    assert _paced(document) == frozenset()


def _generator(arrivals: Document, steps: list[Document], handle: list[Document]) -> Document:
    """A flow publishing `events` itself (no service in between) at `arrivals`."""
    document = _document(handle=handle)
    document["services"].pop("ingest")
    document["workload"] = {"load": {"steps": steps, "arrivals": arrivals}}
    return document


PUBLISH: list[Document] = [{"publish": "events"}]


@pytest.mark.parametrize(
    ("arrivals", "steps", "handle", "paced"),
    [
        pytest.param({"constant": 100}, PUBLISH, [_ms("10ms")], True, id="fixed-rate"),
        pytest.param({"constant": 100}, PUBLISH, [_ms("11ms")], False, id="slower-handler"),
        pytest.param({"poisson": 100}, PUBLISH, [_ms("1ms")], False, id="poisson"),
        pytest.param(
            {"interarrival": {"uniform": ["8ms", "12ms"]}},
            PUBLISH,
            [_work({"uniform": ["2ms", "8ms"]})],
            True,
            id="gaps-of-at-least-8ms",
        ),
        pytest.param(
            {"constant": 100},
            [_work({"uniform": ["1ms", "3ms"]}), *PUBLISH],
            [_ms("8ms")],
            True,
            id="work-before-varies-by-2ms",
        ),
        pytest.param(
            {"constant": 100},
            [_work({"uniform": ["1ms", "3ms"]}), *PUBLISH],
            [_ms("9ms")],
            False,
            id="work-before-varies-too-much",
        ),
        pytest.param({"constant": 100}, PUBLISH * 2, [_ms("1ms")], False, id="two-per-request"),
    ],
)
def test_a_flow_at_a_fixed_pace_paces_what_it_publishes(
    arrivals: Document, steps: list[Document], handle: list[Document], paced: bool
) -> None:
    """A load generator's own publishes are as far apart as its arrivals, less how much the
    work before them varies."""
    assert _paced(_generator(arrivals, steps, handle)) == (frozenset({PAIR}) if paced else set())


def _calls(gateway: Document, backend: Document, flows: Document | None = None) -> Document:
    """A one-worker async-I/O gateway (3 ms of work, a call to `backend`, 1 ms) and a
    backend of one worker (uniform 1-3 ms), each as overridden; Poisson 100/s (or
    `flows`)."""
    document: Document = {
        "name": "paced-calls",
        "simulation": {"duration": 10},
        "services": {
            "gateway": {
                "workers": 1,
                "blocking_calls": False,
                "operations": {
                    "get": [_ms("3ms"), {"call": "backend"}, _ms("1ms")],
                },
                **gateway,
            },
            "backend": {
                "operations": {"read": [_work({"uniform": ["1ms", "3ms"]})]},
                **backend,
            },
            **STORE,
        },
        "workload": flows or {"users": {"entry": "gateway.get", "arrivals": {"poisson": 100}}},
    }
    return document


FALLBACK_TO_BACKEND = {"call": {"service": "backend", "fallback": [{"call": "backend"}]}}
FALLBACK_TO_STORE = {"call": {"service": "backend", "fallback": [{"call": "store"}]}}


def _paced_services(document: Document) -> set[str]:
    """The services `pacing` finds paced, at the servers of their pools."""
    scenario = load_scenario(document)
    found = pacing(scenario, reachable(scenario))
    workers = {name: service.workers for name, service in scenario.services.items()}
    return {name for name in found.services if found.paces(name, workers[name])}


@pytest.mark.parametrize(
    ("gateway", "backend", "flows", "paced"),
    [
        pytest.param({}, {}, None, True, id="async-gateway"),
        pytest.param({"blocking_calls": True}, {}, None, True, id="blocking-gateway"),
        pytest.param({"workers": 2}, {}, None, False, id="two-gateway-workers"),
        pytest.param(
            {"operations": {"get": [_ms("2ms"), {"call": "backend"}]}},
            {},
            None,
            False,
            id="gap-shorter-than-the-hold",
        ),
        pytest.param(
            {"operations": {"get": [_ms("3ms"), {"call": {"service": "backend", "retries": 1}}]}},
            {},
            None,
            False,
            id="retried-calls",
        ),
        pytest.param(
            {"operations": {"get": [{"parallel": [[{"call": "backend"}], [_ms("3ms")]]}]}},
            {},
            None,
            False,
            id="call-in-parallel",
        ),
        pytest.param(
            {"operations": {"get": [_ms("3ms"), {"call": "backend"}, {"call": "backend"}]}},
            {},
            None,
            False,
            id="calls-back-to-back-after-a-resume",
        ),
        pytest.param(
            {},
            {"operations": {"read": [_ms("1ms"), {"call": "store"}]}},
            None,
            False,
            id="backend-calls-out",
        ),
        pytest.param(
            {},
            {},
            {
                "users": {"entry": "gateway.get", "arrivals": {"poisson": 100}},
                "direct": {"entry": "backend.read", "arrivals": {"poisson": 1}},
            },
            False,
            id="a-second-caller",
        ),
        pytest.param(
            {},
            {},
            {"load": {"entry": "backend.read", "arrivals": {"constant": 400}}},
            False,
            id="fixed-rate-too-fast",
        ),
        pytest.param(
            {},
            {},
            {"load": {"entry": "backend.read", "arrivals": {"constant": 250}}},
            True,
            id="fixed-rate-entry",
        ),
        pytest.param(
            {},
            {"replicas": 2},
            None,
            True,
            id="replicas-each-a-share",
        ),
        pytest.param(
            {},
            {},
            {"load": {"steps": [FALLBACK_TO_BACKEND], "arrivals": {"constant": 250}}},
            False,
            id="fallback-calls-again",
        ),
        pytest.param(
            {},
            {},
            {"load": {"steps": [FALLBACK_TO_STORE], "arrivals": {"constant": 250}}},
            True,
            id="fallback-elsewhere",
        ),
    ],
)
def test_calls_from_one_server_or_a_fixed_pace(
    gateway: Document, backend: Document, flows: Document | None, paced: bool
) -> None:
    """A service whose calls all come from one server at least g apart (after 3 ms of work
    in the segment that calls it), or from a flow at a fixed pace, never waits if it holds
    a worker at most its workers x g."""
    assert ("backend" in _paced_services(_calls(gateway, backend, flows))) == paced


NESTED_PUBLISHES: Document = {
    "name": "nested publishes",
    "simulation": {"duration": "10s"},
    "services": {
        "api": {
            "workers": 4,
            "operations": {
                "op": [
                    _ms("1ms"),
                    {"parallel": [[{"publish": "a"}], [_ms("1ms")]]},
                    {"call": {"service": "db", "timeout": "5ms", "fallback": [{"publish": "b"}]}},
                ]
            },
        },
        "db": {"workers": 1, "operations": {"op": [_ms("1ms")]}},
        "reader": {"workers": 1, "operations": {"op": [_ms("1ms")]}},
    },
    "topics": {name: {"subscribers": {"reader": "op"}} for name in ("a", "b", "c")},
    "workload": {"f": {"entry": "api", "arrivals": {"poisson": 10}}},
}


@pytest.mark.parametrize("name", ["order_pipeline", "event_bursts", "poison_messages", None])
def test_topics_sent_is_sends_to_for_every_topic(name: str | None) -> None:
    """`topics_sent` (each operation walked once) names exactly the topics `sends_to`
    finds for it one topic at a time, nested steps and fallbacks included (None: a
    publish in a parallel branch and one in a call's fallback, and a topic nobody
    publishes to)."""
    scenario = load_scenario(NESTED_PUBLISHES if name is None else f"scenarios/{name}.yaml")
    published = 0
    for key in reachable(scenario):
        steps = steps_of(scenario, key)
        expected = {t for t in scenario.topics if sends_to(steps, Receiver("topic", t))}
        assert topics_sent(steps) == expected
        published += bool(expected)
    assert published > 0
