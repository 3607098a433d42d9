"""Statistical tests of topics and consumer groups against queueing theory.

Each test simulates a scenario whose consumer groups are textbook queues (M/M/1, M/M/c,
E_k/M/1, open Jackson networks) and compares per-replication statistics with the formula.

Tolerance (`agrees`, see `tests/theory/conftest.py`, the same everywhere unless a docstring
says otherwise): |mean - theory| <= t SE (+ 0.5% of theory for a percentile, read from a
log histogram), SE = s / sqrt(n) over the n = 20 independent replications, t = t_{1 -
alpha/2, 19} = 4.90 for a false-alarm rate alpha = 1e-4 per check; each check also asserts
that its expected half-width is below 6% of theory (power). Checks of another kind (variance,
Gamma, binomial counts, contrasts) derive their bands from the same alpha (their
docstrings). Runs start empty; the 100 s warm-up is over 15 relaxation times
1 / (c mu (1 - sqrt(rho))^2) of the slowest station (Morse's approximation). Seeds: the
`seed` fixture (a function of the test's name, plus ARCHSIM_TEST_SEED_SHIFT), so every run
is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import scipy.linalg
import scipy.stats

import models.theory as theory
from models import load_scenario
from sim import simulate
from sim.experiments.results import Results
from tests.theory.scenarios import fan_out

pytestmark = pytest.mark.theory

REPLICATIONS = 20


# --------------------------------------------------------------------------- helpers


def run(document: dict[str, Any], seed: int, replications: int = REPLICATIONS) -> Results:
    """Load and simulate a scenario document with the test's `seed` (fixture)."""
    return simulate(load_scenario(document), replications=replications, seed=seed)


def exponential_handler(mean_service_time: float) -> list[dict[str, Any]]:
    """An operation that works for an exponential time (rate 1 / mean)."""
    return [{"work": {"exponential": mean_service_time}}]


def single_topic(
    *,
    arrival_rate: float,
    mean_service_time: float,
    duration: float,
    warmup: float,
    topic: Mapping[str, Any] | None = None,
    replicas: int = 1,
    concurrency: int = 1,
    publish: Any = "events",
) -> dict[str, Any]:
    """Poisson publications (inline client steps) to topic `events`, consumed by `consumer`."""
    topic_spec: dict[str, Any] = dict(topic or {})
    topic_spec["subscribers"] = {"consumer": {"operation": "handle", "concurrency": concurrency}}
    return {
        "name": "single-topic",
        "simulation": {"duration": duration, "warmup": warmup},
        "services": {
            "consumer": {
                "replicas": replicas,
                "operations": {"handle": exponential_handler(mean_service_time)},
            }
        },
        "topics": {"events": topic_spec},
        "workload": {
            "load": {"steps": [{"publish": publish}], "arrivals": {"poisson": arrival_rate}}
        },
    }


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


# --------------------------------------------------------------------------- 4. queue topic


def test_queue_topic_is_mmc_erlang_c(agrees, stat, seed) -> None:
    """A queue topic with c = replicas x concurrency competing consumers is M/M/c.

    Formula: one FIFO, any free consumer takes the next message: the M/M/c queue. With
    a = lambda / mu and rho = a / c, P(wait) = C(c, a) (Erlang C),
    Wq = C(c, a) / (c mu - lambda), W = Wq + 1 / mu, L = lambda W (Erlang 1917; Gross &
    Harris §2.3; Kleinrock Vol. 1 §3.5). Here c = 2 replicas x 2 consumers = 4, rho = 0.6.
    Tolerance: the rule of the module docstring. The mean waiting time of a multi-server
    queue is a rare-event average (70% of messages do not wait) with long correlations: even
    with 1.4 million messages its half-width is ~4.6% of theory (the sojourn mean,
    W = Wq + 1/mu, pins Wq to within ~6% as well).
    """
    arrival_rate, service_rate, replicas, concurrency = 4.8, 2.0, 2, 2
    servers = replicas * concurrency
    document = single_topic(
        arrival_rate=arrival_rate,
        mean_service_time=1 / service_rate,
        duration=15_000,  # waiting means of M/M/4 are noisy: 1.4 million messages
        warmup=100,
        topic={"type": "queue"},
        replicas=replicas,
        concurrency=concurrency,
    )
    results = run(document, seed)
    station = theory.mmc(arrival_rate, service_rate, servers)

    def group(*keys: str) -> list[float]:
        return stat(results.replications, "topics", "events", "groups", "consumer", *keys)

    agrees(
        group("waiting_time", "mean"),
        station.mean_waiting_time,
        "waiting mean",
    )
    agrees(group("p_wait"), station.p_wait, "p_wait (Erlang C)")
    agrees(group("sojourn_time", "mean"), station.mean_response_time, "sojourn mean")
    agrees(group("lag", "mean"), station.mean_in_system, "lag.mean")
    agrees(group("utilization"), station.utilization, "utilization")
    agrees(
        group("sojourn_time", "p99"),
        theory.mmc_response_time_quantile(arrival_rate, service_rate, servers, 0.99),
        "sojourn p99",
        percentile=True,
    )


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


