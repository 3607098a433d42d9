"""Where the branches of a `parallel` step meet, split into what the scenario fixes and
what a round's views say: `meetings.parallel_branches` finds both at every walk of the
step, though the first is the scenario's structure (the pool each branch calls first, at
once, and the pool it calls after some work of the pool it opens with, with the mean time
before that call). `places` finds the structure (once per step, `NodeShapes.places`);
`branches` adds a round's waits and holding times to it, for the same `Branch`es as
`meetings.parallel_branches` (the same rules, `meetings.meeting` and
`meetings.later_meeting`: tests/unit/test_fork_places.py compares them).
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


class Place(NamedTuple):
    """Where one branch of a `parallel` step meets the others (the scenario's structure)."""

    meets: str | None
    """The service of one queue the branch calls first, at once and always
    (`meetings.meeting`); None where there is none."""
    later: tuple[str, float] | None
    """The service of one queue it calls always after some work of the pool it opens
    with, and the mean time before that call (`meetings.later_meeting`); None where there
    is none."""


def places(scenario: Scenario, step: ParallelStep) -> tuple[Place, ...]:
    """Per branch of `step`, where it meets the others (`Place`)."""
    return tuple(
        Place(_meets(scenario, branch), _later(scenario, branch)) for branch in step.parallel
    )


def _meets(scenario: Scenario, branch: Sequence[Step]) -> str | None:
    """`meetings.meeting`'s service."""
    found = first_pool_call(scenario, branch)
    if found is None or found[3] or found[1] < 1.0:
        return None
    service = found[0].call.service
    return service if one_queue(scenario.services[service]) else None


def _later(scenario: Scenario, branch: Sequence[Step]) -> tuple[str, float] | None:
    """`meetings.later_meeting`'s service and time before the call."""
    found = [
        (service, time)
        for service, members in spread_calls(scenario, [branch]).items()
        for made, time in members
        if made >= 1.0 and one_queue(scenario.services[service])
    ]
    return found[0] if found else None


def branches(
    scenario: Scenario,
    step: ParallelStep,
    found: Sequence[Place],
    parts: Sequence[Part],
    wait_of: Callable[[StationId], Moments],
    view_of: Callable[[StationId], StationView],
) -> list[Branch]:
    """The branches of `step` (whose places are `found`, its branches' walked `parts`) as
    its join sees them: `meetings.parallel_branches` (`wait_of`: a service's wait, as the
    branch's call sees it; `view_of`: a station's view, this round's)."""
    made = []
    for part, steps, place in zip(parts, step.parallel, found, strict=True):
        meets = later = None
        if place.meets is not None:
            meets = Meeting(place.meets, wait_of(StationId("service", place.meets)))
        if place.later is not None:
            service, time = place.later
            station = StationId("service", service)
            spec, view = scenario.services[service], view_of(station)
            servers = (workers_of(spec) or 0) * spec.replicas  # (one queue: all its replicas')
            holding = (
                view.utilization * servers / view.arrival_rate if view.arrival_rate > 0 else 0.0
            )
            later = Meeting(service, wait_of(station), time, holding)
        mm1 = part.mm1 if len(steps) == 1 else None
        made.append(Branch(part.time, part.utilization, mm1, part.exact, meets, later))
    return made
