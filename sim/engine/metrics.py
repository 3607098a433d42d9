"""Tallies: the statistics of values observed one per event (latencies).

A `Tally`'s mean and max are exact; its percentiles come from a log-bucketed histogram of
fixed size, so memory stays bounded however long the run. The other kind of statistic,
levels averaged over time (queue length, busy servers, lag), is kept by its owner as signed
time sums (see `sim.engine.stations`). Both restart at the end of warm-up; everything
reported counts from then on.
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from models.results import Latency

PERCENTILES: dict[str, float] = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}
SMALLEST_TIME = 1e-9  # values below this count as zero (seconds)
LARGEST_TIME = 1e7  # values above this land in the top bucket (seconds)
BUCKETS_PER_DOUBLING = 256  # relative bucket width 2**(1/256) - 1 = 0.27%
_BUCKET_COUNT = math.ceil(math.log2(LARGEST_TIME / SMALLEST_TIME) * BUCKETS_PER_DOUBLING) + 1
FLUSH_SIZE = 8192  # observations buffered before they are binned


class Tally:
    """Observations of a latency: exact count, mean and max; percentiles within 0.14%.

    Values are buffered and binned in numpy blocks. A percentile is the geometric midpoint of
    the bucket that holds it, so its relative error is at most half a bucket width. The
    histogram holds only the range of buckets observed so far (allocated at the first flush
    and widened when a value falls outside it), so an idle tally costs almost nothing and a
    busy one a few kilobytes: a latency's values rarely span more than a few decades.

    `add` flushes the buffer when it is full. Hot paths call `record` instead (the buffer's
    own `append`, no Python frame) and must call `flush` at least every `FLUSH_SIZE`
    observations themselves, which keeps memory bounded.

    >>> tally = Tally()
    >>> for value in [0.0, 1.0, 2.0, 3.0]:
    ...     tally.add(value)
    >>> summary = tally.summary()
    >>> summary.mean, summary.max, round(summary.p50, 2)
    (1.5, 3.0, 1.0)
    """

    __slots__ = ("_buffer", "_counts", "_first", "_zeros", "count", "maximum", "record", "total")

    def __init__(self) -> None:
        self._buffer = array("d")  # (8 bytes a value: a model has thousands of tallies)
        self.record = self._buffer.append
        self._counts: np.ndarray | None = None  # buckets _first, _first + 1, ...
        self._first = 0
        self._zeros = 0
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0

    def add(self, value: float) -> None:
        """Record one observation (seconds, >= 0)."""
        buffer = self._buffer
        buffer.append(value)
        if len(buffer) >= FLUSH_SIZE:
            self.flush()

    def add_zeros(self, count: int) -> None:
        """Record `count` observations of exactly 0 (e.g. starts without waiting)."""
        self.count += count
        self._zeros += count

    def reset(self) -> None:
        """Forget everything (end of warm-up)."""
        self.__init__()  # type: ignore[misc]

    def flush(self) -> None:
        """Bin the buffered observations (their count, sum and max are exact)."""
        if not self._buffer:
            return
        values = np.array(self._buffer, dtype=np.float64)
        del self._buffer[:]
        self.count += values.size
        self.total += float(values.sum())
        self.maximum = max(self.maximum, float(values.max()))
        positive = values[values >= SMALLEST_TIME]
        self._zeros += values.size - positive.size
        if not positive.size:
            return
        index = np.floor(np.log2(positive / SMALLEST_TIME) * BUCKETS_PER_DOUBLING).astype(np.int64)
        np.clip(index, 0, _BUCKET_COUNT - 1, out=index)
        self._widen(int(index.min()), int(index.max()))
        assert self._counts is not None
        self._counts += np.bincount(index - self._first, minlength=self._counts.size)

    def _widen(self, low: int, high: int) -> None:
        """Make the histogram hold buckets `low` to `high` (keeping what it holds)."""
        counts = self._counts
        if counts is None:
            self._first, self._counts = low, np.zeros(high - low + 1, dtype=np.int64)
            return
        first, last = self._first, self._first + counts.size - 1
        if low >= first and high <= last:
            return
        first, last = min(first, low), max(last, high)
        widened = np.zeros(last - first + 1, dtype=np.int64)
        start = self._first - first
        widened[start : start + counts.size] = counts
        self._first, self._counts = first, widened

    def percentile(self, quantile: float) -> float:
        """The `quantile` (0..1) of the observations, NaN if there are none."""
        self.flush()
        if self.count == 0:
            return math.nan
        rank = quantile * self.count
        if rank <= self._zeros or self._counts is None:
            return 0.0
        cumulative = np.cumsum(self._counts) + self._zeros
        bucket = self._first + int(np.searchsorted(cumulative, rank, side="left"))
        midpoint = SMALLEST_TIME * 2.0 ** ((bucket + 0.5) / BUCKETS_PER_DOUBLING)
        return float(min(midpoint, self.maximum))

    def summary(self) -> Latency:
        """mean, p50, p90, p95, p99, p999 and max (NaN when nothing was observed)."""
        self.flush()
        if self.count == 0:
            return Latency(mean=math.nan, **{key: math.nan for key in PERCENTILES}, max=math.nan)
        percentiles = {key: self.percentile(q) for key, q in PERCENTILES.items()}
        return Latency(mean=self.total / self.count, **percentiles, max=self.maximum)
