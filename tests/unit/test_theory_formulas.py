"""Unit tests of `models.theory`: textbook values, identities between formulas, and
cross-checks against brute-force continuous-time Markov chains solved with numpy/scipy.

These are deterministic tests (no simulation). Tolerances: closed forms are compared to
1e-9 relative; truncated Markov chains to 1e-6, the truncation keeping the lost probability
mass far below that (geometric tails at load <= 0.7 over 60+ levels).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse
from scipy.integrate import quad
from scipy.sparse.linalg import spsolve

import models.theory as theory
from models.theory import (
    StationPrediction,
    erlang_b,
    erlang_c,
    fork_join_nelson_tantawi,
    fork_join_two_mm1,
    gg_c_allen_cunneen,
    gi_m1_erlang_arrivals,
    gi_m1_erlang_arrivals_response_time_quantile,
    gi_m1_erlang_arrivals_sigma,
    gi_m1_erlang_arrivals_waiting_time_quantile,
    jackson_network,
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
    mva_exact,
    mva_schweitzer,
)
from models.theory.convolution import closed_network_by_convolution

REL = 1e-9


def stationary(transitions: dict[tuple[int, int], float], size: int) -> np.ndarray:
    """Stationary distribution of a CTMC given its off-diagonal rates {(from, to): rate}."""
    rows, cols, rates = [], [], []
    outflow = np.zeros(size)
    for (source, target), rate in transitions.items():
        rows.append(target)
        cols.append(source)
        rates.append(rate)
        outflow[source] += rate
    balance = sparse.coo_matrix((rates, (rows, cols)), shape=(size, size)).tolil()
    balance.setdiag(balance.diagonal() - outflow)
    balance[0, :] = np.ones(size)  # replace one balance equation by sum(pi) = 1
    right = np.zeros(size)
    right[0] = 1.0
    return np.asarray(spsolve(balance.tocsr(), right))


def add_rate(transitions: dict[tuple[int, int], float], key: tuple[int, int], rate: float) -> None:
    transitions[key] = transitions.get(key, 0.0) + rate


def assert_sane(prediction: StationPrediction) -> None:
    """No mean is negative or NaN; unstable stations report infinite waits."""
    for name, value in vars(prediction).items():
        if isinstance(value, float):
            assert not math.isnan(value), name
            assert value >= 0.0, name
    assert prediction.utilization <= 1.0 + 1e-12
    if not prediction.stable:
        assert math.isinf(prediction.mean_waiting_time)
        assert math.isinf(prediction.mean_response_time)
        assert math.isinf(prediction.mean_queue_length)
        assert math.isinf(prediction.mean_in_system)


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


# --- Fork-join -------------------------------------------------------------------------------


def test_nelson_tantawi_with_two_branches_is_flatto_hahn() -> None:
    for rho in (0.0, 0.3, 0.9):
        exact, approx = fork_join_two_mm1(rho, 1.0), fork_join_nelson_tantawi(rho, 1.0, 2)
        assert approx.mean_response_time == pytest.approx(exact.mean_response_time, rel=REL)
        assert approx.exact and exact.exact
    assert fork_join_two_mm1(0.5, 1.0).mean_response_time == pytest.approx(11.5 / 8 * 2)


def test_nelson_tantawi_limits() -> None:
    assert fork_join_nelson_tantawi(0.5, 1.0, 1).mean_response_time == pytest.approx(2.0)
    # Light load: the mean of the largest of k Exp(mu) service times, H_k / mu.
    light = fork_join_nelson_tantawi(0.0, 2.0, 8)
    assert light.mean_response_time == pytest.approx(sum(1 / i for i in range(1, 9)) / 2.0)
    assert not light.exact
    more = [fork_join_nelson_tantawi(0.6, 1.0, k).mean_response_time for k in range(1, 10)]
    assert more == sorted(more)


def test_flatto_hahn_matches_a_brute_force_markov_chain() -> None:
    # FIFO at both branches, so jobs not yet joined = max(n1, n2); E[T] = E[max] / lambda.
    arrival_rate, levels = 0.5, 70
    transitions: dict[tuple[int, int], float] = {}
    size = levels + 1
    for first, second in itertools.product(range(size), repeat=2):
        index = first * size + second
        if first < levels and second < levels:
            add_rate(transitions, (index, (first + 1) * size + second + 1), arrival_rate)
        if first > 0:
            add_rate(transitions, (index, (first - 1) * size + second), 1.0)
        if second > 0:
            add_rate(transitions, (index, first * size + second - 1), 1.0)
    probabilities = stationary(transitions, size * size)
    jobs = np.maximum.outer(np.arange(size), np.arange(size)).ravel()
    expected = float(jobs @ probabilities) / arrival_rate
    assert fork_join_two_mm1(arrival_rate, 1.0).mean_response_time == pytest.approx(
        expected, rel=1e-6
    )


# --- Mean Value Analysis ---------------------------------------------------------------------


def test_mva_single_customer_never_waits() -> None:
    result = mva_exact([0.2, 0.5, 0.1], 2.0, 1)
    assert result.response_time == pytest.approx(0.8)
    assert result.throughput == pytest.approx(1 / 2.8)


@pytest.mark.parametrize("population", [1, 2, 5, 20, 200])
def test_mva_throughput_respects_the_asymptotic_bounds(population: int) -> None:
    demands, think = [0.04, 0.1, 0.07], 1.0
    result = mva_exact(demands, think, population)
    assert result.throughput <= 1 / max(demands) + 1e-12
    assert result.throughput <= population / (sum(demands) + think) + 1e-12
    assert result.response_time >= max(sum(demands), population * max(demands) - think) - 1e-9
    assert sum(result.station_queue_lengths) + result.throughput * think == pytest.approx(
        population
    )


def test_mva_balanced_network() -> None:
    # Balanced network of M stations with demand D, Z = 0: X(N) = N / (D (M + N - 1)).
    for population in (1, 3, 10):
        result = mva_exact([0.5] * 4, 0.0, population)
        assert result.throughput == pytest.approx(population / (0.5 * (4 + population - 1)))


def closed_tandem_brute_force(
    demands: list[float], servers: list[int | None], think: float, population: int
) -> tuple[float, list[float]]:
    """Throughput and queue lengths of think -> station 0 -> ... -> think, by a CTMC."""
    stations = len(demands)

    def compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
        if parts == 1:
            yield (total,)
            return
        for first in range(total + 1):
            for rest in compositions(total - first, parts - 1):
                yield (first, *rest)

    states = {state: i for i, state in enumerate(compositions(population, stations + 1))}
    transitions: dict[tuple[int, int], float] = {}
    for state, index in states.items():
        for place in range(stations + 1):  # place 0 = thinking, place m + 1 = station m
            present = state[place]
            if present == 0:
                continue
            if place == 0:
                rate = present / think
            else:
                pool = servers[place - 1]
                busy = present if pool is None else min(present, pool)
                rate = busy / demands[place - 1]
            after = list(state)
            after[place] -= 1
            after[(place + 1) % (stations + 1)] += 1
            add_rate(transitions, (index, states[tuple(after)]), rate)
    probabilities = stationary(transitions, len(states))
    queues = [0.0] * stations
    throughput = 0.0
    for state, index in states.items():
        for m in range(stations):
            queues[m] += state[m + 1] * probabilities[index]
        throughput += state[0] / think * probabilities[index]
    return throughput, queues


@pytest.mark.parametrize(
    ("demands", "servers", "population"),
    [
        ([0.3, 0.5, 0.2], [1, 1, 1], 6),
        ([0.3, 1.2, 0.2], [1, 3, None], 7),
        ([0.9, 0.4], [2, 4], 8),
        ([0.9, 0.4], [5, 1], 3),
    ],
)
def test_mva_exact_matches_a_brute_force_markov_chain(
    demands: list[float], servers: list[int | None], population: int
) -> None:
    think = 1.5
    throughput, queues = closed_tandem_brute_force(demands, servers, think, population)
    result = mva_exact(demands, think, population, servers)
    assert result.exact
    assert result.throughput == pytest.approx(throughput, rel=1e-9)
    assert list(result.station_queue_lengths) == pytest.approx(queues, rel=1e-9)


def test_mva_multiserver_stays_sane_far_past_saturation() -> None:
    result = mva_exact([0.01, 0.5], 0.0, 2000, [1, 8])
    assert result.throughput == pytest.approx(16.0, rel=1e-9)
    assert all(u <= 1 + 1e-9 for u in result.station_utilizations)
    assert all(q >= 0 for q in result.station_queue_lengths)


def test_mva_recursion_and_log_space_convolution_agree() -> None:
    # Two independent exact algorithms for load-independent stations, far past saturation.
    demands, servers, think = [0.04, 0.1, 0.07, 0.0], [1, 1, 1, None], 1.0
    recursion = mva_exact(demands, think, 500, servers)
    throughput, queues = closed_network_by_convolution(demands, servers, think, 500)
    assert recursion.throughput == pytest.approx(throughput, rel=1e-9)
    assert list(recursion.station_queue_lengths) == pytest.approx(queues, rel=1e-9, abs=1e-12)


def test_mva_with_multiserver_stations_is_stable_past_saturation() -> None:
    # Load-dependent MVA via marginal probabilities drifts above 1 / D_max here (it gave 27/s
    # at N = 300); the exact answer must respect the bound min(c / D) = 20/s and approach it.
    demands, servers, think = [0.5, 0.05, 0.2], [16, 1, 4], 2.0
    throughputs = [mva_exact(demands, think, n, servers).throughput for n in (50, 100, 300)]
    assert throughputs == sorted(throughputs)
    assert throughputs[-1] <= 20.0 and throughputs[-1] == pytest.approx(20.0, rel=0.01)
    result = mva_exact(demands, think, 300, servers)
    assert sum(result.station_queue_lengths) + result.throughput * think == pytest.approx(300)


def test_schweitzer_is_close_to_exact() -> None:
    demands, think = [0.04, 0.1, 0.07], 1.0
    for population in (5, 10, 50, 500):
        approx, exact = (
            mva_schweitzer(demands, think, population),
            mva_exact(demands, think, population),
        )
        # Known accuracy of Bard-Schweitzer: a few percent, best far from the knee.
        assert approx.throughput == pytest.approx(exact.throughput, rel=0.05)
        assert not approx.exact
    seidmann = mva_schweitzer([0.3, 1.2, 0.2], 1.5, 40, [1, 3, None])
    exact = mva_exact([0.3, 1.2, 0.2], 1.5, 40, [1, 3, None])
    assert seidmann.throughput == pytest.approx(exact.throughput, rel=0.05)
    assert "Seidmann" in seidmann.method


# --- Jackson networks ------------------------------------------------------------------------


def test_jackson_tandem_is_the_sum_of_mm1_sojourns() -> None:
    network = jackson_network({"a": 0.5}, {"a": {"b": 1.0}}, {"a": 1.0, "b": 2.0})
    expected = mm1(0.5, 1.0).mean_response_time + mm1(0.5, 2.0).mean_response_time
    assert network.mean_sojourn_time == pytest.approx(expected)
    assert network.stable


def test_jackson_with_feedback_and_multiserver_stations() -> None:
    network = jackson_network(
        {"web": 2.0, "db": 0.5},
        {"web": {"db": 0.5, "cache": 0.4}, "db": {"web": 0.2}, "cache": {}},
        {"web": 4.0, "db": 1.0, "cache": 10.0},
        {"db": 3, "cache": None},
    )
    # Traffic equations by hand: web = 2 + 0.2 db, db = 0.5 + 0.5 web.
    web = (2.0 + 0.2 * 0.5) / (1 - 0.2 * 0.5)
    db = 0.5 + 0.5 * web
    assert network.stations["web"].arrival_rate == pytest.approx(web)
    assert network.stations["db"].arrival_rate == pytest.approx(db)
    assert network.stations["db"].mean_in_system == pytest.approx(mmc(db, 1.0, 3).mean_in_system)
    assert network.stations["cache"].method == "M/M/inf"
    total = sum(s.mean_in_system for s in network.stations.values())
    assert network.mean_sojourn_time == pytest.approx(total / 2.5)
    assert network.visit_ratios["web"] == pytest.approx(web / 2.5)


def test_jackson_unstable_station_makes_the_network_unstable() -> None:
    network = jackson_network({"a": 0.5}, {"a": {"a": 0.6}}, {"a": 1.0})
    assert not network.stable
    assert network.mean_sojourn_time == math.inf
    assert_sane(network.stations["a"])


def test_jackson_reports_every_problem_at_once() -> None:
    with pytest.raises(ValueError) as caught:
        jackson_network(
            {"a": -1.0, "zz": 1.0},
            {"a": {"b": 0.7, "c": 0.6}, "q": {"a": 1.0}},
            {"a": 1.0, "b": 0.0},
            {"b": 0},
        )
    message = str(caught.value)
    for part in (
        "'external_arrival_rates['a']' must be a finite number >= 0 (got -1.0)",
        "names unknown station 'zz'",
        "names unknown station 'c'",
        "names unknown station 'q'",
        "'service_rates['b']' must be a finite number > 0 (got 0.0)",
        "'servers['b']' must be an integer >= 1 (got 0)",
    ):
        assert part in message


def test_jackson_rejects_a_loop_with_no_exit() -> None:
    with pytest.raises(ValueError, match=r"no way out from \['b', 'c'\]"):
        jackson_network(
            {"a": 1.0},
            {"a": {"b": 0.5}, "b": {"c": 1.0}, "c": {"b": 1.0}},
            {"a": 2.0, "b": 2.0, "c": 2.0},
        )
    with pytest.raises(ValueError, match="must sum to <= 1"):
        jackson_network({"a": 1.0}, {"a": {"a": 0.7, "b": 0.7}}, {"a": 2.0, "b": 2.0})


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
