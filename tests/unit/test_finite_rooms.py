"""Finite waiting rooms with service that is not exponential: M/G/1/K (the chain embedded
at departures) and M/PH2/c/K (two service phases), `models.theory.finite_room`, and where
the analysis uses them (`models.analysis.finite_rooms`) (deterministic unit tests; the
simulation checks are in tests/theory/test_single_station.py)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.sparse import coo_matrix

from models import analyze, load_scenario
from models.analysis.finite_rooms import (
    GAMMA_FIT_NOTE,
    METHOD,
    PHASE_FIT_NOTE,
    PHASES_METHOD,
    arrivals_during,
)
from models.distributions import (
    Constant,
    Hyperexponential,
    Lognormal,
    Pareto,
    Uniform,
    Weibull,
)
from models.empirical import Empirical
from models.theory import finite_room, mg1k, mmck
from models.theory.finite_room import (
    arrivals_during_gamma,
    arrivals_during_uniform,
    mph2ck,
    two_phase_fit,
)


def _dense(rate: float, service: float, a: list[float], capacity: int) -> tuple[float, float]:
    """(loss, mean wait) from the embedded chain's transition matrix, solved densely."""
    size = capacity
    chain = np.zeros((size, size))
    for state in range(size):
        base = max(state - 1, 0)
        for target in range(base, size):
            k = target - base
            chain[state, target] = a[k] if target < size - 1 else 1.0 - sum(a[:k])
    system = chain.T - np.eye(size)
    system[-1, :] = 1.0
    right = np.zeros(size)
    right[-1] = 1.0
    departures = np.linalg.solve(system, right)
    scale = departures[0] + rate * service
    present = np.append(departures / scale, 1.0 - 1.0 / scale)
    loss = present[-1]
    in_system = float(np.dot(present, np.arange(capacity + 1)))
    return loss, in_system / (rate * (1.0 - loss)) - service


@pytest.mark.parametrize(("rate", "capacity"), [(0.5, 1), (0.9, 5), (1.5, 8), (3.0, 60)])
def test_exponential_service_is_m_m_1_k(rate: float, capacity: int) -> None:
    """With a_k geometric the chain is M/M/1/K's birth-death chain (Gross & Harris 2.5)."""
    chain = mg1k(rate, 1.0, arrivals_during_gamma(rate, 1.0, 1.0, capacity), capacity)
    markov = mmck(rate, 1.0, 1, capacity)
    assert chain.loss_probability == pytest.approx(markov.loss_probability, rel=1e-9)
    assert chain.mean_waiting_time == pytest.approx(markov.mean_waiting_time, rel=1e-9)
    assert chain.mean_in_system == pytest.approx(markov.mean_in_system, rel=1e-9)
    assert chain.p_wait == pytest.approx(markov.p_wait, rel=1e-9)
    assert chain.utilization == pytest.approx(markov.utilization, rel=1e-9)


@pytest.mark.parametrize(("rho", "capacity"), [(0.5, 2), (0.9, 5), (1.2, 10), (2.0, 40)])
def test_crossing_recursion_matches_the_dense_chain(rho: float, capacity: int) -> None:
    """M/D/1/K by the level-crossing recursion against the transition matrix solved
    densely, under and over saturation; Little's law and the busy fraction hold."""
    a = arrivals_during_gamma(rho, 1.0, 0.0, capacity)
    chain = mg1k(rho, 1.0, a, capacity)
    loss, wait = _dense(rho, 1.0, a, capacity)
    assert chain.loss_probability == pytest.approx(loss, rel=1e-9)
    assert chain.mean_waiting_time == pytest.approx(wait, rel=1e-9)
    admitted = rho * (1.0 - chain.loss_probability)
    assert chain.mean_in_system == pytest.approx(admitted * chain.mean_response_time, rel=1e-9)
    assert chain.utilization == pytest.approx(admitted * 1.0, rel=1e-9)


