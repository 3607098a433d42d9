"""The join of branches whose first calls, made at once, meet at one pool
(`models.analysis.forkjoin._at_one_pool`, `models.analysis.meetings.meeting`)."""

from __future__ import annotations

from typing import Any

import pytest

from models import load_scenario
from models.analysis.forkjoin import Branch, Meeting, fork_join
from models.analysis.meetings import later_meeting, meeting
from models.analysis.moments import Moments, expected_maximum
from models.analysis.summary import StationView
from models.schema import ParallelStep

WAIT = Moments(0.004, 0.004**2)
"""The pool's wait, exponential 4 ms."""


def _branch(mean: float, meets: str | None) -> Branch:
    time = Moments(mean, mean**2)  # (exponential)
    return Branch(time, 0.7, None, False, None if meets is None else Meeting(meets, WAIT))


def test_branches_meeting_at_one_pool_wait_once() -> None:
    """Two branches of 6 ms meeting at `db` (4 ms of it the shared wait): the wait once,
    then the larger of the two 2 ms remainders (variance less the wait's)."""
    time, method, exact = fork_join([_branch(0.006, "db"), _branch(0.006, "db")], 100.0)
    rest = Moments(0.002, 0.006**2 - 0.004**2)
    assert time.mean == pytest.approx(0.004 + expected_maximum([(1, rest), (1, rest)]).mean)
    assert method == "fork-join of branches that meet at one pool" and not exact


def test_branches_at_different_pools_stay_independent() -> None:
    """Branches meeting nowhere, or each at a pool of its own, join as before."""
    apart = [_branch(0.006, "db"), _branch(0.006, "cache")]
    alone = [_branch(0.006, None), _branch(0.006, None)]
    assert fork_join(apart, 100.0) == fork_join(alone, 100.0)
    together, _, _ = fork_join([_branch(0.006, "db"), _branch(0.006, "db")], 100.0)
    assert together.mean < fork_join(alone, 100.0)[0].mean


def _page(steps: list[Any], db: dict[str, Any], users: list[Any] | None = None) -> Any:
    return load_scenario(
        {
            "name": "meeting",
            "simulation": {"duration": 10},
            "services": {
                "page": {"workers": "unlimited", "operations": {"get": [{"parallel": steps}]}},
                "users": {
                    "workers": "unlimited" if users is None else 4,
                    "operations": {"get": users or [{"call": "db"}]},
                },
                "db": {"operations": {"read": [{"work": {"exponential": 0.002}}]}, **db},
            },
            "workload": {"f": {"entry": "page.get", "arrivals": {"poisson": 50}}},
        }
    )


@pytest.mark.parametrize(
    ("branch", "db", "meets"),
    [
        ([{"call": "db"}], {"workers": 1}, True),  # at once
        ([{"call": "users"}], {"workers": 1}, True),  # through unlimited workers
        ([{"call": "db"}], {"workers": 1, "replicas": 2, "balancing": "shared"}, True),
        ([{"call": "db"}], {"workers": 1, "replicas": 2}, False),  # each its own queue
        ([{"work": {"constant": 0.001}}, {"call": "db"}], {"workers": 1}, False),  # later
        ([{"call": {"service": "db", "probability": 0.5}}], {"workers": 1}, False),  # maybe
    ],
)
def test_where_a_branch_meets_its_siblings(
    branch: list[Any], db: dict[str, Any], meets: bool
) -> None:
    scenario = _page([branch, branch], db)
    step = scenario.services["page"].operations["get"][0]
    assert isinstance(step, ParallelStep)
    found = meeting(scenario, step.parallel[0], lambda station: WAIT)
    assert found == (Meeting("db", WAIT) if meets else None)


def test_branches_meeting_after_some_work_wait_alike_as_often_as_they_meet() -> None:
    """Two branches reaching `db` after 2 ms of work elsewhere, `db` holding 2 ms: they
    meet half the time (`fan_out.overlap`: 2 / (2 + 2)), and the join is half the merged
    branch, half the independent ones' (the method below)."""
    spread = Meeting("db", WAIT, spread=0.002, holding=0.002)
    time = Moments(0.006, 0.006**2)
    members = [Branch(time, 0.7, None, False, None, spread)] * 2
    joined, _, _ = fork_join(members, 100.0)
    together, _, _ = fork_join([_branch(0.006, "db"), _branch(0.006, "db")], 100.0)
    apart, _, _ = fork_join([_branch(0.006, None), _branch(0.006, None)], 100.0)
    assert joined.mean == pytest.approx(0.5 * together.mean + 0.5 * apart.mean)


@pytest.mark.parametrize(("made", "meets"), [(1.0, True), (0.5, False)])
def test_a_branch_meets_after_some_work_only_where_it_always_calls(
    made: float, meets: bool
) -> None:
    """`later_meeting`: `users` works 1 ms, then reads `db` (always, or half the time);
    `db`, one worker half busy at 250/s, holds 2 ms."""
    users = [
        {"work": {"constant": 0.001}},
        {"call": {"service": "db", "probability": made}},
    ]
    scenario = _page([[{"call": "users"}], [{"call": "db"}]], {"workers": 1}, users)
    step = scenario.services["page"].operations["get"][0]
    assert isinstance(step, ParallelStep)
    view = StationView(utilization=0.5, arrival_rate=250.0)
    found = later_meeting(scenario, step.parallel[0], lambda station: WAIT, lambda station: view)
    assert found == (Meeting("db", WAIT, 0.001, 0.002) if meets else None)
