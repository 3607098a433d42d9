"""Statistical tests of arrivals that change (mmpp, sinusoid) and of autoscaling.

- MMPP/M/1: one exponential server fed by `mmpp` arrivals against the exact matrix-geometric
  solution (`models.theory.mmpp.mmpp_m1`: Neuts 1981; Latouche & Ramaswami 1999); two
  independent MMPP flows as classes of their superposition (`modulated_m1`).
- MMPP counts: the long-run rate sum pi_i r_i, the fraction of time in each phase (a copy of
  the process with a single active phase counts only there), and the first phase drawn from
  the stationary distribution (P(no arrival in [0, T]) = pi exp((Q - Lambda) T) 1).
- Sinusoid: counts in a window and in 5 s bins against the integral of the rate (a Poisson
  process: exact Poisson quantiles, chi-square over the bins).
- Autoscaling under constant Poisson load: the replica count settles at
  ceil(lambda E[S] / (workers x target)); a consumer group scaled on lag is capped at the
  partitions of a log topic (not on a queue topic).

Tolerance (tests/theory/conftest.py): every check at a false-alarm rate alpha = 1e-4, through
`agrees` (t_{1 - alpha/2, n-1} SE over n replications, with the power check that the
expected half-width is under 6% of theory) or an exact distribution (`quantiles`: Poisson,
binomial, chi-square); the autoscaler checks bound the chance of a noise-driven decision by a
union bound (see their docstring). Seeds: the `seed` fixture (a function of the test's name,
plus ARCHSIM_TEST_SEED_SHIFT).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, stats

from models import load_scenario
from models.arrivals import MmppSpec, SinusoidSpec
from models.theory.mmpp import kronecker_sum, mmpp_m1, modulated_m1, phase_generator
from sim import simulate
from tests.theory.scenarios import autoscaled_service, lag_scaling

pytestmark = pytest.mark.theory


def replicas_series(results: Any, kind: str, entity: str, metric: str) -> pd.DataFrame:
    """One metric's time series of every replication (replication, time, value)."""
    series = results.timeseries()
    chosen = series[
        (series["kind"] == kind) & (series["entity"] == entity) & (series["metric"] == metric)
    ]
    return chosen[["replication", "time", "value"]]


# ----------------------------------------------------------------------------- MMPP/M/1


@pytest.mark.parametrize(
    ("rates", "switch_rates", "service_rate", "duration"),
    [
        # two phases, slow switching (mean phase lengths 10 s and 5 s), phase 1 above mu
        ([0.3, 1.2], [0.1, 0.2], 1.0, 50_000),
        # three phases in a cycle, faster switching
        ([0.2, 0.9, 1.8], [0.4, 0.8, 1.6], 1.25, 20_000),
        # on-off bursts: silent half of the time, 1.6 / s (above mu) the other half
        ([0.0, 1.6], [0.5, 0.5], 1.2, 40_000),
    ],
    ids=["two-phase-slow", "three-phase-cycle", "on-off"],
)
def test_mmpp_m1_against_the_matrix_geometric_solution(
    rates, switch_rates, service_rate, duration, agrees, replications_of, stat
) -> None:
    """MMPP/M/1 FCFS: mean response time, mean number in system, P(wait), utilization and
    throughput.

    Formula (`mmpp_m1`): the QBD of (number in system, phase) has pi_n = pi_0 R^n with R the
    minimal solution of Lambda + R (Q - Lambda - mu I) + mu R^2 = 0; L = pi_0 R (I - R)^-2 1,
    W = L / lambda (Little), Wq = W - 1 / mu, P(wait) = 1 - pi_0 Lambda 1 / lambda (arrivals
    see the phases weighted by their rates), utilization = lambda / mu, lambda = sum pi_i r_i
    (Neuts, "Matrix-Geometric Solutions in Stochastic Models", 1981, ch. 3; Latouche &
    Ramaswami 1999, ch. 6 and 8).
    Runs: 20 replications of 20k-50k s (12k-32k customers each; bursty arrivals make the
    means noisy), 500 s warm-up (the relaxation time is tens of seconds); expected
    half-widths (pilot of 60 replications) 3.6-4.0% of theory for W, 4.3-4.6% for L. The mean
    waiting time Wq = W - 1 / mu is not checked separately: it has the same absolute error
    as W and a half-width of up to 5.6% of its smaller value. Tolerance: 4.90 SE
    (alpha = 1e-4).
    """
    expected = mmpp_m1(rates, switch_rates, service_rate)
    assert expected.stable
    runs = replications_of(
        {
            "name": "mmpp-m1",
            "simulation": {"duration": duration, "warmup": 500, "replications": 20},
            "services": {
                "server": {"operations": {"serve": [{"work": {"exponential": 1 / service_rate}}]}}
            },
            "workload": {
                "customers": {
                    "entry": "server",
                    "arrivals": {"mmpp": {"rates": rates, "switch_rates": switch_rates}},
                }
            },
        }
    )

    def flow(*keys: str) -> list[float]:
        return stat(runs, "flows", "customers", *keys)

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(flow("response_time", "mean"), expected.mean_response_time, "response mean W")
    agrees(server("in_system", "mean"), expected.mean_in_system, "in_system mean L")
    agrees(server("p_wait"), expected.p_wait, "P(wait)")
    agrees(server("utilization"), expected.utilization, "utilization")
    agrees(flow("throughput"), expected.arrival_rate, "throughput = mean rate")