def test_no_room_is_erlang_loss_whatever_the_law() -> None:
    """K = 1: P(loss) = rho / (1 + rho) for any service law (insensitivity)."""
    for a in (arrivals_during_gamma(0.7, 1.0, 0.0, 1), arrivals_during_gamma(0.7, 1.0, 4.0, 1)):
        assert mg1k(0.7, 1.0, a, 1).loss_probability == pytest.approx(0.7 / 1.7, rel=1e-12)


def test_a_long_room_approaches_m_d_1() -> None:
    """Below saturation and with a room far beyond the queue, M/D/1/K is M/D/1
    (Pollaczek-Khinchine: Wq = rho / (2 mu (1 - rho)))."""
    rate, capacity = 0.8, 400
    chain = mg1k(rate, 1.0, arrivals_during_gamma(rate, 1.0, 0.0, capacity), capacity)
    assert chain.loss_probability < 1e-12  # (1 - 1 / (pi_0 + rho): rounding only)
    assert chain.mean_waiting_time == pytest.approx(0.8 / (2 * 0.2), rel=1e-9)


@pytest.mark.parametrize(
    ("law", "mean"),
    [
        (Constant(0.02), 0.02),
        (Uniform(0.01, 0.05), 0.03),
        (Hyperexponential(0.02, 3.0), 0.02),
    ],
)
def test_arrivals_during_a_service_are_a_law_with_the_right_mean(law: Any, mean: float) -> None:
    """sum a_k = 1 and sum k a_k = lambda E[S] (arrivals are Poisson during the service)."""
    rate = 60.0
    a = arrivals_during(law, rate, 400)
    assert a is not None
    assert math.fsum(a) == pytest.approx(1.0, abs=1e-12)
    assert math.fsum(k * x for k, x in enumerate(a)) == pytest.approx(rate * mean, rel=1e-9)


def test_uniform_arrivals_are_the_poisson_law_averaged_over_the_service() -> None:
    rate, low, high = 2.0, 0.5, 1.5
    a = arrivals_during_uniform(rate, low, high, 5)
    for k, value in enumerate(a):
        integral, _ = quad(
            lambda t, k=k: math.exp(-rate * t) * (rate * t) ** k / math.factorial(k), low, high
        )
        assert value == pytest.approx(integral / (high - low), rel=1e-9)


@pytest.mark.parametrize(
    "law",
    [
        Lognormal.from_mean_cv(0.01, 0.5),
        Lognormal.from_mean_cv(0.01, 1.5),
        Weibull(0.01, 0.5),
        Weibull(0.01, 2.0),
        Pareto(0.01, 1.5),
        Pareto(0.01, 3.0),
    ],
)
def test_quadrature_arrivals_match_adaptive_integration_of_the_density(law: Any) -> None:
    """Lognormal, Weibull and Pareto a_k (Gauss quadrature) against quad over the
    density, to 1e-9: the Poisson law of mean rate t averaged over the law of t."""
    rate = 90.0
    a = arrivals_during(law, rate, 6)
    assert a is not None
    if isinstance(law, Lognormal):
        mu, sigma = law.mu, law.sigma

        def density(t: float) -> float:
            return math.exp(-((math.log(t) - mu) ** 2) / (2 * sigma**2)) / (
                t * sigma * math.sqrt(2 * math.pi)
            )

        low = 0.0
    elif isinstance(law, Weibull):
        shape, scale = law.shape, law.scale

        def density(t: float) -> float:
            return (shape / scale) * (t / scale) ** (shape - 1) * math.exp(-((t / scale) ** shape))

        low = 0.0
    else:
        alpha, low = law.alpha, law.scale

        def density(t: float) -> float:
            return alpha * low**alpha / t ** (alpha + 1)

    def poisson(t: float, k: int) -> float:
        return density(t) * math.exp(-rate * t) * (rate * t) ** k / math.factorial(k)

    for k, value in enumerate(a):
        middle = max(low, 0.01)
        integral = quad(poisson, low, middle, args=(k,), limit=500, epsabs=1e-15)[0]
        integral += quad(poisson, middle, math.inf, args=(k,), limit=500, epsabs=1e-15)[0]
        assert value == pytest.approx(integral, abs=1e-9)


