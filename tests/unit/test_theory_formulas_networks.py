"""Unit tests of `models.theory`'s networks: fork-join (Flatto-Hahn, Nelson-Tantawi), closed
networks by Mean Value Analysis (exact, Bard-Schweitzer) and open Jackson networks; textbook
values, identities between formulas, and cross-checks against brute-force continuous-time
Markov chains solved with numpy/scipy (`stationary`, tests/unit/theory_formulas_checks.py).

These are deterministic tests (no simulation). Tolerances: closed forms are compared to
1e-9 relative; truncated Markov chains to 1e-6, the truncation keeping the lost probability
mass far below that (geometric tails at load <= 0.7 over 60+ levels).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
import pytest

from models.theory import (
    fork_join_nelson_tantawi,
    fork_join_two_mm1,
    jackson_network,
    mm1,
    mmc,
    mva_exact,
    mva_schweitzer,
)
from models.theory.convolution import closed_network_by_convolution
from tests.unit.theory_formulas_checks import REL, add_rate, assert_sane, stationary

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