def test_two_mmpp_classes_into_one_server_against_their_superposition(
    agrees, replications_of, stat
) -> None:
    """Two independent MMPP flows into one exponential server: one MMPP on the product of
    their phases (generator the Kronecker sum of their cycles: Fischer & Meier-Hellstern,
    "The MMPP cookbook", 1993), so the queue is MMPP/M/1 (`modulated_m1`). Each flow is a
    class: an arrival in joint phase i meets E[N; i] / pi_i on average, E[N; i] =
    (pi_0 R (I - R)^-2)_i, and responds in (E[N; i] / pi_i + 1) / mu (FCFS, exponential
    work), so a flow sending r_i in phase i responds in sum_i r_i (E[N; i] + pi_i) /
    (mu sum_i pi_i r_i) (`MMPPM1.class_response`). The slow flow's bursts (0.3/s and
    1.2/s, 10 s and 5 s on average) meet longer queues than the fast one's (0.1/s and
    0.4/s, 2 s each). Runs: 20 replications of 30,000 s, 500 s warm-up; tolerance 4.90 SE
    (alpha = 1e-4) as above."""
    cycles = [phase_generator(np.array([0.1, 0.2])), phase_generator(np.array([0.5, 0.5]))]
    slow, fast = [0.3, 0.3, 1.2, 1.2], [0.1, 0.4, 0.1, 0.4]
    expected = modulated_m1(
        [a + b for a, b in zip(slow, fast, strict=True)], kronecker_sum(cycles), 1.25
    )
    assert expected.stable
    runs = replications_of(
        {
            "name": "two-mmpp-classes",
            "simulation": {"duration": 30_000, "warmup": 500, "replications": 20},
            "services": {"server": {"operations": {"serve": [{"work": {"exponential": 0.8}}]}}},
            "workload": {
                "slow": {
                    "entry": "server",
                    "arrivals": {"mmpp": {"rates": [0.3, 1.2], "switch_rates": [0.1, 0.2]}},
                },
                "fast": {
                    "entry": "server",
                    "arrivals": {"mmpp": {"rates": [0.1, 0.4], "switch_rates": [0.5, 0.5]}},
                },
            },
        }
    )
    for name, own in [("slow", slow), ("fast", fast)]:
        agrees(
            stat(runs, "flows", name, "response_time", "mean"),
            expected.class_response(own),
            f"{name} class response",
        )
    agrees(stat(runs, "services", "server", "in_system", "mean"), expected.mean_in_system, "L")
    agrees(stat(runs, "services", "server", "p_wait"), expected.p_wait, "P(wait)")


# ----------------------------------------------------------------------------- MMPP counts