# --------------------------------------------------------------------------- 7. Jackson


@dataclass(frozen=True)
class Station:
    """A station of a Jackson network built from a queue topic `to-NAME`."""

    service_rate: float
    replicas: int = 1
    concurrency: int = 1

    @property
    def servers(self) -> int:
        return self.replicas * self.concurrency


@dataclass(frozen=True)
class Network:
    """An open network of queue-topic stations.

    `routing[i][j]` is the probability that a message handled by station i is published to
    station j's topic; `entries[flow] = (station, rate)` is a Poisson flow into one station.
    """

    stations: Mapping[str, Station]
    routing: Mapping[str, Mapping[str, float]]
    entries: Mapping[str, tuple[str, float]]
    duration: float = 5_000
    extra: Mapping[str, Any] = field(default_factory=dict)

    def routing_steps(self, station: str) -> list[dict[str, Any]]:
        """Route after service: a publish with probability (one destination) or a branch."""
        row = {target: p for target, p in self.routing.get(station, {}).items() if p > 0}
        if not row:
            return []
        if len(row) == 1:
            ((target, probability),) = row.items()
            return [{"publish": {"topic": f"to-{target}", "probability": probability}}]
        options = [
            {"probability": p, "steps": [{"publish": f"to-{target}"}]} for target, p in row.items()
        ]
        leave = 1.0 - sum(row.values())
        if leave > 1e-12:
            options.append({"probability": leave, "steps": []})
        return [{"branch": options}]

    def document(self) -> dict[str, Any]:
        return {
            "name": "jackson",
            "simulation": {"duration": self.duration, "warmup": 100},
            "services": {
                name: {
                    "replicas": station.replicas,
                    "operations": {
                        "handle": exponential_handler(1 / station.service_rate)
                        + self.routing_steps(name)
                    },
                }
                for name, station in self.stations.items()
            },
            "topics": {
                f"to-{name}": {
                    "type": "queue",
                    "subscribers": {
                        name: {"operation": "handle", "concurrency": station.concurrency}
                    },
                }
                for name, station in self.stations.items()
            },
            "workload": {
                flow: {"steps": [{"publish": f"to-{target}"}], "arrivals": {"poisson": rate}}
                for flow, (target, rate) in self.entries.items()
            },
        }

    def prediction(self) -> theory.JacksonPrediction:
        external: dict[str, float] = dict.fromkeys(self.stations, 0.0)
        for target, rate in self.entries.values():
            external[target] += rate
        return theory.jackson_network(
            external,
            self.routing,
            {name: station.service_rate for name, station in self.stations.items()},
            {name: station.servers for name, station in self.stations.items()},
        )

    def remaining_sojourn(self, prediction: theory.JacksonPrediction) -> dict[str, float]:
        """Mean time from arrival at station i to leaving the network: T = W + P T.

        First-step analysis over the routing chain, with the per-visit mean sojourn W_j of
        each station (in an open Jackson network every arrival, external or internal, sees
        the stationary distribution; Gross & Harris §4.2, Kleinrock Vol. 1 §4.8).
        """
        names = list(self.stations)
        transfer = np.array([[self.routing.get(i, {}).get(j, 0.0) for j in names] for i in names])
        per_visit = np.array([prediction.stations[name].mean_response_time for name in names])
        total = np.linalg.solve(np.eye(len(names)) - transfer, per_visit)
        return dict(zip(names, total.tolist(), strict=True))


