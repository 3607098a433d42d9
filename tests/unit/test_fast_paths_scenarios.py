"""The repository's scenarios give the same results on the engine's fast and general paths.

Every example scenario and variant (shortened to 120 s), the scenarios of tests/theory (the
same architectures as the theory tests, built by the same code, shortened to
`THEORY_DURATION`) and random fault schedules (the architectures of
tests/theory/test_fault_properties.py) run on both paths (`both_ways`,
tests/unit/fast_path_checks.py: the same results to 1e-9 relative). Between them they take
every fast path.

The `slow` tests take about 70 s of CPU (every example scenario and variant ~55 s, the other
theory scenarios ~5 s, random fault schedules ~8 s).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from models import load_scenario
from models.loading import variant_names
from models.schema import Scenario
from sim.engine import Replication
from tests.theory.scenarios import (
    autoscaled_service,
    calls,
    closed_network,
    fan_out,
    fork_join,
    lag_scaling,
    partition_order,
    priorities,
    queue_topics_with_feedback,
    self_loop,
)
from tests.theory.test_properties import FAULTY, MM1
from tests.theory.test_resilience import drain_scenario, token_bucket_scenario
from tests.theory.test_single_station import serving, station
from tests.theory.test_topic_properties import busy_network, keyed_scenario
from tests.theory.test_topics_queues import NETWORKS
from tests.theory.topic_scenarios import single_topic
from tests.unit.fast_path_checks import NO_FAST_PATH, Document, both_ways, fast_path_use

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
THEORY_DURATION = 1_500.0
"""The measured period of the theory scenarios here (theirs is longer: they estimate means)."""


def shortened(scenario: Scenario, duration: float) -> Scenario:
    settings = scenario.simulation
    shorter = settings.model_copy(update={"duration": min(settings.duration, duration)})
    return scenario.model_copy(update={"simulation": shorter})


def example_scenarios() -> list[tuple[str, Scenario]]:
    cases = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        base = load_scenario(path)
        variants: list[str | None] = [*variant_names(base)] or [None]  # (with "base")
        for variant in variants:
            scenario = shortened(load_scenario(path, variant), 120.0)
            cases.append((f"{path.stem}:{variant or 'base'}", scenario))
    return cases


# --------------------------------------------------------------------------- examples


def test_the_example_scenarios_take_the_fast_paths() -> None:
    """The example scenarios exercise leaf visits, the `entry` and `entry_visit` shortcuts
    and the handler fast path (none of them publishes from a flow's body:
    `entry_publishes` is covered by those of test_fast_paths.py and of tests/theory)."""
    taken: dict[str, int] = dict.fromkeys(NO_FAST_PATH, 0)
    for _, scenario in example_scenarios():
        use = fast_path_use(Replication(scenario, 0, 2))
        for key, value in use.items():
            taken[key] += value if isinstance(value, int) else len(value)
    assert all(taken[key] > 0 for key in taken if key != "entry_publishes"), taken


@pytest.mark.slow  # every example scenario and variant on both paths: ~55 s of CPU
@pytest.mark.parametrize(
    ("label", "scenario"), example_scenarios(), ids=[label for label, _ in example_scenarios()]
)
def test_example_scenarios_give_the_same_results_on_both_paths(
    label: str, scenario: Scenario
) -> None:
    both_ways(scenario, 2)


# --------------------------------------------------------------------------- theory


def theory_station(service: Document, arrival_rate: float) -> Document:
    """tests/theory/test_single_station.py: Poisson arrivals into `server`."""
    return station(service, arrival_rate, duration=THEORY_DURATION, warmup=20.0)


def theory_topic(arrival_rate: float, mean_service_time: float, **options: Any) -> Document:
    """tests/theory/topic_scenarios.py: Poisson publications to `events`, consumed by
    `consumer`."""
    options = {"duration": THEORY_DURATION, "warmup": 20.0, **options}
    return single_topic(arrival_rate=arrival_rate, mean_service_time=mean_service_time, **options)


def networks_simulation() -> Document:
    """tests/theory/test_networks.py's `simulation`, shortened."""
    return {"duration": THEORY_DURATION, "warmup": 20.0, "replications": 20}


def station_simulation() -> Document:
    """The `simulation` of the theory scenarios written out here, shortened."""
    return {"duration": THEORY_DURATION, "warmup": 20.0}


def jackson(name: str) -> Document:
    return NETWORKS[name].document()


def calls_of(blocking: bool) -> Document:
    """test_networks.py: a sync call, an async tandem (busier than there)."""
    return calls(
        "calls",
        networks_simulation(),
        arrival_rate=0.8,
        mean_front=0.4,
        mean_back=0.6,
        blocking=blocking,
    )


