"""Unit tests of `models.analyze`: traffic equations, the formula chosen for each station,
unstable stations, the layered fixed point, closed flows, fork-joins and topics.

Deterministic tests (no simulation): every expected value is computed independently here,
by hand or with the formulas of `models.theory`, and compared to 1e-9 relative unless a
comment says why the tolerance is wider. The statistical cross-checks against the simulator
are in tests/theory/test_analysis_vs_simulation.py.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from models import Prediction, ScenarioError, analyze, load_scenario
from models.analysis.prediction import PredictedFlow, PredictedGroup
from models.analysis.traffic import default_partition_shares
from models.resilience import REASONS
from models.schema import KeySpace, Scenario, Topic
from models.theory import (
    erlang_b,
    fork_join_nelson_tantawi,
    fork_join_two_mm1,
    gg_c_allen_cunneen,
    gi_m1_erlang_arrivals,
    mg1,
    mg1_priority_nonpreemptive,
    mm1,
    mmc,
    mmc_priority_nonpreemptive,
    mmck,
    mva_exact,
    mva_schweitzer,
)

REL = 1e-9
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def scenario(services: dict[str, Any], workload: dict[str, Any], **extra: Any) -> Any:
    """A validated scenario from its services and workload (and topics, ...)."""
    return load_scenario(
        {
            "name": "unit",
            "simulation": {"duration": 60},
            "services": services,
            "workload": workload,
            **extra,
        }
    )


def op(*steps: Any) -> dict[str, Any]:
    """A service with one operation `op` made of `steps` (other keys may be added)."""
    return {"operations": {"op": list(steps)}}


def exp(mean: float) -> dict[str, Any]:
    return {"work": {"exponential": mean}}


def poisson(entry: str, rate: float) -> dict[str, Any]:
    return {"entry": entry, "arrivals": {"poisson": rate}}


# --------------------------------------------------------------------------- traffic


def test_visit_counts_follow_call_probabilities_branches_parallel_and_retries() -> None:
    result = analyze(
        scenario(
            {
                "front": {
                    "workers": "unlimited",
                    **op(
                        {"call": {"service": "b", "probability": 0.5}},
                        {
                            "branch": [
                                {"probability": 0.3, "steps": [{"call": "c"}]},
                                {"probability": 0.7, "steps": []},
                            ]
                        },
                        {"parallel": [[{"call": "d"}], [{"call": "d"}, {"call": "d"}]]},
                    ),
                },
                "b": {"workers": "unlimited", **op(exp(0.001))},
                "c": {"workers": "unlimited", **op(exp(0.001))},
                "d": {"workers": "unlimited", **op(exp(0.001))},
            },
            {"f": poisson("front", 10.0)},
        )
    )
    visits = result.flows["f"].visits.services
    assert visits == pytest.approx({"front": 1.0, "b": 0.5, "c": 0.3, "d": 3.0}, rel=REL)
    assert result.services["d"].arrival_rate == pytest.approx(30.0, rel=REL)


def test_publish_probability_count_and_fan_out_to_every_group() -> None:
    result = analyze(
        scenario(
            {
                "front": {
                    "workers": "unlimited",
                    **op({"publish": {"topic": "t", "probability": 0.5, "count": 3}}),
                },
                "g1": op(exp(0.001)),
                "g2": op(exp(0.001)),
            },
            {"f": poisson("front", 10.0)},
            topics={"t": {"type": "queue", "subscribers": {"g1": "op", "g2": "op"}}},
        )
    )
    assert result.topics["t"].publish_rate == pytest.approx(15.0, rel=REL)
    groups = result.flows["f"].visits.groups["t"]
    assert groups == pytest.approx({"g1": 1.5, "g2": 1.5}, rel=REL)
    for group in ("g1", "g2"):
        assert result.topics["t"].groups[group].throughput == pytest.approx(15.0)


def test_feedback_through_a_topic_solves_the_traffic_equations() -> None:
    """A handler republishing with probability q: visits 1 / (1 - q) (geometric)."""
    q = 0.4
    result = analyze(
        scenario(
            {
                "front": {"workers": "unlimited", **op({"publish": "t"})},
                "worker": op(exp(0.001), {"publish": {"topic": "t", "probability": q}}),
            },
            {"f": poisson("front", 20.0)},
            topics={"t": {"type": "queue", "subscribers": {"worker": "op"}}},
        )
    )
    assert result.topics["t"].publish_rate == pytest.approx(20.0 / (1 - q), rel=REL)
    assert result.flows["f"].visits.groups["t"]["worker"] == pytest.approx(1 / (1 - q))


def test_feedback_that_never_dies_out_is_reported_not_solved() -> None:
    """`load_scenario` refuses such a scenario (`models.budget`); one validated without that
    check is still analysed: every value unknown."""
    raw = {
        "name": "unit",
        "simulation": {"duration": 60},
        "services": {
            "front": {"workers": "unlimited", **op({"publish": "t"})},
            "worker": op(exp(0.001), {"publish": "t"}),
        },
        "workload": {"f": poisson("front", 1.0)},
        "topics": {"t": {"type": "queue", "subscribers": {"worker": "op"}}},
    }
    with pytest.raises(ScenarioError, match="messages multiply without end"):
        load_scenario(raw)
    result = analyze(Scenario.model_validate(raw))
    assert result.flows["f"].stable is False
    assert result.flows["f"].response_time.mean is None
    assert "feed back" in result.warnings[0]
    # the same document as always, every value unknown (null) but the consumers
    assert result.flows["f"].visits is None and result.flows["f"].completion_exact is False
    assert result.topics["t"].groups["worker"].consumers == 1
    document = result.to_dict()
    assert list(document["flows"]["f"]) == required_keys(PredictedFlow)
    assert list(document["topics"]["t"]["groups"]["worker"]) == required_keys(PredictedGroup)


def required_keys(model: type[PredictedFlow] | type[PredictedGroup]) -> list[str]:
    """The keys always in the document (those added for failures are absent without)."""
    return [name for name in model.model_fields if name not in model.OPTIONAL]


def test_key_skew_gives_the_hottest_partition_its_zipf_share() -> None:
    # keys 0 and 2 land on partition 0 (weights 1 + 1/3), key 1 on partition 1 (1/2)
    shares = default_partition_shares(
        Topic(partitions=2, partitioning="key", keys=KeySpace(count=3, skew=1.0))
    )
    assert list(shares) == pytest.approx([8 / 11, 3 / 11], rel=REL)
    result = analyze(
        scenario(
            {
                "front": {"workers": "unlimited", **op({"publish": "t"})},
                "c": op(exp(0.01)),
            },
            {"f": poisson("front", 50.0)},
            topics={
                "t": {
                    "partitions": 2,
                    "partitioning": "key",
                    "keys": {"count": 3, "skew": 1.0},
                    "subscribers": {"c": {"operation": "op", "concurrency": 2}},
                }
            },
        )
    )
    group = result.topics["t"].groups["c"]
    assert group.max_partition_utilization == pytest.approx(50.0 * 8 / 11 * 0.01, rel=REL)
    assert group.exact is True  # random keys: each partition gets a thinned Poisson stream
    hot, cold = (mm1(50.0 * s, 100.0) for s in (8 / 11, 3 / 11))
    lag = hot.mean_in_system + cold.mean_in_system
    assert group.lag.mean == pytest.approx(lag, rel=REL)


def test_a_fixed_key_sends_every_message_to_its_hashed_partition() -> None:
    partitions = 4
    hashed = zlib.crc32(b"customer-7") % partitions
    result = analyze(
        scenario(
            {
                "front": {
                    "workers": "unlimited",
                    **op({"publish": {"topic": "t", "key": "customer-7"}}),
                },
                "c": op(exp(0.01)),
            },
            {"f": poisson("front", 40.0)},
            topics={
                "t": {
                    "partitions": partitions,
                    "subscribers": {"c": {"operation": "op", "concurrency": 4}},
                }
            },
        )
    )
    group = result.topics["t"].groups["c"]
    assert group.max_partition_utilization == pytest.approx(0.4, rel=REL)
    assert group.utilization == pytest.approx(0.4 / 4, rel=REL)
    assert hashed in range(partitions)


def test_dropped_calls_skip_the_rest_of_the_operation() -> None:
    """An M/M/1/2 front drops 1/3 of requests; the call after it sees the admitted 2/3."""
    result = analyze(
        scenario(
            {
                "front": {"queue_capacity": 1, **op(exp(1.0))},
                "after": {"workers": "unlimited", **op(exp(0.1))},
            },
            {"f": {"steps": [{"call": "front"}, {"call": "after"}], "arrivals": {"poisson": 1.0}}},
        )
    )
    loss = mmck(1.0, 1.0, 1, 2).loss_probability
    assert loss == pytest.approx(1 / 3, rel=REL)
    assert result.services["front"].loss_probability == pytest.approx(loss, rel=REL)
    assert result.services["after"].arrival_rate == pytest.approx(1 - loss, rel=REL)
    assert result.flows["f"].throughput == pytest.approx(1 - loss, rel=REL)


# --------------------------------------------------------------------------- stations


def single_service(spec: dict[str, Any], rate: float, **flow: Any) -> Prediction:
    """The analysis of one service `s` fed by one flow."""
    workload = {"f": {"entry": "s", "arrivals": {"poisson": rate}, **flow}}
    return analyze(scenario({"s": spec}, workload))


def test_m_m_1() -> None:
    result = single_service(op(exp(0.01)), 80.0)
    expected = mm1(80.0, 100.0)
    service = result.services["s"]
    assert (service.method, service.exact, service.stable) == ("M/M/1", True, True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)
    assert service.queue_length.mean == pytest.approx(expected.mean_queue_length, rel=REL)
    assert service.in_system.mean == pytest.approx(expected.mean_in_system, rel=REL)
    assert service.p_wait == pytest.approx(0.8, rel=REL)
    flow = result.flows["f"]
    assert flow.response_time.mean == pytest.approx(0.05, rel=REL)
    assert flow.completion_time.mean == pytest.approx(0.05, rel=REL)
    assert flow.max_throughput == pytest.approx(100.0, rel=1e-3)  # bisection to 1e-4
    assert flow.headroom == pytest.approx(0.25, rel=1e-2)
    assert result.bottleneck is not None
    assert result.bottleneck.to_dict() == {"kind": "service", "name": "s", "utilization": 0.8}


def test_shared_pool_is_m_m_c_over_all_replicas() -> None:
    spec = {"replicas": 2, "workers": 2, "balancing": "shared", **op(exp(0.04))}
    service = single_service(spec, 80.0).services["s"]
    expected = mmc(80.0, 25.0, 4)
    assert (service.method, service.exact) == ("M/M/c (Erlang C)", True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)
    assert service.p_wait == pytest.approx(expected.p_wait, rel=REL)
    assert service.utilization == pytest.approx(0.8, rel=REL)


def test_random_balancing_splits_poisson_into_independent_replicas() -> None:
    spec = {"replicas": 3, "workers": 2, "balancing": "random", **op(exp(0.04))}
    service = single_service(spec, 90.0).services["s"]
    expected = mmc(30.0, 25.0, 2)
    assert (service.method, service.exact) == ("M/M/c (Erlang C)", True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)
    assert service.queue_length.mean == pytest.approx(3 * expected.mean_queue_length)


def test_round_robin_single_worker_replicas_see_erlang_arrivals() -> None:
    spec = {"replicas": 3, "balancing": "round_robin", **op(exp(0.02))}
    service = single_service(spec, 120.0).services["s"]
    expected = gi_m1_erlang_arrivals(40.0, 50.0, 3)
    assert (service.method, service.exact) == ("E_3/M/1", True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)


def test_m_g_1_pollaczek_khinchine_for_any_service_distribution() -> None:
    spec = op({"work": {"lognormal": {"mean": 0.01, "cv": 1.5}}})
    service = single_service(spec, 60.0).services["s"]
    expected = mg1(60.0, 0.01, 1.5**2)
    assert (service.method, service.exact) == ("M/G/1 (Pollaczek-Khinchine)", True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=1e-6)


def test_constant_arrivals_at_exponential_servers_are_d_m_c() -> None:
    """A flow that sends its requests a constant time apart straight to a pool of
    exponential servers: D/M/1, exact (GI/M/1: sigma = exp(-mu T (1 - sigma)),
    Wq = sigma / (mu (1 - sigma)); Gross & Harris sec. 6.3)."""
    workload = {"f": {"entry": "s", "arrivals": {"constant": 60.0}}}
    service = analyze(scenario({"s": op(exp(0.01))}, workload)).services["s"]
    assert (service.method, service.exact) == ("D/M/1", True)
    sigma = 0.5
    for _ in range(200):  # (the fixed point converges from below)
        sigma = math.exp(-100.0 / 60.0 * (1.0 - sigma))
    assert service.waiting_time.mean == pytest.approx(sigma / (100.0 * (1.0 - sigma)), rel=1e-9)


def test_non_poisson_arrivals_use_allen_cunneen() -> None:
    workload = {"f": {"entry": "s", "arrivals": {"constant": 60.0}}}
    lognormal = op({"work": {"lognormal": {"mean": 0.01, "cv": 1.5}}})
    service = analyze(scenario({"s": lognormal}, workload)).services["s"]
    assert (service.method, service.exact) == ("Allen-Cunneen G/G/c", False)
    # Allen-Cunneen with ca² = 0, cs² = 2.25: (0 + 2.25) / 2 of the M/M/1 wait
    assert service.waiting_time.mean == pytest.approx(
        mm1(60, 100).mean_waiting_time * 2.25 / 2, rel=1e-9
    )


def test_finite_waiting_room_is_m_m_c_k_with_drops() -> None:
    spec = {"workers": 2, "queue_capacity": 3, **op(exp(0.02))}
    service = single_service(spec, 110.0).services["s"]
    expected = mmck(110.0, 50.0, 2, 5)
    assert (service.method, service.exact) == ("M/M/c/K", True)
    assert service.loss_probability == pytest.approx(expected.loss_probability, rel=REL)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)
    assert service.queue_length.mean == pytest.approx(expected.mean_queue_length, rel=REL)


def test_no_waiting_room_is_erlang_b_for_any_service() -> None:
    spec = {"workers": 3, "queue_capacity": 0, **op({"work": {"constant": 0.05}})}
    service = single_service(spec, 40.0).services["s"]
    assert (service.method, service.exact) == ("Erlang B (M/G/c/c)", True)
    assert service.loss_probability == pytest.approx(erlang_b(3, 2.0), rel=REL)
    assert service.waiting_time.mean == 0.0


def test_unlimited_workers_never_wait() -> None:
    service = single_service({"workers": "unlimited", **op(exp(0.5))}, 100.0).services["s"]
    assert (service.method, service.exact) == ("M/M/inf", True)
    assert service.utilization is None
    assert service.in_system.mean == pytest.approx(50.0, rel=REL)


def test_priority_classes_use_cobham() -> None:
    services = {"s": {"discipline": "priority", **op(exp(0.01))}}
    workload = {
        "high": {"entry": "s", "arrivals": {"poisson": 30.0}, "priority": 0},
        "low": {"entry": "s", "arrivals": {"poisson": 40.0}, "priority": 1},
    }
    result = analyze(scenario(services, workload))
    expected = mg1_priority_nonpreemptive([30.0, 40.0], [0.01, 0.01], [1.0, 1.0])
    assert result.services["s"].method == expected.method
    assert result.services["s"].exact is True
    for name, cls in zip(("high", "low"), expected.classes, strict=True):
        response = result.flows[name].response_time.mean
        assert response == pytest.approx(cls.mean_response_time, rel=REL)

    services = {"s": {"workers": 3, "discipline": "priority", **op(exp(0.01))}}
    result = analyze(scenario(services, workload))
    expected = mmc_priority_nonpreemptive([30.0, 40.0], 100.0, 3)
    assert (result.services["s"].method, result.services["s"].exact) == (
        expected.method,
        True,
    )
    low = result.flows["low"].response_time.mean
    assert low == pytest.approx(expected.classes[1].mean_response_time, rel=REL)


# --------------------------------------------------------------------------- unstable


def test_an_unstable_station_is_reported_with_nulls_and_a_warning() -> None:
    result = single_service(op(exp(0.01)), 125.0)
    service = result.services["s"]
    assert service.stable is False
    assert service.utilization == 1.0
    for key in ("waiting_time", "response_time", "queue_length", "in_system"):
        assert getattr(service, key).mean is None
    assert result.flows["f"].response_time.mean is None
    assert result.flows["f"].stable is False
    assert result.flows["f"].headroom == pytest.approx(-0.2, rel=1e-2)
    (warning,) = result.warnings
    assert "service 's' is unstable" in warning and "1.25" in warning


def test_a_caller_of_an_unstable_callee_is_saturated_too() -> None:
    result = analyze(
        scenario(
            {"gw": {"workers": 8, **op({"call": "db"})}, "db": op(exp(0.01))},
            {"f": poisson("gw", 150.0)},
        )
    )
    assert result.services["db"].stable is False
    assert result.services["gw"].stable is False
    # eight threads that only wait for the database saturate with it, at 100/s
    assert result.bottleneck.name == "db"
    assert result.flows["f"].max_throughput == pytest.approx(100.0, rel=1e-3)
    assert any("gw" in w and "held forever" in w for w in result.warnings)


# --------------------------------------------------------------------------- layers


def pool_over_callee(clients: int, rate: float) -> float:
    """Waiting for a worker of a pool of 4, each request holding one for 20 ms plus a call to
    an M/M/1 database of 10 ms: the flow-equivalent server, computed here from first
    principles — X(k) of the closed subnetwork by exact MVA, then the birth-death chain
    with service rate X(min(n, 4)) (tail geometric with ratio rate / X(4))."""
    capacity = [mva_exact([0.02, 0.01], 0.0, k, [None, 1]).throughput for k in range(1, 5)]
    weights = [1.0]
    for k in range(clients):
        weights.append(weights[-1] * rate / capacity[k])
    ratio = rate / capacity[-1]
    norm = sum(weights[:-1]) + weights[-1] / (1 - ratio)
    queue = weights[-1] * ratio / (1 - ratio) ** 2 / norm
    return queue / rate


def test_thread_pool_saturation_is_predicted_by_the_method_of_layers() -> None:
    """A pool of 4 workers held 20 ms plus the database's response cannot complete more than
    X(4) = 90.5 requests/s (the closed subnetwork of 4 customers), below the database's own
    capacity of 100/s: the pool is the bottleneck. At 88/s its own limit makes it wait
    longer than the database's queue would (models.analysis.excess_pools): the
    flow-equivalent server's waiting is taken."""
    services = {
        "gw": {"workers": 4, **op({"delay": {"constant": 0.02}}, {"call": "db"})},
        "db": op(exp(0.01)),
    }
    result = analyze(scenario(services, {"f": poisson("gw", 88.0)}))
    gateway = result.services["gw"]
    assert gateway.method == "flow-equivalent server of its callees (method of layers)"
    assert gateway.exact is False  # a population cap breaks product form
    # scaled by (1 + cs²) / 2 of the held time (Poisson arrivals): 20 ms constant + the
    # database's response (exponential service, and the waiting seen through the pool as an
    # exponential-like time: variance = mean²)
    seen = result.services["db"].waiting_time.mean
    held_mean, held_variance = 0.02 + 0.01 + seen, 0.01**2 + seen**2
    variability = (1 + held_variance / held_mean**2) / 2
    expected = pool_over_callee(4, 88.0) * variability
    assert gateway.waiting_time.mean == pytest.approx(expected, rel=1e-9)
    capacity = mva_exact([0.02, 0.01], 0.0, 4, [None, 1]).throughput
    assert result.flows["f"].max_throughput == pytest.approx(capacity, rel=1e-3)
    assert result.bottleneck.name == "gw"
    # the open model would have saturated the pool at lambda (0.02 + 1 / (100 - lambda)) = 4
    open_limit = brentq(lambda r: r * (0.02 + 1 / (100 - r)) - 4, 1, 99.9)
    assert open_limit < capacity


