"""Statistical tests of several services together against network theory.

Fork-join of two M/M/1 services (Flatto-Hahn), a synchronous call that holds the caller's
worker (an M/G/1 whose service is the sum of two exponentials), and a closed network with
think time (exact MVA).

Tolerance (`agrees`, see `tests/theory/conftest.py`): |mean - theory| <= t SE, SE = s / sqrt(n)
over the n = 20 independent replications, t = t_{1 - alpha/2, 19} = 4.90 for a false-alarm
rate alpha = 1e-4 per check; each check also asserts that its expected half-width is below 6%
of theory (power). Seeds: the `seed` fixture (a function of the test's name, plus
ARCHSIM_TEST_SEED_SHIFT).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import models.theory as theory
from tests.theory.scenarios import calls, closed_network, fork_join

pytestmark = pytest.mark.theory

REPLICATIONS = 20


def simulation(duration: float, warmup: float) -> dict[str, Any]:
    """The `simulation` section shared by the tests (`replications_of` adds the test's seed)."""
    return {"duration": duration, "warmup": warmup, "replications": REPLICATIONS}


# ----------------------------------------------------------------------------- 7. fork-join


def test_fork_join_of_two_mm1_is_flatto_hahn(agrees, replications_of, stat) -> None:
    """Fork-join over two identical M/M/1 services (inline `parallel` of two calls).

    Formula: each job forks one task to each of two FCFS exponential servers and leaves when
    both are done; E[T] = (12 - rho) / 8 x 1 / (mu - lambda) (Flatto & Hahn, SIAM J. Appl.
    Math. 44, 1984; Nelson & Tantawi, IEEE Trans. Computers 37, 1988). Each branch alone is
    M/M/1: W = 1 / (mu - lambda) (Kleinrock 1975 Vol. 1, sec. 3.2). The client's join costs
    no time (inline steps run without contention).
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    arrival_rate, service_rate = 0.5, 1.0
    document = fork_join(simulation(duration=15_000, warmup=300), arrival_rate, 1 / service_rate)
    runs = replications_of(document)
    expected = theory.fork_join_two_mm1(arrival_rate, service_rate)
    rho = arrival_rate / service_rate
    assert math.isclose(expected.mean_response_time, (12 - rho) / 8 / (service_rate - arrival_rate))
    agrees(
        stat(runs, "flows", "jobs", "response_time", "mean"),
        expected.mean_response_time,
        "fork-join response mean",
    )
    for branch in ("left", "right"):
        agrees(
            stat(runs, "services", branch, "response_time", "mean"),
            expected.mean_branch_response_time,
            f"{branch} branch response mean (M/M/1)",
        )


# ----------------------------------------------------------------------------- 8. sync call


def test_synchronous_call_holds_the_callers_worker(agrees, replications_of, stat) -> None:
    """A calls B synchronously and holds its only worker meanwhile: A is an M/G/1 queue.

    A (1 worker) works Exp(mean 0.4 s) then calls B (1 worker, Exp(mean 0.6 s)); only A calls
    B, and A has one worker, so B never has more than one request and never queues. A's worker
    is therefore held for S = S_A + S_B, a hypoexponential time with E[S] = 1.0 and
    Var[S] = 0.4^2 + 0.6^2 = 0.52 (SCV 0.52).
    Formula: Pollaczek-Khinchine Wq = rho E[S] (1 + cs^2) / (2 (1 - rho)) with
    rho = lambda E[S] = 0.6 (Kleinrock 1975 Vol. 1, sec. 5.6); A's response time and the
    flow's is Wq + E[S]; A's utilization (a worker held during a call is busy,
    docs/scenario-language.md) is
    rho, B's is lambda E[S_B]; L = lambda (Wq + E[S]) at A, and Little's law
    L = X W holds at A (Little 1961).
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4; Little's ratio: + 0.2% for edge
    effects).
    """
    arrival_rate, mean_a, mean_b = 0.6, 0.4, 0.6
    document = calls("sync-call", simulation(26_000, 300), arrival_rate, mean_a, mean_b)
    runs = replications_of(document)
    mean_service_time = mean_a + mean_b
    scv = (mean_a**2 + mean_b**2) / mean_service_time**2
    expected = theory.mg1(arrival_rate, mean_service_time, scv)
    assert math.isclose(expected.mean_waiting_time, 1.14)

    def front(*keys: str) -> list[float]:
        return stat(runs, "services", "front", *keys)

    agrees(front("waiting_time", "mean"), expected.mean_waiting_time, "front waiting mean (P-K)")
    agrees(front("p_wait"), expected.p_wait, "front P(wait) = rho")
    agrees(front("utilization"), expected.utilization, "front utilization (held worker)")
    agrees(front("in_system", "mean"), expected.mean_in_system, "front in_system mean")
    agrees(
        stat(runs, "flows", "requests", "response_time", "mean"),
        expected.mean_response_time,
        "flow response mean",
    )
    ratios = [
        level / (rate * time)
        for level, rate, time in zip(
            front("in_system", "mean"),
            front("throughput"),
            front("response_time", "mean"),
            strict=True,
        )
    ]
    agrees(ratios, 1.0, "front Little L / (X W)", slack=0.002)
    agrees(stat(runs, "services", "back", "utilization"), arrival_rate * mean_b, "back utilization")
    agrees(stat(runs, "services", "back", "response_time", "mean"), mean_b, "back response mean")
    assert max(stat(runs, "services", "back", "waiting_time", "max")) == 0.0  # never queues
    assert max(stat(runs, "services", "back", "in_system", "max")) == 1


def test_non_blocking_call_makes_a_tandem_of_mm1_queues(agrees, replications_of, stat) -> None:
    """With `blocking_calls: false` the caller frees its worker during the call: a tandem.

    `front` (1 worker, Exp(mean 0.4 s), `blocking_calls: false`) calls `back` (1 worker,
    Exp(mean 0.6 s)) as its last step, so front's worker is busy only for its own work and the
    reply needs no worker (docs/scenario-language.md; tail call). Front is M/M/1 (rho 0.4); its
    departures
    are Poisson (Burke 1956), so back is M/M/1 (rho 0.6) too: an open Jackson tandem.
    Formula: W_i = 1 / (mu_i - lambda), Wq_i = rho_i W_i, P(wait)_i = rho_i; the flow's mean
    response (and front's, which includes the call) is W_front + W_back (Jackson 1957;
    Kleinrock 1975 Vol. 1, sec. 4.8); utilizations rho_i. (The stations' mean waits would need
    ~3x the run for the same precision; P(wait) and utilization show the worker is freed.)
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    arrival_rate, mean_front, mean_back = 1.0, 0.4, 0.6
    settings = simulation(12_000, 200)
    document = calls("async-call", settings, arrival_rate, mean_front, mean_back, blocking=False)
    runs = replications_of(document)
    front = theory.mm1(arrival_rate, 1 / mean_front)
    back = theory.mm1(arrival_rate, 1 / mean_back)
    total = front.mean_response_time + back.mean_response_time
    agrees(stat(runs, "flows", "requests", "response_time", "mean"), total, "flow response mean")
    agrees(stat(runs, "services", "front", "response_time", "mean"), total, "front response mean")
    agrees(stat(runs, "services", "front", "p_wait"), front.p_wait, "front P(wait) = rho")
    agrees(stat(runs, "services", "front", "utilization"), front.utilization, "front utilization")
    agrees(
        stat(runs, "services", "back", "response_time", "mean"),
        back.mean_response_time,
        "back response mean",
    )
    agrees(stat(runs, "services", "back", "utilization"), back.utilization, "back utilization")


