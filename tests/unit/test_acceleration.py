"""Extrapolating slow rounds (`models.analysis.acceleration`): the step lands on the fixed
point of a contraction, is taken only where the rounds shrink slowly, steadily and from one
side, and leaves the network's fixed point where it was while reaching it in fewer rounds
(deterministic: no simulation)."""

from __future__ import annotations

import math

import pytest

from models import load_scenario
from models.analysis import acceleration
from models.analysis.acceleration import (
    Extrapolation,
    differences,
    extrapolated,
    extrapolation_weight,
    same_direction,
)
from models.analysis.graph import StationId
from models.analysis.moments import Moments
from models.analysis.network import FlowSource, solve_network
from models.analysis.summary import StationView
from tests.unit.analysis_scenarios import open_sources
from tests.unit.test_capacity_slow_trials import _retrying_store

STORE = StationId("service", "store")


def _view(mean: float, loss: float = 0.0) -> StationView:
    return StationView(waiting={0: Moments(mean, mean * mean)}, loss=loss)


def test_the_weight_is_one_over_one_less_the_factor_where_changes_shrink_steadily() -> None:
    changes = [1.0, 0.9, 0.81, 0.729]
    assert extrapolation_weight(changes, damping=1.0) == pytest.approx(10.0)
    # damped rounds (x + G(x)) / 2 shrink by (1 + lambda) / 2: w = 1 / (1 - lambda) again
    damped = [1.0, 0.95, 0.9025, 0.857375]
    assert extrapolation_weight(damped, damping=0.5) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "changes",
    [
        [1.0, 0.3, 0.09, 0.027],  # fast: no help needed
        [1.0, 0.9, 0.7, 0.63],  # factors 0.78 then 0.9: not steady
        [1.0, 0.9, 0.81],  # too few rounds
        [1.0, 1.1, 1.21, 1.331],  # growing: no fixed point ahead
        [1.0, math.inf, 0.81, 0.729],  # a round whose stations changed kind
        [1.0, 0.9, 0.81, 0.0],  # settled exactly
    ],
)
def test_no_step_where_the_rounds_are_fast_unsteady_or_not_converging(
    changes: list[float],
) -> None:
    assert extrapolation_weight(changes, damping=1.0) is None


def test_the_step_lands_on_the_fixed_point_of_a_linear_contraction() -> None:
    """x_n = x* + c lambda^n in every value: one step from (x_n, x_n+1) is x*."""
    fixed, factor = {STORE: 0.004}, 0.9
    rounds = [{STORE: fixed[STORE] + 0.003 * factor**n} for n in range(2)]
    old = {STORE: _view(rounds[0][STORE])}
    new = {STORE: _view(rounds[1][STORE])}
    stepped = extrapolated(old, new, 1.0 / (1.0 - factor))
    assert stepped[STORE].waiting[0].mean == pytest.approx(fixed[STORE], rel=1e-12)


def test_a_step_keeps_waits_non_negative_and_shares_in_range() -> None:
    old = {STORE: _view(0.002, loss=0.02)}
    new = {STORE: _view(0.001, loss=0.01)}
    stepped = extrapolated(old, new, 20.0)[STORE]
    assert stepped.waiting[0].mean == 0.0 and stepped.waiting[0].variance == 0.0
    assert stepped.loss == 0.0
    grown = extrapolated(new, {STORE: _view(0.002, loss=0.6)}, 20.0)[STORE]
    assert grown.loss == 1.0


def test_oscillating_changes_do_not_point_the_same_way() -> None:
    """An oscillating mode (lambda < 0) is the damping's: the step would throw it the
    wrong way."""
    a, b, c = {STORE: (0.0, 1.0)}, {STORE: (0.0, 2.0)}, {STORE: (0.0, 1.5)}
    assert not same_direction(differences(a, b), differences(b, c))
    d = {STORE: (0.0, 1.75)}
    assert same_direction(differences(a, b), differences(b, {STORE: (0.0, 2.5)}))
    assert not same_direction(differences(b, c), differences(c, d))


def test_after_a_step_settling_is_judged_at_the_slowest_factor_seen() -> None:
    """Right after a step the changes shrink fast; `floor` keeps the factor `settled`
    measures at the one the step was taken on."""
    slow = Extrapolation()
    assert slow.floor(1e-6, 1e-3) == 1e-3
    slow.slowest = 0.9
    assert slow.floor(1e-6, 1e-3) == pytest.approx(1e-6 / 0.9)


@pytest.mark.parametrize("rate", [540.0, 570.0, 590.0])
def test_a_slowly_settling_network_reaches_the_same_fixed_point_in_fewer_rounds(
    rate: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool of 9 workers called with a 5 ms timeout and 2 retries, at 90-98% of its
    capacity (600/s): timed-out attempts feed the waiting back into the load, and the
    plain rounds shrink their change by about 0.93 a round (33-125 rounds). Extrapolated,
    the same fixed point (to 1e-9) in at most two thirds of the rounds."""
    scenario = load_scenario(_retrying_store(fault=False))
    sources = open_sources(scenario)
    shoppers = sources["shoppers"]
    sources["shoppers"] = FlowSource(rate, shoppers.scv, shoppers.flag)
    fast = solve_network(scenario, sources, max_iterations=5_000)
    monkeypatch.setattr(acceleration, "SLOW_RATIO", 1.0)  # (no factor is above it)
    plain = solve_network(scenario, sources, max_iterations=5_000)
    assert fast.converged and plain.converged
    assert not fast.saturated() and not plain.saturated()
    assert fast.iterations <= plain.iterations * 2 / 3
    for station, view in plain.views.items():
        for priority, wait in view.waiting.items():
            got = fast.views[station].waiting[priority].mean
            assert got == pytest.approx(wait.mean, rel=1e-9, abs=1e-15)