@pytest.mark.parametrize(("servers", "load"), [(1, 0.6), (4, 0.3), (4, 0.6)])
def test_replicated_pools_see_their_callee_as_the_open_queue_where_no_thread_caps_it(
    servers: int, load: float
) -> None:
    """Two replicas of a pool of 64 threads, each request calling a database of `servers`
    exponential workers at `load`: no replica ever has its threads busy, so the database is
    M/M/c with every replica's requests (Erlang C; Gross & Harris sec. 2.3). Each replica's
    flow-equivalent server has the other's load as background: on one server the slowed
    server's residence, D / (1 - a_b), is that wait exactly; on four at 30%, 0.6 Erlangs of
    background leave most servers idle, and the slowed servers alone made it 13 times too
    long (0.54 ms for 0.040 ms; `layers._background_wait`)."""
    holding, rate = 0.003, load * servers / 0.003
    services = {
        "gw": {"replicas": 2, "workers": 64, "balancing": "random", **op({"call": "db"})},
        "db": {"workers": servers, **op(exp(holding))},
    }
    result = analyze(scenario(services, {"f": poisson("gw", rate)}))
    expected = mmc(rate, 1 / holding, servers).mean_waiting_time
    # (the closed subnetwork of 64 threads truncates the population: P(n > 64) is below 1e-20)
    assert result.services["db"].waiting_time.mean == pytest.approx(expected, rel=1e-6)