def test_mmpp_long_run_rate_and_phase_fractions(agrees, replications_of, stat) -> None:
    """The long-run arrival rate is sum pi_i r_i, and the process spends the fraction
    pi_i = (1 / s_i) / sum_j (1 / s_j) of the time in phase i (phases in a cycle: the mean
    time in phase i is 1 / s_i per cycle).

    Flow `all` has rates (4, 12, 30) / s; flow `only<i>` is the same phase process with rate
    20 / s in phase i and 0 elsewhere, so that arrived / (20 x duration) estimates the time
    fraction of phase i (switch rates 4, 8, 16 / s: pi = 4/7, 2/7, 1/7; fast switching, so
    that the time fractions average over ~1100 cycles). Counts are over a 500 s window after
    a 10 s warm-up (the phase process starts stationary); expected half-widths 2.2-4.2%.
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    switch_rates = [4.0, 8.0, 16.0]
    rates = [4.0, 12.0, 30.0]
    duration, peak = 500.0, 20.0
    workload = {
        "all": {"steps": [], "arrivals": {"mmpp": {"rates": rates, "switch_rates": switch_rates}}}
    }
    for phase in range(3):
        only = [peak if index == phase else 0.0 for index in range(3)]
        workload[f"only{phase}"] = {
            "steps": [],
            "arrivals": {"mmpp": {"rates": only, "switch_rates": switch_rates}},
        }
    runs = replications_of(
        {
            "name": "mmpp-phases",
            "simulation": {"duration": duration, "warmup": 10, "replications": 20},
            "workload": workload,
        }
    )
    spec = MmppSpec(rates=rates, switch_rates=switch_rates)
    assert spec.stationary == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    rate = [value / duration for value in stat(runs, "flows", "all", "arrived")]
    agrees(rate, spec.mean_rate, "long-run rate sum pi_i r_i")
    for phase, probability in enumerate(spec.stationary):
        fraction = [
            value / (peak * duration) for value in stat(runs, "flows", f"only{phase}", "arrived")
        ]
        agrees(fraction, probability, f"time fraction of phase {phase}")


def test_mmpp_first_phase_is_drawn_from_the_stationary_distribution(seed, quantiles) -> None:
    """With slow switching (mean phase lengths 50 s and 16.7 s, pi = (0.75, 0.25)) and rates
    (0, 50) / s, a replication of 1 s from time 0 sees no arrival essentially iff it starts
    in the silent phase. Exactly, P(no arrival in [0, T]) = pi exp((Q - Lambda) T) 1 (the
    phase process killed at the first arrival), 0.7358 here; a first phase always 0 would
    give 0.98, a uniform one 0.49.

    The number of the n = 400 replications without an arrival is Binomial(n, p): it must lie
    within the two-sided 1 - alpha band of that binomial (alpha = 1e-4).
    """
    rates, switch_rates, window, replications = [0.0, 50.0], [0.02, 0.06], 1.0, 400
    spec = MmppSpec(rates=rates, switch_rates=switch_rates)
    generator = np.array([[-0.02, 0.02], [0.06, -0.06]]) - np.diag(rates)
    p_silent = float(np.asarray(spec.stationary) @ linalg.expm(generator * window) @ np.ones(2))
    results = simulate(
        load_scenario(
            {
                "name": "mmpp-start",
                "simulation": {"duration": window},
                "workload": {
                    "load": {
                        "steps": [],
                        "arrivals": {"mmpp": {"rates": rates, "switch_rates": switch_rates}},
                    }
                },
            }
        ),
        replications=replications,
        seed=seed,
    )
    silent = sum(run.flows["load"].arrived == 0 for run in results.replications)
    low = stats.binom.ppf(quantiles.alpha / 2, replications, p_silent)
    high = stats.binom.isf(quantiles.alpha / 2, replications, p_silent)
    print(
        f"P(no arrival in {window:g} s): theory {p_silent:.4f}, simulated "
        f"{silent / replications:.4f} (band [{low / replications:.4f}, "
        f"{high / replications:.4f}], n = {replications})"
    )
    assert low <= silent <= high
    assert not low <= 0.98 * replications <= high  # power: a wrong first phase fails


# ----------------------------------------------------------------------------- sinusoid


def test_sinusoid_counts_follow_the_integral_of_the_rate(seed, quantiles) -> None:
    """Sinusoid arrivals are a Poisson process with rate
    lambda(t) = mean + amplitude sin(2 pi (t - phase) / period), so the count in [a, b) is
    Poisson with mean integral_a^b lambda (`SinusoidSpec.integral`; Lewis & Shedler 1979
    for the thinning that generates it).

    mean 10 / s, amplitude 8 / s, period 100 s, phase 10 s; n = 50 replications.
    - The total of the counts in the measured window [30 s, 175 s) (not whole periods: the
      integral is 1564.2, not mean x 145 = 1450) is Poisson(n x integral): it must lie within
      the exact two-sided 1 - alpha Poisson band, which excludes n x 1450 (power).
    - The counts in 35 bins of 5 s (flow throughput time series; an empty flow answers at
      arrival) summed over the replications are independent Poisson(n x integral over the
      bin), each >= 500: sum (N - m)^2 / m is then ~ chi2(35); it must stay under the
      1 - alpha/2 quantile of chi2(35) (a constant rate, or the rate with phase 0, would
      give thousands).
    """
    spec = {"mean": 10.0, "amplitude": 8.0, "period": 100.0, "phase": 10.0}
    warmup, duration, replications, bin_width = 30.0, 145.0, 50, 5.0
    results = simulate(
        load_scenario(
            {
                "name": "sinusoid",
                "simulation": {
                    "duration": duration,
                    "warmup": warmup,
                    "sample_interval": bin_width,
                },
                "workload": {"load": {"steps": [], "arrivals": {"sinusoid": spec}}},
            }
        ),
        replications=replications,
        seed=seed,
    )
    sinusoid = SinusoidSpec(**spec)
    expected = replications * sinusoid.integral(warmup, warmup + duration)
    total = sum(run.flows["load"].arrived for run in results.replications)
    low = stats.poisson.ppf(quantiles.alpha / 2, expected)
    high = stats.poisson.isf(quantiles.alpha / 2, expected)
    print(
        f"sinusoid window count: theory {expected:.1f}, simulated {total:.0f} "
        f"(rel. error {(total - expected) / expected:+.2%}, band [{low:.0f}, {high:.0f}] = "
        f"{(high - expected) / expected:.2%})"
    )
    assert low <= total <= high
    assert not low <= replications * sinusoid.mean * duration <= high  # power

    throughput = replicas_series(results, "flow", "load", "throughput")
    counts = (
        (throughput.assign(count=throughput["value"] * bin_width))
        .groupby("time")["count"]
        .sum()
        .round()
    )
    ends = counts.index.to_numpy()
    assert np.allclose(ends, bin_width * np.arange(1, len(ends) + 1))
    assert len(ends) == round((warmup + duration) / bin_width)
    means = np.array([replications * sinusoid.integral(end - bin_width, end) for end in ends])
    assert means.min() >= 500
    observed = counts.to_numpy()
    chi2 = float(np.sum((observed - means) ** 2 / means))
    _, high_ratio = quantiles.chi2_band(len(ends))
    limit = high_ratio * len(ends)
    flat = np.full_like(means, replications * sinusoid.mean * bin_width)
    flat_chi2 = float(np.sum((observed - flat) ** 2 / flat))
    print(
        f"sinusoid bins: chi2 {chi2:.1f} (limit {limit:.1f}, {len(ends)} bins; "
        f"constant rate: {flat_chi2:.0f})"
    )
    assert chi2 <= limit
    assert flat_chi2 > limit  # power: the shape is seen


# ----------------------------------------------------------------------------- autoscaling


@pytest.mark.parametrize(
    ("arrival_rate", "service_time", "workers", "target", "balancing", "expected"),
    [
        # a = 2 Erlangs, 1 worker per replica: a / (w x target) = 2.5 -> 3 replicas
        (100.0, 0.02, 1, 0.8, "round_robin", 3),
        # a = 4.5 Erlangs, 3 workers per replica in one pool: 2.5 -> 3 replicas
        (100.0, 0.045, 3, 0.6, "shared", 3),
    ],
    ids=["round-robin", "shared-pool"],
)
def test_autoscaled_service_settles_at_the_offered_load_over_the_target(
    arrival_rate, service_time, workers, target, balancing, expected, seed, agrees, quantiles
) -> None:
    """Constant Poisson load a = lambda E[S] Erlangs on a service scaled on utilization:
    with n replicas the observed utilization is a / (n w), so the desired count
    ceil(n x a / (n w) / target) = ceil(a / (w target)) = n* whatever n, and the count
    settles there (HPA's fixed point). Starting from 1 replica (saturated for the first
    30 s), it overshoots to n* + 1 while the backlog drains (with round robin the backlog
    stays at the first replica: ~90 s) and comes back to n* once the 60 s stabilization has
    passed: by 245 s in pilot runs; the measured period starts at 360 s.

    Checks: from 360 s on, every sample of the `replicas` time series is n* (5 s apart),
    and `replicas` {mean, max, final} = n*, replica_seconds = n* x duration exactly; the
    measured utilization agrees with a / (n* w) (t rule, alpha = 1e-4, 6 replications).

    Noise: a / (w target) is n* - 1/2, so the observed utilization must be off by
    1 / (2 n* - 1) of its mean (20% for n* = 3) to change the decision. Over an interval I
    the busy time is close to compound Poisson, relative sd sqrt((1 + cv^2) / (lambda I)) =
    sqrt(2 / 3000) = 2.6% for I = 30 s (2.7% measured over 1000 intervals of 30 s at a fixed
    replica count); the test asserts that the margin exceeds z sd with z the normal
    quantile of alpha / (2 x decisions) (a union bound over every decision of every
    replication: 4.95), so that noise changes some decision with probability below alpha.
    (With n* = 4 the margin, 14%, is only 5.2 sd.)
    """
    interval, warmup, duration, replications = 30.0, 360.0, 300.0, 6
    load = arrival_rate * service_time
    assert math.ceil(load / (workers * target)) == expected
    margin = 1 / (2 * expected - 1)
    relative_sd = math.sqrt(2 / (arrival_rate * interval))
    decisions = replications * (warmup + duration) / interval
    z = float(stats.norm.isf(quantiles.alpha / (2 * decisions)))
    print(f"decision margin {margin:.1%} = {margin / relative_sd:.1f} sd (needs {z:.2f})")
    assert margin > z * relative_sd
    document = autoscaled_service(
        {
            "duration": duration,
            "warmup": warmup,
            "sample_interval": 5,
            "replications": replications,
        },
        arrival_rate=arrival_rate,
        service_time=service_time,
        workers=workers,
        target=target,
        balancing=balancing,
        interval=interval,
        stabilization=60,
        startup=10,
    )
    results = simulate(load_scenario(document), seed=seed)
    series = replicas_series(results, "service", "api", "replicas")
    assert series["time"].max() == pytest.approx(warmup + duration)
    steady = series[series["time"] >= warmup]
    assert len(steady) == replications * (duration / 5 + 1)
    assert set(steady["value"]) == {float(expected)}
    assert series["value"].max() <= 10
    for run in results.replications:
        api = run.services["api"]
        assert (api.replicas.mean, api.replicas.max, api.replicas.final) == (
            pytest.approx(expected),
            expected,
            expected,
        )
        assert api.replica_seconds == pytest.approx(expected * duration)
    utilization = [run.services["api"].utilization for run in results.replications]
    agrees(utilization, load / (expected * workers), "utilization at the steady count")


@pytest.mark.parametrize(
    ("topic_type", "partitions", "expected_max"),
    [("log", 3, 3), ("queue", 1, 12)],
    ids=["log-capped-at-partitions", "queue-up-to-max"],
)
def test_lag_scaling_is_capped_at_the_partitions_of_a_log(
    topic_type, partitions, expected_max, seed
) -> None:
    """A consumer group scaled on lag (KEDA): desired = ceil(lag / target) within
    [min, max], and at most the partitions of a log topic (a partition has one consumer).

    Publishing 20 messages / s to handlers of 1 s (1 / s per consumer): even 12 consumers
    cannot keep up, so the lag grows and the desired count is above every cap from the
    second decision on (at t = 10 s the lag averages ~90: desired 9; then more). On a log
    with 3 partitions the group runs 3 consumers (`consumers` max and final = 3, never more
    in the time series); on a queue topic it goes to `max` = 12 (the cap is the partitions',
    not the autoscaler's).
    """
    document = lag_scaling(topic_type, partitions=partitions, duration=300)
    results = simulate(load_scenario(document), replications=1, seed=seed)
    group = results.replications[0].topics["jobs"].groups["worker"]
    consumers = replicas_series(results, "group", "jobs/worker", "consumers")
    print(f"{topic_type}: consumers {group.consumers}")
    assert group.consumers.max == expected_max
    assert group.consumers.final == expected_max
    assert consumers["value"].max() == expected_max
    assert set(consumers[consumers["time"] > 30]["value"]) == {float(expected_max)}
    assert group.lag.final > 1000  # overloaded throughout
