"""`models.analyze` against `sim.simulate` on scenarios where the prediction is exact.

Each test builds a scenario whose stations are textbook queues, checks that the analysis
marks the values it is compared on as exact (with the formula named in `method`), simulates
independent replications and compares every per-replication statistic with the prediction.

Tolerance: the rule of tests/theory/conftest.py (`agrees`): the replications are independent,
so the mean of a per-replication statistic has standard error SE = s / sqrt(n) (s the sample
standard deviation over the n = 20 replications); a check passes when |mean - prediction| <=
t_{1 - alpha/2, 19} SE = 4.90 SE, a false-alarm rate alpha = 1e-4 per check. Each check also
asserts that its expected half-width is below `POWER` = 8% of the prediction (wider than the
6% elsewhere: these runs are short), so that a test cannot pass merely because its runs are
too short to see anything. Warm-up is many relaxation times of the slowest station; seeds:
the `seed` fixture (a function of the test's name, plus ARCHSIM_TEST_SEED_SHIFT). The whole
file runs in about 40 s of CPU (20 s on two workers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from models import Prediction, analyze, load_scenario
from sim import simulate
from tests.theory.scenarios import queue_topics_with_feedback

pytestmark = pytest.mark.theory

REPLICATIONS = 20
POWER = 0.08
"""Largest expected half-width allowed, relative to the prediction (the check's power; tested
at alpha, see `power_limit` in tests/theory/conftest.py)."""


def document(name: str, duration: float, **parts: Any) -> dict[str, Any]:
    return {
        "name": name,
        "simulation": {"duration": duration, "warmup": 20},
        **parts,
    }


def lookup(tree: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` of a prediction (a Mapping at each level, or attributes)."""
    for key in path:
        tree = tree[key] if isinstance(tree, Mapping) else getattr(tree, key)
    return tree


@pytest.fixture
def compare(agrees, stat, seed) -> Callable[..., Prediction]:
    """`compare(spec, replications, checks)`: analyze and simulate `spec` with the test's
    `seed`, assert that every statistic at `checks` agrees with the prediction (`agrees`: the
    rule of tests/theory/conftest.py, with the power bound `POWER`), return the prediction.

    A path names a value in the results document (e.g. ``("flows", "f", "response_time",
    "mean")``); the prediction is at the same path of the analysis.
    """

    def run(spec: dict[str, Any], replications: int, checks: list[tuple[str, ...]]) -> Any:
        scenario = load_scenario(spec)
        predicted = analyze(scenario)
        results = simulate(scenario, replications=replications, seed=seed)
        for path in checks:
            agrees(
                stat(results.replications, *path),
                lookup(predicted, path),
                f"{scenario.name}: {'.'.join(path)}",
                max_relative_half_width=POWER,
            )
        return predicted

    return run


def group_means(topic: str, group: str) -> list[tuple[str, ...]]:
    """The paths of a consumer group's sojourn, lag and utilization (for `compare`)."""
    where = ("topics", topic, "groups", group)
    return [(*where, "sojourn_time", "mean"), (*where, "lag", "mean"), (*where, "utilization")]


SPIKE = {"profile": [{"at": 0, "rate": 50}, {"at": 60, "rate": 150}, {"at": 90, "rate": 50}]}
"""50/s, 150/s for 30 s (60-90 s), 50/s again: 12,000 arrivals in 180 s."""


def entry(service: str, rate: float) -> dict[str, Any]:
    return {"f": {"entry": service, "arrivals": {"poisson": rate}}}


def test_m_m_1_entry_flow(compare) -> None:
    """M/M/1 at rho = 0.7: W = 1 / (mu - lambda), Wq = rho W, L = rho / (1 - rho)."""
    spec = document(
        "mm1",
        600,
        services={"s": {"operations": {"o": [{"work": {"exponential": 0.01}}]}}},
        workload=entry("s", 70.0),
    )
    predicted = compare(
        spec,
        REPLICATIONS,
        [
            ("flows", "f", "response_time", "mean"),
            ("services", "s", "waiting_time", "mean"),
            ("services", "s", "in_system", "mean"),
            ("services", "s", "utilization"),
        ],
    )
    assert predicted.services["s"].method == "M/M/1"
    assert predicted.flows["f"].exact is True


