"""Where the branches of a `parallel` step meet: the pool each calls first, at once, where
its call may wait in one queue with its siblings' (`forkjoin.Branch.meets`: their join
takes them together, `forkjoin._at_one_pool`). The arrivals' side of the same groups is
`models.analysis.fan_out`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from models.analysis.fan_out import first_pool_call
from models.analysis.forkjoin import Branch, Meeting
from models.analysis.moments import Moments
from models.analysis.summary import Part
from models.schema import ParallelStep, Scenario, Step


def parallel_branches(
    scenario: Scenario,
    step: ParallelStep,
    parts: Sequence[Part],
    wait_of: Callable[[str], Moments],
) -> list[Branch]:
    """The branches of `step` as its join sees them (`forkjoin.fork_join`): each one's
    walked part (an M/M/1 call where it is one call) and where it meets the others
    (`meeting`)."""
    return [
        Branch(
            part.time,
            part.utilization,
            part.mm1 if len(steps) == 1 else None,
            part.exact,
            meeting(scenario, steps, wait_of),
        )
        for part, steps in zip(parts, step.parallel, strict=True)
    ]


def meeting(
    scenario: Scenario, branch: Sequence[Step], wait_of: Callable[[str], Moments]
) -> Meeting | None:
    """Where a `parallel` step's branch calls a pool first, at once (after publishes, or
    through services of unlimited workers) and always, if it does and that pool is one (one
    replica, or replicas sharing a queue): the join's `Branch.meets` (`wait_of`: a
    service's wait, this round's, as the branch's call sees it)."""
    found = first_pool_call(scenario, branch)
    if found is None or found[3] or found[1] < 1.0:
        return None
    call = found[0]
    spec = scenario.services[call.call.service]
    if spec.replicas > 1 and spec.balancing != "shared":
        return None
    return Meeting(call.call.service, wait_of(call.call.service))
