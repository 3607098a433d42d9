"""What traces say about capacity: replicas, workers and consumer threads.

- **Replicas** of a service: the distinct ``service.instance.id`` values (or host names) of
  its spans; 1 when the tracer names no instance.
- **Workers** are not in traces. The estimate is the largest number of the service's
  request executions (SERVER spans, and root INTERNAL ones) in progress at once on one
  instance: a lower bound of the real pool (a pool is rarely full, and sampled traces show
  only some of the requests), so the file says so where it is written.
- **Consumer threads** (`concurrency`) of a group, likewise: the largest number of its
  message handlings in progress at once on one instance.

The count at an instant is found by a sweep over the starts and ends (an end at the same
instant as a start comes first: back-to-back requests need one worker).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from models.traces.call_graph import Execution
from models.traces.spans import Span


def most_at_once(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of intervals [start, end) that overlap at one instant.

    >>> most_at_once([(0, 2), (1, 3), (2, 4), (5, 6)])
    2
    """
    events = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end, -1))
    events.sort()
    busy = most = 0
    for _, change in events:
        busy += change
        most = max(most, busy)
    return most


@dataclass(frozen=True)
class Concurrency:
    """The most executions seen at once on one instance, and where."""

    most: int
    instance: str | None


def concurrency(executions: Sequence[Execution]) -> Concurrency:
    """The largest number of `executions` in progress at once on one instance."""
    by_instance: dict[str | None, list[tuple[float, float]]] = defaultdict(list)
    for execution in executions:
        by_instance[execution.span.instance].append((execution.span.start, execution.span.end))
    best = Concurrency(0, None)
    for instance, intervals in by_instance.items():
        most = most_at_once(intervals)
        if most > best.most:
            best = Concurrency(most, instance)
    return best


def instances(spans: Iterable[Span]) -> dict[str, set[str]]:
    """The instances each service's spans name (an empty set: none named)."""
    found: dict[str, set[str]] = defaultdict(set)
    for span in spans:
        names = found[span.service]
        if span.instance is not None:
            names.add(span.instance)
    return dict(found)