def test_non_blocking_calls_release_the_worker() -> None:
    services = {
        "gw": {"workers": 4, "blocking_calls": False, **op(exp(0.002), {"call": "slow"})},
        "slow": {"workers": "unlimited", **op({"delay": {"constant": 0.4}})},
    }
    result = analyze(scenario(services, {"f": poisson("gw", 100.0)}))
    assert result.services["gw"].utilization == pytest.approx(100 * 0.002 / 4, rel=REL)
    expected = mmc(100.0, 500.0, 4).mean_response_time + 0.4  # tail call: no second wait
    assert result.flows["f"].response_time.mean == pytest.approx(expected, rel=REL)


# --------------------------------------------------------------------------- fork-join


def test_two_identical_m_m_1_branches_are_flatto_hahn() -> None:
    services = {"a": op(exp(0.01)), "b": op(exp(0.01))}
    flow = {"steps": [{"parallel": [[{"call": "a"}], [{"call": "b"}]]}]}
    result = analyze(scenario(services, {"f": {**flow, "arrivals": {"poisson": 60.0}}}))
    expected = fork_join_two_mm1(60.0, 100.0).mean_response_time
    assert result.flows["f"].response_time.mean == pytest.approx(expected, rel=REL)
    assert result.flows["f"].exact is True

    services["c"] = op(exp(0.01))
    flow = {"steps": [{"parallel": [[{"call": "a"}], [{"call": "b"}], [{"call": "c"}]]}]}
    result = analyze(scenario(services, {"f": {**flow, "arrivals": {"poisson": 60.0}}}))
    expected = fork_join_nelson_tantawi(60.0, 100.0, 3).mean_response_time
    assert result.flows["f"].response_time.mean == pytest.approx(expected, rel=REL)
    assert result.flows["f"].exact is False


# --------------------------------------------------------------------------- closed


def closed_network(clients: int) -> Any:
    return scenario(
        {
            "app": {"workers": clients, **op(exp(0.01), {"call": "db"})},
            "db": {"workers": 2, **op(exp(0.012))},
        },
        {"f": {"entry": "app", "clients": clients, "think_time": {"exponential": 0.05}}},
    )