def test_m_m_c_shared_pool(compare) -> None:
    """Two replicas of two workers sharing one queue: M/M/4 (Erlang C) at rho = 0.75."""
    spec = document(
        "mmc",
        240,
        services={
            "s": {
                "replicas": 2,
                "workers": 2,
                "balancing": "shared",
                "operations": {"o": [{"work": {"exponential": 0.04}}]},
            }
        },
        workload=entry("s", 75.0),
    )
    predicted = compare(
        spec,
        REPLICATIONS,
        [
            ("flows", "f", "response_time", "mean"),
            ("services", "s", "p_wait"),
            ("services", "s", "utilization"),
        ],
    )
    assert predicted.services["s"].method == "M/M/c (Erlang C)"
    assert predicted.services["s"].exact is True


def test_m_m_c_k_drops(compare) -> None:
    """Two workers, a waiting room of 3: M/M/2/5 at offered load 2.2 drops about 22%."""
    spec = document(
        "mmck",
        150,
        services={
            "s": {
                "workers": 2,
                "queue_capacity": 3,
                "operations": {"o": [{"work": {"exponential": 0.02}}]},
            }
        },
        workload=entry("s", 110.0),
    )
    predicted = compare(
        spec,
        REPLICATIONS,
        [
            ("services", "s", "loss_probability"),
            ("services", "s", "waiting_time", "mean"),
            ("flows", "f", "response_time", "mean"),
            ("flows", "f", "throughput"),
        ],
    )
    assert predicted.services["s"].method == "M/M/c/K"
    assert predicted.services["s"].exact is True


def test_m_g_1_pollaczek_khinchine(compare) -> None:
    """Uniform service (SCV 0.21) at rho = 0.7: Wq = rho E[S] (1 + cs²) / (2 (1 - rho))."""
    spec = document(
        "mg1",
        200,
        services={"s": {"operations": {"o": [{"work": {"uniform": [0.002, 0.018]}}]}}},
        workload=entry("s", 70.0),
    )
    predicted = compare(
        spec,
        REPLICATIONS,
        [("flows", "f", "response_time", "mean"), ("services", "s", "queue_length", "mean")],
    )
    assert predicted.services["s"].method == "M/G/1 (Pollaczek-Khinchine)"
    assert predicted.services["s"].exact is True


def test_jackson_network_of_queue_topics_with_feedback(compare) -> None:
    """Queue topics a -> b -> a: handlers publish at the end of an exponential step, so the
    groups form a Jackson network (a: M/M/1, b: M/M/2) with feedback; traffic equations
    lambda_a = 100 + 0.3 lambda_b, lambda_b = 0.6 lambda_a. The completion time adds the
    sojourns along the (random, sequential) path, so its mean is exact too."""
    # (the M/M/2 mean wait, 23% of messages wait, is the noisiest statistic: 40 runs of
    # 100 s, t 4.33, give it about the half-width of 20 of 240 s, t 4.90, in 80% of the
    # time; 2 s of warm-up, as the stations relax in tens of milliseconds)
    spec = queue_topics_with_feedback("jackson", {"duration": 100, "warmup": 2})
    predicted = compare(
        spec,
        2 * REPLICATIONS,
        [
            ("topics", "a", "groups", "sa", "sojourn_time", "mean"),
            ("topics", "a", "groups", "sa", "lag", "mean"),
            ("topics", "b", "groups", "sb", "waiting_time", "mean"),
            ("topics", "b", "groups", "sb", "lag", "mean"),
            ("flows", "f", "completion_time", "mean"),
        ],
    )
    topics = predicted.topics
    assert topics["a"].groups["sa"].method == "M/M/1"
    assert topics["b"].groups["sb"].method == "M/M/c (Erlang C)"
    assert topics["a"].groups["sa"].exact and topics["b"].groups["sb"].exact
    assert predicted.flows["f"].completion_exact is True


