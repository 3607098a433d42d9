"""Arrival rates measured in traces, and arrival traces to replay.

Every flow's requests are the root spans that enter it; the **observation window** is the
same for all flows: from the first request of any flow to the last, stretched by one mean
gap (x N / (N - 1) for N requests in all), which makes N / window the unbiased rate of a
Poisson process seen between two of its arrivals. A flow's rate is its count over the
window, written as ``poisson`` (the interarrival cv is noted: near 1 for Poisson traffic,
larger for bursts). With ``--trace-arrivals`` the root spans' start times (seconds from
the first request of any flow, so that flows keep their phase) are written to a CSV file
that the flow replays (``trace: {file}``).

**Sampled traces** hold a fraction p of the requests (head sampling: the whole request or
nothing). Each traced request stands for 1 / p requests, so a flow's count is the sum of
1 / p over its root spans (the Horvitz-Thompson estimate; N / p when all share one p): p is
archsim's own ``archsim.sample`` on a root span (``archsim run --trace-sample``), else the
sampling rate the user gives (``archsim import traces --sample-rate``), else 1. The window
is measured on the traced requests themselves (a thinned Poisson process is Poisson).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from models.traces.conventions import ARCHSIM_SAMPLE
from models.traces.spans import Span
from models.traces.spelling import spell_count, spell_rate

DEFAULT_RATE = 1.0
"""Per second: the rate written when the traces hold a single request (no rate can be
measured); a warning says so."""


@dataclass(frozen=True)
class Window:
    """When requests were seen: from `start` (seconds since the epoch) for `length` seconds
    (None: a single request, no length)."""

    start: float
    last: float
    length: float | None


def observation_window(times: Sequence[float]) -> Window:
    """The window of all flows' arrival times (at least one).

    >>> observation_window([10.0, 11.0, 12.0])
    Window(start=10.0, last=12.0, length=3.0)
    """
    first, last, count = min(times), max(times), len(times)
    if count < 2 or last <= first:
        return Window(first, last, None)
    return Window(first, last, (last - first) * count / (count - 1))


def interarrival_cv(times: Sequence[float]) -> float | None:
    """The coefficient of variation of the gaps between sorted `times` (None: < 2 gaps)."""
    ordered = sorted(times)
    gaps = [b - a for a, b in pairwise(ordered)]
    if len(gaps) < 2:
        return None
    mean = sum(gaps) / len(gaps)
    if mean <= 0:
        return None
    variance = sum((gap - mean) ** 2 for gap in gaps) / len(gaps)
    return float(variance**0.5 / mean)


@dataclass(frozen=True)
class Sampled:
    """The requests a flow's traced root spans stand for (module docstring)."""

    traced: int
    requests: float
    """The sum of 1 / p over the traced requests: `traced` when nothing was sampled."""
    source: str
    """Where p came from (``archsim.sample``, ``--sample-rate``, both); '' when p = 1."""

    @property
    def probability(self) -> float:
        """The share of the requests traced: `traced` / `requests` (1: all)."""
        return self.traced / self.requests


def sampling_probability(span: Span, sample_rate: float) -> tuple[float, str]:
    """The probability with which the request of the root `span` was traced, and its
    source: the span's own ``archsim.sample`` when it is a number in (0, 1], else
    `sample_rate` (``--sample-rate``; 1: the traces hold every request).

    >>> from dataclasses import replace
    >>> from models.traces.conventions import SpanKind
    >>> root = Span("t", "s", None, SpanKind.INTERNAL, "client:f", "f", 0.0, 1.0)
    >>> sampling_probability(root, 0.5)
    (0.5, '--sample-rate')
    >>> sampling_probability(replace(root, attributes={ARCHSIM_SAMPLE: 0.1}), 0.5)
    (0.1, 'archsim.sample')
    """
    value = span.attributes.get(ARCHSIM_SAMPLE)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 < value <= 1.0:
        return float(value), ARCHSIM_SAMPLE  # (nan fails the test)
    return sample_rate, "--sample-rate"


def sampled(roots: Sequence[Span], sample_rate: float) -> Sampled:
    """The requests the traced root spans `roots` of one flow stand for (module docstring)."""
    requests, sources = 0.0, set()
    for span in roots:
        probability, source = sampling_probability(span, sample_rate)
        requests += 1.0 / probability
        if probability < 1.0:
            sources.add(source)
    return Sampled(len(roots), requests, " and ".join(sorted(sources)))


def rate_of(requests: float, window: Window) -> float:
    """Requests per second of a flow whose traced requests stand for `requests` requests
    (`Sampled.requests`) in `window`."""
    return requests / window.length if window.length else DEFAULT_RATE


def describe_rate(sample: Sampled, window: Window, times: Sequence[float]) -> str:
    """Where a flow's rate came from, for a comment."""
    if window.length is None:
        assumed = spell_rate(DEFAULT_RATE)
        return f"a single request in the traces: no rate can be measured, {assumed} assumed"
    cv = interarrival_cv(times)
    burst = "" if cv is None else f"; interarrival cv {cv:.2f} (Poisson: 1)"
    seen = f"{spell_count(sample.traced)} requests in {window.length:.4g} s of traces"
    if not sample.source:
        return f"{seen}{burst}"
    share = f"{sample.probability:.3g}"
    return (
        f"{seen}, traced with probability {share} ({sample.source}): about "
        f"{spell_count(math.floor(sample.requests + 0.5))} requests{burst}"
    )


def arrival_csv(times: Sequence[float], window: Window, source: str) -> str:
    """The CSV of a flow's arrival times, seconds from the window's start (microseconds)."""
    lines = [
        f"# Arrival times of the requests of {source}, in seconds from the first request",
        "# of the traces (archsim import traces --trace-arrivals).",
        "time",
    ]
    lines.extend(f"{time - window.start:.6f}" for time in sorted(times))
    return "\n".join(lines) + "\n"
