"""The values of a random scenario file: each valid, broken now and then, or huge.

`Maker` draws every leaf of a scenario for the fuzz test (tests/e2e/test_fuzz.py): numbers,
times and rates (as numbers or strings with units), distributions of every family, and
references to services, operations and topics. With probability `chaos`% a value is
garbage (`GARBAGE`: negative, zero, huge, of the wrong type, strings with units and
garbage, NaN) and with probability `huge`% a size is huge (`HUGE`: about the limits of
models.budget and beyond). Choices shrink towards the valid and small.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

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
