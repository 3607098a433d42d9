"""The two-class station (`models.analysis.mixed_source`): open arrivals and one bounded
population at c servers, solved as a CTMC.

Two exact references:
- with no open arrivals it is the finite-source queue M/M/c//N
  (`models.analysis.finite_source`, Gross & Harris sec. 2.8);
- with one exponential mean for both classes it is a product-form mixed network (BCMP:
  Baskett, Chandy, Muntz & Palacios, JACM 22(2), 1975): an FCFS station of c servers, an
  open Poisson class and a closed class of N customers whose think time is an
  infinite-server station. Its stationary law is, with n = o + b present,
  p(o, b) ∝ n! / (o! b!) λ^o (N! / (N - b)!) / Z^b x S^n / prod_{k<=n} min(k, c)
  (the random order of service of the CTMC does not matter when the means are equal), and
  by the arrival theorem a closed-class arrival sees the network with N - 1 of its own
  (Lavenberg & Reiser, J. Appl. Prob. 17, 1980). `tests.theory.mixed_network` computes it
  by summing over the states, independently of the CTMC.
"""

from __future__ import annotations

import math

import pytest

from models import analyze, load_scenario
from models.analysis.bounds import UNBOUNDED, calls_in_flight
from models.analysis.finite_source import finite_source
from models.analysis.mixed_source import (
    MAX_PHASES,
    BoundedCaller,
    mixed_source,
    phases,
    split_waits,
)
from models.analysis.moments import Moments
from models.schema import Service
from tests.theory.mixed_network import product_form


@pytest.mark.parametrize(
    ("servers", "population", "rate"),
    [(1, 2, 0.8), (2, 5, 1.5), (3, 4, 2.0), (2, 3, 1.9)],
)
def test_without_open_arrivals_it_is_the_finite_source_queue(
    servers: int, population: int, rate: float
) -> None:
    """M/M/c//N: the same think time, waiting and P(wait) as the birth-death chain."""
    alone = finite_source(rate, 1.0, servers, population)
    mixed = mixed_source(0.0, 1.0, rate, 1.0, population, servers)
    assert alone is not None and mixed is not None
    assert math.isclose(mixed.think_time, alone.think_time, rel_tol=1e-9)
    assert math.isclose(mixed.bounded_waiting, alone.mean_waiting_time, rel_tol=1e-9)
    assert math.isclose(mixed.p_wait, alone.p_wait, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("open_rate", "closed_rate", "mean", "population", "servers"),
    [
        (176.7, 119.0, 0.004, 2, 2),
        (50.0, 30.0, 0.01, 3, 2),
        (0.3, 0.4, 1.0, 4, 1),
        (1.0, 1.5, 1.0, 3, 3),
    ],
)
def test_one_exponential_mean_is_the_product_form_mixed_network(
    open_rate: float, closed_rate: float, mean: float, population: int, servers: int
) -> None:
    """BCMP with the CTMC's think time: the closed throughput it was solved for, and both
    classes' mean waits, to 1e-8."""
    mixed = mixed_source(open_rate, mean, closed_rate, mean, population, servers)
    assert mixed is not None
    open_wait, closed_wait, throughput = product_form(
        open_rate, mixed.think_time, population, mean, servers
    )
    assert math.isclose(throughput, closed_rate, rel_tol=1e-8)
    assert math.isclose(mixed.open_waiting, open_wait, rel_tol=1e-8)
    assert math.isclose(mixed.bounded_waiting, closed_wait, rel_tol=1e-8)


def test_bounded_requests_wait_less_than_open_ones_at_the_same_pool() -> None:
    """An open flow of 2 ms requests and 2 clients of 7.3 ms at 2 servers (the shape of
    the Alibaba-like regression model's svc-00): the clients never wait for each other, so
    they wait less than open requests; both wait far less than with Poisson arrivals
    (Allen-Cunneen: 3.2 ms to both; simulated 1.55 and 0.46 ms)."""
    mixed = mixed_source(176.7, 0.002, 119.0, 0.0073, 2, 2)
    assert mixed is not None
    assert mixed.bounded_waiting < 0.5 * mixed.open_waiting
    assert 0.0014 < mixed.open_waiting < 0.0018
    assert 0.0003 < mixed.bounded_waiting < 0.0006
    # Little's law closes the loop: N = X (Z + S + W)
    cycle = mixed.think_time + 0.0073 + mixed.bounded_waiting
    assert math.isclose(2 / cycle, 119.0, rel_tol=1e-9)