NETWORKS = {
    "tandem": Network(
        stations={"a": Station(2.5), "b": Station(2.0)},
        routing={"a": {"b": 1.0}},
        entries={"load": ("a", 1.0)},
        duration=10_000,
    ),
    "feedback": Network(  # a re-publishes to its own topic with probability 1/2
        stations={"a": Station(2.0)},
        routing={"a": {"a": 0.5}},
        entries={"load": ("a", 0.5)},
        duration=10_000,
    ),
    "branching": Network(  # a -> b or c (1/2 each); b feeds back to a with probability 0.2
        stations={"a": Station(5.0), "b": Station(2.5), "c": Station(2.5)},
        routing={"a": {"b": 0.5, "c": 0.5}, "b": {"a": 0.2}},
        entries={"load": ("a", 1.8)},
        duration=7_500,
    ),
    "multi-server": Network(  # b is M/M/2 by concurrency, c is M/M/2 by replicas
        stations={
            "a": Station(2.5),
            "b": Station(1.25, concurrency=2),
            "c": Station(1.25, replicas=2),
        },
        routing={"a": {"b": 1.0}, "b": {"c": 1.0}},
        entries={"load": ("a", 1.0)},
        duration=7_500,
    ),
    "two-entries": Network(  # flows enter at a and at b; a feeds b
        stations={"a": Station(2.5), "b": Station(3.75)},
        routing={"a": {"b": 1.0}},
        entries={"upstream": ("a", 1.0), "direct": ("b", 0.5)},
        duration=7_500,
    ),
}


@pytest.mark.parametrize("network_name", list(NETWORKS))
def test_queue_topic_networks_are_jackson_networks(network_name: str, agrees, stat, seed) -> None:
    """Queue topics whose handlers publish onward form an open Jackson network.

    Formula: station i (a queue topic consumed by c_i exponential consumers of rate mu_i)
    receives lambda = gamma + P^T lambda (traffic equations); by Jackson's theorem the stations
    are independent M/M/c_i queues in steady state (Jackson 1963; Gross & Harris §4.2;
    Harchol-Balter ch. 18). Checked per station: lag.mean = L_i, per-visit sojourn mean
    W_i and P(wait) (arrival theorem: internal arrivals too see time averages), throughput
    lambda_i; per flow: completion_time mean = T_entry from T = W + P T (first-step analysis),
    which for one entry is total L / gamma (Little's law). P(wait) is checked at a station
    that feeds back to itself too: a message re-published by the handler in progress sees
    the station without itself (test_topic_properties.py::
    test_message_started_on_delivery_did_not_wait).
    Tolerance: 4.90 SE across 20 replications.
    """
    network = NETWORKS[network_name]
    prediction = network.prediction()
    assert prediction.stable
    remaining = network.remaining_sojourn(prediction)
    total_rate = sum(rate for _, rate in network.entries.values())
    assert math.isclose(  # Little's law on the whole network, as a check on the theory side
        sum(rate * remaining[target] for target, rate in network.entries.values()) / total_rate,
        prediction.mean_sojourn_time,
    )
    results = run(network.document(), seed)
    for name, station in prediction.stations.items():
        topic = f"to-{name}"
        agrees(
            stat(results.replications, "topics", topic, "groups", name, "lag", "mean"),
            station.mean_in_system,
            f"{name}: lag.mean",
        )
        agrees(
            stat(results.replications, "topics", topic, "groups", name, "sojourn_time", "mean"),
            station.mean_response_time,
            f"{name}: sojourn mean",
        )
        agrees(
            stat(results.replications, "topics", topic, "groups", name, "throughput"),
            station.arrival_rate,
            f"{name}: throughput",
        )
        agrees(
            stat(results.replications, "topics", topic, "groups", name, "p_wait"),
            station.p_wait,
            f"{name}: p_wait",
        )
    for flow, (target, _) in network.entries.items():
        agrees(
            stat(results.replications, "flows", flow, "completion_time", "mean"),
            remaining[target],
            f"{flow}: completion_time mean",
        )


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
