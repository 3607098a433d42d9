"""Extrapolating slow rounds (`models.analysis.acceleration`): the step lands on the fixed
point of a contraction, is taken only where the rounds shrink slowly, steadily and from one
side, and leaves the network's fixed point where it was while reaching it in fewer rounds
(deterministic: no simulation)."""

from __future__ import annotations

import itertools
import math

import pytest

from models import load_scenario
from models.analysis import acceleration
from models.analysis.acceleration import (
    Extrapolation,
    differences,
    extrapolation_weight,
    same_direction,
    stepped,
)
from models.analysis.graph import StationId
from models.analysis.moments import Moments
from models.analysis.network import FlowSource, solve_network
from models.analysis.summary import StationView
from models.analysis.throttle import Throttle
from tests.unit.analysis_scenarios import api_over_database, open_sources
from tests.unit.test_capacity_slow_trials import _retrying_store

STORE = StationId("service", "store")


def _view(mean: float, loss: float = 0.0) -> StationView:
    return StationView(waiting={0: Moments(mean, mean * mean)}, loss=loss)


def test_the_weight_is_one_over_one_less_the_factor_where_changes_shrink_steadily() -> None:
    changes = [0.04, 0.036, 0.0324, 0.02916]
    assert extrapolation_weight(changes, damping=1.0) == pytest.approx(10.0)
    # damped rounds (x + G(x)) / 2 shrink by (1 + lambda) / 2: w = 1 / (1 - lambda) again
    damped = [0.04, 0.038, 0.0361, 0.034295]
    assert extrapolation_weight(damped, damping=0.5) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "changes",
    [
        [0.01, 0.003, 0.0009, 0.00027],  # fast: no help needed
        [0.01, 0.009, 0.007, 0.0063],  # factors 0.78 then 0.9: not steady
        [0.01, 0.009, 0.0081],  # too few rounds
        [0.01, 0.011, 0.0121, 0.01331],  # growing: no fixed point ahead
        [0.01, 0.01, 0.01008, 0.009768],  # grew, then shrank (by 0.969): no steady factor
        [0.01, math.inf, 0.0081, 0.00729],  # a round whose stations changed kind
        [0.01, 0.009, 0.0081, 0.0],  # settled exactly
        [0.4, 0.36, 0.324, 0.2916],  # changes of 30%: not yet linear in the error
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
    landed = stepped(old, new, 1.0 / (1.0 - factor))
    assert landed[STORE].waiting[0].mean == pytest.approx(fixed[STORE], rel=1e-12)


def test_a_step_of_one_half_is_the_network_s_damping_the_average_to_the_bit() -> None:
    old = {STORE: StationView(waiting={0: Moments(0.1, 0.3)}, loss=0.1, served={0: 0.7})}
    new = {STORE: StationView(waiting={0: Moments(0.2, 0.7)}, loss=0.3, served={0: 0.9})}
    halfway = stepped(old, new, 0.5)[STORE]
    assert halfway.waiting[0].mean == (0.1 + 0.2) / 2
    assert halfway.waiting[0].variance == (0.3 + 0.7) / 2
    assert halfway.loss == (0.1 + 0.3) / 2
    assert halfway.served_share(0) == (0.7 + 0.9) / 2


def test_a_step_keeps_waits_non_negative_and_shares_in_range() -> None:
    old = {STORE: _view(0.002, loss=0.02)}
    new = {STORE: _view(0.001, loss=0.01)}
    landed = stepped(old, new, 20.0)[STORE]
    assert landed.waiting[0].mean == 0.0 and landed.waiting[0].variance == 0.0
    assert landed.loss == 0.0
    grown = stepped(new, {STORE: _view(0.002, loss=0.6)}, 20.0)[STORE]
    assert grown.loss == 1.0


def test_oscillating_changes_do_not_point_the_same_way() -> None:
    """An oscillating mode (lambda < 0) is the damping's: the step would throw it the
    wrong way."""
    a, b, c = {STORE: (0.0, 1.0)}, {STORE: (0.0, 2.0)}, {STORE: (0.0, 1.5)}
    assert not same_direction(differences(a, b), differences(b, c))
    d = {STORE: (0.0, 1.75)}
    assert same_direction(differences(a, b), differences(b, {STORE: (0.0, 2.5)}))
    assert not same_direction(differences(b, c), differences(c, d))


def _drive(slow: Extrapolation, values: list[float]) -> list[bool]:
    """Feed `slow` rounds whose one value goes through `values` (each round from the one
    before), and say for each whether a step was taken."""
    taken = []
    for before, after in itertools.pairwise(values):
        old, new = {STORE: (before,)}, {STORE: (after,)}
        change = abs(after - before) / max(abs(before), abs(after))
        step = slow.step({STORE: _view(before)}, {STORE: _view(after)}, old, new, change, 1.0)
        taken.append(step is not None)
    return taken


def test_a_step_that_does_not_bring_the_rounds_closer_is_the_last() -> None:
    """Near a fold the changes shrink steadily for a while and grow again: a step whose
    next change is no smaller than the one it was taken on ends the steps."""
    converging = [1.0 + 0.01 * 0.9**n for n in range(5)]
    slow = Extrapolation()
    assert _drive(slow, converging) == [False, False, False, True]
    assert not slow.failed
    away = [converging[-1], converging[-1] * 1.05]  # (the next change: 5%, larger)
    assert _drive(slow, away) == [False]
    assert slow.failed
    again = [1.1 + 0.01 * 0.9**n for n in range(8)]
    assert not any(_drive(slow, again))


def test_after_a_step_settling_is_judged_at_the_slowest_factor_seen() -> None:
    """Right after a step the changes shrink fast; `floor` keeps the factor `settled`
    measures at the one the step was taken on."""
    slow = Extrapolation()
    assert slow.floor(1e-6, 1e-3) == 1e-3
    slow.slowest = 0.9
    assert slow.floor(1e-6, 1e-3) == pytest.approx(1e-6 / 0.9)


@pytest.mark.parametrize("rate", [560.0, 580.0, 600.0])
def test_a_slowly_settling_network_reaches_the_same_fixed_point_in_fewer_rounds(
    rate: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool of 9 workers called with a 5 ms timeout and 2 retries, at 93-99.7% of its
    capacity (602/s): timed-out attempts feed the waiting back into the load, and the
    plain rounds shrink their change by about 0.93 a round (46-95 rounds). Extrapolated,
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


def test_rounds_that_pass_the_ghost_of_a_fixed_point_are_left_to_run_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An API of 4 workers calling a one-server database (10 ms) with a 50 ms timeout and
    a retry, at 61.5/s: each timeout adds a retry to a database already 60% busy, so the
    load its rounds head for is past its capacity (a retry storm, just past the fold:
    the plain rounds settle up to about 58/s and wander without settling from 60/s). The
    rounds slow down near where a fixed point would be and run off again; steps there kept
    them circling a point that was none, with the API 33% busy. Extrapolated or not, the
    rounds end where the plain ones do."""
    scenario = load_scenario(api_over_database(61.5))
    sources = open_sources(scenario)
    fast = solve_network(scenario, sources, throttle=Throttle())
    monkeypatch.setattr(acceleration, "SLOW_RATIO", 1.0)
    plain = solve_network(scenario, sources, throttle=Throttle())
    assert not fast.converged and not plain.converged
    assert fast.saturated() == plain.saturated()
    for name, station in plain.services.items():
        assert fast.services[name].solution.utilization == station.solution.utilization