def test_an_empirical_law_averages_the_poisson_laws_of_its_values() -> None:
    a = arrivals_during(Empirical((0.01, 0.03)), 60.0, 3)
    assert a is not None
    for k, value in enumerate(a):
        expected = sum(
            math.exp(-60.0 * t) * (60.0 * t) ** k / math.factorial(k) for t in (0.01, 0.03)
        )
        assert value == pytest.approx(expected / 2, rel=1e-12)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="arrivals_during_service"):
        mg1k(1.0, 1.0, [0.5], 4)
    with pytest.raises(ValueError, match="arrival_rate"):
        mg1k(-1.0, 1.0, [0.5, 0.25, 0.125], 4)


def _one_worker(
    work: Any, rate: float, room: int = 4, arrivals: str = "poisson", workers: int = 1
) -> Any:
    """The analysis of `workers` with a waiting room of `room`, one operation per law."""
    operations = {f"op{i}": [{"work": w}] for i, w in enumerate(work)}
    flows = {
        f"f{i}": {"entry": f"s.op{i}", "arrivals": {arrivals: rate / len(work)}}
        for i in range(len(work))
    }
    document = {
        "name": "unit",
        "simulation": {"duration": 60},
        "services": {"s": {"workers": workers, "queue_capacity": room, "operations": operations}},
        "workload": flows,
    }
    return analyze(load_scenario(document)).services["s"]


def test_analysis_solves_one_worker_with_a_room_as_m_g_1_k() -> None:
    """Constant work of 10 ms at 90/s with a room of 4 (M/D/1/5): exact, the chain's values
    (M/M/1/K would lose 12.6%, not 6.4%)."""
    service = _one_worker([{"constant": 0.01}], 90.0)
    expected = mg1k(90.0, 0.01, arrivals_during_gamma(90.0, 0.01, 0.0, 4), 5)
    assert (service.method, service.exact) == (METHOD, True)
    assert service.loss_probability == pytest.approx(expected.loss_probability, rel=1e-9)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=1e-9)
    assert service.loss_probability == pytest.approx(0.06436, abs=1e-5)


def test_operations_of_different_laws_mix_their_arrivals() -> None:
    """Two operations, constant 10 ms and exponential 20 ms, 40/s each: exact, with the
    a_k of the mixture (weights by acquisitions) and its mean service time."""
    service = _one_worker([{"constant": 0.01}, {"exponential": 0.02}], 80.0)
    constant = arrivals_during_gamma(80.0, 0.01, 0.0, 4)
    exponential = arrivals_during_gamma(80.0, 0.02, 1.0, 4)
    mixed = [(x + y) / 2 for x, y in zip(constant, exponential, strict=True)]
    expected = mg1k(80.0, 0.015, mixed, 5)
    assert (service.method, service.exact) == (METHOD, True)
    assert service.loss_probability == pytest.approx(expected.loss_probability, rel=1e-9)


def test_work_that_is_not_one_law_is_fitted_by_a_gamma_law() -> None:
    """Work then a delay: the holding time is their sum, whose law is not known."""
    document = {
        "name": "unit",
        "simulation": {"duration": 60},
        "services": {
            "s": {
                "workers": 1,
                "queue_capacity": 4,
                "operations": {
                    "op": [{"work": {"constant": 0.005}}, {"delay": {"exponential": 0.005}}]
                },
            }
        },
        "workload": {"f": {"entry": "s.op", "arrivals": {"poisson": 80.0}}},
    }
    service = analyze(load_scenario(document)).services["s"]
    scv = 0.005**2 / 0.01**2
    expected = mg1k(80.0, 0.01, arrivals_during_gamma(80.0, 0.01, scv, 4), 5)
    assert service.method == f"{METHOD}, {GAMMA_FIT_NOTE}"
    assert not service.exact
    assert service.loss_probability == pytest.approx(expected.loss_probability, rel=1e-9)


