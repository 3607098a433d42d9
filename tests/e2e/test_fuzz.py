"""Fuzzing the command line: random scenario files, valid and broken, never crash or hang it.

A hypothesis strategy (`scenario_files`) writes random scenario files: random keys and
values (negative, zero, huge, of the wrong type, strings with units and garbage), references
to unknown services, operations and topics, random topologies (chains and cycles of calls,
cycles of topics with publish probability up to 1), steps nested up to 60 deep, sizes
(replicas, workers, partitions, counts, clients) up to huge, variants, faults, and now and
then a file that is not a scenario at all (text, other YAML, an alias bomb, deep nesting).
Every file's simulated time is at most 5 s and its rates modest, so that a valid scenario
runs in a fraction of a second; huge values go where they test a limit, not the CPU.

For every file, `archsim validate FILE` and `archsim run FILE -r 1 --jobs 1 --json` must:

- end within `TIMEOUT` seconds (and within `MEMORY_CAP` bytes of memory);
- exit with 0 or 2 (never 1, an internal error, nor a signal);
- print neither "Traceback" nor "internal error";
- agree: a file that does not validate does not run either (exit 2);
- and, when the run succeeds, print a JSON document without NaN or infinities.

Each command runs in-process (`sim.presentation.cli.main`, what the console script calls)
in a forked child: as isolated as a subprocess (a timeout kills it, a memory cap bounds it,
a crash cannot take pytest down) at a fraction of the cost, since the parent has imported
everything already. The default run is deterministic (`derandomize=True`) and takes
`EXAMPLES` examples without shrinking (a failure is reported as generated, in bounded time);
the `slow` variant takes `SLOW_EXAMPLES` and shrinks a failure to a minimal file.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import string
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# Everything `run` and `validate` import lazily, imported once here so that a forked child
# starts at once (sim/presentation/cli.py imports inside the commands).
import models.analysis
import models.loading
import sim.experiments.executors
import sim.experiments.simulation
import sim.presentation.files
import sim.presentation.plots
import sim.presentation.tables
import sim.presentation.theory_tables
from sim.presentation.cli import main

PRELOADED = (
    models.analysis,
    models.loading,
    sim.experiments.executors,
    sim.experiments.simulation,
    sim.presentation.files,
    sim.presentation.plots,
    sim.presentation.tables,
    sim.presentation.theory_tables,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

TIMEOUT = 60.0
"""Seconds a command may take (a valid file runs in well under a second)."""
MEMORY_CAP = 3 * 2**30
"""Bytes of address space a command may add to the test process's own."""
EXAMPLES = 100
SLOW_EXAMPLES = 150

SERVICES = ["api", "db", "cache", "worker", "billing"]
OPERATIONS = ["get", "put", "handle"]
TOPICS = ["events", "orders", "dlq"]
FLOWS = ["users", "batch", "admin"]
BAD_NAMES = ["ghost", "a b", "", "api..get", "api.get.more", "-x", "Ünï", "api.nope", "x" * 300]

GARBAGE: list[Any] = [
    -1,
    0,
    -0.5,
    1e308,
    10**30,
    2**63,
    -(2**63),
    "",
    " ",
    "abc",
    "5 parsecs",
    "-3ms",
    "1e400s",
    "nan",
    "inf",
    "-inf",
    "NaN ms",
    "ms",
    "/s",
    "12/xs",
    "5ms/s",
    "0/s",
    "1e-400s",
    "unlimited",
    "1,000",
    "0x10",
    "½",
    True,
    False,
    None,
    [],
    {},
    [1, 2],
    {"x": 1},
    {"constant": -1},
    [[[]]],
    float("nan"),
    float("inf"),
    -float("inf"),
]
HUGE: list[Any] = [
    *(50, 80, 100, 200, 999, 1000, 1001),  # about the limits of retries and attempts
    *(10**4, 10**4 + 1, 10**5, 10**5 + 1, 10**6, 10**6 + 1, 10**7, 10**7 + 1),  # of sizes
    *(10**9, 10**12, 10**18, 2**63, 10**100),
]


# --------------------------------------------------------------------------- the generator


