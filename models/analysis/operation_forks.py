"""The steps that fork the walk of an operation (`models.analysis.operations`): a
`branch` runs one of its options, each walked with its probability and the segment and
stream it starts from, and their ends mixed; a `parallel` step runs every branch, each a
copy of the stream, and ends with the slowest (`forkjoin.fork_join`, from what the branches
meet on the way: `meetings.parallel_branches`, from where they meet, found once per step).

`ForkWalker` is that side of the walker, between the failure side (`FailureWalker`) and the
walker itself, which walks the steps and calls them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from models.analysis.forkjoin import fork_join
from models.analysis.meetings import parallel_branches
from models.analysis.moments import Moments
from models.analysis.operation_failures import FailureWalker
from models.analysis.segments import Segments
from models.analysis.streams import StreamTracker
from models.analysis.summary import NOT_POISSON, Part, StationView, Target, side_by_side
from models.schema import BranchStep, CallStep, ParallelStep, Step

if TYPE_CHECKING:
    from models.analysis.graph import OpKey, StationId
    from models.analysis.node_shapes import NodeShapes


class Viewer(Protocol):
    """What the forks read of the evaluator (`operations.Evaluator`): each station's view."""

    def view(self, station: StationId) -> StationView: ...


class ForkWalker(FailureWalker):
    """The forking steps of walking one node (a base of the walker, which sets these)."""

    evaluator: Viewer
    shapes: NodeShapes
    streams: StreamTracker
    segments: Segments
    concurrency: dict[Target, int]
    serial: float
    spends: bool
    rate: float
    rate_read: bool
    methods: set[str]
    key: OpKey
    own_view: StationView | None
    who: tuple[str, str]

    def walk(
        self,
        steps: Sequence[Step],
        reach: float,
        flag: int,
        copy: bool,
        root: bool,
        option: bool = False,
    ) -> Part:
        """Walk `steps` (done by the walker; `option`: a branch's option)."""
        raise NotImplementedError

    def wait_at(self, station: StationId) -> Moments:
        """The wait this node's calls see at `station` (`StationView.wait_for`)."""
        view = self.evaluator.view(station)
        return view.wait_for(station, self.own_view, self.who, self.key.priority)

    def branch(self, step: BranchStep, reach: float, flag: int, copy: bool) -> Part:
        """A `branch` step: one of its options, each from the segment and stream before."""
        before, segments, entering = self.streams.stream, self.segments, self.streams.recent
        ends, options, held, recent = [], [], [], []
        for option in step.branch:
            self.streams.stream, self.segments = before, segments.split(option.probability)
            self.streams.recent = entering
            walked = self.walk(option.steps, reach * option.probability, flag, copy, False, True)
            options.append((option.probability, walked))
            ends.append((option.probability, self.streams.stream))
            held.append(self.segments)
            called = bool(option.steps) and isinstance(option.steps[-1], CallStep | BranchStep)
            recent.append((option.probability, self.streams.recent if called else None))
        self.streams.mixed(ends)
        self.streams.after_options(recent)
        segments.join(held)
        self.segments = segments
        return Part.chosen(options, self.spends)

    def parallel(self, step: ParallelStep, reach: float, flag: int) -> Part:
        """A `parallel` step: every branch, joined by the slowest (`forkjoin.fork_join`)."""
        outer, before = self.concurrency, self.streams.stream
        parts, in_branches = [], []
        serial, added = self.serial, 0.0
        for branch in step.parallel:  # (each branch a copy of the stream; the join's is
            self.streams.stream = before  # taken as the fork's: an approximation)
            self.serial, self.concurrency = serial, {}
            parts.append(self.walk(branch, reach, flag, True, False))
            added = max(added, self.serial - serial)
            in_branches.append(self.concurrency)
        self.serial = serial + added  # (the branch with the most: `OperationSummary.waits`)
        self.streams.stream = before
        self.concurrency = side_by_side(self.scenario, outer, in_branches)
        places = self.shapes.places(step)
        view = self.evaluator.view
        branches = parallel_branches(self.scenario, step, parts, self.wait_at, view, places)
        time, method, exact = fork_join(branches, self.rate * reach)
        if len(parts) > 1:
            self.methods.add(method)
            self.rate_read = True
        success = math.prod(1.0 - part.fail for part in parts)
        return Part(
            time=time,
            fail=1.0 - success,
            passed=min(part.passed for part in parts),  # (the join waits for the scarcest)
            flag=NOT_POISSON if len(parts) > 1 else parts[0].flag,
            exact=exact and all(part.exact for part in parts),
            utilization=max(part.utilization for part in parts),
        )
