"""The analysis where issue #15 made it exact or closer to the simulator: deterministic
checks of `models.analyze` against closed-form formulas (no simulation; the regression
against long simulations is tests/theory/test_analysis_regression.py)."""

from __future__ import annotations

import pytest

from models import analyze
from models.analysis.forkjoin import Branch, fork_join
from models.analysis.moments import Moments, expected_maximum
from models.analysis.network import FlowSource, solve_network
from tests.unit.analysis_scenarios import REL, op, poisson, scenario


def test_a_one_thread_caller_of_a_one_server_callee_is_m_g_1() -> None:
    """One worker that holds itself through its call: the callee never sees two requests,
    and the caller is an M/G/1 queue whose service time is the sum of its own work and the
    callee's, independent, so E[S²] = Var(S1) + Var(S2) + E[S]². Pollaczek-Khinchine
    (Kleinrock vol. 1 §5.6): Wq = λ E[S²] / (2 (1 - ρ))."""
    rate, own, served, cv = 120.0, 0.002, 0.003, 1.5
    services = {
        "caller": {"workers": 1, **op({"work": {"exponential": own}}, {"call": "callee"})},
        "callee": op({"work": {"lognormal": {"mean": served, "cv": cv}}}),
    }
    result = analyze(scenario(services, {"jobs": poisson("caller.op", rate)}))
    mean = own + served
    second = own**2 + (cv * served) ** 2 + mean**2
    waiting = rate * second / (2 * (1 - rate * mean))
    caller, callee = result.services["caller"], result.services["callee"]
    assert caller.waiting_time.mean == pytest.approx(waiting, rel=REL)
    assert caller.exact and caller.method.startswith("M/G/1")
    assert callee.waiting_time.mean == 0.0 and callee.exact
    assert result.flows["jobs"].response_time.mean == pytest.approx(waiting + mean, rel=REL)
    assert result.flows["jobs"].exact


MEAN = 0.004
"""Mean work (s) of the one-server station below."""


@pytest.mark.parametrize(
    ("work", "second", "third"),
    [
        ({"exponential": MEAN}, 2 * MEAN**2, 6 * MEAN**3),
        ({"lognormal": {"mean": MEAN, "cv": 2.0}}, MEAN**2 * 5.0, MEAN**3 * 5.0**3),
        ({"constant": MEAN}, MEAN**2, MEAN**3),
    ],
    ids=["exponential", "lognormal", "constant"],
)
def test_a_one_server_station_waits_with_takacs_second_moment(
    work: dict[str, object], second: float, third: float
) -> None:
    """The wait's variance at an M/G/1 station, which a caller's held time, a fork-join's
    maximum and a timeout's gamma fit read: Takacs's E[Wq²] = 2 Wq² + λ E[S³] / (3 (1 - ρ)),
    Wq = λ E[S²] / (2 (1 - ρ)) (Kleinrock vol. 1 §5.6-5.7), lognormal E[S^k] =
    m^k (1 + cv²)^(k (k - 1) / 2); for exponential work it is M/M/1's 2 Wq² / ρ, the form
    every other pool's wait takes (0, or exponential)."""
    rate = 150.0
    rho = rate * MEAN
    services = {"server": op({"work": work})}
    document = scenario(services, {"jobs": poisson("server.op", rate)})
    solution = solve_network(document, {"jobs": FlowSource(rate)})
    wait = solution.services["server"].solution.waiting[0]
    mean_wait = rate * second / (2 * (1 - rho))
    square = 2 * mean_wait**2 + rate * third / (3 * (1 - rho))
    assert wait.mean == pytest.approx(mean_wait, rel=REL)
    assert wait.variance == pytest.approx(square - mean_wait**2, rel=REL)


def test_a_one_worker_caller_is_not_exact_when_its_callee_is_shared() -> None:
    """The same caller, but its callee also serves another flow: the callee queues, the
    held times are no longer independent, and the prediction says it is approximate."""
    services = {
        "caller": {"workers": 1, **op({"work": {"exponential": 0.002}}, {"call": "callee"})},
        "callee": op({"work": {"exponential": 0.003}}),
    }
    workload = {"jobs": poisson("caller.op", 100.0), "direct": poisson("callee.op", 50.0)}
    result = analyze(scenario(services, workload))
    assert not result.services["caller"].exact
    assert result.services["callee"].waiting_time.mean > 0


def test_services_predict_their_throughput_and_topics_their_publish_rate() -> None:
    """A service's throughput is its admitted rate: with a waiting room of 1 behind one
    worker (M/M/1/2), λ (1 - p_2), p_2 = ρ² / (1 + ρ + ρ²) (Gross & Harris §2.5); a topic's
    publish rate is the rate of its publish steps."""
    rate, mean = 50.0, 0.01
    services = {
        "api": {
            "workers": 1,
            "queue_capacity": 1,
            **op({"work": {"exponential": mean}}, {"publish": "events"}),
        },
        "sink": op({"work": {"exponential": 0.001}}),
    }
    topics = {"events": {"subscribers": {"sink": {"operation": "op"}}}}
    result = analyze(scenario(services, {"f": poisson("api.op", rate)}, topics=topics))
    rho = rate * mean
    loss = rho**2 / (1 + rho + rho**2)
    api = result.services["api"]
    assert api.loss_probability == pytest.approx(loss, rel=REL)
    assert api.throughput == pytest.approx(rate * (1 - loss), rel=REL)
    assert result.topics["events"].publish_rate == pytest.approx(rate * (1 - loss), rel=REL)
    assert "published" not in result.to_dict()["topics"]["events"]


@pytest.mark.parametrize("utilization", [0.3, 0.7, 0.95])
def test_a_join_never_waits_less_than_its_longest_branch(utilization: float) -> None:
    """E[max(X_1, ..., X_k)] >= max_i E[X_i] whatever the branches' correlation (Jensen:
    max is convex): the Nelson-Tantawi factor, made for identical branches, may not take the
    join below its longest branch's mean when one branch dominates (the fork-join of the
    regression set at 95%: an M/M/1 branch of 58.8 ms beside ones of 20.9 and 7.4 ms)."""
    long = Branch(Moments(0.0588, 0.0588**2), 0.93, None, False)
    short = [
        Branch(Moments(mean, (0.7 * mean) ** 2), utilization, None, False)
        for mean in (0.0209, 0.0074)
    ]
    time, method, exact = fork_join([long, *short], fork_rate=233.0)
    assert time.mean >= 0.0588
    assert method.startswith("Nelson-Tantawi") and not exact
    independent = expected_maximum([(1.0, b.time) for b in [long, *short]])
    assert time.mean <= independent.mean  # (the factor still never raises it)
