"""Where the branches of a `parallel` step meet: the pool each calls first, at once, or
after some work of the pool it opens with, where its call may wait in one queue with its
siblings' (`forkjoin.Branch.meets` and `later`: their join takes them together,
`forkjoin._at_one_pool`). The arrivals' side of the same groups is
`models.analysis.fan_out`'s.

Where they meet is the scenario's structure (`places`, found once per step:
`NodeShapes.places`); what they meet there is a round's (`meetings_at`: the pool's wait
and holding time, from that round's views).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from models.analysis.fan_out import first_pool_call, spread_calls
from models.analysis.forkjoin import Branch, Meeting
from models.analysis.graph import StationId, one_queue, workers_of
from models.analysis.moments import Moments
from models.analysis.summary import Part, StationView
from models.schema import ParallelStep, Scenario, Step

WaitOf = Callable[[StationId], Moments]
"""A service's wait, this round's, as a branch's call sees it."""
ViewOf = Callable[[StationId], StationView]
"""A station's view, this round's."""


class Place(NamedTuple):
    """Where one branch of a `parallel` step meets the others (the scenario's structure)."""

    meets: str | None
    """The service of one queue the branch calls first, at once and always (`meeting`);
    None where there is none."""
    later: tuple[str, float] | None
    """The service of one queue it calls always after some work of the pool it opens
    with, and the mean time before that call (`later_meeting`); None where there is
    none."""


def places(scenario: Scenario, step: ParallelStep) -> tuple[Place, ...]:
    """Per branch of `step`, where it meets the others (`Place`)."""
    return tuple(_place(scenario, branch) for branch in step.parallel)


def _place(scenario: Scenario, branch: Sequence[Step]) -> Place:
    """Where `branch` calls a pool first, at once (after publishes, or through services
    of unlimited workers) and always, if it does and that pool is one (one replica, or
    replicas sharing a queue); and where it calls one such pool always after some work of
    the pool it opens with (`fan_out.spread_calls`), with the mean time before that call."""
    meets = None
    found = first_pool_call(scenario, branch)
    if found is not None and not found[3] and found[1] >= 1.0:
        service = found[0].call.service
        meets = service if one_queue(scenario.services[service]) else None
    later = [
        (service, time)
        for service, members in spread_calls(scenario, [branch]).items()
        for made, time in members
        if made >= 1.0 and one_queue(scenario.services[service])
    ]
    return Place(meets, later[0] if later else None)


def meetings_at(
    scenario: Scenario, place: Place, wait_of: WaitOf, view_of: ViewOf
) -> tuple[Meeting | None, Meeting | None]:
    """What a branch that meets the others at `place` meets there this round: the pool it
    calls first (`Branch.meets`: its wait), and the pool it calls after some work
    (`Branch.later`: its wait, the mean time before the call, and the pool's mean holding
    time, its busy servers over its arrival rate)."""
    meets = later = None
    if place.meets is not None:
        meets = Meeting(place.meets, wait_of(StationId("service", place.meets)))
    if place.later is not None:
        service, time = place.later
        station = StationId("service", service)
        spec, view = scenario.services[service], view_of(station)
        servers = (workers_of(spec) or 0) * spec.replicas  # (one queue: all its replicas')
        holding = view.utilization * servers / view.arrival_rate if view.arrival_rate > 0 else 0.0
        later = Meeting(service, wait_of(station), time, holding)
    return meets, later


def parallel_branches(
    scenario: Scenario,
    step: ParallelStep,
    parts: Sequence[Part],
    wait_of: WaitOf,
    view_of: ViewOf,
    found: Sequence[Place] | None = None,
) -> list[Branch]:
    """The branches of `step` as its join sees them (`forkjoin.fork_join`): each one's
    walked part (an M/M/1 call where it is one call) and what it meets the others at
    (`meetings_at`; `found`: the step's `places`, if found before)."""
    found = places(scenario, step) if found is None else found
    made = []
    for part, steps, place in zip(parts, step.parallel, found, strict=True):
        meets, later = meetings_at(scenario, place, wait_of, view_of)
        mm1 = part.mm1 if len(steps) == 1 else None
        made.append(Branch(part.time, part.utilization, mm1, part.exact, meets, later))
    return made


def meetings_of(
    scenario: Scenario, step: ParallelStep, wait_of: WaitOf, view_of: ViewOf
) -> list[tuple[Meeting | None, Meeting | None]]:
    """Per branch of `step`, what it meets the others at, at once and after some work
    (`meetings_at`): `Branch.meets` and `Branch.later`."""
    return [meetings_at(scenario, place, wait_of, view_of) for place in places(scenario, step)]


def meeting(scenario: Scenario, branch: Sequence[Step], wait_of: WaitOf) -> Meeting | None:
    """The pool `branch` calls first, at once and always, if that pool is one, with its
    wait this round (`Branch.meets`)."""
    place = _place(scenario, branch)
    return meetings_at(scenario, place._replace(later=None), wait_of, _no_view)[0]


def later_meeting(
    scenario: Scenario, branch: Sequence[Step], wait_of: WaitOf, view_of: ViewOf
) -> Meeting | None:
    """The pool `branch` calls always after some work of the pool it opens with, if that
    pool is one, as it is this round (`Branch.later`)."""
    place = _place(scenario, branch)
    return meetings_at(scenario, place._replace(meets=None), wait_of, view_of)[1]


def _no_view(station: StationId) -> StationView:
    """No view is read where a branch meets no pool after some work."""
    raise AssertionError(f"no view of {station} is needed")
