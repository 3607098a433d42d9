"""`fork_places.branches`, from the places found once per step, gives the branches that
`meetings.parallel_branches` finds at every walk."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import load_scenario
from models.analysis.fork_places import branches, places
from models.analysis.graph import StationId
from models.analysis.meetings import parallel_branches
from models.analysis.moments import Moments
from models.analysis.summary import Part, StationView
from models.schema import BranchStep, ParallelStep, Step

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


@pytest.mark.parametrize("name", FILES)
def test_branches_as_meetings_finds_them(name: str) -> None:
    scenario = load_scenario(ROOT / name)
    steps = [
        step
        for service in scenario.services.values()
        for operation in service.operations.values()
        for step in _parallel_steps(operation)
    ]
    assert steps
    for step in steps:
        parts = [
            Part(time=Moments(0.01 * (i + 1), 1e-4), utilization=0.3, mm1=(1.0, 2.0))
            for i in range(len(step.parallel))
        ]
        expected = parallel_branches(scenario, step, parts, _wait, _view)
        found = branches(scenario, step, places(scenario, step), parts, _wait, _view)
        assert found == expected
