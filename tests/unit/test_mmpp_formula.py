"""Unit tests of `models.theory.mmpp.mmpp_m1`: the MMPP/M/1 queue by the matrix-geometric
method, against its limits and against a brute-force truncated Markov chain.

Deterministic (no simulation). Tolerances: exact identities and the truncated chain to 1e-9
relative (the truncation level is chosen so that the probability mass beyond it, which
decays like decay_rate^n, is below 1e-15); limits of slow and fast switching to the order of
the switching time scale they are taken at (stated at each test).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from models.arrivals import MmppSpec
from models.theory import mm1
from models.theory.mmpp import (
    MMPPM1,
    kronecker_sum,
    minimal_g,
    mmpp_m1,
    modulated_m1,
    phase_generator,
)

REL = 1e-9

# (rates, switch_rates, service_rate): two to four phases, a silent phase, a phase whose
# rate exceeds mu (stable only on average), slow and fast switching.
PARAMETER_SETS = [
    ([0.3, 1.2], [0.1, 0.2], 1.0),
    ([0.2, 1.4], [0.1, 0.3], 1.0),
    ([0.0, 1.6], [0.5, 0.5], 1.2),
    ([0.2, 0.9, 1.8], [0.4, 0.8, 1.6], 1.25),
    ([0.5, 1.5, 0.1], [0.3, 0.7, 0.2], 1.2),
    ([3.0, 0.5, 0.0, 1.0], [2.0, 0.5, 1.0, 4.0], 2.0),
    ([4.0, 6.0], [20.0, 50.0], 5.5),
    ([0.3, 0.8], [1e-3, 2e-3], 1.0),
]


def truncated_chain(
    rates: list[float], switch_rates: list[float], service_rate: float, levels: int
) -> tuple[float, float, float, np.ndarray]:
    """Brute force: the CTMC on (n, i), n = 0..levels (arrivals blocked at the top), solved
    densely with numpy. Returns (mean in system, mean response time by Little's law with the
    admitted rate, P(an admitted arrival waits), the phase marginal)."""
    phases = len(rates)
    size = phases * (levels + 1)

    def state(n: int, i: int) -> int:
        return n * phases + i

    generator = np.zeros((size, size))
    for n in range(levels + 1):
        for i in range(phases):
            generator[state(n, i), state(n, (i + 1) % phases)] += switch_rates[i]
            if n < levels:
                generator[state(n, i), state(n + 1, i)] += rates[i]
            if n > 0:
                generator[state(n, i), state(n - 1, i)] += service_rate
    np.fill_diagonal(generator, generator.diagonal() - generator.sum(axis=1))
    balance = generator.T.copy()
    balance[0, :] = 1.0  # one balance equation replaced by sum(p) = 1
    right = np.zeros(size)
    right[0] = 1.0
    p = np.linalg.solve(balance, right).reshape(levels + 1, phases)
    in_system = float(np.arange(levels + 1) @ p.sum(axis=1))
    admitted = p[:-1] @ np.asarray(rates)  # arrival rate by level (none at the top)
    admitted_rate = float(admitted.sum())
    p_wait = float(admitted[1:].sum()) / admitted_rate
    return in_system, in_system / admitted_rate, p_wait, p.sum(axis=0)


@pytest.mark.parametrize(("rates", "switch_rates", "service_rate"), PARAMETER_SETS)
def test_matches_a_brute_force_truncated_chain(
    rates: list[float], switch_rates: list[float], service_rate: float
) -> None:
    queue = mmpp_m1(rates, switch_rates, service_rate)
    assert queue.stable and 0 < queue.decay_rate < 1
    levels = math.ceil(math.log(1e-16) / math.log(queue.decay_rate)) + 20
    in_system, response, p_wait, phases = truncated_chain(rates, switch_rates, service_rate, levels)
    assert queue.mean_in_system == pytest.approx(in_system, rel=REL)
    assert queue.mean_response_time == pytest.approx(response, rel=REL)
    assert queue.p_wait == pytest.approx(p_wait, rel=REL)
    assert phases == pytest.approx(queue.phase_probabilities, rel=REL)


@pytest.mark.parametrize(("rates", "switch_rates", "service_rate"), PARAMETER_SETS)
def test_identities_little_and_phase_distribution(
    rates: list[float], switch_rates: list[float], service_rate: float
) -> None:
    """Little's law ties the means; the load and the phases are those of `MmppSpec`."""
    queue = mmpp_m1(rates, switch_rates, service_rate)
    spec = MmppSpec(rates=rates, switch_rates=switch_rates)
    assert queue.arrival_rate == pytest.approx(spec.mean_rate, rel=REL)
    assert queue.phase_probabilities == pytest.approx(spec.stationary, rel=REL)
    assert queue.throughput == queue.arrival_rate
    assert queue.utilization == pytest.approx(spec.mean_rate / service_rate, rel=REL)
    assert queue.mean_response_time == pytest.approx(
        queue.mean_waiting_time + 1 / service_rate, rel=REL
    )
    assert queue.mean_in_system == pytest.approx(
        queue.arrival_rate * queue.mean_response_time, rel=REL
    )
    assert queue.mean_queue_length == pytest.approx(
        queue.mean_in_system - queue.utilization, rel=REL
    )
    assert queue.exact and queue.loss_probability == 0.0
    assert isinstance(queue, MMPPM1)