def test_closed_flow_is_exact_mva_when_product_form() -> None:
    result = analyze(closed_network(8))
    expected = mva_exact([0.01, 0.012], 0.05, 8, [None, 2])
    flow = result.flows["f"]
    assert flow.method == expected.method and flow.exact is True
    assert flow.throughput == pytest.approx(expected.throughput, rel=REL)
    assert flow.response_time.mean == pytest.approx(expected.response_time, rel=REL)
    assert flow.headroom is None
    db_in_system = result.services["db"].in_system.mean
    assert db_in_system == pytest.approx(expected.station_queue_lengths[1], rel=REL)


def test_large_closed_populations_use_schweitzer() -> None:
    result = analyze(closed_network(2500))
    expected = mva_schweitzer([0.01, 0.012], 0.05, 2500, [None, 2])
    flow = result.flows["f"]
    assert flow.exact is False and flow.method == expected.method
    assert flow.throughput == pytest.approx(expected.throughput, rel=1e-6)


def test_closed_flow_that_is_not_product_form_uses_the_closed_loop_fixed_point() -> None:
    result = analyze(
        scenario(
            {"app": {"workers": 2, **op(exp(0.01), {"call": "db"})}, "db": op(exp(0.004))},
            {"f": {"entry": "app", "clients": 6, "think_time": {"constant": 0.03}}},
        )
    )
    flow = result.flows["f"]
    assert flow.method.startswith("closed-loop fixed point")
    assert flow.exact is False
    # X = N / (Z + R): the fixed point holds
    assert flow.throughput * (0.03 + flow.response_time.mean) == pytest.approx(6, 1e-5)
    # the database never sees more than the 2 app threads that call it
    assert result.services["db"].method.startswith("finite-source")


# --------------------------------------------------------------------------- documents


def finite_and_non_negative(value: Any, path: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            finite_and_non_negative(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_and_non_negative(item, f"{path}[{index}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        assert math.isfinite(value), path
        assert value >= (-1.0 if path.endswith("headroom") else 0.0), (path, value)


GENERATED_SCENARIOS = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""Hypothesis settings of the property tests of `analyze` on generated documents."""


def analyzed_in_range(document: Any) -> tuple[Scenario, Prediction]:
    """A generated `document` loaded (one that does not load is rejected) and its `analyze`,
    checked: its JSON has no NaN, its numbers are finite and non-negative, and no
    utilization is above 1."""
    try:
        valid = load_scenario(document)
    except ScenarioError:
        reject()
    result = analyze(valid)
    json.dumps(result.to_dict(), allow_nan=False)
    finite_and_non_negative(result.model_dump())
    for service in result.services.values():
        if service.utilization is not None:
            assert service.utilization <= 1.0 + 1e-9
    return valid, result


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_scenarios_give_complete_finite_documents(path: Path) -> None:
    base = load_scenario(path)
    for variant in [None, *base.variants]:
        result = analyze(load_scenario(path, variant=variant))
        json.dumps(result.to_dict(), allow_nan=False)
        finite_and_non_negative(result.model_dump())  # (to_dict() would null an infinity)
        assert set(result.services) == set(base.services)
        assert result.method == "queueing theory"
        for flow in result.flows.values():
            assert isinstance(flow.exact, bool) and flow.method


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_prediction_document_reads_back_into_the_same_prediction(path: Path) -> None:
    prediction = analyze(load_scenario(path))
    document = prediction.to_dict()
    assert Prediction.model_validate(document).to_dict() == document
    neck = document["bottleneck"]
    if neck is not None:  # `topic` and `partitions` only where they mean something
        assert ("topic" in neck) == (neck["kind"] != "service")
        assert ("partitions" in neck) == (neck["kind"] == "partition")


def test_hot_partition_example_finds_the_hot_partition_unstable() -> None:
    result = analyze(load_scenario(SCENARIOS / "hot_partition.yaml"))
    assert result.bottleneck.kind == "partition"
    group = result.topics["customer-orders"].groups["fulfilment"]
    assert group.stable is False and group.lag.mean is None
    assert any("fulfilment" in warning for warning in result.warnings)


# --------------------------------------------------------------------------- property


DISTRIBUTIONS = st.one_of(
    st.builds(lambda m: {"constant": m}, st.sampled_from([0.0, 0.001, 0.01])),
    st.builds(lambda m: {"exponential": m}, st.sampled_from([0.0005, 0.005, 0.05])),
    st.builds(lambda m: {"uniform": [m / 2, m * 1.5]}, st.sampled_from([0.002, 0.02])),
    st.builds(lambda m: {"gamma": {"mean": m, "cv": 2.0}}, st.sampled_from([0.002, 0.02])),
    st.builds(lambda m: {"pareto": {"mean": m, "alpha": 1.5}}, st.sampled_from([0.002, 0.02])),
    st.builds(lambda v: {"empirical": v}, st.lists(st.sampled_from([0.0, 0.003]), min_size=1)),
)


@st.composite
def step_lists(draw: st.DrawFn, index: int, services: int, topics: int, depth: int = 0) -> Any:
    steps: list[Any] = []
    for _ in range(draw(st.integers(1 if depth == 0 else 0, 3))):
        kinds = ["work", "delay", "publish", "call", "branch", "parallel"]
        kind = draw(st.sampled_from(kinds if depth < 2 else kinds[:4]))
        if kind in ("work", "delay"):
            steps.append({kind: draw(DISTRIBUTIONS)})
        elif kind == "call" and index + 1 < services:
            call: dict[str, Any] = {"service": f"s{draw(st.integers(index + 1, services - 1))}"}
            call["probability"] = draw(st.sampled_from([1.0, 0.4]))
            if draw(st.booleans()):
                call["timeout"] = draw(st.sampled_from([0.005, 0.05]))
                call["retries"] = draw(st.integers(0, 2))
            steps.append({"call": call})
        elif kind == "publish" and topics:
            publish = {"topic": f"t{draw(st.integers(0, topics - 1))}"}
            publish["probability"] = draw(st.sampled_from([1.0, 0.5]))
            publish["count"] = draw(st.integers(1, 2))
            if draw(st.integers(0, 4)) == 0:
                publish["key"] = "k"
            steps.append({"publish": publish})
        elif kind == "branch":
            first, second = (draw(step_lists(index, services, topics, depth + 1)) for _ in "ab")
            steps.append(
                {
                    "branch": [
                        {"probability": 0.25, "steps": first},
                        {"probability": 0.75, "steps": second},
                    ]
                }
            )
        elif kind == "parallel":
            branches = [
                draw(step_lists(index, services, topics, depth + 1))
                for _ in range(draw(st.integers(1, 3)))
            ]
            steps.append({"parallel": [b or [{"delay": {"constant": 0.001}}] for b in branches]})
    return steps


@st.composite
def scenario_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Small random scenarios: services calling later ones (no call cycles), topics with
    feedback allowed, open and closed flows of every kind."""
    services, topics = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    document: dict[str, Any] = {
        "name": "random",
        "simulation": {"duration": 60},
        "services": {},
        "topics": {},
        "workload": {},
    }
    for i in range(services):
        document["services"][f"s{i}"] = {
            "replicas": draw(st.integers(1, 3)),
            "workers": draw(st.one_of(st.integers(1, 4), st.just("unlimited"))),
            "queue_capacity": draw(st.one_of(st.none(), st.integers(0, 4))),
            "balancing": draw(
                st.sampled_from(["shared", "round_robin", "random", "least_outstanding"])
            ),
            "discipline": draw(st.sampled_from(["fifo", "priority"])),
            "blocking_calls": draw(st.booleans()),
            "operations": {"op": draw(step_lists(i, services, topics))},
        }
    for t in range(topics):
        topic: dict[str, Any] = {"type": draw(st.sampled_from(["log", "queue"]))}
        if topic["type"] == "log":
            topic["partitions"] = draw(st.integers(1, 4))
            topic["partitioning"] = draw(st.sampled_from(["random", "round_robin", "key"]))
            if topic["partitioning"] == "key":
                topic["keys"] = {"count": draw(st.integers(1, 20)), "skew": 1.0}
        if draw(st.booleans()):
            topic["delivery_latency"] = draw(DISTRIBUTIONS)
        subscribers = draw(st.lists(st.integers(0, services - 1), unique=True, max_size=2))
        topic["subscribers"] = {
            f"s{s}": {"operation": "op", "concurrency": draw(st.integers(1, 2))}
            for s in subscribers
        }
        document["topics"][f"t{t}"] = topic
    for f in range(draw(st.integers(1, 2))):
        flow: dict[str, Any] = (
            {"entry": "s0"}
            if draw(st.booleans())
            else {"steps": draw(step_lists(-1, services, topics))}
        )
        rate = draw(st.sampled_from([1.0, 50.0, 2000.0]))
        source = draw(st.sampled_from(["poisson", "constant", "interarrival", "closed"]))
        if source == "closed":
            flow["clients"] = draw(st.integers(1, 5))
            if draw(st.booleans()):
                flow["think_time"] = draw(DISTRIBUTIONS)
        elif source == "interarrival":
            flow["arrivals"] = {"interarrival": draw(DISTRIBUTIONS)}
        else:
            flow["arrivals"] = {source: rate}
        flow["priority"] = draw(st.integers(0, 1))
        document["workload"][f"f{f}"] = flow
    return document


@GENERATED_SCENARIOS
@given(scenario_documents())
def test_analyze_never_crashes_and_never_returns_negative_or_nan(document: Any) -> None:
    _, result = analyzed_in_range(document)
    for service in result.services.values():
        if not service.stable:
            assert service.response_time.mean is None


def test_calls_of_a_lossy_station_come_only_from_admitted_requests() -> None:
    """Requests dropped at `api` never run its steps, so `db` sees the admitted rate only,
    and since `api`'s loss is approximate, so is the prediction at `db` (regression: the
    offered rate was used and `db` was labelled exact)."""
    scenario = load_scenario(
        {
            "name": "lossy",
            "simulation": {"duration": 100},
            "services": {
                "api": {
                    "workers": 2,
                    "queue_capacity": 3,
                    "operations": {"get": [{"work": {"exponential": 0.05}}, {"call": "db"}]},
                },
                "db": {"workers": 4, "operations": {"read": [{"work": {"exponential": 0.02}}]}},
            },
            "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": 30}}},
        }
    )
    result = analyze(scenario)
    api, db = result.services["api"], result.services["db"]
    assert api.loss_probability > 0.1
    assert db.arrival_rate == pytest.approx(30 * (1 - api.loss_probability), rel=1e-6)
    assert db.exact is False