def test_log_topic_with_random_partitioning(compare) -> None:
    """Six partitions, four consumers: consumers 0 and 1 own two partitions each (1/3 of the
    messages), 2 and 3 one each (1/6); random partitioning thins the Poisson stream, so each
    consumer is an M/G/1 queue (gamma service, cv 0.5)."""
    spec = document(
        "log-random",
        120,
        services={
            "front": {
                "workers": "unlimited",
                "operations": {"o": [{"work": {"exponential": 0.001}}, {"publish": "t"}]},
            },
            "c": {
                "replicas": 2,
                "operations": {"h": [{"work": {"gamma": {"mean": 0.02, "cv": 0.5}}}]},
            },
        },
        topics={"t": {"partitions": 6, "subscribers": {"c": {"operation": "h", "concurrency": 2}}}},
        workload=entry("front", 100.0),
    )
    predicted = compare(
        spec,
        REPLICATIONS,
        group_means("t", "c"),
    )
    group = predicted.topics["t"].groups["c"]
    assert group.method == "M/G/1 (Pollaczek-Khinchine) per consumer (4 consumers)"
    assert group.exact is True


def test_closed_flow_against_exact_mva(compare) -> None:
    """Eight clients thinking 50 ms (exponential) on an app that never queues (8 workers)
    calling a two-worker database: a product-form closed network, solved by exact MVA."""
    spec = document(
        "closed",
        80,
        services={
            "app": {
                "workers": 8,
                "operations": {"o": [{"work": {"exponential": 0.01}}, {"call": "db"}]},
            },
            "db": {"workers": 2, "operations": {"q": [{"work": {"exponential": 0.012}}]}},
        },
        workload={"f": {"entry": "app", "clients": 8, "think_time": {"exponential": 0.05}}},
    )
    predicted = compare(
        spec,
        REPLICATIONS,
        [
            ("flows", "f", "throughput"),
            ("flows", "f", "response_time", "mean"),
            ("services", "db", "in_system", "mean"),
        ],
    )
    assert predicted.flows["f"].method.startswith("exact MVA")
    assert predicted.flows["f"].exact is True


def test_two_branch_fork_join_is_flatto_hahn(compare) -> None:
    """Two identical M/M/1 branches fed only by the fork: E[T] = (12 - rho) / 8 / (mu - lambda)."""
    spec = document(
        "fork-join",
        120,
        services={name: {"operations": {"o": [{"work": {"exponential": 0.01}}]}} for name in "ab"},
        workload={
            "f": {
                "steps": [{"parallel": [[{"call": "a"}], [{"call": "b"}]]}],
                "arrivals": {"poisson": 60.0},
            }
        },
    )
    predicted = compare(spec, REPLICATIONS, [("flows", "f", "response_time", "mean")])
    assert "Flatto-Hahn fork-join" in predicted.flows["f"].method
    assert predicted.flows["f"].exact is True


def test_a_rate_profile_is_predicted_piece_by_piece(compare) -> None:
    """Poisson arrivals at 30/s for 200 s, then 70/s for 200 s, at an M/M/1 of 10 ms: each
    piece is an M/M/1 of its own (pointwise stationary), R = 1 / (mu - lambda): 14.3 and
    33.3 ms. Over the run, by completed requests, (30 x 14.3 + 70 x 33.3) / 100 = 27.6 ms
    (at the average rate, 50/s, it would be 20 ms); in system by time, (0.43 + 2.33) / 2 =
    1.38; utilization 0.5 either way. The transient after the switch (relaxation time
    1 / (mu (1 - sqrt(rho))^2) = 0.37 s) leaves about 0.7 request-seconds out of 550:
    0.13%, far inside the tolerance."""
    spec = {
        "name": "profile",
        "simulation": {"duration": 400, "warmup": 0},
        "services": {"s": {"operations": {"o": [{"work": {"exponential": 0.01}}]}}},
        "workload": {
            "f": {
                "entry": "s",
                "arrivals": {"profile": [{"at": 0, "rate": 30}, {"at": 200, "rate": 70}]},
            }
        },
    }
    predicted = compare(
        spec,
        REPLICATIONS,
        [
            ("flows", "f", "response_time", "mean"),
            ("services", "s", "response_time", "mean"),
            ("services", "s", "in_system", "mean"),
            ("services", "s", "utilization"),
        ],
    )
    response = (30 / (100 - 30) + 70 / (100 - 70)) / 100
    assert predicted.flows["f"].response_time.mean == pytest.approx(response, rel=1e-9)
    in_system = (30 / 70 + 70 / 30) / 2
    assert predicted.services["s"].in_system.mean == pytest.approx(in_system, rel=1e-9)


