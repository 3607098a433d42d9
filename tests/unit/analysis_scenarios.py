"""Helpers of the unit tests of `models.analyze` (tests/unit/test_analysis*.py): scenarios
built by hand (`scenario`, `op`, `exp`, `poisson`, `retrying_client`, `load_and_analyze`),
the checks of a prediction document (`finite_and_non_negative`, `analyzed_in_range`), and
the Hypothesis strategies and settings of the property tests on generated documents
(`scenario_documents`, `failing_scenario_documents`, `GENERATED_SCENARIOS`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, reject, settings
from hypothesis import strategies as st

from models import Prediction, ScenarioError, analyze, load_scenario
from models.analysis import flow_source
from models.analysis.network import FlowSource
from models.schema import Scenario

REL = 1e-9
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def scenario(services: dict[str, Any], workload: dict[str, Any], **extra: Any) -> Any:
    """A validated scenario from its services and workload (and topics, ...)."""
    return load_scenario(
        {
            "name": "unit",
            "simulation": {"duration": 60},
            "services": services,
            "workload": workload,
            **extra,
        }
    )


def op(*steps: Any) -> dict[str, Any]:
    """A service with one operation `op` made of `steps` (other keys may be added)."""
    return {"operations": {"op": list(steps)}}


def exp(mean: float) -> dict[str, Any]:
    return {"work": {"exponential": mean}}


def poisson(entry: str, rate: float) -> dict[str, Any]:
    return {"entry": entry, "arrivals": {"poisson": rate}}


def retrying_client(rate: float, retries: int, **call: Any) -> dict[str, Any]:
    """A flow whose client calls `server` with `retries` (and other call keys)."""
    spec = {"service": "server", "retries": retries, **call}
    return {"f": {"steps": [{"call": spec}], "arrivals": {"poisson": rate}}}


def api_over_database(rate: float, duration: float = 60.0) -> dict[str, Any]:
    """An API of 4 workers (2 ms of work) calling a one-server database (exponential 10 ms)
    with a 50 ms timeout and one retry on the spot, `rate` requests per second."""
    call = {"service": "db", "timeout": "50ms", "retries": 1}
    return {
        "name": "api-over-database",
        "simulation": {"duration": duration, "warmup": 5},
        "services": {
            "api": {"workers": 4, "operations": {"get": [exp_ms(2), {"call": call}]}},
            "db": {"workers": 1, "operations": {"read": [exp_ms(10)]}},
        },
        "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": rate}}},
    }


def exp_ms(milliseconds: float) -> dict[str, Any]:
    """A `work` step of exponential time, its mean in milliseconds."""
    return {"work": {"exponential": f"{milliseconds:g}ms"}}


def load_and_analyze(parts: dict[str, Any]) -> Prediction:
    return analyze(load_scenario({"name": "faults", "simulation": {"duration": 600}, **parts}))


# --------------------------------------------------------------------------- documents


def finite_and_non_negative(value: Any, path: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            finite_and_non_negative(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_and_non_negative(item, f"{path}[{index}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        assert math.isfinite(value), path
        assert value >= (-1.0 if path.endswith("headroom") else 0.0), (path, value)


GENERATED_SCENARIOS = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""Hypothesis settings of the property tests of `analyze` on generated documents."""


def analyzed_in_range(document: Any) -> tuple[Scenario, Prediction]:
    """A generated `document` loaded (one that does not load is rejected) and its `analyze`,
    checked: its JSON has no NaN, its numbers are finite and non-negative, and no
    utilization is above 1."""
    try:
        valid = load_scenario(document)
    except ScenarioError:
        reject()
    result = analyze(valid)
    json.dumps(result.to_dict(), allow_nan=False)
    finite_and_non_negative(result.model_dump())
    for service in result.services.values():
        if service.utilization is not None:
            assert service.utilization <= 1.0 + 1e-9
    return valid, result


# --------------------------------------------------------------------------- generated scenarios