def test_heavy_tailed_work_on_one_worker_is_exact() -> None:
    """Pareto work of tail index 1.5 (infinite variance): the room bounds the wait, and
    M/G/1/K has it from the law's a_k."""
    service = _one_worker([{"pareto": {"mean": 0.01, "alpha": 1.5}}], 80.0)
    assert (service.method, service.exact) == (METHOD, True)
    assert math.isfinite(service.waiting_time.mean)
    assert 0.0 < service.loss_probability < 1.0


def test_arrivals_that_are_not_poisson_scale_the_wait() -> None:
    """Constant arrivals (ca² = 0) into constant work: the chain's wait scaled by
    (ca² + cs²) / (1 + cs²) = 0, an approximation."""
    service = _one_worker([{"uniform": [0.005, 0.015]}], 80.0, arrivals="constant")
    assert not service.exact
    assert "(ca² + cs²) / (1 + cs²)" in service.method


def test_exponential_work_and_several_workers_stay_m_m_c_k() -> None:
    assert _one_worker([{"exponential": 0.01}], 90.0).method == "M/M/c/K"


@pytest.mark.parametrize(("rate", "servers", "capacity"), [(3.3, 3, 6), (4.4, 4, 6), (10.0, 2, 8)])
def test_two_phases_of_scv_one_are_m_m_c_k(rate: float, servers: int, capacity: int) -> None:
    """At SCV 1 the two-phase law is the exponential (a Coxian that moves on half the
    time at twice the rate): the chain is M/M/c/K's."""
    chain = mph2ck(rate, 1.0, 1.0, servers, capacity)
    markov = mmck(rate, 1.0, servers, capacity)
    assert chain is not None
    assert chain.loss_probability == pytest.approx(markov.loss_probability, rel=1e-9)
    assert chain.mean_waiting_time == pytest.approx(markov.mean_waiting_time, rel=1e-9)
    assert chain.p_wait == pytest.approx(markov.p_wait, rel=1e-9)


@pytest.mark.parametrize(("law", "scv"), [(Hyperexponential(1.0, 2.0), 4.0), (None, 0.5)])
def test_two_phases_on_one_server_are_m_g_1_k(law: Any, scv: float) -> None:
    """One server: the two-phase chain and the embedded chain agree for the laws two
    phases are exactly (H2 of balanced means, Erlang-2)."""
    rate, capacity = 0.8, 6
    if law is None:
        a = arrivals_during_gamma(rate, 1.0, 0.5, capacity)
    else:
        found = arrivals_during(law, rate, capacity)
        assert found is not None
        a = found
    embedded = mg1k(rate, 1.0, a, capacity)
    phases = mph2ck(rate, 1.0, scv, 1, capacity)
    assert phases is not None
    assert phases.loss_probability == pytest.approx(embedded.loss_probability, rel=1e-9)
    assert phases.mean_waiting_time == pytest.approx(embedded.mean_waiting_time, rel=1e-9)


@pytest.mark.parametrize("scv", [0.5, 0.8, 1.0, 2.0, 9.0])
def test_two_phase_fit_has_the_mean_and_scv(scv: float) -> None:
    alpha, first, onward, second = two_phase_fit(2.0, scv)
    mean = alpha * (1 / first + onward / second) + (1 - alpha) / second
    square = alpha * (2 / first**2 + onward * (2 / (first * second) + 2 / second**2))
    square += (1 - alpha) * 2 / second**2
    assert mean == pytest.approx(2.0, rel=1e-12)
    assert square / mean**2 - 1 == pytest.approx(scv, rel=1e-9)


def test_several_workers_with_hyperexponential_work_are_exact() -> None:
    service = _one_worker([{"hyperexponential": {"mean": 0.02, "cv": 2.0}}], 90.0, 6, workers=2)
    expected = mph2ck(90.0, 0.02, 4.0, 2, 8)
    assert expected is not None
    assert (service.method, service.exact) == (PHASES_METHOD, True)
    assert service.loss_probability == pytest.approx(expected.loss_probability, rel=1e-9)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=1e-9)


