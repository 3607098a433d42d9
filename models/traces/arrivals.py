"""Arrival rates measured in traces, and arrival traces to replay.

Every flow's requests are the root spans that enter it; the **observation window** is the
same for all flows: from the first request of any flow to the last, stretched by one mean
gap (x N / (N - 1) for N requests in all), which makes N / window the unbiased rate of a
Poisson process seen between two of its arrivals. A flow's rate is its count over the
window, written as ``poisson`` (the interarrival cv is noted: near 1 for Poisson traffic,
larger for bursts). With ``--trace-arrivals`` the root spans' start times (seconds from
the first request of any flow, so that flows keep their phase) are written to a CSV file
that the flow replays (``trace: {file}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

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


def rate_of(count: int, window: Window) -> float:
    """Requests per second of a flow with `count` requests in `window`."""
    return count / window.length if window.length else DEFAULT_RATE


def describe_rate(count: int, window: Window, times: Sequence[float]) -> str:
    """Where a flow's rate came from, for a comment."""
    if window.length is None:
        assumed = spell_rate(DEFAULT_RATE)
        return f"a single request in the traces: no rate can be measured, {assumed} assumed"
    cv = interarrival_cv(times)
    burst = "" if cv is None else f"; interarrival cv {cv:.2f} (Poisson: 1)"
    return f"{spell_count(count)} requests in {window.length:.4g} s of traces{burst}"


def arrival_csv(times: Sequence[float], window: Window, source: str) -> str:
    """The CSV of a flow's arrival times, seconds from the window's start (microseconds)."""
    lines = [
        f"# Arrival times of the requests of {source}, in seconds from the first request",
        "# of the traces (archsim import traces --trace-arrivals).",
        "time",
    ]
    lines.extend(f"{time - window.start:.6f}" for time in sorted(times))
    return "\n".join(lines) + "\n"