DISTRIBUTIONS = st.one_of(
    st.builds(lambda m: {"constant": m}, st.sampled_from([0.0, 0.001, 0.01])),
    st.builds(lambda m: {"exponential": m}, st.sampled_from([0.0005, 0.005, 0.05])),
    st.builds(lambda m: {"uniform": [m / 2, m * 1.5]}, st.sampled_from([0.002, 0.02])),
    st.builds(lambda m: {"gamma": {"mean": m, "cv": 2.0}}, st.sampled_from([0.002, 0.02])),
    st.builds(lambda m: {"pareto": {"mean": m, "alpha": 1.5}}, st.sampled_from([0.002, 0.02])),
    st.builds(lambda v: {"empirical": v}, st.lists(st.sampled_from([0.0, 0.003]), min_size=1)),
)


@st.composite
def step_lists(draw: st.DrawFn, index: int, services: int, topics: int, depth: int = 0) -> Any:
    steps: list[Any] = []
    for _ in range(draw(st.integers(1 if depth == 0 else 0, 3))):
        kinds = ["work", "delay", "publish", "call", "branch", "parallel"]
        kind = draw(st.sampled_from(kinds if depth < 2 else kinds[:4]))
        if kind in ("work", "delay"):
            steps.append({kind: draw(DISTRIBUTIONS)})
        elif kind == "call" and index + 1 < services:
            call: dict[str, Any] = {"service": f"s{draw(st.integers(index + 1, services - 1))}"}
            call["probability"] = draw(st.sampled_from([1.0, 0.4]))
            if draw(st.booleans()):
                call["timeout"] = draw(st.sampled_from([0.005, 0.05]))
                call["retries"] = draw(st.integers(0, 2))
            steps.append({"call": call})
        elif kind == "publish" and topics:
            publish = {"topic": f"t{draw(st.integers(0, topics - 1))}"}
            publish["probability"] = draw(st.sampled_from([1.0, 0.5]))
            publish["count"] = draw(st.integers(1, 2))
            if draw(st.integers(0, 4)) == 0:
                publish["key"] = "k"
            steps.append({"publish": publish})
        elif kind == "branch":
            first, second = (draw(step_lists(index, services, topics, depth + 1)) for _ in "ab")
            steps.append(
                {
                    "branch": [
                        {"probability": 0.25, "steps": first},
                        {"probability": 0.75, "steps": second},
                    ]
                }
            )
        elif kind == "parallel":
            branches = [
                draw(step_lists(index, services, topics, depth + 1))
                for _ in range(draw(st.integers(1, 3)))
            ]
            steps.append({"parallel": [b or [{"delay": {"constant": 0.001}}] for b in branches]})
    return steps