@pytest.mark.parametrize(
    ("rate", "switch_rates", "service_rate"),
    [
        (0.5, [1.0, 2.0], 1.0),
        (0.9, [0.01, 0.02, 0.05], 1.0),
        (3.0, [5.0, 0.5, 1.0, 2.0], 4.0),
    ],
)
def test_equal_rates_reduce_to_mm1(
    rate: float, switch_rates: list[float], service_rate: float
) -> None:
    """With the same rate in every phase the arrivals are Poisson: W = 1 / (mu - lambda),
    P(wait) = rho, whatever the switching."""
    queue = mmpp_m1([rate] * len(switch_rates), switch_rates, service_rate)
    expected = mm1(rate, service_rate)
    assert queue.mean_response_time == pytest.approx(1 / (service_rate - rate), rel=REL)
    assert queue.mean_waiting_time == pytest.approx(expected.mean_waiting_time, rel=REL)
    assert queue.mean_in_system == pytest.approx(expected.mean_in_system, rel=REL)
    assert queue.mean_queue_length == pytest.approx(expected.mean_queue_length, rel=REL)
    assert queue.p_wait == pytest.approx(rate / service_rate, rel=REL)
    assert queue.decay_rate == pytest.approx(rate / service_rate, rel=REL)


@pytest.mark.parametrize(
    ("rates", "switch_rates", "service_rate"),
    [([0.3, 0.8], [1.0, 2.0], 1.0), ([0.2, 0.9, 0.5], [1.0, 3.0, 0.5], 1.0)],
)
def test_slow_switching_tends_to_the_mixture_of_mm1_queues(
    rates: list[float], switch_rates: list[float], service_rate: float
) -> None:
    """Switching rates scaled by epsilon -> 0 (every phase stable): the queue spends long
    stretches in each phase and reaches its M/M/1 steady state there, so
    L -> sum pi_i rho_i / (1 - rho_i) and W -> L / lambda (Little). The error is O(epsilon)
    (the relaxation time of each M/M/1, ~380 s for rho = 0.9, over the mean phase
    duration; 1.3% at epsilon = 1e-4 for the second set): within 1e-3 relative at
    epsilon = 1e-6, and shrinking tenfold with epsilon."""
    spec = MmppSpec(rates=rates, switch_rates=switch_rates)
    mixture = math.fsum(
        p * mm1(rate, service_rate).mean_in_system
        for p, rate in zip(spec.stationary, rates, strict=True)
    )
    errors = []
    for epsilon in (1e-6, 1e-7):
        queue = mmpp_m1(rates, [epsilon * s for s in switch_rates], service_rate)
        assert queue.mean_in_system == pytest.approx(mixture, rel=1e-3)
        assert queue.mean_response_time == pytest.approx(mixture / spec.mean_rate, rel=1e-3)
        errors.append(abs(queue.mean_in_system - mixture))
    assert errors[1] < 0.2 * errors[0]


