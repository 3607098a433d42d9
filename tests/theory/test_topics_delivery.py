"""Statistical tests of how a topic delivers to its consumer groups, against queueing
theory: fan-out to every group, a thinned publication stream, a constant delivery latency,
and an overloaded consumer whose lag grows.

Each test simulates a scenario whose consumer groups are textbook queues (M/M/1 and its
transient when overloaded) and compares per-replication statistics with the formula.

Tolerance, warm-up and seeds: the docstring of `tests/theory/topic_scenarios.py`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

import models.theory as theory
from tests.theory.scenarios import fan_out
from tests.theory.topic_scenarios import run, single_topic

pytestmark = pytest.mark.theory


# --------------------------------------------------------------------------- 5./6. fan-out


def test_fan_out_gives_every_group_its_own_mm1_queue(agrees, stat, seed) -> None:
    """Fan-out: every consumer group of a topic gets every message.

    Formula: each group sees the full Poisson(lambda) stream (the same arrival instants, so
    the groups are dependent, but each marginally is an M/M/1 queue with its own service rate):
    W_g = 1 / (mu_g - lambda), L_g = rho_g / (1 - rho_g) (Kleinrock Vol. 1 §3.2). Three groups
    with rho = 0.5, 0.33, 0.25.
    Tolerance: 4.90 SE across 20 replications; received == published exactly.
    """
    arrival_rate = 1.0
    service_rates = {"fast": 4.0, "medium": 3.0, "slow": 2.0}
    document = fan_out({"duration": 10_000, "warmup": 100}, arrival_rate, service_rates)
    results = run(document, seed)
    for replication in results.replications:
        topic = replication.topics["events"]
        for group in topic.groups.values():
            assert group.received == topic.published
    for name, rate in service_rates.items():
        station = theory.mm1(arrival_rate, rate)
        agrees(
            stat(results.replications, "topics", "events", "groups", name, "sojourn_time", "mean"),
            station.mean_response_time,
            f"{name}: sojourn mean",
        )
        agrees(
            stat(results.replications, "topics", "events", "groups", name, "lag", "mean"),
            station.mean_in_system,
            f"{name}: lag.mean",
        )


def test_publish_probability_thins_the_stream(agrees, stat, seed) -> None:
    """`publish: {topic, probability: p}` thins a Poisson(lambda) stream to Poisson(p lambda).

    Formula: independent thinning of a Poisson process is Poisson with rate p lambda (Ross
    §5.3.4), so the group is an M/M/1 queue at p lambda: throughput p lambda,
    W = 1 / (mu - p lambda), L = rho / (1 - rho) (Kleinrock Vol. 1 §3.2). p = 0.4, lambda = 5,
    mu = 4: rho = 0.5.
    Tolerance: 4.90 SE across 20 replications.
    """
    arrival_rate, probability, service_rate = 5.0, 0.4, 4.0
    document = single_topic(
        arrival_rate=arrival_rate,
        mean_service_time=1 / service_rate,
        duration=5_000,
        warmup=100,
        publish={"topic": "events", "probability": probability},
    )
    results = run(document, seed)
    rate = probability * arrival_rate
    station = theory.mm1(rate, service_rate)
    duration = results.settings.duration

    def group(*keys: str) -> list[float]:
        return stat(results.replications, "topics", "events", "groups", "consumer", *keys)

    agrees(
        [r.topics["events"].published / duration for r in results.replications],
        rate,
        "published rate",
    )
    agrees(group("throughput"), rate, "throughput")
    agrees(group("sojourn_time", "mean"), station.mean_response_time, "sojourn mean")
    agrees(group("lag", "mean"), station.mean_in_system, "lag.mean")


# --------------------------------------------------------------------------- 8. latency


def test_constant_delivery_latency_adds_to_waiting_and_sojourn(agrees, stat, seed) -> None:
    """A constant delivery latency d shifts every message by exactly d.

    Formula: the group sees the Poisson publications shifted by d, still Poisson, so it is an
    M/M/1 queue behind a pure delay: waiting mean d + rho / (mu - lambda), sojourn mean
    d + 1 / (mu - lambda), sojourn p90 d + ln(10) / (mu - lambda), lag (in delivery included)
    lambda (d + W) by Little's law (Kleinrock Vol. 1 §3.2, Little 1961).
    Tolerance: 4.90 SE across 20 replications (+0.5% for the p90).
    """
    arrival_rate, service_rate, latency = 1.0, 2.0, 0.2
    document = single_topic(
        arrival_rate=arrival_rate,
        mean_service_time=1 / service_rate,
        duration=10_000,
        warmup=100,
        topic={"delivery_latency": {"constant": latency}},
    )
    results = run(document, seed)
    station = theory.mm1(arrival_rate, service_rate)

    def group(*keys: str) -> list[float]:
        return stat(results.replications, "topics", "events", "groups", "consumer", *keys)

    agrees(group("waiting_time", "mean"), latency + station.mean_waiting_time, "waiting")
    agrees(group("sojourn_time", "mean"), latency + station.mean_response_time, "sojourn")
    agrees(
        group("sojourn_time", "p90"),
        latency + theory.mm1_response_time_quantile(arrival_rate, service_rate, 0.90),
        "sojourn p90",
        percentile=True,
    )
    agrees(group("lag", "mean"), arrival_rate * (latency + station.mean_response_time), "lag.mean")
    agrees(group("p_wait"), station.p_wait, "p_wait")
    # every message waits at least d; 0.5% is the percentile (histogram) slack of `agrees`
    assert min(group("waiting_time", "p50")) >= latency * (1 - 0.005)


# --------------------------------------------------------------------------- 9. overload


def test_overloaded_consumer_lag_grows_linearly(agrees, stat, seed, quantiles) -> None:
    """lambda > mu for a single consumer: the lag is a random walk with drift lambda - mu.

    Formula: once the consumer is never idle again, departures are Poisson at mu, so the lag
    at time t is N_lambda(t) - N_mu(t): mean (lambda - mu) t, variance (lambda + mu) t
    (difference of independent Poisson processes). Before that, the queue empties a
    geometric number of times: from 1 message it ever empties with probability mu / lambda
    (gambler's ruin; Ross, "Introduction to Probability Models", §4.5.1), so the expected
    number of idle periods (each Exp(lambda)) is lambda / (lambda - mu) and the expected total
    idle time is 1 / (lambda - mu). Hence, from an empty start over a run of length T:
    utilization = 1 - 1 / ((lambda - mu) T), lag.final = (lambda - mu) T + mu / (lambda - mu),
    lag.mean = (lambda - mu) T / 2 + mu / (lambda - mu) (up to terms that vanish with T), and
    a least-squares line through the lag time series has slope lambda - mu.
    Tolerance: the rule of the module docstring; the per-replication variance of lag.final
    is also compared with the Poisson variance (lambda + mu) T (+ O(1) from the idle time):
    s^2 / ((lambda + mu) T) must lie in the 1 - alpha band of chi2(n - 1) / (n - 1)
    ([0.19, 2.78] for n = 20; lag.final, a difference of counts of ~25000, is normal). The
    total idle time behind the utilization is exponential (mean 1 / (lambda - mu)), not
    normal: its mean over the replications is checked against its exact Gamma distribution.
    """
    arrival_rate, service_rate, duration = 3.0, 2.0, 5_000.0
    drift = arrival_rate - service_rate
    idle_time = 1 / drift
    document = single_topic(
        arrival_rate=arrival_rate,
        mean_service_time=1 / service_rate,
        duration=duration,
        warmup=0,
    )
    results = run(document, seed)

    def group(*keys: str) -> list[float]:
        return stat(results.replications, "topics", "events", "groups", "consumer", *keys)

    final = group("lag", "final")
    agrees(final, drift * duration + service_rate * idle_time, "lag.final")
    poisson_sd = math.sqrt((arrival_rate + service_rate) * duration)
    low, high = quantiles.chi2_band(len(final) - 1)  # s^2 / sigma^2 of n normal values
    ratio = float(np.var(final, ddof=1)) / poisson_sd**2
    print(f"lag.final variance / (lambda + mu) T = {ratio:.3f} in [{low:.3f}, {high:.3f}]")
    assert low < ratio < high
    agrees(group("lag", "mean"), drift * duration / 2 + service_rate * idle_time, "lag.mean")
    # utilization = 1 - I / T, I the total idle time: a Geometric(1 - mu / lambda) number of
    # Exp(lambda) idle periods, which is exactly Exp(lambda - mu) (a geometric sum of
    # exponentials). Far from normal, so the t rule does not apply (its false-alarm rate on
    # 20 exponentials is well above alpha); the mean of n idle times is Gamma(n, 1 / (n
    # (lambda - mu))), whose 1 - alpha band is [0.35, 2.11] x 1 / (lambda - mu) for n = 20.
    idle = [(1.0 - value) * duration for value in group("utilization")]
    low, high = (
        scipy.stats.gamma.ppf(level, len(idle), scale=idle_time / len(idle))
        for level in (quantiles.alpha / 2, 1 - quantiles.alpha / 2)
    )
    mean_idle = float(np.mean(idle))
    print(f"idle time: theory {idle_time:g} s, mean {mean_idle:.4g} s in [{low:.3g}, {high:.3g}]")
    assert low <= mean_idle <= high
    series = results.timeseries()
    lag = series[(series["kind"] == "group") & (series["metric"] == "lag")]
    slopes = [
        float(np.polyfit(rows["time"], rows["value"], 1)[0])
        for _, rows in lag.groupby("replication")
    ]
    assert len(slopes) == len(results.replications)
    agrees(slopes, drift, "lag slope")
