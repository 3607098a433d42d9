"""The segments of an async-I/O worker's holds (`models.analysis.segments`), against the
outcomes enumerated by hand, and the pool's holding time built from them
(`operations.Walker.run`): deterministic."""

from __future__ import annotations

import pytest

from models import load_scenario
from models.analysis.moments import Moments
from models.analysis.network import FlowSource, solve_network
from models.analysis.segments import Segments
from tests.theory.scenarios import event_loop


def _exponential(mean: float) -> Moments:
    return Moments(mean, mean * mean)


def test_a_branch_that_calls_splits_the_hold_and_one_that_works_does_not() -> None:
    """work 4; branch(0.4: call | 0.6: work 3); work 2, all exponential. Outcomes: 0.4 two
    holds (4, then 2: E[T^2] 32 and 8), 0.6 one hold of 4 + 3 + 2 (variance 29, mean 9:
    E[T^2] 110): E[sum of T^2] = 0.4 (32 + 8) + 0.6 x 110 = 82. Weighting the segments by
    their probability as if each were always taken said otherwise."""
    segments = Segments()
    segments.work(_exponential(4.0))
    calls, works = segments.split(0.4), segments.split(0.6)
    calls.release(1.0, 1.0)
    works.work(_exponential(3.0))
    segments.join([calls, works])
    segments.work(_exponential(2.0))
    assert segments.total() == pytest.approx(0.4 * (32 + 8) + 0.6 * 110)


def test_a_call_made_now_and_then_ends_its_share_of_the_segment() -> None:
    """work 2 (constant); a call made with probability 0.25; work 1 (constant): 0.25 of
    the time holds 2 and 1 (4 + 1), else one hold of 3 (9): 0.25 x 5 + 0.75 x 9 = 8."""
    segments = Segments()
    segments.work(Moments(2.0, 0.0))
    segments.release(0.25, 1.0)
    segments.work(Moments(1.0, 0.0))
    assert segments.total() == pytest.approx(0.25 * 5 + 0.75 * 9)


def test_a_failure_ends_the_execution_and_its_segment() -> None:
    """work 2; fail 0.5; work 1 (constant): half hold 2 (4), half 3 (9): 6.5."""
    segments = Segments()
    segments.work(Moments(2.0, 0.0))
    segments.end(0.5)
    segments.work(Moments(1.0, 0.0))
    assert segments.total() == pytest.approx(0.5 * 4 + 0.5 * 9)


def test_the_event_loop_holds_each_acquisition_for_its_segment() -> None:
    """The operation above at an event loop (one async worker): 1.4 acquisitions a
    request, holding 7.8 / 1.4 ms on average with E[T^2] = 82 / 1.4 ms^2 each."""
    scenario = load_scenario(event_loop(60))
    solution = solve_network(scenario, {"users": FlowSource(70.0, 1.0, 0)})
    (summary,) = [s for k, s in solution.summaries.items() if k.name == "node"]
    assert summary.acquisitions == pytest.approx(1.4)
    per = summary.acquisitions
    mean = summary.holding.mean / per
    second = summary.holding.variance / per + mean**2
    assert mean == pytest.approx(0.0078 / 1.4)
    assert second == pytest.approx(82e-6 / 1.4)
