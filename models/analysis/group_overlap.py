"""How often the members of a group meet at a pool: the probability that one is still held
there when the next arrives (`models.analysis.fan_out`'s groups count whole that often,
their members alone otherwise). Members spread by exponential work are an exponential
gap apart (`overlap`); messages one execution publishes one after the other are apart by
the stretches of time between them (`run_overlap`); a member that waits for a pool on its
way arrives later by that wait too (`waits_on_the_way`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from models.analysis.graph import OpKey
from models.analysis.moments import Moments
from models.analysis.summary import OperationSummary


@dataclass(frozen=True)
class Stretch:
    """A stretch of time between an execution's start and a message it publishes: its own
    steps' time, or a call's (made with `probability`), whose response each round reads
    from the callee's summary (`callee`)."""

    own: Moments
    """The time from the steps' own work (a call's: its operation's, waiting nowhere)."""
    callee: OpKey | None = None
    probability: float = 1.0


Path = tuple[Stretch, ...]
"""The stretches from an execution's start to a point of it, in order."""


def run_overlap(
    paths: Sequence[Path], holding: float, summaries: Mapping[OpKey, OperationSummary]
) -> float:
    """The probability that of two messages one execution publishes one after the other
    (`paths`: each one's stretches from its start, in order) the first is still held by a
    consumer (exponentially, for a mean `holding`) when the second arrives, averaged over
    each message and the next: E[exp(−gap / holding)], the gap the stretches on the second
    one's path past those the two share (scaled to the difference of their mean offsets,
    where a parallel branch put the first on a path of its own), each a gamma law of its
    mean and SCV, (1 + scv m / holding)^(−1 / scv) (exp(−m / holding) for a constant),
    independent (one of infinite variance as exponential); a call's stretch its callee's
    response this round, made with its probability (else no time)."""
    if holding <= 0.0:
        return 0.0

    def timed(stretch: Stretch) -> Moments:
        summary = None if stretch.callee is None else summaries.get(stretch.callee)
        if summary is None or not summary.response.finite:
            return stretch.own
        return summary.response

    def mean(path: Path) -> float:
        return math.fsum(stretch.probability * timed(stretch).mean for stretch in path)

    outlasts = []
    for earlier, later in pairwise(paths):
        shared = 0
        for a, b in zip(earlier, later, strict=False):
            if a != b:
                break
            shared += 1
        rest = later[shared:]
        total = mean(rest)
        scale = min(max(mean(later) - mean(earlier), 0.0) / total, 1.0) if total > 0 else 0.0
        product = 1.0
        for stretch in rest:
            time = timed(stretch)
            m, scv = time.mean * scale, time.scv if time.mean > 0 else 0.0
            if not math.isfinite(scv):
                scv = 1.0  # (infinite variance: taken as exponential)
            if scv > 0.0:
                passed = math.exp(-math.log1p(scv * m / holding) / scv)
            else:
                passed = math.exp(-m / holding)
            product *= 1.0 - stretch.probability + stretch.probability * passed
        outlasts.append(product)
    return math.fsum(outlasts) / len(outlasts)


def waits_on_the_way(
    via: Sequence[OpKey | None], summaries: Mapping[OpKey, OperationSummary]
) -> float:
    """The mean wait of a group's spread members at the pools they work in before they
    arrive (`FanOut.via`): each operation's response less its execution, this round's
    (inf where a pool has no steady state: the group never meets)."""
    waits = []
    for key in via:
        summary = None if key is None else summaries.get(key)
        if summary is None:
            continue
        response, execution = summary.response.mean, summary.execution.mean
        if not math.isfinite(response):
            return math.inf
        waits.append(max(response - execution, 0.0) if math.isfinite(execution) else 0.0)
    return math.fsum(waits) / len(via) if via and waits else 0.0


def overlap(holding: float, spread: float) -> float:
    """The probability that of two members of a group, each arriving after its own work of
    mean `spread` (exponential), the first is still held (for a time of mean `holding`,
    exponential) when the second arrives: the gap between them is exponential of mean
    `spread`, so E[exp(-gap / holding)] = holding / (holding + spread)."""
    return holding / (holding + spread) if holding > 0.0 else 0.0
