"""Statistical tests of queue topics against queueing theory: one queue topic with
competing consumers (M/M/c, Erlang C) and networks of queue topics whose handlers publish
onward (open Jackson networks).

Each test simulates a scenario whose consumer groups are textbook queues and compares
per-replication statistics with the formula.

Tolerance, warm-up and seeds: the docstring of `tests/theory/topic_scenarios.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import models.theory as theory
from tests.theory.topic_scenarios import exponential_handler, run, single_topic

pytestmark = pytest.mark.theory


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
