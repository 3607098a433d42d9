"""The parts of a random scenario: steps, services, topics, flows, faults, settings.

Each function draws one part of a scenario document with a `Maker` (tests/e2e/fuzz_values.py)
for the fuzz test: a part valid in its structure, whose leaves the maker breaks now and then.
Calls go only to services later in name order (no cycle by accident: tests/e2e/fuzz_files.py
adds cycles on purpose); `nested` and `chain` make the deep steps and long chains of calls
where a deep recursion would hide. Every simulation lasts at most 5 s of simulated time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.e2e.fuzz_values import BAD_NAMES, Maker


@dataclass
class Names:
    """The names a scenario defines, for references."""

    operations: dict[str, list[str]]
    topics: list[str]


def steps(m: Maker, names: Names, depth: int) -> Any:
    if m.broken():
        return m.garbage()
    count = m.draw(st.integers(0 if m.broken() else 1, 3))
    return [step(m, names, depth) for _ in range(count)]


def step(m: Maker, names: Names, depth: int) -> Any:
    kinds = ["work", "delay", "call", "publish", "fail"]
    if not names.operations and not m.broken():
        kinds.remove("call")  # nothing to call (a service calls only those after it)
    if not names.topics and not m.broken():
        kinds.remove("publish")
    if depth > 0:
        kinds += ["parallel", "branch"]
    if m.broken():
        kinds += ["unknown", "two"]
    kind = m.pick(kinds)
    if kind in ("work", "delay"):
        return {kind: m.distribution()}
    if kind == "fail":
        return {"fail": m.leaf(st.sampled_from([0.1, 0, 1, 0.5]))}
    if kind == "call":
        target = m.operation_ref(names.operations)
        if not m.maybe(40):
            return {"call": target}
        call: dict[str, Any] = {}
        if isinstance(target, str) and "." in target:
            call["service"], _, call["operation"] = target.partition(".")
        else:
            call["service"] = target
        if m.maybe(30):
            call["probability"] = m.probability()
        if m.maybe(30):
            call["timeout"] = m.time(0.05, low=1e-3)
        if m.maybe(30):
            call["retries"] = m.size(0, 3)
        if m.maybe(20):
            call["backoff"] = {
                "initial": m.time(0.01, low=1e-3),
                "multiplier": m.leaf(2),
                "max": m.time(0.05),
                "jitter": m.leaf(st.sampled_from(["none", "full", "equal"])),
            }
        if m.maybe(20):
            call["circuit_breaker"] = {
                "failure_rate": m.probability(),
                "window": m.time(2, low=0.1),
                "min_calls": m.size(1, 20),
                "open_for": m.time(1, low=0.01),
                "half_open_calls": m.size(1, 3),
            }
        if m.maybe(20):
            call["bulkhead"] = m.size(1, 10)
        if m.maybe(20) and depth > 0:
            call["fallback"] = steps(m, names, depth - 1)
        return {"call": call}
    if kind == "publish":
        topic = m.topic_ref(names.topics)
        if not m.maybe(40):
            return {"publish": topic}
        publish: dict[str, Any] = {"topic": topic}
        if m.maybe(50):
            publish["probability"] = m.probability()
        if m.maybe(40):
            publish["count"] = m.size(1, 3)
        if m.maybe(20):
            publish["key"] = m.leaf(st.sampled_from(["customer-42", 7, "k"]))
        return {"publish": publish}
    if kind == "parallel":
        width = m.draw(st.integers(1, 3))
        return {"parallel": [steps(m, names, depth - 1) for _ in range(width)]}
    if kind == "branch":
        probabilities = m.pick([[1], [0.5, 0.5], [0.3, 0.7], [0.2, 0.3, 0.5]])
        if m.broken():
            probabilities = m.pick([[0.5, 0.6], [0.5], [0, 1], [2, -1], []])
        return {
            "branch": [
                {"probability": m.leaf(p), "steps": steps(m, names, depth - 1)}
                for p in probabilities
            ]
        }
    if kind == "unknown":
        return {m.pick(["wrok", "sleep", "call_async", "publsh"]): m.garbage()}
    return {"work": {"constant": 0.001}, "delay": {"constant": 0.001}}


def nested(m: Maker, depth: int, callee: str | None) -> list[Any]:
    """Steps nested `depth` deep: parallel, branch and (with a `callee`) call steps with a
    fallback inside each other, around work that takes time or none."""
    inner: list[Any] = [m.pick([{"work": {"exponential": 0.001}}, {"fail": 1}, {"fail": 0}])]
    wrappers = ["parallel", "branch", *(["fallback"] if callee else [])]
    for _ in range(depth):
        wrapper = m.pick(wrappers)
        if wrapper == "parallel":
            inner = [{"parallel": [inner, [{"delay": {"constant": 0.0005}}]]}]
        elif wrapper == "branch":
            inner = [{"branch": [{"probability": 1, "steps": inner}]}]
        else:
            inner = [{"call": {"service": callee, "fallback": inner}}]
    return inner


def chain(m: Maker, length: int) -> dict[str, Any]:
    """`length` services, each calling the next first (in zero time) and then working."""
    services = {}
    for index in range(length):
        body: list[Any] = [{"call": f"chain{index + 1}"}] if index + 1 < length else []
        if m.maybe(70):
            body.append({"work": {"exponential": 0.001}})
        services[f"chain{index}"] = {"operations": {"get": body or [{"fail": 0}]}}
    return services


def service(m: Maker, names: Names, name: str, max_depth: int) -> Any:
    if m.broken():
        return m.garbage()
    document: dict[str, Any] = {}
    if m.maybe(40):
        document["replicas"] = m.size(1, 3)
    autoscale = m.maybe(8)
    if autoscale:
        document["replicas"] = m.size(1, 2)
    if m.maybe(50):
        document["workers"] = m.pick(["unlimited", m.size(1, 8)])
    if m.maybe(25):
        document["queue_capacity"] = m.size(0, 20)
    if m.maybe(20):
        document["balancing"] = m.leaf(
            st.sampled_from(["round_robin", "random", "least_outstanding", "shared"])
        )
    if m.maybe(15):
        document["discipline"] = m.leaf(st.sampled_from(["fifo", "priority"]))
    if m.maybe(15):
        document["blocking_calls"] = m.leaf(st.booleans())
    if m.maybe(10):
        document["rate_limit"] = {"rate": m.rate(200), "burst": m.size(1, 10)}
    if m.maybe(10):
        document["queue_timeout"] = m.time(0.1, low=1e-3)
    if autoscale:
        document["autoscale"] = {
            "metric": m.leaf(st.sampled_from(["utilization", "queue_length", "in_system"])),
            "target": m.leaf(st.sampled_from([0.6, 2, 0.9])),
            "min": m.size(1, 1),
            "max": m.size(2, 3),
            "interval": m.time(1, low=0.1),
            "stabilization": m.time(1),
            "startup": m.time(0.5),
        }
    depth = m.draw(st.integers(0, max_depth))
    later = {other: ops for other, ops in names.operations.items() if other > name}
    callees = Names(later, names.topics)  # calls go to later services: no cycle by accident
    document["operations"] = {
        operation: steps(m, callees, depth) for operation in names.operations[name]
    }
    return document


def subscriber(m: Maker, names: Names, subscribing: str, topic_name: str) -> Any:
    operation = m.pick(names.operations[subscribing]) if names.operations.get(subscribing) else "x"
    if m.broken():
        operation = m.pick([*BAD_NAMES, "ghost"])
    if not m.maybe(50):
        return operation
    document: dict[str, Any] = {"operation": operation}
    if m.maybe(40):
        document["concurrency"] = m.size(1, 3)
    if m.maybe(30):
        document["max_attempts"] = m.size(1, 3)
    if m.maybe(20):
        document["retry_backoff"] = m.distribution(0.05)
    if m.maybe(20):
        document["dead_letter"] = m.topic_ref([t for t in names.topics if t != topic_name])
    if m.maybe(8):
        document["autoscale"] = {
            "target": m.leaf(st.sampled_from([5, 20, 0.5])),
            "min": m.size(1, 1),
            "max": m.size(2, 8),
            "interval": m.time(1, low=0.1),
        }
    return document


def topic(m: Maker, names: Names, name: str) -> Any:
    if m.broken():
        return m.garbage()
    document: dict[str, Any] = {}
    kind = m.pick(["log", "queue", None])
    if kind is not None:
        document["type"] = m.leaf(kind)
    if m.maybe(40) and (kind != "queue" or m.broken()):
        document["partitions"] = m.size(1, 6)
    if m.maybe(30):
        partitioning = m.leaf(st.sampled_from(["random", "round_robin", "key"]))
        document["partitioning"] = partitioning
        if partitioning == "key" or m.broken():
            document["keys"] = {"count": m.size(1, 100), "skew": m.leaf(1.2)}
    if m.maybe(30):
        document["delivery_latency"] = m.distribution(0.005)
    services = sorted(names.operations)
    chosen = (
        m.draw(st.lists(st.sampled_from(services), max_size=3, unique=True)) if services else []
    )
    if chosen or m.maybe(50):
        document["subscribers"] = {
            subscribing: subscriber(m, names, subscribing, name) for subscribing in chosen
        }
        if m.broken():
            document["subscribers"][m.pick(BAD_NAMES)] = "get"
    return document


def arrivals(m: Maker) -> Any:
    if m.broken():
        return m.garbage()
    kind = m.pick(["poisson", "constant", "interarrival", "profile", "mmpp", "sinusoid", "trace"])
    if kind in ("poisson", "constant"):
        return {kind: m.rate()}
    if kind == "interarrival":
        return {"interarrival": m.distribution(0.2)}
    if kind == "profile":
        return {
            "profile": [
                {"at": m.leaf(0), "rate": m.rate()},
                {"at": m.time(3, low=0.1), "rate": m.leaf(st.sampled_from([0, 20, "5/s"]))},
            ]
        }
    if kind == "mmpp":
        return {
            "mmpp": {
                "rates": [m.rate(), m.leaf(st.sampled_from([0, 40]))],
                "switch_rates": [m.leaf(st.sampled_from([1, 0.5, 10])), m.leaf(2)],
            }
        }
    if kind == "sinusoid":
        return {
            "sinusoid": {
                "mean": m.rate(),
                "amplitude": m.leaf(st.sampled_from([1, 0, 5])),
                "period": m.time(5, low=0.5),
                "phase": m.time(1),
            }
        }
    trace = m.pick(["missing.csv", "../trace.csv", "."] if m.broken() else ["trace.csv"])
    if m.maybe(50):
        return {"trace": trace}
    return {
        "trace": {
            "file": trace,
            "speed": m.leaf(st.sampled_from([1, 2, 0.5])),
            "repeat": m.leaf(st.booleans()),
        }
    }


def flow(m: Maker, names: Names, max_depth: int) -> Any:
    if m.broken():
        return m.garbage()
    document: dict[str, Any] = {}
    if m.maybe(70) or not names.operations:
        document["entry"] = m.operation_ref(names.operations)
    else:
        document["steps"] = steps(m, names, m.draw(st.integers(0, max_depth)))
    if m.broken():  # both bodies, or both sources
        document["steps"] = [{"work": {"constant": 0.001}}]
    if m.maybe(75):
        document["arrivals"] = arrivals(m)
    else:
        document["clients"] = m.size(1, 5)
        if m.maybe(85):
            document["think_time"] = m.distribution(0.5)
    if m.maybe(15):
        document["priority"] = m.leaf(st.sampled_from([0, 1, -1]))
    return document


def fault(m: Maker, names: Names) -> Any:
    if m.broken():
        return m.garbage()
    kind = m.pick(["outage", "crash", "slowdown", "errors", "topic_outage"])
    if m.broken():
        kind = m.pick(["meltdown", "", "OUTAGE"])
    if kind == "topic_outage":
        return {
            "topic": m.topic_ref(names.topics),
            "kind": "outage",
            "at": m.time(2),
            "for": m.time(2, low=0.01),
        }
    document: dict[str, Any] = {"service": m.service_ref(sorted(names.operations)), "kind": kind}
    if kind == "crash":
        document["mtbf"] = m.pick([m.time(2, low=0.01), m.distribution(1)])
        document["mttr"] = m.pick([m.time(1, low=0.01), m.distribution(0.5)])
        return document
    document["at"] = m.time(2)
    document["for"] = m.time(2, low=0.01)
    if kind == "outage" and m.maybe(30):
        document["replicas"] = m.size(1, 3)
    if kind == "slowdown":
        document["factor"] = m.leaf(st.sampled_from([2, 0.5, 10]))
    if kind == "errors":
        document["probability"] = m.probability()
    return document


def simulation(m: Maker) -> Any:
    """At most 5 s of simulated time (or a broken value: then nothing runs)."""
    if m.broken():
        return m.garbage()
    document: dict[str, Any] = {
        "duration": m.leaf(st.sampled_from([1, 2, 5, 0.5, "2s", "500ms", "0.05min", "5 s"]))
    }
    if m.maybe(40):
        document["warmup"] = m.leaf(st.sampled_from([0, 0.5, 1, "200ms"]))
    if m.maybe(40):
        document["replications"] = m.size(1, 2)
    if m.maybe(40):
        document["seed"] = m.leaf(st.integers(0, 2**32))
    if m.maybe(15):
        document["sample_interval"] = m.time(1, low=0.01)
        if m.chance(m.huge):
            document["sample_interval"] = m.pick([1e-7, 1e-9, "1ns"])
    return document
