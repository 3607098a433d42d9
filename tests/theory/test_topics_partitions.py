"""Statistical tests of a log topic's partitions against queueing theory: random,
round-robin and keyed partitioning, and a group's parallelism capped by the partitions.

Each test simulates a scenario whose partitions are textbook queues (M/M/1, E_k/M/1) and
compares per-replication statistics with the formula.

Tolerance, warm-up and seeds: the docstring of `tests/theory/topic_scenarios.py`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

import models.theory as theory
from tests.theory.topic_scenarios import run, single_topic

pytestmark = pytest.mark.theory


# --------------------------------------------------------------------------- 1. partitions


def test_log_topic_random_partitioning_is_independent_mm1_queues(agrees, stat, seed) -> None:
    """P partitions, random partitioning, P consumers: P independent M/M/1 queues.

    Formula: random partitioning splits a Poisson(lambda) stream into P independent
    Poisson(lambda / P) streams (Poisson splitting; Ross, "Introduction to Probability
    Models", §5.3.4); each partition has its own exponential consumer, an M/M/1 queue with
    rho = lambda / (P mu): group lag L = P rho / (1 - rho), waiting Wq = rho / (mu - lambda/P),
    sojourn W = 1 / (mu - lambda / P), P(wait) = rho, and the sojourn is exponential with rate
    mu - lambda/P so its p99 is ln(100) / (mu - lambda/P) (Kleinrock, "Queueing Systems"
    Vol. 1, §3.2-3.3; Gross & Harris, §2.2).
    Tolerance: 4.90 SE across 20 replications (+0.5% for the p99); see the module docstring.
    """
    arrival_rate, service_rate, partitions = 4.0, 2.0, 4
    document = single_topic(
        arrival_rate=arrival_rate,
        mean_service_time=1 / service_rate,
        duration=5_000,
        warmup=100,
        topic={"partitions": partitions, "partitioning": "random"},
        replicas=partitions,
    )
    results = run(document, seed)
    station = theory.mm1(arrival_rate / partitions, service_rate)
    gap = service_rate - arrival_rate / partitions

    def group(*keys: str) -> list[float]:
        return stat(results.replications, "topics", "events", "groups", "consumer", *keys)

    agrees(group("lag", "mean"), partitions * station.mean_in_system, "lag.mean")
    agrees(group("waiting_time", "mean"), station.mean_waiting_time, "waiting mean")
    agrees(group("sojourn_time", "mean"), station.mean_response_time, "sojourn mean")
    agrees(group("sojourn_time", "p99"), math.log(100) / gap, "sojourn p99", percentile=True)
    assert math.isclose(
        math.log(100) / gap,
        theory.mm1_response_time_quantile(arrival_rate / partitions, service_rate, 0.99),
    )
    agrees(group("utilization"), station.utilization, "utilization")
    agrees(group("p_wait"), station.p_wait, "p_wait")
    agrees(group("throughput"), arrival_rate, "throughput")


@pytest.mark.parametrize(
    ("partitions", "replicas", "concurrency"),
    [(2, 3, 2), (6, 3, 2), (6, 1, 2)],
    ids=["2-partitions-6-threads", "6-partitions-6-threads", "6-partitions-2-threads"],
)
def test_log_group_parallelism_is_capped_by_partitions(
    partitions: int, replicas: int, concurrency: int, agrees, stat, seed
) -> None:
    """A log group's parallelism is n = min(partitions, replicas x concurrency).

    Formula: with random partitioning and consumer p mod n serving partition p, each of the
    n busy consumers receives a merged Poisson stream of rate lambda / n (Poisson splitting and
    superposition; Ross §5.3), so it is an M/M/1 queue: sojourn W = 1 / (mu - lambda / n),
    lag L = n rho / (1 - rho) with rho = lambda / (n mu). Consumer utilization is averaged
    over all threads, idle ones included: lambda / (mu x threads) (work conservation).
    2 partitions with 6 threads leave 4 threads idle and queue like M/M/1 at lambda/2; 6
    partitions on 6 threads queue like M/M/1 at lambda/6; 6 partitions on 2 threads put
    three partitions on each consumer (again M/M/1 at lambda/2).
    Tolerance: 4.90 SE across 20 replications.
    """
    arrival_rate, service_rate = 2.0, 2.0
    threads = replicas * concurrency
    active = min(partitions, threads)
    document = single_topic(
        arrival_rate=arrival_rate,
        mean_service_time=1 / service_rate,
        duration=5_000,
        warmup=100,
        topic={"partitions": partitions},
        replicas=replicas,
        concurrency=concurrency,
    )
    results = run(document, seed)
    station = theory.mm1(arrival_rate / active, service_rate)

    def group(*keys: str) -> list[float]:
        return stat(results.replications, "topics", "events", "groups", "consumer", *keys)

    sojourn = group("sojourn_time", "mean")
    check = agrees(sojourn, station.mean_response_time, f"sojourn mean (n = {active})")
    agrees(group("lag", "mean"), active * station.mean_in_system, "lag.mean")
    agrees(group("utilization"), arrival_rate / (service_rate * threads), "utilization")
    if active < threads:  # contrast: what all threads of an M/M/c would give (much less)
        pooled = theory.mmc(arrival_rate, service_rate, threads).mean_response_time
        # every mean that passes the sojourn check is above 1.5 x pooled (theory is 2 x
        # pooled), so this contrast adds no false alarm of its own
        assert check.theory - check.tolerance > 1.5 * pooled
        assert np.mean(sojourn) > 1.5 * pooled


def test_log_topic_round_robin_partitions_are_erlang_arrival_queues(agrees, stat, seed) -> None:
    """Round-robin partitioning over P partitions with P consumers: P E_P/M/1 queues.

    Formula: partition p receives every P-th message of a Poisson(lambda) stream, so its
    interarrival times are Erlang-P with mean P / lambda (sum of P exponentials). With an
    exponential consumer it is the E_P/M/1 queue: sigma = A*(mu (1 - sigma)), P(wait) = sigma,
    W = 1 / (mu (1 - sigma)), exponential response time, L = (lambda / P) W per partition
    (Kleinrock, "Queueing Systems" Vol. 1, §6.4; Gross & Harris, §6.3). sigma < rho: regular
    arrivals wait less than Poisson ones; the M/M/1 sojourn is over 10% away from the
    simulated one, so the test tells the two models apart.
    Tolerance: 4.90 SE across 20 replications (+0.5% for the p99).
    """
    arrival_rate, service_rate, partitions = 3.0, 2.0, 3
    partition_rate = arrival_rate / partitions
    document = single_topic(
        arrival_rate=arrival_rate,
        mean_service_time=1 / service_rate,
        duration=5_000,
        warmup=100,
        topic={"partitions": partitions, "partitioning": "round_robin"},
        replicas=partitions,
    )
    results = run(document, seed)
    station = theory.gi_m1_erlang_arrivals(partition_rate, service_rate, partitions)
    p99 = theory.gi_m1_erlang_arrivals_response_time_quantile(
        partition_rate, service_rate, partitions, 0.99
    )

    def group(*keys: str) -> list[float]:
        return stat(results.replications, "topics", "events", "groups", "consumer", *keys)

    sojourn = group("sojourn_time", "mean")
    check = agrees(sojourn, station.mean_response_time, "sojourn mean")
    agrees(group("p_wait"), station.p_wait, "p_wait")
    agrees(group("lag", "mean"), partitions * station.mean_in_system, "lag.mean")
    agrees(group("sojourn_time", "p99"), p99, "sojourn p99", percentile=True)
    poisson = theory.mm1(partition_rate, service_rate).mean_response_time
    # the distinction is visible: every mean that passes the sojourn check is over 10% below
    # the M/M/1 value (theory is 25% below), so this adds no false alarm of its own
    assert check.theory + check.tolerance < 0.9 * poisson
    assert abs(np.mean(sojourn) - poisson) > 0.1 * poisson


# --------------------------------------------------------------------------- 10. key skew


def zipf_partition_shares(keys: int, skew: float, partitions: int) -> np.ndarray:
    """Share of messages per partition: key k has weight 1/(k+1)^skew, goes to k mod P."""
    weights = 1.0 / np.arange(1, keys + 1, dtype=float) ** skew
    shares = np.zeros(partitions)
    np.add.at(shares, np.arange(keys) % partitions, weights)
    normalized: np.ndarray = shares / weights.sum()
    return normalized


def sampled_maximum_cdf(
    arrival_rate: float, service_rate: float, interval: float, samples: int, levels: int = 60
) -> np.ndarray:
    """P(max <= m), m = 0 .. levels - 1, of the number in an M/M/1 queue sampled `samples`
    times `interval` apart in steady state.

    The samples form a Markov chain with transition matrix exp(Q interval) (Q the generator
    of the birth-death chain, truncated far above `levels`); P(max < m) = pi_{<m}
    P_{<m}^(samples - 1) 1, the chain restricted to the states below m (Kemeny & Snell).
    """
    size = 2 * levels
    rho = arrival_rate / service_rate
    generator = np.zeros((size, size))
    for state in range(size):
        if state + 1 < size:
            generator[state, state + 1] = arrival_rate
        if state > 0:
            generator[state, state - 1] = service_rate
        generator[state, state] = -generator[state].sum()
    transition = scipy.linalg.expm(generator * interval)
    stationary = (1 - rho) * rho ** np.arange(size)
    below = [
        stationary[:m] @ np.linalg.matrix_power(transition[:m, :m], samples - 1) @ np.ones(m)
        for m in range(1, levels + 1)
    ]
    return np.asarray(below)


def test_key_skew_makes_a_hot_partition(agrees, stat, seed, quantiles) -> None:
    """Skewed keys: the partition holding the most popular keys is the hottest M/M/1 queue.

    Formula: keys are drawn independently with Zipf weights 1/(k+1)^s and key k goes to
    partition k mod P, so partition p receives a Poisson stream at lambda x share_p (Poisson
    splitting) and, with one consumer per partition, is an M/M/1 queue with
    L_p = rho_p / (1 - rho_p), rho_p = lambda share_p / mu (Kleinrock Vol. 1 §3.2). The group
    lag is sum_p L_p. The time series of each partition's lag (samples every 5 s after
    warm-up) has mean L_p. With 8 keys, s = 1 and 4 partitions the hot partition p = 0 (keys
    0 and 4) gets 44% of the messages (rho = 0.5, L = 1) and the next one 25% (rho = 0.28).
    Tolerance: the rule of the module docstring (for the sampled lag, SE of the
    per-replication mean of the samples). Contrasts, each with a false-alarm rate below
    alpha = 1e-4:
    - in every replication partition 0 has the highest sampled mean lag: the gap to the next
      partition (1 - 0.39) is ~17 standard deviations of a replication's sampled mean
      (asymptotic variance 2 rho (1 + rho) / (mu (1 - rho)^4) / T of an M/M/1 time average,
      Whitt 1989), and the replication mean of partition 0 is above twice partition 1's
      (~20 standard errors);
    - the sampled maxima (2000 samples 5 s apart) of the hot partition and of a cooler one are
      close (~11 and ~6 messages: the maximum of a geometric tail): a cooler partition has the
      higher sampled maximum in a replication with probability p ~ 0.24%, computed exactly
      from the sampled Markov chains (`sampled_maximum_cdf`), so over 20 replications it may
      happen at most `binomial_limit(20, p)` = 2 times (P(more) < alpha);
    - every sampled maximum is at most the group's max_partition_lag (an exact maximum; no
      randomness).
    """
    keys, skew, partitions, service_rate = 8, 1.0, 4, 2.0
    shares = zipf_partition_shares(keys, skew, partitions)
    arrival_rate = 0.5 * service_rate / shares[0]  # hot partition at rho = 0.5
    duration, warmup = 10_000.0, 100.0
    document = single_topic(
        arrival_rate=arrival_rate,
        mean_service_time=1 / service_rate,
        duration=duration,
        warmup=warmup,
        topic={
            "partitions": partitions,
            "partitioning": "key",
            "keys": {"count": keys, "skew": skew},
        },
        replicas=partitions,
    )
    document["simulation"]["sample_interval"] = 5.0
    results = run(document, seed)
    stations = [theory.mm1(arrival_rate * share, service_rate) for share in shares]

    def group(*keys: str) -> list[float]:
        return stat(results.replications, "topics", "events", "groups", "consumer", *keys)

    agrees(
        group("lag", "mean"),
        sum(station.mean_in_system for station in stations),
        "group lag.mean",
    )
    series = results.timeseries()
    partition_lag = series[
        (series["kind"] == "partition") & (series["metric"] == "lag") & (series["time"] > warmup)
    ]
    per_replication = partition_lag.pivot_table(
        index="replication", columns="entity", values="value", aggfunc="mean"
    )
    maxima = partition_lag.pivot_table(
        index="replication", columns="entity", values="value", aggfunc="max"
    )
    hot = "events/consumer/0"
    agrees(per_replication[hot], stations[0].mean_in_system, "hot partition lag (sampled)")
    max_partition_lag = group("max_partition_lag")
    for index in range(len(results.replications)):
        assert per_replication.loc[index].idxmax() == hot
        assert maxima.loc[index].max() <= max_partition_lag[index]
    assert np.mean(per_replication[hot]) > 2 * np.mean(per_replication["events/consumer/1"])
    samples = round(duration / document["simulation"]["sample_interval"])
    assert (partition_lag["replication"] == 0).sum() == samples * partitions
    cdfs = [
        sampled_maximum_cdf(arrival_rate * share, service_rate, 5.0, samples) for share in shares
    ]
    hot_pmf = np.diff(cdfs[0], prepend=0.0)  # P(hot max = m)
    p_cooler_higher = 1.0 - float(
        sum(hot_pmf[m] * np.prod([cdf[m] for cdf in cdfs[1:]]) for m in range(len(hot_pmf)))
    )
    cooler_higher = int(
        sum(maxima.loc[index, hot] < maxima.loc[index].max() for index in maxima.index)
    )
    allowed = quantiles.binomial_limit(len(results.replications), p_cooler_higher)
    print(
        f"a cooler partition has the highest sampled maximum in {cooler_higher} replications "
        f"(p = {p_cooler_higher:.3%} each; at most {allowed} allowed)"
    )
    assert cooler_higher <= allowed
