"""Where the branches of a `parallel` step meet: the pool each calls first, at once, or
after some work of the pool it opens with, where its call may wait in one queue with its
siblings' (`forkjoin.Branch.meets` and `later`: their join takes them together,
`forkjoin._at_one_pool`). The arrivals' side of the same groups is
`models.analysis.fan_out`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from models.analysis.fan_out import first_pool_call, spread_calls
from models.analysis.forkjoin import Branch, Meeting
from models.analysis.graph import StationId, one_queue, workers_of
from models.analysis.moments import Moments
from models.analysis.summary import Part, StationView
from models.schema import ParallelStep, Scenario, Step


def parallel_branches(
    scenario: Scenario,
    step: ParallelStep,
    parts: Sequence[Part],
    wait_of: Callable[[StationId], Moments],
    view_of: Callable[[StationId], StationView],
) -> list[Branch]:
    """The branches of `step` as its join sees them (`forkjoin.fork_join`): each one's
    walked part (an M/M/1 call where it is one call) and where it meets the others
    (`meetings_of`)."""
    return [
        Branch(part.time, part.utilization, part.mm1 if len(steps) == 1 else None, part.exact, *at)
        for part, steps, at in zip(
            parts, step.parallel, meetings_of(scenario, step, wait_of, view_of), strict=True
        )
    ]


def meetings_of(
    scenario: Scenario,
    step: ParallelStep,
    wait_of: Callable[[StationId], Moments],
    view_of: Callable[[StationId], StationView],
) -> list[tuple[Meeting | None, Meeting | None]]:
    """Per branch of `step`, where it meets the others at once (`meeting`) and after some
    work (`later_meeting`): `Branch.meets` and `Branch.later`."""
    return [
        (meeting(scenario, branch, wait_of), later_meeting(scenario, branch, wait_of, view_of))
        for branch in step.parallel
    ]


def meeting(
    scenario: Scenario, branch: Sequence[Step], wait_of: Callable[[StationId], Moments]
) -> Meeting | None:
    """Where a `parallel` step's branch calls a pool first, at once (after publishes, or
    through services of unlimited workers) and always, if it does and that pool is one (one
    replica, or replicas sharing a queue): the join's `Branch.meets` (`wait_of`: a
    service's wait, this round's, as the branch's call sees it)."""
    found = first_pool_call(scenario, branch)
    if found is None or found[3] or found[1] < 1.0:
        return None
    service = found[0].call.service
    if not one_queue(scenario.services[service]):
        return None
    return Meeting(service, wait_of(StationId("service", service)))


def later_meeting(
    scenario: Scenario,
    branch: Sequence[Step],
    wait_of: Callable[[StationId], Moments],
    view_of: Callable[[StationId], StationView],
) -> Meeting | None:
    """Where a branch calls a pool always after some work of the pool it opens with
    (`fan_out.spread_calls`), if that pool is one: with the mean time before the call and
    the pool's mean holding time (its busy servers over its arrival rate, `view_of`: a
    service's view, this round's)."""
    found = [
        (service, time)
        for service, members in spread_calls(scenario, [branch]).items()
        for made, time in members
        if made >= 1.0 and one_queue(scenario.services[service])
    ]
    if not found:
        return None
    service, time = found[0]
    spec, view = scenario.services[service], view_of(StationId("service", service))
    servers = (workers_of(spec) or 0) * spec.replicas  # (one queue: all its replicas')
    holding = view.utilization * servers / view.arrival_rate if view.arrival_rate > 0 else 0.0
    return Meeting(service, wait_of(StationId("service", service)), time, holding)
