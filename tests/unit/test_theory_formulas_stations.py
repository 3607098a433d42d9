"""Unit tests of `models.theory`'s single stations: Erlang B and C, M/M/1, M/M/c, M/M/c/K,
M/M/inf, M/G/1, M/D/1, Allen-Cunneen, E_k/M/1 and non-preemptive priority queues; textbook
values, identities between formulas, and cross-checks against brute-force continuous-time
Markov chains solved with numpy/scipy (`stationary`, tests/unit/theory_formulas_checks.py).

These are deterministic tests (no simulation). Tolerances: closed forms are compared to
1e-9 relative; truncated Markov chains to 1e-6, the truncation keeping the lost probability
mass far below that (geometric tails at load <= 0.7 over 60+ levels).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import quad

from models.theory import (
    erlang_b,
    erlang_c,
    gg_c_allen_cunneen,
    gi_m1_erlang_arrivals,
    gi_m1_erlang_arrivals_response_time_quantile,
    gi_m1_erlang_arrivals_sigma,
    gi_m1_erlang_arrivals_waiting_time_quantile,
    md1,
    mg1,
    mg1_priority_nonpreemptive,
    mm1,
    mm1_response_time_quantile,
    mm_infinity,
    mmc,
    mmc_priority_nonpreemptive,
    mmc_response_time_quantile,
    mmc_response_time_survival,
    mmc_waiting_time_quantile,
    mmck,
)
from tests.unit.theory_formulas_checks import REL, add_rate, assert_sane, stationary

# --- Erlang B and C ---------------------------------------------------------------------------


def test_erlang_b_table_value() -> None:
    # Erlang B tables: c = 10, a = 5 Erlangs -> 0.018385.
    assert erlang_b(10, 5.0) == pytest.approx(0.0183846, abs=1e-7)


@pytest.mark.parametrize(("servers", "load"), [(1, 0.3), (3, 2.0), (8, 7.5), (12, 20.0)])
def test_erlang_b_and_c_match_the_factorial_formulas(servers: int, load: float) -> None:
    terms = [load**k / math.factorial(k) for k in range(servers + 1)]
    assert erlang_b(servers, load) == pytest.approx(terms[-1] / sum(terms), rel=REL)
    if load < servers:
        tail = terms[-1] * servers / (servers - load)
        assert erlang_c(servers, load) == pytest.approx(tail / (sum(terms[:-1]) + tail), rel=REL)


def test_erlang_c_textbook_value_and_overload() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=REL)
    assert erlang_c(1, 0.7) == pytest.approx(0.7, rel=REL)
    assert erlang_c(4, 4.0) == 1.0
    assert erlang_c(4, 9.0) == 1.0


def test_erlang_formulas_are_stable_for_thousands_of_servers() -> None:
    blocking = erlang_b(5000, 4900.0)
    waiting = erlang_c(5000, 4900.0)
    assert 0.0 < blocking < waiting < 1.0
    assert erlang_b(3000, 0.0) == 0.0
    # Recursion B(c) = a B(c-1) / (c + a B(c-1)) holds at large c.
    previous = erlang_b(4999, 4900.0)
    assert blocking == pytest.approx(4900 * previous / (5000 + 4900 * previous), rel=1e-12)


# --- M/M/1, M/M/c, M/M/c/K, M/M/inf ----------------------------------------------------------


def test_mm1_textbook_values() -> None:
    station = mm1(0.5, 1.0)
    assert station.mean_response_time == pytest.approx(2.0)
    assert station.mean_waiting_time == pytest.approx(1.0)
    assert station.mean_in_system == pytest.approx(1.0)
    assert station.mean_queue_length == pytest.approx(0.5)
    assert station.p_wait == pytest.approx(0.5)
    assert station.utilization == pytest.approx(0.5)
    assert station.stable and station.exact


def test_mm1_response_time_quantile_is_exponential() -> None:
    assert mm1_response_time_quantile(0.5, 1.0, 0.5) == pytest.approx(2 * math.log(2))
    assert mm1_response_time_quantile(0.5, 1.0, 0.0) == 0.0
    assert mm1_response_time_quantile(1.0, 1.0, 0.9) == math.inf


def test_mmc_reduces_to_mm1_and_uses_erlang_c() -> None:
    single, one_server = mm1(0.7, 1.0), mmc(0.7, 1.0, 1)
    assert one_server.mean_response_time == pytest.approx(single.mean_response_time, rel=REL)
    station = mmc(3.0, 1.0, 4)
    assert station.p_wait == pytest.approx(erlang_c(4, 3.0), rel=REL)
    assert station.mean_waiting_time == pytest.approx(erlang_c(4, 3.0) / (4 - 3), rel=REL)
    assert station.mean_in_system == pytest.approx(3.0 * station.mean_response_time, rel=REL)


def test_mmc_waiting_time_quantile_inverts_the_tail() -> None:
    level = 0.95
    quantile = mmc_waiting_time_quantile(3.0, 1.0, 4, level)
    assert erlang_c(4, 3.0) * math.exp(-(4 - 3.0) * quantile) == pytest.approx(1 - level)
    assert mmc_waiting_time_quantile(0.1, 1.0, 4, 0.5) == 0.0
    assert mmc_waiting_time_quantile(5.0, 1.0, 4, 0.5) == math.inf


@pytest.mark.parametrize(
    ("arrival_rate", "servers"), [(0.5, 1), (1.0, 2), (3.0, 4), (2.0, 3), (0.0, 2)]
)
def test_mmc_response_time_survival_integrates_to_the_mean(
    arrival_rate: float, servers: int
) -> None:
    # E[T] = integral of P(T > t); (1.0, 2) hits the equal-rates case c mu - lambda = mu.
    station = mmc(arrival_rate, 1.0, servers)
    mean, _ = quad(lambda t: mmc_response_time_survival(arrival_rate, 1.0, servers, t), 0, np.inf)
    assert mean == pytest.approx(station.mean_response_time, rel=1e-7)


def test_mmc_response_time_quantile() -> None:
    assert mmc_response_time_quantile(0.5, 1.0, 1, 0.99) == pytest.approx(
        mm1_response_time_quantile(0.5, 1.0, 0.99), rel=1e-9
    )
    quantile = mmc_response_time_quantile(3.0, 1.0, 4, 0.99)
    assert mmc_response_time_survival(3.0, 1.0, 4, quantile) == pytest.approx(0.01, rel=1e-9)
    assert mmc_response_time_quantile(4.0, 1.0, 4, 0.5) == math.inf


@pytest.mark.parametrize(("servers", "load"), [(1, 0.5), (5, 3.0), (10, 5.0), (200, 180.0)])
def test_mmck_with_no_waiting_room_is_erlang_b(servers: int, load: float) -> None:
    station = mmck(load, 1.0, servers, servers)
    assert station.loss_probability == pytest.approx(erlang_b(servers, load), rel=1e-9)
    assert station.mean_waiting_time == 0.0 and station.p_wait == 0.0
    assert station.mean_in_system == pytest.approx(load * (1 - station.loss_probability))


def test_mmck_with_large_capacity_approaches_mmc() -> None:
    bounded, unbounded = mmck(3.0, 1.0, 4, 400), mmc(3.0, 1.0, 4)
    assert bounded.loss_probability < 1e-40
    for field in ("mean_waiting_time", "mean_response_time", "mean_in_system", "p_wait"):
        assert getattr(bounded, field) == pytest.approx(getattr(unbounded, field), rel=1e-9)


@pytest.mark.parametrize("rho", [0.5, 1.0, 2.0])
def test_mm1k_closed_form(rho: float) -> None:
    capacity = 6
    station = mmck(rho, 1.0, 1, capacity)
    if rho == 1.0:
        probabilities = np.full(capacity + 1, 1 / (capacity + 1))
    else:
        probabilities = (1 - rho) * rho ** np.arange(capacity + 1) / (1 - rho ** (capacity + 1))
    assert station.loss_probability == pytest.approx(probabilities[-1], rel=1e-9)
    assert station.mean_in_system == pytest.approx(
        float(np.dot(np.arange(capacity + 1), probabilities)), rel=1e-9
    )
    # Little's law with the admitted rate.
    assert station.mean_in_system == pytest.approx(
        station.throughput * station.mean_response_time, rel=1e-9
    )
    assert station.mean_queue_length == pytest.approx(
        station.throughput * station.mean_waiting_time, rel=1e-9
    )
    assert station.stable


def test_mmck_matches_a_brute_force_birth_death_chain() -> None:
    arrival_rate, service_rate, servers, capacity = 5.0, 1.5, 3, 9
    transitions: dict[tuple[int, int], float] = {}
    for n in range(capacity):
        add_rate(transitions, (n, n + 1), arrival_rate)
        add_rate(transitions, (n + 1, n), min(n + 1, servers) * service_rate)
    probabilities = stationary(transitions, capacity + 1)
    station = mmck(arrival_rate, service_rate, servers, capacity)
    present = np.arange(capacity + 1)
    assert station.loss_probability == pytest.approx(probabilities[-1], rel=1e-9)
    assert station.mean_in_system == pytest.approx(float(present @ probabilities), rel=1e-9)
    assert station.utilization == pytest.approx(
        float(np.minimum(present, servers) @ probabilities) / servers, rel=1e-9
    )


def test_mm_infinity() -> None:
    station = mm_infinity(4.0, 2.0)
    assert station.mean_in_system == 2.0 and station.mean_response_time == 0.5
    assert station.mean_waiting_time == 0.0 and station.p_wait == 0.0 and station.stable


# --- M/G/1, M/D/1, Allen-Cunneen -------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_md1_is_half_the_mm1_wait(rho: float) -> None:
    service_rate = 2.0
    station = md1(rho * service_rate, 1 / service_rate)
    expected = rho / (2 * service_rate * (1 - rho))
    assert station.mean_waiting_time == pytest.approx(expected, rel=REL)
    assert station.mean_waiting_time == pytest.approx(
        mm1(rho * service_rate, service_rate).mean_waiting_time / 2, rel=REL
    )


def test_mg1_with_exponential_service_is_mm1() -> None:
    general, markov = mg1(0.8, 1.0, 1.0), mm1(0.8, 1.0)
    assert general.mean_response_time == pytest.approx(markov.mean_response_time, rel=REL)
    assert general.mean_in_system == pytest.approx(markov.mean_in_system, rel=REL)


def test_allen_cunneen_is_exact_where_theory_is() -> None:
    approx, exact = gg_c_allen_cunneen(3.0, 1.0, 4, 1.0, 1.0), mmc(3.0, 1.0, 4)
    assert approx.mean_waiting_time == pytest.approx(exact.mean_waiting_time, rel=REL)
    assert approx.exact
    approx, exact = gg_c_allen_cunneen(0.6, 1.0, 1, 1.0, 2.5), mg1(0.6, 1.0, 2.5)
    assert approx.mean_waiting_time == pytest.approx(exact.mean_waiting_time, rel=REL)
    assert approx.exact
    assert not gg_c_allen_cunneen(0.6, 1.0, 2, 0.5, 1.0).exact


def test_allen_cunneen_is_close_to_exact_e2_m1() -> None:
    # An approximation: at rho = 0.9 the heavy-traffic scaling makes it within 10 % of E_2/M/1.
    approx = gg_c_allen_cunneen(0.9, 1.0, 1, 0.5, 1.0)
    exact = gi_m1_erlang_arrivals(0.9, 1.0, 2)
    assert approx.mean_waiting_time == pytest.approx(exact.mean_waiting_time, rel=0.1)


# --- E_k/M/1 ---------------------------------------------------------------------------------


def test_e1_m1_is_mm1() -> None:
    erlang, markov = gi_m1_erlang_arrivals(0.6, 1.0, 1), mm1(0.6, 1.0)
    assert erlang.mean_response_time == pytest.approx(markov.mean_response_time, rel=REL)
    assert erlang.p_wait == pytest.approx(0.6, rel=REL)


def test_e2_m1_closed_form_root() -> None:
    # lambda = 1, mu = 2, k = 2: sigma (2 - sigma)^2 = 1, so sigma = (3 - sqrt 5) / 2.
    assert gi_m1_erlang_arrivals_sigma(1.0, 2.0, 2) == pytest.approx((3 - math.sqrt(5)) / 2)


@pytest.mark.parametrize("phases", [2, 3, 10, 50])
@pytest.mark.parametrize("rho", [0.01, 0.5, 0.95, 1 - 1e-7])
def test_erlang_arrivals_root_solves_the_fixed_point(phases: int, rho: float) -> None:
    arrival_rate, service_rate = rho * 3.0, 3.0
    sigma = gi_m1_erlang_arrivals_sigma(arrival_rate, service_rate, phases)
    phase_rate = phases * arrival_rate
    transform = (phase_rate / (phase_rate + service_rate * (1 - sigma))) ** phases
    assert 0.0 < sigma < 1.0
    assert transform == pytest.approx(sigma, rel=1e-9)
    # Less variable arrivals wait less than Poisson ones.
    assert sigma < rho


def test_ek_m1_matches_a_brute_force_markov_chain() -> None:
    arrival_rate, service_rate, phases, levels = 0.6, 1.0, 3, 120
    phase_rate = phases * arrival_rate

    def state(present: int, phase: int) -> int:
        return present * phases + phase

    transitions: dict[tuple[int, int], float] = {}
    for present in range(levels + 1):
        for phase in range(phases):
            if phase < phases - 1:
                add_rate(
                    transitions, (state(present, phase), state(present, phase + 1)), phase_rate
                )
            elif present < levels:
                add_rate(transitions, (state(present, phase), state(present + 1, 0)), phase_rate)
            if present > 0:
                add_rate(
                    transitions, (state(present, phase), state(present - 1, phase)), service_rate
                )
    probabilities = stationary(transitions, (levels + 1) * phases).reshape(levels + 1, phases)
    mean_in_system = float(np.arange(levels + 1) @ probabilities.sum(axis=1))
    # Arrivals happen from the last phase: what they see is that column, renormalised.
    seen = probabilities[:, -1] / probabilities[:, -1].sum()
    station = gi_m1_erlang_arrivals(arrival_rate, service_rate, phases)
    assert station.mean_in_system == pytest.approx(mean_in_system, rel=1e-6)
    assert station.p_wait == pytest.approx(1 - seen[0], rel=1e-6)


def test_ek_m1_quantiles() -> None:
    sigma = gi_m1_erlang_arrivals_sigma(1.0, 2.0, 2)
    rate = 2.0 * (1 - sigma)
    assert gi_m1_erlang_arrivals_response_time_quantile(1.0, 2.0, 2, 0.9) == pytest.approx(
        math.log(10) / rate
    )
    assert gi_m1_erlang_arrivals_waiting_time_quantile(1.0, 2.0, 2, 0.9) == pytest.approx(
        math.log(sigma / 0.1) / rate
    )
    assert gi_m1_erlang_arrivals_waiting_time_quantile(1.0, 2.0, 2, 0.5) == 0.0
    assert gi_m1_erlang_arrivals_response_time_quantile(2.0, 2.0, 2, 0.5) == math.inf


# --- Priority queues -------------------------------------------------------------------------


def test_cobham_with_one_class_is_pollaczek_khinchine() -> None:
    result = mg1_priority_nonpreemptive([0.7], [1.2], [0.4])
    assert result.classes[0].mean_waiting_time == pytest.approx(
        mg1(0.7, 1.2, 0.4).mean_waiting_time, rel=REL
    )
    single = mmc_priority_nonpreemptive([3.0], 1.0, 4).classes[0]
    assert single.mean_waiting_time == pytest.approx(mmc(3.0, 1.0, 4).mean_waiting_time, rel=REL)


def test_priority_conservation_law() -> None:
    # With identical service for all classes the mean wait equals FCFS (Kleinrock's law).
    result = mg1_priority_nonpreemptive([0.2, 0.3, 0.25], [1.0] * 3, [0.5] * 3)
    assert result.mean_waiting_time == pytest.approx(mg1(0.75, 1.0, 0.5).mean_waiting_time)
    waits = [c.mean_waiting_time for c in result.classes]
    assert waits == sorted(waits)
    multi = mmc_priority_nonpreemptive([1.0, 1.5, 0.5], 1.0, 4)
    assert multi.mean_waiting_time == pytest.approx(mmc(3.0, 1.0, 4).mean_waiting_time)


PriorityState = tuple[int, int, int | None]
"""(class-0 jobs queued, class-1 jobs queued, class in service or None when idle)."""


def test_mg1_priority_matches_a_brute_force_markov_chain() -> None:
    # Two classes with exponential service of different rates; state = (queued 0, queued 1,
    # class in service or idle).
    rates, service_rates, levels = (0.3, 0.25), (1.5, 0.8), 45
    states: dict[PriorityState, int] = {(0, 0, None): 0}
    for state in itertools.product(range(levels + 1), range(levels + 1), (0, 1)):
        states[state] = len(states)
    transitions: dict[tuple[int, int], float] = {}
    for (queued, waiting, serving), index in states.items():
        if serving is None:
            for k in (0, 1):
                add_rate(transitions, (index, states[(0, 0, k)]), rates[k])
            continue
        if queued < levels:
            add_rate(transitions, (index, states[(queued + 1, waiting, serving)]), rates[0])
        if waiting < levels:
            add_rate(transitions, (index, states[(queued, waiting + 1, serving)]), rates[1])
        after: PriorityState
        if queued > 0:
            after = (queued - 1, waiting, 0)
        elif waiting > 0:
            after = (0, waiting - 1, 1)
        else:
            after = (0, 0, None)
        add_rate(transitions, (index, states[after]), service_rates[serving])
    probabilities = stationary(transitions, len(states))
    queue_lengths = [0.0, 0.0]
    for (queued, waiting, _), index in states.items():
        queue_lengths[0] += queued * probabilities[index]
        queue_lengths[1] += waiting * probabilities[index]
    result = mg1_priority_nonpreemptive(rates, [1 / m for m in service_rates], [1.0, 1.0])
    for k in (0, 1):
        assert result.classes[k].mean_queue_length == pytest.approx(queue_lengths[k], rel=1e-6)


def test_priority_overload_keeps_high_classes_stable() -> None:
    # Class 1 overloads the server; class 0 still has a steady state. Brute force: the server
    # never idles, and when no class-0 job waits it starts a class-1 job (endless backlog).
    rate, levels = 0.5, 200
    transitions: dict[tuple[int, int], float] = {}
    for queued in range(levels + 1):
        for serving in (0, 1):
            index = 2 * queued + serving
            if queued < levels:
                add_rate(transitions, (index, 2 * (queued + 1) + serving), rate)
            after = 2 * (queued - 1) if queued > 0 else 1
            add_rate(transitions, (index, after), 1.0)
    probabilities = stationary(transitions, 2 * (levels + 1))
    queue_length = float(np.repeat(np.arange(levels + 1), 2) @ probabilities)
    result = mg1_priority_nonpreemptive([rate, 1.0], [1.0, 1.0], [1.0, 1.0])
    high, low = result.classes
    assert high.stable and high.mean_queue_length == pytest.approx(queue_length, rel=1e-6)
    assert high.mean_waiting_time == pytest.approx(2.0, rel=REL)
    assert not low.stable and math.isinf(low.mean_waiting_time)
    assert low.throughput == pytest.approx(0.5) and not result.stable
    assert math.isinf(result.mean_response_time)
    for station in result.classes:
        assert_sane(station)


def test_mmc_priority_textbook_value() -> None:
    result = mmc_priority_nonpreemptive([0.5, 0.5], 1.0, 2)
    base = erlang_c(2, 1.0) / 2.0
    assert result.classes[0].mean_waiting_time == pytest.approx(base / 0.75)
    assert result.classes[1].mean_waiting_time == pytest.approx(base / (0.75 * 0.5))