@st.composite
def scenario_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Small random scenarios: services calling later ones (no call cycles), topics with
    feedback allowed, open and closed flows of every kind."""
    services, topics = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    document: dict[str, Any] = {
        "name": "random",
        "simulation": {"duration": 60},
        "services": {},
        "topics": {},
        "workload": {},
    }
    for i in range(services):
        document["services"][f"s{i}"] = {
            "replicas": draw(st.integers(1, 3)),
            "workers": draw(st.one_of(st.integers(1, 4), st.just("unlimited"))),
            "queue_capacity": draw(st.one_of(st.none(), st.integers(0, 4))),
            "balancing": draw(
                st.sampled_from(["shared", "round_robin", "random", "least_outstanding"])
            ),
            "discipline": draw(st.sampled_from(["fifo", "priority"])),
            "blocking_calls": draw(st.booleans()),
            "operations": {"op": draw(step_lists(i, services, topics))},
        }
    for t in range(topics):
        topic: dict[str, Any] = {"type": draw(st.sampled_from(["log", "queue"]))}
        if topic["type"] == "log":
            topic["partitions"] = draw(st.integers(1, 4))
            topic["partitioning"] = draw(st.sampled_from(["random", "round_robin", "key"]))
            if topic["partitioning"] == "key":
                topic["keys"] = {"count": draw(st.integers(1, 20)), "skew": 1.0}
        if draw(st.booleans()):
            topic["delivery_latency"] = draw(DISTRIBUTIONS)
        subscribers = draw(st.lists(st.integers(0, services - 1), unique=True, max_size=2))
        topic["subscribers"] = {
            f"s{s}": {"operation": "op", "concurrency": draw(st.integers(1, 2))}
            for s in subscribers
        }
        document["topics"][f"t{t}"] = topic
    for f in range(draw(st.integers(1, 2))):
        flow: dict[str, Any] = (
            {"entry": "s0"}
            if draw(st.booleans())
            else {"steps": draw(step_lists(-1, services, topics))}
        )
        rate = draw(st.sampled_from([1.0, 50.0, 2000.0]))
        source = draw(st.sampled_from(["poisson", "constant", "interarrival", "closed"]))
        if source == "closed":
            flow["clients"] = draw(st.integers(1, 5))
            if draw(st.booleans()):
                flow["think_time"] = draw(DISTRIBUTIONS)
        elif source == "interarrival":
            flow["arrivals"] = {"interarrival": draw(DISTRIBUTIONS)}
        else:
            flow["arrivals"] = {source: rate}
        flow["priority"] = draw(st.integers(0, 1))
        document["workload"][f"f{f}"] = flow
    return document


def _resilient(steps: list[Any], draw: st.DrawFn) -> None:
    """Add `fail` steps and resilience to the calls of `steps` (in place, nested too)."""
    for step in steps:
        if "call" in step and draw(st.booleans()):
            step["call"]["retries"] = draw(st.integers(0, 2))
            if draw(st.booleans()):
                step["call"]["backoff"] = {"initial": 0.001, "jitter": "full"}
            if draw(st.booleans()):
                step["call"]["fallback"] = [{"work": {"exponential": 0.001}}]
            if draw(st.integers(0, 3)) == 0:
                step["call"]["circuit_breaker"] = {"failure_rate": 0.5}
        for option in step.get("branch", []):
            _resilient(option["steps"], draw)
        for branch in step.get("parallel", []):
            _resilient(branch, draw)
    if draw(st.booleans()):
        steps.insert(draw(st.integers(0, len(steps))), {"fail": draw(st.sampled_from([0.1, 1.0]))})


@st.composite
def failing_scenario_documents(draw: st.DrawFn) -> dict[str, Any]:
    """`scenario_documents` with failures: fail steps, retries, backoff, fallbacks, rate
    limits, message retries and dead letters, and faults of every kind."""
    document = draw(scenario_documents())
    services = list(document["services"])
    for service in document["services"].values():
        _resilient(service["operations"]["op"], draw)
        if draw(st.integers(0, 2)) == 0:
            service["rate_limit"] = {"rate": draw(st.sampled_from([5.0, 500.0])), "burst": 2}
    topics = list(document["topics"])
    for topic in document["topics"].values():
        for subscriber in topic["subscribers"].values():
            subscriber["max_attempts"] = draw(st.integers(1, 3))
            others = [name for name in topics if topic["subscribers"] is not subscriber]
            if others and draw(st.booleans()):
                subscriber["dead_letter"] = draw(st.sampled_from(others))
    window = {"at": draw(st.sampled_from([0, 20])), "for": draw(st.sampled_from([5, 30]))}
    faults: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["outage", "crash", "slowdown", "errors", "broker"]))
        target = {"service": draw(st.sampled_from(services))}
        if kind == "crash":
            faults.append({**target, "kind": "crash", "mtbf": 30, "mttr": 3})
        elif kind == "slowdown":
            faults.append({**target, "kind": "slowdown", "factor": 4, **window})
        elif kind == "errors":
            faults.append({**target, "kind": "errors", "probability": 0.5, **window})
        elif kind == "broker" and topics:
            faults.append({"topic": draw(st.sampled_from(topics)), "kind": "outage", **window})
        elif kind == "outage":
            faults.append({**target, "kind": "outage", **window})
    document["faults"] = faults
    return document


def open_sources(scenario: Scenario) -> dict[str, FlowSource]:
    """Each open flow's source at its own rate (the capacity search's flows)."""
    sources = {}
    for name, flow in scenario.workload.items():
        source = flow_source(scenario, name, flow, [])
        assert source is not None
        sources[name] = source
    return sources
