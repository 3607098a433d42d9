"""Deterministic property tests of topics and consumer groups (no queueing formula).

Invariants that hold for every run, whatever the random numbers: per-partition FIFO order,
conservation of messages (published = consumed + lag), fan-out (every group gets every
message), reproducibility from the seed. One statistical check (arrival counts of a rate
profile) compares Poisson counts with their known mean and variance (false-alarm rate 1e-4
per check, tests/theory/conftest.py). Every test runs with the test's `seed`
(`ARCHSIM_TEST_SEED_SHIFT`): the invariants must hold whatever the random numbers.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models import load_scenario
from models.results import Measurements
from sim import simulate
from sim.engine import Replication
from tests.theory.scenarios import partition_order, self_loop

Trace = list[tuple[str, str, int, int, float]]


def traced_run(document: dict[str, Any], seed: int) -> tuple[Trace, Measurements]:
    """Replication 0 of `document` with a trace of every message a consumer starts."""
    trace: Trace = []
    run = Replication(load_scenario(document), 0, seed, trace=trace).run()
    return trace, run.measurements


def started_sequences(trace: Trace) -> dict[tuple[str, str, int], list[int]]:
    """Message sequence numbers in the order consumers started them, per (topic, group,
    partition)."""
    sequences: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    previous_time = -math.inf
    for topic, group, partition, sequence, start_time in trace:
        assert start_time >= previous_time, "the trace is in simulated-time order"
        previous_time = start_time
        sequences[(topic, group, partition)].append(sequence)
    return sequences


def is_increasing(values: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


def handler(mean_service_time: float) -> list[dict[str, Any]]:
    return [{"work": {"exponential": mean_service_time}}]


# --------------------------------------------------------------------------- FIFO order


@pytest.mark.parametrize("partitioning", ["random", "round_robin", "key"])
def test_each_partition_is_consumed_in_publication_order(partitioning: str, seed: int) -> None:
    """Per (topic, group, partition), messages start in increasing publication sequence.

    Exercised where order is easiest to break: a random (exponential) delivery latency, long
    queues (consumers at 75-85% load, hot keys overloaded) and several partitions per consumer
    (6 partitions on 2 and on 4 consumer threads; with 4, consumers 0 and 1 own two
    partitions each). Across partitions messages do get reordered (checked, so that the
    per-partition check is not vacuous).
    """
    trace, summary = traced_run(partition_order(partitioning, duration=2_000), seed)
    sequences = started_sequences(trace)
    assert {key[2] for key in sequences} == set(range(6))
    assert {key[1] for key in sequences} == {"billing", "audit"}
    for key, started in sequences.items():
        assert is_increasing(started), f"{key}: messages started out of order"
    for group in ("billing", "audit"):
        in_start_order = [entry[3] for entry in trace if entry[1] == group]
        assert len(set(in_start_order)) == len(in_start_order), "a message started twice"
        assert not is_increasing(in_start_order), "no reordering across partitions at all?"
        consumed = summary.topics["orders"].groups[group].consumed
        assert consumed <= len(in_start_order) <= summary.topics["orders"].published


def test_queue_topic_without_latency_serves_one_fifo(seed: int) -> None:
    """A queue topic is one FIFO per group: with no delivery latency, competing consumers
    start messages exactly in publication order (several consumers, messages waiting)."""
    document = {
        "name": "queue-fifo",
        "simulation": {"duration": 2_000},
        "services": {"workers": {"replicas": 2, "operations": {"handle": handler(0.5)}}},
        "topics": {
            "jobs": {"type": "queue", "subscribers": {"workers": {"concurrency": 2}}},
        },
        "workload": {"load": {"steps": [{"publish": "jobs"}], "arrivals": {"poisson": 7.0}}},
    }
    trace, summary = traced_run(document, seed)
    started = [entry[3] for entry in trace]
    assert started == list(range(len(started)))
    assert summary.topics["jobs"].groups["workers"].p_wait > 0.3  # queues did form


# --------------------------------------------------------------------------- conservation


def busy_network(warmup: float) -> dict[str, Any]:
    """Fan-out, delivery latency, several publications per message, probabilistic publish
    and a feedback loop through a queue topic."""
    return {
        "name": "conservation",
        "simulation": {"duration": 1_500, "warmup": warmup},
        "services": {
            "orders": {
                "operations": {
                    "place": [
                        {"work": {"exponential": 0.05}},
                        {"publish": {"topic": "placed", "count": 2}},
                    ]
                }
            },
            "billing": {
                "replicas": 2,
                "operations": {
                    "charge": [
                        {"work": {"exponential": 0.4}},
                        {"publish": {"topic": "retries", "probability": 0.3}},
                    ]
                },
            },
            "shipping": {"operations": {"ship": handler(0.2)}},
            "retry": {
                "operations": {
                    "again": [
                        {"work": {"exponential": 0.3}},
                        {"publish": {"topic": "retries", "probability": 0.4}},  # feedback
                    ]
                }
            },
        },
        "topics": {
            "placed": {
                "partitions": 3,
                "delivery_latency": {"exponential": 0.1},
                "subscribers": {"billing": "charge", "shipping": "ship"},
            },
            "retries": {
                "type": "queue",
                "delivery_latency": {"uniform": [0.0, 0.2]},
                "subscribers": {"retry": {"concurrency": 2}},
            },
        },
        "workload": {"checkout": {"entry": "orders.place", "arrivals": {"poisson": 2.0}}},
    }


def test_published_equals_consumed_plus_final_lag(seed: int) -> None:
    """Without warm-up every message is counted from publication: for every group of every
    topic, in every replication, received == published == consumed + lag.final (lag counts
    messages in delivery, waiting and in service)."""
    results = simulate(load_scenario(busy_network(warmup=0)), replications=3, seed=seed)
    for replication in results.replications:
        for topic in replication.topics.values():
            assert topic.published > 0
            measured = results.settings.duration - results.settings.warmup
            assert topic.publish_rate == pytest.approx(topic.published / measured, rel=1e-12)
            for name, group in topic.groups.items():
                assert group.received == topic.published, name
                assert group.consumed + group.lag.final == topic.published, name
                assert 0 <= group.lag.final <= group.lag.max
                assert group.max_partition_lag <= group.lag.max
    # messages are still in flight at the end, so lag.final takes part in the identity
    assert any(
        group.lag.final > 0
        for replication in results.replications
        for topic in replication.topics.values()
        for group in topic.groups.values()
    )


def test_every_group_receives_every_message_after_warmup(seed: int) -> None:
    """Fan-out with warm-up: each group of a topic counts the same messages as the topic."""
    results = simulate(load_scenario(busy_network(warmup=100)), replications=2, seed=seed)
    for replication in results.replications:
        placed = replication.topics["placed"]
        assert set(placed.groups) == {"billing", "shipping"}
        for group in placed.groups.values():
            assert group.received == placed.published > 0


def test_fan_out_delivers_every_message_to_every_group(seed: int) -> None:
    """Arrivals stop at t = 50 and the run lasts until everything is consumed: each of three
    groups (two on a 4-partition log topic with random delivery latency, one on a queue
    topic) started exactly the messages 0 .. published - 1, once each."""
    document = {
        "name": "drain",
        "simulation": {"duration": 400},
        "services": {
            "a": {"operations": {"handle": handler(0.1)}},
            "b": {"replicas": 2, "operations": {"handle": handler(0.2)}},
            "c": {"operations": {"handle": handler(0.05)}},
        },
        "topics": {
            "events": {
                "partitions": 4,
                "delivery_latency": {"exponential": 0.3},
                "subscribers": {"a": "handle", "b": "handle"},
            },
            "copies": {"type": "queue", "subscribers": {"c": {"concurrency": 3}}},
        },
        "workload": {
            "load": {
                "steps": [{"publish": "events"}, {"publish": "copies"}],
                "arrivals": {"profile": [{"at": 0, "rate": 5.0}, {"at": 50, "rate": 0.0}]},
            }
        },
    }
    trace, summary = traced_run(document, seed)
    for topic_name, groups in (("events", {"a", "b"}), ("copies", {"c"})):
        topic = summary.topics[topic_name]
        published = int(topic.published)
        assert published > 100
        for group in groups:
            started = sorted(entry[3] for entry in trace if entry[:2] == (topic_name, group))
            assert started == list(range(published)), f"{topic_name}/{group}"
            assert topic.groups[group].consumed == published
            assert topic.groups[group].lag.final == 0


@pytest.mark.parametrize("topic_type", ["queue", "log"])
def test_message_started_on_delivery_did_not_wait(topic_type: str, seed: int) -> None:
    """P(wait) counts messages that waited: a message that starts at the instant it is
    delivered did not wait, also when the handler of the previous message published it.

    A handler (constant 1 s) re-publishes to its own topic with probability 1/2; external
    messages come every 100 s, so chains (mean length 2) never overlap (a chain of 100 has
    probability 2^-100) and no message ever finds the consumer busy with another message:
    p_wait must be 0 and every waiting time 0. (In a Jackson network the fed-back message
    sees the station without itself: P(wait) = rho, not rho + (1 - rho) x feedback share.)
    """
    document = self_loop(topic_type, duration=3_000, arrival_rate=0.01)
    results = simulate(load_scenario(document), replications=1, seed=seed)
    group = results.replications[0].topics["tasks"].groups["worker"]
    assert group.consumed > 40  # 30 external messages and their re-publications
    assert group.waiting_time.max == 0.0  # nobody waited a positive time ...
    assert group.p_wait == 0.0  # ... so nobody waited


# --------------------------------------------------------------------------- determinism


def keyed_scenario() -> dict[str, Any]:
    return {
        "name": "determinism",
        "simulation": {"duration": 300, "warmup": 20, "sample_interval": 5},
        "services": {
            "consumer": {"replicas": 2, "operations": {"handle": handler(0.2)}},
            "mirror": {"operations": {"copy": handler(0.1)}},
        },
        "topics": {
            "events": {
                "partitions": 4,
                "partitioning": "key",
                "keys": {"count": 50, "skew": 1.2},
                "delivery_latency": {"lognormal": {"mean": 0.05, "cv": 1.5}},
                "subscribers": {"consumer": "handle", "mirror": "copy"},
            }
        },
        "workload": {"load": {"steps": [{"publish": "events"}], "arrivals": {"poisson": 6.0}}},
    }


def test_same_seed_gives_identical_results_and_timeseries(seed: int) -> None:
    """Reproducibility (docs/architecture.md): the same scenario and seed give byte-identical JSON
    and
    identical time series, also when replications run on an executor; another seed differs."""
    scenario = load_scenario(keyed_scenario())
    first = simulate(scenario, replications=3, seed=seed)
    second = simulate(scenario, replications=3, seed=seed)
    with ThreadPoolExecutor(max_workers=2) as executor:
        parallel = simulate(scenario, replications=3, seed=seed, executor=executor)
    other = simulate(scenario, replications=3, seed=seed + 1)
    assert first.to_json() == second.to_json() == parallel.to_json()
    pd.testing.assert_frame_equal(first.timeseries(), second.timeseries())
    pd.testing.assert_frame_equal(first.timeseries(), parallel.timeseries())
    assert len(first.timeseries()) > 0
    assert first.to_json() != other.to_json()


# --------------------------------------------------------------------------- time series


def test_lag_time_series_ends_with_the_final_lag(seed: int) -> None:
    """The time series is sampled every `sample_interval` up to the end of the run, and its
    last group-lag sample (taken at warmup + duration) equals the group's `lag.final`."""
    document = keyed_scenario()
    results = simulate(load_scenario(document), replications=1, seed=seed)
    series = results.timeseries()
    lag = series[(series["kind"] == "group") & (series["metric"] == "lag")]
    consumer = lag[lag["entity"] == "events/consumer"]
    settings = document["simulation"]
    end = settings["warmup"] + settings["duration"]
    assert len(consumer) == end / settings["sample_interval"]
    last = consumer.sort_values("time").iloc[-1]
    assert last["time"] == pytest.approx(end)
    final = results.replications[0].topics["events"].groups["consumer"].lag.final
    assert last["value"] == final