# --------------------------------------------------------------------------- failures
#
# Expected values by hand: E[attempts] = 1 + p + ... + p^r, success 1 - p^(r+1) (geometric
# series); availability mtbf / (mtbf + mttr) (alternating renewal); backlog lambda T and
# drain lambda T / (mu - lambda) (fluid model); docs/analysis.md, section 13.


def retrying_client(rate: float, retries: int, **call: Any) -> dict[str, Any]:
    """A flow whose client calls `server` with `retries` (and other call keys)."""
    spec = {"service": "server", "retries": retries, **call}
    return {"f": {"steps": [{"call": spec}], "arrivals": {"poisson": rate}}}


def test_retry_amplification_is_the_truncated_geometric_series() -> None:
    """p = 0.2, r = 2: 1 + 0.2 + 0.04 = 1.24 attempts, success 1 - 0.2^3 = 0.992; the
    server sees 1.24 x 50 = 62/s: an M/M/1 with immediate feedback of independent failures,
    product-form (Jackson), so its means are exact."""
    result = analyze(scenario({"server": op(exp(0.01), {"fail": 0.2})}, retrying_client(50, 2)))
    flow, server = result.flows["f"], result.services["server"]
    assert flow.visits is not None and flow.visits.services["server"] == pytest.approx(1.24, REL)
    assert flow.success_rate == pytest.approx(0.992, REL)
    assert flow.throughput == pytest.approx(50 * 0.992, REL)
    assert server.arrival_rate == server.attempts == pytest.approx(62.0, REL)
    assert server.errors == pytest.approx(62.0 * 0.2, REL)
    expected = mm1(62.0, 100.0)
    assert (server.method, server.exact) == ("M/M/1", True)
    assert server.utilization == pytest.approx(0.62, REL)
    assert server.response_time.mean == pytest.approx(expected.mean_response_time, REL)
    # given success after k failed attempts (probability ∝ 0.2^k) the client waited k + 1
    failed_before = (0.2 + 2 * 0.04) / 1.24
    response = (1 + failed_before) * expected.mean_response_time
    assert flow.response_time.mean == pytest.approx(response, REL)
    assert flow.exact and flow.success_exact
    call = result.calls is not None and result.calls["f->server.op"]
    assert call and (call.calls, call.attempts, call.retries) == pytest.approx((50, 62, 12), REL)
    assert call.attempt_failure == pytest.approx(0.2, REL)
    assert call.success_rate == pytest.approx(0.992, REL) and call.exact
    # the retries take capacity: the flow saturates the server at 100 / 1.24
    assert flow.max_throughput == pytest.approx(100 / 1.24, rel=2e-4)


def test_backoff_waits_are_added_given_success() -> None:
    """A retry after a backoff of 10 ms (no jitter): given success after k failures the
    client also waited k backoffs (the first retry 10 ms, the second 20 ms)."""
    plain = analyze(scenario({"server": op(exp(0.01), {"fail": 0.2})}, retrying_client(50, 2)))
    backed = analyze(
        scenario(
            {"server": op(exp(0.01), {"fail": 0.2})},
            retrying_client(50, 2, backoff={"initial": 0.01, "multiplier": 2}),
        )
    )
    waited = (0.2 * 0.01 + 0.04 * (0.01 + 0.02)) / 1.24
    assert backed.flows["f"].response_time.mean == pytest.approx(
        plain.flows["f"].response_time.mean + waited, REL
    )
    assert backed.flows["f"].success_rate == pytest.approx(0.992, REL)


def test_nested_failures_propagate_up_the_chain() -> None:
    """c fails with 0.3, b retries it once (fails 0.3^2 = 0.09, 1.3 attempts), a calls b and
    then fails with 0.1: a request succeeds with 0.91 x 0.9 = 0.819."""
    unlimited = {"workers": "unlimited"}
    result = analyze(
        scenario(
            {
                "a": {**unlimited, **op(exp(0.001), {"call": "b"}, {"fail": 0.1})},
                "b": {
                    **unlimited,
                    **op(exp(0.001), {"call": {"service": "c", "retries": 1}}),
                },
                "c": {**unlimited, **op(exp(0.001), {"fail": 0.3})},
            },
            {"f": poisson("a", 10)},
        )
    )
    flow = result.flows["f"]
    assert flow.success_rate == pytest.approx(0.91 * 0.9, REL)
    assert flow.visits is not None and flow.visits.services == pytest.approx(
        {"a": 1.0, "b": 1.0, "c": 1.3}, REL
    )
    errors = {name: s.errors for name, s in result.services.items()}
    assert errors == pytest.approx({"a": 10 * (1 - 0.819), "b": 0.9, "c": 13 * 0.3}, REL)
    assert flow.success_exact is True


def test_a_fallback_runs_instead_of_a_failed_call() -> None:
    """The call fails with 0.2 (no retries): its fallback (2 ms) runs instead; a fallback
    that fails half the time leaves 0.8 + 0.2 x 0.5 = 0.9 of the requests successful."""
    server = {"workers": "unlimited", **op(exp(0.01), {"fail": 0.2})}
    safe = analyze(
        scenario({"server": server}, retrying_client(50, 0, fallback=[exp(0.002)]))
    ).flows["f"]
    assert safe.success_rate == pytest.approx(1.0, REL)
    assert safe.response_time.mean == pytest.approx(0.8 * 0.01 + 0.2 * 0.012, REL)
    risky = analyze(
        scenario({"server": server}, retrying_client(50, 0, fallback=[exp(0.002), {"fail": 0.5}]))
    )
    assert risky.flows["f"].success_rate == pytest.approx(0.9, REL)
    assert risky.flows["f"].response_time.mean == pytest.approx(
        (0.8 * 0.01 + 0.1 * 0.012) / 0.9, REL
    )
    assert risky.calls is not None
    assert risky.calls["f->server.op"].fallbacks == pytest.approx(10.0, REL)