def test_several_workers_with_other_work_fit_two_phases() -> None:
    """Lognormal work (SCV 4) is fitted by its two moments (an approximation); work of
    SCV below 1/2 takes Erlang phases instead (tests/unit/test_erlang_room.py)."""
    lognormal = _one_worker([{"lognormal": {"mean": 0.02, "cv": 2.0}}], 90.0, 6, workers=2)
    assert lognormal.method == f"{PHASES_METHOD}, {PHASE_FIT_NOTE}"
    assert not lognormal.exact
    fitted = mph2ck(90.0, 0.02, 4.0, 2, 8)
    assert fitted is not None
    assert lognormal.loss_probability == pytest.approx(fitted.loss_probability, rel=1e-6)


@pytest.mark.parametrize("rate", [1e3, 1e12, 1e300])
def test_overwhelming_load_fills_the_room_without_overflow(rate: float) -> None:
    """Far beyond capacity (the capacity search tries such loads) nearly everything is
    lost, the server never idles, and an admitted request waits for the whole room: K - 1
    constant services (M/D/1/10), or about the room's worth of two-phase ones."""
    capacity = 10
    embedded = mg1k(rate, 1.0, arrivals_during_gamma(rate, 1.0, 0.0, capacity), capacity)
    assert embedded.loss_probability == pytest.approx(1.0, abs=2e-3)
    assert embedded.throughput == pytest.approx(1.0, rel=1e-9)
    assert embedded.mean_waiting_time == pytest.approx(capacity - 1, rel=1e-3)
    assert embedded.p_wait == 1.0
    phases = mph2ck(rate, 1.0, 4.0, 2, capacity)
    assert phases is not None
    assert phases.throughput == pytest.approx(2.0, rel=1e-9)
    assert all(math.isfinite(x) for x in (phases.mean_waiting_time, phases.p_wait))


def _two_phase_chain(rate: float, servers: int, capacity: int) -> tuple[Any, ...]:
    """The transitions `mph2ck` solves (SCV 3, mean 1), as `stationary` receives them."""
    seen: list[tuple[Any, ...]] = []
    solve = finite_room.stationary

    def keep(*args: Any) -> np.ndarray:
        seen.append(args[:4])
        return solve(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(finite_room, "stationary", keep)
        mph2ck(rate, 1.0, 3.0, servers, capacity)
    return seen[0]


@pytest.mark.parametrize(("rate", "servers", "capacity"), [(1.5, 2, 6), (50.0, 20, 60)])
def test_the_chain_solved_relative_to_a_likely_state_is_the_normalised_one(
    rate: float, servers: int, capacity: int
) -> None:
    """p Q = 0 solved for p / p_likely (sparse) and with sum p = 1 in place of an equation
    (a full row) give one distribution, whichever state is taken as likely."""
    size, source, target, value = _two_phase_chain(rate, servers, capacity)
    normalised = finite_room.stationary(size, source, target, value)
    for likely in (0, size // 2, size - 1):
        relative = finite_room.stationary(size, source, target, value, likely)
        assert np.max(np.abs(relative - normalised)) < 1e-12


def test_a_state_far_less_likely_than_thought_falls_back_to_the_normalised_solve() -> None:
    """At 500 times the servers' capacity the empty state has a probability of about
    1e-19: relative to it the system is singular to working precision, so the solution is
    refused and the normalised one taken (the room full but for 2 / 1000 of the time)."""
    size, source, target, value = _two_phase_chain(1e3, 2, 8)
    outflow = np.bincount(source, weights=value, minlength=size)
    rows = np.concatenate((target, np.arange(size)))
    columns = np.concatenate((source, np.arange(size)))
    entries = np.concatenate((value, -outflow))
    balance = coo_matrix((entries, (rows, columns)), shape=(size, size)).tocsr()
    assert finite_room._relative_to(balance, 0) is None
    assert finite_room._relative_to(balance, size - 2) is not None
    solved = finite_room.stationary(size, source, target, value, 0)
    assert np.array_equal(solved, finite_room.stationary(size, source, target, value))
    assert solved[-3:].sum() == pytest.approx(1.0 - 2.0 / 1e3, rel=1e-9)  # (lost: all but c/E[S])