class Maker:
    """Draws the parts of a scenario: each leaf valid, or with probability `chaos`% broken,
    or with probability `huge`% huge where a size is asked for.

    Choices shrink towards the valid and small (index 0 of every list is the plain case)."""

    def __init__(self, draw: Any, chaos: int, huge: int) -> None:
        self.draw = draw
        self.chaos = chaos
        self.huge = huge

    def chance(self, percent: int) -> bool:
        return percent > 0 and self.draw(st.integers(0, 99)) >= 100 - percent

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def maybe(self, percent: int = 50) -> bool:
        return self.chance(percent)

    def broken(self) -> bool:
        return self.chance(self.chaos)

    def garbage(self) -> Any:
        return self.draw(
            st.one_of(
                st.sampled_from(GARBAGE),
                st.text(alphabet=string.printable, max_size=12),
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(),
            )
        )

    def leaf(self, valid: Any) -> Any:
        """`valid` (a value or a strategy), or garbage now and then."""
        if self.broken():
            return self.garbage()
        return self.draw(valid) if isinstance(valid, st.SearchStrategy) else valid

    # -- numbers, times, rates

    def size(self, low: int = 1, high: int = 4) -> Any:
        if self.chance(self.huge):
            return self.pick(HUGE)
        return self.leaf(st.integers(low, high))

    def time(self, high: float = 0.02, low: float = 0.0) -> Any:
        """A time in [low, high] seconds, as a number or a string with a unit."""
        if self.chance(self.huge):
            return self.pick([1e6, "1h", 10**12, "100000h", 1e-12, "1ns"])
        seconds = self.draw(st.floats(low, high, allow_nan=False, allow_infinity=False))
        form = self.pick(["number", "ms", "us", "s", "spaced"])
        value: Any = {
            "number": seconds,
            "ms": f"{seconds * 1e3:.6g}ms",
            "us": f"{seconds * 1e6:.6g}us",
            "s": f"{seconds:.6g}s",
            "spaced": f"{seconds * 1e3:.6g} ms",
        }[form]
        return self.leaf(value)

    def rate(self, high: float = 50.0) -> Any:
        if self.chance(self.huge):
            return self.pick(["1/ns", 1e9, "1000000/s", 1e-9])
        per_second = self.draw(st.floats(0.5, high, allow_nan=False, allow_infinity=False))
        form = self.pick(["number", "per_second", "per_minute"])
        value: Any = {
            "number": per_second,
            "per_second": f"{per_second:.6g}/s",
            "per_minute": f"{per_second * 60:.6g}/min",
        }[form]
        return self.leaf(value)

    def probability(self) -> Any:
        return self.leaf(st.sampled_from([1, 0.5, 0.9, 0.1, 1.0, 0.001]))

    # -- distributions

    def distribution(self, high: float = 0.02) -> Any:
        if self.broken():
            return self.garbage()
        family = self.pick(
            [
                "exponential",
                "constant",
                "uniform",
                "erlang",
                "gamma",
                "lognormal",
                "lognormal_percentiles",
                "weibull",
                "pareto",
                "hyperexponential",
                "empirical",
                "empirical_file",
            ]
        )
        if self.broken():
            return {"exponential": self.time(high, low=1e-4), "constant": 0.001}  # two families
        mean = self.time(high, low=1e-4)
        cv = self.leaf(st.sampled_from([1, 0.5, 2, 0.1, 10]))
        if family == "hyperexponential":  # cv >= 1
            cv = self.leaf(st.sampled_from([1, 2, 10]))
        if family == "exponential":
            return {"exponential": mean}
        if family == "constant":
            return {"constant": self.time(high)}
        if family == "uniform":
            return {"uniform": [self.time(high / 2), self.time(high, low=high / 2)]}
        if family == "erlang":
            return {"erlang": {"k": self.size(1, 5), "mean": mean}}
        if family in ("gamma", "lognormal", "weibull", "hyperexponential"):
            return {family: {"mean": mean, "cv": cv}}
        if family == "lognormal_percentiles":
            median = self.time(high / 4, low=1e-4)
            return {"lognormal": {"median": median, "p99": self.time(high * 5, low=high / 2)}}
        if family == "empirical":
            return {"empirical": [self.time(high) for _ in range(self.draw(st.integers(1, 3)))]}
        if family == "empirical_file":
            files = ["missing.csv", "../x", "trace.csv"] if self.broken() else ["samples.csv"]
            return {"empirical": {"file": self.pick(files)}}
        return {"pareto": {"mean": mean, "alpha": self.leaf(st.sampled_from([2.5, 1.5, 3]))}}

    # -- references

    def service_ref(self, names: list[str]) -> Any:
        if self.broken() or not names:
            return self.pick(BAD_NAMES)
        return self.pick(names)

    def operation_ref(self, operations: dict[str, list[str]]) -> Any:
        """``SERVICE.OPERATION``, ``SERVICE`` alone, or a reference to nothing."""
        if self.broken() or not operations:
            return self.pick([*BAD_NAMES, "ghost.get", "api.ghost", 7, None])
        service = self.pick(sorted(operations))
        if (len(operations[service]) == 1 and self.maybe(20)) or self.broken():
            return service
        return f"{service}.{self.pick(operations[service])}"

    def topic_ref(self, topics: list[str]) -> Any:
        if self.broken() or not topics:
            return self.pick(["ghost-topic", *BAD_NAMES])
        return self.pick(topics)


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