def test_an_early_fail_step_shortens_the_holding_time_exactly() -> None:
    """fail 0.5 before 10 ms of exponential work: the server is held 0 or Exp(10 ms), a
    mixture with E[S] = 5 ms and E[S²] = 0.5 x 2 x 0.01² (SCV 3): M/G/1, still exact."""
    result = analyze(
        scenario({"server": op({"fail": 0.5}, exp(0.01))}, {"f": poisson("server", 50)})
    )
    server, flow = result.services["server"], result.flows["f"]
    expected = mg1(50.0, 0.005, 3.0)
    assert server.method == "M/G/1 (Pollaczek-Khinchine)" and server.exact
    assert server.waiting_time.mean == pytest.approx(expected.mean_waiting_time, REL)
    assert server.response_time.mean == pytest.approx(expected.mean_response_time, REL)
    assert flow.response_time.mean == pytest.approx(expected.mean_waiting_time + 0.01, REL)
    assert flow.success_rate == pytest.approx(0.5, REL) and flow.exact


def test_a_rate_limit_caps_the_admitted_throughput() -> None:
    """50/s with a bucket of 20 under 80/s offered: 50/s admitted (the long-run token
    bucket), 30/s rejected; with a bucket of 1 (Poisson arrivals, exact): 80 x 50 / 130."""

    def limited(burst: int) -> Prediction:
        limit = {"rate_limit": {"rate": 50, "burst": burst}}
        return analyze(
            scenario({"server": {**limit, **op(exp(0.01))}}, {"f": poisson("server", 80)})
        )

    result = limited(20)
    server, flow = result.services["server"], result.flows["f"]
    assert flow.throughput == pytest.approx(50.0, REL)
    assert flow.success_rate == pytest.approx(50 / 80, REL)
    assert (server.arrival_rate, server.rejected) == pytest.approx((80.0, 30.0), REL)
    assert server.utilization == pytest.approx(0.5, REL)
    assert server.exact is False and flow.success_exact is False
    assert any("rate limit admits 50/s of the 80/s offered" in w for w in result.warnings)
    single = limited(1)
    admitted = 80 * 50 / (80 + 50)
    assert single.flows["f"].throughput == pytest.approx(admitted, REL)
    assert single.services["server"].rejected == pytest.approx(80 - admitted, REL)
    # the admitted stream has gaps 1/R + Exp(1/lambda): SCV (R / (lambda + R))^2
    waiting = gg_c_allen_cunneen(admitted, 0.01, 1, (50 / 130) ** 2, 1.0).mean_waiting_time
    assert single.services["server"].waiting_time.mean == pytest.approx(waiting, REL)


CRASH = {"service": "server", "kind": "crash", "mtbf": "9min", "mttr": "1min"}
HOUR = {"simulation": {"duration": 3600}}


def test_crashes_give_availability_and_the_time_average_capacity() -> None:
    """mtbf 9 min, mttr 1 min: each replica is up 0.9 of the time. One replica of 2 workers:
    0.1 of the arrivals find it down; the 45/s admitted see the capacity 2 x 0.9 / 20 ms
    (servers slowed by 1 / 0.9: M/M/2 at offered load 1); utilization counts all workers."""
    result = analyze(
        scenario(
            {"server": {"workers": 2, **op(exp(0.02))}},
            {"f": poisson("server", 50)},
            faults=[CRASH],
            **HOUR,
        )
    )
    server = result.services["server"]
    assert server.availability == pytest.approx(0.9, REL)
    assert server.unavailable == pytest.approx(5.0, REL)
    assert server.utilization == pytest.approx(45 * 0.02 / 2, REL)
    assert server.waiting_time.mean == pytest.approx(mmc(45.0, 45.0, 2).mean_waiting_time, REL)
    assert "time-average capacity with crashes" in server.method and server.exact is False
    assert result.flows["f"].success_rate == pytest.approx(0.9, REL)
    (fault,) = result.faults or []
    assert (fault.kind, fault.at, fault.for_) == ("crash", None, None)
    assert fault.windows == pytest.approx(3600 / 600, REL)
    # one replica only: every arrival in a window (and those in progress) fails
    assert server.response_time.mean is not None
    assert fault.failures == pytest.approx(50 * (60 + server.response_time.mean), REL)
    assert fault.backlog_peak == 0.0 and fault.recovery_time == 0.0
    assert any("A = mtbf / (mtbf + mttr) = 0.9" in w for w in result.warnings)


def test_availability_of_several_replicas_needs_every_one_down() -> None:
    """Two replicas, each up 0.9 of the time: no replica up 0.1^2 of the time."""
    result = analyze(
        scenario(
            {"server": {"replicas": 2, "workers": 2, **op(exp(0.02))}},
            {"f": poisson("server", 50)},
            faults=[CRASH],
            **HOUR,
        )
    )
    assert result.services["server"].availability == pytest.approx(0.99, REL)
    fault = (result.faults or [])[0]
    assert fault.windows == pytest.approx(2 * 3600 / 600, REL) and fault.failures is None


def events(**worker: Any) -> dict[str, Any]:
    """`api` publishes 60/s to `t` (3 partitions); `worker` consumes them with 2 threads:
    consumer 0 gets partitions 0 and 2 (40/s), consumer 1 partition 1 (20/s), 10 ms each."""
    return {
        "services": {
            "api": {"workers": "unlimited", **op({"publish": "t"})},
            "worker": {**worker, **op(exp(0.01))},
        },
        "workload": {"f": poisson("api", 60)},
        "topics": {
            "t": {"partitions": 3, "subscribers": {"worker": {"concurrency": 2}}},
        },
    }


def fault_of(spec: dict[str, Any], *faults: dict[str, Any]) -> Prediction:
    return load_and_analyze({**spec, "faults": list(faults)})


def load_and_analyze(parts: dict[str, Any]) -> Prediction:
    return analyze(load_scenario({"name": "faults", "simulation": {"duration": 600}, **parts}))


def test_a_consumer_outage_piles_up_lambda_t_and_the_slowest_consumer_drains_last() -> None:
    """Worker down 30 s: 60 x 30 messages pile up; consumer 0 drains its 40 x 30 at
    100 - 40 per second (20 s), consumer 1 its 20 x 30 at 100 - 20 (7.5 s)."""
    outage = {"service": "worker", "kind": "outage", "at": 100, "for": 30}
    result = fault_of(events(), outage)
    lag = result.topics["t"].groups["worker"].lag.mean
    assert lag is not None
    (fault,) = result.faults or []
    assert (fault.target, fault.kind, fault.at, fault.for_) == ("worker", "outage", 100, 30)
    assert fault.backlog_peak == pytest.approx(lag + 60 * 30, REL)
    assert fault.recovery_time == pytest.approx(40 * 30 / (100 - 40), REL)
    assert fault.failures == 0.0  # nobody waits for the worker synchronously
    assert fault.exact is False and fault.method.startswith("fluid model")
    assert result.to_dict()["faults"][0]["for"] == 30