def test_rate_profile_arrival_counts_per_segment(seed: int, quantiles) -> None:
    """Arrivals with a piecewise-constant rate: the count in each segment is Poisson with
    mean rate x length (non-homogeneous Poisson process; Ross, "Simulation", §5.5).

    Counts come from the flow throughput time series (10 s intervals); the run lasts 210 s
    so that the interval ending at t = 200 is well inside the run. Tolerance (false-alarm
    rate alpha = 1e-4 per check, tests/theory/conftest.py): the mean of n = 100 replications
    is within z_{1 - alpha/2} = 3.89 Poisson standard errors sqrt(mean / n) (the variance is
    known; the counts, 200 to 500, are close to normal), and that half-width is under 5% of
    the mean (power); the sample variance over the mean (index of dispersion, 1 for Poisson)
    is within the 1 - alpha band of chi2(n - 1) / (n - 1), [0.54, 1.65] for n = 100.
    """
    profile = [{"at": 0, "rate": 2.0}, {"at": 100, "rate": 10.0}, {"at": 150, "rate": 2.0}]
    document = {
        "name": "spike",
        "simulation": {"duration": 210, "sample_interval": 10},
        "workload": {"load": {"steps": [], "arrivals": {"profile": profile}}},
    }
    replications = 100
    results = simulate(load_scenario(document), replications=replications, seed=seed)
    series = results.timeseries()
    throughput = series[(series["kind"] == "flow") & (series["metric"] == "throughput")]
    counts = throughput.assign(count=throughput["value"] * 10.0)
    z = quantiles.normal()
    low, high = quantiles.chi2_band(replications - 1)
    for start, end, rate in [(0, 100, 2.0), (100, 150, 10.0), (150, 200, 2.0)]:
        in_segment = counts[(counts["time"] > start) & (counts["time"] <= end)]
        per_replication = in_segment.groupby("replication")["count"].sum().to_numpy()
        assert per_replication.size == replications
        expected = rate * (end - start)
        half_width = z * math.sqrt(expected / replications)
        dispersion = per_replication.var(ddof=1) / expected
        print(
            f"[{start}, {end}): expected {expected:g}, mean {per_replication.mean():.2f}, "
            f"tolerance {half_width / expected:.2%}; dispersion {dispersion:.3f} "
            f"in [{low:.3f}, {high:.3f}]"
        )
        assert half_width < 0.05 * expected
        assert abs(per_replication.mean() - expected) <= half_width
        assert low < dispersion < high
    arrived = [replication.flows["load"].arrived for replication in results.replications]
    assert np.all(np.asarray(arrived) >= counts.groupby("replication")["count"].sum().round())