VARIANT_PATHS = [
    "services.api.workers",
    "services.db.replicas",
    "services.api.operations.get",
    "services.api.operations.get.0.work",
    "services.api.operations.get.99",
    "workload.users.arrivals",
    "workload.users.clients",
    "topics.events.partitions",
    "topics.events.subscribers",
    "simulation.duration",
    "nothing.here",
    "services",
    "",
    "services..api",
]


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


@st.composite
def scenario_documents(
    draw: Any, max_depth: int = 3, max_nesting: int = 60, max_chain: int = 300
) -> Any:
    """A random scenario as a document (mostly a mapping), valid or not."""
    chaos = draw(st.sampled_from([0, 0, 0, 1, 5, 20]))  # percent of broken values
    m = Maker(draw, chaos, huge=draw(st.sampled_from([0, 0, 2, 15])))
    service_names = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=4, unique=True))
    if m.broken():
        service_names = []
    names = Names(
        operations={
            name: draw(st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=2, unique=True))
            for name in service_names
        },
        topics=draw(st.lists(st.sampled_from(TOPICS), max_size=3, unique=True)),
    )
    services = {name: service(m, names, name, max_depth) for name in service_names}
    topics = {name: topic(m, names, name) for name in names.topics}
    inject_cycles(m, names, services, topics)
    # A stress now and then, where a runaway or a deep recursion would hide.
    stress = draw(st.sampled_from(["none", "feedback", "nesting", "chain", "retries", "none"]))
    extra_flows: dict[str, Any] = {}
    if stress == "feedback" and service_names:
        extra_flows.update(feedback_loop(m, names, services, topics))
    if stress == "retries" and service_names:
        extra_flows.update(retry_storm(m, names, services))
    if services and (m.maybe(10) or stress == "nesting"):  # deep nesting in one operation
        name = m.pick(sorted(services))
        if isinstance(services[name], dict):
            depth = draw(st.integers(1, max_nesting))
            later = [other for other in sorted(names.operations) if other > name]
            callee = f"{later[0]}.{names.operations[later[0]][0]}" if later else None
            operation = names.operations[name][0]
            services[name]["operations"][operation] = nested(m, depth, callee)
    chained = m.maybe(5) or stress == "chain"
    if chained:  # a long chain of calls
        services.update(chain(m, draw(st.integers(2, max_chain))))
    flow_names = draw(st.lists(st.sampled_from(FLOWS), min_size=1, max_size=2, unique=True))
    document: dict[str, Any] = {
        "name": m.leaf(st.sampled_from(["fuzz", "a scenario", "x"])),
        "simulation": simulation(m),
    }
    if services or m.maybe(50):
        document["services"] = services
    if topics:
        document["topics"] = topics
    document["workload"] = {name: flow(m, names, max_depth) for name in flow_names}
    if chained:
        document["workload"]["chained"] = {"entry": "chain0", "arrivals": {"poisson": 5}}
    document["workload"].update(extra_flows)
    if m.maybe(15):
        document["faults"] = [fault(m, names) for _ in range(draw(st.integers(1, 3)))]
    if m.maybe(10):
        document["variants"] = {
            m.leaf(st.sampled_from(["bigger", "v2"])): {
                m.pick(VARIANT_PATHS): m.pick([m.size(1, 8), m.garbage(), None])
                for _ in range(draw(st.integers(1, 2)))
            }
        }
    if m.maybe(10):
        document["description"] = m.leaf("fuzzed")
    for _ in range(draw(st.integers(0, 3)) if m.chaos else 0):
        mutate(m, document)
    return document