def test_a_spike_above_a_consumers_capacity_carries_its_backlog_over(compare) -> None:
    """Events at 50/s, 150/s for 30 s (60-90 s), then 50/s again, to one consumer of
    Exp(10 ms) (mu = 100/s) over 180 s. The fluid model (Newell, ch. 2): the backlog grows
    at 50/s to 1,500 and drains at 50/s in 30 s, an area of 1,500 x 60 / 2 = 45,000
    message-seconds; the consumer is flat out for those 60 s (1 in service) and an M/M/1 at
    50% (L = 1) the other 120 s: lag (45,000 + 60 + 120) / 180 = 251; sojourn by Little,
    251 x 180 / 12,000 published = 3.77 s. At the average rate (66.7/s) it would be a lag
    of 2. The fluid leaves out the backlog's fluctuations (about sqrt((lambda + mu) 30 s) =
    87 at the peak, either way) and the M/M/1's relaxation at each end: fractions of a
    percent of the area."""
    spec = {
        "name": "spike",
        "simulation": {"duration": 180, "warmup": 0},
        "services": {
            "web": {
                "workers": "unlimited",
                "operations": {"view": [{"publish": "events"}]},
            },
            "consumer": {"operations": {"record": [{"work": {"exponential": 0.01}}]}},
        },
        "topics": {
            "events": {"partitions": 1, "subscribers": {"consumer": {"operation": "record"}}}
        },
        "workload": {
            "f": {
                "entry": "web.view",
                "arrivals": SPIKE,
            }
        },
    }
    predicted = compare(
        spec,
        REPLICATIONS,
        group_means("events", "consumer"),
    )
    group = predicted.topics["events"].groups["consumer"]
    assert group.lag.mean == pytest.approx((45_000 + 60 + 120) / 180, rel=1e-9)
    assert group.sojourn_time.mean == pytest.approx(group.lag.mean * 180 / 12_000, rel=1e-9)


def test_a_spike_above_an_entry_services_capacity_carries_its_backlog_over(compare) -> None:
    """Requests at 50/s, 150/s for 30 s (60-90 s), then 50/s again, to one worker of
    Exp(10 ms) (mu = 100/s) over 180 s: the same fluid as the consumer's above, in the
    service's waiting room. In system (45,000 + 60 + 120) / 180 = 251 (the backlog's area,
    the worker flat out for 60 s, an M/M/1 at 50% the other 120 s); the response by
    Little, 251 x 180 / 12,000 = 3.77 s, the flow's too; busy (60 + 60) / 180. At the
    average rate (66.7/s) the response would be 30 ms."""
    spec = {
        "name": "api-spike",
        "simulation": {"duration": 180, "warmup": 0},
        "services": {"api": {"operations": {"get": [{"work": {"exponential": 0.01}}]}}},
        "workload": {
            "f": {
                "entry": "api",
                "arrivals": SPIKE,
            }
        },
    }
    predicted = compare(
        spec,
        REPLICATIONS,
        [
            ("flows", "f", "response_time", "mean"),
            ("services", "api", "in_system", "mean"),
            ("services", "api", "waiting_time", "mean"),
            ("services", "api", "utilization"),
        ],
    )
    assert predicted.services["api"].in_system.mean == pytest.approx(45_180 / 180, rel=1e-9)
    assert predicted.flows["f"].response_time.mean == pytest.approx(45_180 / 12_000, rel=1e-9)