def test_no_steady_state_or_too_large_gives_none() -> None:
    assert mixed_source(100.0, 0.01, 150.0, 0.01, 2, 2) is None  # offered 2.5 > 2 servers
    assert mixed_source(10.0, 0.01, 300.0, 0.01, 2, 2) is None  # more than N / S through
    big = next(n for n in range(1, 100) if phases(4, n) > MAX_PHASES)
    assert mixed_source(10.0, 0.01, 10.0, 0.01, big, 4) is None


def test_phases_counts_the_bounded_states() -> None:
    for servers in range(1, 6):
        for population in range(0, 9):
            expected = sum(min(b, servers) + 1 for b in range(population + 1))
            assert phases(servers, population) == expected


def test_split_waits_applies_where_requests_wait_and_the_caller_counts() -> None:
    """It applies where the pool waits often, the bounded caller brings at least a tenth of
    the load and others bring some, and scales by (ca² + cs²) / 2."""
    caller = BoundedCaller(("service", "front"), 2, 119.0, Moments(0.0073, 0.0073**2))
    rate = 176.7 + 119.0
    holding_mean = (176.7 * 0.002 + 119.0 * 0.0073) / rate
    second = (176.7 * 2 * 0.002**2 + 119.0 * 2 * 0.0073**2) / rate
    holding = Moments(holding_mean, second - holding_mean**2)
    waits = split_waits(rate, holding, caller, 2, 1.0)
    mixed = mixed_source(176.7, 0.002, 119.0, 0.0073, 2, 2)
    assert waits is not None and mixed is not None
    own, others = waits.own, waits.others
    assert math.isclose(own, mixed.bounded_waiting, rel_tol=1e-6)
    assert math.isclose(others, mixed.open_waiting, rel_tol=1e-6)
    smoother = split_waits(rate, holding, caller, 2, 0.5)  # ca² = 0.5: (0.5 + 1) / 2
    assert smoother is not None and math.isclose(smoother.own, 0.75 * own, rel_tol=1e-6)
    light = BoundedCaller(("service", "front"), 2, 1.0, Moments(0.0073, 0.0073**2))
    assert split_waits(176.7 + 1.0, holding, light, 2, 1.0) is None  # a small share
    tenth = BoundedCaller(("service", "front"), 2, 11.9, Moments(0.0073, 0.0073**2))
    assert split_waits(rate / 10, holding, tenth, 2, 1.0) is None  # seldom waits
    alone = BoundedCaller(("service", "front"), 2, rate, holding)
    assert split_waits(rate, holding, alone, 2, 1.0) is None  # (M/M/c//N, or the pool's own)


def test_calls_in_flight_sum_parallel_branches_and_take_the_largest_else() -> None:
    """A caller's bound on its requests at a callee: its workers x the calls to it that one
    execution can have in flight (a call with a timeout leaves its request there)."""
    service = Service.model_validate(
        {
            "operations": {
                "one": [{"call": "db.read"}, {"call": "db.write"}],
                "fan": [
                    {
                        "parallel": [
                            [{"call": "db.read"}],
                            [{"call": "db.write"}],
                            [{"call": "cache.get"}],
                        ]
                    }
                ],
                "other": [{"parallel": [[{"call": "db.read"}], [{"call": "cache.get"}]]}],
                "either": [
                    {
                        "branch": [
                            {"probability": 0.5, "steps": [{"call": "db.read"}]},
                            {"probability": 0.5, "steps": []},
                        ]
                    }
                ],
                "late": [{"call": {"service": "db", "operation": "read", "timeout": 0.1}}],
            }
        }
    )
    counted = {name: calls_in_flight(steps, "db") for name, steps in service.operations.items()}
    assert counted == {"one": 1, "fan": 2, "other": 1, "either": 1, "late": UNBOUNDED}


def test_calls_in_flight_follow_fallbacks_and_one_operation() -> None:
    """A fallback runs after its call has failed (sequential: the larger of the two), and
    counted for one operation only the calls to that operation count."""
    from models import load_scenario

    scenario = load_scenario(
        {
            "name": "in-flight",
            "simulation": {"duration": 10},
            "services": {
                "front": {
                    "workers": 4,
                    "operations": {
                        "get": [
                            {
                                "call": {
                                    "service": "db",
                                    "operation": "read",
                                    "fallback": [
                                        {
                                            "parallel": [
                                                [{"call": "db.read"}],
                                                [{"call": "db.write"}],
                                            ]
                                        }
                                    ],
                                }
                            },
                            {"call": "db.write"},
                        ]
                    },
                },
                "db": {
                    "operations": {
                        "read": [{"work": {"constant": 0.001}}],
                        "write": [{"work": {"constant": 0.001}}],
                    }
                },
            },
            "workload": {"w": {"entry": "front.get", "arrivals": {"poisson": 10}}},
        }
    )
    steps = scenario.services["front"].operations["get"]
    assert calls_in_flight(steps, "db") == 2
    assert calls_in_flight(steps, "db", scenario, "read") == 1
    assert calls_in_flight(steps, "db", scenario, "write") == 1


