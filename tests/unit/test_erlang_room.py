"""M/E_k/c/K, several workers with a finite waiting room and service in Erlang phases
(`models.theory.erlang_room`), and where the analysis uses it: work of SCV below 1/2, which
two phases cannot have (deterministic unit tests; the simulation checks are in
tests/theory/test_finite_rooms.py)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from models.analysis.finite_rooms import ERLANG_FIT_NOTE, EXTRAPOLATED_NOTE
from models.theory import erlang_b, erlang_room, finite_room
from models.theory.erlang_room import (
    MAX_ERLANG_STATES,
    merlang_ck,
    merlang_ck_extrapolated,
    mixed_erlang_fit,
    phase_count,
    phase_states,
)
from models.theory.finite_room import arrivals_during_gamma, mg1k, mph2ck
from tests.unit.test_finite_rooms import _one_worker


@pytest.mark.parametrize(("rate", "servers", "capacity"), [(1.5, 2, 6), (3.0, 3, 5), (9.0, 2, 4)])
def test_two_erlang_phases_are_the_two_phase_chain_at_its_floor(
    rate: float, servers: int, capacity: int
) -> None:
    """k = 2 with p = 0 is Erlang-2, which `mph2ck` has exactly at SCV 1/2: the same
    distribution of the number present, below and above saturation."""
    erlang = merlang_ck(rate, 1.0, 2, 0.0, servers, capacity)
    phases = mph2ck(rate, 1.0, 0.5, servers, capacity)
    assert erlang is not None and phases is not None
    for field in ("loss_probability", "mean_in_system", "mean_waiting_time", "p_wait"):
        assert getattr(erlang, field) == pytest.approx(getattr(phases, field), rel=1e-10)


@pytest.mark.parametrize("phases", [3, 5, 8])
def test_one_server_is_m_g_1_k_with_erlang_service(phases: int) -> None:
    """One worker: the embedded chain with the Erlang-k a_k gives the same loss and wait."""
    chain = merlang_ck(0.9, 1.0, phases, 0.0, 1, 5)
    embedded = mg1k(0.9, 1.0, arrivals_during_gamma(0.9, 1.0, 1.0 / phases, 4), 5)
    assert chain is not None
    assert chain.loss_probability == pytest.approx(embedded.loss_probability, rel=1e-10)
    assert chain.mean_waiting_time == pytest.approx(embedded.mean_waiting_time, rel=1e-10)


def test_without_a_room_the_loss_is_erlang_b() -> None:
    """No waiting room: Erlang's loss formula, whatever the service law (insensitivity)."""
    chain = merlang_ck(3.0, 1.0, 4, 0.3, 3, 3)
    assert chain is not None
    assert chain.loss_probability == pytest.approx(erlang_b(3, 3.0), rel=1e-10)
    assert chain.mean_waiting_time == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("scv", [0.03, 0.1, 0.2, 0.25, 0.3, 1 / 3, 0.4, 0.49])
def test_the_mixed_erlang_fit_has_the_mean_and_scv(scv: float) -> None:
    """k - 1 phases with probability p, else k, each of rate mu: the mean and SCV asked."""
    k, p, mu = mixed_erlang_fit(2.0, scv)
    assert 1.0 / k <= scv + 1e-12 and scv <= 1.0 / (k - 1) + 1e-12
    mean = (p * (k - 1) + (1 - p) * k) / mu
    square = (p * (k - 1) * k + (1 - p) * k * (k + 1)) / mu**2
    assert mean == pytest.approx(2.0, rel=1e-12)
    assert square / mean**2 - 1 == pytest.approx(scv, rel=1e-9)


def test_the_chain_stays_within_its_budget() -> None:
    """`phase_count` takes the most phases whose chain fits `MAX_ERLANG_STATES`, and none
    where three do not fit; `merlang_ck` declines a larger chain."""
    phases = phase_count(2, 8, 200)
    assert phases is not None
    assert phase_states(phases, 2, 8) <= MAX_ERLANG_STATES < phase_states(phases + 1, 2, 8)
    assert phase_count(64, 264, 50) is None
    assert merlang_ck(1.0, 1.0, phases + 1, 0.0, 2, 8) is None


@pytest.mark.parametrize("rate", [1e3, 1e12, 1e300])
def test_overwhelming_load_fills_the_room_without_overflow(rate: float) -> None:
    """Far beyond capacity (the capacity search tries such loads) the workers never idle."""
    chain = merlang_ck(rate, 1.0, 4, 0.0, 2, 8)
    assert chain is not None
    assert chain.throughput == pytest.approx(2.0, rel=1e-9)
    assert all(math.isfinite(x) for x in (chain.mean_waiting_time, chain.p_wait))


def test_no_arrivals_no_waiting() -> None:
    chain = merlang_ck(0.0, 1.0, 3, 0.0, 2, 4)
    assert chain is not None
    assert (chain.loss_probability, chain.mean_waiting_time) == (0.0, 0.0)


def test_several_workers_with_erlang_work_are_exact() -> None:
    """Erlang-4 work on 2 workers with a room of 6: the chain of 4 phases, exact."""
    service = _one_worker([{"erlang": {"k": 4, "mean": 0.02}}], 90.0, 6, workers=2)
    expected = merlang_ck(90.0, 0.02, 4, 0.0, 2, 8)
    assert expected is not None
    assert (service.method, service.exact) == ("M/E_k/c/K (4 Erlang phases)", True)
    assert service.loss_probability == pytest.approx(expected.loss_probability, rel=1e-9)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=1e-9)