@pytest.mark.parametrize(
    ("rates", "switch_rates", "service_rate"),
    [
        ([0.3, 1.2], [0.1, 0.2], 1.0),
        ([0.0, 1.6], [0.5, 0.5], 1.2),
        ([0.2, 0.9, 1.8], [1, 2, 4], 1.25),
    ],
)
def test_fast_switching_tends_to_mm1_at_the_mean_rate(
    rates: list[float], switch_rates: list[float], service_rate: float
) -> None:
    """Switching rates scaled by K -> infinity: the phase averages out between arrivals and
    the queue is M/M/1 at the mean rate; the error is O(1 / K): within 1e-4 relative at
    K = 1e6, and shrinking tenfold with K."""
    mean_rate = MmppSpec(rates=rates, switch_rates=switch_rates).mean_rate
    expected = 1 / (service_rate - mean_rate)
    errors = []
    for scale in (1e5, 1e6):
        queue = mmpp_m1(rates, [scale * s for s in switch_rates], service_rate)
        errors.append(abs(queue.mean_response_time - expected))
    assert errors[1] == pytest.approx(0, abs=1e-4 * expected)
    assert errors[1] < 0.2 * errors[0]


def test_burstier_arrivals_wait_longer() -> None:
    """Slower switching of the same two rates (same mean rate 0.6, same phase
    probabilities) makes longer bursts and longer waits, all above M/M/1 at the mean rate."""
    waits = [
        mmpp_m1([0.3, 1.2], [scale * 0.1, scale * 0.2], 1.0).mean_waiting_time
        for scale in (100.0, 10.0, 1.0, 0.1)
    ]
    assert all(a < b for a, b in itertools.pairwise(waits))
    assert waits[0] > mm1(0.6, 1.0).mean_waiting_time


def test_minimal_g_is_stochastic_and_solves_its_equation() -> None:
    """G of a stable QBD is stochastic and solves A2 + A1 G + A0 G^2 = 0; R from it solves
    A0 + R A1 + R^2 A2 = 0 (checked on the blocks of the module docstring)."""
    up = np.diag([0.3, 1.2])
    generator = np.array([[-0.1, 0.1], [0.2, -0.2]])
    local = generator - up - np.eye(2)
    down = np.eye(2)
    g = minimal_g(up, local, down)
    assert g.sum(axis=1) == pytest.approx([1.0, 1.0], rel=1e-13)
    assert np.abs(down + local @ g + up @ g @ g).max() < 1e-13
    r = up @ np.linalg.inv(-(local + up @ g))
    assert np.abs(up + r @ local + r @ r @ down).max() < 1e-13
    assert (r >= -1e-15).all()


def test_unstable_when_the_mean_rate_reaches_the_service_rate() -> None:
    """lambda >= mu: no steady state (infinite means), even if some phase is below mu."""
    for rates in ([0.5, 2.0], [1.0, 1.0]):
        queue = mmpp_m1(rates, [1.0, 1.0], 1.0)
        assert not queue.stable
        assert queue.mean_response_time == math.inf
        assert queue.mean_waiting_time == math.inf
        assert queue.mean_in_system == math.inf
        assert queue.utilization == 1.0 and queue.throughput == 1.0
    assert mmpp_m1([0.1, 1.5], [1.0, 1.0], 1.0).stable  # one phase above mu, mean below