def inject_cycles(m: Maker, names: Names, services: dict[str, Any], topics: dict[str, Any]) -> None:
    """Feedback now and then: a handler that publishes back to its own topic (up to
    probability 1, count 2), and two operations that call each other."""
    if m.maybe(25):
        for topic_name, document in topics.items():
            if not isinstance(document, dict) or not isinstance(document.get("subscribers"), dict):
                continue
            for subscribing, spec in document["subscribers"].items():
                operation = spec.get("operation") if isinstance(spec, dict) else spec
                operations = services.get(subscribing, {})
                if not isinstance(operations, dict):
                    continue
                body = operations.get("operations", {}).get(operation)
                if isinstance(body, list):
                    feedback = {
                        "topic": topic_name,
                        "probability": m.pick([1, 0.999, 0.99, 0.9, 0.5]),
                        "count": m.pick([1, 2]),
                    }
                    body.insert(m.pick([0, len(body)]), {"publish": feedback})
                    return
    if m.maybe(15) and len(names.operations) >= 1:
        first = m.pick(sorted(names.operations))
        second = m.pick(sorted(names.operations))
        one, other = names.operations[first][0], names.operations[second][-1]
        for caller, operation, callee in ((first, one, f"{second}.{other}"),):
            body = services.get(caller, {})
            if isinstance(body, dict) and isinstance(body["operations"].get(operation), list):
                body["operations"][operation].append({"call": callee})
        body = services.get(second, {})
        if isinstance(body, dict) and isinstance(body["operations"].get(other), list):
            body["operations"][other].append({"call": f"{first}.{one}"})


def feedback_loop(
    m: Maker, names: Names, services: dict[str, Any], topics: dict[str, Any]
) -> dict[str, Any]:
    """A topic `loop` whose handler publishes back to it first thing (in zero time, and
    sometimes does nothing else), with probability up to 1, and a flow that starts it."""
    name = m.pick(sorted(names.operations))
    operation = names.operations[name][0]
    body = services[name]["operations"][operation] if isinstance(services[name], dict) else None
    if not isinstance(body, list):
        return {}
    probability = m.pick([1, 0.999, 0.99, 0.9])
    body.insert(0, {"publish": {"topic": "loop", "probability": probability}})
    if m.maybe(50):  # a handler that takes no time at all
        del body[1:]
    topics["loop"] = {"subscribers": {name: operation}}
    if m.maybe(30):
        topics["loop"]["type"] = "queue"
    names.topics.append("loop")
    return {"looped": {"entry": f"{name}.{operation}", "arrivals": {"poisson": m.rate(20)}}}


def retry_storm(m: Maker, names: Names, services: dict[str, Any]) -> dict[str, Any]:
    """An operation that fails (or refuses) at once, called with many retries."""
    name = m.pick(sorted(names.operations))
    operation = names.operations[name][0]
    if not isinstance(services[name], dict):
        return {}
    if m.maybe(50):
        services[name]["operations"][operation] = [{"fail": 1}]
    else:  # a loss station kept busy: most calls are dropped at once
        services[name].update({"workers": 1, "queue_capacity": 0})
        services[name]["operations"][operation] = [{"work": {"constant": 1}}]
    call = {"service": name, "operation": operation, "retries": m.pick([100, 999, 20, 80])}
    steps = [{"call": call}]
    return {"retrying": {"steps": steps, "arrivals": {"poisson": m.rate(20)}}}


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `node` (mappings and lists)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(paths(value, (*prefix, index)))
    return found


