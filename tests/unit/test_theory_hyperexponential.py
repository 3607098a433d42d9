"""`models.theory.hyperexponential.mh2c` (M/H2/c, matrix-geometric) and where the analysis
uses it (deterministic).

Checked against the cases with closed forms (cs² = 1 is M/M/c, c = 1 is M/G/1), against
the same Markov chain truncated and solved directly (an independent check of the
matrix-geometric algebra), and against Allen-Cunneen's heavy-traffic limit, which it must
approach as the load nears 1 (Köllerström's heavy-traffic result for GI/G/c).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

import models.theory as theory
from models import analyze, load_scenario
from models.distributions import (
    Constant,
    Erlang,
    Exponential,
    Gamma,
    Hyperexponential,
    Lognormal,
    Uniform,
    Weibull,
)
from models.theory.hyperexponential import balanced_h2, mh2c, three_moment_h2


@pytest.mark.parametrize("servers", [1, 2, 3, 8, 32, 64])
@pytest.mark.parametrize("load", [0.01, 0.1, 0.6, 0.95])
def test_exponential_service_is_erlang_c(servers: int, load: float) -> None:
    """To 1e-9 relative even where waiting is all but impossible (64 servers at 1%: P(wait)
    about 1e-100): every level is a product of non-negative matrices."""
    rate = load * servers
    exact = theory.mmc(rate, 1.0, servers)
    found = mh2c(rate, 1.0, servers, 1.0)
    assert found.mean_waiting_time == pytest.approx(exact.mean_waiting_time, rel=1e-9)
    assert found.p_wait == pytest.approx(exact.p_wait, rel=1e-9)


@pytest.mark.parametrize("scv", [1.5, 4.0, 50.0])
@pytest.mark.parametrize("load", [0.3, 0.9])
def test_one_server_is_pollaczek_khinchine(scv: float, load: float) -> None:
    exact = theory.mg1(load, 1.0, scv)
    found = mh2c(load, 1.0, 1, scv)
    assert found.mean_waiting_time == pytest.approx(exact.mean_waiting_time, rel=1e-9)
    assert found.p_wait == pytest.approx(load, rel=1e-9)


def _truncated_chain(rate: float, mean: float, servers: int, scv: float, levels: int) -> float:
    """Wq of the M/H2/c chain cut at `levels` customers, solved as one sparse system (states
    (n, j): n present, j of the busy servers in phase 1)."""
    first, rate_1, rate_2 = balanced_h2(mean, scv)
    index: dict[tuple[int, int], int] = {}
    for n in range(levels + 1):
        for j in range(min(n, servers) + 1):
            index[(n, j)] = len(index)
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []

    def move(source: tuple[int, int], target: tuple[int, int], value: float) -> None:
        if value > 0:
            rows.append(index[source])
            cols.append(index[target])
            values.append(value)

    for n, j in index:
        busy = min(n, servers)
        if n < levels:
            if n < servers:
                move((n, j), (n + 1, j + 1), rate * first)
                move((n, j), (n + 1, j), rate * (1 - first))
            else:
                move((n, j), (n + 1, j), rate)
        for phase, count, service in ((1, j, rate_1), (2, busy - j, rate_2)):
            if count == 0:
                continue
            left = j - 1 if phase == 1 else j
            if n > servers:  # the head of the queue starts, in phase 1 or 2
                move((n, j), (n - 1, left + 1), count * service * first)
                move((n, j), (n - 1, left), count * service * (1 - first))
            else:
                move((n, j), (n - 1, left), count * service)
    size = len(index)
    generator = coo_matrix((values, (rows, cols)), shape=(size, size)).tocsr()
    out = np.asarray(generator.sum(axis=1)).ravel()
    diagonal = coo_matrix((out, (range(size), range(size))), shape=(size, size))
    system = (generator.T - diagonal).tolil()
    system[0, :] = 1.0
    right = np.zeros(size)
    right[0] = 1.0
    probabilities = spsolve(system.tocsr(), right)
    queued = sum(probabilities[i] * max(n - servers, 0) for (n, _), i in index.items())
    return float(queued / rate)


@pytest.mark.parametrize(
    ("servers", "load", "scv"), [(2, 0.7, 2.357), (3, 0.5, 4.0), (5, 0.8, 1.2)]
)
def test_matches_the_truncated_chain(servers: int, load: float, scv: float) -> None:
    """The chain cut at 1500 customers loses less than 1e-12 of its mass at these loads."""
    rate = load * servers / 3.0
    direct = _truncated_chain(rate, 3.0, servers, scv, levels=1500)
    assert mh2c(rate, 3.0, servers, scv).mean_waiting_time == pytest.approx(direct, rel=1e-9)


@pytest.mark.parametrize(
    ("servers", "load", "scv", "levels"), [(48, 0.8, 1.1, 130), (40, 0.95, 1.5, 550)]
)
def test_matches_the_truncated_chain_on_many_servers(
    servers: int, load: float, scv: float, levels: int
) -> None:
    """Where the level reduction subtracted what comes back down from what leaves a level
    (two numbers agreeing in all but the completions' share), its levels below c came out
    negative and the wait 0 at 40-64 servers. The chain cut `levels` above c loses less
    than 1e-12 of its mass (load^levels)."""
    rate = load * servers
    direct = _truncated_chain(rate, 1.0, servers, scv, levels=servers + levels)
    assert mh2c(rate, 1.0, servers, scv).mean_waiting_time == pytest.approx(direct, rel=1e-8)


def test_between_erlang_c_and_allen_cunneen_on_many_servers() -> None:
    """A service more variable than the exponential waits at least as long as M/M/c
    (Erlang C) and at most Allen-Cunneen's (1 + cs²) / 2 times that, on 40-64 servers
    from 10% to 99.9% load, SCVs from just above 1 (rounding: a holding time of one
    exponential step, its SCV 1 + 2e-16) to 10; at cs² = 1 exactly, Erlang C to 1e-9."""
    for servers in (40, 48, 56, 64):
        for load in (0.1, 0.5, 0.8, 0.9, 0.95, 0.97, 0.99, 0.999):
            rate = load * servers
            erlang = theory.mmc(rate, 1.0, servers).mean_waiting_time
            assert mh2c(rate, 1.0, servers, 1.0).mean_waiting_time == pytest.approx(
                erlang, rel=1e-9
            )
            for scv in (1.0 + 2e-16, 1.001, 1.01, 1.1, 1.5, 2.0, 4.0, 10.0):
                found = mh2c(rate, 1.0, servers, scv).mean_waiting_time
                allen = theory.gg_c_allen_cunneen(rate, 1.0, servers, 1.0, scv)
                assert erlang * (1 - 1e-9) <= found <= allen.mean_waiting_time * (1 + 1e-8)


@pytest.mark.parametrize("servers", [2, 8])
def test_below_allen_cunneen_and_equal_to_it_in_heavy_traffic(servers: int) -> None:
    """For cs² > 1 and c > 1, M/H2/c waits less than Allen-Cunneen says, and the two meet
    as the load nears 1 (both tend to (1 + cs²) / 2 x the M/M/c wait)."""
    for load, bound in ((0.5, 0.95), (0.9, 0.99), (0.999, 1.0)):
        rate = load * servers
        found = mh2c(rate, 1.0, servers, 4.0).mean_waiting_time
        allen = theory.gg_c_allen_cunneen(rate, 1.0, servers, 1.0, 4.0).mean_waiting_time
        assert found < bound * allen
    assert found == pytest.approx(allen, rel=1e-2)


def test_never_negative_nor_above_allen_cunneen() -> None:
    """Over loads from 1e-6 to 0.9999 and SCVs from 1 to 1e4: finite, non-negative, a
    probability for P(wait), and at most Allen-Cunneen's wait (its heavy-traffic limit; to
    1e-8, the precision at 99.99% load)."""
    for servers in (2, 5, 16, 33):
        for load in (1e-6, 1e-3, 0.3, 0.95, 0.9999):
            for scv in (1.0001, 3.0, 100.0, 1e4):
                rate = load * servers / 0.01
                found = mh2c(rate, 0.01, servers, scv)
                allen = theory.gg_c_allen_cunneen(rate, 0.01, servers, 1.0, scv)
                assert 0.0 <= found.mean_waiting_time <= allen.mean_waiting_time * (1 + 1e-8)
                assert 0.0 <= found.p_wait <= 1.0


def test_unstable_and_idle() -> None:
    unstable = mh2c(2.0, 1.0, 2, 3.0)
    assert not unstable.stable and math.isinf(unstable.mean_waiting_time)
    idle = mh2c(0.0, 1.0, 2, 3.0)
    assert idle.stable and idle.mean_waiting_time == 0.0


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ((1.0, 1.0, 2, 0.5), "service_scv"),
        ((-1.0, 1.0, 2, 2.0), "arrival_rate"),
        ((1.0, 0.0, 2, 2.0), "mean_service_time"),
        ((1.0, 1.0, 0, 2.0), "servers"),
    ],
)
def test_bad_arguments_are_named(arguments: tuple[Any, ...], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        mh2c(*arguments)


def _pool(servers: int, work: dict[str, Any], rate: float, **spec: Any) -> Any:
    return analyze(
        load_scenario(
            {
                "name": "pool",
                "simulation": {"duration": 100},
                "services": {
                    "db": {"workers": servers, **spec, "operations": {"q": [{"work": work}]}}
                },
                "workload": {"users": {"entry": "db.q", "arrivals": {"poisson": rate}}},
            }
        )
    ).services["db"]


def test_the_analysis_solves_variable_service_on_several_servers_as_m_h2_c() -> None:
    """Lognormal service of cv 1.5 on 4 servers at 80%: the M/H2/4 of its three moments
    (E[S³] = mean³ (1 + cv²)³; not exact: the law is not H2); a pool too large for it (128)
    or one where next to nothing waits keeps Allen-Cunneen."""
    lognormal = {"lognormal": {"mean": 0.01, "cv": 1.5}}
    four = _pool(4, lognormal, 320.0)
    assert four.method.startswith("M/H2/c") and four.exact is False
    third = 0.01**3 * (1 + 2.25) ** 3
    assert four.waiting_time.mean == pytest.approx(
        mh2c(320.0, 0.01, 4, 2.25, third).mean_waiting_time, rel=1e-9
    )
    assert _pool(128, lognormal, 12_000.0).method.startswith("Allen-Cunneen")
    assert _pool(64, lognormal, 500.0).method.startswith("Allen-Cunneen")  # (8% load)
    hyper = _pool(2, {"hyperexponential": {"mean": 0.01, "cv": 2.0}}, 140.0)
    assert hyper.exact  # (the law is H2 itself, the arrivals Poisson)
    assert hyper.waiting_time.mean == pytest.approx(
        mh2c(140.0, 0.01, 2, 4.0).mean_waiting_time, rel=1e-9
    )


def test_a_pool_reacquired_after_replies_keeps_allen_cunneen() -> None:
    """An async-I/O pool (`blocking_calls: false`) holds a worker for 1 ms, calls, then
    re-acquires one for the (empty) rest: half its holds are 0, and Allen-Cunneen is exact
    for an exponential with an atom at 0 (the empty holds wait as virtual customers of the
    M/M/c of the others), where the balanced H2 of the same two moments is not."""
    scenario = load_scenario(
        {
            "name": "async",
            "simulation": {"duration": 100},
            "services": {
                "api": {
                    "workers": 2,
                    "blocking_calls": False,
                    "operations": {"get": [{"work": {"exponential": 0.001}}, {"call": "db.q"}]},
                },
                "db": {
                    "workers": "unlimited",
                    "operations": {"q": [{"work": {"exponential": 0.002}}]},
                },
            },
            "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": 1200.0}}},
        }
    )
    api = analyze(scenario).services["api"]
    assert api.method.startswith("Allen-Cunneen")
    erlang = theory.mmc(1200.0, 1000.0, 2)  # the holds of 1 ms alone: M/M/2
    assert api.waiting_time.mean == pytest.approx(erlang.mean_waiting_time, rel=1e-9)


def test_other_arrivals_scale_m_h2_c_as_allen_cunneen_does() -> None:
    """Round-robin over 2 replicas of 2 workers: each gets every other arrival (Erlang-2,
    ca² = 1/2), so its M/H2/2 is scaled by (ca² + cs²) / (1 + cs²), and is not exact."""
    lognormal = {"lognormal": {"mean": 0.01, "cv": 1.5}}
    db = _pool(2, lognormal, 280.0, replicas=2, balancing="round_robin")
    assert db.method == "M/H2/c (matrix-geometric), arrivals' SCV as in Allen-Cunneen"
    assert not db.exact
    third = 0.01**3 * (1 + 2.25) ** 3  # (the lognormal's E[S³]: three moments fitted)
    fitted = mh2c(140.0, 0.01, 2, 2.25, third).mean_waiting_time
    scaled = fitted * (0.5 + 2.25) / (1.0 + 2.25)
    assert db.waiting_time.mean == pytest.approx(scaled, rel=1e-9)


def test_three_moments_fit_an_h2_that_has_them() -> None:
    """The fitted law's first three moments are those given; with the balanced H2's own
    third moment the fit is the balanced law; without an H2 that has them, None."""
    mean, scv = 3.0, 2.357
    third = 0.75 * 6 * 2.0**3 + 0.25 * 6.0**3 * (1 + 1.3**2) ** 3  # g's database, in ms
    law = three_moment_h2(mean, scv, third)
    assert law is not None
    first, rate_1, rate_2 = law
    moments = [math.factorial(k) * (first / rate_1**k + (1 - first) / rate_2**k) for k in (1, 2, 3)]
    assert moments == pytest.approx([mean, (1 + scv) * mean**2, third], rel=1e-9)
    p_1, balanced_1, balanced_2 = balanced_h2(mean, scv)
    balanced_third = 6 * (p_1 / balanced_1**3 + (1 - p_1) / balanced_2**3)
    refitted = three_moment_h2(mean, scv, balanced_third)
    assert refitted is not None

    def phases(law: tuple[float, float, float]) -> list[tuple[float, float]]:
        """(probability, rate) of each phase, the slower first."""
        return sorted([(law[0], law[1]), (1 - law[0], law[2])], key=lambda phase: phase[1])

    found, balanced = phases(refitted), phases((p_1, balanced_1, balanced_2))
    for (p_found, rate_found), (p_balanced, rate_balanced) in zip(found, balanced, strict=True):
        assert p_found == pytest.approx(p_balanced, rel=1e-7)
        assert rate_found == pytest.approx(rate_balanced, rel=1e-7)
    low = 1.5 * ((1 + scv) * mean**2) ** 2 / mean
    assert three_moment_h2(mean, scv, low * 0.99) is None  # below the H2 bound
    assert three_moment_h2(mean, 1.0, 6 * mean**3) is None  # SCV 1: the exponential


def test_three_moments_bring_m_h2_c_to_the_simulated_m_g_2() -> None:
    """g's database as one M/G/2 queue (3 in 4 exponential 2 ms, 1 in 4 lognormal 6 ms of
    cv 1.3, 400/s): the Kiefer-Wolfowitz simulation of bench/mgc_waiting.py waits
    2.57 ± 0.08 ms; the balanced H2 of the same two moments 2.69 ms, the three-moment H2
    2.55 ms."""
    third = 0.75 * 6 * 0.002**3 + 0.25 * 0.006**3 * (1 + 1.3**2) ** 3
    scv = 30.21e-6 / 0.003**2 - 1
    balanced = mh2c(400.0, 0.003, 2, scv).mean_waiting_time
    fitted = mh2c(400.0, 0.003, 2, scv, third).mean_waiting_time
    assert balanced == pytest.approx(0.002686, rel=1e-3)
    assert fitted == pytest.approx(0.002553, rel=1e-3)


@pytest.mark.parametrize(
    ("distribution", "expected"),
    [
        (Constant(0.5), 0.125),
        (Exponential(2.0), 48.0),
        (Uniform(1.0, 3.0), 10.0),
        (Erlang(3, 2.0), float(stats.gamma(3, scale=2.0 / 3).moment(3))),
        (Gamma(2.0, 1.5), float(stats.gamma(1 / 1.5**2, scale=2.0 * 1.5**2).moment(3))),
        (Lognormal.from_mean_cv(2.0, 1.3), None),
        (Hyperexponential(2.0, 2.0), None),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, float | None) else "",
)
def test_third_moments_in_closed_form(distribution: Any, expected: float | None) -> None:
    """E[X³] against scipy's moments (lognormal: scipy's law of the same mu and sigma; the
    H2: its two exponential phases)."""
    if isinstance(distribution, Lognormal):
        expected = float(
            stats.lognorm(distribution.sigma, scale=math.exp(distribution.mu)).moment(3)
        )
    if isinstance(distribution, Hyperexponential):
        (p_1, p_2), (m_1, m_2) = distribution.probabilities, distribution.phase_means
        expected = p_1 * float(stats.expon(scale=m_1).moment(3)) + p_2 * float(
            stats.expon(scale=m_2).moment(3)
        )
    assert distribution.third_moment == pytest.approx(expected, rel=1e-9)


def test_families_without_a_closed_form_third_moment_give_none() -> None:
    assert Weibull(1.0, 1.5).third_moment is None