def test_slowdowns_and_broker_outages_in_the_fluid_model() -> None:
    """A slowdown x3 leaves consumer 0 100/3 per second < its 40/s (6.67 x 60 pile up, drained
    at 100 - 40); a broker outage of 10 s stops both consumers (600 pile up; consumer 0 drains
    last: 400 / 60)."""
    result = fault_of(
        events(),
        {"service": "worker", "kind": "slowdown", "at": 200, "for": 60, "factor": 3},
        {"topic": "t", "kind": "outage", "at": 300, "for": 10},
    )
    slow, broker = result.faults or []
    lag = result.topics["t"].groups["worker"].lag.mean
    assert lag is not None
    assert slow.backlog_peak == pytest.approx(lag + (40 - 100 / 3) * 60, REL)
    assert slow.recovery_time == pytest.approx((40 - 100 / 3) * 60 / 60, REL)
    assert (broker.target, broker.kind) == ("t", "outage")
    assert broker.backlog_peak == pytest.approx(lag + 60 * 10, REL)
    assert broker.recovery_time == pytest.approx(40 * 10 / 60, REL)


def test_a_partial_outage_stops_only_the_consumers_of_the_replicas_down() -> None:
    """Two replicas of one thread: consumer 0 (partitions 0, 2: 40/s) on replica 0 stops,
    40 x 30 pile up and drain at 100 - 40; with two threads per replica there are three
    consumers (one partition each, 20/s), two of them on replica 0: 40 x 30 again, drained
    at 100 - 20."""
    spec = events(replicas=2)
    spec["topics"]["t"]["subscribers"]["worker"]["concurrency"] = 1
    outage = {"service": "worker", "kind": "outage", "at": 100, "for": 30, "replicas": 1}
    result = fault_of(spec, outage)
    (fault,) = result.faults or []
    lag = result.topics["t"].groups["worker"].lag.mean
    assert lag is not None and fault.backlog_peak == pytest.approx(lag + 40 * 30, REL)
    assert fault.recovery_time == pytest.approx(40 * 30 / 60, REL)
    wide = fault_of(events(replicas=2), outage)
    (fault,) = wide.faults or []
    assert wide.topics["t"].groups["worker"].consumers == 3
    assert fault.recovery_time == pytest.approx(20 * 30 / 80, REL)
    lag = wide.topics["t"].groups["worker"].lag.mean
    assert lag is not None and fault.backlog_peak == pytest.approx(lag + 40 * 30, REL)


def test_a_synchronous_chain_fails_lambda_t_requests_during_an_outage() -> None:
    """`back` down for 60 s of the 600 measured: its callers fail 100 x (60 + W) requests
    (those in progress there too); success is 0.9 over the run; nothing piles up."""
    result = load_and_analyze(
        {
            "services": {
                "front": {"workers": "unlimited", **op({"call": "back"})},
                "back": {"replicas": 2, "workers": 4, **op(exp(0.01))},
            },
            "workload": {"f": poisson("front", 100)},
            "faults": [{"service": "back", "kind": "outage", "at": 100, "for": 60}],
        }
    )
    back, flow = result.services["back"], result.flows["f"]
    (fault,) = result.faults or []
    assert back.response_time.mean is not None
    assert fault.failures == pytest.approx(100 * (60 + back.response_time.mean), REL)
    assert (fault.backlog_peak, fault.recovery_time) == (0.0, 0.0)
    assert flow.success_rate == pytest.approx(0.9, REL)
    assert flow.throughput == pytest.approx(90.0, REL)
    assert back.availability == pytest.approx(0.9, REL)
    assert back.unavailable == pytest.approx(10.0, REL)


def test_an_error_burst_is_weighted_by_its_window() -> None:
    """Errors with probability 0.5 for 120 s of 600, retried twice: success 0.8 + 0.2 x
    (1 - 0.5^3), attempts 50 x (0.8 + 0.2 x 1.75) per second (the retry storm of the window
    for its length), 50 x 0.125 x 120 requests failed."""
    burst = {"service": "server", "kind": "errors", "at": 100, "for": 120, "probability": 0.5}
    result = load_and_analyze(
        {
            "services": {"server": {"workers": "unlimited", **op(exp(0.01))}},
            "workload": retrying_client(50, 2),
            "faults": [burst],
        }
    )
    assert result.flows["f"].success_rate == pytest.approx(0.8 + 0.2 * 0.875, REL)
    assert result.services["server"].attempts == pytest.approx(50 * (0.8 + 0.2 * 1.75), REL)
    assert (result.faults or [])[0].failures == pytest.approx(50 * 0.125 * 120, REL)
    assert any("time-averaged" in w and "(0.1 per operation)" in w for w in result.warnings)


def test_message_retries_and_dead_letters() -> None:
    """A handler failing half the time, 3 attempts: 1.75 runs per message, 0.125 of the
    messages dead-lettered to a topic whose own group gets them."""
    result = load_and_analyze(
        {
            "services": {
                "api": {"workers": "unlimited", **op({"publish": "t"})},
                "worker": op(exp(0.01), {"fail": 0.5}),
                "dlq": op(exp(0.001)),
            },
            "workload": {"f": poisson("api", 20)},
            "topics": {
                "t": {
                    "type": "queue",
                    "subscribers": {
                        "worker": {"concurrency": 4, "max_attempts": 3, "dead_letter": "dead"}
                    },
                },
                "dead": {"type": "queue", "subscribers": {"dlq": "op"}},
            },
        }
    )
    group = result.topics["t"].groups["worker"]
    assert group.attempts == pytest.approx(20 * 1.75, REL)
    assert group.dead_lettered == pytest.approx(20 * 0.125, REL) and group.lost == 0.0
    assert group.throughput == pytest.approx(20 * 0.875, REL)
    assert group.utilization == pytest.approx(35 * 0.01 / 4, REL)
    assert result.topics["dead"].publish_rate == pytest.approx(2.5, REL)
    assert result.topics["dead"].groups["dlq"].throughput == pytest.approx(2.5, REL)


def test_faults_make_every_steady_state_mean_approximate() -> None:
    """An M/M/1 whose means would be exact, with an error burst: nothing exact, a warning."""
    burst = {"service": "s", "kind": "errors", "at": 10, "for": 5, "probability": 0.1}
    result = analyze(scenario({"s": op(exp(0.01))}, {"f": poisson("s", 50)}, faults=[burst]))
    assert result.services["s"].method == "M/M/1"
    assert not result.services["s"].exact
    assert not (result.flows["f"].exact or result.flows["f"].completion_exact)
    assert result.flows["f"].success_exact is False
    assert any("non-stationary" in w for w in result.warnings)


def test_what_is_not_modelled_is_said() -> None:
    breaker = {"failure_rate": 0.5}
    result = analyze(
        scenario(
            {
                "server": {"queue_timeout": 1.0, **op(exp(0.01), {"fail": 0.6})},
                "other": op(exp(0.001)),
            },
            {
                "f": {
                    "steps": [
                        {"call": {"service": "server", "circuit_breaker": breaker}},
                        {"call": {"service": "other", "bulkhead": 2, "timeout": 0.1}},
                    ],
                    "arrivals": {"poisson": 10},
                }
            },
        )
    )
    text = " ".join(result.warnings)
    assert "circuit breaker of 'f->server.op' is not modelled" in text
    assert "0.6 is at or above its failure_rate: it would open" in text
    assert "bulkheads are not modelled" in text and "`queue_timeout` is not modelled" in text
    assert "gamma fit" in text
    assert result.calls is not None and not result.calls["f->server.op"].exact


def test_drops_and_errors_without_retries_are_exact_and_on_the_spot_retries_are_not() -> None:
    """An M/M/2/5 of 10 ms at 200/s (P_K = 2/11) whose operation then fails 1 time in 10:
    a call without retries succeeds with (1 - P_K) 0.9, exactly (a drop, else the
    callee's own independent failure). Retried on the spot, a retry after the callee's
    error comes at one of its departures, which never find the room full: not the
    independent form, so not exact."""
    stock = {**op(exp(0.01), {"fail": 0.1}), "workers": 2, "queue_capacity": 3}
    once = analyze(scenario({"stock": stock}, {"f": poisson("stock", 200)}))
    assert once.flows["f"].success_rate == pytest.approx((1 - 2 / 11) * 0.9, REL)
    assert once.flows["f"].success_exact
    calls = {
        "f": {"steps": [{"call": {"service": "stock", "retries": 1}}], "arrivals": {"poisson": 200}}
    }
    retried = analyze(scenario({"stock": stock}, calls))
    assert not retried.flows["f"].success_exact