def mutate(m: Maker, document: dict[str, Any]) -> None:
    """Break the document at a random place: replace a value, delete a key, add a key."""
    places = paths(document)
    if not places:
        return
    place = m.pick(places)
    parent: Any = document
    for key in place[:-1]:
        parent = parent[key]
    last = place[-1]
    action = m.pick(["replace", "delete", "add", "wrap"])
    if action == "replace":
        parent[last] = m.garbage()
    elif action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        key = m.pick(["replicatons", "wokers", "extra", "duration", "operations", "x" * 50, 1])
        parent[key] = m.garbage()
    else:
        parent[last] = [parent[last]]


def alias_bomb(levels: int) -> str:
    """The 'billion laughs' in YAML: each level refers ten times to the one before."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + f"\nname: bomb\nsimulation: {{duration: 1}}\nworkload: *a{levels}\n"


@st.composite
def raw_files(draw: Any) -> tuple[str, str]:
    """A file that is not a scenario, or hardly: (suffix, text)."""
    kind = draw(st.sampled_from(["text", "yaml", "bomb", "deep", "json", "empty", "binary"]))
    if kind == "text":
        return ".yaml", draw(st.text(max_size=200))
    if kind == "yaml":
        tree = draw(
            st.recursive(
                st.one_of(
                    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)
                ),
                lambda inner: st.one_of(
                    st.lists(inner, max_size=4),
                    st.dictionaries(st.text(max_size=8), inner, max_size=4),
                ),
                max_leaves=20,
            )
        )
        return ".yaml", yaml.safe_dump(tree)
    if kind == "bomb":
        return ".yaml", alias_bomb(draw(st.integers(1, 9)))
    if kind == "deep":
        depth = draw(st.sampled_from([100, 300, 1000, 10_000, 100_000]))
        opening, closing = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        body = opening * depth + "1" + closing * depth
        return ".yaml", f"name: deep\nsimulation: {{duration: 1}}\nworkload: {body}\n"
    if kind == "json":
        return ".json", json.dumps({"name": "j", "simulation": {"duration": 1}, "workload": {}})
    if kind == "empty":
        return ".yaml", draw(st.sampled_from(["", "# nothing\n", "---\n", "...\n", "~\n"]))
    return ".yaml", draw(st.binary(max_size=40)).decode("latin-1")


@st.composite
def scenario_files(draw: Any, max_nesting: int = 60) -> tuple[str, str]:
    """(suffix, text) of a scenario file: mostly generated scenarios, some raw files."""
    if draw(st.integers(0, 9)) == 9:
        raw: tuple[str, str] = draw(raw_files())
        return raw
    document = draw(scenario_documents(max_nesting=max_nesting))
    if draw(st.integers(0, 9)) == 9:
        return ".json", json.dumps(document, default=str)
    return ".yaml", yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


SAMPLES_CSV = "# times\n1ms\n2ms\n0.005\n"
TRACE_CSV = "time\n0.01\n0.2\n0.25\n1.5\n3\n"


# --------------------------------------------------------------------------- running the CLI


@dataclass(frozen=True)
class Outcome:
    """How a command ended: its exit code (None if killed after `TIMEOUT`), its output."""

    argv: tuple[str, ...]
    code: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def hung(self) -> bool:
        return self.code is None

    def problems(self) -> list[str]:
        """What is wrong with this outcome (empty: nothing)."""
        found = []
        if self.hung:
            found.append(f"did not end within {TIMEOUT:g} s")
        elif self.code not in (0, 2):
            found.append(f"exit code {self.code}")
        for marker in ("Traceback", "internal error"):
            if marker in self.stdout or marker in self.stderr:
                found.append(f"printed {marker!r}")
        return found

    def describe(self) -> str:
        head = "\n".join((self.stderr or self.stdout).strip().splitlines()[-12:])
        code = "killed (timeout)" if self.hung else f"exit {self.code}"
        return f"$ archsim {' '.join(self.argv)}  -> {code} after {self.seconds:.1f} s\n{head}"


def run_cli(argv: list[str], timeout: float = TIMEOUT) -> Outcome:
    """`archsim ARGV` in a forked child of this process, with a timeout and a memory cap."""
    return run_forked(lambda: main(argv), tuple(argv), timeout)


def run_forked(function: Callable[[], int], argv: tuple[str, ...], timeout: float) -> Outcome:
    """`function()` in a forked child, its return value the exit code, its output captured."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(function, out.fileno(), err.fileno())
        code = _wait(pid, timeout)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return Outcome(argv, code, stdout, stderr, seconds)