# ----------------------------------------------------------------------------- 9. closed


def test_closed_network_matches_exact_mva(agrees, replications_of, stat) -> None:
    """N clients with exponential think time cycling through two single-server stations.

    Each client thinks (Exp, mean Z = 2 s), then calls `cpu` (Exp, mean 0.5 s) and `disk`
    (Exp, mean 0.3 s) in sequence (inline steps), then thinks again; N = 6.
    Formula: exact Mean Value Analysis of the product-form closed network (Reiser &
    Lavenberg, JACM 27, 1980; Lazowska et al., "Quantitative System Performance", 1984, ch. 6):
    R_m(n) = D_m (1 + Q_m(n - 1)), X(n) = n / (Z + sum_m R_m(n)), Q_m(n) = X(n) R_m(n);
    utilization U_m = X D_m.
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    clients, think_time, demands = 6, 2.0, {"cpu": 0.5, "disk": 0.3}
    document = closed_network(simulation(duration=3_000, warmup=200), clients, think_time, demands)
    runs = replications_of(document)
    expected = theory.mva_exact(list(demands.values()), think_time, clients)
    agrees(stat(runs, "flows", "users", "throughput"), expected.throughput, "throughput")
    agrees(
        stat(runs, "flows", "users", "response_time", "mean"),
        expected.response_time,
        "response mean",
    )
    for index, name in enumerate(demands):
        agrees(
            stat(runs, "services", name, "utilization"),
            expected.station_utilizations[index],
            f"{name} utilization",
        )
        agrees(
            stat(runs, "services", name, "in_system", "mean"),
            expected.station_queue_lengths[index],
            f"{name} in_system mean",
        )