def test_the_document_adds_failures_only_when_the_scenario_has_them() -> None:
    """Without failures the document has its former keys. Timeouts and retries alone (which
    the prediction has always modelled) add what the simulation's results have for them and
    a user compares: the `calls` table and the flows' success rate, nothing else. With other
    failures, the services' keys too."""
    plain = analyze(scenario({"s": op(exp(0.01))}, {"f": poisson("s", 50)})).to_dict()
    retried = analyze(
        scenario({"s": op(exp(0.01))}, retrying_client(50, 1, timeout=0.1, service="s"))
    ).to_dict()
    for document in (plain, retried):
        assert "faults" not in document and "attempts" not in document["services"]["s"]
    assert "calls" not in plain and "success_rate" not in plain["flows"]["f"]
    (row,) = retried["calls"].values()
    # an M/M/1 callee: P(R > T) = exp(-(mu - lambda) T) (Kleinrock vol. 1 §3.2), lambda
    # its attempts (timed-out ones still reach it); to the response law's grid (1e-4)
    arrivals = retried["services"]["s"]["arrival_rate"]
    late = math.exp(-(100.0 - arrivals) * 0.1)
    assert row["attempt_failure"] == pytest.approx(late, rel=1e-4)
    assert row["attempts"] == pytest.approx(arrivals, REL) and row["calls"] == 50.0
    timeouts = row["attempts"] * row["attempt_failure"]  # (every failed attempt timed out)
    assert row["failures"] == {**dict.fromkeys(REASONS, 0.0), "timeout": pytest.approx(timeouts)}
    assert row["success_rate"] == pytest.approx(1.0 - row["attempt_failure"] ** 2, REL)
    assert retried["flows"]["f"]["success_rate"] == pytest.approx(row["success_rate"], REL)
    assert not retried["flows"]["f"]["success_exact"] and not row["exact"]
    failing = analyze(scenario({"s": op(exp(0.01), {"fail": 0.1})}, {"f": poisson("s", 50)}))
    document = failing.to_dict()
    assert list(document)[-1] == "warnings" and "faults" not in document
    assert document["flows"]["f"]["success_rate"] == pytest.approx(0.9, REL)
    assert list(document["services"]["s"])[-4:] == ["attempts", "errors", "rejected", "unavailable"]
    assert Prediction.model_validate(document).to_dict() == document


def test_the_outage_example_predicts_the_backlog_and_the_lost_requests() -> None:
    """scenarios/outage_sync_vs_events.yaml: 300/s for 120 s pile up (36 000 messages),
    drained by the consumers with two partitions (50/s at 83.3/s) in 180 s; the REST chain
    loses 300 x 120 requests instead."""
    events_variant = analyze(load_scenario(SCENARIOS / "outage_sync_vs_events.yaml"))
    (fault,) = events_variant.faults or []
    lag = events_variant.topics["order-placed"].groups["payment"].lag.mean
    assert lag is not None and fault.backlog_peak == pytest.approx(lag + 300 * 120, REL)
    assert fault.recovery_time == pytest.approx(50 * 120 / (1 / 0.012 - 50), REL)
    chain = analyze(load_scenario(SCENARIOS / "outage_sync_vs_events.yaml", variant="sync-chain"))
    (fault,) = chain.faults or []
    payment = chain.services["payment"].response_time.mean
    assert payment is not None
    assert fault.failures == pytest.approx(300 * (120 + payment), REL)
    assert chain.flows["checkout"].success_rate == pytest.approx(1 - 120 / 480, REL)


def _resilient(steps: list[Any], draw: st.DrawFn) -> None:
    """Add `fail` steps and resilience to the calls of `steps` (in place, nested too)."""
    for step in steps:
        if "call" in step and draw(st.booleans()):
            step["call"]["retries"] = draw(st.integers(0, 2))
            if draw(st.booleans()):
                step["call"]["backoff"] = {"initial": 0.001, "jitter": "full"}
            if draw(st.booleans()):
                step["call"]["fallback"] = [{"work": {"exponential": 0.001}}]
            if draw(st.integers(0, 3)) == 0:
                step["call"]["circuit_breaker"] = {"failure_rate": 0.5}
        for option in step.get("branch", []):
            _resilient(option["steps"], draw)
        for branch in step.get("parallel", []):
            _resilient(branch, draw)
    if draw(st.booleans()):
        steps.insert(draw(st.integers(0, len(steps))), {"fail": draw(st.sampled_from([0.1, 1.0]))})


@st.composite
def failing_scenario_documents(draw: st.DrawFn) -> dict[str, Any]:
    """`scenario_documents` with failures: fail steps, retries, backoff, fallbacks, rate
    limits, message retries and dead letters, and faults of every kind."""
    document = draw(scenario_documents())
    services = list(document["services"])
    for service in document["services"].values():
        _resilient(service["operations"]["op"], draw)
        if draw(st.integers(0, 2)) == 0:
            service["rate_limit"] = {"rate": draw(st.sampled_from([5.0, 500.0])), "burst": 2}
    topics = list(document["topics"])
    for topic in document["topics"].values():
        for subscriber in topic["subscribers"].values():
            subscriber["max_attempts"] = draw(st.integers(1, 3))
            others = [name for name in topics if topic["subscribers"] is not subscriber]
            if others and draw(st.booleans()):
                subscriber["dead_letter"] = draw(st.sampled_from(others))
    window = {"at": draw(st.sampled_from([0, 20])), "for": draw(st.sampled_from([5, 30]))}
    faults: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["outage", "crash", "slowdown", "errors", "broker"]))
        target = {"service": draw(st.sampled_from(services))}
        if kind == "crash":
            faults.append({**target, "kind": "crash", "mtbf": 30, "mttr": 3})
        elif kind == "slowdown":
            faults.append({**target, "kind": "slowdown", "factor": 4, **window})
        elif kind == "errors":
            faults.append({**target, "kind": "errors", "probability": 0.5, **window})
        elif kind == "broker" and topics:
            faults.append({"topic": draw(st.sampled_from(topics)), "kind": "outage", **window})
        elif kind == "outage":
            faults.append({**target, "kind": "outage", **window})
    document["faults"] = faults
    return document


@GENERATED_SCENARIOS
@given(failing_scenario_documents())
def test_analyze_with_failures_never_crashes_and_stays_in_range(document: Any) -> None:
    valid, result = analyzed_in_range(document)
    assert Prediction.model_validate(result.to_dict()).to_dict() == result.to_dict()
    for flow in result.flows.values():
        if flow.success_rate is not None:
            assert 0.0 <= flow.success_rate <= 1.0 + 1e-9
    for service in result.services.values():
        if service.availability is not None:
            assert 0.0 <= service.availability <= 1.0
    for call in (result.calls or {}).values():
        assert call.attempts >= call.calls * (1 - 1e-9) and 0.0 <= call.success_rate <= 1.0
    if all(flow.visits is not None for flow in result.flows.values()):  # (not a storm)
        assert len(result.faults or []) == len(valid.faults)


def test_a_retry_storm_that_never_recovers_is_flagged_metastable() -> None:
    """scenarios/retry_storm.yaml: a slowdown x2 solved as a steady state of its own fills
    inventory's waiting rooms; at the window's end an attempt would wait longer than the
    150 ms timeout, and 225/s calls each retried 3 times offer 900/s > the 500/s capacity:
    the backlog does not drain (the simulator: "not within the run"). Without retries it
    drains."""
    storm = analyze(load_scenario(SCENARIOS / "retry_storm.yaml"))
    (fault,) = storm.faults or []
    assert fault.recovery_time is None and "metastable" in fault.method
    assert any("metastable" in warning for warning in storm.warnings)
    calm = analyze(load_scenario(SCENARIOS / "retry_storm.yaml", variant="no-retries"))
    (fault,) = calm.faults or []
    assert fault.recovery_time is not None and "metastable" not in fault.method