def _child(function: Callable[[], int], out: int, err: int) -> None:
    code = 111
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            signal.signal(number, signal.SIG_DFL)
        with open("/proc/self/statm") as statm:
            own = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (own + MEMORY_CAP, own + MEMORY_CAP))
        code = function()
    except BaseException:  # anything that escapes main is a finding
        traceback.print_exc()
        code = 112
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait(pid: int, timeout: float) -> int | None:
    """The child's exit code, or None after killing it at `timeout` seconds."""
    deadline = time.monotonic() + timeout
    try:
        descriptor = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: poll
        descriptor = None
    pause = 0.001
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
            if descriptor is not None:
                select.select([descriptor], [], [], left)  # readable when the child ends
            else:
                time.sleep(min(pause, left))
                pause = min(pause * 1.5, 0.05)
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} in the results document")


def check_file(suffix: str, text: str) -> list[str]:
    """Validate and run one scenario file; the problems found (empty: all good)."""
    with tempfile.TemporaryDirectory(prefix="archsim-fuzz-") as folder:
        directory = Path(folder)
        (directory / "samples.csv").write_text(SAMPLES_CSV)
        (directory / "trace.csv").write_text(TRACE_CSV)
        path = directory / f"scenario{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        validated = run_cli(["validate", str(path)])
        ran = run_cli(["run", str(path), "-r", "1", "--jobs", "1", "--json", "-q"])
    problems = [f"{o.describe()}\n  -> {p}" for o in (validated, ran) for p in o.problems()]
    if not problems and validated.code == 2 and ran.code != 2:
        problems.append(f"validate said 2 but run said {ran.code}:\n{ran.describe()}")
    if not problems and ran.code == 0:
        try:
            json.loads(ran.stdout, parse_constant=_no_constants)
        except ValueError as error:
            problems.append(f"run --json printed no valid JSON document ({error})")
    return problems


# --------------------------------------------------------------------------- the tests


def _report(suffix: str, text: str, problems: list[str]) -> str:
    return f"scenario{suffix}:\n{text}\n" + "\n".join(problems)


FAST = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


# The long variant (150 examples, nesting up to 200) still finds runs that do not end within
# the timeout on a loaded machine (a valid model that is simply slow, not reproducible under
# less load): xfail, not strict, until the event-load estimate refuses those. The default
# variant and every minimal file above must pass.
UNTIL_FIXED = pytest.mark.xfail(
    strict=False, reason="slow valid runs exceed the timeout on a loaded machine (see above)"
)


@FAST
@given(scenario_files())
def test_random_scenarios_never_crash_or_hang_the_cli(file: tuple[str, str]) -> None:
    suffix, text = file
    problems = check_file(suffix, text)
    assert not problems, _report(suffix, text, problems)


@UNTIL_FIXED
@pytest.mark.slow
@settings(FAST, max_examples=SLOW_EXAMPLES, phases=tuple(Phase))
@given(scenario_files(max_nesting=200))
def test_many_random_scenarios_never_crash_or_hang_the_cli(file: tuple[str, str]) -> None:
    suffix, text = file
    problems = check_file(suffix, text)
    assert not problems, _report(suffix, text, problems)


# Minimal files of the failures the fuzzer found: a regression test each, xfail while it is
# not fixed. All are valid scenarios or a YAML file of a few lines; each must give exit 0 or
# 2 without an internal error, in bounded time.
RETRIES_AT_ONCE = """
name: retries-at-once      # a callee that fails at once, retried at once 100 times
simulation: {duration: 1}
services:
  a: {operations: {get: [{call: {service: b, retries: 100}}]}}
  b: {operations: {get: [{fail: 1}]}}
workload:
  users: {entry: a, arrivals: {poisson: 10}}
"""
DROPS_RETRIED_AT_ONCE = """
name: drops-retried        # a busy loss station drops at once; retried at once 200 times
simulation: {duration: 5}
services:
  a: {workers: unlimited, operations: {get: [{call: {service: b, retries: 200}}]}}
  b: {queue_capacity: 0, operations: {get: [{work: {constant: 1}}]}}
workload:
  users: {entry: a, arrivals: {poisson: 10}}
"""
ZERO_TIME_TOPIC_LOOP = """
name: zero-time-loop       # each message republished at once with probability 0.99
simulation: {duration: 1}
services:
  worker: {operations: {handle: [{publish: {topic: events, probability: 0.99}}]}}
topics:
  events: {subscribers: {worker: handle}}
workload:
  users: {entry: worker, arrivals: {poisson: 10}}
"""


