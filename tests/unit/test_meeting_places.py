"""Where the branches of a `parallel` step meet (`meetings.places`, found once per step)
and what they meet there in a round (`meetings.parallel_branches`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import load_scenario
from models.analysis.forkjoin import Meeting
from models.analysis.graph import StationId
from models.analysis.meetings import Place, parallel_branches, places
from models.analysis.moments import Moments
from models.analysis.summary import Part, StationView
from models.schema import BranchStep, ParallelStep, Scenario, Step

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    "scenarios/api_aggregator.yaml",
    "scenarios/scatter_gather.yaml",
    "tests/data/analysis_regression/f_fork_join_60.yaml",
    "tests/data/analysis_regression/j1_social_network_60.yaml",
    "tests/data/analysis_regression/j3_sock_shop_60.yaml",
    "tests/data/analysis_regression/j4_train_ticket_60.yaml",
    "tests/data/analysis_regression/j5_alibaba_random_60.yaml",
]


def _parallel_steps(steps: list[Step]) -> list[ParallelStep]:
    found: list[ParallelStep] = []
    for step in steps:
        if isinstance(step, ParallelStep):
            found.append(step)
            for branch in step.parallel:
                found.extend(_parallel_steps(branch))
        elif isinstance(step, BranchStep):
            for option in step.branch:
                found.extend(_parallel_steps(option.steps))
    return found


def _view(station: StationId) -> StationView:
    """A view that differs from station to station."""
    size = float(len(station[1]))
    return StationView(
        waiting={0: Moments(0.001 * size, 1e-6)}, utilization=0.1 * size, arrival_rate=size
    )


def _wait(station: StationId) -> Moments:
    return Moments(0.002 * len(station[1]), 4e-6)


EXPECTED = {
    # three calls of catalogue-db at once (one pool of 4 workers)
    ("scenarios/scatter_gather.yaml", "product-page", "render"): (Place("catalogue-db", None),) * 3,
    ("tests/data/analysis_regression/f_fork_join_60.yaml", "api", "page"): (
        Place("inventory", None),
        Place("pricing", None),
        Place("reviews", None),
    ),
    # each branch calls `user` (or `carts`) at once, whose operation reads its database
    # after 0.5 ms (1 ms) of work
    ("tests/data/analysis_regression/j3_sock_shop_60.yaml", "orders", "create"): (
        *(Place("user", ("user-db", 0.0005)),) * 3,
        Place("carts", ("carts-db", 0.001)),
    ),
}


def _steps(name: str, service: str, operation: str) -> tuple[Scenario, list[ParallelStep]]:
    scenario = load_scenario(ROOT / name)
    return scenario, _parallel_steps(scenario.services[service].operations[operation])


@pytest.mark.parametrize("where", sorted(EXPECTED))
def test_the_places_are_the_pools_the_branches_call(where: tuple[str, str, str]) -> None:
    scenario, (step,) = _steps(*where)
    assert places(scenario, step) == EXPECTED[where]


def test_a_round_meets_the_pools_with_their_waits_and_holding_times() -> None:
    scenario, (step,) = _steps(
        "tests/data/analysis_regression/j3_sock_shop_60.yaml", "orders", "create"
    )
    parts = [
        Part(time=Moments(0.01 * (i + 1), 1e-4), utilization=0.3, mm1=(1.0, 2.0))
        for i in range(len(step.parallel))
    ]
    found = parallel_branches(scenario, step, parts, _wait, _view, places(scenario, step))
    assert found == parallel_branches(scenario, step, parts, _wait, _view)
    user_db = _view(StationId("service", "user-db"))
    servers = 4  # (user-db: one replica of 4 workers)
    assert found[0].meets == Meeting("user", _wait(StationId("service", "user")))
    assert found[0].later == Meeting(
        "user-db",
        _wait(StationId("service", "user-db")),
        0.0005,
        user_db.utilization * servers / user_db.arrival_rate,
    )
    assert [branch.time for branch in found] == [part.time for part in parts]