@pytest.mark.parametrize("phases", [3, 7, 14])
def test_erlang_work_takes_its_own_phases(phases: int) -> None:
    """Erlang-k work is solved with its own k phases, exact, whatever the rounding of the
    mixed fit (whose p at SCV 1/k comes out 6e-16 for k = 7, 1e-15 for k = 14)."""
    service = _one_worker([{"erlang": {"k": phases, "mean": 0.02}}], 90.0, 4, workers=2)
    expected = merlang_ck(90.0, 0.02, phases, 0.0, 2, 6)
    assert expected is not None
    assert (service.method, service.exact) == (f"M/E_k/c/K ({phases} Erlang phases)", True)
    assert service.loss_probability == pytest.approx(expected.loss_probability, rel=1e-12)


def test_steady_work_on_several_workers_takes_erlang_phases() -> None:
    """Uniform work of SCV 0.12 is fitted by mixed Erlang phases of its mean and SCV;
    constant work (SCV 0) by the chains of the most phases that fit, extrapolated to SCV 0
    (both approximations). Constant 20 ms on 2 workers with a room of 6 at 90/s, from 14,
    15 and 16 phases: 20.09 ms of waiting and 3.44% lost, simulated 20.08 ms (+- 0.03)
    and 3.40% (+- 0.02%) by a dedicated M/D/2/8 simulation of 4 million arrivals, where
    37 phases said 20.24 ms and 3.57%, and two 22.1 ms and 5.7%."""
    uniform = _one_worker([{"uniform": [0.008, 0.032]}], 90.0, 6, workers=2)
    k, p, _ = mixed_erlang_fit(0.02, 0.12)
    assert uniform.method == f"M/E_k/c/K ({k} Erlang phases), {ERLANG_FIT_NOTE}"
    assert not uniform.exact
    fitted = merlang_ck(90.0, 0.02, k, p, 2, 8)
    assert fitted is not None
    assert uniform.loss_probability == pytest.approx(fitted.loss_probability, rel=1e-9)
    constant = _one_worker([{"constant": 0.02}], 90.0, 6, workers=2)
    assert constant.method == f"M/E_k/c/K (14-16 Erlang phases), {EXTRAPOLATED_NOTE}"
    assert not constant.exact
    assert round(constant.waiting_time.mean, 5) == 0.02009
    assert round(constant.loss_probability, 4) == 0.0344


def test_extrapolation_is_the_polynomial_through_the_largest_chains() -> None:
    """Each p_n is the quadratic in SCV through the Erlang-k chains of the three largest k
    that fit, evaluated at the SCV asked: at k's own SCV it is that chain; at 0 it lies
    beyond the three, on the side the phases move them."""
    found = merlang_ck_extrapolated(90.0, 0.02, 1.0 / 16, 2, 8)
    assert found is not None
    station, used = found
    assert used == (14, 15, 16)
    assert phase_states(16, 2, 8) <= MAX_ERLANG_STATES < phase_states(17, 2, 8)
    own = merlang_ck(90.0, 0.02, 16, 0.0, 2, 8)
    assert own is not None
    assert station.loss_probability == pytest.approx(own.loss_probability, rel=1e-9)
    assert station.mean_waiting_time == pytest.approx(own.mean_waiting_time, rel=1e-9)
    waits = []
    for k in used:
        chain = merlang_ck(90.0, 0.02, k, 0.0, 2, 8)
        assert chain is not None
        waits.append(chain.mean_waiting_time)
    limit = merlang_ck_extrapolated(90.0, 0.02, 0.0, 2, 8)
    assert limit is not None
    assert waits[0] > waits[1] > waits[2] > limit[0].mean_waiting_time


def test_extrapolation_needs_three_phases_to_fit() -> None:
    """Where the chain of three phases does not fit, there is nothing to extrapolate
    from; where only two and three fit, the line through them."""
    assert merlang_ck_extrapolated(1.0, 1.0, 0.0, 64, 264) is None
    servers = 8
    assert phase_states(3, servers, 12) <= MAX_ERLANG_STATES < phase_states(4, servers, 12)
    found = merlang_ck_extrapolated(560.0, 0.01, 0.0, servers, 12)
    assert found is not None and found[1] == (2, 3)


@pytest.mark.parametrize(
    ("load", "phases", "servers", "capacity"),
    [(0.5, 7, 4, 7), (0.8, 6, 4, 8), (1.2, 5, 6, 7), (0.9, 16, 2, 8), (30.0, 4, 3, 5)],
)
def test_the_erlang_chain_relative_to_a_likely_state_is_the_normalised_one(
    load: float, phases: int, servers: int, capacity: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain is solved relative to a likely state (`finite_room.likely_state`: twice
    as fast at 700-960 states, 4-9 ms a solve against 11-23 ms); it is the distribution of
    the normalised solve (sum p = 1 in place of an equation), below and above saturation
    (30 times it, where the likely state is the full room)."""
    rate = load * servers
    seen: list[int | None] = []
    solve = finite_room.stationary

    def normalised(
        size: int, source: Any, target: Any, value: Any, likely: int | None = None
    ) -> Any:
        seen.append(likely)
        return solve(size, source, target, value)

    relative = erlang_room._by_present(rate, 1.0, phases, 0.0, servers, capacity)
    monkeypatch.setattr(erlang_room, "stationary", normalised)
    assert (
        np.max(
            np.abs(erlang_room._by_present(rate, 1.0, phases, 0.0, servers, capacity) - relative)
        )
        < 1e-12
    )
    assert seen and seen[0] is not None