def _fallbacks(depth: int) -> str:
    """A call whose fallback is a call whose fallback is ... `depth` deep, all failing."""
    body: list[Any] = [{"fail": 1}]
    for _ in range(depth):
        body = [{"call": {"service": "b", "fallback": body}}]
    document = {
        "name": "nested-fallbacks",
        "simulation": {"duration": 1},
        "services": {
            "a": {"operations": {"get": body}},
            "b": {"operations": {"get": [{"fail": 1}]}},
        },
        "workload": {"users": {"entry": "a", "arrivals": {"poisson": 10}}},
    }
    return yaml.safe_dump(document)


def _call_chain(length: int) -> str:
    """`length` services, each calling the next as its first step."""
    services = {
        f"s{index}": {
            "operations": {
                "get": [{"call": f"s{index + 1}"}] * (index + 1 < length)
                + [{"work": {"exponential": 0.001}}]
            }
        }
        for index in range(length)
    }
    document = {
        "name": "call-chain",
        "simulation": {"duration": 1},
        "services": services,
        "workload": {"users": {"entry": "s0", "arrivals": {"poisson": 5}}},
    }
    return yaml.safe_dump(document)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(RETRIES_AT_ONCE, id="retries-at-once"),
        pytest.param(DROPS_RETRIED_AT_ONCE, id="drops-retried-at-once"),
        pytest.param(ZERO_TIME_TOPIC_LOOP, id="zero-time-topic-loop"),
        pytest.param(_fallbacks(40), id="40-nested-fallbacks"),
        pytest.param(_call_chain(200), id="chain-of-200-calls"),
        pytest.param(alias_bomb(9), id="alias-bomb"),  # 10**9 values: refused at once
    ],
)
def test_what_the_fuzzer_found(text: str) -> None:
    problems = check_file(".yaml", text)
    assert not problems, _report(".yaml", text, problems)


def test_the_harness_sees_a_hang_a_crash_and_a_traceback() -> None:
    """A child that outlives its timeout is a hang; one killed by a signal, or whose
    exception escapes, is not an exit code 0 or 2; the output is captured."""

    def sleep() -> int:
        time.sleep(30)
        return 0

    def crash() -> int:
        os.kill(os.getpid(), signal.SIGSEGV)
        return 0

    hung = run_forked(sleep, ("sleep",), timeout=0.5)
    assert hung.hung and hung.seconds < 10 and hung.problems() == ["did not end within 60 s"]
    crashed = run_forked(crash, ("segv",), 10)
    assert crashed.code == -signal.SIGSEGV and crashed.problems() == ["exit code -11"]
    escaped = run_forked(lambda: int("x"), ("raise",), 10)
    assert "Traceback" in escaped.stderr and len(escaped.problems()) == 2
    helped = run_cli(["--help"])
    assert helped.code == 0 and "validate" in helped.stdout and not helped.problems()


def test_the_generator_makes_valid_scenarios_too() -> None:
    """A fuzzer that only makes broken files never reaches the engine: a fair share of the
    generated documents validate."""
    from models.errors import ScenarioError
    from models.loading import load_scenario

    valid = 0
    total = 0

    @settings(max_examples=60, derandomize=True, database=None, deadline=None)
    @given(scenario_documents())
    def count(document: Any) -> None:
        nonlocal valid, total
        total += 1
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "samples.csv").write_text(SAMPLES_CSV)
            (Path(folder) / "trace.csv").write_text(TRACE_CSV)
            path = Path(folder) / "s.yaml"
            path.write_text(yaml.safe_dump(document))
            try:
                load_scenario(path)
            except ScenarioError:
                return
            valid += 1

    count()
    assert valid >= total // 5, (valid, total)