@pytest.mark.parametrize(
    ("rates", "switch_rates", "service_rate", "message"),
    [
        ([1.0], [1.0], 2.0, "at least 2 phases"),
        ([1.0, 1.0], [1.0], 2.0, "'switch_rates' must have 2 elements"),
        ([0.0, 0.0], [1.0, 1.0], 2.0, "positive rate"),
        ([-1.0, 1.0], [1.0, 1.0], 2.0, "'rates' must be a finite number >= 0"),
        ([1.0, 1.0], [0.0, 1.0], 2.0, "'switch_rates' must be a finite number > 0"),
        ([1.0, 1.0], [1.0, 1.0], 0.0, "'service_rate' must be a finite number > 0"),
        ("12", [1.0, 1.0], 2.0, "sequences of numbers"),
    ],
)
def test_invalid_arguments_raise(
    rates: list[float], switch_rates: list[float], service_rate: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        mmpp_m1(rates, switch_rates, service_rate)


def two_flows_truncated(
    first: tuple[list[float], list[float]],
    second: tuple[list[float], list[float]],
    service_rate: float,
    levels: int,
) -> tuple[float, np.ndarray, float]:
    """Brute force for two independent MMPPs (rates, switch_rates) into one server: the
    CTMC on (n, i, j), each flow's phase moving on its own cycle, arrivals at r_i + r'_j
    (blocked at the top level), solved densely; the mean response by Little's law,
    E[N; phase (i, j)] in the order i m2 + j, and the first flow's mean response (an
    arrival that finds n responds in (n + 1) / mu, FCFS with exponential work)."""
    (rates_a, switch_a), (rates_b, switch_b) = first, second
    size_a, size_b = len(rates_a), len(rates_b)
    size = (levels + 1) * size_a * size_b

    def state(n: int, i: int, j: int) -> int:
        return (n * size_a + i) * size_b + j

    generator = np.zeros((size, size))
    for n, i, j in itertools.product(range(levels + 1), range(size_a), range(size_b)):
        here = state(n, i, j)
        generator[here, state(n, (i + 1) % size_a, j)] += switch_a[i]
        generator[here, state(n, i, (j + 1) % size_b)] += switch_b[j]
        if n < levels:
            generator[here, state(n + 1, i, j)] += rates_a[i] + rates_b[j]
        if n > 0:
            generator[here, state(n - 1, i, j)] += service_rate
    np.fill_diagonal(generator, generator.diagonal() - generator.sum(axis=1))
    balance = generator.T.copy()
    balance[0, :] = 1.0
    right = np.zeros(size)
    right[0] = 1.0
    p = np.linalg.solve(balance, right).reshape(levels + 1, size_a, size_b)
    in_system = float(np.arange(levels + 1) @ p.sum(axis=(1, 2)))
    offered = np.add.outer(rates_a, rates_b)
    admitted = float((p[:-1] * offered).sum())
    by_phase = np.tensordot(np.arange(levels + 1), p, axes=1).reshape(-1)
    first_flow = p[:-1] * np.asarray(rates_a)[:, np.newaxis]
    met = np.arange(1, levels + 1) @ first_flow.sum(axis=(1, 2))
    return in_system / admitted, by_phase, float(met) / (service_rate * float(first_flow.sum()))


@pytest.mark.parametrize(
    ("first", "second", "service_rate"),
    [
        (([0.3, 1.2], [0.1, 0.2]), ([0.1, 0.5], [1.0, 3.0]), 1.5),
        (([0.2, 0.9, 1.8], [0.4, 0.8, 1.6]), ([0.0, 0.6], [0.2, 0.2]), 2.0),
    ],
)
def test_superposed_mmpps_match_a_brute_force_chain(
    first: tuple[list[float], list[float]],
    second: tuple[list[float], list[float]],
    service_rate: float,
) -> None:
    """Two independent MMPPs together are the MMPP on the product of their phases, its
    generator the Kronecker sum of theirs (Fischer & Meier-Hellstern 1993): its
    matrix-geometric response, its mean number in system phase by phase and the first
    flow's own response (`MMPPM1.class_response`) equal the joint chain's, built state by
    state."""
    generator = kronecker_sum(
        [phase_generator(np.array(first[1])), phase_generator(np.array(second[1]))]
    )
    rates = [a + b for a in first[0] for b in second[0]]
    response = modulated_m1(rates, generator, service_rate).mean_response_time
    truth, by_phase, first_response = two_flows_truncated(first, second, service_rate, 400)
    assert response == pytest.approx(truth, rel=REL)
    queue = modulated_m1(rates, generator, service_rate)
    assert np.array(queue.in_system_by_phase) == pytest.approx(by_phase, rel=REL)
    first_rates = [a for a in first[0] for _ in second[0]]
    assert queue.class_response(first_rates) == pytest.approx(first_response, rel=REL)


def test_an_mmpp_beside_poisson_arrivals_is_the_mmpp_shifted_by_their_rate() -> None:
    """A Poisson stream is an MMPP whose phases share one rate: beside an MMPP it adds its
    rate to every phase, whatever its own switching."""
    poisson = phase_generator(np.array([5.0, 0.5]))
    cycle = phase_generator(np.array([0.1, 0.3]))
    together = modulated_m1(
        [0.2 + 0.3, 0.2 + 0.3, 1.4 + 0.3, 1.4 + 0.3], kronecker_sum([cycle, poisson]), 1.5
    ).mean_response_time
    assert together == pytest.approx(
        mmpp_m1([0.5, 1.7], [0.1, 0.3], 1.5).mean_response_time, rel=REL
    )


def test_a_modulated_queue_is_unstable_at_its_mean_rate_and_checks_its_generator() -> None:
    cycle = phase_generator(np.array([1.0, 1.0]))
    assert modulated_m1([0.5, 1.5], cycle, 1.0).mean_response_time == math.inf
    with pytest.raises(ValueError, match="'generator' must be 3 x 3"):
        modulated_m1([0.5, 1.5, 1.0], cycle, 2.0)