def test_a_call_then_a_parallel_one_bounds_the_callee_by_the_workers() -> None:
    """4 blocking threads that call a 2-worker service once, then again in one branch of a
    parallel step, have at most 4 requests there (not 4 x the step's 2 branches): M = 2c,
    so the callee is the finite-source station M/M/c//M (it was the open formula, 1.52 ms
    of waiting where the simulation says 0.69 ms: `bench/analysis_fuzz.py`, seed 454)."""
    from models import analyze, load_scenario

    scenario = load_scenario(
        {
            "name": "call-then-parallel",
            "simulation": {"duration": 10},
            "services": {
                "api": {
                    "workers": 4,
                    "operations": {
                        "op": [
                            {"work": {"constant": 0.00715}},
                            {"call": "db"},
                            {"work": {"exponential": 0.00141}},
                            {"parallel": [[{"call": "db"}], [{"call": "slow"}]]},
                        ]
                    },
                },
                "db": {"workers": 2, "operations": {"op": [{"work": {"exponential": 0.00456}}]}},
                "slow": {
                    "workers": "unlimited",
                    "operations": {"op": [{"delay": {"constant": 0.006}}]},
                },
            },
            "workload": {"w": {"entry": "api.op", "arrivals": {"poisson": 117.9}}},
        }
    )
    db = analyze(scenario, capacity=False).services["db"]
    assert db.method.startswith("finite-source M/M/c//M (at most 4 present)")


def test_every_solution_closes_the_loop_and_is_a_distribution() -> None:
    """Over a grid of pools, populations, loads, shares and holding ratios: waits finite and
    non-negative, P(wait) a probability, and the sources' cycle N = X (Z + S_B + W_B) gives
    back the throughput asked for (Little's law), whenever there is a solution."""
    solved = 0
    for servers in (1, 2, 3):
        for population in (1, 2, 3, 4):
            for load in (0.2, 0.6, 0.9):
                for share in (0.2, 0.5, 0.8):
                    for ratio in (0.3, 1.0, 3.0):
                        open_mean, bounded_mean = 0.01, 0.01 * ratio
                        open_rate = (1 - share) * load * servers / open_mean
                        bounded_rate = share * load * servers / bounded_mean
                        mixed = mixed_source(
                            open_rate, open_mean, bounded_rate, bounded_mean, population, servers
                        )
                        if mixed is None:  # (infeasible for N sources, or too large)
                            assert load == 0.9 or population / bounded_rate <= 2 * bounded_mean
                            continue
                        solved += 1
                        assert 0.0 <= mixed.p_wait <= 1.0
                        assert 0.0 <= mixed.open_waiting < math.inf
                        assert 0.0 <= mixed.bounded_waiting < math.inf
                        cycle = mixed.think_time + bounded_mean + mixed.bounded_waiting
                        assert math.isclose(population / cycle, bounded_rate, rel_tol=1e-8)
    assert solved > 200


def test_random_replicas_keep_the_whole_bound_of_their_callers() -> None:
    """Two threads calling three random replicas of one worker: both calls may meet at one
    replica, so none is 'finite source, never waits' (what a bound split per replica,
    ceil(2 / 3) = 1, said, marked exact; fuzz seed 775): M/M/1//2 at a third of the rate."""
    db = analyze(
        load_scenario(
            {
                "name": "random replicas",
                "simulation": {"duration": 10},
                "services": {
                    "api": {
                        "workers": 2,
                        "operations": {"get": [{"work": {"exponential": 0.001}}, {"call": "db.q"}]},
                    },
                    "db": {
                        "workers": 1,
                        "replicas": 3,
                        "balancing": "random",
                        "operations": {"q": [{"work": {"exponential": 0.004}}]},
                    },
                },
                "workload": {"f": {"entry": "api.get", "arrivals": {"poisson": 200}}},
            }
        ),
        capacity=False,
    ).services["db"]
    assert "at most 2 present" in db.method
    assert not db.exact
    assert db.waiting_time is not None and db.waiting_time.mean is not None
    assert db.waiting_time.mean > 0.0