def test_a_spike_through_an_overloaded_service_into_a_consumer_is_a_tandem(compare) -> None:
    """The spike above (50/s, 150/s for 30 s, 50/s) through one worker of Exp(8 ms)
    (mu = 125/s), which publishes each request to one consumer of Exp(10 ms) (mu = 100/s).
    Two fluid pools in series (Newell, ch. 2; `models.analysis.tandem`): the worker's
    backlog grows at 25/s to 750 and drains at 75/s in 10 s, so the consumer is offered
    125/s (not 150/s) for 40 s: its backlog grows at 25/s to 1,000 and drains at 50/s in
    20 s, an area of 1,000 x 60 / 2 = 30,000; flat out for 60 s, an M/M/1 at 50% (L = 1)
    the other 120 s: lag (30,000 + 60 + 120) / 180 = 167.7 (251 if offered what arrives
    at the worker). The worker: an area of 750 x 40 / 2 = 15,000, flat out 40 s, an M/M/1
    at 40% (L = 2/3) the other 140 s: in system (15,000 + 40 + 93.3) / 180 = 84.1; the
    response by Little over the 12,000 requests. The flow completes later by both rises."""
    spec = {
        "name": "tandem-spike",
        "simulation": {"duration": 180, "warmup": 0},
        "services": {
            "web": {
                "operations": {"view": [{"work": {"exponential": 0.008}}, {"publish": "events"}]}
            },
            "consumer": {"operations": {"record": [{"work": {"exponential": 0.01}}]}},
        },
        "topics": {
            "events": {"partitions": 1, "subscribers": {"consumer": {"operation": "record"}}}
        },
        "workload": {"f": {"entry": "web.view", "arrivals": SPIKE}},
    }
    predicted = compare(
        spec,
        4 * REPLICATIONS,  # (the two backlogs' fluctuations add up: 20 would be too few)
        [
            *group_means("events", "consumer"),
            ("services", "web", "in_system", "mean"),
            ("flows", "f", "response_time", "mean"),
            ("flows", "f", "completion_time", "mean"),
        ],
    )
    group = predicted.topics["events"].groups["consumer"]
    assert group.lag.mean == pytest.approx((30_000 + 60 + 120) / 180, rel=1e-9)
    web = predicted.services["web"].in_system.mean
    assert web == pytest.approx((15_000 + 40 + 140 * 2 / 3) / 180, rel=1e-9)


def test_a_spike_above_an_apis_pool_leaves_its_database_at_the_pools_pace(compare) -> None:
    """The spike above to an API of 2 workers, each Exp(8 ms) of work then a call to a
    database of one worker of Exp(8 ms). At its own rates the spike offers the database
    150 x 8 ms = 1.2 of load: no steady state anywhere, and the flow used to keep its
    average rate. But the API's 2 workers let through only what they serve, mu = 100/s
    (its capacity, the database's response included: `models.analysis.flat_out`), so
    while the API is flat out the database sees 100/s (80% busy), and the API's backlog is
    the fluid of the spike above (Newell, ch. 2): grows at 50/s to 1,500, drains at 50/s,
    in system about (45,000 + 2 x 60 + 120 x 0.64) / 180 = 251. The database's wait is
    the two-caller model's (approximate), compared at the same rule."""
    spec = {
        "name": "api-spike",
        "simulation": {"duration": 180, "warmup": 0},
        "services": {
            "api": {
                "workers": 2,
                "operations": {"get": [{"work": {"exponential": 0.008}}, {"call": "db"}]},
            },
            "db": {"operations": {"query": [{"work": {"exponential": 0.008}}]}},
        },
        "workload": {"f": {"entry": "api.get", "arrivals": SPIKE}},
    }
    predicted = compare(
        spec,
        REPLICATIONS,
        [
            ("flows", "f", "response_time", "mean"),
            ("services", "api", "in_system", "mean"),
            ("services", "api", "utilization"),
            ("services", "db", "utilization"),
            ("services", "db", "response_time", "mean"),
        ],
    )
    assert predicted.flows["f"].max_throughput == pytest.approx(100.0, rel=0.01)
    assert predicted.flows["f"].arrival_rate == pytest.approx(12_000 / 180, rel=1e-9)
