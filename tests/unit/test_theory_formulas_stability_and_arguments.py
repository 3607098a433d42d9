"""Unit tests of `models.theory` over all its single-station formulas: no mean is ever
negative or NaN (hypothesis), overload is flagged unstable with infinite means while loss
systems stay stable, invalid arguments are refused naming the argument, the rule and the
value; and `models.theory.__all__` lists exactly its public names.

These are deterministic tests (no simulation).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

import models.theory as theory
from models.theory import (
    StationPrediction,
    fork_join_nelson_tantawi,
    gg_c_allen_cunneen,
    gi_m1_erlang_arrivals,
    md1,
    mg1,
    mg1_priority_nonpreemptive,
    mm1,
    mm1_response_time_quantile,
    mm_infinity,
    mmc,
    mmc_priority_nonpreemptive,
    mmck,
    mva_exact,
)
from tests.unit.theory_formulas_checks import assert_sane

# --- Stability and argument checks over all single-station formulas --------------------------

SINGLE_STATIONS: list[Callable[[float, float, int], StationPrediction]] = [
    lambda rate, mu, c: mm1(rate, mu),
    lambda rate, mu, c: mmc(rate, mu, c),
    lambda rate, mu, c: mmck(rate, mu, c, c + 5),
    lambda rate, mu, c: mm_infinity(rate, mu),
    lambda rate, mu, c: mg1(rate, 1 / mu, 2.0),
    lambda rate, mu, c: md1(rate, 1 / mu),
    lambda rate, mu, c: gg_c_allen_cunneen(rate, 1 / mu, c, 0.5, 3.0),
    lambda rate, mu, c: gi_m1_erlang_arrivals(rate, mu, c),
    lambda rate, mu, c: mg1_priority_nonpreemptive(
        [rate / 2, rate / 2], [1 / mu] * 2, [1, 1]
    ).classes[1],
    lambda rate, mu, c: mmc_priority_nonpreemptive([rate / 2, rate / 2], mu, c).classes[1],
]


@given(
    rate=st.floats(0.0, 1e4, allow_nan=False),
    mu=st.floats(1e-3, 1e3),
    servers=st.integers(1, 64),
)
def test_predictions_are_never_negative_or_nan(rate: float, mu: float, servers: int) -> None:
    for formula in SINGLE_STATIONS:
        assert_sane(formula(rate, mu, servers))


UNBOUNDED_QUEUES: list[Callable[[float, float, int], StationPrediction]] = [
    lambda rate, mu, c: mm1(rate, mu),
    lambda rate, mu, c: mmc(rate, mu, c),
    lambda rate, mu, c: mg1(rate, 1 / mu, 2.0),
    lambda rate, mu, c: md1(rate, 1 / mu),
    lambda rate, mu, c: gg_c_allen_cunneen(rate, 1 / mu, c, 0.5, 3.0),
    lambda rate, mu, c: gi_m1_erlang_arrivals(rate, mu, c),
]


@pytest.mark.parametrize("formula", UNBOUNDED_QUEUES)
@pytest.mark.parametrize("overload", [1.0, 1.5, 1e6])
def test_overload_is_flagged_unstable_with_infinite_means(
    formula: Callable[[float, float, int], StationPrediction], overload: float
) -> None:
    # Offered load at or above the capacity (servers = 1 here): no steady state exists.
    station = formula(overload * 2.0, 2.0, 1)
    assert_sane(station)
    assert not station.stable
    assert station.p_wait == 1.0 and station.utilization == 1.0
    assert station.throughput == pytest.approx(2.0)


def test_loss_systems_stay_stable_under_overload() -> None:
    station = mmck(100.0, 1.0, 2, 5)
    assert station.stable and station.loss_probability > 0.95
    assert station.throughput == pytest.approx(2.0, rel=1e-3) and station.utilization <= 1.0


def test_fork_join_and_mva_edge_cases() -> None:
    unstable = fork_join_nelson_tantawi(1.0, 1.0, 4)
    assert not unstable.stable and unstable.mean_response_time == math.inf
    with pytest.raises(ValueError, match="must not all be 0"):
        mva_exact([0.0, 0.0], 0.0, 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mmc(1.0, 1.0, 0), "'servers' must be an integer >= 1 (got 0)"),
        (lambda: mm1(-1.0, 1.0), "'arrival_rate' must be a finite number >= 0 (got -1.0)"),
        (lambda: mm1(1.0, math.nan), "'service_rate' must be a finite number > 0 (got nan)"),
        (lambda: mmck(1.0, 1.0, 3, 2), "'capacity' must be an integer >= 3 (got 2)"),
        (lambda: mm1_response_time_quantile(0.5, 1.0, 1.0), "'q' must be in [0, 1) (got 1.0)"),
        (lambda: mg1_priority_nonpreemptive([1.0], [1.0, 2.0], [1.0]), "'mean_service_times'"),
        (lambda: mva_exact([1.0], 0.0, 0), "'population' must be an integer >= 1 (got 0)"),
        (lambda: mva_exact([1.0], 0.0, 2, [1, 2]), "'servers' must have 1 elements"),
    ],
)
def test_invalid_arguments_name_the_argument_the_rule_and_the_value(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        call()
    assert message in str(caught.value)


def test_all_is_honest() -> None:
    public = {
        name
        for name, value in vars(theory).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(theory.__all__) == public