def autoscaled() -> Document:
    """test_dynamics.py::test_autoscaled_service_settles_at_the_offered_load_over_the_target
    (round robin), shortened, decisions 3 x as often."""
    return autoscaled_service(
        {"duration": 60.0, "warmup": 60.0, "sample_interval": 5},
        arrival_rate=100.0,
        service_time=0.02,
        workers=1,
        target=0.8,
        balancing="round_robin",
        interval=10,
        stabilization=20,
        startup=5,
    )


def drain(kind: str, consumers: int) -> Document:
    """tests/theory/test_resilience.py: an outage of the consumer service or of the topic's
    broker, with the backlog drained afterwards (outage 10 s; the theory test's is 50 s)."""
    return drain_scenario(
        arrival_rate=40.0,
        service_time=consumers / 80.0,
        consumers=consumers,
        outage=10.0,
        kind=kind,
        sample_interval=0.25,
    )


def analysis_jackson() -> Document:
    """test_analysis_vs_simulation.py::test_jackson_network_of_queue_topics_with_feedback (a
    handler that works then branches: a job), shortened."""
    return queue_topics_with_feedback("jackson-branch", {"duration": 30.0, "warmup": 5.0})


THEORY_SCENARIOS: dict[str, Callable[[], Document]] = {
    # tests/theory/test_single_station.py
    "mm1": lambda: theory_station(serving({"exponential": 1.0}), 0.6),
    "mmc-shared": lambda: theory_station(
        serving({"exponential": 1.0}, replicas=3, workers=1, balancing="shared"), 1.95
    ),
    "mmck": lambda: theory_station(serving({"exponential": 1.0}, workers=3, queue_capacity=3), 3.3),
    "erlang-b": lambda: theory_station(
        serving({"lognormal": {"mean": 1.0, "cv": 2.0}}, workers=5, queue_capacity=0), 5.0
    ),
    "m-g-infinity": lambda: theory_station(
        serving({"lognormal": {"mean": 0.5, "cv": 1.5}}, workers="unlimited"), 20.0
    ),
    "mg1-gamma": lambda: theory_station(serving({"gamma": {"mean": 1.0, "cv": 2.0}}), 0.4),
    "md1": lambda: theory_station(serving({"constant": 1.0}), 0.5),
    "random-balancing": lambda: theory_station(
        serving({"exponential": 1.0}, replicas=2, balancing="random"), 1.2
    ),
    "round-robin-balancing": lambda: theory_station(
        serving({"exponential": 1.0}, replicas=2, balancing="round_robin"), 1.0
    ),
    "priorities": lambda: priorities(
        station_simulation(), {"interactive": 0.4, "batch": 0.3}, {"interactive": 0.5, "batch": 1.5}
    ),
    # tests/theory/test_networks.py
    "fork-join": lambda: fork_join(networks_simulation(), 0.5, 1.0),
    "sync-call": lambda: calls_of(blocking=True),
    "async-tandem": lambda: calls_of(blocking=False),
    "closed-mva": lambda: closed_network(networks_simulation(), 6, 2.0, {"cpu": 0.5, "disk": 0.3}),
    # tests/theory/test_properties.py
    "properties-mm1": lambda: MM1,
    "drops-and-timeouts": lambda: FAULTY,
    # tests/theory/test_topics_partitions.py, test_topics_queues.py, test_topics_delivery.py
    "log-random-partitions": lambda: theory_topic(
        4.0, 0.5, topic={"partitions": 4, "partitioning": "random"}, replicas=4
    ),
    "log-parallelism-capped": lambda: theory_topic(
        2.0, 0.5, topic={"partitions": 2}, replicas=3, concurrency=2
    ),
    "log-partitions-shared": lambda: theory_topic(
        2.0, 0.5, topic={"partitions": 6}, replicas=1, concurrency=2
    ),
    "log-round-robin": lambda: theory_topic(
        3.0, 0.5, topic={"partitions": 3, "partitioning": "round_robin"}, replicas=3
    ),
    "queue-mmc": lambda: theory_topic(4.8, 0.5, topic={"type": "queue"}, replicas=2, concurrency=2),
    "fan-out": lambda: fan_out(
        station_simulation(), 1.0, {"fast": 4.0, "medium": 3.0, "slow": 2.0}
    ),
    "publish-probability": lambda: theory_topic(
        5.0, 0.25, publish={"topic": "events", "probability": 0.4}
    ),
    "delivery-latency": lambda: theory_topic(
        1.0, 0.5, topic={"delivery_latency": {"constant": 0.2}}
    ),
    "overloaded": lambda: theory_topic(3.0, 0.5, warmup=0.0),
    "key-skew": lambda: theory_topic(
        4.5,
        0.5,
        topic={"partitions": 4, "partitioning": "key", "keys": {"count": 8, "skew": 1.0}},
        replicas=4,
    ),
    **{
        f"jackson-{name}": functools.partial(jackson, name)
        for name in ("tandem", "feedback", "branching", "multi-server", "two-entries")
    },
    # tests/theory/test_topic_properties.py
    "busy-network": lambda: busy_network(0.0),
    "busy-network-warmup": lambda: busy_network(100.0),
    "keyed-latency": keyed_scenario,
    # (arrivals 20 x as often as there: chains overlap)
    "self-loop-queue": lambda: self_loop("queue", duration=THEORY_DURATION, arrival_rate=0.2),
    "self-loop-log": lambda: self_loop("log", duration=THEORY_DURATION, arrival_rate=0.2),
    **{
        f"fifo-{way}": functools.partial(partition_order, way, duration=600.0)
        for way in ("random", "round_robin", "key")
    },
    # tests/theory/test_analysis_vs_simulation.py
    "analysis-jackson-branch": analysis_jackson,
    # tests/theory/test_resilience.py
    "token-bucket": lambda: token_bucket_scenario(2.0, 1.0, 1, THEORY_DURATION),
    "drain-service-outage": lambda: drain("service", 1),
    "drain-broker-outage": lambda: drain("topic", 1),
    "drain-service-outage-4": lambda: drain("service", 4),
    # tests/theory/test_dynamics.py
    "autoscaled-service": autoscaled,
    "lag-scaling-log": lambda: lag_scaling("log", partitions=3, duration=120),
    "lag-scaling-queue": lambda: lag_scaling("queue", partitions=3, duration=120),
}

QUICK_THEORY = [  # the default run: one of each kind
    "mm1",
    "closed-mva",
    "queue-mmc",
    "jackson-branching",
    "busy-network-warmup",
    "drain-broker-outage",
    "lag-scaling-log",
]


def check_theory_scenario(label: str) -> None:
    scenario = shortened(load_scenario(THEORY_SCENARIOS[label]()), THEORY_DURATION)
    both_ways(scenario, 13)


@pytest.mark.parametrize("label", QUICK_THEORY)
def test_theory_scenarios_give_the_same_results_on_both_paths(label: str) -> None:
    check_theory_scenario(label)


@pytest.mark.slow  # the rest of the theory scenarios: ~5 s of CPU
@pytest.mark.parametrize(
    "label", [label for label in THEORY_SCENARIOS if label not in QUICK_THEORY]
)
def test_more_theory_scenarios_give_the_same_results_on_both_paths(label: str) -> None:
    check_theory_scenario(label)


def test_the_theory_scenarios_take_every_fast_path() -> None:
    """Between them the theory scenarios take each fast path somewhere, and the handler
    fast path on log and queue topics, with and without publishes, partitions and latency."""
    taken: dict[str, set[str]] = {key: set() for key in NO_FAST_PATH}
    for label, build in THEORY_SCENARIOS.items():
        use = fast_path_use(Replication(load_scenario(build()), 0, 1))
        for key, value in use.items():
            if value:
                taken[key].add(label)
    assert all(taken.values()), taken
    fast_groups = taken["fast_groups"]
    assert {"queue-mmc", "log-random-partitions", "delivery-latency", "jackson-feedback"} <= (
        fast_groups
    )
    assert {"drain-broker-outage", "lag-scaling-log", "lag-scaling-queue"} <= fast_groups
    branching = Replication(load_scenario(analysis_jackson()), 0, 1)
    assert fast_path_use(branching)["fast_groups"] == {"b/sb"}  # (a's handler branches)


@pytest.mark.slow  # 25 random architectures under random faults: ~8 s of CPU
def test_random_fault_schedules_give_the_same_results_on_both_paths() -> None:
    """The architectures of tests/theory/test_fault_properties.py (a resilient call, message
    retries, dead letters, rate limits, queue timeouts, async callers; service outages,
    crashes, error bursts, slowdowns and broker outages drawn by hypothesis)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.theory.test_fault_properties import architectures

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,  # (the same examples every run)
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(architectures(draining=False), st.integers(0, 2**16))
    def check(document: Document, seed: int) -> None:
        both_ways(load_scenario(document), seed)

    check()
